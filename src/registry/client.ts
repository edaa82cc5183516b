// A small OCI distribution client: manifests and blobs, read by digest and verified, through the token flow
// of auth.ts. Everything retryable (429, 5xx, resets, timeouts) is retried with backoff and a bound.
import { pipeline, type Readable } from 'node:stream';
import { type HttpClient, type HttpRequest, type HttpResponse, fetchClient, httpRetryDecision } from '../http/client';
import type { Logger } from '../log';
import { type RetryDecision, type RetryPolicy, retry } from '../util/retry';
import { TokenAuthenticator, authorizedRequest, withAuthorization } from './auth';
import { parseChallenges } from './challenge';
import type { RegistryCredentials } from './credentials';
import { digestOf, verifyDigest, verifyingStream } from './digest';
import { RegistryError } from './errors';
import { type Index, MANIFEST_MEDIA_TYPES, type Manifest, MediaType } from './oci';
import { isDigest, validateDigest, validateLoginServer, validateRepository, validateTag } from './reference';
import { type StreamHttpClient, type StreamResponse, buffered, fetchStreamClient, readAll } from './transport';

export { RegistryError } from './errors';

export interface RegistryClientOptions {
  /** Login server, host[:port]. */
  registry: string;
  /** Omit for anonymous access. */
  credentials?: RegistryCredentials;
  http?: HttpClient;
  /** Streaming seam for blobs (does not follow redirects). */
  stream?: StreamHttpClient;
  retry?: RetryPolicy;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
  /** Defaults to https, and to http for loopback registries (127.0.0.0/8, localhost, [::1]) as docker does. */
  protocol?: 'https' | 'http';
  /** Share one authenticator (and its token cache) between clients of the same registry. */
  authenticator?: TokenAuthenticator;
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  raw: Buffer;
  json: Index | Manifest;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

const MAX_MANIFEST_BYTES = 4 << 20; // the distribution spec lets registries refuse manifests above 4 MiB
const MAX_REDIRECTS = 5;

export class RegistryClient {
  readonly registry: string;
  readonly authenticator: TokenAuthenticator;
  private readonly http: HttpClient;
  private readonly stream: StreamHttpClient;
  private readonly base: string;

  constructor(private readonly options: RegistryClientOptions) {
    this.registry = validateLoginServer(options.registry);
    this.http = options.http ?? fetchClient;
    this.stream = options.stream ?? fetchStreamClient;
    this.authenticator =
      options.authenticator ??
      new TokenAuthenticator({
        credentials: options.credentials,
        http: this.http,
        retry: options.retry,
        logger: options.logger,
        sleep: options.sleep,
      });
    const protocol = options.protocol ?? (isLoopback(this.registry) ? 'http' : 'https');
    this.base = `${protocol}://${this.registry}`;
  }

  /**
   * The manifest or index at a tag or digest, with its digest: verified against the bytes when asked for by
   * digest. `retryUnknown` also retries MANIFEST_UNKNOWN, which a registry may answer right after a push.
   */
  async getManifest(repository: string, reference: string, options: { retryUnknown?: boolean } = {}): Promise<FetchedManifest> {
    validateRepository(repository);
    validateManifestReference(reference);
    const request: HttpRequest = {
      method: 'GET',
      url: this.manifestUrl(repository, reference),
      headers: { Accept: MANIFEST_MEDIA_TYPES.join(', ') },
    };
    const response = await this.send(request, `pull ${repository}`, (error) => {
      if (
        options.retryUnknown &&
        error instanceof RegistryError &&
        error.status === 404 &&
        (error.code ?? 'MANIFEST_UNKNOWN') === 'MANIFEST_UNKNOWN'
      ) {
        return { reason: `${repository}:${reference} is not visible yet (MANIFEST_UNKNOWN)` };
      }
      return false;
    });
    const raw = response.body;
    if (raw.length > MAX_MANIFEST_BYTES)
      throw new Error(`The manifest ${this.registry}/${repository}@${reference} is larger than 4 MiB; refusing it.`);
    const what = `The manifest ${this.registry}/${repository}@${reference}`;
    const headerDigest = response.headers.get('docker-content-digest') ?? undefined;
    let digest: string;
    if (isDigest(reference)) {
      verifyDigest(what, reference, raw);
      digest = reference;
    } else if (headerDigest) {
      verifyDigest(what, headerDigest, raw);
      digest = headerDigest;
    } else {
      digest = digestOf(raw);
    }
    let json: Index | Manifest;
    try {
      json = JSON.parse(raw.toString('utf8')) as Index | Manifest;
    } catch {
      throw new Error(`${what} is not JSON.`);
    }
    const mediaType = json.mediaType ?? contentType(response) ?? '';
    return { digest, mediaType, raw, json };
  }

