// Streaming reverse proxy to the backing registry (plain HTTP on loopback).
import { Agent, type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http';
import type { Exchange } from '../http';
import { acrError } from './errors';

const agent = new Agent({ keepAlive: true, maxSockets: 32 });

const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface Backing {
  host: string;
  port: number;
}

export interface ProxyOptions {
  /** Path and query to ask the backing registry for (default: the request's). */
  pathAndQuery?: string;
  /** Request headers to set or (undefined) drop on top of the client's. */
  headers?: Record<string, string | undefined>;
  /**
   * Looks at the backing registry's answer before it is sent; returns true when it answered the
   * client itself (the backing body is then discarded).
   */
  intercept?: (upstream: IncomingMessage) => Promise<boolean> | boolean;
}

/** Forwards the request (body streamed) and streams the answer back, rewriting upload Locations. */
export function proxyToBacking(exchange: Exchange, backing: Backing, options: ProxyOptions = {}): Promise<void> {
  const { req, res, url, host } = exchange;
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!hopByHop.has(name) && name !== 'authorization' && name !== 'host') headers[name] = value;
  }
  // distribution builds absolute Location URLs from these
  headers.host = host;
  headers['x-forwarded-proto'] = 'https';
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) delete headers[name.toLowerCase()];
    else headers[name.toLowerCase()] = value;
  }

  return new Promise<void>((resolve) => {
    res.once('close', () => resolve());
    const upstreamRequest = request(
      {
        host: backing.host,
        port: backing.port,
        method: req.method,
        path: options.pathAndQuery ?? `${url.pathname}${url.search}`,
        headers,
        agent,
      },
      (upstream) => {
        void (async () => {
          try {
            if (options.intercept && (await options.intercept(upstream))) {
              upstream.resume();
              return;
            }
            const responseHeaders: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(upstream.headers)) {
              if (value === undefined || hopByHop.has(name)) continue;
              responseHeaders[name] = name === 'location' ? rewriteLocation(String(value), backing, host) : value;
            }
            res.writeHead(upstream.statusCode ?? 502, responseHeaders);
            upstream.pipe(res);
            upstream.on('error', () => res.destroy());
          } catch {
            upstream.resume();
            if (!res.headersSent) acrError(res, 500, 'UNKNOWN', 'The lab emulator failed to handle the registry answer.');
            else res.destroy();
          }
        })();
      },
    );
    upstreamRequest.on('error', (error) => {
      if (!res.headersSent) acrError(res, 503, 'UNAVAILABLE', `The backing registry is unreachable: ${error.message}`);
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstreamRequest.destroy();
    });
    req.pipe(upstreamRequest);
  });
}

/** Points a Location of the backing registry at the emulated registry name. */
export function rewriteLocation(location: string, backing: Backing, host: string): string {
  const backingOrigin = `http://${backing.host}:${backing.port}`;
  if (location.startsWith(backingOrigin)) return `https://${host}${location.slice(backingOrigin.length)}`;
  if (location.startsWith(`http://${host}/`)) return `https://${host}${location.slice(`http://${host}`.length)}`;
  return location;
}

/** A small GET/HEAD to the backing registry, for the emulator's own look-ups (manifests, configs, tags). */
export function backingGet(
  backing: Backing,
  pathAndQuery: string,
  headers: Record<string, string> = {},
  method: 'GET' | 'HEAD' = 'GET',
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: backing.host, port: backing.port, method, path: pathAndQuery, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** Every manifest media type, for Accept headers of look-ups. */
export const manifestMediaTypes = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];
