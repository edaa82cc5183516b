// A small streaming tar reader for image layers and the tool cache's archives: ustar and GNU headers, GNU long names
// (L/K), PAX extended headers (path, linkpath, size) and base-256 sizes. It keeps only what the caller asks for of each
// file: the first bytes in one buffer (head), or the content in chunks as it streams by (body).

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** The path as the archive holds it, without a leading './' or '/'. */
  path: string;
  type: TarEntryType;
  mode: number;
  size: number;
  /** Target of a symlink (as written) or of a hard link (an archive path). */
  linkTarget?: string;
}

/**
 * Called for every entry; returns how many leading bytes of a regular file's content it wants (0 for none).
 * The bytes arrive before the next entry is visited: through `body` in chunks as they stream by when the visitor has
 * it (nothing is held for the whole file), else through `head` in one buffer.
 */
export interface TarVisitor {
  entry(entry: TarEntry): number;
  head?(entry: TarEntry, head: Buffer): void;
  body?(entry: TarEntry, chunk: Buffer): void;
}

const BLOCK = 512;

/** Buffers chunks from an async source and hands out exact byte counts. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(wanted: number): Promise<boolean> {
    while (this.buffered < wanted && !this.done) {
      const next = await this.source.next();
      if (next.done) this.done = true;
      else if (next.value.length > 0) {
        const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
        this.chunks.push(chunk);
        this.buffered += chunk.length;
      }
    }
    return this.buffered >= wanted;
  }

  /** Exactly n bytes, or undefined at the end of the stream (a partial read is an error). */
  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) {
      if (this.buffered === 0) return undefined;
      throw new Error(`tar stream ends in the middle of a block (${this.buffered} of ${n} bytes)`);
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  /** Reads the rest of the source, so that whatever checks it at its end (a digest) runs. */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (!this.done) if ((await this.source.next()).done) this.done = true;
  }

  /** Hands the next n bytes to `onChunk` in the pieces they arrived in (a partial read is an error). */
  async forEachChunk(n: number, onChunk: (chunk: Buffer) => void): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.fill(1))) throw new Error(`tar stream ends inside an entry (${left} bytes missing)`);
      const first = this.chunks[0];
      const taken = Math.min(first.length, left);
      onChunk(first.subarray(0, taken));
      if (taken === first.length) this.chunks.shift();
      else this.chunks[0] = first.subarray(taken);
      this.buffered -= taken;
      left -= taken;
    }
  }

  skip(n: number): Promise<void> {
    return this.forEachChunk(n, () => {});
  }
}

function cString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

function octalOrBinary(block: Buffer, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length);
  if (field[0] & 0x80) {
    // GNU base-256: big-endian two's complement with the top bit set; sizes this large are positive.
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i];
    return value + (field[0] & 0x7f) * 256 ** (field.length - 1);
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`tar header has a malformed number '${text}'`);
  return parseInt(text, 8);
}

function checksumMatches(block: Buffer): boolean {
  const stored = octalOrBinary(block, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum === stored;
}

/** PAX records: "<length> <key>=<value>\n" repeated. */
export function parsePax(data: Buffer): Record<string, string> {
  const records: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const length = parseInt(data.subarray(at, space).toString('latin1'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) records[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return records;
}

/** 'a/./b/', '/a//b', './a' -> 'a/b'; the archive root is ''. */
export function normalizeArchivePath(p: string): string {
  return p
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

function entryType(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '':
    case '7': // contiguous file
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    default:
      return 'other';
  }
}

/** Reads a whole (uncompressed) tar stream, visiting every entry in order. */
export async function readTar(source: AsyncIterable<Buffer>, visitor: TarVisitor): Promise<void> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  for (;;) {
    const block = await reader.read(BLOCK);
    if (!block) return; // a stream cut right after an entry: tolerate it like GNU tar does
    if (block.every((b) => b === 0)) return reader.drain(); // end-of-archive marker; the padding after it is read and dropped
    if (!checksumMatches(block)) throw new Error('tar header checksum mismatch: the layer is not a tar archive or is corrupt');
    const flag = String.fromCharCode(block[156]).replace('\0', '');
    let size = octalOrBinary(block, 124, 12);
    const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

    if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
      const data = (await reader.read(padded(size))) ?? Buffer.alloc(0);
      const content = data.subarray(0, size);
      if (flag === 'L') longName = cString(content, 0, content.length);
      else if (flag === 'K') longLink = cString(content, 0, content.length);
      else if (flag === 'x') pax = { ...pax, ...parsePax(content) };
      continue; // a global header ('g') only carries defaults we do not need
    }

    const magic = block.subarray(257, 263).toString('latin1');
    const prefix = magic.startsWith('ustar') && magic !== 'ustar ' ? cString(block, 345, 155) : '';
    let name = cString(block, 0, 100);
    if (prefix) name = `${prefix}/${name}`;
    if (longName !== undefined) name = longName;
    if (pax.path !== undefined) name = pax.path;
    let linkTarget: string | undefined = cString(block, 157, 100);
    if (longLink !== undefined) linkTarget = longLink;
    if (pax.linkpath !== undefined) linkTarget = pax.linkpath;
    if (pax.size !== undefined) size = Number(pax.size);
    longName = longLink = undefined;
    pax = {};

    let type = entryType(flag);
    // Old archives mark directories only by a trailing slash.
    if (type === 'file' && name.endsWith('/')) type = 'directory';
    const entry: TarEntry = {
      path: normalizeArchivePath(name),
      type,
      mode: octalOrBinary(block, 100, 8) & 0o7777,
      size: type === 'file' ? size : 0,
      linkTarget: type === 'symlink' || type === 'hardlink' ? linkTarget : undefined,
    };
    const wanted = Math.min(visitor.entry(entry), entry.size);
    // Hard links and other non-file entries may still declare a size; their data blocks follow regardless.
    const dataBlocks = padded(size);
    if (wanted > 0 && visitor.body) {
      const body = visitor.body.bind(visitor);
      await reader.forEachChunk(wanted, (chunk) => body(entry, chunk));
      await reader.skip(dataBlocks - wanted);
    } else if (wanted > 0 && visitor.head) {
      const headBlocks = padded(wanted);
      const head = (await reader.read(headBlocks)) ?? Buffer.alloc(0);
      visitor.head(entry, head.subarray(0, wanted));
      await reader.skip(dataBlocks - headBlocks);
    } else {
      await reader.skip(dataBlocks);
    }
  }
}
