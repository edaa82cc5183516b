// HTTP through the agent's proxy and with its certificates. Node's fetch ignores proxies and takes no CA, so when the
// agent has either, the tasks speak HTTP through node:http/https: an https URL goes through a CONNECT tunnel opened at
// the proxy (TLS to the target inside it, so the proxy sees only the host name), a plain http URL is sent to the proxy
// in absolute form. The bypass list is honoured per URL. No dependency: the tunnel is one CONNECT request.
import * as http from 'node:http';
import * as https from 'node:https';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import * as tls from 'node:tls';
import type { StreamHttpClient, StreamResponse } from '../registry/transport';
import { DEFAULT_TIMEOUT_MS, type HttpClient, type HttpRequest, bufferedResponse, redactUrl } from './client';
import { type AgentNetwork, type CertSettings, type ProxySettings, describeProxy, proxyAuthorization, proxyFor } from './proxy';

/** The agent's proxy refused or failed a connection: names the proxy (never its credentials) and the host. */
export class ProxyError extends Error {
  /** Not a network code the retry policies know: a refusal by the proxy is not transient. */
  readonly code = 'EPROXY';
  constructor(
    message: string,
    readonly proxyStatus?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProxyError';
  }
}

const MAX_REDIRECTS = 10;

/** TLS options from the agent's certificate settings: its CA added to Node's own roots, its client certificate. */
export function tlsOptions(cert: CertSettings | undefined, env: NodeJS.ProcessEnv = process.env): tls.ConnectionOptions {
  if (!cert) return {};
  const options: tls.ConnectionOptions = {};
  if (cert.caFile) {
    // `ca` replaces Node's roots: keep them, and NODE_EXTRA_CA_CERTS, beside the agent's CA
    const extra = env.NODE_EXTRA_CA_CERTS ? [readFileSync(env.NODE_EXTRA_CA_CERTS, 'utf8')] : [];
    options.ca = [...tls.rootCertificates, ...extra, readFileSync(cert.caFile, 'utf8')];
  }
  if (cert.archiveFile) options.pfx = readFileSync(cert.archiveFile);
  else if (cert.certFile) {
    options.cert = readFileSync(cert.certFile);
    if (cert.keyFile) options.key = readFileSync(cert.keyFile);
  }
  if (cert.passphrase) options.passphrase = cert.passphrase;
  return options;
}

function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** Opens a CONNECT tunnel to host:port at the proxy; its refusal becomes a ProxyError naming the proxy and the host. */
export function openTunnel(
  proxy: ProxySettings,
  host: string,
  port: number,
  signal: AbortSignal,
  secure: tls.ConnectionOptions,
): Promise<Duplex> {
  const proxyUrl = new URL(proxy.url);
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const authorization = proxyAuthorization(proxy);
  const headers: Record<string, string> = { Host: authority, ...(authorization ? { 'Proxy-Authorization': authorization } : {}) };
  const options = {
    host: proxyUrl.hostname,
    port: portOf(proxyUrl),
    method: 'CONNECT',
    path: authority,
    headers,
    signal,
    agent: false as const,
  };
  const request =
    proxyUrl.protocol === 'https:' ? https.request({ ...options, ...secure, servername: proxyUrl.hostname }) : http.request(options);
  return new Promise((resolve, reject) => {
    request.once('connect', (response, socket) => {
      if (response.statusCode === 200) {
        resolve(socket);
        return;
      }
      socket.destroy();
      reject(refusal(proxy, authority, response.statusCode ?? 0, response.statusMessage ?? ''));
    });
    request.once('response', (response) => {
      // a proxy that answers CONNECT like a plain request
      response.resume();
      reject(refusal(proxy, authority, response.statusCode ?? 0, response.statusMessage ?? ''));
    });
    request.once('error', (error) => reject(unreachable(proxy, authority, error)));
    request.end();
  });
}

function refusal(proxy: ProxySettings, authority: string, status: number, statusText: string): ProxyError {
  const said = `${status}${statusText ? ` ${statusText}` : ''}`;
  const fix =
    status === 407
      ? "it asks for credentials: check the proxy user name and password of the agent's proxy settings (.proxycredentials)."
      : `allow ${authority.replace(/:443$/, '')} on the proxy, or add it to the agent's proxy bypass list (.proxybypass).`;
  return new ProxyError(`The agent's proxy ${describeProxy(proxy)} refused the connection to ${authority} (${said}): ${fix}`, status);
}

function unreachable(proxy: ProxySettings, authority: string, error: Error): Error {
  if (error.name === 'AbortError' || error.name === 'TimeoutError') return error;
  const code = (error as NodeJS.ErrnoException).code;
  return new ProxyError(
    `The agent's proxy ${describeProxy(proxy)} could not be reached to connect to ${authority} (${code ?? error.message}); check Agent.ProxyUrl of the agent.`,
    undefined,
    { cause: error },
  );
}

interface Opened {
  status: number;
  url: string;
  headers: Headers;
  body: http.IncomingMessage;
}

