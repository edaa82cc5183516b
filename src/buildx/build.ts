// Runs the build: one `buildx build` for every platform at once when the builder can, else one build per platform
// (all built before anything is pushed) joined by `imagetools create` into one index under the requested tags.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log';
import { formatPlatform, type Platform } from '../platform/platform';
import { runChecked, type Runner } from '../process/exec';
import { buildCommand, imageName, imagetoolsCreateArgs, platformTag, type BuilderCapabilities, type BuildRequest, type BuildStep } from './command';
import { cacheUse, digestOf, pushedIndexDigest, readMetadata, type CacheUse } from './metadata';

export interface BuildPlan {
  mode: 'single' | 'per-platform';
  /** Builds that push nothing; with mode 'single' and push, the one step also pushes. */
  build: BuildStep[];
  /** Per-platform pushes, each under its own platform tag, before the index joins them. */
  push: BuildStep[];
  /** Full references the index gets. */
  indexTags: string[];
}

export function planBuild(request: BuildRequest, capabilities: BuilderCapabilities, metadataDir: string): BuildPlan {
  const name = imageName(request);
  const tags = request.tags.map((t) => `${name}:${t}`);
  const file = (label: string) => path.join(metadataDir, `metadata-${label}.json`);
  if (capabilities.multiPlatform || request.platforms.length === 1) {
    return {
      mode: 'single',
      build: [{ platforms: request.platforms, tags, push: request.push, exportCache: request.push, metadataFile: file('build') }],
      push: [],
      indexTags: [],
    };
  }
  const slug = (p: Platform) => formatPlatform(p).replace(/\//g, '-');
  return {
    mode: 'per-platform',
    build: request.platforms.map((p) => ({ platforms: [p], tags: [], push: false, exportCache: false, metadataFile: file(`build-${slug(p)}`) })),
    push: request.push
      ? request.platforms.map((p) => ({
          platforms: [p],
          tags: [`${name}:${platformTag(request.tags[0], p)}`],
          push: true,
          exportCache: true,
          metadataFile: file(`push-${slug(p)}`),
        }))
      : [],
    indexTags: request.push ? tags : [],
  };
}

export interface BuildEnvironment {
  runner: Runner;
  /** The complete environment of docker (the job's, with this job's DOCKER_CONFIG). */
  env: NodeJS.ProcessEnv;
  docker?: string;
  logger: Logger;
  /** Where metadata files go. */
  workDir: string;
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
  durationMs: number;
  warnings: string[];
}

export async function buildImage(request: BuildRequest, capabilities: BuilderCapabilities, environment: BuildEnvironment): Promise<BuildResult> {
  const { logger } = environment;
  const docker = environment.docker ?? 'docker';
  const started = Date.now();
  const plan = planBuild(request, capabilities, environment.workDir);
  const warnings: string[] = [];
  // Cache use is counted over the builds proper; the per-platform pushes afterwards replay them from the cache.
  let cache: CacheUse = { steps: 0, cached: 0 };

  const runStep = async (step: BuildStep): Promise<string> => {
    const command = buildCommand(request, step, capabilities);
    for (const warning of command.warnings) if (!warnings.includes(warning)) warnings.push(warning);
    logger.info(`${docker} ${command.args.join(' ')}`);
    const result = await runChecked(environment.runner, docker, command.args, {
      env: { ...environment.env, ...command.env },
      onLine: (line) => {
        if (line.trim()) logger.info(line);
      },
    });
    return result.stderr;
  };

  if (plan.mode === 'per-platform') {
    logger.info(
      `The builder cannot build several platforms at once (docker driver without the containerd image store): building ${request.platforms.map(formatPlatform).join(', ')} one by one, then joining them into one index.`,
    );
  }
  await logger.group('Build', async () => {
    for (const step of plan.build) {
      const use = cacheUse(await runStep(step));
      cache = { steps: cache.steps + use.steps, cached: cache.cached + use.cached };
    }
  });

  if (plan.mode === 'single') {
    const metadata = readMetadata(plan.build[0].metadataFile);
    const digest = request.push ? digestOf(metadata) : undefined;
    if (digest) {
      await logger.group('Push', async () => {
        for (const tag of plan.build[0].tags) logger.info(`pushed ${tag}@${digest}`);
      });
    }
    return { mode: 'single', digest, metadataFile: plan.build[0].metadataFile, platformImages: [], cache, durationMs: Date.now() - started, warnings };
  }

  if (!request.push) {
    return { mode: 'per-platform', metadataFile: plan.build[0].metadataFile, platformImages: [], cache, durationMs: Date.now() - started, warnings };
  }
  // Everything built; only now does anything reach the registry.
  const platformImages: BuildResult['platformImages'] = [];
  const digest = await logger.group('Push', async () => {
    for (const [i, step] of plan.push.entries()) {
      await runStep(step);
      const stepDigest = digestOf(readMetadata(step.metadataFile));
      platformImages.push({ platform: request.platforms[i], digest: stepDigest, reference: step.tags[0] });
      logger.info(`pushed ${step.tags[0]}@${stepDigest}`);
    }
    const sources = platformImages.map((p) => `${imageName(request)}@${p.digest}`);
    const args = imagetoolsCreateArgs({ builder: request.builder, tags: plan.indexTags, sources });
    logger.info(`${docker} ${args.join(' ')}`);
    const created = await runChecked(environment.runner, docker, args, { env: environment.env, onLine: (line) => line.trim() && logger.info(line), timeoutMs: 600_000 });
    const indexDigest = pushedIndexDigest(created.stdout + created.stderr);
    if (!indexDigest) throw new Error('docker buildx imagetools create did not say which digest it pushed.');
    return indexDigest;
  });
  const metadataFile = path.join(environment.workDir, 'metadata.json');
  const combined = {
    'containerimage.digest': digest,
    'image.name': plan.indexTags.join(','),
    platforms: platformImages.map((p) => ({ platform: formatPlatform(p.platform), digest: p.digest, reference: p.reference })),
  };
  writeFileSync(metadataFile, JSON.stringify(combined, null, 2) + '\n');
  return { mode: 'per-platform', digest, metadataFile, platformImages, cache, durationMs: Date.now() - started, warnings };
}
