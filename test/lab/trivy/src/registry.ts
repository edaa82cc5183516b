// A registry client that behaves like go-containerregistry (what trivy uses): ping GET /v2/, Docker token flow
// (GET <realm>?scope=..&service=.. with Basic user:password), digest verification, retries of temporary failures with 1 s / 3 s backoff, and its error texts
// ("GET <url>: CODE: message; detail").
import { createHash } from 'node:crypto';
import { GoError, goQuote, goValue, statusText } from './go';
import { type HttpResponse, type HttpSettings, NetError, httpRequest } from './net';
import { registryAllowsHttp } from './reference';

/** Basic credentials, or undefined for anonymous access. */
export type Auth = { username: string; password: string } | undefined;

/** transport.Error: an HTTP answer with an unexpected status. */
export class TransportError extends GoError {
  constructor(
    message: string,
    readonly status: number,
    readonly codes: string[],
  ) {
    super(message);
  }
}

interface Diagnostic {
  code?: string;
  message?: string;
  detail?: unknown;
}

/** Redacts secrets in a URL the way go-containerregistry's redact.URL does. */
function redactUrl(url: string): string {
  const parsed = new URL(url);
  for (const key of [...parsed.searchParams.keys()]) {
    if (/token|password|secret|signature|key/i.test(key) && key !== 'scope') parsed.searchParams.set(key, 'REDACTED');
  }
  return parsed.toString();
}

/** transport.CheckError's message for a response. */
export function transportError(response: HttpResponse): TransportError {
  const prefix = `${response.method} ${redactUrl(response.url)}: `;
  const raw = response.body.toString('utf8');
  let diagnostics: Diagnostic[] = [];
  try {
    const parsed = JSON.parse(raw) as { errors?: Diagnostic[] };
    if (Array.isArray(parsed.errors)) diagnostics = parsed.errors;
  } catch {
    // not a registry error document
  }
  const describe = (d: Diagnostic): string => {
    let text = `${d.code ?? ''}: ${d.message ?? ''}`;
    if (d.detail !== undefined && d.detail !== null) text += `; ${goValue(d.detail)}`;
    return text;
  };
  let detail: string;
  if (diagnostics.length === 0) {
    detail = `unexpected status code ${response.status} ${statusText(response.status)}${raw.length === 0 ? '' : `: ${raw}`}`;
  } else if (diagnostics.length === 1) {
    detail = describe(diagnostics[0]);
  } else {
    detail = `multiple errors returned: ${diagnostics.map(describe).join('; ')}`;
  }
  return new TransportError(
    prefix + detail,
    response.status,
    diagnostics.map((d) => d.code ?? ''),
  );
}

interface Challenge {
  scheme: 'none' | 'basic' | 'bearer';
  realm?: string;
  service?: string;
}

export function parseChallenge(header: string | undefined): Challenge {
  if (!header) return { scheme: 'none' };
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/(\w+)\s*=\s*"([^"]*)"/g)) params[match[1].toLowerCase()] = match[2];
  if (scheme === 'bearer') return { scheme: 'bearer', realm: params.realm, service: params.service };
  if (scheme === 'basic') return { scheme: 'basic' };
  return { scheme: 'none' };
}

const retryStatuses = new Set([408, 500, 502, 503, 504, 499, 522]);
const retryWaitsMs = [1000, 3000];

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface ManifestResult {
  body: Buffer;
  mediaType: string;
  digest: string;
}

export const manifestAccept = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(',');

