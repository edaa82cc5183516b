// Fakes shared by the unit tests of src/registry, src/acr and src/azure: a scripted HttpClient that records
// every request, and JWTs whose claims the code under test reads (never verified, so unsigned is fine).
import { Readable } from 'node:stream';
import type { HttpClient, HttpRequest, HttpResponse } from '../../src/http/client';
import type { StreamHttpClient } from '../../src/registry/transport';

export function reply(status: number, body: string | Buffer | object = '', headers: Record<string, string> = {}): HttpResponse {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const allHeaders = new Headers(headers);
  if (typeof body === 'object' && !Buffer.isBuffer(body) && !allHeaders.has('content-type'))
    allHeaders.set('content-type', 'application/json');
  return {
    status,
    url: '',
    headers: allHeaders,
    body: bytes,
    text: () => bytes.toString('utf8'),
    json: <T>() => JSON.parse(bytes.toString('utf8')) as T,
  };
}

export type Handler = (request: HttpRequest, index: number) => HttpResponse | Promise<HttpResponse>;

/** A fake HttpClient: every request is recorded; the handler answers (or throws, for network errors). */
export function fakeHttp(handler: Handler): { http: HttpClient; requests: HttpRequest[] } {
  const requests: HttpRequest[] = [];
  const http: HttpClient = async (request) => {
    requests.push(request);
    const response = await handler(request, requests.length - 1);
    return { ...response, url: response.url || request.url };
  };
  return { http, requests };
}

/** The same for the streaming seam (blobs). */
export function fakeStream(handler: Handler): { stream: StreamHttpClient; requests: HttpRequest[] } {
  const requests: HttpRequest[] = [];
  const stream: StreamHttpClient = async (request) => {
    requests.push(request);
    const response = await handler(request, requests.length - 1);
    return { status: response.status, url: response.url || request.url, headers: response.headers, body: Readable.from([response.body]) };
  };
  return { stream, requests };
}

/** A network error as undici reports it (the code sits on the cause). */
export function networkError(code = 'ECONNRESET'): Error {
  return Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
}

export function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.sig`;
}

export function form(request: HttpRequest): URLSearchParams {
  return new URLSearchParams(String(request.body ?? ''));
}

export const noSleep = async (): Promise<void> => undefined;
export const fastRetry = { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 };
