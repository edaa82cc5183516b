// engine: acrTasks, the build in Azure: no docker CLI and no daemon on the agent. Through Resource Manager with the
// pipeline's AzureRM connection (any scheme): the registry is found by its login server, the context is packed (as
// .dockerignore says) and uploaded to the SAS URL of listBuildSourceUploadUrl, one quick run (DockerBuildRequest) is
// scheduled per platform, each is followed with its log streamed, and its output digest read. Several platforms (or one
// with the user's annotations) are joined into one OCI index pushed under the tags, carrying the annotations. The caller proves and publishes the result as for buildx.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { RegistryConnection } from '../acr/signin';
import type { BuildResult } from '../buildx/build';
import { imageName, platformTag, type BuildRequest } from '../buildx/command';
import type { TaskContext } from '../context';
import { formatPlatform, type Platform } from '../platform/platform';
import { RegistryClient } from '../registry/client';
import type { RegistryCredentials } from '../registry/credentials';
import { type Descriptor, type Index, INDEX_MEDIA_TYPES, MediaType, REFERENCE_TYPE_ANNOTATION } from '../registry/oci';
import { ArmError, armTarget } from '../azure/arm';
import { AcrTasksClient, type DockerBuildRequest, type Run } from './arm';
import { uploadBlockBlob } from './blob';
import { type AcrTasksOptions, acrPlatform, QUEUE_TIMEOUT_INPUT } from './options';
import { followRun } from './run';
import { packContext } from './source';

/** Subscribes to the pipeline's cancellation (SIGINT/SIGTERM from the agent); returns the unsubscribe. */
export type CancellationSource = (onCancel: () => void) => () => void;

export const processSignals: CancellationSource = (onCancel) => {
  process.once('SIGINT', onCancel);
  process.once('SIGTERM', onCancel);
  return () => {
    process.removeListener('SIGINT', onCancel);
    process.removeListener('SIGTERM', onCancel);
  };
};

export interface AcrTasksRun {
  connection: RegistryConnection | undefined;
  credentials: RegistryCredentials | undefined;
  options: AcrTasksOptions;
  workDir: string;
  /** Tests: a shorter poll, another cancellation source. */
  pollMs?: number;
  cancellation?: CancellationSource;
}

