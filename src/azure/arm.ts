// Azure Resource Manager: the one client of it (bearer token, ARM's error body, retries on throttling) and the
// registry found by its login server. ACR Tasks' operations build on it (src/acr-tasks/arm.ts); the permission preflight
// reads the registry's role-assignment mode from it (src/acr/role-assignment-mode.ts). Every request stays on the
// Resource Manager host (a nextLink elsewhere is refused).
import type { TokenCredential } from '@azure/identity';
import {
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
  RETRYABLE_STATUSES,
  fetchClient,
  httpRetryDecision,
  retryAfterMs,
} from '../http/client';
import type { Logger } from '../log';
import { type RetryPolicy, retry } from '../util/retry';
import type { AzureConnection } from './connection';

/** The API version of the registries list (what ACR Tasks has always used to find its registry). */
export const REGISTRIES_API_VERSION = '2019-05-01';
/**
 * The API version whose Registry carries `properties.roleAssignmentMode` ("LegacyRegistryPermissions" |
 * "AbacRepositoryPermissions"): 2025-11-01 is the first stable one (first in 2025-03-01-preview). azure-rest-api-specs,
 * specification/containerregistry/resource-manager/Microsoft.ContainerRegistry/Registry/stable/2025-11-01/
 * containerregistry.json and its examples RegistryList.json and RegistryCreateAbac.json. Only the mode lookup asks it,
 * so a cloud that lags behind it costs that lookup, never a build.
 */
export const ROLE_ASSIGNMENT_MODE_API_VERSION = '2025-11-01';
/** The token audience of Azure Resource Manager (public cloud). */
export const ARM_AUDIENCE = 'https://management.azure.com';

export interface ArmRegistry {
  id: string;
  name: string;
  loginServer: string;
  /** `properties.roleAssignmentMode` as Resource Manager said it (absent from older registries and API versions). */
  roleAssignmentMode?: string;
}

/** An error answer of Resource Manager: `{"error": {"code", "message"}}`. */
export class ArmError extends Error {
  constructor(
    readonly request: Pick<HttpRequest, 'method' | 'url'>,
    readonly status: number,
    readonly code: string | undefined,
    readonly armMessage: string | undefined,
    readonly response?: HttpResponse,
  ) {
    const where = new URL(request.url).pathname;
    super(`${request.method} ${where} answered ${status}${code ? ` ${code}` : ''}${armMessage ? `: ${armMessage}` : ''}`);
    this.name = 'ArmError';
  }
}

/** Where Resource Manager is for a connection, and how to get its token. */
export interface ArmTarget {
  /** The Resource Manager URL (the connection's URL), e.g. https://management.azure.com/ */
  baseUrl: string;
  subscriptionId: string;
  /** A bearer token for Resource Manager. */
  token: () => Promise<string>;
}

export interface ArmClientOptions extends ArmTarget {
  http?: HttpClient;
  logger?: Logger;
  retry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  /** Per request (default: the HTTP client's). */
  timeoutMs?: number;
}

/**
 * Resource Manager for an AzureRM connection: its URL and subscription, and tokens for its ARM audience from the
 * credential (renewed 5 minutes before they expire, each handed to onSecret). Undefined when the connection names no
 * subscription (then there is nothing to ask).
 */
export function armTarget(
  connection: AzureConnection,
  credential: TokenCredential,
  onSecret: (secret: string) => void,
): ArmTarget | undefined {
  const subscriptionId = connection.data('subscriptionId')?.trim();
  if (!subscriptionId) return undefined;
  const audience = connection.data('activeDirectoryServiceEndpointResourceId')?.trim().replace(/\/+$/, '') || ARM_AUDIENCE;
  let cached: { token: string; renewAt: number } | undefined;
  return {
    baseUrl: connection.url?.trim() || `${ARM_AUDIENCE}/`,
    subscriptionId,
    token: async () => {
      if (!cached || cached.renewAt <= Date.now()) {
        const token = await credential.getToken(`${audience}/.default`);
        if (!token) throw new Error(`Entra ID returned no token for ${audience}.`);
        onSecret(token.token);
        cached = { token: token.token, renewAt: token.expiresOnTimestamp - 5 * 60_000 };
      }
      return cached.token;
    },
  };
}

