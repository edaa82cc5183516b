// binfmt_misc for QEMU: mount it and register the entries of the lab's platforms, whichever way this host's qemu
// registers (binfmt.d files, update-binfmts' database), else with the lab's own unpacked emulator. A registration
// already there is used as it is; lab:down undoes only what lab:up did.
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { engineCommand, engineDir } from '../engine';
import { repoRoot } from '../lab';
import { binfmtDir, binfmtEntry, binfmtMounted, qemuState, setQemu } from '../qemu';
import { say } from './log';
import { run, tryRun } from './proc';
import { readState, writeState, type BinfmtRegistration } from './state';

/** systemd-binfmt's search order; without systemd (a container, this kind of machine) nobody reads them at boot. */
const binfmtDDirs = ['/etc/binfmt.d', '/run/binfmt.d', '/usr/lib/binfmt.d'];

export interface BinfmtRule {
  name: string;
  interpreter: string;
  flags: string;
}

/** `:name:type:offset:magic:mask:interpreter:flags`, the register format of binfmt.d files (comments skipped). */
export function parseBinfmtRule(text: string): { line: string; rule: BinfmtRule } | undefined {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const fields = line.slice(1).split(line[0]);
    if (fields.length < 7) return undefined;
    return { line, rule: { name: fields[0], interpreter: fields[5], flags: fields[6] ?? '' } };
  }
  return undefined;
}

/**
 * The same rule with another interpreter. F (fix binary) is added: the kernel opens the emulator when the rule is
 * written, so it also runs inside containers and chroots that do not have that path.
 */
export function withInterpreter(line: string, interpreter: string): string {
  const delimiter = line[0];
  const fields = line.slice(1).split(delimiter);
  fields[5] = interpreter;
  if (!(fields[6] ?? '').includes('F')) fields[6] = `${fields[6] ?? ''}F`;
  return delimiter + fields.join(delimiter);
}

/** The interpreter of a registered entry, from /proc/sys/fs/binfmt_misc/<name>. */
export function registeredInterpreter(entry: string): string | undefined {
  try {
    return /^interpreter (.*)$/m.exec(readFileSync(path.join(binfmtDir, entry), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** An emulator unpacked by the lab of another checkout: `<other>/.lab/engine/...`. */
export function otherCheckoutOf(interpreter: string | undefined): string | undefined {
  const match = /^(.*)\/\.lab\/engine\//.exec(interpreter ?? '');
  return match && match[1] !== repoRoot ? match[1] : undefined;
}

function writeRule(line: string): void {
  writeFileSync(path.join(binfmtDir, 'register'), line);
}

function unregister(entry: string): void {
  writeFileSync(path.join(binfmtDir, entry), '-1');
}

/** Registers the entry the host's way, or the lab's; returns how. */
function register(entry: string): BinfmtRegistration {
  for (const dir of binfmtDDirs) {
    const file = path.join(dir, `${entry}.conf`);
    const parsed = existsSync(file) ? parseBinfmtRule(readFileSync(file, 'utf8')) : undefined;
    if (parsed && existsSync(parsed.rule.interpreter)) {
      say(`qemu: registering ${entry} from ${file} (${parsed.rule.interpreter})`);
      writeRule(parsed.line);
      return { entry, interpreter: parsed.rule.interpreter, how: file };
    }
  }
  if (existsSync(`/var/lib/binfmts/${entry}`) && tryRun(['update-binfmts', '--version']).code === 0) {
    const result = tryRun(['update-binfmts', '--enable', entry]);
    if (result.code === 0 && registeredInterpreter(entry) !== undefined) {
      say(`qemu: registered ${entry} with update-binfmts`);
      return { entry, interpreter: registeredInterpreter(entry) ?? '', how: 'update-binfmts' };
    }
    say(
      `qemu: update-binfmts --enable ${entry} did not register it (${result.stderr.trim() || `exit ${result.code}`}); using the lab's emulator`,
    );
  }
  const emulator = engineCommand(`${entry}-static`);
  const conf = path.join(engineDir, 'root', 'usr', 'lib', 'binfmt.d', `${entry}.conf`);
  const parsed = existsSync(conf) ? parseBinfmtRule(readFileSync(conf, 'utf8')) : undefined;
  if (!parsed || !existsSync(emulator))
    throw new Error(
      `qemu: no way to register ${entry}: no binfmt.d rule on this host and the lab's emulator is not unpacked (${emulator})`,
    );
  const interpreter = realpathSync(emulator);
  say(`qemu: registering ${entry} with the lab's emulator (${path.relative(repoRoot, interpreter)})`);
  writeRule(withInterpreter(parsed.line, interpreter));
  return { entry, interpreter, how: 'lab' };
}

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
    const other = otherCheckoutOf(registeredInterpreter(entry));
    if (other) {
      // that checkout's lab:down would take it away from under this lab
      say(`qemu: ${entry} runs the emulator of the lab in ${other}; registering this lab's own instead`);
      unregister(entry);
    }
    const current = qemuState(platform);
    if (current === 'unregistered') {
      const registration = register(entry);
      state.registeredBinfmt = [...state.registeredBinfmt.filter((known) => known.entry !== entry), registration];
      writeState(state);
    }
    if (qemuState(platform) !== 'enabled') {
      say(`qemu: enabling ${entry} for ${platform} (it was disabled)`);
      setQemu(platform, true);
    }
  }
}

/** Unregisters what lab:up registered, if it is still the rule lab:up wrote; unmounts binfmt_misc if lab:up mounted it. */
export function releaseQemu(): void {
  const state = readState();
  for (const { entry, interpreter } of state.registeredBinfmt) {
    const now = registeredInterpreter(entry);
    if (now === undefined) continue;
    if (interpreter && now !== interpreter) {
      say(`qemu: ${entry} is registered by someone else now (${now}); left alone`);
      continue;
    }
    say(`qemu: unregistering ${entry}`);
    unregister(entry);
  }
  state.registeredBinfmt = [];
  if (state.mountedBinfmt && binfmtMounted()) {
    say('qemu: unmounting binfmt_misc');
    const result = tryRun(['umount', binfmtDir]);
    if (result.code !== 0) say(`qemu: could not unmount binfmt_misc: ${result.stderr.trim()}`);
  }
  state.mountedBinfmt = false;
  writeState(state);
}
