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
import { runRetried } from '../process/retry-command';
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

/** What the registry holds, asked before a failed push is repeated (a lost answer must not push twice). */
export interface RegistryLookup {
  /** The digest a tag (`name:tag`) points to, or undefined. */
  tagDigest(reference: string): Promise<string | undefined>;
  /** The child digests of the index at this digest (`name@digest`), or undefined when it is not an index. */
  indexChildren(reference: string): Promise<string[] | undefined>;
}

/** env is docker's complete environment: the job's, with this job's DOCKER_CONFIG. */
export type BuildContext = Pick<TaskContext, 'runner' | 'env' | 'logger'> & {
  docker?: string;
  /** Where metadata files go. */
  workDir: string;
  /** Lets a failed push be retried only when the registry does not already hold its result. */
  registry?: RegistryLookup;
  /** Waits between retries (tests pass a fake). */
  sleep?: (ms: number) => Promise<void>;
};

/** BuildKit's plain progress names each manifest it pushed: `pushing manifest for <name:tag>@sha256:…`. */
export function pushedManifests(output: string): Map<string, string> {
  const pushed = new Map<string, string>();
  for (const m of output.matchAll(/pushing manifest for (\S+?)@(sha256:[a-f0-9]{64})/g)) pushed.set(m[1], m[2]);
  return pushed;
}

/** The one digest every reference holds in the registry, or undefined. */
async function heldByAll(
  registry: RegistryLookup | undefined,
  references: string[],
  digest: string | undefined,
): Promise<string | undefined> {
  if (!registry || !digest || references.length === 0) return undefined;
  for (const reference of references) if ((await registry.tagDigest(reference)) !== digest) return undefined;
  return digest;
}

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
      const options = { env: { ...context.env, ...command.env }, onLine: log };
      let result;
      if (!step.push && !step.exportCache) result = await runChecked(context.runner, docker, command.args, options);
      else {
        // the builder pushes (or exports its cache to the registry): a transient registry failure builds again (from
        // its cache) unless every tag already holds the manifest BuildKit said it pushed
        const retried = await runRetried(context.runner, docker, command.args, options, {
          what: `${docker} buildx build${step.push ? ' --push' : ' (cache export)'}`,
          logger,
          sleep: context.sleep,
          landed: async (failure) => {
            if (!step.push) return undefined;
            const manifests = pushedManifests(failure.stderr + failure.stdout);
            const digests = new Set(step.tags.map((tag) => manifests.get(tag)));
            return digests.size === 1 ? heldByAll(context.registry, step.tags, [...digests][0]) : undefined;
          },
        });
        result = retried.kind === 'ran' ? retried.result : retried.failure;
        if (retried.kind === 'landed')
          writeFileSync(
            step.metadataFile,
            JSON.stringify({ 'containerimage.digest': retried.value, 'image.name': step.tags.join(',') }, null, 2) + '\n',
          );
      }
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
    for (const [i, reference] of plan.dockerPush.entries()) {
      logger.info(`${docker} push ${reference}`);
      // what the build made (per platform in per-platform mode): the registry holding it under the tag means pushed
      const built = () => builtImageDigest(readMetadata(plan.build[plan.mode === 'single' ? 0 : i].metadataFile));
      const retried = await runRetried(
        context.runner,
        docker,
        ['push', reference],
        { env: context.env, onLine: log, timeoutMs: 3_600_000 },
        {
          what: `${docker} push ${reference}`,
          logger,
          sleep: context.sleep,
          landed: () => heldByAll(context.registry, [reference], built()),
        },
      );
      const digest = retried.kind === 'landed' ? retried.value : pushedDigest(retried.result.stdout);
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
    const wanted = platformImages.map((p) => p.digest).sort();
    const created = await runRetried(
      context.runner,
      docker,
      args,
      { env: context.env, onLine: log, timeoutMs: 600_000 },
      {
        what: `${docker} buildx imagetools create`,
        logger,
        sleep: context.sleep,
        // created already: every tag holds one index over exactly these platform images
        landed: async () => {
          const registry = context.registry;
          if (!registry) return undefined;
          const held = await registry.tagDigest(plan.indexTags[0]);
          if (!held || (await heldByAll(registry, plan.indexTags, held)) !== held) return undefined;
          const children = await registry.indexChildren(`${imageName(request)}@${held}`);
          return children && JSON.stringify([...children].sort()) === JSON.stringify(wanted) ? held : undefined;
        },
      },
    );
    const digest = created.kind === 'landed' ? created.value : pushedIndexDigest(created.result.stdout + created.result.stderr);
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
