// lab:down: stop every process lab:up started, undo the mounts it made, and prove nothing is left.
import { releaseQemu } from './binfmt';
import { containerd, dockerd, emulators, leftoverShims, registry, stop } from './daemons';
import { say } from './log';
import { isAlive, runningPid, sleep } from './proc';

export async function down(): Promise<void> {
  const started = Date.now();
  await stop(emulators, 10_000);
  await stop(registry, 10_000);
  const containerdWasOurs = runningPid(containerd) !== undefined;
  await stop(dockerd, 60_000); // it stops its containers first
  await stop(containerd, 20_000);
  if (containerdWasOurs) {
    for (const pid of leftoverShims()) {
      say(`containerd: killing a leftover shim (pid ${pid})`);
      process.kill(pid, 'SIGKILL');
      for (let tries = 0; tries < 50 && isAlive(pid); tries++) await sleep(100);
    }
  }
  releaseQemu();
  const left = [emulators, registry, dockerd, containerd].filter((spec) => runningPid(spec) !== undefined).map((spec) => spec.name);
  if (left.length > 0) throw new Error(`still running: ${left.join(', ')}`);
  say(`lab:down: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
