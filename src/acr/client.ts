// ACR's own data-plane API (/acr/v1), used for what the OCI API cannot do: reading and setting a manifest's
// quarantine state. @azure/container-registry strips the quarantine fields (see research §3), so this speaks
// the REST API directly through the same token flow as the registry client, taking the scope from the challenge
// (the PATCH scope is not documented: push per the quarantine readme, metadata_write per azure-cli).
import { type HttpClient, type HttpRequest, type HttpResponse, fetchClient, httpRetryDecision } from '../http/client';
import type { Logger } from '../log';
import { TokenAuthenticator, authorizedRequest } from '../registry/auth';
import type { RegistryCredentials } from '../registry/credentials';
import { RegistryError } from '../registry/errors';
import { validateDigest, validateLoginServer, validateRepository, validateTag } from '../registry/reference';
import { isLoopback } from '../registry/client';
import { type RetryPolicy, retry } from '../util/retry';

/** `Passed`/`Failed` are what a scanner writes; a fresh quarantined manifest shows `Quarantined` (or nothing). */
export type QuarantineState = 'Passed' | 'Failed' | 'Quarantined' | (string & {});

/** The severities the quarantine-details schema allows in `summary`. */
export type SchemaSeverity = 'Critical' | 'High' | 'Medium' | 'Low' | 'None';

/**
 * quarantineDetails as Azure/acr docs/preview/quarantine/quarantine-details/schema.json describes it: {scanner, state,
 * link, result: {version, summary (<= 5), description (<= 1024)}} and no other keys. ACR stores it as a JSON string.
 */
export interface QuarantineDetails {
  scanner: string;
  state: string;
  link?: string;
  result: {
    version: string;
    summary: { severity: SchemaSeverity; count: number }[];
    description?: string;
  };
}

export interface ChangeableAttributes {
  deleteEnabled?: boolean;
  writeEnabled?: boolean;
  readEnabled?: boolean;
  listEnabled?: boolean;
  quarantineState?: QuarantineState;
  /** A JSON string (double-encoded), as ACR stores it. */
  quarantineDetails?: string;
}

export interface ManifestAttributes {
  registry: string;
  imageName: string;
  manifest: {
    digest: string;
    imageSize?: number;
    createdTime?: string;
    lastUpdateTime?: string;
    architecture?: string;
    os?: string;
    mediaType?: string;
    configMediaType?: string;
    tags?: string[];
    references?: { digest: string; architecture?: string; os?: string }[];
    quarantineTag?: string;
    changeableAttributes?: ChangeableAttributes;
  };
}

export interface TagAttributes {
  registry: string;
  imageName: string;
  tag: {
    name: string;
    digest: string;
    createdTime?: string;
    lastUpdateTime?: string;
    signed?: boolean;
    changeableAttributes?: ChangeableAttributes;
  };
}

export interface ManifestAttributesUpdate {
  quarantineState?: QuarantineState;
  /** An object is serialized to the JSON string ACR expects; a string is sent as it is. */
  quarantineDetails?: string | QuarantineDetails;
  deleteEnabled?: boolean;
  writeEnabled?: boolean;
  readEnabled?: boolean;
  listEnabled?: boolean;
}

export interface AcrClientOptions {
  registry: string;
  credentials: RegistryCredentials;
  http?: HttpClient;
  retry?: RetryPolicy;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
  /** Share the token cache with a RegistryClient of the same registry. */
  authenticator?: TokenAuthenticator;
}

export class AcrClient {
  readonly registry: string;
  readonly authenticator: TokenAuthenticator;
  private readonly http: HttpClient;
  private readonly base: string;

  constructor(private readonly options: AcrClientOptions) {
    this.registry = validateLoginServer(options.registry);
    this.http = options.http ?? fetchClient;
    this.authenticator =
      options.authenticator ??
      new TokenAuthenticator({
        credentials: options.credentials,
        http: this.http,
        retry: options.retry,
        logger: options.logger,
        sleep: options.sleep,
      });
    this.base = `${isLoopback(this.registry) ? 'http' : 'https'}://${this.registry}`;
  }

