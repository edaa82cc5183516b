// Crafted tar archives and image layers for the unit tests of src/image: a tiny tar writer that produces ustar,
// GNU long-name and PAX headers byte by byte as the formats define them (POSIX pax, GNU tar manual).
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

export const repoRoot = path.resolve(__dirname, '..', '..');

export interface FixtureEntry {
  path: string;
  type?: 'file' | 'directory' | 'symlink' | 'hardlink' | 'fifo';
  mode?: number;
  content?: Buffer | string;
  linkTarget?: string;
  /** How the long path is carried: the ustar prefix field, a GNU 'L' record or a PAX 'x' record. */
  longName?: 'prefix' | 'gnu' | 'pax';
}

const TYPE_FLAGS = { file: '0', hardlink: '1', symlink: '2', directory: '5', fifo: '6' } as const;

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, '0') + '\0';
}

function header(fields: { name: string; prefix?: string; mode: number; size: number; flag: string; linkname?: string }): Buffer {
  const block = Buffer.alloc(512);
  block.write(fields.name, 0, 100, 'utf8');
  block.write(octal(fields.mode, 8), 100, 'latin1');
  block.write(octal(0, 8), 108, 'latin1');
  block.write(octal(0, 8), 116, 'latin1');
  block.write(octal(fields.size, 12), 124, 'latin1');
  block.write(octal(0, 12), 136, 'latin1');
  block.write(fields.flag, 156, 'latin1');
  if (fields.linkname) block.write(fields.linkname, 157, 100, 'utf8');
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  if (fields.prefix) block.write(fields.prefix, 345, 155, 'utf8');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(octal(sum, 7) + ' ', 148, 'latin1');
  return block;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return `${length}${body}`;
}

export function tar(entries: FixtureEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const content = Buffer.from(entry.content ?? '');
    const size = type === 'file' ? content.length : 0;
    const mode = entry.mode ?? (type === 'directory' ? 0o755 : 0o644);
    let name = entry.path;
    let prefix: string | undefined;
    if (entry.longName === 'gnu') {
      const data = Buffer.from(entry.path + '\0');
      parts.push(header({ name: '././@LongLink', mode: 0, size: data.length, flag: 'L' }), pad(data));
      name = entry.path.slice(0, 99);
    } else if (entry.longName === 'pax') {
      const data = Buffer.from(paxRecord('path', entry.path) + (entry.linkTarget ? paxRecord('linkpath', entry.linkTarget) : ''));
      parts.push(header({ name: 'PaxHeader/x', mode: 0o644, size: data.length, flag: 'x' }), pad(data));
      name = entry.path.slice(0, 99);
    } else if (entry.longName === 'prefix') {
      const cut = entry.path.lastIndexOf('/', 154);
      prefix = entry.path.slice(0, cut);
      name = entry.path.slice(cut + 1);
    }
    parts.push(header({ name, prefix, mode, size, flag: TYPE_FLAGS[type], linkname: entry.linkTarget?.slice(0, 99) }));
    if (size) parts.push(pad(content));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function gzipTar(entries: FixtureEntry[]): Buffer {
  return gzipSync(tar(entries));
}

/** Yields a buffer in small chunks, the way a network stream arrives. */
export async function* chunked(data: Buffer, size = 333): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

/**
 * Stand-ins for the lab's static busybox (amd64, arm64) as the platform proof reads them: an ELF executable header with
 * one PT_LOAD and no PT_INTERP, padded to 4 KiB. Made here so that the unit tests need no lab.
 */
export const busybox = {
  amd64: () => staticExecutable(62),
  arm64: () => staticExecutable(183),
};

function staticExecutable(machine: number): Buffer {
  const file = Buffer.alloc(4096);
  file.write('\x7fELF', 0, 'latin1');
  file[4] = 2; // 64-bit
  file[5] = 1; // little-endian
  file[6] = 1;
  file.writeUInt16LE(2, 16); // ET_EXEC
  file.writeUInt16LE(machine, 18);
  file.writeUInt32LE(1, 20);
  file.writeBigUInt64LE(0x401000n, 24); // entry point
  file.writeBigUInt64LE(64n, 32); // program headers right after the ELF header
  file.writeUInt16LE(64, 52);
  file.writeUInt16LE(56, 54);
  file.writeUInt16LE(1, 56);
  file.writeUInt32LE(1, 64); // PT_LOAD
  file.writeUInt32LE(5, 68); // R+X
  file.writeBigUInt64LE(0x400000n, 80);
  file.writeBigUInt64LE(0x400000n, 88);
  file.writeBigUInt64LE(4096n, 96);
  file.writeBigUInt64LE(4096n, 104);
  file.writeBigUInt64LE(4096n, 112);
  return file;
}

/** A minimal ELF header for any class, byte order and machine, with an optional PT_INTERP. */
export function craftedElf(options: { bits: 32 | 64; endianness: 'little' | 'big'; machine: number; interpreter?: string }): Buffer {
  const { bits, endianness, machine, interpreter } = options;
  const ehsize = bits === 64 ? 64 : 52;
  const phentsize = bits === 64 ? 56 : 32;
  const phnum = interpreter ? 1 : 0;
  const interpOffset = ehsize + phnum * phentsize;
  const buf = Buffer.alloc(interpOffset + (interpreter ? interpreter.length + 1 : 0));
  const le = endianness === 'little';
  const w16 = (v: number, at: number) => (le ? buf.writeUInt16LE(v, at) : buf.writeUInt16BE(v, at));
  const w32 = (v: number, at: number) => (le ? buf.writeUInt32LE(v, at) : buf.writeUInt32BE(v, at));
  const w64 = (v: number, at: number) => (le ? buf.writeBigUInt64LE(BigInt(v), at) : buf.writeBigUInt64BE(BigInt(v), at));
  buf.write('\x7fELF', 0, 'latin1');
  buf[4] = bits === 64 ? 2 : 1;
  buf[5] = le ? 1 : 2;
  buf[6] = 1;
  w16(2, 16);
  w16(machine, 18);
  w32(1, 20);
  if (bits === 64) {
    w64(phnum ? ehsize : 0, 32);
    w16(ehsize, 52);
    w16(phentsize, 54);
    w16(phnum, 56);
  } else {
    w32(phnum ? ehsize : 0, 28);
    w16(ehsize, 40);
    w16(phentsize, 42);
    w16(phnum, 44);
  }
  if (interpreter) {
    const at = ehsize;
    w32(3, at);
    if (bits === 64) {
      w64(interpOffset, at + 8);
      w64(interpreter.length + 1, at + 32);
    } else {
      w32(interpOffset, at + 4);
      w32(interpreter.length + 1, at + 16);
    }
    buf.write(interpreter + '\0', interpOffset, 'latin1');
  }
  return buf;
}
