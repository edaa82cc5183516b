// ACR / distribution error bodies: {"errors":[{"code","message","detail"}]}, and the headers every registry answer
// carries (as recorded from live ACR: test/conformance/recordings, see test/lab/README.md "Conformance").
import type { ServerResponse } from 'node:http';

/** Headers live ACR sends on every /v2 and /acr/v1 answer (Strict-Transport-Security twice, as recorded). */
export const registryHeaders: Record<string, string | string[]> = {
  Server: 'openresty',
  'Docker-Distribution-Api-Version': 'registry/2.0',
  'X-Content-Type-Options': 'nosniff',
  'Strict-Transport-Security': ['max-age=31536000; includeSubDomains', 'max-age=31536000; includeSubDomains'],
  'Access-Control-Expose-Headers': 'Docker-Content-Digest, WWW-Authenticate, Link, X-Ms-Correlation-Request-Id',
};

/**
 * An error answer as ACR writes it: compact JSON followed by a newline (Content-Length counts it). `detail` is
 * omitted when undefined and written as `null` when null (the unauthenticated `/v2/` challenge).
 */
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
  const text = `${JSON.stringify({ errors: [error] })}\n`;
  res.writeHead(status, {
    ...registryHeaders,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

/** ACR's message for a missing or insufficient token. */
export const authenticationRequired = 'authentication required, visit https://aka.ms/acr/authorization for more information.';

/** What ACR answered in 2019 for a pull by digest of a quarantined image (docker shows "unknown: ..."). */
export const operationDisallowed = 'The operation is disallowed.';

/** ACR's 404 for an unknown repository (recorded 2023: no detail). */
export function repositoryNotFound(repository: string): string {
  return `repository ${JSON.stringify(repository)} is not found`;
}