  /** Digest, media type and size of a manifest, or undefined when the registry has none at that reference. */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    validateRepository(repository);
    validateManifestReference(reference);
    const request: HttpRequest = {
      method: 'HEAD',
      url: this.manifestUrl(repository, reference),
      headers: { Accept: MANIFEST_MEDIA_TYPES.join(', ') },
    };
    let response: HttpResponse;
    try {
      response = await this.send(request, `pull ${repository}`);
    } catch (error) {
      if (error instanceof RegistryError && error.status === 404) return undefined;
      throw error;
    }
    const digest = response.headers.get('docker-content-digest') ?? (isDigest(reference) ? reference : undefined);
    if (!digest) {
      // A registry may omit the header on HEAD; the bytes tell the digest.
      const fetched = await this.getManifest(repository, reference);
      return { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.raw.length };
    }
    return { digest, mediaType: contentType(response) ?? '', size: Number(response.headers.get('content-length') ?? 0) };
  }

  /** The digest a tag points to now. Throws a RegistryError (MANIFEST_UNKNOWN, DENIED, ...) when it cannot. */
  async resolveDigest(repository: string, tag: string): Promise<string> {
    validateTag(tag);
    const head = await this.headManifest(repository, tag);
    if (head) return head.digest;
    // A HEAD 404 has no body; GET says why (MANIFEST_UNKNOWN, or a registry's own reason).
    return (await this.getManifest(repository, tag)).digest;
  }

  /** A blob (config, small layer) in memory, verified against its digest. */
  async getBlob(repository: string, digest: string): Promise<Buffer> {
    validateRepository(repository);
    validateDigest(digest);
    return retry(async () => {
      const response = await this.openBlobResponse(repository, digest);
      const bytes = await readAll(response.body);
      verifyDigest(`The blob ${this.registry}/${repository}@${digest}`, digest, bytes);
      return bytes;
    }, this.retryOptions());
  }

  /** A blob as a stream (layers); the stream fails at its end when the bytes do not match the digest. */
  async openBlob(repository: string, digest: string): Promise<Readable> {
    validateRepository(repository);
    validateDigest(digest);
    const response = await retry(() => this.openBlobResponse(repository, digest), this.retryOptions());
    return pipeline(response.body, verifyingStream(`The blob ${this.registry}/${repository}@${digest}`, digest), () => undefined);
  }

  /**
   * The registry's Bearer challenge at /v2/ (realm and service), asked without credentials; undefined when it asks
   * for none or for Basic.
   */
  async bearerChallenge(): Promise<{ realm: string; service?: string } | undefined> {
    const request: HttpRequest = { method: 'GET', url: `${this.base}/v2/` };
    const response = await retry(async () => {
      const answer = await this.http(request);
      if (answer.status >= 500 || answer.status === 429) throw new RegistryError(request, answer);
      return answer;
    }, this.retryOptions());
    if (response.status !== 401) return undefined;
    const bearer = parseChallenges(response.headers.get('www-authenticate') ?? '').find((c) => c.scheme === 'bearer' && c.params.realm);
    return bearer ? { realm: bearer.params.realm, service: bearer.params.service } : undefined;
  }

