import type { RetryDecision } from '../util/retry';

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  url: string;
  headers: Headers;
  body: Buffer;
  text(): string;
  json<T>(): T;
}

/** The one seam through which the core speaks HTTP; tests hand in fakes, production uses fetch. */
export type HttpClient = (request: HttpRequest) => Promise<HttpResponse>;

export class HttpError extends Error {
  constructor(
    readonly request: Pick<HttpRequest, 'method' | 'url'>,
    readonly response: HttpResponse,
    detail?: string,
  ) {
    super(`${request.method} ${redactUrl(request.url)} answered ${response.status}${detail ? `: ${detail}` : ''}`);
    this.name = 'HttpError';
  }
  get status(): number {
    return this.response.status;
  }
}

export const DEFAULT_TIMEOUT_MS = 60_000;

/** An answer whose body has been read whole: every client hands these to the core. */
export function bufferedResponse(head: Pick<HttpResponse, 'status' | 'url' | 'headers'>, body: Buffer): HttpResponse {
  return {
    status: head.status,
    url: head.url,
    headers: head.headers,
    body,
    text: () => body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
  };
}

export const fetchClient: HttpClient = async (request) => {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    redirect: 'follow',
    signal: AbortSignal.timeout(request.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  });
  const body = Buffer.from(await response.arrayBuffer());
  return bufferedResponse({ status: response.status, url: response.url || request.url, headers: response.headers }, body);
};

/** Throws an HttpError unless the status is one of the expected ones. */
export function expectStatus(request: Pick<HttpRequest, 'method' | 'url'>, response: HttpResponse, ...ok: number[]): HttpResponse {
  if (ok.includes(response.status)) return response;
  throw new HttpError(request, response, errorDetail(response));
}

/** The message of an OCI/ACR error body (`{"errors":[{code,message}]}`), or of an OAuth error, when there is one. */
export function errorDetail(response: HttpResponse): string | undefined {
  try {
    const body = response.json<{ errors?: { code?: string; message?: string }[]; error?: string; error_description?: string }>();
    if (body.errors?.length) return body.errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    if (body.error) return [body.error, body.error_description].filter(Boolean).join(': ');
  } catch {
    // not JSON: fall through to the first line of text
  }
  const line = response.text().split('\n')[0]?.trim();
  return line ? line.slice(0, 200) : undefined;
}

export const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const RETRYABLE_NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** Milliseconds the server asked us to wait (Retry-After as seconds or as an HTTP date). */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Retries throttling, server errors, dropped connections and timeouts; nothing else. */
export function httpRetryDecision(error: unknown): RetryDecision {
  if (error instanceof HttpError) {
    if (!RETRYABLE_STATUSES.has(error.status)) return false;
    return { afterMs: retryAfterMs(error.response.headers), reason: `${error.status} from ${new URL(error.request.url).host}` };
  }
  const code = networkErrorCode(error);
  if (code && RETRYABLE_NETWORK_CODES.has(code)) return { reason: code };
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return { reason: 'timeout' };
  return false;
}

export function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Query strings can carry signed-URL secrets; keep them out of messages. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : `${url.slice(0, q)}?…`;
}
