// BuildForPlatform@1: read and check every input, sign in, build with buildx for the requested platforms, push, then
// prove from the registry that what was pushed runs on those platforms (src/image/verify.ts).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type RegistryConnection, registryOfConnection, signInToRegistry } from '../../src/acr/signin';
import { buildImage, type BuildResult } from '../../src/buildx/build';
import { checkExtraArguments, splitArguments } from '../../src/buildx/arguments';
import { builderPlatforms } from '../../src/buildx/builder';
import { probeBuilder, unsupportedPlatformMessage, unsupportedPlatforms } from '../../src/buildx/capabilities';
import { imageName, type BuildRequest } from '../../src/buildx/command';
import { runsOnTargetPlatform } from '../../src/buildx/dockerfile';
import {
  ATTESTATIONS,
  CACHE_MODES,
  parseBuildArgs,
  parseBuilder,
  parseCacheRef,
  parseLabels,
  parseRepository,
  parseSecrets,
  parseTags,
  parseTarget,
  pipelineLabels,
  publicRepositoryUri,
  resolveContext,
  resolveDockerfile,
} from '../../src/buildx/options';
import { withRemoteBuilder } from '../../src/buildx/remote-builder';
import { buildSummary } from '../../src/buildx/summary';
import { BUILT_BY_JOB_LABEL } from '../../src/docker/built-images';
import { withDockerConfig } from '../../src/docker/config';
import { verifyImage, type ImageSource, type Verification } from '../../src/image/verify';
import {
  type Outcome,
  TaskInputs,
  loc,
  pipelineLogger,
  readRegistryConnection,
  registerSecret,
  runTask,
  setOutput,
  stepTempDir,
  uploadSummary,
  variable,
} from '../../src/pipeline';
import { formatPlatform, parsePlatformList } from '../../src/platform/platform';
import { run } from '../../src/process/exec';
import { RegistryClient, RegistryError } from '../../src/registry/client';
import type { RegistryCredentials } from '../../src/registry/credentials';
import { validateLoginServer } from '../../src/registry/reference';

const logger = pipelineLogger;

runTask(__dirname, async (): Promise<Outcome> => {
  const inputs = new TaskInputs(path.join(__dirname, 'task.json'));
  const { request, connection, verify } = readInputs(inputs);

  const credentials = await signIn(request, connection);
  const workDir = stepTempDir('build-for-platform');
  return withDockerConfig(
    credentials ? [credentials] : [],
    async ({ DOCKER_CONFIG }) => {
      const env = { ...process.env, DOCKER_CONFIG };
      const builderChoice = parseBuilder(inputs.string('builder'));
      const build = (builder: string | undefined) => buildAndVerify({ ...request, builder }, { env, workDir, verify, credentials });
      if (builderChoice.kind === 'endpoint') return withRemoteBuilder(builderChoice.endpoint, { runner: run, env, logger }, build);
      return build(builderChoice.kind === 'named' ? builderChoice.name : undefined);
    },
    { parentDir: workDir, logger },
  );
});

function readInputs(inputs: TaskInputs): { request: BuildRequest; connection: RegistryConnection | undefined; verify: boolean } {
  const connection = readRegistryConnection(inputs);
  const registry = inputs.parse('registry', (value) => {
    const given = value ?? (connection?.kind === 'dockerRegistry' ? registryOfConnection(connection.docker) : undefined);
    if (!given) throw new Error('a login server is required, e.g. contoso.azurecr.io.');
    return validateLoginServer(given.toLowerCase() === given ? given : given.toLowerCase());
  });
  const repository = inputs.parse('repository', (value) => parseRepository(value ?? ''));
  const tags = inputs.parse('tags', () => parseTags(inputs.list('tags')));
  const platforms = inputs.parse('platforms', (value) => parsePlatformList(value ?? ''));
  const workingDirectory = process.cwd();
  const context = inputs.parse('buildContext', (value) => resolveContext(value ?? '.', workingDirectory));
  const dockerfile = inputs.parse('dockerfile', (value) => resolveDockerfile(value ?? 'Dockerfile', workingDirectory, context));
  const buildArgs = inputs.parse('buildArgs', () => parseBuildArgs(inputs.lines('buildArgs')));
  const secrets = inputs.parse('secrets', () => parseSecrets(inputs.lines('secrets'), process.env, workingDirectory));
  for (const secret of secrets) if (secret.kind === 'env') registerSecret(process.env[secret.variable]);
  const target = inputs.parse('target', parseTarget);
  const userLabels = inputs.parse('labels', () => parseLabels(inputs.lines('labels')));
  const cache = inputs.choice('cache', CACHE_MODES);
  const cacheRef = inputs.parse('cacheRef', (value) => parseCacheRef(value, registry, repository));
  const attestations = inputs.choice('attestations', ATTESTATIONS);
  inputs.parse('builder', parseBuilder);
  const extraArguments = inputs.parse('arguments', (value) => checkExtraArguments(splitArguments(value ?? ''), { cache }));

  const labels = pipelineLabels({
    repositoryUri: publicRepositoryUri(variable('Build.Repository.Uri')),
    sourceVersion: variable('Build.SourceVersion'),
    version: tags[0],
    created: new Date(),
  });
  // EnsureDocker's post-job cleanup removes the images labelled with this job (src/docker/built-images.ts).
  const jobId = variable('System.JobId');
  if (jobId) labels.set(BUILT_BY_JOB_LABEL, jobId);
  for (const [key, value] of userLabels) labels.set(key, value);

  const request: BuildRequest = {
    registry,
    repository,
    tags,
    dockerfile,
    context,
    platforms,
    buildArgs,
    secrets,
    target,
    labels,
    push: inputs.bool('push'),
    cache,
    cacheRef,
    attestations,
    extraArguments,
  };
  return { request, connection, verify: inputs.bool('verifyPlatforms') };
}

