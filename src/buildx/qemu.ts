// QEMU user emulation, so that a builder can RUN steps of foreign platforms: checked, switched on, registered from the
// distribution's qemu-user-static + binfmt-support (no image is pulled), then proven twice: a tiny program of the
// platform is executed on this kernel, and the builder must list the platform.
//
// Why both proofs: with the docker driver, BuildKit inside dockerd detects emulators when the daemon starts, so its
// platform list can still show linux/arm64 after emulation was switched off (and not yet show it after it was
// switched on). Executing a program is the kernel's truth; the builder's list is what BuildForPlatform checks.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TaskContext } from '../context';
import { formatPlatform, type Platform } from '../platform/platform';
import type { Runner } from '../process/exec';
import { offers } from './builder';

export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/** The binfmt_misc entry Debian's qemu-user-static registers for a platform's binaries. */
const ENTRY_BY_ARCH: Record<string, string> = {
  arm64: 'qemu-aarch64',
  arm: 'qemu-arm',
  amd64: 'qemu-x86_64',
  '386': 'qemu-i386',
  ppc64le: 'qemu-ppc64le',
  s390x: 'qemu-s390x',
  riscv64: 'qemu-riscv64',
  mips64le: 'qemu-mips64el',
  mips64: 'qemu-mips64',
  loong64: 'qemu-loongarch64',
};

export function binfmtEntryName(platform: Platform): string {
  const entry = platform.os === 'linux' ? ENTRY_BY_ARCH[platform.architecture] : undefined;
  if (!entry)
    throw new Error(
      `QEMU cannot emulate ${formatPlatform(platform)} (known: ${Object.keys(ENTRY_BY_ARCH)
        .map((a) => `linux/${a}`)
        .join(', ')}).`,
    );
  return entry;
}

/**
 * Platforms a server of this platform runs without emulation: its own architecture. Whether an x86-64 kernel runs
 * 32-bit x86 (or an arm64 one 32-bit arm) depends on the kernel and CPU, so those are probed like foreign ones.
 */
export function runsNatively(server: Platform, wanted: Platform): boolean {
  return server.os === wanted.os && server.architecture === wanted.architecture;
}

// ---- a tiny program per architecture: exit(0) through the kernel's exit system call ----

interface ElfTarget {
  bits: 32 | 64;
  littleEndian: boolean;
  machine: number;
  flags: number;
  code: Buffer;
}

const words = (le: boolean, ...values: number[]) => {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => (le ? b.writeUInt32LE(v, i * 4) : b.writeUInt32BE(v, i * 4)));
  return b;
};

const ELF_TARGETS: Record<string, ElfTarget> = {
  // mov eax, 60; xor edi, edi; syscall
  amd64: { bits: 64, littleEndian: true, machine: 62, flags: 0, code: Buffer.from([0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]) },
  // mov eax, 1; xor ebx, ebx; int 0x80
  '386': { bits: 32, littleEndian: true, machine: 3, flags: 0, code: Buffer.from([0xb8, 1, 0, 0, 0, 0x31, 0xdb, 0xcd, 0x80]) },
  // mov x0, #0; mov x8, #93; svc #0
  arm64: { bits: 64, littleEndian: true, machine: 183, flags: 0, code: words(true, 0xd2800000, 0xd2800ba8, 0xd4000001) },
  // mov r0, #0; mov r7, #1; svc #0 (EABI version 5)
  arm: { bits: 32, littleEndian: true, machine: 40, flags: 0x05000000, code: words(true, 0xe3a00000, 0xe3a07001, 0xef000000) },
  // li r0, 1; li r3, 0; sc (ELFv2 ABI)
  ppc64le: { bits: 64, littleEndian: true, machine: 21, flags: 2, code: words(true, 0x38000001, 0x38600000, 0x44000002) },
  // lghi %r2, 0; svc 1
  s390x: { bits: 64, littleEndian: false, machine: 22, flags: 0, code: Buffer.from([0xa7, 0x29, 0, 0, 0x0a, 0x01]) },
  // li a0, 0; li a7, 93; ecall
  riscv64: { bits: 64, littleEndian: true, machine: 243, flags: 0, code: words(true, 0x00000513, 0x05d00893, 0x00000073) },
};

