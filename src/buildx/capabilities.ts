// What the builder can do, asked of buildx and the daemon before a build: its platforms (the host/target check, with
// builder.ts's reading of `docker buildx inspect`), its driver, and whether the daemon's image store holds
// multi-platform images (else: one platform per build).
import type { TaskContext } from '../context';
import { coreVersion, parseBuildxVersion, versionAtLeast } from '../docker/version';
import { formatPlatform, type Platform } from '../platform/platform';
import { CommandError, runChecked } from '../process/exec';
import { builderPlatforms, inspectBuilder, offers, type BuilderInfo } from './builder';
import type { BuilderCapabilities } from './command';

export type { BuilderInfo } from './builder';

/** buildx 0.10 added attestations: --attest, and --provenance/--sbom to turn BuildKit's default ones off. */
export const ATTESTATIONS_SINCE = '0.10';

/** The gate on the buildx version for attestations: can this buildx take the attestation flags? */
export function hasAttestationFlags(buildxVersion: string): boolean {
  return versionAtLeast(buildxVersion, ATTESTATIONS_SINCE);
}

/** buildx 0.12 added `--annotation` to `buildx build` (and to `imagetools create`). */
export const ANNOTATIONS_SINCE = '0.12';

/** The gate on the buildx version for annotations: can this buildx take `--annotation`? */
export function hasAnnotationFlag(buildxVersion: string): boolean {
  return versionAtLeast(buildxVersion, ANNOTATIONS_SINCE);
}

/** The x.y.z of `docker buildx version` (`0.13.1+ds1` -> `0.13.1`); throws when the output names none. */
export function readBuildxVersion(text: string): string {
  const version = coreVersion(parseBuildxVersion(text) ?? '');
  if (!version) throw new Error(`cannot read the buildx version from '${text.trim()}'`);
  return version;
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
  return {
    buildxVersion,
    pushFromDaemon: builder.driver === 'docker',
    multiPlatform: full,
    cacheExport: full,
    attestations: full,
    annotations: full,
  };
}

/** The requested platforms no node of the builder can run. */
export function unsupportedPlatforms(requested: readonly Platform[], builder: BuilderInfo): Platform[] {
  const available = builderPlatforms(builder);
  return requested.filter((r) => !offers(available, r));
}

/** The requested platforms of an operating system no node of the builder runs (windows/amd64 on a Linux builder). */
export function otherOsPlatforms(requested: readonly Platform[], builder: BuilderInfo): Platform[] {
  const systems = new Set(builderPlatforms(builder).map((p) => p.os));
  return systems.size === 0 ? [] : requested.filter((r) => !systems.has(r.os));
}

/** No emulation helps here: QEMU runs programs of another architecture, never of another operating system. */
export function otherOsPlatformMessage(refused: readonly Platform[], builder: BuilderInfo): string {
  const systems = [...new Set(builderPlatforms(builder).map((p) => p.os))].join(', ');
  const names = refused.map(formatPlatform).join(', ');
  const os = [...new Set(refused.map((p) => p.os))].join(', ');
  return (
    `the builder '${builder.name}' (${builder.driver ?? 'unknown'} driver) builds ${systems} images only, and cannot build ${names}: ` +
    `an image for ${os} built here would hold ${systems} programs under a ${os} label. Nothing was built. ` +
    `Fix: remove ${names} from platforms, or build ${os} images on a builder of that system (the builder input).`
  );
}

export function unsupportedPlatformMessage(missing: readonly Platform[], builder: BuilderInfo): string {
  const available = builderPlatforms(builder).map(formatPlatform);
  const names = missing.map(formatPlatform).join(', ');
  return (
    `the builder '${builder.name}' (${builder.driver ?? 'unknown'} driver) cannot build ${names}: it runs ${available.join(', ') || 'no platform it reports'}. ` +
    `Fix: run EnsureDocker first with emulatePlatforms: ${names} (QEMU emulation), or add a native ${names} node to the builder ` +
    `(docker buildx create --append --platform ${missing.map(formatPlatform).join(',')} <endpoint>).`
  );
}

export type ProbeContext = Pick<TaskContext, 'runner' | 'env'> & {
  docker?: string;
};

export async function probeBuilder(
  builder: string | undefined,
  context: ProbeContext,
): Promise<{ info: BuilderInfo; capabilities: BuilderCapabilities }> {
  const docker = context.docker ?? 'docker';
  const run = (args: string[]) => runChecked(context.runner, docker, args, { env: context.env, timeoutMs: 120_000 });
  const version = readBuildxVersion((await run(['buildx', 'version'])).stdout);
  let info: BuilderInfo;
  try {
    info = await inspectBuilder(context.runner, { builder, bootstrap: true, env: context.env });
  } catch (error) {
    if (error instanceof CommandError && builder) {
      throw new Error(`the builder '${builder}' cannot be used: ${error.message}. List the builders with 'docker buildx ls'.`);
    }
    throw error;
  }
  let containerdStore = false;
  if (info.driver === 'docker') {
    const status = await context.runner(docker, ['info', '--format', '{{json .DriverStatus}}'], { env: context.env, timeoutMs: 60_000 });
    containerdStore = status.exitCode === 0 && usesContainerdImageStore(status.stdout.trim());
  }
  return { info, capabilities: capabilitiesOf(info, version, containerdStore) };
}
