// BuildForPlatform's whole flow, apart from the agent: check every input, sign in, build with buildx for the requested
// platforms, push, then prove from the registry that what was pushed runs on those platforms (src/image/verify.ts).
// The task shell reads the inputs and the connection and hands in the context; tests hand in fakes.
import { readFileSync } from 'node:fs';
import { buildWithAcrTasks } from '../acr-tasks/build';
import {
  type AcrTasksOptions,
  type Engine,
  ENGINES,
  parseQueueTimeout,
  parseRunTimeout,
  QUEUE_TIMEOUT_INPUT,
  refuseUnsupported,
  RUN_TIMEOUT_INPUT,
} from '../acr-tasks/options';
import { type RegistryConnection, registryOfConnection, signInToRegistry } from '../acr/signin';
import type { Outcome, TaskContext } from '../context';
import { BUILT_BY_JOB_LABEL } from '../docker/built-images';
import { withDockerConfig } from '../docker/config';
import { verifyImage, type ImageSource, type Verification } from '../image/verify';
import { InputError, type Inputs } from '../inputs';
import { formatPlatform, parsePlatformList } from '../platform/platform';
import { RegistryClient, RegistryError } from '../registry/client';
import type { RegistryCredentials } from '../registry/credentials';
import { validateLoginServer } from '../registry/reference';
import { checkExtraArguments, splitArguments } from './arguments';
import { buildImage, type BuildResult, type RegistryLookup } from './build';
import { registryCacheSource, unreadableCacheWarning } from './cache';
import { isIndex } from '../registry/oci';
import { builderPlatforms } from './builder';
import { otherOsPlatformMessage, otherOsPlatforms, probeBuilder, unsupportedPlatformMessage, unsupportedPlatforms } from './capabilities';
import { explainBuildFailure } from './failures';
import { imageName, type BuildRequest } from './command';
import { runsOnTargetPlatform } from './dockerfile';
import {
  ATTESTATIONS,
  type BuilderChoice,
  CACHE_MODES,
  parseAnnotations,
  parseBuildArgs,
  parseBuilder,
  parseCacheRef,
  parseLabels,
  parseRepository,
  parseSbomGenerator,
  parseSecrets,
  parseTags,
  parseTarget,
  pipelineAnnotations,
  pipelineLabels,
  PROVENANCE_MODES,
  publicRepositoryUri,
  resolveContext,
  resolveDockerfile,
} from './options';
import { withRemoteBuilder } from './remote-builder';
import { buildRecord, writeReleaseRecord } from '../release-record/build';
import { buildSummary } from './summary';

export interface BuildForPlatformInputs {
  request: BuildRequest;
  connection: RegistryConnection | undefined;
  builder: BuilderChoice;
  verify: boolean;
  /** buildx on the agent, or acrTasks: the build in Azure (src/acr-tasks), no docker on the agent. */
  engine: Engine;
  acrTasks: AcrTasksOptions;
}

