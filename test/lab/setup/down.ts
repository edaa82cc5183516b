// lab:down: stop every process lab:up started, undo the mounts it made, and prove nothing is left.
import { existsSync } from 'node:fs';
import { releaseQemu } from './binfmt';
import { containerd, dockerd, emulators, leftoverShims, registry, stop } from './daemons';
import { say } from './log';
import { labProxyProcesses, stopLabProxy } from './proxy';
import { isAlive, runningPid, sleep } from './proc';

export async function down(): Promise<void> {
  const started = Date.now();
  const stopped: number[] = [];
  const note = (pid: number | undefined): void => {
    if (pid !== undefined) stopped.push(pid);
  };
  for (const pid of await stopLabProxy()) note(pid);
  note(await stop(emulators, 10_000));
  note(await stop(registry, 10_000));
  const containerdWasOurs = runningPid(containerd) !== undefined;
  note(await stop(dockerd, 60_000)); // it stops its containers first
  note(await stop(containerd, 20_000));
  if (containerdWasOurs) {
    for (const pid of leftoverShims()) {
      say(`containerd: killing a leftover shim (pid ${pid})`);
      process.kill(pid, 'SIGKILL');
      for (let tries = 0; tries < 50 && isAlive(pid); tries++) await sleep(100);
      stopped.push(pid);
    }
  }
  releaseQemu();
  const left = [...labProxyProcesses, emulators, registry, dockerd, containerd]
    .filter((spec) => runningPid(spec) !== undefined)
    .map((spec) => spec.name);
  if (left.length > 0) throw new Error(`still running: ${left.join(', ')}`);
  // the daemons were reparented to init; wait (a little) until it has reaped them, so `ps` shows nothing
  for (let tries = 0; tries < 100 && stopped.some((pid) => existsSync(`/proc/${pid}`)); tries++) await sleep(100);
  const zombies = stopped.filter((pid) => existsSync(`/proc/${pid}`));
  if (zombies.length > 0) say(`lab:down: init has not reaped pids ${zombies.join(', ')} yet (exited, not running)`);
  say(`lab:down: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
