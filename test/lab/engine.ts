// Where the lab's own engine lives: Debian packages unpacked under .lab/engine (never installed with dpkg), so the lab
// runs Docker 26 on a Debian 12 host without moving any of the host's packages (lab:up writes them, see setup/engine.ts).
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { labRoot } from './lab';

export const engineDir = path.join(labRoot, 'engine');
/** `dpkg-deb -x` of every host-architecture package below. */
export const engineRoot = path.join(engineDir, 'root');
/** The same packages for the foreign architecture (busybox-static:arm64). */
export const foreignRoot = path.join(engineDir, 'arm64');
/** Links to the daemons and their helpers: first on the PATH of everything the lab starts or tests. */
export const engineBin = path.join(engineDir, 'bin');
/** The engine's docker CLI: last on that PATH, so a docker the host has (this kind's 28 client) is used first. */
export const engineCli = path.join(engineDir, 'cli');

export interface EnginePackage {
  name: string;
  /** The Debian suite it is taken from, whatever the host runs. */
  suite: 'bookworm' | 'trixie';
  architecture: 'amd64' | 'arm64';
  /** Only these members of the package (tar paths); the whole package when absent. */
  members?: string[];
}

/** QEMU user emulators the tests run directly (test/integration/ensure-docker-qemu.test.ts) or register for builds. */
export const qemuEmulators = ['aarch64', 'arm', 'ppc64le', 's390x', 'riscv64', 'i386', 'x86_64'];

/**
 * Docker 26 and buildx from Debian 13, whose binaries need glibc 2.34 at most (Debian 12 has 2.36). runc from Debian 12:
 * Debian 13's needs glibc 2.38. The rest from Debian 12, which every host of this kind can run.
 */
export const enginePackages: EnginePackage[] = [
  { name: 'docker.io', suite: 'trixie', architecture: 'amd64' },
  { name: 'docker-cli', suite: 'trixie', architecture: 'amd64' },
  { name: 'docker-buildx', suite: 'trixie', architecture: 'amd64' },
  { name: 'containerd', suite: 'trixie', architecture: 'amd64' },
  { name: 'tini', suite: 'trixie', architecture: 'amd64' },
  { name: 'runc', suite: 'bookworm', architecture: 'amd64' },
  { name: 'docker-registry', suite: 'bookworm', architecture: 'amd64' },
  { name: 'busybox-static', suite: 'bookworm', architecture: 'amd64' },
  { name: 'busybox-static', suite: 'bookworm', architecture: 'arm64' },
  { name: 'debootstrap', suite: 'trixie', architecture: 'amd64' },
  {
    name: 'qemu-user-static',
    suite: 'bookworm',
    architecture: 'amd64',
    members: [
      ...qemuEmulators.map((emulator) => `./usr/bin/qemu-${emulator}-static`),
      // no rules for the host's own families (i386, x86_64): the kernel runs those natively
      ...qemuEmulators
        .filter((emulator) => !['i386', 'x86_64'].includes(emulator))
        .map((emulator) => `./usr/lib/binfmt.d/qemu-${emulator}.conf`),
    ],
  },
];

/** What engineBin links to, by the name the daemons look for on PATH. */
export const engineCommands: Record<string, string> = {
  dockerd: 'usr/sbin/dockerd',
  'docker-proxy': 'usr/sbin/docker-proxy',
  'docker-init': 'usr/bin/tini-static',
  containerd: 'usr/bin/containerd',
  'containerd-shim-runc-v2': 'usr/bin/containerd-shim-runc-v2',
  ctr: 'usr/bin/ctr',
  runc: 'usr/sbin/runc',
  'docker-registry': 'usr/bin/docker-registry',
  ...Object.fromEntries(qemuEmulators.map((emulator) => [`qemu-${emulator}-static`, `usr/bin/qemu-${emulator}-static`])),
};

export const engineFile = (relative: string): string => path.join(engineRoot, relative);
export const engineCommand = (name: string): string => path.join(engineBin, name);
export const buildxPlugin = engineFile('usr/libexec/docker/cli-plugins/docker-buildx');
export const engineDockerCli = engineFile('usr/bin/docker');
export const debootstrapCommand = engineFile('usr/sbin/debootstrap');
/** debootstrap run from where it was unpacked reads its scripts from here (DEBOOTSTRAP_DIR). */
export const debootstrapDir = engineFile('usr/share/debootstrap');

/** PATH for anything that talks to the lab's engine: the engine first, the host's own PATH, then the engine's CLI. */
export function labPath(hostPath: string = process.env.PATH ?? ''): string {
  const parts = hostPath.split(path.delimiter).filter((part) => part && part !== engineBin && part !== engineCli);
  return [engineBin, ...parts, engineCli].join(path.delimiter);
}

export const engineUnpacked = (): boolean => existsSync(engineCommand('dockerd'));
