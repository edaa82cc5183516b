// The one home of downloaded tools (docker's static binaries, buildx, trivy): the agent's tool cache through
// azure-pipelines-tool-lib (downloads honour the agent's proxy and certificate settings and are retried; the cache
// is Agent.ToolsDirectory/<tool>/<version>/<arch> with a .complete marker), checksum files and the sha256 of a
// download, and the download that refuses a file whose sha256 is not the expected one.
import { createHash } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';

/** The parts of azure-pipelines-tool-lib the installers use; a seam so tests use a directory of their own. */
export interface ToolCache {
  /** The cached directory of this tool version, or undefined. */
  find(tool: string, version: string, arch: string): string | undefined;
  /** Downloads a URL to a new temporary file and returns its path. */
  download(url: string): Promise<string>;
  /** Unpacks an archive into a new temporary directory and returns it. */
  extract(archive: string, kind: 'tar.gz' | 'zip'): Promise<string>;
  /** Copies a directory into the cache and marks it complete; returns the cached directory. */
  cacheDir(dir: string, tool: string, version: string, arch: string): Promise<string>;
  /** Copies one file into the cache under targetName; returns the cached directory. */
  cacheFile(file: string, targetName: string, tool: string, version: string, arch: string): Promise<string>;
  prependPath(dir: string): void;
}

/** tool-lib is loaded only when something must be installed or taken from the cache. */
export async function toolLibCache(): Promise<ToolCache> {
  const tool = await import('azure-pipelines-tool-lib/tool');
  return {
    find: (name, version, arch) => tool.findLocalTool(name, version, arch) || undefined,
    download: (url) => tool.downloadToolWithRetries(url),
    extract: (archive, kind) => (kind === 'zip' ? tool.extractZip(archive) : tool.extractTar(archive)),
    cacheDir: (dir, name, version, arch) => tool.cacheDir(dir, name, version, arch),
    cacheFile: (file, target, name, version, arch) => tool.cacheFile(file, target, name, version, arch),
    prependPath: (dir) => tool.prependPath(dir),
  };
}

export interface ChecksumEntry {
  sha256: string;
  name: string;
}

/** sha256sum's format (`<hex>  name` or `<hex> *name`, as goreleaser writes too); other lines are ignored. */
export function parseChecksums(text: string | string[]): ChecksumEntry[] {
  const lines = typeof text === 'string' ? text.split(/\r?\n/) : text;
  const entries: ChecksumEntry[] = [];
  for (const line of lines) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(?:\.\/)?(\S+)\s*$/.exec(line.trim());
    if (m) entries.push({ sha256: m[1].toLowerCase(), name: m[2] });
  }
  return entries;
}

/** The checksum listed for the first of these names that has one (a path under the base URL, then a file name). */
export function findChecksum(entries: readonly ChecksumEntry[], ...names: string[]): string | undefined {
  for (const name of names) {
    const found = entries.find((e) => e.name === name);
    if (found) return found.sha256;
  }
  return undefined;
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * Downloads a file and keeps it only when its sha256 is the expected one; a mismatch deletes it and throws the
 * error the caller words (each tool says where its checksum came from and what to do).
 */
export async function downloadVerified(
  cache: Pick<ToolCache, 'download'>,
  url: string,
  expected: string,
  refuse: (actual: string) => Error,
): Promise<{ file: string; sha256: string }> {
  const file = await cache.download(url);
  const actual = await sha256File(file);
  if (actual !== expected) {
    rmSync(file, { force: true });
    throw refuse(actual);
  }
  return { file, sha256: actual };
}
