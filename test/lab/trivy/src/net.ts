// HTTP for the stand-in: trusts what Go's trivy trusts (the system CA bundle, SSL_CERT_FILE), reports failures
// the way Go's net/http does, and never connects anywhere but loopback (the lab rule: only loopback addresses
// may be a target). Nothing in the lab redirects, so redirects are not followed.
import * as dns from 'node:dns';
import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { DeadlineError, GoError, urlErrorOp } from './go';

export interface HttpSettings {
  /** PEM bundle to trust; undefined = Node's defaults (which include NODE_EXTRA_CA_CERTS) */
  ca?: string;
  signal: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  url: string;
  method: string;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
}

/** A transport failure (no HTTP answer), shaped like Go's *url.Error. */
export class NetError extends GoError {}

// Go's crypto/x509 reads the first of these that exists (after SSL_CERT_FILE).
const systemBundles = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/pki/tls/cacert.pem',
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
  '/etc/ssl/cert.pem',
];

/**
 * What the stand-in trusts: the system CA bundle trivy (Go) reads (SSL_CERT_FILE or the first distro bundle),
 * plus NODE_EXTRA_CA_CERTS as Node adds it. Without a system bundle: Node's own roots.
 */
export function trustedCaBundle(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [env.SSL_CERT_FILE, ...systemBundles].filter((file): file is string => !!file);
  const bundle = candidates.find((file) => existsSync(file));
  const extras = [env.NODE_EXTRA_CA_CERTS]
    .filter((file): file is string => !!file && existsSync(file))
    .map((file) => readFileSync(file, 'utf8'));
  if (!bundle && extras.length === 0) return undefined;
  const base = bundle ? [readFileSync(bundle, 'utf8')] : [...tls.rootCertificates];
  return [...base, ...extras].join('\n');
}

export function isLoopback(address: string): boolean {
  if (net.isIPv4(address)) return address.startsWith('127.');
  if (net.isIPv6(address)) return address === '::1' || /^::ffff:127\./i.test(address);
  return false;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** dns.lookup that only ever hands back loopback addresses: anything else looks like an unknown host. */
function loopbackLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const allowed = addresses.filter((entry) => isLoopback(entry.address));
    if (allowed.length === 0) {
      const refused: NodeJS.ErrnoException = new Error(`lookup ${hostname}: no such host`);
      refused.code = 'ENOTFOUND';
      return callback(refused, []);
    }
    if (options.all) return callback(null, allowed);
    return callback(null, allowed[0].address, allowed[0].family);
  });
}

function goDetail(error: NodeJS.ErrnoException & { host?: string; address?: string; port?: number }, url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  switch (error.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${error.address ?? url.hostname}:${error.port ?? port}: connect: connection refused`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `dial tcp: lookup ${url.hostname}: no such host`;
    case 'ECONNRESET':
      return error.message === 'socket hang up' ? 'EOF' : 'read: connection reset by peer';
    case 'EPIPE':
      return 'write: broken pipe';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `tls: failed to verify certificate: x509: certificate is not valid for ${url.hostname}`;
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return 'http: server gave HTTP response to HTTPS client';
    default:
      return error.message;
  }
}

export function httpRequest(request: HttpRequest, settings: HttpSettings): Promise<HttpResponse> {
  const url = new URL(request.url);
  const fail = (detail: string, cause?: unknown): NetError =>
    new NetError(`${urlErrorOp(request.method)} "${request.url}": ${detail}`, cause);
  if (settings.signal.aborted) return Promise.reject(fail('context deadline exceeded', new DeadlineError()));
  const address = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(address) && !isLoopback(address)) {
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    return Promise.reject(fail(`dial tcp ${url.hostname}:${port}: connect: network is unreachable`));
  }
  const secure = url.protocol === 'https:';
  const options: https.RequestOptions = {
    method: request.method,
    headers: { 'User-Agent': 'trivy/0.74.0 (lab stand-in)', ...(request.headers ?? {}) },
    lookup: loopbackLookup as unknown as net.LookupFunction,
    signal: settings.signal,
  };
  if (secure && settings.ca !== undefined) options.ca = settings.ca;
  return new Promise((resolve, reject) => {
    const client = secure ? https : http;
    const req = client.request(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks),
          url: request.url,
          method: request.method,
        }),
      );
      response.on('error', (error) => reject(fail(goDetail(error, url), error)));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (settings.signal.aborted || error.name === 'AbortError') reject(fail('context deadline exceeded', new DeadlineError()));
      else reject(fail(goDetail(error, url), error));
    });
    req.end();
  });
}
