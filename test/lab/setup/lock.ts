// One lab:up / lab:down at a time (two test runs may both find the lab down and start it).
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { labRoot } from '../lab';
import { say } from './log';
import { isAlive, sleep } from './proc';

const lockFile = path.join(labRoot, 'lab.lock');

export async function withLabLock<T>(action: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  mkdirSync(labRoot, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(readFileSafe(lockFile), 10);
      if (!Number.isInteger(holder) || !isAlive(holder)) {
        rmSync(lockFile, { force: true }); // left behind by a process that died
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another lab command (pid ${holder}) holds ${lockFile}`);
      if (!announced) say(`waiting for another lab command (pid ${holder}) to finish`);
      announced = true;
      await sleep(500);
    }
  }
  try {
    return await action();
  } finally {
    rmSync(lockFile, { force: true });
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