/** A statically linked ELF executable for the platform that only exits with status 0; undefined where none is known. */
export function exitZeroProgram(platform: Platform): Buffer | undefined {
  const t = ELF_TARGETS[platform.architecture];
  if (!t) return undefined;
  const is64 = t.bits === 64;
  const ehsize = is64 ? 64 : 52;
  const phsize = is64 ? 56 : 32;
  const base = is64 ? 0x400000 : 0x10000;
  const size = ehsize + phsize + t.code.length;
  const b = Buffer.alloc(size);
  const u16 = (v: number, o: number) => (t.littleEndian ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const u32 = (v: number, o: number) => (t.littleEndian ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const u64 = (v: number, o: number) => (t.littleEndian ? b.writeBigUInt64LE(BigInt(v), o) : b.writeBigUInt64BE(BigInt(v), o));
  const addr = is64 ? u64 : u32;
  const entry = base + ehsize + phsize;
  // e_ident: magic, class, data, version
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, t.littleEndian ? 1 : 2, 1]).copy(b, 0);
  u16(2, 16); // ET_EXEC
  u16(t.machine, 18);
  u32(1, 20); // EV_CURRENT
  addr(entry, 24);
  addr(ehsize, is64 ? 32 : 28); // e_phoff
  addr(0, is64 ? 40 : 32); // e_shoff
  const after = is64 ? 48 : 36;
  u32(t.flags, after);
  u16(ehsize, after + 4);
  u16(phsize, after + 6);
  u16(1, after + 8); // e_phnum
  // one PT_LOAD segment, read + execute, mapping the whole file
  const ph = ehsize;
  u32(1, ph);
  if (is64) {
    u32(5, ph + 4);
    u64(0, ph + 8);
    u64(base, ph + 16);
    u64(base, ph + 24);
    u64(size, ph + 32);
    u64(size, ph + 40);
    u64(0x10000, ph + 48);
  } else {
    u32(0, ph + 4);
    u32(base, ph + 8);
    u32(base, ph + 12);
    u32(size, ph + 16);
    u32(size, ph + 20);
    u32(5, ph + 24);
    u32(0x10000, ph + 28);
  }
  t.code.copy(b, ehsize + phsize);
  return b;
}

/** Runs the platform's exit-0 program here: true when it ran, false on `exec format error`, undefined when there is none. */
export async function canExecute(runner: Runner, platform: Platform, tempRoot: string = os.tmpdir()): Promise<boolean | undefined> {
  const program = exitZeroProgram(platform);
  if (!program) return undefined;
  const dir = mkdtempSync(path.join(tempRoot, 'qemu-probe-'));
  const file = path.join(dir, `exit0-${platform.architecture}`);
  try {
    writeFileSync(file, program, { mode: 0o755 });
    const result = await runner(file, [], { timeoutMs: 30_000 });
    return result.exitCode === 0;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- binfmt_misc ----

export type BinfmtState =
  { state: 'unmounted' } | { state: 'unregistered' } | { state: 'disabled' | 'enabled'; interpreter?: string; flags?: string };

export function parseBinfmtEntry(text: string): BinfmtState {
  const lines = text.split('\n');
  return {
    state: lines[0]?.trim() === 'enabled' ? 'enabled' : 'disabled',
    interpreter: lines
      .find((l) => l.startsWith('interpreter '))
      ?.slice('interpreter '.length)
      .trim(),
    flags: lines
      .find((l) => l.startsWith('flags:'))
      ?.slice('flags:'.length)
      .trim(),
  };
}

export function binfmtState(entry: string, dir: string = BINFMT_DIR): BinfmtState {
  if (!existsSync(path.join(dir, 'status'))) return { state: 'unmounted' };
  const file = path.join(dir, entry);
  if (!existsSync(file)) return { state: 'unregistered' };
  return parseBinfmtEntry(readFileSync(file, 'utf8'));
}

// ---- setting it up ----

export class EmulationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmulationError';
  }
}

/** What ensureEmulation needs from the machine; the task wires the real ones, tests their fakes. */
export type EmulationContext = Pick<TaskContext, 'logger'> & {
  /** The daemon's platform. */
  server: Platform;
  /** The daemon runs on this machine's kernel (a unix socket, also one mounted into a container). */
  daemonIsLocal: boolean;
  /** Where the daemon is, for messages. */
  daemonAddress: string;
  /** The current builder's platforms (docker buildx inspect). */
  builderPlatforms: () => Promise<Platform[]>;
  /** Runs the platform's exit-0 program on this kernel. */
  canExecute: (platform: Platform) => Promise<boolean | undefined>;
  binfmtState: (entry: string) => BinfmtState;
  /** Mounts binfmt_misc (as root); throws when it cannot. */
  mountBinfmt: () => Promise<void>;
  /** Writes 1 to an entry (as root). */
  enableEntry: (entry: string) => Promise<void>;
  /** Installs qemu-user-static + binfmt-support (as root, through apt); undefined when this machine has no apt. */
  installQemu?: () => Promise<void>;
  /** `update-binfmts --enable <entry>` (as root): registers an entry from binfmt-support's database. */
  registerEntry: (entry: string) => Promise<void>;
  /** The interpreter of an entry is installed (qemu-user-static's binaries). */
  qemuInstalled: (entry: string) => boolean;
};

