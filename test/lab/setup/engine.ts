// The lab's engine from unpacked Debian packages (test/lab/engine.ts says which): downloaded by the lab's own apt,
// unpacked with dpkg-deb under .lab/engine, linked into .lab/engine/bin. Present already: one file read, no apt.
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  engineBin,
  engineCli,
  engineCommands,
  engineDir,
  engineDockerCli,
  engineFile,
  enginePackages,
  engineRoot,
  foreignRoot,
  type EnginePackage,
} from '../engine';
import { downloadDeb } from './apt';
import { say } from './log';
import { run, tryRun } from './proc';

const manifestFile = path.join(engineDir, 'packages.json');
const packageKey = (pkg: EnginePackage): string =>
  `${pkg.name}:${pkg.architecture}/${pkg.suite}${pkg.members ? `[${pkg.members.join(',')}]` : ''}`;
const rootOf = (pkg: EnginePackage): string => (pkg.architecture === 'amd64' ? engineRoot : foreignRoot);

/** package key -> the .deb file it was unpacked from */
type Manifest = Record<string, string>;

function readManifest(): Manifest {
  try {
    return JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  } catch {
    return {};
  }
}

function unpack(deb: string, pkg: EnginePackage): void {
  const root = rootOf(pkg);
  mkdirSync(root, { recursive: true });
  if (!pkg.members) {
    run(['dpkg-deb', '-x', deb, root]);
    return;
  }
  // only some members (qemu-user-static holds 40 emulators, 400 MB unpacked): the data tar through tar
  const script = 'set -o pipefail; deb=$1 root=$2; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$root" "$@"';
  const data = tryRun(['bash', '-c', script, 'unpack', deb, root, ...pkg.members]);
  if (data.code !== 0) throw new Error(`unpacking ${pkg.members.join(' ')} from ${deb} failed: ${data.stderr.trim()}`);
}

/** Shared libraries a binary needs that this host does not have (the unpacked packages bring none). */
function missingLibraries(file: string): string[] {
  const result = tryRun(['ldd', file]);
  return result.stdout
    .split('\n')
    .filter((line) => line.includes('=> not found'))
    .map((line) => line.trim().split(/\s+/)[0]);
}

function link(name: string, target: string, dir: string): void {
  const file = path.join(dir, name);
  rmSync(file, { force: true });
  symlinkSync(target, file);
}

/** Downloads and unpacks whatever package is missing or changed, then (re)links the commands. */
export function ensureEngine(): void {
  const manifest = readManifest();
  const wanted = enginePackages.filter((pkg) => !manifest[packageKey(pkg)] || !existsSync(rootOf(pkg)));
  const linksPresent =
    Object.keys(engineCommands).every((name) => existsSync(path.join(engineBin, name))) && existsSync(path.join(engineCli, 'docker'));
  if (wanted.length === 0 && linksPresent) {
    say('engine: present (.lab/engine, unpacked Debian packages)');
    return;
  }
  const suites = [...new Set(enginePackages.map((pkg) => pkg.suite))];
  for (const pkg of wanted) {
    const deb = downloadDeb(pkg.name, pkg.suite, pkg.architecture, suites);
    say(`engine: unpacking ${path.basename(deb)} into ${path.relative(process.cwd(), rootOf(pkg)) || rootOf(pkg)}`);
    unpack(deb, pkg);
    manifest[packageKey(pkg)] = path.basename(deb);
    mkdirSync(engineDir, { recursive: true });
    writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  }
  mkdirSync(engineBin, { recursive: true });
  mkdirSync(engineCli, { recursive: true });
  for (const [name, relative] of Object.entries(engineCommands)) {
    const target = engineFile(relative);
    if (!existsSync(target)) throw new Error(`engine: ${relative} is not in the unpacked packages (${engineRoot})`);
    link(name, target, engineBin);
  }
  link('docker', engineDockerCli, engineCli);
  const missing = ['dockerd', 'containerd', 'runc', 'docker-registry'].flatMap((name) =>
    missingLibraries(path.join(engineBin, name)).map((lib) => `${name} needs ${lib}`),
  );
  if (missing.length > 0)
    throw new Error(`engine: this host lacks shared libraries: ${missing.join(', ')} (install the Debian packages that hold them)`);
  say('engine: ready (.lab/engine/bin first on the PATH of the lab and of the tests)');
}
