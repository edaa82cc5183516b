// Statically linked busybox for amd64 and arm64: the whole "base image" of test images built FROM scratch, copied
// from the busybox-static packages the engine step unpacked (test/lab/engine.ts).
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { engineRoot, foreignRoot } from '../engine';
import { labRoot } from '../lab';
import { say } from './log';

export const baseDir = path.join(labRoot, 'base');
const elfMachine = { amd64: 0x3e, arm64: 0xb7 } as const;
type Architecture = keyof typeof elfMachine;

/** A 64-bit little-endian ELF executable for that machine without a program interpreter (= static). */
export function isStaticElf(file: string, architecture: Architecture): boolean {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return false;
  }
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2 || bytes[5] !== 1) return false;
  if (bytes.readUInt16LE(18) !== elfMachine[architecture]) return false;
  const programHeaders = Number(bytes.readBigUInt64LE(32));
  const entrySize = bytes.readUInt16LE(54);
  const count = bytes.readUInt16LE(56);
  for (let index = 0; index < count; index++) {
    const offset = programHeaders + index * entrySize;
    if (offset + 4 > bytes.length) return false;
    if (bytes.readUInt32LE(offset) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

export function ensureBusybox(): void {
  const sources: Record<Architecture, string> = {
    amd64: path.join(engineRoot, 'bin', 'busybox'),
    arm64: path.join(foreignRoot, 'bin', 'busybox'),
  };
  for (const architecture of Object.keys(sources) as Architecture[]) {
    const target = path.join(baseDir, architecture, 'busybox');
    if (isStaticElf(target, architecture)) continue;
    const source = sources[architecture];
    if (!isStaticElf(source, architecture)) throw new Error(`${source} is not a static ${architecture} ELF executable`);
    say(`base: copying busybox (${architecture}) from busybox-static`);
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(source, target);
    chmodSync(target, 0o755);
  }
}