export interface EmulationOutcome {
  platform: string;
  /** native: the server runs it; ready: already emulated; enabled/registered/installed: what this run did. */
  how: 'native' | 'builder' | 'ready' | 'enabled' | 'registered' | 'installed';
}

function registerOnHost(platform: Platform): string {
  return `register it on the machine that runs the daemon: \`sudo apt-get install qemu-user-static binfmt-support\` there (Debian/Ubuntu), then check that \`cat ${BINFMT_DIR}/${binfmtEntryName(platform)}\` says enabled with flags including F. Registrations are kernel-wide, so every container on that machine sees them.`;
}

async function setUpLocally(platform: Platform, context: EmulationContext): Promise<EmulationOutcome['how']> {
  const name = formatPlatform(platform);
  const entry = binfmtEntryName(platform);
  let state = context.binfmtState(entry);
  let how: EmulationOutcome['how'] = 'enabled';
  if (state.state === 'unmounted') {
    try {
      await context.mountBinfmt();
    } catch (error) {
      throw new EmulationError(
        `QEMU emulation of ${name} cannot be set up from this agent: ${BINFMT_DIR} is not mounted here and mounting it failed (${(error as Error).message.split('\n')[0]}). ` +
          `This is what an unprivileged container looks like. Either ${registerOnHost(platform)} Or run the agent container with --privileged.`,
      );
    }
    state = context.binfmtState(entry);
  }
  if (state.state === 'disabled') {
    context.logger.info(`QEMU for ${name} (${entry}) is registered but switched off; switching it on`);
    await context.enableEntry(entry);
  } else if (state.state === 'unregistered') {
    if (!context.qemuInstalled(entry)) {
      if (!context.installQemu)
        throw new EmulationError(
          `QEMU for ${name} is not installed and this agent has no apt to install qemu-user-static; ${registerOnHost(platform)}`,
        );
      context.logger.info(`QEMU for ${name} is not installed; installing qemu-user-static and binfmt-support from the distribution`);
      await context.installQemu();
      how = 'installed';
    } else {
      how = 'registered';
    }
    if (context.binfmtState(entry).state !== 'enabled') {
      context.logger.info(`registering ${entry} with binfmt_misc`);
      await context.registerEntry(entry);
    }
  }
  const after = context.binfmtState(entry);
  if (after.state !== 'enabled')
    throw new EmulationError(`QEMU for ${name} (${entry}) is still ${after.state} after setting it up; ${registerOnHost(platform)}`);
  return how;
}

/** Makes every platform in `wanted` buildable on the daemon's machine, or throws an EmulationError saying why not. */
export async function ensureEmulation(wanted: Platform[], context: EmulationContext): Promise<EmulationOutcome[]> {
  const outcomes: EmulationOutcome[] = [];
  const foreign = wanted.filter((p) => {
    if (runsNatively(context.server, p)) {
      outcomes.push({ platform: formatPlatform(p), how: 'native' });
      return false;
    }
    return true;
  });
  if (!foreign.length) return outcomes;

  if (!context.daemonIsLocal) {
    const listed = await context.builderPlatforms();
    for (const p of foreign) {
      if (!offers(listed, p)) {
        throw new EmulationError(
          `The builder of the daemon at ${context.daemonAddress} cannot build for ${formatPlatform(p)}, and that daemon runs on another machine; ${registerOnHost(p)}`,
        );
      }
      outcomes.push({ platform: formatPlatform(p), how: 'builder' });
    }
    return outcomes;
  }

  for (const p of foreign) binfmtEntryName(p); // a platform QEMU cannot emulate fails here, before anything is changed
  for (const p of foreign) {
    const name = formatPlatform(p);
    const runs = await context.canExecute(p);
    if (runs) {
      outcomes.push({ platform: name, how: 'ready' });
      continue;
    }
    const how = await setUpLocally(p, context);
    if ((await context.canExecute(p)) === false) {
      throw new EmulationError(
        `QEMU for ${name} is enabled, but a ${name} test program still does not run here (exec format error). Check the interpreter of ${BINFMT_DIR}/${binfmtEntryName(p)}: it must be a statically linked qemu registered with the F flag.`,
      );
    }
    outcomes.push({ platform: name, how });
  }

  const listed = await context.builderPlatforms();
  const unlisted = foreign.filter((p) => !offers(listed, p)).map(formatPlatform);
  if (unlisted.length) {
    context.logger.warn(
      `The kernel runs ${unlisted.join(', ')} programs now, but the builder does not list ${unlisted.length > 1 ? 'them' : 'it'} yet: BuildKit in dockerd detects emulators when the daemon starts. Builds still work; restart the daemon or use a docker-container builder to have it listed.`,
    );
  }
  return outcomes;
}
