// What engine: acrTasks can carry from BuildForPlatform's inputs, and what it refuses. A quick run
// (DockerBuildRequest) takes a Dockerfile, build arguments, a target, image names and one platform; it has no build
// secrets, no labels of the task's own, no cache import/export and no builder of the agent's. Each refusal names the
// input and what to do: nothing the user asked for is dropped silently.
import { readFileSync } from 'node:fs';
import type { BuildRequest } from '../buildx/command';
import { instructions } from '../buildx/dockerfile';
import type { BuilderChoice } from '../buildx/options';
import { InputError } from '../inputs';
import { formatPlatform, type Platform } from '../platform/platform';
import type { DockerBuildRequest } from './arm';

export const ENGINES = ['buildx', 'acrTasks'] as const;
export type Engine = (typeof ENGINES)[number];

export interface AcrTasksOptions {
  /** How long a run may wait for an agent (Queued) before it is cancelled. */
  queueTimeoutSeconds: number;
  /** DockerBuildRequest.timeout: the run's own limit in ACR (300 to 28800 s). */
  runTimeoutSeconds: number;
}

export const QUEUE_TIMEOUT_INPUT = 'acrTasksQueueTimeout';
export const RUN_TIMEOUT_INPUT = 'acrTasksTimeout';

export function parseQueueTimeout(value: string | undefined): number {
  const seconds = Number(value ?? '600');
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400)
    throw new Error(`'${value}' is not a number of seconds from 1 to 86400.`);
  return seconds;
}

export function parseRunTimeout(value: string | undefined): number {
  const seconds = Number(value ?? '3600');
  if (!Number.isInteger(seconds) || seconds < 300 || seconds > 28_800)
    throw new Error(`'${value}' is not a number of seconds from 300 to 28800 (ACR Tasks' limits for a run).`);
  return seconds;
}

/** What the inputs asked for beyond the BuildRequest, to refuse what ACR Tasks cannot carry. */
export interface RequestedExtras {
  userLabels: number;
  cacheGiven: 'auto' | 'registry' | 'inline' | 'none';
  cacheRefGiven: boolean;
  builder: BuilderChoice;
  extraArguments: string[];
}

const SUPPORTED: ReadonlyArray<{ os: string; architecture: string; variants: (string | undefined)[] }> = [
  { os: 'linux', architecture: 'amd64', variants: [undefined] },
  { os: 'linux', architecture: 'arm64', variants: [undefined, 'v8'] },
  { os: 'linux', architecture: 'arm', variants: ['v6', 'v7', 'v8'] },
  { os: 'linux', architecture: '386', variants: [undefined] },
  { os: 'windows', architecture: 'amd64', variants: [undefined] },
];

/** ACR's Platform property for a requested platform; a platform ACR Tasks does not build is refused. */
export function acrPlatform(platform: Platform): DockerBuildRequest['platform'] {
  const known = SUPPORTED.find(
    (s) => s.os === platform.os && s.architecture === platform.architecture && s.variants.includes(platform.variant),
  );
  if (!known) {
    throw new InputError(
      'platforms',
      `ACR Tasks cannot build ${formatPlatform(platform)}; it builds ${SUPPORTED.map((s) => `${s.os}/${s.architecture}`).join(', ')} (arm with v6, v7 or v8). Use engine: buildx for other platforms.`,
    );
  }
  return {
    os: platform.os === 'windows' ? 'Windows' : 'Linux',
    architecture: platform.architecture === '386' ? 'x86' : platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
  };
}

/** Throws an InputError naming the first input engine: acrTasks cannot honour. */
export function refuseUnsupported(request: BuildRequest, extras: RequestedExtras): void {
  const refuse = (input: string, what: string, fix: string) => {
    throw new InputError(input, `engine: acrTasks ${what}. ${fix}`);
  };
  if (request.secrets.length > 0)
    refuse('secrets', 'cannot pass build secrets to a run (a quick run has no secret mounts)', 'Remove secrets, or use engine: buildx.');
  const secretMount = secretMountLine(request.dockerfile);
  if (secretMount)
    refuse(
      'dockerfile',
      `cannot serve \`${secretMount}\`: ACR Tasks has no secret or ssh mounts for a Dockerfile build`,
      'Drop the mount from the Dockerfile, or use engine: buildx with the secrets input.',
    );
  if (extras.userLabels > 0)
    refuse('labels', 'cannot add labels to what a run builds', 'Put them in the Dockerfile as LABEL instructions, or use engine: buildx.');
  if (extras.cacheGiven === 'registry' || extras.cacheGiven === 'inline')
    refuse(
      'cache',
      `cannot import or export a ${extras.cacheGiven} cache (each run builds on a fresh agent)`,
      'Set cache: auto or none, or use engine: buildx.',
    );
  if (extras.cacheRefGiven) refuse('cacheRef', 'has no cache to store', 'Remove cacheRef, or use engine: buildx.');
  if (extras.builder.kind !== 'default')
    refuse('builder', "builds in Azure, not on the agent's builder", 'Remove builder, or use engine: buildx.');
  if (extras.extraArguments.length > 0)
    refuse('arguments', 'takes no buildx command-line arguments', 'Remove arguments, or use engine: buildx.');
  if (request.attestations !== 'none')
    refuse('attestations', 'cannot attach provenance or SBOM attestations', 'Set attestations: none, or use engine: buildx.');
  for (const platform of request.platforms) acrPlatform(platform);
}

/** The first RUN instruction with a secret or ssh mount, as written, when the Dockerfile has one. */
export function secretMountLine(dockerfile: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(dockerfile, 'utf8');
  } catch {
    return undefined;
  }
  return instructions(text).find((line) => /^RUN\s/i.test(line) && /--mount=\S*type=(secret|ssh)\b/i.test(line));
}
