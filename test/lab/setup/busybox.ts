// Statically linked busybox for amd64 and arm64: the whole "base image" of test images built FROM scratch.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { labRoot } from '../lab';
import { say } from './log';
import { downloadForeignPackage } from './packages';
import { run } from './proc';

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

function install(source: string, architecture: Architecture): void {
  if (!isStaticElf(source, architecture)) throw new Error(`${source} is not a static ${architecture} ELF executable`);
  const target = path.join(baseDir, architecture, 'busybox');
  mkdirSync(path.dirname(target), { recursive: true });
  copyFileSync(source, target);
  chmodSync(target, 0o755);
}

export function ensureBusybox(): void {
  const amd64 = path.join(baseDir, 'amd64', 'busybox');
  if (!isStaticElf(amd64, 'amd64')) {
    say('base: copying busybox (amd64) from busybox-static');
    install(['/bin/busybox', '/usr/bin/busybox'].find((file) => existsSync(file)) ?? '/bin/busybox', 'amd64');
  }
  const arm64 = path.join(baseDir, 'arm64', 'busybox');
  if (!isStaticElf(arm64, 'arm64')) {
    say('base: fetching busybox-static:arm64');
    const work = mkdtempSync(path.join(os.tmpdir(), 'lab-busybox-'));
    try {
      const deb = downloadForeignPackage('busybox-static', 'arm64', work);
      const extracted = path.join(work, 'x');
      run(['dpkg', '-x', deb, extracted]);
      const binary = ['usr/bin/busybox', 'bin/busybox'].map((file) => path.join(extracted, file)).find((file) => existsSync(file));
      if (!binary) throw new Error(`${deb} holds no busybox binary`);
      install(binary, 'arm64');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
}
