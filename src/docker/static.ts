// Docker's static binaries and the buildx and compose release binaries, downloaded once per agent into the tool cache
// (azure-pipelines-tool-lib) and verified before anything is extracted or installed.
//
// Where the expected checksums come from (the design a demanding user can rely on):
//   1. the staticChecksums input: lines in sha256sum format, `<sha256>  <name>`, where <name> is the asset's path
//      under its base URL (`x86_64/docker-28.3.3.tgz`) or its file name (`buildx-v0.21.2.linux-amd64`).
//      A line here always wins: it is the value the pipeline's owner reviewed.
//   2. for buildx and compose: the checksum their release publishes, fetched from the same release (buildx's
//      checksums.txt, compose's docker-compose-linux-<arch>.sha256). It catches corrupt or swapped downloads from a mirror, but comes from the same
//      server as the binary: pin the line in staticChecksums to also cover a compromised server.
//   Docker publishes no checksum file for its static archives, so without a staticChecksums line for the
//   archive the task refuses to install it rather than run an unverified daemon.
// A mismatch is always refused: the download is deleted and nothing is installed.
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log';
import { type ChecksumEntry, downloadVerified, findChecksum, parseChecksums, type ToolCache } from '../tools/cache';

export const DEFAULT_STATIC_DOCKER_VERSION = '28.3.3';
export const DEFAULT_BUILDX_VERSION = '0.21.2';
export const DEFAULT_DOCKER_STATIC_BASE_URL = 'https://download.docker.com/linux/static/stable';
export const DEFAULT_BUILDX_BASE_URL = 'https://github.com/docker/buildx/releases/download';

export const DEFAULT_COMPOSE_VERSION = '2.39.2';
export const DEFAULT_COMPOSE_BASE_URL = 'https://github.com/docker/compose/releases/download';

export const DOCKER_STATIC_TOOL = 'docker-static';
export const BUILDX_TOOL = 'docker-buildx';
export const COMPOSE_TOOL = 'docker-compose';

export interface StaticSources {
  dockerBaseUrl: string;
  buildxBaseUrl: string;
  composeBaseUrl: string;
  /** The staticChecksums input, one line each. */
  checksumLines: string[];
  /** Node's process.arch of the agent. */
  arch: string;
}

const DOCKER_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armhf', ppc64: 'ppc64le', s390x: 's390x' };
const BUILDX_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm-v7',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

