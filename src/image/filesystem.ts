// An image's root filesystem as its layers leave it: entries applied in layer order, whiteouts (.wh.<name>) and opaque
// directories (.wh..wh..opq) removing what lower layers put there (image-spec layer.md). Only metadata is kept, plus
// the first bytes of executable files, which is all that deciding "will this program start here" needs.
import { readTar, type TarEntry } from './tar';

/** Enough for an ELF header, its program headers and loader path, or a `#!` line (Linux reads 256 bytes of it). */
export const HEAD_BYTES = 1024;
/** Enough for a whole ELF header (e_ident, type, machine, and the 64-bit fields after them): kept for files below `headsUnder`. */
export const ELF_HEADER_BYTES = 64;

export interface ImageFilesystemOptions {
  /** Absolute directories whose regular files keep their first ELF_HEADER_BYTES, executable or not (native.ts). */
  headsUnder?: readonly string[];
}

export type FsNode =
  | { kind: 'dir'; layer: number; mode: number; children: Map<string, FsNode> }
  | { kind: 'file'; layer: number; mode: number; size: number; head?: Buffer }
  | { kind: 'symlink'; layer: number; mode: number; target: string }
  | { kind: 'other'; layer: number; mode: number };

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

export class ImageFilesystem {
  readonly root: Extract<FsNode, { kind: 'dir' }> = { kind: 'dir', layer: -1, mode: 0o755, children: new Map() };
  private layer = -1;
  private readonly headsUnder: string[];

  constructor(options: ImageFilesystemOptions = {}) {
    this.headsUnder = (options.headsUnder ?? []).map((d) => d.replace(/\/+$/, ''));
  }

  /** Starts the next layer; entries added afterwards shadow those of earlier layers. */
  beginLayer(): number {
    return ++this.layer;
  }

  /** Reads one uncompressed layer tar into the filesystem. */
  async applyLayerTar(tar: AsyncIterable<Buffer>): Promise<void> {
    this.beginLayer();
    await readTar(tar, {
      entry: (entry) => this.add(entry),
      head: (entry, head) => this.setHead(entry.path, head),
    });
  }

  /** Applies one tar entry of the current layer; returns how many leading content bytes it wants to keep. */
  add(entry: TarEntry): number {
    if (this.layer < 0) throw new Error('BUG: add() before beginLayer()');
    const parts = entry.path.split('/').filter(Boolean);
    if (parts.length === 0) return 0; // the root itself
    const name = parts.pop() as string;
    const parent = this.directoryFor(parts);
    if (!parent) return 0; // a parent is a file or link in the layer's view; such an entry cannot be applied

    if (name === OPAQUE) {
      this.removeLower(parent);
      return 0;
    }
    if (name.startsWith(WHITEOUT)) {
      const hidden = name.slice(WHITEOUT.length);
      const existing = parent.children.get(hidden);
      if (existing && existing.layer < this.layer) parent.children.delete(hidden);
      return 0;
    }

    const existing = parent.children.get(name);
    switch (entry.type) {
      case 'directory':
        // A directory over a directory merges; over anything else it replaces.
        if (existing?.kind === 'dir') {
          existing.layer = this.layer;
          existing.mode = entry.mode;
        } else parent.children.set(name, { kind: 'dir', layer: this.layer, mode: entry.mode, children: new Map() });
        return 0;
      case 'symlink':
        parent.children.set(name, { kind: 'symlink', layer: this.layer, mode: entry.mode, target: entry.linkTarget ?? '' });
        return 0;
      case 'hardlink': {
        const target = this.node('/' + (entry.linkTarget ?? ''));
        if (target && target.kind !== 'dir') parent.children.set(name, { ...target, layer: this.layer });
        return 0;
      }
      case 'file':
        parent.children.set(name, { kind: 'file', layer: this.layer, mode: entry.mode, size: entry.size });
        if (entry.mode & 0o111) return HEAD_BYTES;
        return this.headsUnder.some((d) => ('/' + entry.path).startsWith(d + '/')) ? ELF_HEADER_BYTES : 0;
      default:
        parent.children.set(name, { kind: 'other', layer: this.layer, mode: entry.mode });
        return 0;
    }
  }

  setHead(archivePath: string, head: Buffer): void {
    const node = this.node('/' + archivePath);
    if (node?.kind === 'file') node.head = Buffer.from(head);
  }

  /** The node at an absolute path taken literally (no symlink followed); see resolvePath for the kernel's view. */
  node(absolutePath: string): FsNode | undefined {
    let current: FsNode = this.root;
    for (const part of absolutePath.split('/').filter(Boolean)) {
      if (current.kind !== 'dir') return undefined;
      const next = current.children.get(part);
      if (!next) return undefined;
      current = next;
    }
    return current;
  }

  /**
   * The directory an entry goes into, creating missing ones. Every directory on the way is marked as seen in this
   * layer, so an opaque marker of an ancestor keeps what this layer put below it.
   */
  private directoryFor(parts: string[]): Extract<FsNode, { kind: 'dir' }> | undefined {
    let current = this.root;
    for (const part of parts) {
      let next = current.children.get(part);
      if (!next) {
        next = { kind: 'dir', layer: this.layer, mode: 0o755, children: new Map() };
        current.children.set(part, next);
      }
      if (next.kind !== 'dir') return undefined;
      next.layer = this.layer;
      current = next;
    }
    return current;
  }

  /** Opaque directory: everything lower layers put below it goes, what this layer put there stays. */
  private removeLower(dir: Extract<FsNode, { kind: 'dir' }>): void {
    for (const [name, child] of dir.children) {
      if (child.layer < this.layer) dir.children.delete(name);
      else if (child.kind === 'dir') this.removeLower(child);
    }
  }
}

export interface Resolved {
  /** The absolute path the kernel ends up opening, every symlink followed. */
  path: string;
  node: FsNode;
  /** Each symlink followed on the way, as 'link -> target'. */
  links: string[];
}

export interface NotFound {
  missing: string;
  links: string[];
  reason: 'missing' | 'not-a-directory' | 'loop';
}

/** Linux gives up after this many symlinks in one lookup (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

/**
 * Resolves a path inside the image the way the kernel would inside the container: absolute symlink targets start
 * at the image root, relative ones at the link's directory, '..' stops at the root, intermediate links are followed.
 */
export function resolvePath(fs: ImageFilesystem, path: string, cwd = '/'): Resolved | NotFound {
  const start = path.startsWith('/') ? path : `${cwd.replace(/\/?$/, '/')}${path}`;
  const pending = start.split('/').filter(Boolean);
  const at: string[] = [];
  const links: string[] = [];
  let followed = 0;
  let node: FsNode = fs.root;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      at.pop();
      node = fs.node('/' + at.join('/')) ?? fs.root;
      continue;
    }
    if (node.kind !== 'dir') return { missing: '/' + at.join('/'), links, reason: 'not-a-directory' };
    const child = node.children.get(part);
    const here = '/' + [...at, part].join('/');
    if (!child) return { missing: here, links, reason: 'missing' };
    if (child.kind === 'symlink') {
      if (++followed > MAX_SYMLINKS) return { missing: here, links, reason: 'loop' };
      links.push(`${here} -> ${child.target}`);
      const target = child.target.split('/').filter(Boolean);
      if (child.target.startsWith('/')) {
        at.length = 0;
        node = fs.root;
      }
      pending.unshift(...target);
      continue;
    }
    at.push(part);
    node = child;
  }
  return { path: '/' + at.join('/'), node, links };
}

export function isNotFound(r: Resolved | NotFound): r is NotFound {
  return 'missing' in r;
}