  private manifestUrl(repository: string, reference: string): string {
    return `${this.base}/v2/${repository}/manifests/${reference}`;
  }

  /** True when the repository has the blob (HEAD). */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    validateRepository(repository);
    validateDigest(digest);
    const request: HttpRequest = { method: 'HEAD', url: `${this.base}/v2/${repository}/blobs/${digest}` };
    try {
      await this.send(request, `pull ${repository}`);
      return true;
    } catch (error) {
      if (error instanceof RegistryError && error.status === 404) return false;
      throw error;
    }
  }

  /**
   * Mounts a blob from another repository of the same registry (POST ?mount=&from=): no bytes travel. `false` when
   * the registry answered with an upload session instead (it cannot or may not mount); the session is cancelled.
   */
  async mountBlob(repository: string, digest: string, from: string): Promise<boolean> {
    validateRepository(repository);
    validateRepository(from);
    validateDigest(digest);
    const query = new URLSearchParams({ mount: digest, from });
    const request: HttpRequest = {
      method: 'POST',
      url: `${this.base}/v2/${repository}/blobs/uploads/?${query}`,
      headers: { 'Content-Length': '0' },
    };
    const response = await this.send(request, `mount ${repository} from ${from}`, undefined, [`repository:${from}:pull`]);
    if (response.status === 201) return true;
    const location = response.headers.get('location');
    if (location) {
      const cancel: HttpRequest = { method: 'DELETE', url: new URL(location, this.base).toString() };
      await authorizedRequest(this.http, cancel, this.authenticator, `push ${repository}`).catch(() => undefined);
    }
    return false;
  }

  /** Uploads a blob in one PUT (POST for a session, then PUT ?digest=); the registry checks the digest. */
  async uploadBlob(repository: string, digest: string, bytes: Buffer): Promise<void> {
    validateRepository(repository);
    validateDigest(digest);
    verifyDigest(`The blob for ${this.registry}/${repository}`, digest, bytes);
    const key = `push ${repository}`;
    await retry(async () => {
      const open: HttpRequest = { method: 'POST', url: `${this.base}/v2/${repository}/blobs/uploads/`, headers: { 'Content-Length': '0' } };
      const start = await authorizedRequest(this.http, open, this.authenticator, key);
      if (start.status !== 202) throw new RegistryError(open, start);
      const location = start.headers.get('location');
      if (!location) throw new Error(`${this.registry} opened an upload session without a Location.`);
      const url = new URL(location, this.base);
      url.searchParams.set('digest', digest);
      const put: HttpRequest = {
        method: 'PUT',
        url: url.toString(),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) },
        body: bytes,
      };
      const response = await authorizedRequest(this.http, put, this.authenticator, key);
      if (response.status !== 201) throw new RegistryError(put, response);
    }, this.retryOptions());
  }

  /**
   * PUTs a manifest's exact bytes at a digest or tag; returns the digest the registry computed (checked against the
   * bytes) and whether it answered OCI-Subject (it processed the subject: it has the referrers API).
   */
  async putManifest(
    repository: string,
    reference: string,
    mediaType: string,
    raw: Buffer,
  ): Promise<{ digest: string; subjectProcessed: boolean }> {
    validateRepository(repository);
    validateManifestReference(reference);
    const digest = digestOf(raw);
    if (isDigest(reference) && reference !== digest)
      throw new Error(`Refusing to put ${this.registry}/${repository}@${reference}: the bytes hash to ${digest}.`);
    const request: HttpRequest = {
      method: 'PUT',
      url: this.manifestUrl(repository, reference),
      headers: { 'Content-Type': mediaType },
      body: raw,
    };
    const response = await this.send(request, `push ${repository}`);
    const answered = response.headers.get('docker-content-digest');
    if (answered && answered !== digest)
      throw new Error(`${this.registry} stored ${repository}:${reference} as ${answered}, not ${digest}; refusing to go on.`);
    return { digest, subjectProcessed: response.headers.has('oci-subject') };
  }

  /**
   * The referrers of a digest (OCI distribution 1.1 referrers API), or undefined when the registry does not serve the
   * API (404): then the fallback tag `<alg>-<hex>` holds them.
   */
  async getReferrers(repository: string, digest: string): Promise<Index | undefined> {
    validateRepository(repository);
    validateDigest(digest);
    const request: HttpRequest = {
      method: 'GET',
      url: `${this.base}/v2/${repository}/referrers/${digest}`,
      headers: { Accept: MediaType.ociIndex },
    };
    let response: HttpResponse;
    try {
      response = await this.send(request, `pull ${repository}`);
    } catch (error) {
      if (error instanceof RegistryError && (error.status === 404 || error.status === 405)) return undefined;
      throw error;
    }
    const type = contentType(response);
    if (type && type !== MediaType.ociIndex) return undefined;
    const index = response.json<Index>();
    return Array.isArray(index?.manifests) ? index : undefined;
  }

  /** Sends through the token flow with retries; throws a RegistryError unless 2xx. */
  private async send(
    request: HttpRequest,
    key: string,
    alsoRetry?: (error: unknown) => RetryDecision,
    extraScopes: readonly string[] = [],
  ): Promise<HttpResponse> {
    return retry(async () => {
      const response = await authorizedRequest(this.http, request, this.authenticator, key, extraScopes);
      if (response.status < 200 || response.status > 299) throw new RegistryError(request, response);
      return response;
    }, this.retryOptions(alsoRetry));
  }

  private retryOptions(alsoRetry?: (error: unknown) => RetryDecision) {
    return {
      policy: this.options.retry,
      sleep: this.options.sleep,
      shouldRetry: (error: unknown) => httpRetryDecision(error) || (alsoRetry?.(error) ?? false),
      onRetry: ({ attempt, delayMs, reason }: { attempt: number; delayMs: number; reason: string }) =>
        this.options.logger?.warn(
          `${this.registry}: ${reason}; trying again in ${Math.round(delayMs / 100) / 10} s (attempt ${attempt + 1}).`,
        ),
    };
  }

  /** GET of a blob: one challenge answered, redirects followed without the registry's Authorization elsewhere. */
  private async openBlobResponse(repository: string, digest: string): Promise<StreamResponse> {
    const key = `pull ${repository}`;
    const url = `${this.base}/v2/${repository}/blobs/${digest}`;
    const request: HttpRequest = { method: 'GET', url };
    let authorization = await this.authenticator.authorization(key);
    let response = await this.stream(withAuthorization(request, authorization));
    if (response.status === 401) {
      const challenge = response.headers.get('www-authenticate');
      response.body.destroy();
      authorization = await this.authenticator.answer(key, challenge);
      if (authorization) response = await this.stream(withAuthorization(request, authorization));
    }
    const origin = new URL(url).origin;
    for (let hops = 0; isRedirect(response.status); hops++) {
      const location = response.headers.get('location');
      response.body.destroy();
      if (!location || hops >= MAX_REDIRECTS)
        throw new Error(`The blob ${this.registry}/${repository}@${digest}: too many or broken redirects.`);
      const next = new URL(location, response.url).toString();
      const sameOrigin = new URL(next).origin === origin;
      response = await this.stream(withAuthorization({ method: 'GET', url: next }, sameOrigin ? authorization : undefined));
    }
    if (response.status !== 200) throw new RegistryError({ method: 'GET', url: response.url }, await buffered(response));
    return response;
  }
}

function validateManifestReference(reference: string): void {
  if (reference.includes(':')) validateDigest(reference);
  else validateTag(reference);
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function contentType(response: HttpResponse): string | undefined {
  return response.headers.get('content-type')?.split(';')[0].trim() || undefined;
}

export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