export async function buildWithAcrTasks(request: BuildRequest, run: AcrTasksRun, context: TaskContext): Promise<BuildResult> {
  const { logger, agent } = context;
  const started = Date.now();
  const arm = armClientFor(run.connection, context);
  const registry = await logger.group(`ACR Tasks on ${request.registry}`, async () => {
    const found = await arm.findRegistry(request.registry).catch((error: unknown) => {
      throw explainArm(error, request.registry);
    });
    if (!found) {
      throw new Error(
        `No registry with the login server ${request.registry} is visible in subscription ${subscriptionOf(run.connection)} to the identity of the connection. ` +
          'Check the registry input and the subscription of the service connection, and give the identity a role on the registry (Container Registry Tasks Contributor, or Contributor).',
      );
    }
    logger.info(`registry ${found.id}`);
    return found;
  });

  const source = await logger.group('Upload the build context', async () => {
    const packed = packContext(request.context, request.dockerfile);
    logger.info(
      `${request.context}: ${packed.files} files, ${(packed.archive.length / 1024).toFixed(1)} KiB gzip` +
        (packed.ignoreFile ? `, ${packed.ignored} entries left out by ${packed.ignoreFile}` : ', no .dockerignore'),
    );
    const upload = await arm.listBuildSourceUploadUrl(registry.id).catch((error: unknown) => {
      throw explainArm(error, request.registry);
    });
    const sas = new URL(upload.uploadUrl).searchParams.get('sig');
    if (sas) agent.registerSecret(sas);
    await uploadBlockBlob(upload.uploadUrl, packed.archive, context.http);
    logger.info(`uploaded as ${upload.relativePath}`);
    return { relativePath: upload.relativePath, dockerfilePath: packed.dockerfilePath };
  });

  // Several platforms are joined into one index; so is one platform the user gave annotations for (a run's image has none).
  const joined = request.platforms.length > 1 || request.annotationsGiven === true;
  const repositoryTags = (platform: Platform) =>
    joined ? [platformTag(request.tags[0], platform)] : request.tags.length ? request.tags : [platformTag('build', platform)];
  const runs: { platform: Platform; run: Run }[] = [];
  const buildStarted = Date.now();
  const aborter = new AbortController();
  const unsubscribe = (run.cancellation ?? processSignals)(() => aborter.abort('The pipeline was cancelled'));
  try {
    await logger.group(`Schedule ${request.platforms.length === 1 ? 'a run' : `${request.platforms.length} runs`}`, async () => {
      for (const platform of request.platforms) {
        const body: DockerBuildRequest = {
          type: 'DockerBuildRequest',
          imageNames: repositoryTags(platform).map((tag) => `${request.repository}:${tag}`),
          isPushEnabled: request.push,
          noCache: false,
          dockerFilePath: source.dockerfilePath,
          ...(request.target ? { target: request.target } : {}),
          arguments: request.buildArgs.map((arg) => ({ name: arg.name, value: arg.value, isSecret: false })),
          timeout: run.options.runTimeoutSeconds,
          platform: acrPlatform(platform),
          sourceLocation: source.relativePath,
          isArchiveEnabled: false,
        };
        const scheduled = await arm.scheduleRun(registry.id, body).catch((error: unknown) => {
          throw explainArm(error, request.registry);
        });
        logger.info(`${formatPlatform(platform)}: run ${scheduled.runId} (${scheduled.status})`);
        runs.push({ platform, run: scheduled });
      }
    });
  } catch (error) {
    unsubscribe();
    await Promise.all(runs.map(({ run: r }) => arm.cancelRun(registry.id, r.runId).catch(() => undefined)));
    throw error;
  }

  let finished: { platform: Platform; run: Run }[];
  try {
    finished = await logger.group('Build in ACR Tasks', () =>
      Promise.all(
        runs.map(async ({ platform, run: scheduled }) => {
          try {
            const done = await followRun({
              arm,
              registryId: registry.id,
              runId: scheduled.runId,
              prefix: request.platforms.length > 1 ? `[${formatPlatform(platform)}] ` : '',
              logger,
              http: context.http,
              queueTimeoutMs: run.options.queueTimeoutSeconds * 1000,
              queueTimeoutInput: QUEUE_TIMEOUT_INPUT,
              pollMs: run.pollMs,
              signal: aborter.signal,
            });
            return { platform, run: done };
          } catch (error) {
            // one run failed: the others are of no use any more
            if (!aborter.signal.aborted) aborter.abort(`Run ${scheduled.runId} (${formatPlatform(platform)}) did not succeed`);
            throw error;
          }
        }),
      ),
    );
  } finally {
    unsubscribe();
  }
  const buildMs = Date.now() - buildStarted;

  const platformImages = finished.map(({ platform, run: done }) => {
    const output = done.outputImages?.find((image) => image.repository === request.repository && image.digest);
    return { platform, digest: output?.digest, reference: `${imageName(request)}:${repositoryTags(platform)[0]}`, runId: done.runId };
  });
  let digest: string | undefined;
  if (request.push) {
    for (const image of platformImages) {
      if (!image.digest)
        throw new Error(
          `ACR run ${image.runId} succeeded but reported no digest for ${request.registry}/${request.repository}; refusing to go on.`,
        );
    }
    digest = joined
      ? await logger.group('Join the platforms into one index', () =>
          joinIndex(request, platformImages as Joined[], run.credentials, context),
        )
      : platformImages[0].digest;
  }

  const metadataFile = path.join(run.workDir, 'metadata-acr-tasks.json');
  writeFileSync(
    metadataFile,
    JSON.stringify(
      {
        ...(digest ? { 'containerimage.digest': digest } : {}),
        'image.name': request.tags.map((tag) => `${imageName(request)}:${tag}`).join(','),
        'acr.runs': platformImages.map((image) => ({ runId: image.runId, platform: formatPlatform(image.platform), digest: image.digest })),
      },
      null,
      2,
    ),
  );
  return {
    mode: joined ? 'per-platform' : 'single',
    digest,
    metadataFile,
    platformImages: platformImages.filter((i): i is Joined => Boolean(i.digest)),
    cache: { steps: 0, cached: 0 },
    buildMs,
    durationMs: Date.now() - started,
    warnings: [],
  };
}

type Joined = { platform: Platform; digest: string; reference: string; runId: string };

