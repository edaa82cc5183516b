// The build context as ACR Tasks takes it: a tar.gz of the context directory that honours .dockerignore by docker's
// own rules (@balena/dockerignore is a port of moby's matcher), the way `docker build` and `az acr build` send it.
// As in docker, the Dockerfile and .dockerignore are always sent, and `<Dockerfile>.dockerignore` beside the
// Dockerfile wins over the context's .dockerignore (BuildKit's rule).
import ignore from '@balena/dockerignore';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { InputError } from '../inputs';

export interface PackedContext {
  archive: Buffer;
  /** The Dockerfile's path inside the archive (posix), as scheduleRun's dockerFilePath. */
  dockerfilePath: string;
  /** Regular files packed. */
  files: number;
  /** Entries left out by the ignore file. */
  ignored: number;
  /** The ignore file used, relative to the context, when there was one. */
  ignoreFile?: string;
}

/** The ignore patterns docker uses for this context and Dockerfile, and where they came from. */
export function ignorePatterns(contextDir: string, dockerfile: string): { patterns: string[]; file?: string } {
  const candidates = [`${dockerfile}.dockerignore`, path.join(contextDir, '.dockerignore')];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    const patterns = readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    return { patterns, file: path.relative(contextDir, file).split(path.sep).join('/') };
  }
  return { patterns: [] };
}

/** Packs the context (deterministic order, owner root) into a tar.gz; the Dockerfile must be inside the context. */
export function packContext(contextDir: string, dockerfile: string): PackedContext {
  const relativeDockerfile = path.relative(contextDir, dockerfile);
  if (relativeDockerfile.startsWith('..') || path.isAbsolute(relativeDockerfile)) {
    throw new InputError(
      'dockerfile',
      `${dockerfile} is outside the build context ${contextDir}; with engine: acrTasks the Dockerfile travels inside the context. Move it into buildContext.`,
    );
  }
  const dockerfilePath = relativeDockerfile.split(path.sep).join('/');
  const { patterns, file: ignoreFile } = ignorePatterns(contextDir, dockerfile);
  const matcher = ignore().add(patterns);
  const hasExceptions = patterns.some((p) => p.startsWith('!'));
  const alwaysSent = new Set([dockerfilePath, '.dockerignore', ...(ignoreFile ? [ignoreFile] : [])]);
  const tar = new TarWriter();
  let files = 0;
  let ignored = 0;

  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const relative = prefix ? `${prefix}/${name}` : name;
      const stat = lstatSync(full);
      const excluded = !alwaysSent.has(relative) && matcher.ignores(relative);
      if (stat.isDirectory()) {
        // An excluded directory is still walked when an exception (!pattern) may bring something inside it back.
        if (excluded && !hasExceptions) {
          ignored++;
          continue;
        }
        if (!excluded) tar.directory(relative, stat.mode, stat.mtime);
        walk(full, relative);
        continue;
      }
      if (excluded) {
        ignored++;
        continue;
      }
      if (stat.isSymbolicLink()) tar.symlink(relative, readlinkSync(full), stat.mtime);
      else if (stat.isFile()) {
        tar.file(relative, readFileSync(full), stat.mode, stat.mtime);
        files++;
      }
    }
  };
  walk(contextDir, '');
  if (!existsSync(dockerfile)) throw new InputError('dockerfile', `${dockerfile} does not exist.`);
  return { archive: gzipSync(tar.finish()), dockerfilePath, files, ignored, ignoreFile };
}

/** A minimal ustar writer (PAX headers for long names): what a build context needs, nothing more. */
export class TarWriter {
  private readonly blocks: Buffer[] = [];

  file(name: string, content: Buffer, mode: number, mtime: Date): void {
    this.entry(name, '0', content.length, mode & 0o7777, mtime);
    this.blocks.push(content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }

  directory(name: string, mode: number, mtime: Date): void {
    this.entry(`${name}/`, '5', 0, mode & 0o7777, mtime);
  }

  symlink(name: string, target: string, mtime: Date): void {
    this.entry(name, '2', 0, 0o777, mtime, target);
  }

  finish(): Buffer {
    return Buffer.concat([...this.blocks, Buffer.alloc(1024)]);
  }

  private entry(name: string, type: string, size: number, mode: number, mtime: Date, linkname = ''): void {
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(linkname) > 100) {
      const records = [['path', name], ...(linkname ? [['linkpath', linkname]] : [])].map(([key, value]) => paxRecord(key, value));
      const body = Buffer.from(records.join(''), 'utf8');
      this.blocks.push(header('PaxHeader', 'x', body.length, 0o644, mtime, ''), body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
    this.blocks.push(header(name, type, size, mode, mtime, linkname));
  }
}

function paxRecord(key: string, value: string): string {
  const text = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(text);
  while (String(length).length + Buffer.byteLength(text) !== length) length = String(length).length + Buffer.byteLength(text);
  return `${length}${text}`;
}

function header(name: string, type: string, size: number, mode: number, mtime: Date, linkname: string): Buffer {
  const block = Buffer.alloc(512);
  const put = (text: string, offset: number, length: number) => block.write(text.slice(0, length), offset, length, 'utf8');
  const octal = (value: number, offset: number, length: number) => put(value.toString(8).padStart(length - 1, '0'), offset, length - 1);
  put(truncate(name, 100), 0, 100);
  octal(mode, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(Math.floor(mtime.getTime() / 1000), 136, 12);
  block.fill(' ', 148, 156);
  put(type, 156, 1);
  put(truncate(linkname, 100), 157, 100);
  put('ustar\u000000', 257, 8);
  put('root', 265, 32);
  put('root', 297, 32);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8);
  return block;
}

function truncate(text: string, bytes: number): string {
  let out = text;
  while (Buffer.byteLength(out) > bytes) out = out.slice(0, -1);
  return out;
}
