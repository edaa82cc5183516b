// Small HTTP helpers shared by the emulators.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** One request as the emulators see it; handlers fill in `identity` for the audit log. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The emulated host name, lower-case, without the port of 443 (IMDS keeps `127.0.0.1:8090`). */
  host: string;
  /** The lab identity behind the request once known (identity name, `admin:<user>`, ...). */
  identity?: string;
  /** Non-secret fields of a form body, for the audit log (see auditForm). */
  form?: Record<string, string>;
}

export class BodyTooLargeError extends Error {}

/** Reads a whole (small) request body. */
export async function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new BodyTooLargeError(`request body larger than ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams((await readBody(req)).toString('utf8'));
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = (await readBody(req)).toString('utf8');
  return text.trim() === '' ? undefined : (JSON.parse(text) as unknown);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Length': '0', ...headers });
  res.end();
}

/** The host a request was addressed to, lower-case, the port dropped when it is 443. */
export function requestHost(req: IncomingMessage): string {
  const host = (req.headers.host ?? '').toLowerCase();
  return host.endsWith(':443') ? host.slice(0, -4) : host;
}

/** Credentials of a Basic Authorization header. */
export function basicCredentials(req: IncomingMessage): { username: string; password: string } | undefined {
  const match = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1].trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return match ? match[1].trim() : undefined;
}

/** Query parameters for the audit log: repeated values joined with a space, secrets never kept. */
export function auditQuery(url: URL): Record<string, string> {
  const query: Record<string, string> = {};
  for (const key of new Set(url.searchParams.keys())) {
    query[key] = isSecretName(key) ? '***' : url.searchParams.getAll(key).join(' ');
  }
  return query;
}

/** Form fields worth seeing in the audit log (grant, client, scope); values of any other field are never kept. */
const auditedFormFields = ['grant_type', 'client_id', 'client_assertion_type', 'service', 'scope', 'tenant', 'username', 'resource'];

export function auditForm(form: URLSearchParams): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const name of auditedFormFields) if (form.has(name)) fields[name] = form.getAll(name).join(' ');
  return fields;
}

/** Parameter names whose values are secrets (tokens, passwords, assertions, signatures). */
export function isSecretName(name: string): boolean {
  return /token|password|secret|assertion|sig|code|key/i.test(name);
}