export class ArmClient {
  protected readonly origin: string;
  private readonly http: HttpClient;

  constructor(protected readonly options: ArmClientOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'https:') throw new Error(`The Resource Manager URL ${options.baseUrl} must use https.`);
    this.origin = url.origin;
    this.http = options.http ?? fetchClient;
  }

  get subscriptionId(): string {
    return this.options.subscriptionId;
  }

  /** The registry with this login server among the subscription's registries (nextLink followed on this host). */
  async findRegistry(loginServer: string, apiVersion = REGISTRIES_API_VERSION): Promise<ArmRegistry | undefined> {
    const wanted = loginServer.toLowerCase();
    let url: string | undefined = this.url(
      `/subscriptions/${encodeURIComponent(this.options.subscriptionId)}/providers/Microsoft.ContainerRegistry/registries`,
      apiVersion,
    );
    for (let page = 0; url && page < 100; page++) {
      const body: {
        value?: { id: string; name: string; properties?: { loginServer?: string; roleAssignmentMode?: string } }[];
        nextLink?: string;
      } = await this.json('GET', url);
      const found = body.value?.find((r) => r.properties?.loginServer?.toLowerCase() === wanted);
      if (found) {
        const mode = found.properties?.roleAssignmentMode;
        return {
          id: found.id,
          name: found.name,
          loginServer: found.properties!.loginServer!,
          ...(mode ? { roleAssignmentMode: mode } : {}),
        };
      }
      url = body.nextLink ? this.sameHost(body.nextLink) : undefined;
    }
    return undefined;
  }

  protected url(pathname: string, apiVersion: string): string {
    return `${this.origin}${pathname}?api-version=${apiVersion}`;
  }

  private sameHost(link: string): string {
    const next = new URL(link, this.origin);
    if (next.origin !== this.origin) throw new Error(`Resource Manager gave a nextLink on another host (${next.host}); not following it.`);
    return next.toString();
  }

  protected async json<T>(method: string, url: string, body?: unknown, retryable = true): Promise<T> {
    const send = async () => {
      const request: HttpRequest = {
        method,
        url,
        headers: {
          Authorization: `Bearer ${await this.options.token()}`,
          Accept: 'application/json',
          ...(body !== undefined || method === 'POST' ? { 'Content-Type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : method === 'POST' ? '' : undefined,
        ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
      };
      const response = await this.http(request);
      if (response.status < 200 || response.status > 299) throw armError(request, response);
      const text = response.text();
      return (text.trim() ? JSON.parse(text) : {}) as T;
    };
    if (!retryable) return send();
    return retry(send, {
      policy: this.options.retry,
      sleep: this.options.sleep,
      shouldRetry: (error) => {
        if (!(error instanceof ArmError)) return httpRetryDecision(error);
        if (!RETRYABLE_STATUSES.has(error.status)) return false;
        return { afterMs: error.response && retryAfterMs(error.response.headers), reason: `${error.status} from Resource Manager` };
      },
      onRetry: ({ attempt, delayMs, reason }) =>
        this.options.logger?.warn(
          `Resource Manager: ${reason}; trying again in ${Math.round(delayMs / 100) / 10} s (attempt ${attempt + 1}).`,
        ),
    });
  }
}

function armError(request: HttpRequest, response: HttpResponse): ArmError {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const body = response.json<{ error?: { code?: string; message?: string } }>();
    code = body.error?.code;
    message = body.error?.message;
  } catch {
    message = response.text().split('\n')[0]?.slice(0, 200) || undefined;
  }
  return new ArmError(request, response.status, code, message, response);
}