export function sha256Digest(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export class RegistryClient {
  private scheme: 'https' | 'http';
  private readonly allowHttp: boolean;
  private challenge: Challenge | undefined;
  private token: string | undefined;

  constructor(
    private readonly registry: string,
    private readonly repository: string,
    private readonly auth: Auth,
    private readonly http: HttpSettings,
  ) {
    this.scheme = 'https';
    this.allowHttp = registryAllowsHttp(registry);
  }

  private url(path: string): string {
    return `${this.scheme}://${this.registry}${path}`;
  }

  /** ggcr's retry transport: temporary network failures and 408/5xx answers, waits 1 s then 3 s. */
  private async withRetry(send: () => Promise<HttpResponse>): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= retryWaitsMs.length;
      try {
        const response = await send();
        if (!retryStatuses.has(response.status) || last || this.http.signal.aborted) return response;
      } catch (error) {
        const temporary =
          error instanceof NetError && !this.http.signal.aborted && /connection reset|EOF|refused|broken pipe/.test(error.message);
        if (!temporary || last) throw error;
      }
      await sleep(retryWaitsMs[attempt], this.http.signal);
    }
  }

  /** GET /v2/ to learn how to authenticate; for registries that allow plain HTTP, falls back to http://. */
  async ping(): Promise<void> {
    const schemes: Array<'https' | 'http'> = this.allowHttp ? ['https', 'http'] : ['https'];
    let lastError: unknown;
    for (const scheme of schemes) {
      this.scheme = scheme;
      let response: HttpResponse;
      try {
        response = await this.withRetry(() => httpRequest({ method: 'GET', url: this.url('/v2/') }, this.http));
      } catch (error) {
        lastError = error;
        continue;
      }
      if (response.status === 200) {
        this.challenge = { scheme: 'none' };
        return;
      }
      if (response.status === 401) {
        this.challenge = parseChallenge(response.headers['www-authenticate']);
        return;
      }
      throw transportError(response);
    }
    throw lastError;
  }

  private basicHeader(): string | undefined {
    if (!this.auth || this.auth.username === '' || this.auth.password === '') return undefined;
    return `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`;
  }

  /** bearerTransport.refresh: GET <realm>?scope=..&service=.. with Basic user:password when there are credentials. */
  private async refreshToken(scope: string): Promise<void> {
    const realm = this.challenge?.realm;
    if (!realm) throw new GoError(`malformed www-authenticate, missing realm: ${this.registry}`);
    const url = new URL(realm);
    url.searchParams.set('scope', scope);
    url.searchParams.set('service', this.challenge?.service ?? this.registry);
    url.searchParams.sort();
    const headers: Record<string, string> = {};
    const basic = this.basicHeader();
    if (basic) headers.Authorization = basic;
    const response = await this.withRetry(() => httpRequest({ method: 'GET', url: url.toString(), headers }, this.http));
    if (response.status !== 200) throw transportError(response);
    let parsed: { token?: string; access_token?: string };
    try {
      parsed = JSON.parse(response.body.toString('utf8')) as { token?: string; access_token?: string };
    } catch (error) {
      throw new GoError(`decoding token response: ${(error as Error).message}`);
    }
    const token = parsed.token || parsed.access_token;
    if (!token) throw new GoError('no token in bearer response');
    this.token = token;
  }

  private async authorizedGet(path: string, accept?: string): Promise<HttpResponse> {
    const scope = `repository:${this.repository}:pull`;
    const send = (): Promise<HttpResponse> => {
      const headers: Record<string, string> = {};
      if (accept) headers.Accept = accept;
      if (this.challenge?.scheme === 'bearer' && this.token) headers.Authorization = `Bearer ${this.token}`;
      if (this.challenge?.scheme === 'basic') {
        const basic = this.basicHeader();
        if (basic) headers.Authorization = basic;
      }
      return this.withRetry(() => httpRequest({ method: 'GET', url: this.url(path), headers }, this.http));
    };
    if (this.challenge === undefined) {
      // No ping (the DB download): use https unless plain HTTP is allowed, learn the challenge from a 401.
      this.scheme = this.allowHttp ? 'http' : 'https';
      this.challenge = { scheme: 'none' };
    }
    if (this.challenge.scheme === 'bearer' && !this.token) await this.refreshToken(scope);
    let response = await send();
    if (response.status === 401) {
      const challenge = parseChallenge(response.headers['www-authenticate']);
      if (challenge.scheme !== 'none') {
        this.challenge = challenge;
        if (challenge.scheme === 'bearer') await this.refreshToken(scope);
        response = await send();
      }
    }
    return response;
  }

  /** GET /v2/<repo>/manifests/<reference>, verifying the digest like remote.Get does. */
  async manifest(reference: string, displayName: string): Promise<ManifestResult> {
    const response = await this.authorizedGet(`/v2/${this.repository}/manifests/${reference}`, manifestAccept);
    if (response.status !== 200) throw transportError(response);
    const digest = sha256Digest(response.body);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new GoError(
        `manifest digest: ${goQuote(digest)} does not match requested digest: ${goQuote(reference)} for ${goQuote(displayName)}`,
      );
    }
    const header = response.headers['docker-content-digest'];
    if (!reference.startsWith('sha256:') && typeof header === 'string' && header !== '' && header !== digest) {
      throw new GoError(
        `manifest digest: ${goQuote(digest)} does not match Docker-Content-Digest: ${goQuote(header)} for ${goQuote(displayName)}`,
      );
    }
    let mediaType = String(response.headers['content-type'] ?? '')
      .split(';')[0]
      .trim();
    try {
      const parsed = JSON.parse(response.body.toString('utf8')) as { mediaType?: string };
      if (parsed.mediaType) mediaType = parsed.mediaType;
    } catch {
      throw new GoError(`unable to parse manifest for ${displayName}: not JSON`);
    }
    return { body: response.body, mediaType, digest };
  }

  /** GET /v2/<repo>/blobs/<digest>, verifying the content. */
  async blob(digest: string): Promise<Buffer> {
    const response = await this.authorizedGet(`/v2/${this.repository}/blobs/${digest}`);
    if (response.status !== 200) throw transportError(response);
    const actual = sha256Digest(response.body);
    if (actual !== digest) {
      throw new GoError(
        `error verifying sha256 checksum after reading ${response.body.length} bytes; got ${goQuote(actual)}, want ${goQuote(digest)}`,
      );
    }
    return response.body;
  }
}
