// Runs the build, then the push, in that order: nothing reaches the registry unless every platform built.
// - A builder with its own BuildKit (docker-container, remote, kubernetes) builds every platform at once and pushes.
// - The docker driver builds into the daemon's image store; `docker push` then pushes each tag.
// - The docker driver on the classic image store builds one platform at a time (each under a platform tag), pushes
//   them, and `imagetools create` joins them into one index under the requested tags.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TaskContext } from '../context';
import { formatPlatform, type Platform } from '../platform/platform';
import { runChecked } from '../process/exec';
import {
  buildCommand,
  imageName,
  imagetoolsCreateArgs,
  platformTag,
  type BuilderCapabilities,
  type BuildRequest,
  type BuildStep,
} from './command';
import { builtImageDigest, cacheUse, pushedIndexDigest, readMetadata, type CacheUse } from './metadata';

export interface BuildPlan {
  mode: 'single' | 'per-platform';
  build: BuildStep[];
  /** References to push with `docker push` after every build succeeded, in order. */
  dockerPush: string[];
  /** Per-platform mode: the index to create from the pushed platform images, under these references. */
  indexTags: string[];
}

export function planBuild(request: BuildRequest, capabilities: BuilderCapabilities, metadataDir: string): BuildPlan {
  const name = imageName(request);
  const tags = request.tags.map((t) => `${name}:${t}`);
  const file = (label: string) => path.join(metadataDir, `metadata-${label}.json`);
  if (capabilities.multiPlatform || request.platforms.length === 1) {
    const builderPushes = request.push && !capabilities.pushFromDaemon;
    return {
      mode: 'single',
      build: [{ platforms: request.platforms, tags, push: builderPushes, exportCache: request.push, metadataFile: file('build') }],
      dockerPush: request.push && capabilities.pushFromDaemon ? tags : [],
      indexTags: [],
    };
  }
  const slug = (p: Platform) => formatPlatform(p).replace(/\//g, '-');
  const platformRefs = request.platforms.map((p) => `${name}:${platformTag(request.tags[0], p)}`);
  return {
    mode: 'per-platform',
    build: request.platforms.map((p, i) => ({
      platforms: [p],
      tags: [platformRefs[i]],
      push: false,
      exportCache: request.push,
      metadataFile: file(`build-${slug(p)}`),
    })),
    dockerPush: request.push ? platformRefs : [],
    indexTags: request.push ? tags : [],
  };
}

/** env is docker's complete environment: the job's, with this job's DOCKER_CONFIG. */
export type BuildContext = Pick<TaskContext, 'runner' | 'env' | 'logger'> & {
  docker?: string;
  /** Where metadata files go. */
  workDir: string;
};

export interface BuildResult {
  mode: BuildPlan['mode'];
  /** The digest the registry holds under the tags; undefined when nothing was pushed. */
  digest?: string;
  /** The metadata file of the build whose digest is the result (per-platform: a file this task writes). */
  metadataFile: string;
  /** Per-platform images pushed before the index joined them (per-platform mode only). */
  platformImages: { platform: Platform; digest: string; reference: string }[];
  cache: CacheUse;
  /** The builds alone, without pushing. */
  buildMs: number;
  /** Builds and pushes. */
  durationMs: number;
  warnings: string[];
}

/** `docker push` ends with `<tag>: digest: sha256:… size: N`. */
export function pushedDigest(output: string): string | undefined {
  return /: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(output)?.[1];
}

export async function buildImage(request: BuildRequest, capabilities: BuilderCapabilities, context: BuildContext): Promise<BuildResult> {
  const { logger } = context;
  const docker = context.docker ?? 'docker';
  const started = Date.now();
  const plan = planBuild(request, capabilities, context.workDir);
  const warnings: string[] = [];
  const log = (line: string) => {
    if (line.trim()) logger.info(line);
  };
  let cache: CacheUse = { steps: 0, cached: 0 };

  if (plan.mode === 'per-platform') {
    logger.info(
      `The builder cannot build several platforms at once (docker driver without the containerd image store): building ${request.platforms.map(formatPlatform).join(', ')} one by one, then joining them into one index.`,
    );
  }
  await logger.group('Build', async () => {
    for (const step of plan.build) {
      const command = buildCommand(request, step, capabilities);
      for (const warning of command.warnings) if (!warnings.includes(warning)) warnings.push(warning);
      logger.info(`${docker} ${command.args.join(' ')}`);
      const result = await runChecked(context.runner, docker, command.args, { env: { ...context.env, ...command.env }, onLine: log });
      const use = cacheUse(result.stderr);
      cache = { steps: cache.steps + use.steps, cached: cache.cached + use.cached };
    }
  });
  const buildMs = Date.now() - started;
  logger.info(`Built in ${(buildMs / 1000).toFixed(1)} s; ${cache.cached} of ${cache.steps} steps from the cache.`);
  const done = (fields: Pick<BuildResult, 'digest' | 'metadataFile' | 'platformImages'>): BuildResult => ({
    mode: plan.mode,
    ...fields,
    cache,
    buildMs,
    durationMs: Date.now() - started,
    warnings,
  });

  if (!request.push) return done({ metadataFile: plan.build[0].metadataFile, platformImages: [] });

  // Every platform built; only now does anything reach the registry (a builder that pushes itself did so at its end).
  return logger.group('Push', async () => {
    const pushed = new Map<string, string>();
    for (const reference of plan.dockerPush) {
      logger.info(`${docker} push ${reference}`);
      const result = await runChecked(context.runner, docker, ['push', reference], { env: context.env, onLine: log, timeoutMs: 3_600_000 });
      const digest = pushedDigest(result.stdout);
      if (!digest) throw new Error(`docker push ${reference} did not say which digest it pushed.`);
      pushed.set(reference, digest);
    }

    if (plan.mode === 'single') {
      const metadataFile = plan.build[0].metadataFile;
      const built = builtImageDigest(readMetadata(metadataFile));
      for (const [reference, digest] of pushed) {
        // The daemon may re-encode what it stores (the classic store does); the registry's digest is the one that counts.
        if (digest !== built) logger.info(`${reference}: the registry holds ${digest} (the build reported ${built})`);
      }
      const digest = pushed.get(plan.dockerPush[0]) ?? built;
      for (const tag of plan.build[0].tags) logger.info(`pushed ${tag}@${pushed.get(tag) ?? digest}`);
      const differing = [...pushed.values()].filter((d) => d !== digest);
      if (differing.length)
        throw new Error(
          `the tags of one build were pushed as different digests (${[digest, ...differing].join(', ')}); the image store changed during the push.`,
        );
      if (pushed.size && digest !== built)
        writeFileSync(metadataFile, JSON.stringify({ ...readMetadata(metadataFile), 'containerimage.digest': digest }, null, 2) + '\n');
      return done({ digest, metadataFile, platformImages: [] });
    }

    const platformImages = request.platforms.map((platform, i) => {
      const reference = plan.dockerPush[i];
      return { platform, reference, digest: pushed.get(reference) as string };
    });
    for (const p of platformImages) logger.info(`pushed ${p.reference}@${p.digest}`);
    const sources = platformImages.map((p) => `${imageName(request)}@${p.digest}`);
    const args = imagetoolsCreateArgs({ builder: request.builder, tags: plan.indexTags, sources });
    logger.info(`${docker} ${args.join(' ')}`);
    const created = await runChecked(context.runner, docker, args, { env: context.env, onLine: log, timeoutMs: 600_000 });
    const digest = pushedIndexDigest(created.stdout + created.stderr);
    if (!digest) throw new Error('docker buildx imagetools create did not say which digest it pushed.');
    const metadataFile = path.join(context.workDir, 'metadata.json');
    const combined = {
      'containerimage.digest': digest,
      'image.name': plan.indexTags.join(','),
      platforms: platformImages.map((p) => ({ platform: formatPlatform(p.platform), digest: p.digest, reference: p.reference })),
    };
    writeFileSync(metadataFile, JSON.stringify(combined, null, 2) + '\n');
    return done({ digest, metadataFile, platformImages });
  });
}
