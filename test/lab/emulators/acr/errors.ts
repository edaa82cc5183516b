// ACR / distribution error bodies: {"errors":[{"code","message","detail"}]}.
import type { ServerResponse } from 'node:http';
import { sendJson } from '../http';

export function acrError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  detail: unknown = undefined,
  headers: Record<string, string> = {},
): void {
  const error: Record<string, unknown> = { code, message };
  if (detail !== undefined) error.detail = detail;
  sendJson(res, status, { errors: [error] }, { 'Docker-Distribution-Api-Version': 'registry/2.0', ...headers });
}

/** ACR's message for a missing or insufficient token. */
export const authenticationRequired = 'authentication required, visit https://aka.ms/acr/authorization for more information.';

/** What ACR answered in 2019 for a pull by digest of a quarantined image (docker shows "unknown: ..."). */
export const operationDisallowed = 'The operation is disallowed.';
