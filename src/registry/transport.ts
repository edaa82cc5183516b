// Streaming HTTP for blobs. The buffered HttpClient seam cannot stream layers, and it follows redirects on its
// own; blob downloads are redirected to storage on another host, where the registry's Authorization must not go.
// So this seam never follows redirects: the registry client does, and decides what travels.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DEFAULT_TIMEOUT_MS, type HttpRequest, type HttpResponse, bufferedResponse } from '../http/client';

export interface StreamResponse {
  status: number;
  url: string;
  headers: Headers;
  /** The body, not yet read. Read it or destroy it. */
  body: Readable;
}

/** Sends one request and returns as soon as the headers arrived; must not follow redirects. */
export type StreamHttpClient = (request: HttpRequest) => Promise<StreamResponse>;

export const fetchStreamClient: StreamHttpClient = async (request) => {
  // The timeout covers the wait for the headers only: a large layer may take longer than any fixed bound.
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException('The request timed out', 'TimeoutError')),
    request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  );
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal: controller.signal,
    });
    const body = response.body ? Readable.fromWeb(response.body as WebReadableStream<Uint8Array>) : Readable.from([]);
    return { status: response.status, url: response.url || request.url, headers: response.headers, body };
  } finally {
    clearTimeout(timer);
  }
};

/** Reads a stream into memory, refusing more than `limit` bytes. */
export async function readAll(body: Readable, limit = Number.POSITIVE_INFINITY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += buffer.length;
    if (size > limit) {
      body.destroy();
      throw new Error(`The response is larger than ${limit} bytes.`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** A streamed response whose body was read, in the shape of the buffered seam (for errors and challenges). */
export async function buffered(response: StreamResponse, limit = 1 << 20): Promise<HttpResponse> {
  let body: Buffer;
  try {
    body = await readAll(response.body, limit);
  } catch {
    body = Buffer.alloc(0);
  }
  return bufferedResponse(response, body);
}
