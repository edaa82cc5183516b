// What the builder can do, asked of buildx and the daemon before a build: its platforms (the host/target check),
// its driver, and whether the daemon's image store holds multi-platform images (else: one platform per build).
import { CommandError, runChecked, type Runner } from '../process/exec';
import { formatPlatform, parsePlatform, samePlatform, type Platform } from '../platform/platform';
import type { BuilderCapabilities } from './command';

export interface BuilderNode {
  name: string;
  endpoint?: string;
  status?: string;
  platforms: Platform[];
}

export interface BuilderInfo {
  name: string;
  driver: string;
  nodes: BuilderNode[];
}

/**
 * Reads the text of `docker buildx inspect` (the JSON format came late to buildx). Builder fields come first, then
 * one block per node after "Nodes:". Platform entries may carry a '*' for the ones configured by hand.
 */
export function parseBuilderInspect(text: string): BuilderInfo {
  const info: BuilderInfo = { name: '', driver: '', nodes: [] };
  let node: BuilderNode | undefined;
  let inNodes = false;
  for (const line of text.split(/\r?\n/)) {
    const match = /^([A-Za-z][A-Za-z ]*?):\s*(.*)$/.exec(line);
    if (!match) continue;
    const [, key, value] = match;
    if (key === 'Nodes') {
      inNodes = true;
      continue;
    }
    if (!inNodes) {
      if (key === 'Name') info.name = value.trim();
      else if (key === 'Driver') info.driver = value.trim();
      continue;
    }
    if (key === 'Name') {
      node = { name: value.trim(), platforms: [] };
      info.nodes.push(node);
    } else if (node && key === 'Endpoint') node.endpoint = value.trim();
    else if (node && key === 'Status') node.status = value.trim();
    else if (node && key === 'Platforms') node.platforms = parsePlatformsLine(value);
  }
  return info;
}

function parsePlatformsLine(value: string): Platform[] {
  const platforms: Platform[] = [];
  for (const item of value.split(',')) {
    try {
      const p = parsePlatform(item.replace('*', '').trim());
      if (!platforms.some((q) => samePlatform(p, q))) platforms.push(p);
    } catch {
      // a platform this project does not know (e.g. linux/mips) cannot be asked for either
    }
  }
  return platforms;
}

/** `github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3` or `... v0.17.1 abc123` -> 0.13.1 / 0.17.1 */
export function parseBuildxVersion(text: string): string {
  const match = /\bv?(\d+\.\d+(?:\.\d+)?)/.exec(text.replace(/^\S*buildx\S*\s*/, ''));
  if (!match) throw new Error(`cannot read the buildx version from '${text.trim()}'`);
  return match[1];
}

/** `docker info --format '{{json .DriverStatus}}'`: the containerd image store reports driver-type io.containerd.snapshotter.v1. */
export function usesContainerdImageStore(driverStatusJson: string): boolean {
  try {
    const status = JSON.parse(driverStatusJson) as [string, string][] | null;
    return (status ?? []).some(([key, value]) => key === 'driver-type' && value.startsWith('io.containerd.snapshotter'));
  } catch {
    return false;
  }
}

/** What a builder can do: the docker driver on the classic image store is the one limited case. */
export function capabilitiesOf(builder: BuilderInfo, buildxVersion: string, containerdImageStore: boolean): BuilderCapabilities {
  const full = builder.driver !== 'docker' || containerdImageStore;
  return { buildxVersion, pushFromDaemon: builder.driver === 'docker', multiPlatform: full, cacheExport: full, attestations: full };
}

/** The requested platforms no node of the builder can run. */
export function unsupportedPlatforms(requested: readonly Platform[], builder: BuilderInfo): Platform[] {
  const available = builder.nodes.flatMap((n) => n.platforms);
  return requested.filter((r) => !available.some((a) => samePlatform(a, r)));
}

export function unsupportedPlatformMessage(missing: readonly Platform[], builder: BuilderInfo): string {
  const available = [...new Set(builder.nodes.flatMap((n) => n.platforms).map(formatPlatform))];
  const names = missing.map(formatPlatform).join(', ');
  return (
    `the builder '${builder.name}' (${builder.driver} driver) cannot build ${names}: it runs ${available.join(', ') || 'no platform it reports'}. ` +
    `Fix: run EnsureDocker first with emulatePlatforms: ${names} (QEMU emulation), or add a native ${names} node to the builder ` +
    `(docker buildx create --append --platform ${missing.map(formatPlatform).join(',')} <endpoint>).`
  );
}

export interface ProbeOptions {
  runner: Runner;
  env: NodeJS.ProcessEnv;
  docker?: string;
}

export async function probeBuilder(builder: string | undefined, options: ProbeOptions): Promise<{ info: BuilderInfo; capabilities: BuilderCapabilities }> {
  const docker = options.docker ?? 'docker';
  const run = (args: string[]) => runChecked(options.runner, docker, args, { env: options.env, timeoutMs: 120_000 });
  const version = parseBuildxVersion((await run(['buildx', 'version'])).stdout);
  let inspect;
  try {
    inspect = await run(['buildx', 'inspect', '--bootstrap', ...(builder ? [builder] : [])]);
  } catch (error) {
    if (error instanceof CommandError && builder) {
      throw new Error(`the builder '${builder}' cannot be used: ${error.message}. List the builders with 'docker buildx ls'.`);
    }
    throw error;
  }
  const info = parseBuilderInspect(inspect.stdout);
  let containerdStore = false;
  if (info.driver === 'docker') {
    const status = await options.runner(docker, ['info', '--format', '{{json .DriverStatus}}'], { env: options.env, timeoutMs: 60_000 });
    containerdStore = status.exitCode === 0 && usesContainerdImageStore(status.stdout.trim());
  }
  return { info, capabilities: capabilitiesOf(info, version, containerdStore) };
}