/** Reads and checks every input before anything runs; a bad one throws an InputError naming it and the fix. */
export function readBuildForPlatformInputs(
  inputs: Inputs,
  connection: RegistryConnection | undefined,
  context: TaskContext,
): BuildForPlatformInputs {
  const { agent, env, workingDirectory } = context;
  const registry = inputs.parse('registry', (value) => {
    const given = value ?? (connection?.kind === 'dockerRegistry' ? registryOfConnection(connection.docker) : undefined);
    if (!given) throw new Error('a login server is required, e.g. contoso.azurecr.io.');
    return validateLoginServer(given.toLowerCase() === given ? given : given.toLowerCase());
  });
  const repository = inputs.parse('repository', (value) => parseRepository(value ?? ''));
  const tags = inputs.parse('tags', () => parseTags(inputs.list('tags')));
  const platforms = inputs.parse('platforms', (value) => parsePlatformList(value ?? ''));
  const buildContext = inputs.parse('buildContext', (value) => resolveContext(value ?? '.', workingDirectory));
  const dockerfile = inputs.parse('dockerfile', (value) => resolveDockerfile(value ?? 'Dockerfile', workingDirectory, buildContext));
  const buildArgs = inputs.parse('buildArgs', () => parseBuildArgs(inputs.lines('buildArgs')));
  const secrets = inputs.parse('secrets', () => parseSecrets(inputs.lines('secrets'), env, workingDirectory));
  for (const secret of secrets) if (secret.kind === 'env') agent.registerSecret(env[secret.variable]);
  const target = inputs.parse('target', parseTarget);
  const userLabels = inputs.parse('labels', () => parseLabels(inputs.lines('labels')));
  const userAnnotations = inputs.parse('annotations', () => parseAnnotations(inputs.lines('annotations')));
  const engine = inputs.choice('engine', ENGINES);
  const cacheGiven = inputs.choice('cache', ['auto', ...CACHE_MODES] as const);
  // auto: the registry cache with buildx; none with ACR Tasks, whose runs start on a fresh agent
  const cache = cacheGiven === 'auto' ? (engine === 'acrTasks' ? 'none' : 'registry') : cacheGiven;
  const cacheRef = inputs.parse('cacheRef', (value) => parseCacheRef(value, registry, repository));
  const attestations = inputs.choice('attestations', ATTESTATIONS);
  const provenanceMode = inputs.choice('provenanceMode', PROVENANCE_MODES);
  const sbomGenerator = inputs.parse('sbomGenerator', parseSbomGenerator);
  const builder = inputs.parse('builder', parseBuilder);
  const extraArguments = inputs.parse('arguments', (value) => checkExtraArguments(splitArguments(value ?? ''), { cache }));

  const labels = pipelineLabels({
    repositoryUri: publicRepositoryUri(agent.variable('Build.Repository.Uri')),
    sourceVersion: agent.variable('Build.SourceVersion'),
    version: tags[0],
    created: new Date(),
  });
  // EnsureDocker's post-job cleanup removes the images labelled with this job (src/docker/built-images.ts).
  const jobId = agent.variable('System.JobId');
  if (jobId) labels.set(BUILT_BY_JOB_LABEL, jobId);
  for (const [key, value] of userLabels) labels.set(key, value);
  const annotations = pipelineAnnotations(labels, userAnnotations);

  const request: BuildRequest = {
    registry,
    repository,
    tags,
    dockerfile,
    context: buildContext,
    platforms,
    buildArgs,
    secrets,
    target,
    labels,
    annotations,
    annotationsGiven: [...userAnnotations.values()].some((value) => value !== ''),
    push: inputs.bool('push'),
    cache,
    cacheRef,
    attestations,
    provenanceMode,
    sbomGenerator,
    extraArguments,
  };
  // checked whatever the engine, so a typo fails before anything runs
  const acrTasks: AcrTasksOptions = {
    queueTimeoutSeconds: inputs.parse(QUEUE_TIMEOUT_INPUT, parseQueueTimeout),
    runTimeoutSeconds: inputs.parse(RUN_TIMEOUT_INPUT, parseRunTimeout),
  };
  if (engine === 'acrTasks') {
    refuseUnsupported(request, {
      userLabels: userLabels.size,
      cacheGiven,
      cacheRefGiven: inputs.string('cacheRef') !== undefined,
      builder,
      extraArguments,
    });
  }
  return { request, connection, builder, verify: inputs.bool('verifyPlatforms'), engine, acrTasks };
}

/** Signs in, builds, pushes and proves the platforms; outputs are set only for an image that passed (or was not checked). */
export async function buildForPlatform(inputs: BuildForPlatformInputs, context: TaskContext): Promise<Outcome> {
  const { request, builder } = inputs;
  const credentials = await signIn(request, inputs.connection, context);
  const workDir = context.agent.tempDir('build-for-platform');
  if (inputs.engine === 'acrTasks') {
    const options = { connection: inputs.connection, credentials, options: inputs.acrTasks, workDir };
    const result = await buildWithAcrTasks(request, options, context);
    return proveAndPublish(
      request,
      result,
      { name: 'ACR Tasks', driver: 'acrTasks' },
      { ...context, workDir, verify: inputs.verify, credentials },
    );
  }
  return withDockerConfig(
    credentials ? [credentials] : [],
    async ({ DOCKER_CONFIG }) => {
      const run: RunContext = { ...context, env: { ...context.env, DOCKER_CONFIG }, workDir, verify: inputs.verify, credentials };
      const build = (name: string | undefined) => buildAndVerify({ ...request, builder: name }, run);
      if (builder.kind === 'endpoint') return withRemoteBuilder(builder.endpoint, run, build);
      return build(builder.kind === 'named' ? builder.name : undefined);
    },
    { parentDir: workDir, logger: context.logger, runner: context.runner, env: context.env },
  );
}

