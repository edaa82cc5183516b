// binfmt_misc for QEMU: mount it and register/enable the entries of the lab's platforms; undo only what lab:up did.
import { binfmtDir, binfmtEntry, binfmtMounted, qemuState, setQemu } from '../qemu';
import { say } from './log';
import { run, tryRun } from './proc';
import { readState, writeState } from './state';

export function ensureQemu(platforms: string[]): void {
  const state = readState();
  if (!binfmtMounted()) {
    say('qemu: mounting binfmt_misc');
    run(['mount', '-t', 'binfmt_misc', 'binfmt_misc', binfmtDir]);
    state.mountedBinfmt = true;
    writeState(state);
  }
  for (const platform of platforms) {
    const entry = binfmtEntry(platform);
    const current = qemuState(platform);
    if (current === 'enabled') continue;
    if (current === 'unregistered') {
      say(`qemu: registering ${entry} for ${platform}`);
      run(['update-binfmts', '--enable', entry]);
      if (!state.registeredBinfmt.includes(entry)) state.registeredBinfmt.push(entry);
      writeState(state);
    }
    if (qemuState(platform) !== 'enabled') {
      say(`qemu: enabling ${entry} for ${platform} (it was disabled)`);
      setQemu(platform, true);
    }
  }
}

export function releaseQemu(): void {
  const state = readState();
  for (const entry of state.registeredBinfmt) {
    say(`qemu: unregistering ${entry}`);
    const result = tryRun(['update-binfmts', '--disable', entry]);
    if (result.code !== 0) say(`qemu: could not unregister ${entry}: ${result.stderr.trim()}`);
  }
  state.registeredBinfmt = [];
  if (state.mountedBinfmt && binfmtMounted()) {
    say('qemu: unmounting binfmt_misc');
    run(['umount', binfmtDir]);
  }
  state.mountedBinfmt = false;
  writeState(state);
}