async function signIn(request: BuildRequest, connection: RegistryConnection | undefined): Promise<RegistryCredentials | undefined> {
  return logger.group(`Sign in to ${request.registry}`, async () => {
    if (!connection) {
      logger.info(loc('NoConnection', request.registry));
      return undefined;
    }
    const signedIn = await signInToRegistry({
      registry: request.registry,
      connection,
      logger,
      checkAccess: request.push ? { repository: request.repository, actions: ['pull', 'push'] } : undefined,
    });
    for (const secret of signedIn.secrets) registerSecret(secret);
    logger.info(loc('SigningIn', request.registry, signedIn.method));
    return signedIn.credentials;
  });
}

interface RunContext {
  env: NodeJS.ProcessEnv;
  workDir: string;
  verify: boolean;
  credentials: RegistryCredentials | undefined;
}

async function buildAndVerify(request: BuildRequest, context: RunContext): Promise<Outcome> {
  const { info, capabilities } = await logger.group('Builder', async () => {
    const probed = await probeBuilder(request.builder, { runner: run, env: context.env });
    const platforms = builderPlatforms(probed.info).map(formatPlatform);
    logger.info(`builder ${probed.info.name} (${probed.info.driver} driver, buildx ${probed.capabilities.buildxVersion}): ${platforms.join(', ')}`);
    return probed;
  });
  const missing = unsupportedPlatforms(request.platforms, info);
  if (missing.length > 0) {
    if (runsOnTargetPlatform(readFileSync(request.dockerfile, 'utf8'))) throw new Error(unsupportedPlatformMessage(missing, info));
    logger.info(loc('PlatformsCheckSkipped', missing.map(formatPlatform).join(', ')));
  }

  const result = await buildImage(request, capabilities, { runner: run, env: context.env, logger, workDir: context.workDir });
  for (const warning of result.warnings) logger.warn(warning);
  const name = imageName(request);
  const summary = (verification?: Verification, verifySkipped?: string, verifyMs?: number) =>
    uploadSummary(
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

  if (!result.digest) {
    logger.info(loc('NotPushed'));
    summary(undefined, 'nothing pushed');
    setOutput('platforms', request.platforms.map(formatPlatform).join(','));
    setOutput('metadataFile', result.metadataFile);
    return { result: 'succeeded' };
  }
  const reference = `${name}@${result.digest}`;
  logger.info(loc('Pushed', reference));

  if (!context.verify) {
    summary(undefined, 'off (verifyPlatforms: false)');
    publishOutputs(request, result, reference);
    return { result: 'succeeded' };
  }
  const started = Date.now();
  const verification = await logger.group('Verify', async () => {
    const client = new RegistryClient({ registry: request.registry, credentials: context.credentials, logger });
    const outcome = await verifyImage({ source: registrySource(client, request.repository), digest: result.digest as string, requested: request.platforms, checkPrograms: true, logger }).catch(
      (error: unknown) => {
        throw explainUnreadable(error, request.registry, reference);
      },
    );
    for (const platform of outcome.platforms) {
      logger.info(`${formatPlatform(platform.platform)}: manifest ${platform.manifestDigest}, ${platform.layers} layers, ${platform.size} bytes`);
      for (const file of platform.program?.files ?? []) {
        const what = file.kind === 'elf' ? `ELF ${file.elf.bits}-bit ${file.elf.machineName}` : `script for ${file.interpreter}`;
        logger.info(`  ${file.role}: ${[...file.links, file.path].join(' => ')} is ${what}`);
      }
      for (const note of platform.program?.notes ?? []) logger.info(`  note: ${note}`);
    }
    return outcome;
  });
  summary(verification, undefined, Date.now() - started);
  if (verification.problems.length > 0) return { result: 'failed', message: loc('VerifyFailed', reference, verification.problems.join('; ')) };
  logger.info(loc('Verified', reference, request.platforms.map(formatPlatform).join(', ')));
  publishOutputs(request, result, reference);
  return { result: 'succeeded' };
}

function publishOutputs(request: BuildRequest, result: BuildResult, reference: string): void {
  setOutput('imageDigest', result.digest ?? '');
  setOutput('imageReference', reference);
  setOutput('imageTags', request.tags.join(','));
  setOutput('platforms', request.platforms.map(formatPlatform).join(','));
  setOutput('metadataFile', result.metadataFile);
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
