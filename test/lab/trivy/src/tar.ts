// A minimal ustar writer and reader: enough for the release tarballs (deterministic: fixed mtime, root owner)
// and for the DB artifact layer (db.tar.gz with trivy.db and metadata.json).

export interface TarEntry {
  name: string;
  data: Buffer;
  /** file mode, e.g. 0o755 */
  mode?: number;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, size: number, mode: number, mtime: number, type: '0' | '5'): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: entry name too long: ${name}`);
  const block = Buffer.alloc(512, 0);
  block.write(name, 0, 100, 'utf8');
  block.write(octal(mode, 8), 100, 8, 'ascii');
  block.write(octal(0, 8), 108, 8, 'ascii');
  block.write(octal(0, 8), 116, 8, 'ascii');
  block.write(octal(size, 12), 124, 12, 'ascii');
  block.write(octal(mtime, 12), 136, 12, 'ascii');
  block.write('        ', 148, 8, 'ascii');
  block.write(type, 156, 1, 'ascii');
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  block.write('root', 265, 32, 'ascii');
  block.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

/** Files in the given order; parent directories are added first, as `tar` would list them. */
export function createTar(entries: readonly TarEntry[], mtimeSeconds: number): Buffer {
  const parts: Buffer[] = [];
  const directories = new Set<string>();
  for (const entry of entries) {
    const segments = entry.name.split('/').slice(0, -1);
    for (let i = 1; i <= segments.length; i++) {
      const dir = `${segments.slice(0, i).join('/')}/`;
      if (directories.has(dir)) continue;
      directories.add(dir);
      parts.push(header(dir, 0, 0o755, mtimeSeconds, '5'));
    }
    parts.push(header(entry.name, entry.data.length, entry.mode ?? 0o644, mtimeSeconds, '0'));
    parts.push(entry.data);
    const pad = (512 - (entry.data.length % 512)) % 512;
    if (pad > 0) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

/** Regular files of a ustar/GNU tar archive. */
export function readTar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  while (offset + 512 <= archive.length) {
    const block = archive.subarray(offset, offset + 512);
    if (block.every((byte) => byte === 0)) break;
    const field = (start: number, length: number): string =>
      block
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const mode = Number.parseInt(field(100, 8).trim() || '0', 8);
    const type = field(156, 1) || '0';
    offset += 512;
    if (type === '0') entries.push({ name: name.replace(/^\.\//, ''), data: Buffer.from(archive.subarray(offset, offset + size)), mode });
    offset += Math.ceil(size / 512) * 512;
  }
  return entries;
}