/** Sends one request through the proxy (or directly when bypassed) and resolves when the headers arrived. */
async function open(network: AgentNetwork, request: HttpRequest, signal: AbortSignal, secure: tls.ConnectionOptions): Promise<Opened> {
  const target = new URL(request.url);
  const proxy = proxyFor(network, request.url);
  const headers: Record<string, string> = { ...request.headers };
  let outgoing: http.ClientRequest;
  if (target.protocol === 'https:') {
    const tunnel = proxy ? await openTunnel(proxy, target.hostname, portOf(target), signal, secure) : undefined;
    const options: https.RequestOptions = {
      protocol: 'https:',
      hostname: target.hostname,
      port: portOf(target),
      path: `${target.pathname}${target.search}`,
      method: request.method,
      headers,
      signal,
      servername: isIP(target.hostname) ? undefined : target.hostname,
      ...secure,
    };
    if (tunnel) {
      // TLS to the target inside the tunnel: the proxy sees the host name, never the request
      options.createConnection = () =>
        tls.connect({ ...secure, socket: tunnel, servername: isIP(target.hostname) ? undefined : target.hostname });
    } else options.agent = false;
    outgoing = https.request(options);
  } else if (target.protocol === 'http:') {
    if (proxy) {
      const proxyUrl = new URL(proxy.url);
      const authorization = proxyAuthorization(proxy);
      outgoing = (proxyUrl.protocol === 'https:' ? https : http).request({
        host: proxyUrl.hostname,
        port: portOf(proxyUrl),
        path: target.toString(),
        method: request.method,
        headers: { ...headers, Host: target.host, ...(authorization ? { 'Proxy-Authorization': authorization } : {}) },
        signal,
        agent: false,
        ...(proxyUrl.protocol === 'https:' ? secure : {}),
      });
    } else outgoing = http.request(target, { method: request.method, headers, signal, agent: false });
  } else throw new Error(`${redactUrl(request.url)}: only http and https URLs are supported.`);

  return new Promise((resolve, reject) => {
    outgoing.once('response', (response) => {
      // a plain-http request the proxy refused (tinyproxy answers 403 Filtered itself)
      if (proxy && target.protocol === 'http:' && isProxyRefusal(response)) {
        response.resume();
        reject(refusal(proxy, target.host, response.statusCode ?? 0, response.statusMessage ?? ''));
        return;
      }
      const responseHeaders = new Headers();
      const raw = response.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) responseHeaders.append(raw[i], raw[i + 1]);
      resolve({ status: response.statusCode ?? 0, url: request.url, headers: responseHeaders, body: response });
    });
    outgoing.once('error', reject);
    outgoing.end(request.body);
  });
}

/** A refusal written by the proxy itself, not the target's answer relayed (407; 403 with the proxy's own marker). */
function isProxyRefusal(response: http.IncomingMessage): boolean {
  if (response.statusCode === 407) return true;
  if (response.statusCode !== 403 || response.headers['docker-distribution-api-version']) return false;
  return (
    /filtered|proxy|squid/i.test(`${response.statusMessage ?? ''} ${response.headers.server ?? ''}`) || !!response.headers['x-squid-error']
  );
}

function timeoutSignal(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('The request timed out', 'TimeoutError')), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

async function readBody(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

const isRedirect = (status: number) => [301, 302, 303, 307, 308].includes(status);

/** The buffered HttpClient over the agent's network: follows redirects as fetch does (Authorization stays on its origin). */
export function agentHttpClient(network: AgentNetwork): HttpClient {
  let secure: tls.ConnectionOptions | undefined;
  return async (request) => {
    secure ??= tlsOptions(network.cert);
    const { signal, clear } = timeoutSignal(request.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    try {
      let current = request;
      for (let hops = 0; ; hops++) {
        const opened = await open(network, current, signal, secure);
        const location = opened.headers.get('location');
        if (!isRedirect(opened.status) || !location || hops >= MAX_REDIRECTS) {
          const body = await readBody(opened.body);
          return bufferedResponse(opened, body);
        }
        opened.body.resume();
        const next = new URL(location, current.url).toString();
        const headers = { ...current.headers };
        if (new URL(next).origin !== new URL(current.url).origin)
          for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') delete headers[name];
        const asGet = opened.status === 303 || ((opened.status === 301 || opened.status === 302) && current.method === 'POST');
        current = asGet ? { method: 'GET', url: next, headers, timeoutMs: current.timeoutMs } : { ...current, url: next, headers };
      }
    } finally {
      clear();
    }
  };
}

/** The streaming client over the agent's network: never follows redirects; the timeout covers the headers only. */
export function agentStreamClient(network: AgentNetwork): StreamHttpClient {
  let secure: tls.ConnectionOptions | undefined;
  return async (request): Promise<StreamResponse> => {
    secure ??= tlsOptions(network.cert);
    const { signal, clear } = timeoutSignal(request.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    try {
      const opened = await open(network, request, signal, secure);
      return opened;
    } finally {
      clear();
    }
  };
}

/** The HTTP seams of a task: fetch when the agent has neither proxy nor certificates, else the agent's network. */
export function agentClients(network: AgentNetwork | undefined): { http?: HttpClient; stream?: StreamHttpClient } {
  if (!network?.proxy && !network?.cert) return {};
  return { http: agentHttpClient(network), stream: agentStreamClient(network) };
}