async function signIn(
  request: BuildRequest,
  connection: RegistryConnection | undefined,
  context: TaskContext,
): Promise<RegistryCredentials | undefined> {
  const { logger, agent } = context;
  return logger.group(`Sign in to ${request.registry}`, async () => {
    if (!connection) {
      logger.info(agent.loc('NoConnection', request.registry));
      return undefined;
    }
    const signedIn = await signInToRegistry({
      registry: request.registry,
      connection,
      logger,
      http: context.http,
      network: context.network,
      checkAccess: request.push ? { repository: request.repository, actions: ['pull', 'push'] } : undefined,
    });
    for (const secret of signedIn.secrets) agent.registerSecret(secret);
    logger.info(agent.loc('SigningIn', request.registry, signedIn.method));
    return signedIn.credentials;
  });
}

/** What the registry holds under a reference of this image (`name:tag`, `name@digest`), asked before a failed push is repeated. */
function registryLookup(request: BuildRequest, context: RunContext): RegistryLookup {
  const client = new RegistryClient({
    registry: request.registry,
    credentials: context.credentials,
    logger: context.logger,
    http: context.http,
  });
  const ref = (reference: string) => reference.slice(imageName(request).length + 1);
  return {
    tagDigest: async (reference) => (await client.headManifest(request.repository, ref(reference)))?.digest,
    indexChildren: async (reference) => {
      const fetched = await client.getManifest(request.repository, ref(reference));
      return isIndex(fetched.json, fetched.mediaType) ? fetched.json.manifests.map((child) => child.digest) : undefined;
    },
  };
}

/** The task's context with the job's DOCKER_CONFIG in env, and what the build needs beyond it. */
export interface RunContext extends TaskContext {
  workDir: string;
  verify: boolean;
  credentials: RegistryCredentials | undefined;
}

async function buildAndVerify(request: BuildRequest, context: RunContext): Promise<Outcome> {
  const { logger, agent } = context;
  const { info, capabilities } = await logger.group('Builder', async () => {
    const probed = await probeBuilder(request.builder, context);
    const platforms = builderPlatforms(probed.info).map(formatPlatform);
    logger.info(
      `builder ${probed.info.name} (${probed.info.driver} driver, buildx ${probed.capabilities.buildxVersion}): ${platforms.join(', ')}`,
    );
    return probed;
  });
  const otherSystems = otherOsPlatforms(request.platforms, info);
  if (otherSystems.length > 0) throw new InputError('platforms', otherOsPlatformMessage(otherSystems, info));
  const missing = unsupportedPlatforms(request.platforms, info);
  if (missing.length > 0) {
    if (runsOnTargetPlatform(readFileSync(request.dockerfile, 'utf8'))) throw new Error(unsupportedPlatformMessage(missing, info));
    logger.info(agent.loc('PlatformsCheckSkipped', missing.map(formatPlatform).join(', ')));
  }

  const cacheFrom = await registryCacheSource(request, context);
  const result = await buildImage({ ...request, cacheFrom }, capabilities, {
    ...context,
    registry: registryLookup(request, context),
  }).catch((error: unknown) => {
    throw explainBuildFailure(error, { ...request, signedIn: !!context.credentials });
  });
  const cacheWarning = result.digest && capabilities.cacheExport ? await unreadableCacheWarning(request, context) : undefined;
  if (cacheWarning) result.warnings.push(cacheWarning);
  return proveAndPublish(request, result, { name: info.name, driver: info.driver }, context);
}