/** One OCI index over the runs' images, pushed under every tag; returns its digest. */
async function joinIndex(
  request: BuildRequest,
  images: Joined[],
  credentials: RegistryCredentials | undefined,
  context: TaskContext,
): Promise<string> {
  const client = new RegistryClient({
    registry: request.registry,
    credentials,
    logger: context.logger,
    http: context.http,
    stream: context.stream,
  });
  const manifests: Descriptor[] = [];
  for (const image of images) {
    const fetched = await client.getManifest(request.repository, image.digest, { retryUnknown: true });
    let descriptor: Descriptor = { mediaType: fetched.mediaType, digest: fetched.digest, size: fetched.raw.length };
    if (INDEX_MEDIA_TYPES.includes(fetched.mediaType)) {
      // a builder that wraps one platform's image in an index: take the image itself
      const children = (fetched.json as Index).manifests.filter((m) => !m.annotations?.[REFERENCE_TYPE_ANNOTATION]);
      if (children.length !== 1) throw new Error(`ACR run ${image.runId} pushed an index with ${children.length} images; expected one.`);
      descriptor = { mediaType: children[0].mediaType, digest: children[0].digest, size: children[0].size };
    }
    const { os, architecture, variant } = image.platform;
    manifests.push({ ...descriptor, platform: { os, architecture, ...(variant ? { variant } : {}) } });
    context.logger.info(`${formatPlatform(image.platform)}: ${descriptor.digest} (run ${image.runId})`);
  }
  // A run cannot annotate its image: the index carries the annotations (the pipeline's OCI labels and the user's).
  const annotations = Object.fromEntries(request.annotations);
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests,
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };
  const raw = Buffer.from(JSON.stringify(index));
  let digest = '';
  for (const tag of request.tags) digest = (await client.putManifest(request.repository, tag, MediaType.ociIndex, raw)).digest;
  context.logger.info(`index ${digest} pushed as ${request.tags.map((t) => `${imageName(request)}:${t}`).join(', ')}`);
  return digest;
}

function subscriptionOf(connection: RegistryConnection | undefined): string {
  return connection?.kind === 'azure' ? (connection.azure.data('subscriptionId') ?? '') : '';
}

/** An ACR Tasks client for the connection: its Resource Manager URL and subscription, a token for ARM's audience. */
function armClientFor(connection: RegistryConnection | undefined, context: TaskContext): AcrTasksClient {
  if (connection?.kind !== 'azure') {
    throw new Error(
      "Input 'azureSubscription': engine: acrTasks schedules the build through Azure Resource Manager and needs an Azure Resource Manager service connection (a docker-registry connection cannot).",
    );
  }
  const azure = connection.azure;
  // @azure/identity is loaded only on the paths that need it (see src/acr/signin.ts).
  const load = () => require('../azure/credential') as typeof import('../azure/credential'); // eslint-disable-line @typescript-eslint/no-require-imports
  const onSecret = (secret: string) => context.agent.registerSecret(secret);
  const hasSubscription = Boolean(azure.data('subscriptionId')?.trim());
  const target = hasSubscription
    ? armTarget(azure, load().azureCredential(azure, { oidc: connection.oidc, logger: context.logger, onSecret }), onSecret)
    : undefined;
  if (!target) {
    throw new Error(
      `Input 'azureSubscription': the service connection '${azure.id}' has no subscription; engine: acrTasks needs a connection scoped to the registry's subscription.`,
    );
  }
  return new AcrTasksClient({ ...target, http: context.http, logger: context.logger });
}

/** Resource Manager's refusals users meet, with what to do. */
export function explainArm(error: unknown, registry: string): unknown {
  if (!(error instanceof ArmError)) return error;
  if (error.code === 'TasksOperationsNotAllowed') {
    return new Error(
      `ACR Tasks is not allowed for ${registry}'s subscription (TasksOperationsNotAllowed: ${error.armMessage ?? 'tasks are disabled'}). ` +
        'Free and trial subscriptions cannot run ACR Tasks: use a pay-as-you-go subscription, ask Azure support to enable ACR Tasks, or set engine: buildx.',
    );
  }
  if (error.status === 401 || error.status === 403) {
    return new Error(
      `Resource Manager refused the connection's identity for ${registry} (${error.status}${error.code ? ` ${error.code}` : ''}${error.armMessage ? `: ${error.armMessage}` : ''}). ` +
        'Give it the Container Registry Tasks Contributor role (or Contributor) on the registry.',
    );
  }
  return error;
}