// Compose names its release binaries after uname -m: docker-compose-linux-x86_64, -aarch64, -armv7, ...
const COMPOSE_ARCH: Record<string, string> = {
  x64: 'x86_64',
  arm64: 'aarch64',
  arm: 'armv7',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

export function composeArch(nodeArch: string): string {
  const arch = COMPOSE_ARCH[nodeArch];
  if (!arch) throw new Error(`compose publishes no release binary for the ${nodeArch} architecture.`);
  return arch;
}

export function dockerStaticArch(nodeArch: string): string {
  const arch = DOCKER_ARCH[nodeArch];
  if (!arch) throw new Error(`Docker publishes no static binaries for the ${nodeArch} architecture.`);
  return arch;
}

export function buildxArch(nodeArch: string): string {
  const arch = BUILDX_ARCH[nodeArch];
  if (!arch) throw new Error(`buildx publishes no release binary for the ${nodeArch} architecture.`);
  return arch;
}

const trimSlash = (url: string) => url.replace(/\/+$/, '');

export interface Asset {
  url: string;
  /** The path under the base URL, as a staticChecksums line may name it. */
  relativePath: string;
  fileName: string;
}

export function dockerStaticAsset(sources: StaticSources, version: string): Asset {
  const relativePath = `${dockerStaticArch(sources.arch)}/docker-${version}.tgz`;
  return { url: `${trimSlash(sources.dockerBaseUrl)}/${relativePath}`, relativePath, fileName: `docker-${version}.tgz` };
}

export function buildxAsset(sources: StaticSources, version: string): Asset & { checksumsUrl: string } {
  const fileName = `buildx-v${version}.linux-${buildxArch(sources.arch)}`;
  const base = `${trimSlash(sources.buildxBaseUrl)}/v${version}`;
  return { url: `${base}/${fileName}`, relativePath: `v${version}/${fileName}`, fileName, checksumsUrl: `${base}/checksums.txt` };
}

/** compose publishes each binary's checksum beside it (`<file>.sha256`, sha256sum's format). */
export function composeAsset(sources: StaticSources, version: string): Asset & { checksumsUrl: string } {
  const fileName = `docker-compose-linux-${composeArch(sources.arch)}`;
  const base = `${trimSlash(sources.composeBaseUrl)}/v${version}`;
  return { url: `${base}/${fileName}`, relativePath: `v${version}/${fileName}`, fileName, checksumsUrl: `${base}/${fileName}.sha256` };
}

/** Checks the staticChecksums lines; a line that is not `<sha256>  <name>` is an input error (returned as text). */
export function invalidChecksumLines(lines: string[]): string[] {
  return lines.filter((l) => l.trim() && !l.trim().startsWith('#') && parseChecksums([l]).length === 0);
}

/** The checksum a list gives for an asset, named by its path under the base URL or by its file name. */
function checksumOf(entries: ChecksumEntry[], asset: Pick<Asset, 'relativePath' | 'fileName'>): string | undefined {
  return findChecksum(entries, asset.relativePath, asset.fileName);
}

export class ChecksumError extends Error {
  constructor(url: string, actual: string, expected: string, from: string) {
    super(
      `Refused ${url}: its sha256 is ${actual}, but ${from} says ${expected}. The download was deleted and nothing was installed. ` +
        'If the server holds a different build you trust, put its checksum in staticChecksums; otherwise the file was corrupted or tampered with on the way.',
    );
    this.name = 'ChecksumError';
  }
}

async function download(cache: ToolCache, asset: Asset, expected: { sha256: string; from: string }, log: Logger): Promise<string> {
  log.info(`downloading ${asset.url}`);
  const verified = await downloadVerified(
    cache,
    asset.url,
    expected.sha256,
    (actual) => new ChecksumError(asset.url, actual, expected.sha256, expected.from),
  ).catch((error: unknown) => {
    if (error instanceof ChecksumError) throw error;
    throw new Error(
      `could not download ${asset.url}: ${(error as Error).message}. Check the version and the base URL inputs, and that the agent can reach the server.`,
    );
  });
  log.info(`sha256 ${verified.sha256} matches ${expected.from}`);
  return verified.file;
}

/** Docker's static archive in the tool cache; returns the directory with docker, dockerd, containerd, runc, ... */
export async function cacheStaticDocker(
  version: string,
  sources: StaticSources,
  cache: ToolCache,
  log: Logger,
): Promise<{ dir: string; fromCache: boolean }> {
  const cached = cache.find(DOCKER_STATIC_TOOL, version, sources.arch);
  if (cached) {
    log.info(`docker ${version} found in the tool cache (${cached})`);
    return { dir: cached, fromCache: true };
  }
  const asset = dockerStaticAsset(sources, version);
  const sha256 = checksumOf(parseChecksums(sources.checksumLines), asset);
  if (!sha256) {
    throw new Error(
      `Docker publishes no checksum for ${asset.url}, and staticChecksums has no line for it, so it will not be installed unverified. ` +
        `Add the line \`<sha256>  ${asset.relativePath}\` to staticChecksums (compute it with \`sha256sum\` on a copy you trust), ` +
        'or use installSource dockerRepository or distribution (signed apt repositories).',
    );
  }
  const file = await download(cache, asset, { sha256, from: 'the staticChecksums input' }, log);
  const extracted = await cache.extract(file, 'tar.gz');
  rmSync(file, { force: true });
  const dir = await cache.cacheDir(path.join(extracted, 'docker'), DOCKER_STATIC_TOOL, version, sources.arch);
  rmSync(extracted, { recursive: true, force: true });
  return { dir, fromCache: false };
}

/** A CLI plugin's release binary, and where its release publishes the binary's checksum. */
interface PluginRelease {
  /** The tool-cache name and the plugin file's name (docker-buildx, docker-compose). */
  tool: string;
  asset: Asset & { checksumsUrl: string };
}

/**
 * A CLI plugin's release binary in the tool cache, verified against the staticChecksums line for it, else against the
 * checksum its release publishes beside it; returns the path of the cached plugin file.
 */
async function cachePlugin(
  { tool, asset }: PluginRelease,
  version: string,
  sources: StaticSources,
  cache: ToolCache,
  log: Logger,
): Promise<{ file: string; fromCache: boolean }> {
  const cached = cache.find(tool, version, sources.arch);
  if (cached) {
    log.info(`${tool} ${version} found in the tool cache (${cached})`);
    return { file: path.join(cached, tool), fromCache: true };
  }
  let expected: { sha256: string; from: string } | undefined;
  const pinned = checksumOf(parseChecksums(sources.checksumLines), asset);
  if (pinned) expected = { sha256: pinned, from: 'the staticChecksums input' };
  else {
    let list: string;
    try {
      const listFile = await cache.download(asset.checksumsUrl);
      list = readFileSync(listFile, 'utf8');
      rmSync(listFile, { force: true });
    } catch (error) {
      throw new Error(
        `could not download ${asset.checksumsUrl} to verify ${tool}: ${(error as Error).message}. Put the binary's checksum in staticChecksums to install without it.`,
      );
    }
    const listed = checksumOf(parseChecksums(list), asset);
    if (!listed) throw new Error(`${asset.checksumsUrl} lists no checksum for ${asset.fileName}.`);
    expected = { sha256: listed, from: asset.checksumsUrl };
  }
  const file = await download(cache, asset, expected, log);
  const dir = await cache.cacheFile(file, tool, tool, version, sources.arch);
  rmSync(file, { force: true });
  const cachedFile = path.join(dir, tool);
  chmodSync(cachedFile, 0o755);
  return { file: cachedFile, fromCache: false };
}

/** The buildx release binary in the tool cache; returns the path of the cached docker-buildx file. */
export function cacheBuildx(version: string, sources: StaticSources, cache: ToolCache, log: Logger) {
  return cachePlugin({ tool: BUILDX_TOOL, asset: buildxAsset(sources, version) }, version, sources, cache, log);
}

/** The compose release binary in the tool cache; returns the path of the cached docker-compose file. */
export function cacheCompose(version: string, sources: StaticSources, cache: ToolCache, log: Logger) {
  return cachePlugin({ tool: COMPOSE_TOOL, asset: composeAsset(sources, version) }, version, sources, cache, log);
}
