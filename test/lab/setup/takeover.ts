// One lab per machine: its daemons own fixed sockets, ports and names. A lab started from another checkout (or by an
// earlier version of this one) is stopped before this one starts, so its CA, trust, hosts lines and emulators become
// this checkout's; never a mix of the two. Refused while a lab command of the other checkout is running.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../lab';
import { say } from './log';
import { commandLine, isAlive, pidsDir, sleep } from './proc';

export interface LabProcessFound {
  pid: number;
  /** the checkout whose lab started it */
  checkout: string;
  name: string;
}

const daemonNames = ['dockerd', 'containerd', 'docker-registry'];

/** The checkout a lab process belongs to, judged by its command line alone (pure, for tests). */
export function checkoutOfLabProcess(argv: string[]): { checkout: string; name: string } | undefined {
  const daemon = /^(.+)\/\.lab\/engine\/bin\/([^/]+)$/.exec(argv[0] ?? '');
  if (daemon && daemonNames.includes(daemon[2])) return { checkout: daemon[1], name: daemon[2] };
  // the proxies (setup/proxy.ts): tinyproxy unpacked under .lab/proxy, listening on the lab's fixed ports
  const proxy = /^(.+)\/\.lab\/proxy\/root\/usr\/bin\/tinyproxy$/.exec(argv[0] ?? '');
  if (proxy) return { checkout: proxy[1], name: 'proxy' };
  for (const arg of argv) {
    const emulators = /^(.+)\/test\/lab\/emulators\/main\.ts$/.exec(arg);
    if (emulators) return { checkout: emulators[1], name: 'emulators' };
  }
  return undefined;
}

function pidsOfCheckout(checkout: string): LabProcessFound[] {
  const dir = path.join(checkout, '.lab', 'pids');
  if (!existsSync(dir)) return [];
  const found: LabProcessFound[] = [];
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.pid'))) {
    const pid = Number.parseInt(readFileSync(path.join(dir, file), 'utf8'), 10);
    const argv = commandLine(pid);
    const name = path.basename(argv[0] ?? '');
    // an earlier lab started the daemons by name from the host's packages
    if (Number.isInteger(pid) && isAlive(pid) && (daemonNames.includes(name) || checkoutOfLabProcess(argv)))
      found.push({ pid, checkout, name: file.replace(/\.pid$/, '') });
  }
  return found;
}

/** Lab processes this checkout's lab:up must stop: those of other checkouts, and ours started by an earlier lab. */
export function foreignLabProcesses(): LabProcessFound[] {
  const found = new Map<number, LabProcessFound>();
  const checkouts = new Set<string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const owner = checkoutOfLabProcess(commandLine(Number(entry)));
    if (owner && owner.checkout !== repoRoot) {
      found.set(Number(entry), { pid: Number(entry), ...owner });
      checkouts.add(owner.checkout);
    }
  }
  for (const checkout of checkouts) for (const labProcess of pidsOfCheckout(checkout)) found.set(labProcess.pid, labProcess);
  // this checkout's pid files naming a daemon that is not run from this checkout's engine: an earlier version of the lab
  if (existsSync(pidsDir)) {
    for (const labProcess of pidsOfCheckout(repoRoot)) {
      const owner = checkoutOfLabProcess(commandLine(labProcess.pid));
      if (!owner) found.set(labProcess.pid, { ...labProcess, checkout: `${repoRoot} (an earlier version of the lab)` });
    }
  }
  return [...found.values()];
}

function lockHolder(checkout: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path.join(checkout, '.lab', 'lab.lock'), 'utf8'), 10);
    return Number.isInteger(pid) && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Emulators first, containerd last: dockerd stops its containers while containerd still runs. */
const stopOrder = ['emulators', 'proxy', 'registry', 'docker-registry', 'dockerd', 'containerd'];

export async function takeOverOtherLabs(): Promise<void> {
  const processes = foreignLabProcesses();
  if (processes.length === 0) return;
  for (const checkout of new Set(processes.map((found) => found.checkout))) {
    const holder = lockHolder(checkout);
    if (holder !== undefined) {
      throw new Error(
        `the lab of ${checkout} is running a lab command right now (pid ${holder}); wait for it to end, or run \`npm run lab:down\` there`,
      );
    }
    say(
      `lab: the lab of ${checkout} is running here; taking it over (its daemons stop; CA, trust, hosts lines and emulators become this checkout's)`,
    );
  }
  processes.sort((a, b) => stopOrder.indexOf(a.name) - stopOrder.indexOf(b.name));
  for (const found of processes) {
    say(`lab: stopping ${found.name} (pid ${found.pid}) of ${found.checkout}`);
    try {
      process.kill(found.pid, 'SIGTERM');
    } catch {
      continue; // gone already
    }
    const deadline = Date.now() + (found.name === 'dockerd' ? 60_000 : 20_000);
    while (isAlive(found.pid) && Date.now() < deadline) await sleep(200);
    if (isAlive(found.pid)) process.kill(found.pid, 'SIGKILL');
  }
}
