// lab:down --purge: after lab:down, take back everything the lab added to the host, including what an earlier version
// of the lab added (apt's trixie source and pin, /etc/docker/daemon.json). Packages are never removed.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { labRoot } from '../lab';
import { registryNames } from './labfile';
import { say } from './log';
import { tryRun } from './proc';
import { readState } from './state';
import { removeHosts } from './system';
import { removeCaTrust } from './tls';

/** What the lab before this one wrote: removed only when unchanged. */
const legacyFiles: Record<string, RegExp> = {
  '/etc/apt/sources.list.d/trixie.sources':
    /^Types: deb\nURIs: \S+\nSuites: trixie\nComponents: main\nSigned-By: \/usr\/share\/keyrings\/debian-archive-keyring\.gpg\n$/,
  '/etc/apt/preferences.d/trixie-low': /^Package: \*\nPin: release n=trixie\nPin-Priority: 100\n$/,
};
const legacyDaemonJson = '/etc/docker/daemon.json';
/** Packages an earlier lab installed with apt; named, never removed. */
const legacyPackages = [
  'docker.io',
  'docker-cli',
  'docker-buildx',
  'containerd',
  'runc',
  'docker-registry',
  'qemu-user-static',
  'qemu-user-binfmt',
  'binfmt-support',
  'busybox-static',
];

function removeLegacyFiles(): void {
  for (const [file, content] of Object.entries(legacyFiles)) {
    if (!existsSync(file)) continue;
    if (content.test(readFileSync(file, 'utf8'))) {
      rmSync(file);
      say(`purge: removed ${file} (written by an earlier lab)`);
    } else say(`purge: ${file} differs from what the lab wrote; left alone`);
  }
  if (existsSync(legacyDaemonJson)) {
    let config: unknown;
    try {
      config = JSON.parse(readFileSync(legacyDaemonJson, 'utf8'));
    } catch {
      config = undefined;
    }
    // the earlier lab's keys and nothing else: the file is the lab's; anything more is the owner's
    if (JSON.stringify(config) === JSON.stringify({ features: { 'containerd-snapshotter': true }, iptables: false, ip6tables: false })) {
      rmSync(legacyDaemonJson);
      say(`purge: removed ${legacyDaemonJson} (written by an earlier lab)`);
    } else say(`purge: ${legacyDaemonJson} holds more than the lab's keys; left alone`);
  }
}

/** Mounts under .lab (container and snapshot mounts a killed daemon left): unmounted before .lab is removed. */
function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((mountPoint): mountPoint is string => !!mountPoint && mountPoint.startsWith(`${dir}/`))
    .reverse();
  for (const mountPoint of mounts) tryRun(['umount', '-l', mountPoint]);
}

export function purge(): void {
  const state = readState();
  removeHosts();
  removeCaTrust([...registryNames, 'releases.lab.test']);
  for (const file of state.addedFiles) {
    rmSync(file, { force: true });
    say(`purge: removed ${file}`);
  }
  removeLegacyFiles();
  // dockerd makes its bridge and never removes it
  if (existsSync('/sys/class/net/docker0') && tryRun(['ip', 'link', 'delete', 'docker0']).code === 0)
    say('purge: removed the docker0 bridge');
  const installed = tryRun(['dpkg-query', '-W', '-f=${Package}\t${Status}\n', ...legacyPackages])
    .stdout.split('\n')
    .filter((line) => line.endsWith('install ok installed'))
    .map((line) => line.split('\t')[0]);
  if (installed.length > 0)
    say(`purge: left installed (the lab removes no package; an earlier lab may have installed them): ${installed.join(' ')}`);
  unmountUnder(labRoot);
  rmSync(labRoot, { recursive: true, force: true });
  // not through say(): its log file lives in .lab, which is gone now
  process.stdout.write(`purge: removed ${labRoot}\n`);
}