  /** GET /acr/v1/<repository>/_manifests/<digest>, including the quarantine fields when the caller may see them. */
  async getManifestAttributes(repository: string, digest: string): Promise<ManifestAttributes> {
    const request: HttpRequest = { method: 'GET', url: this.manifestUrl(repository, digest), headers: { Accept: 'application/json' } };
    return (await this.send(request, `read ${repository}`)).json<ManifestAttributes>();
  }

  /**
   * PATCH /acr/v1/<repository>/_manifests/<digest> with the attributes to change (quarantineDetails as the JSON
   * string ACR stores). Retried on 429/5xx/resets only: setting a state twice is harmless, a 4xx is final.
   */
  async updateManifestAttributes(
    repository: string,
    digest: string,
    update: ManifestAttributesUpdate,
  ): Promise<ManifestAttributes | undefined> {
    const body: ChangeableAttributes = {};
    for (const key of ['deleteEnabled', 'writeEnabled', 'readEnabled', 'listEnabled', 'quarantineState'] as const) {
      if (update[key] !== undefined) (body as Record<string, unknown>)[key] = update[key];
    }
    if (update.quarantineDetails !== undefined) {
      body.quarantineDetails =
        typeof update.quarantineDetails === 'string' ? update.quarantineDetails : JSON.stringify(update.quarantineDetails);
    }
    if (Object.keys(body).length === 0) throw new Error('updateManifestAttributes: nothing to change.');
    const request: HttpRequest = {
      method: 'PATCH',
      url: this.manifestUrl(repository, digest),
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    };
    const response = await this.send(request, `write ${repository}`);
    // ACR answers with the attributes; an empty 200/204 is accepted too.
    if (response.body.length === 0) return undefined;
    try {
      return response.json<ManifestAttributes>();
    } catch {
      return undefined;
    }
  }

  /** GET /acr/v1/<repository>/_tags/<tag>: the tag's digest and attributes. */
  async getTagAttributes(repository: string, tag: string): Promise<TagAttributes> {
    validateRepository(repository);
    validateTag(tag);
    const request: HttpRequest = {
      method: 'GET',
      url: `${this.base}/acr/v1/${repository}/_tags/${tag}`,
      headers: { Accept: 'application/json' },
    };
    return (await this.send(request, `read ${repository}`)).json<TagAttributes>();
  }

  private manifestUrl(repository: string, digest: string): string {
    validateRepository(repository);
    validateDigest(digest);
    return `${this.base}/acr/v1/${repository}/_manifests/${digest}`;
  }

  private async send(request: HttpRequest, key: string): Promise<HttpResponse> {
    return retry(
      async () => {
        const response = await authorizedRequest(this.http, request, this.authenticator, key);
        if (response.status < 200 || response.status > 299) throw new RegistryError(request, response);
        return response;
      },
      {
        policy: this.options.retry,
        sleep: this.options.sleep,
        shouldRetry: httpRetryDecision,
        onRetry: ({ attempt, delayMs, reason }) =>
          this.options.logger?.warn(
            `${this.registry}: ${request.method} answered ${reason}; trying again in ${Math.round(delayMs / 100) / 10} s (attempt ${attempt + 1}).`,
          ),
      },
    );
  }
}

/** The quarantine state shown by a manifest's attributes, if any. */
export function quarantineStateOf(attributes: ManifestAttributes): QuarantineState | undefined {
  return attributes.manifest.changeableAttributes?.quarantineState;
}

/** The quarantine details of a manifest's attributes, parsed (another scanner may have left out fields); undefined when absent or not JSON. */
export function quarantineDetailsOf(attributes: ManifestAttributes): Partial<QuarantineDetails> | undefined {
  const text = attributes.manifest.changeableAttributes?.quarantineDetails;
  if (!text) return undefined;
  try {
    return JSON.parse(text) as Partial<QuarantineDetails>;
  } catch {
    return undefined;
  }
}
