// A private dockerd for BuildForPlatform's tests and bench, beside the lab's shared one (which is never reconfigured or
// pruned by a test): its own data root, exec root, socket and its own containerd (dockerd would otherwise join the
// system containerd's `moby` namespace, sharing images and leases with the lab's engine), so a test may prune its build cache
// (to prove the registry cache is what a warm build reuses) or run it on the classic image store (to prove the
// per-platform build + imagetools join). It gets a bridge of its own: with `"bridge": "none"` dockerd deletes the
// interface named docker0, which is the lab engine's, and every container of the lab loses its network.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface PrivateDaemon {
  /** DOCKER_HOST for docker and the task. */
  host: string;
  root: string;
  /** `docker builder prune -af` on this daemon only. */
  pruneBuildCache(): void;
  stop(): Promise<void>;
}

const docker = (host: string, args: string[]) =>
  spawnSync('docker', args, { env: { ...process.env, DOCKER_HOST: host }, encoding: 'utf8', timeout: 120_000 });

export async function startPrivateDaemon(options: { containerdImageStore: boolean }): Promise<PrivateDaemon> {
  // A short path: unix socket paths are limited to 108 bytes, containerd's go below exec-root.
  const root = mkdtempSync(path.join(os.tmpdir(), 'bfpd-'));
  const socket = path.join(root, 'docker.sock');
  const host = `unix://${socket}`;
  const bridge = `bfp${path
    .basename(root)
    .slice(-6)
    .replace(/[^a-z0-9]/gi, '')}`.slice(0, 15);
  const subnet = `172.30.${Math.floor(Math.random() * 200) + 20}`;
  for (const args of [
    ['link', 'add', 'name', bridge, 'type', 'bridge'],
    ['addr', 'add', `${subnet}.1/24`, 'dev', bridge],
    ['link', 'set', bridge, 'up'],
  ]) {
    const result = spawnSync('ip', args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${result.stderr}`);
  }
  const config = {
    iptables: false,
    ip6tables: false,
    bridge,
    ...(options.containerdImageStore ? { features: { 'containerd-snapshotter': true } } : {}),
  };
  writeFileSync(path.join(root, 'daemon.json'), JSON.stringify(config));
  mkdirSync(path.join(root, 'data'));
  // containerd of its own; no CRI plugin (it would open ports nobody here needs).
  const containerdSocket = path.join(root, 'containerd.sock');
  writeFileSync(path.join(root, 'containerd.toml'), 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
  const containerd = spawn(
    'containerd',
    [
      '--config',
      path.join(root, 'containerd.toml'),
      '--address',
      containerdSocket,
      '--root',
      path.join(root, 'containerd'),
      '--state',
      path.join(root, 'containerd-state'),
    ],
    { stdio: ['ignore', 'ignore', 'ignore'], detached: true },
  );
  containerd.unref();
  for (const until = Date.now() + 30_000; !existsSync(containerdSocket);) {
    if (Date.now() > until || containerd.exitCode !== null) {
      containerd.kill('SIGKILL');
      throw new Error(`the private containerd did not start (see ${root})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const child = spawn(
    'dockerd',
    [
      '--containerd',
      containerdSocket,
      '--config-file',
      path.join(root, 'daemon.json'),
      '--data-root',
      path.join(root, 'data'),
      '--exec-root',
      path.join(root, 'exec'),
      '--pidfile',
      path.join(root, 'docker.pid'),
      '--host',
      host,
    ],
    { stdio: ['ignore', 'ignore', 'ignore'], detached: true },
  );
  child.unref();
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (existsSync(socket) && docker(host, ['version', '--format', '{{.Server.Version}}']).status === 0) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      containerd.kill('SIGKILL');
      throw new Error(`the private dockerd did not start (see ${root})`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    host,
    root,
    pruneBuildCache: () => {
      const result = docker(host, ['builder', 'prune', '--all', '--force']);
      if (result.status !== 0) throw new Error(`docker builder prune failed: ${result.stderr}`);
    },
    stop: async () => {
      const pid = Number(readFileSync(path.join(root, 'docker.pid'), 'utf8').trim() || child.pid);
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        try {
          process.kill(pid, 0);
          await new Promise((r) => setTimeout(r, 200));
        } catch {
          break;
        }
      }
      try {
        process.kill(containerd.pid as number, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 500));
      // overlay mounts of the private data root go with it, deepest first
      const mounts = readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((line) => line.split(' ')[1])
        .filter((mount): mount is string => !!mount && mount.startsWith(root))
        .sort()
        .reverse();
      for (const mount of mounts) spawnSync('umount', ['-l', mount]);
      spawnSync('ip', ['link', 'del', bridge]);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
