// QEMU user emulation through binfmt_misc: the switch that lets a test reproduce `exec format error`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const binfmtDir = '/proc/sys/fs/binfmt_misc';

/** binfmt_misc entry (as Debian's qemu-user-static names it) that runs a platform's binaries. */
const entryByPlatform: Record<string, string> = {
  'linux/arm64': 'qemu-aarch64',
  'linux/arm/v7': 'qemu-arm',
  'linux/arm/v6': 'qemu-arm',
  'linux/ppc64le': 'qemu-ppc64le',
  'linux/s390x': 'qemu-s390x',
  'linux/riscv64': 'qemu-riscv64',
};

export type QemuState = 'enabled' | 'disabled' | 'unregistered' | 'unmounted';

export function binfmtEntry(platform: string): string {
  const entry = entryByPlatform[platform];
  if (!entry) throw new Error(`no QEMU binfmt entry known for platform ${platform} (known: ${Object.keys(entryByPlatform).join(', ')})`);
  return entry;
}

export function binfmtMounted(): boolean {
  return existsSync(`${binfmtDir}/status`);
}

export function qemuState(platform: string): QemuState {
  if (!binfmtMounted()) return 'unmounted';
  const file = `${binfmtDir}/${binfmtEntry(platform)}`;
  if (!existsSync(file)) return 'unregistered';
  return readFileSync(file, 'utf8').split('\n')[0].trim() === 'enabled' ? 'enabled' : 'disabled';
}

/** Turns emulation of one platform on or off (the entry stays registered). */
export function setQemu(platform: string, enabled: boolean): void {
  const state = qemuState(platform);
  if (state === 'unmounted' || state === 'unregistered') {
    throw new Error(`QEMU for ${platform} is ${state}; run \`npm run lab:up\` first`);
  }
  writeFileSync(`${binfmtDir}/${binfmtEntry(platform)}`, enabled ? '1' : '0');
}

/**
 * Runs `action` with emulation of `platform` switched on or off, then puts back the state found.
 * Emulation is machine-wide: keep the window short, other tests may build for that platform.
 */
export async function withQemu<T>(platform: string, enabled: boolean, action: () => Promise<T> | T): Promise<T> {
  const before = qemuState(platform);
  setQemu(platform, enabled);
  try {
    return await action();
  } finally {
    setQemu(platform, before === 'enabled');
  }
}

export function withQemuOff<T>(platform: string, action: () => Promise<T> | T): Promise<T> {
  return withQemu(platform, false, action);
}
