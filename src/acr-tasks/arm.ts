// Azure Resource Manager for ACR Tasks: the registry found by its login server, the source upload URL, scheduleRun,
// the run, its log link and its cancellation. Shapes: azure-rest-api-specs, specification/containerregistry/
// resource-manager/Microsoft.ContainerRegistry, containerregistry_build.json (2019-06-01-preview) and the registries
// list (containerregistry.json). Every request stays on the Resource Manager host (a nextLink elsewhere is refused).
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

/** The API version of the ACR Tasks operations (scheduleRun, runs, listBuildSourceUploadUrl). */
export const TASKS_API_VERSION = '2019-06-01-preview';
/** The API version of the registries list. */
export const REGISTRIES_API_VERSION = '2019-05-01';
/** The token audience of Azure Resource Manager (public cloud). */
export const ARM_AUDIENCE = 'https://management.azure.com';

export interface ArmRegistry {
  id: string;
  name: string;
  loginServer: string;
}

export interface SourceUploadUrl {
  uploadUrl: string;
  relativePath: string;
}

/** Run.status of the spec. */
export type RunStatus = 'Queued' | 'Started' | 'Running' | 'Succeeded' | 'Failed' | 'Canceled' | 'Error' | 'Timeout';

export interface ImageDescriptor {
  registry?: string;
  repository?: string;
  tag?: string;
  digest?: string;
}

export interface Run {
  runId: string;
  status: RunStatus;
  outputImages?: ImageDescriptor[];
  runErrorMessage?: string;
  createTime?: string;
  startTime?: string;
  finishTime?: string;
  platform?: { os: string; architecture?: string; variant?: string };
}

export interface DockerBuildRequest {
  type: 'DockerBuildRequest';
  imageNames: string[];
  isPushEnabled: boolean;
  noCache: boolean;
  dockerFilePath: string;
  target?: string;
  arguments: { name: string; value: string; isSecret: boolean }[];
  /** Seconds, 300 to 28800. */
  timeout: number;
  platform: { os: 'Linux' | 'Windows'; architecture: string; variant?: string };
  sourceLocation: string;
  isArchiveEnabled: boolean;
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

export interface ArmClientOptions {
  /** The Resource Manager URL (the connection's URL), e.g. https://management.azure.com/ */
  baseUrl: string;
  subscriptionId: string;
  /** A bearer token for Resource Manager. */
  token: () => Promise<string>;
  http?: HttpClient;
  logger?: Logger;
  retry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
}

export class ArmClient {
  private readonly origin: string;
  private readonly http: HttpClient;

  constructor(private readonly options: ArmClientOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'https:') throw new Error(`The Resource Manager URL ${options.baseUrl} must use https.`);
    this.origin = url.origin;
    this.http = options.http ?? fetchClient;
  }

  /** The registry with this login server among the subscription's registries (nextLink followed on this host). */
  async findRegistry(loginServer: string): Promise<ArmRegistry | undefined> {
    const wanted = loginServer.toLowerCase();
    let url: string | undefined = this.url(
      `/subscriptions/${encodeURIComponent(this.options.subscriptionId)}/providers/Microsoft.ContainerRegistry/registries`,
      REGISTRIES_API_VERSION,
    );
    for (let page = 0; url && page < 100; page++) {
      const body: { value?: { id: string; name: string; properties?: { loginServer?: string } }[]; nextLink?: string } = await this.json(
        'GET',
        url,
      );
      const found = body.value?.find((r) => r.properties?.loginServer?.toLowerCase() === wanted);
      if (found) return { id: found.id, name: found.name, loginServer: found.properties!.loginServer! };
      url = body.nextLink ? this.sameHost(body.nextLink) : undefined;
    }
    return undefined;
  }

  listBuildSourceUploadUrl(registryId: string): Promise<SourceUploadUrl> {
    return this.json('POST', this.url(`${registryId}/listBuildSourceUploadUrl`));
  }

  /** scheduleRun is not retried: a lost answer could mean a run that is going anyway. */
  async scheduleRun(registryId: string, request: DockerBuildRequest): Promise<Run> {
    const body = await this.json<{ properties?: Run; name?: string }>('POST', this.url(`${registryId}/scheduleRun`), request, false);
    const run = body.properties;
    if (!run?.runId) throw new Error(`scheduleRun on ${registryId} answered without a run id.`);
    return run;
  }

  async getRun(registryId: string, runId: string): Promise<Run> {
    const body = await this.json<{ properties: Run }>('GET', this.url(`${registryId}/runs/${encodeURIComponent(runId)}`));
    return body.properties;
  }

  async listLogSasUrl(registryId: string, runId: string): Promise<string> {
    const body = await this.json<{ logLink?: string }>('POST', this.url(`${registryId}/runs/${encodeURIComponent(runId)}/listLogSasUrl`));
    if (!body.logLink) throw new Error(`listLogSasUrl of run ${runId} answered without a logLink.`);
    return body.logLink;
  }

  async cancelRun(registryId: string, runId: string): Promise<void> {
    await this.json('POST', this.url(`${registryId}/runs/${encodeURIComponent(runId)}/cancel`));
  }

  private url(pathname: string, apiVersion = TASKS_API_VERSION): string {
    return `${this.origin}${pathname}?api-version=${apiVersion}`;
  }

  private sameHost(link: string): string {
    const next = new URL(link, this.origin);
    if (next.origin !== this.origin) throw new Error(`Resource Manager gave a nextLink on another host (${next.host}); not following it.`);
    return next.toString();
  }

  private async json<T>(method: string, url: string, body?: unknown, retryable = true): Promise<T> {
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
