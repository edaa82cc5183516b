// One install at a time per agent machine: two jobs that both find buildx missing must not run apt or extract
// into the tool cache at the same time. A lock file created with O_EXCL under the tools directory; a lock whose
// owner died (same host, pid gone) or that is older than any install can take is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sleep } from '../util/retry';

interface LockOwner {
  pid: number;
  host: string;
  since: number;
}

export interface LockOptions {
  timeoutMs?: number;
  /** A lock older than this is considered abandoned whatever its owner says. */
  staleMs?: number;
  pollMs?: number;
  onWait?: (owner: string) => void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(file: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

export async function withLock<T>(file: string, work: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 15 * 60_000;
  const staleMs = options.staleMs ?? 60 * 60_000;
  const pollMs = options.pollMs ?? 1000;
  mkdirSync(path.dirname(file), { recursive: true });
  const started = Date.now();
  let told = false;
  for (;;) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), since: Date.now() } satisfies LockOwner));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = readOwner(file);
    // A half-written file (owner undefined) is given the benefit of the doubt until it is stale by age.
    const abandoned = owner && ((owner.host === os.hostname() && !alive(owner.pid)) || Date.now() - owner.since > staleMs);
    if (abandoned) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(
        `another job has held the install lock ${file} for more than ${Math.round(timeoutMs / 60_000)} minutes (${owner ? `pid ${owner.pid} on ${owner.host}` : 'owner unknown'}); if no job is installing, delete the file.`,
      );
    }
    if (!told) {
      options.onWait?.(owner ? `pid ${owner.pid} on ${owner.host}` : 'another job');
      told = true;
    }
    await sleep(pollMs);
  }
  try {
    return await work();
  } finally {
    rmSync(file, { force: true });
  }
}
