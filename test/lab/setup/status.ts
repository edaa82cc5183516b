// lab:status: what is up, who started it, and what QEMU does.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { labFile, repoRoot } from '../lab';
import { qemuState } from '../qemu';
import { containerd, dockerd, dockerVersions, emulators, emulatorsMain, owner, probes, registry } from './daemons';
import { qemuPlatforms } from './labfile';
import { runningPid } from './proc';

/** Prints one line per part; true when every part is up. */
export async function status(): Promise<boolean> {
  let allUp = true;
  const line = (part: string, ok: boolean, detail: string): void => {
    allUp &&= ok;
    process.stdout.write(`${ok ? 'up  ' : 'DOWN'}  ${part.padEnd(11)} ${detail}\n`);
  };
  for (const [spec, probe] of [
    [containerd, probes.containerd],
    [dockerd, probes.dockerd],
    [registry, probes.registry],
    [emulators, probes.emulators],
  ] as const) {
    const who = await owner(spec, probe);
    const pid = runningPid(spec);
    const healthy = who !== 'down' && (await probe());
    const missing = spec === emulators && !existsSync(emulatorsMain) ? ` (${path.relative(repoRoot, emulatorsMain)} does not exist)` : '';
    line(
      spec.name,
      healthy,
      `${who === 'lab' ? `started by the lab, pid ${pid}` : who === 'foreign' ? 'running, not started by the lab' : 'not running'}${who === 'lab' && !healthy ? ', NOT ANSWERING' : ''}${missing}`,
    );
  }
  if (await probes.dockerd()) {
    try {
      const versions = dockerVersions();
      line('docker', true, `server ${versions.serverVersion}, buildx ${versions.buildxVersion}, containerd image store`);
      line('docker0', existsSync('/sys/class/net/docker0'), 'default bridge of containers (lab:up restarts dockerd when it is missing)');
    } catch (error) {
      line('docker', false, (error as Error).message);
    }
  }
  for (const platform of qemuPlatforms) {
    const state = qemuState(platform);
    line('qemu', state === 'enabled', `${platform}: ${state}`);
  }
  line('lab.json', existsSync(labFile), path.relative(repoRoot, labFile));
  return allUp;
}