/** The tail of both engines: the summary, the platform proof of what was pushed, and the outputs. */
export async function proveAndPublish(
  request: BuildRequest,
  result: BuildResult,
  builder: { name: string; driver?: string },
  context: RunContext,
): Promise<Outcome> {
  const { logger, agent } = context;
  for (const warning of result.warnings) logger.warn(warning);
  const name = imageName(request);
  const summary = (verification?: Verification, verifySkipped?: string, verifyMs?: number) => {
    writeReleaseRecord(
      agent,
      buildRecord({
        ...request,
        ...result,
        builder,
        cache: { mode: request.cache, ref: request.cache === 'registry' ? request.cacheRef : undefined, use: result.cache },
        pushMs: result.digest ? result.durationMs - result.buildMs : undefined,
        verification,
        verifySkipped,
      }),
    );
    agent.uploadSummary(
      'BuildForPlatform',
      buildSummary({
        imageName: name,
        digest: result.digest,
        tags: request.tags,
        platforms: request.platforms,
        mode: result.mode,
        cache: { mode: request.cache, ref: request.cache === 'registry' ? request.cacheRef : undefined, use: result.cache },
        verification,
        verifySkipped,
        buildMs: result.buildMs,
        pushMs: result.digest ? result.durationMs - result.buildMs : undefined,
        verifyMs,
      }),
    );
  };

  if (!result.digest) {
    logger.info(agent.loc('NotPushed'));
    summary(undefined, 'nothing pushed');
    agent.setOutput('platforms', request.platforms.map(formatPlatform).join(','));
    agent.setOutput('metadataFile', result.metadataFile);
    return { result: 'succeeded' };
  }
  const reference = `${name}@${result.digest}`;
  logger.info(agent.loc('Pushed', reference));

  if (!context.verify) {
    summary(undefined, 'off (verifyPlatforms: false)');
    publishOutputs(request, result, reference, context);
    return { result: 'succeeded' };
  }
  const started = Date.now();
  const verification = await logger.group('Verify', async () => {
    const client = new RegistryClient({
      registry: request.registry,
      credentials: context.credentials,
      logger,
      http: context.http,
      stream: context.stream,
    });
    const outcome = await verifyImage({
      source: registrySource(client, request.repository),
      digest: result.digest as string,
      requested: request.platforms,
      checkPrograms: true,
      logger,
    }).catch((error: unknown) => {
      throw explainUnreadable(error, request.registry, reference);
    });
    for (const line of verificationLines(outcome)) logger.info(line);
    return outcome;
  });
  summary(verification, undefined, Date.now() - started);
  if (verification.problems.length > 0)
    return { result: 'failed', message: agent.loc('VerifyFailed', reference, verification.problems.join('; ')) };
  logger.info(agent.loc('Verified', reference, request.platforms.map(formatPlatform).join(', ')));
  publishOutputs(request, result, reference, context);
  return { result: 'succeeded' };
}

/** What the platform proof found, per platform and per program file, for the log. */
export function verificationLines(verification: Verification): string[] {
  const lines: string[] = [];
  for (const platform of verification.platforms) {
    lines.push(
      `${formatPlatform(platform.platform)}: manifest ${platform.manifestDigest}, ${platform.layers} layers, ${platform.size} bytes`,
    );
    for (const file of platform.program?.files ?? []) {
      const what = file.kind === 'elf' ? `ELF ${file.elf.bits}-bit ${file.elf.machineName}` : `script for ${file.interpreter}`;
      lines.push(`  ${file.role}: ${[...file.links, file.path].join(' => ')} is ${what}`);
    }
    for (const note of platform.program?.notes ?? []) lines.push(`  note: ${note}`);
    const native = platform.native;
    if (native)
      lines.push(
        `  native files under ${native.dirs.join(', ')}: ${native.elfFiles} ELF of ${native.files} files read, ${native.wrong.length} for another machine`,
        ...native.notes.map((note) => `  note: ${note}`),
      );
  }
  return lines;
}

function publishOutputs(request: BuildRequest, result: BuildResult, reference: string, { agent }: TaskContext): void {
  agent.setOutput('imageDigest', result.digest ?? '');
  agent.setOutput('imageReference', reference);
  agent.setOutput('imageTags', request.tags.join(','));
  agent.setOutput('platforms', request.platforms.map(formatPlatform).join(','));
  agent.setOutput('metadataFile', result.metadataFile);
}

/** The registry would not show what this job just pushed: say why that usually is (ACR quarantine) and what to do. */
function explainUnreadable(error: unknown, registry: string, reference: string): unknown {
  if (!(error instanceof RegistryError) || ![401, 403, 404].includes(error.status)) return error;
  return new Error(
    `${registry} does not show ${reference}, which this job just pushed, to the job's identity (${error.message}). ` +
      `With quarantine on, ACR shows a new image only to identities with AcrQuarantineReader (or AcrQuarantineWriter): give the build's identity that role to keep the platform proof, ` +
      `or set verifyPlatforms: false and prove the platforms where the image can be read.`,
  );
}

function registrySource(client: RegistryClient, repository: string): ImageSource {
  return {
    manifest: async (digest) => {
      const fetched = await client.getManifest(repository, digest, { retryUnknown: true });
      return { mediaType: fetched.mediaType, manifest: fetched.json };
    },
    blob: (digest) => client.getBlob(repository, digest),
    openBlob: (digest) => client.openBlob(repository, digest),
  };
}
