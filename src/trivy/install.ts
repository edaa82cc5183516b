// Installs a pinned trivy release into the agent's tool cache: the archive for this OS and architecture and the
// release's checksums file are downloaded from the download base (GitHub releases, a mirror, or the lab's
// release server), the archive's sha256 must match its line in trivy_<ver>_checksums.txt, and only then is it
// unpacked and cached. A second run finds it in the cache and downloads nothing.
import { chmodSync, existsSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log';
import { downloadVerified, findChecksum, parseChecksums, type ToolCache } from '../tools/cache';

export const DEFAULT_TRIVY_VERSION = '0.74.0';
export const DEFAULT_DOWNLOAD_BASE = 'https://github.com/aquasecurity/trivy/releases/download';
export const TOOL_NAME = 'trivy';

export class ChecksumMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChecksumMismatchError';
  }
}

export interface TrivyAsset {
  archive: string;
  kind: 'tar.gz' | 'zip';
  executable: string;
}

/** Release asset names as trivy's goreleaser config writes them: trivy_0.74.0_Linux-64bit.tar.gz, ... */
export function trivyAsset(version: string, platform: NodeJS.Platform = process.platform, arch: string = process.arch): TrivyAsset {
  const os = { linux: 'Linux', darwin: 'macOS', win32: 'windows', freebsd: 'FreeBSD' }[platform as string];
  const cpu = { x64: '64bit', arm64: 'ARM64', arm: 'ARM', ia32: '32bit', ppc64: 'PPC64LE', s390x: 's390x' }[arch];
  if (!os || !cpu) {
    throw new Error(`trivy publishes no release for ${platform}/${arch}. Install trivy on the agent and set 'trivyPath'.`);
  }
  const kind = platform === 'win32' ? 'zip' : 'tar.gz';
  return { archive: `trivy_${version}_${os}-${cpu}.${kind}`, kind, executable: platform === 'win32' ? 'trivy.exe' : 'trivy' };
}

export function checksumsFileName(version: string): string {
  return `trivy_${version}_checksums.txt`;
}

/** A version as trivy tags its releases, without the leading v: 0.74.0 */
export function normalizeTrivyVersion(text: string): string {
  const version = text.trim().replace(/^v/i, '');
  if (!/^\d+\.\d+\.\d+$/.test(version)) {
    throw new Error(
      `'${text}' is not a trivy release version. Give an exact version such as ${DEFAULT_TRIVY_VERSION} (no ranges, no 'latest': a release gate must be reproducible).`,
    );
  }
  return version;
}

export interface InstallOptions {
  version: string;
  downloadBaseUrl: string;
  cache: Pick<ToolCache, 'find' | 'download' | 'extract' | 'cacheDir'>;
  logger: Logger;
  platform?: NodeJS.Platform;
  arch?: string;
}

export interface InstalledTrivy {
  executable: string;
  directory: string;
  version: string;
  fromCache: boolean;
}

export async function installTrivy(options: InstallOptions): Promise<InstalledTrivy> {
  const version = normalizeTrivyVersion(options.version);
  const arch = options.arch ?? process.arch;
  const asset = trivyAsset(version, options.platform, arch);
  const cached = options.cache.find(TOOL_NAME, version, arch);
  if (cached && existsSync(path.join(cached, asset.executable))) {
    options.logger.info(`trivy ${version} found in the tool cache: ${cached}`);
    return { executable: path.join(cached, asset.executable), directory: cached, version, fromCache: true };
  }

  const base = options.downloadBaseUrl.replace(/\/+$/, '');
  const archiveUrl = `${base}/v${version}/${asset.archive}`;
  const checksumsUrl = `${base}/v${version}/${checksumsFileName(version)}`;
  options.logger.info(`Downloading trivy ${version}: ${archiveUrl}`);

  const checksumsFile = await options.cache.download(checksumsUrl);
  const expected = findChecksum(parseChecksums(readFileSync(checksumsFile, 'utf8')), asset.archive);
  rmSync(checksumsFile, { force: true });
  if (!expected)
    throw new ChecksumMismatchError(
      `${checksumsFileName(version)} at ${checksumsUrl} has no line for ${asset.archive}; refusing to install an unverified trivy.`,
    );

  const { file: archive, sha256 } = await downloadVerified(
    options.cache,
    archiveUrl,
    expected,
    (actual) =>
      new ChecksumMismatchError(
        `${asset.archive} from ${archiveUrl} has sha256 ${actual}, but ${checksumsFileName(version)} says ${expected}. The download was refused and nothing was cached; check the download base (a mirror or proxy may serve altered files).`,
      ),
  );
  options.logger.info(`sha256 ${sha256} matches ${checksumsFileName(version)}.`);

  const extracted = await options.cache.extract(archive, asset.kind);
  rmSync(archive, { force: true });
  if (!existsSync(path.join(extracted, asset.executable))) {
    throw new Error(`The verified archive ${asset.archive} contains no ${asset.executable}.`);
  }
  if (asset.kind === 'tar.gz') chmodSync(path.join(extracted, asset.executable), 0o755);
  const directory = await options.cache.cacheDir(extracted, TOOL_NAME, version, arch);
  rmSync(extracted, { recursive: true, force: true });
  options.logger.info(`trivy ${version} cached in ${directory}`);
  return { executable: path.join(directory, asset.executable), directory, version, fromCache: false };
}
