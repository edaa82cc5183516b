// Debian packages of the lab (lab-recipe.md): docker 26 from trixie (pinned low), the rest from bookworm.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { say } from './log';
import { run, tryRun } from './proc';

const trixieSourceFile = '/etc/apt/sources.list.d/trixie.sources';
const trixieSource = `Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
// keeps everything else on bookworm: without this pin a later upgrade would move the whole machine
const trixiePinFile = '/etc/apt/preferences.d/trixie-low';
const trixiePin = 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n';

/** Taken from trixie by name/suite; their other needs are met from bookworm. */
const fromTrixie = ['docker.io', 'docker-cli', 'docker-buildx', 'containerd'];
const fromBookworm = ['docker-registry', 'qemu-user-static', 'binfmt-support', 'busybox-static', 'openssl', 'ca-certificates'];
/** Debian 12's own docker.io is 20.10: single-platform builds only, so an older engine counts as missing. */
const minimumMajor: Record<string, number> = { 'docker.io': 26, 'docker-cli': 26 };

const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

function installedVersions(packages: string[]): Map<string, string> {
  const result = tryRun(['dpkg-query', '-W', '-f=${Package}\t${Status}\t${Version}\n', ...packages]);
  const versions = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const [name, status, version] = line.split('\t');
    if (name && status === 'install ok installed') versions.set(name, version);
  }
  return versions;
}

function upstreamMajor(debianVersion: string): number {
  const withoutEpoch = debianVersion.includes(':') ? debianVersion.slice(debianVersion.indexOf(':') + 1) : debianVersion;
  return Number.parseInt(withoutEpoch, 10);
}

/** Writes a file only when its content differs; true when it wrote. */
export function writeIfChanged(file: string, content: string, mode?: number): boolean {
  if (existsSync(file) && readFileSync(file, 'utf8') === content) return false;
  writeFileSync(file, content, { mode });
  return true;
}

/** Installs the missing packages; a no-op (one dpkg-query) when all are present. */
export function ensurePackages(): void {
  const versions = installedVersions([...fromTrixie, ...fromBookworm]);
  const missing = (name: string): boolean => {
    const version = versions.get(name);
    return version === undefined || upstreamMajor(version) < (minimumMajor[name] ?? 0);
  };
  const trixieMissing = fromTrixie.filter(missing);
  const bookwormMissing = fromBookworm.filter(missing);
  const sourceChanged = writeIfChanged(trixieSourceFile, trixieSource) || writeIfChanged(trixiePinFile, trixiePin);
  if (trixieMissing.length === 0 && bookwormMissing.length === 0) {
    say(`packages: present${sourceChanged ? ' (trixie source/pin rewritten)' : ''}`);
    return;
  }
  say(`packages: installing ${[...trixieMissing, ...bookwormMissing].join(' ')}`);
  run(['apt-get', 'update'], { env: aptEnv });
  // all four from trixie together, so they come from one suite (their versions depend on each other)
  if (trixieMissing.length > 0) run(['apt-get', 'install', '-y', ...fromTrixie.map((name) => `${name}/trixie`)], { env: aptEnv });
  if (bookwormMissing.length > 0) run(['apt-get', 'install', '-y', ...bookwormMissing], { env: aptEnv });
}

/** Downloads a package of another architecture (e.g. busybox-static:arm64) into dir; returns the .deb path. */
export function downloadForeignPackage(name: string, architecture: string, dir: string): string {
  const foreign = run(['dpkg', '--print-foreign-architectures']).split('\n').map((line) => line.trim());
  let updated = false;
  if (!foreign.includes(architecture)) {
    say(`packages: adding dpkg architecture ${architecture}`);
    run(['dpkg', '--add-architecture', architecture]);
    run(['apt-get', 'update'], { env: aptEnv });
    updated = true;
  }
  let download = tryRun(['apt-get', 'download', `${name}:${architecture}`], { cwd: dir, env: aptEnv });
  if (download.code !== 0 && !updated) {
    run(['apt-get', 'update'], { env: aptEnv }); // package lists of that architecture are missing or stale
    download = tryRun(['apt-get', 'download', `${name}:${architecture}`], { cwd: dir, env: aptEnv });
  }
  if (download.code !== 0) throw new Error(`apt-get download ${name}:${architecture} failed: ${download.stderr.trim().split('\n').pop()}`);
  const deb = readdirSync(dir).find((file) => file.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${name}:${architecture} left no .deb in ${dir}`);
  return path.join(dir, deb);
}
