// The one home of downloaded tools (docker's static binaries, buildx, trivy): the agent's tool cache through
// azure-pipelines-tool-lib (downloads honour the agent's proxy and certificate settings and are retried; the cache
// is Agent.ToolsDirectory/<tool>/<version>/<arch> with a .complete marker), checksum files and the sha256 of a
// download, the download that refuses a file whose sha256 is not the expected one, and the unpacking of a verified
// .tar.gz in-process (no tar program).
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  createReadStream,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { normalizeArchivePath, readTar, type TarEntry } from '../image/tar';

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
    extract: async (archive, kind) => {
      if (kind === 'zip') return tool.extractZip(archive);
      // beside the download, in the agent's temporary directory, as tool-lib's own extractTar would
      const dest = mkdtempSync(path.join(path.dirname(archive), 'extract-'));
      await extractTarGz(archive, dest);
      return dest;
    },
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

/**
 * Unpacks a .tar.gz into dest (an empty directory) in-process: node's gunzip and the project's tar reader, no `tar`
 * program. tool-lib's extractTar runs `tar xC <dir> -f <file>`, which only a tar that detects gzip by itself reads:
 * busybox's (Alpine, minimal roots) says "invalid tar magic", and a minimal image may have no tar at all.
 * Files keep their permission bits (never setuid, setgid or sticky); directories, hard links and symlinks are made as
 * the archive says. Like GNU tar, nothing is ever written through a link: symlinks are made last, and a member whose
 * path has `..`, or whose directory is reached through a symlink, is refused, as are devices and fifos.
 */
export async function extractTarGz(archive: string, dest: string): Promise<void> {
  const root = realpathSync(dest);
  const refuse = (entry: TarEntry, why: string) =>
    new Error(`Refused to unpack ${path.basename(archive)}: its member ${JSON.stringify(entry.path)} ${why}.`);
  /** The member's path under root; its directory is created and must be a real directory, not reached by a link. */
  const place = (entry: TarEntry, member: string = entry.path): string => {
    if (member.split('/').includes('..')) throw refuse(entry, 'has a `..` in its path');
    const target = path.join(root, member);
    const parent = path.dirname(target);
    mkdirSync(parent, { recursive: true });
    if (realpathSync(parent) !== parent) throw refuse(entry, 'lies behind a symbolic link');
    return target;
  };
  const symlinks: { entry: TarEntry; target: string }[] = [];
  const directories: { target: string; mode: number }[] = [];
  let open: { fd: number; target: string; mode: number; left: number } | undefined;
  const finish = () => {
    if (!open) return;
    closeSync(open.fd);
    chmodSync(open.target, open.mode & 0o777);
    open = undefined;
  };

  const gunzip = createGunzip();
  const reading = pipeline(createReadStream(archive), gunzip);
  // its error (a file that is not gzip) reaches readTar through gunzip; awaited below, handled from the start
  reading.catch(() => undefined);
  try {
    await readTar(gunzip, {
      entry(entry) {
        if (entry.path === '') return 0; // the archive's own root, `./`
        switch (entry.type) {
          case 'directory': {
            const target = place(entry);
            mkdirSync(target, { recursive: true, mode: 0o700 });
            directories.push({ target, mode: entry.mode });
            return 0;
          }
          case 'file': {
            const target = place(entry);
            rmSync(target, { force: true }); // a later member of the same name wins, as with tar
            open = { fd: openSync(target, 'wx', 0o600), target, mode: entry.mode, left: entry.size };
            if (entry.size === 0) finish();
            return entry.size;
          }
          case 'hardlink': {
            const target = place(entry);
            const existing = place(entry, normalizeArchivePath(entry.linkTarget ?? ''));
            rmSync(target, { force: true });
            linkSync(existing, target);
            return 0;
          }
          case 'symlink':
            symlinks.push({ entry, target: place(entry) });
            return 0;
          default:
            throw refuse(entry, 'is neither a file, a directory nor a link');
        }
      },
      body(_entry, chunk) {
        if (!open) throw new Error('BUG: file content without an open file');
        writeSync(open.fd, chunk);
        open.left -= chunk.length;
        if (open.left === 0) finish();
      },
    });
    await reading;
  } catch (error) {
    gunzip.destroy();
    throw error;
  } finally {
    if (open) closeSync(open.fd);
  }
  for (const { entry, target } of symlinks) {
    // checked again: an earlier symlink may now stand where this one's directory is
    if (realpathSync(path.dirname(target)) !== path.dirname(target)) throw refuse(entry, 'lies behind a symbolic link');
    try {
      rmSync(target, { force: true });
      symlinkSync(entry.linkTarget ?? '', target);
    } catch (error) {
      throw refuse(entry, `cannot be made a symbolic link: ${(error as Error).message}`);
    }
  }
  // innermost first; the owner keeps rwx so the tool cache can copy and later remove them
  for (const { target, mode } of directories.reverse()) chmodSync(target, (mode & 0o777) | 0o700);
}
