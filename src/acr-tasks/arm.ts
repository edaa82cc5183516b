// ACR Tasks through Azure Resource Manager: the source upload URL, scheduleRun, the run, its log link and its
// cancellation, on the shared Resource Manager client (src/azure/arm.ts, which also finds the registry by its login
// server). Shapes: azure-rest-api-specs, specification/containerregistry/resource-manager/Microsoft.ContainerRegistry,
// containerregistry_build.json (2019-06-01-preview).
import { ArmClient } from '../azure/arm';

/** The API version of the ACR Tasks operations (scheduleRun, runs, listBuildSourceUploadUrl). */
export const TASKS_API_VERSION = '2019-06-01-preview';

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

/** ACR Tasks' operations on a registry (by its ARM id, from findRegistry). */
export class AcrTasksClient extends ArmClient {
  listBuildSourceUploadUrl(registryId: string): Promise<SourceUploadUrl> {
    return this.json('POST', this.tasksUrl(`${registryId}/listBuildSourceUploadUrl`));
  }

  /** scheduleRun is not retried: a lost answer could mean a run that is going anyway. */
  async scheduleRun(registryId: string, request: DockerBuildRequest): Promise<Run> {
    const body = await this.json<{ properties?: Run; name?: string }>('POST', this.tasksUrl(`${registryId}/scheduleRun`), request, false);
    const run = body.properties;
    if (!run?.runId) throw new Error(`scheduleRun on ${registryId} answered without a run id.`);
    return run;
  }

  async getRun(registryId: string, runId: string): Promise<Run> {
    const body = await this.json<{ properties: Run }>('GET', this.tasksUrl(`${registryId}/runs/${encodeURIComponent(runId)}`));
    return body.properties;
  }

  async listLogSasUrl(registryId: string, runId: string): Promise<string> {
    const body = await this.json<{ logLink?: string }>(
      'POST',
      this.tasksUrl(`${registryId}/runs/${encodeURIComponent(runId)}/listLogSasUrl`),
    );
    if (!body.logLink) throw new Error(`listLogSasUrl of run ${runId} answered without a logLink.`);
    return body.logLink;
  }

  async cancelRun(registryId: string, runId: string): Promise<void> {
    await this.json('POST', this.tasksUrl(`${registryId}/runs/${encodeURIComponent(runId)}/cancel`));
  }

  private tasksUrl(pathname: string): string {
    return this.url(pathname, TASKS_API_VERSION);
  }
}
