// The long-running processes of the lab: containerd, dockerd, the registry and the emulators.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { buildxPlugin, engineCommand, labPath } from '../engine';
import { labNodeEnv, labRoot, repoRoot, type Lab } from '../lab';
import { say } from './log';
import {
  commandLine,
  httpGet,
  isAlive,
  logTail,
  pidFile,
  runningPid,
  startDetached,
  stopProcess,
  systemPath,
  tryRun,
  waitUntil,
  writeIfChanged,
  type LabProcess,
} from './proc';
import { readState, writeState } from './state';

const containerdSocket = '/run/containerd/containerd.sock';
const dockerSocket = '/var/run/docker.sock';
export const backingRegistry = '127.0.0.1:5000';
export const controlUrl = 'http://127.0.0.1:8089';
export const emulatorsMain = path.join(repoRoot, 'test', 'lab', 'emulators', 'main.ts');
const emulatorsDir = path.dirname(emulatorsMain);
const registryConfig = path.join(labRoot, 'registry', 'config.yml');
export const registryData = path.join(labRoot, 'registry-data');
/** The engine's configuration and data live in .lab too: /etc/docker/daemon.json and /var/lib/docker stay the host's. */
const dockerDir = path.join(labRoot, 'docker');
const daemonJson = path.join(dockerDir, 'daemon.json');
const containerdDir = path.join(labRoot, 'containerd');
const containerdConfig = path.join(containerdDir, 'config.toml');
/** Where the host's docker CLI finds a plugin (when it finds none of its own). */
const hostBuildxPlugin = '/usr/local/libexec/docker/cli-plugins/docker-buildx';

const basename = (argv: string[]): string => path.basename(argv[0] ?? '');
/** This checkout's daemons are started by the path of their link in .lab/engine/bin: a daemon of another install is not ours. */
const startedFromEngine = (name: string) => (argv: string[]) => argv[0] === engineCommand(name);

export const containerd: LabProcess = { name: 'containerd', matches: startedFromEngine('containerd') };
export const dockerd: LabProcess = { name: 'dockerd', matches: startedFromEngine('dockerd') };
export const registry: LabProcess = {
  name: 'registry',
  matches: (argv) => startedFromEngine('docker-registry')(argv) && argv.includes('serve'),
};
export const emulators: LabProcess = { name: 'emulators', matches: (argv) => argv.includes(emulatorsMain) };

/**
 * Daemons get a fixed, minimal environment (the caller's TLS or proxy variables must not change what they trust), with
 * the engine first on PATH: containerd finds its shim and runc there, dockerd docker-proxy and docker-init.
 */
const daemonEnv: NodeJS.ProcessEnv = { PATH: labPath(systemPath), HOME: '/root', LANG: 'C.UTF-8' };
/** For the docker CLI run by lab:up: the host's docker first, else the engine's. */
const cliEnv = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: labPath(`${process.env.PATH ?? ''}:${systemPath}`) });

export type Owner = 'lab' | 'foreign' | 'down';

function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export const probes = {
  containerd: (): Promise<boolean> => socketAnswers(containerdSocket),
  dockerd: async (): Promise<boolean> => (await httpGet('http://docker/_ping', { socketPath: dockerSocket }))?.status === 200,
  registry: async (): Promise<boolean> => (await httpGet(`http://${backingRegistry}/v2/`))?.status === 200,
  emulators: async (): Promise<boolean> => (await httpGet(`${controlUrl}/_lab/health`))?.status === 200,
};

export async function owner(processSpec: LabProcess, probe: () => Promise<boolean>): Promise<Owner> {
  if (runningPid(processSpec) !== undefined) return 'lab';
  return (await probe()) ? 'foreign' : 'down';
}

/** Starts a daemon and waits for its probe; on failure the error carries the end of its log. */
async function start(
  processSpec: LabProcess,
  argv: string[],
  probe: () => Promise<boolean>,
  timeoutMs: number,
  env = daemonEnv,
): Promise<void> {
  const pid = startDetached(processSpec, argv, { env, cwd: repoRoot });
  try {
    await waitUntil(
      `${processSpec.name} to answer`,
      async () => {
        if (!isAlive(pid)) throw new Error(`${processSpec.name} exited right after starting`);
        return probe();
      },
      timeoutMs,
    );
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\n--- ${path.relative(repoRoot, `.lab/logs/${processSpec.name}.log`)} ---\n${logTail(processSpec.name)}`,
    );
  }
  say(`${processSpec.name}: started (pid ${pid})`);
}

export async function ensureContainerd(): Promise<void> {
  mkdirSync(containerdDir, { recursive: true });
  // no CRI plugin: nothing here is Kubernetes, and it would open ports of its own
  writeIfChanged(
    containerdConfig,
    `version = 2\nroot = ${JSON.stringify(path.join(containerdDir, 'root'))}\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n`,
  );
  const current = await owner(containerd, probes.containerd);
  if (current === 'foreign') say('containerd: already running, not started by the lab (left alone)');
  if (current !== 'down') return;
  await start(containerd, [engineCommand('containerd'), '--config', containerdConfig], probes.containerd, 30_000);
}

/**
 * containerd image store (multi-platform builds, registry cache export with the docker driver) and no iptables
 * (containers get no NAT route out). True when it changed.
 */
export function ensureDaemonJson(): boolean {
  mkdirSync(dockerDir, { recursive: true });
  const config = { features: { 'containerd-snapshotter': true }, iptables: false, ip6tables: false };
  return writeIfChanged(daemonJson, `${JSON.stringify(config, null, 2)}\n`);
}

/** `restart`: the CA or daemon.json changed, so a running dockerd must be started again to see it. */
export async function ensureDockerd(restart: boolean): Promise<void> {
  const current = await owner(dockerd, probes.dockerd);
  if (current === 'foreign') {
    if (restart) say('dockerd: WARNING: running but not started by the lab; restart it yourself so it sees the new CA / daemon.json');
    else say('dockerd: already running, not started by the lab (left alone)');
    return;
  }
  // dockerd creates its default bridge only when it starts; containers cannot start once docker0 is gone
  const bridgeMissing = current === 'lab' && !existsSync('/sys/class/net/docker0');
  if (current === 'lab' && !restart && !bridgeMissing) return;
  if (current === 'lab') {
    say(`dockerd: restarting (${restart ? 'CA or daemon.json changed' : 'the docker0 bridge is missing'})`);
    await stopProcess(dockerd, 60_000);
  }
  const argv = [
    engineCommand('dockerd'),
    '--containerd',
    containerdSocket,
    '--config-file',
    daemonJson,
    '--data-root',
    path.join(dockerDir, 'data'),
  ];
  await start(dockerd, argv, probes.dockerd, 60_000);
}

/**
 * The docker CLI finds plugins only in fixed directories: when the host's CLI finds no buildx, the engine's is copied
 * to /usr/local/libexec/docker/cli-plugins (recorded; `lab:down --purge` removes it).
 */
export function ensureBuildxPlugin(): void {
  if (tryRun(['docker', 'buildx', 'version'], { env: cliEnv() }).code === 0) return;
  if (existsSync(hostBuildxPlugin)) throw new Error(`${hostBuildxPlugin} exists but \`docker buildx version\` fails; remove or fix it`);
  say(`buildx: the docker CLI finds no buildx plugin; copying the lab's to ${hostBuildxPlugin}`);
  mkdirSync(path.dirname(hostBuildxPlugin), { recursive: true });
  copyFileSync(buildxPlugin, hostBuildxPlugin);
  chmodSync(hostBuildxPlugin, 0o755);
  const state = readState();
  if (!state.addedFiles.includes(hostBuildxPlugin)) writeState({ ...state, addedFiles: [...state.addedFiles, hostBuildxPlugin] });
}

export interface DockerVersions {
  serverVersion: string;
  buildxVersion: string;
}

/** Checks what the lab promises: engine >= 26 with the containerd image store, and buildx. */
export function dockerVersions(): DockerVersions {
  const server = tryRun(['docker', 'version', '--format', '{{.Server.Version}}'], { env: cliEnv() });
  if (server.code !== 0) throw new Error(`docker version failed: ${server.stderr.trim()}`);
  const serverVersion = server.stdout.trim();
  if (Number.parseInt(serverVersion, 10) < 26) throw new Error(`docker server ${serverVersion} is older than 26`);
  const driver = tryRun(['docker', 'info', '--format', '{{json .DriverStatus}}'], { env: cliEnv() }).stdout;
  if (!driver.includes('io.containerd.snapshotter')) {
    throw new Error(
      `dockerd does not use the containerd image store (DriverStatus ${driver.trim()}); a dockerd the lab did not start answers on ${dockerSocket}: stop it, or give it "features": {"containerd-snapshotter": true}`,
    );
  }
  const buildx = tryRun(['docker', 'buildx', 'version'], { env: cliEnv() });
  const buildxVersion = /v?(\d+\.\d+\.\d+)/.exec(buildx.stdout)?.[1];
  if (buildx.code !== 0 || !buildxVersion) throw new Error(`docker buildx is missing: ${buildx.stderr.trim()}`);
  return { serverVersion, buildxVersion };
}

export async function ensureRegistry(): Promise<void> {
  mkdirSync(path.dirname(registryConfig), { recursive: true });
  mkdirSync(registryData, { recursive: true });
  const configChanged = writeIfChanged(
    registryConfig,
    [
      'version: 0.1',
      'log: { level: info }',
      `storage: { filesystem: { rootdirectory: ${JSON.stringify(registryData)} }, delete: { enabled: true } }`,
      `http: { addr: ${JSON.stringify(backingRegistry)} }`,
      '',
    ].join('\n'),
  );
  const current = await owner(registry, probes.registry);
  if (current === 'foreign') say(`registry: something not started by the lab already answers on ${backingRegistry} (left alone)`);
  if (current === 'foreign' || (current === 'lab' && !configChanged)) return;
  if (current === 'lab') await stopProcess(registry, 10_000);
  await start(registry, [engineCommand('docker-registry'), 'serve', registryConfig], probes.registry, 20_000);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(file) : statSync(file).mtimeMs);
  }
  return newest;
}

export type EmulatorsResult = 'up' | 'started' | 'missing' | 'foreign';

/**
 * Starts the emulator process unless it is up. It is restarted when lab.json changed or its code is newer
 * than the running process, so lab:up after an edit serves the new code.
 */
export async function ensureEmulators(lab: Lab, labJsonChanged: boolean): Promise<EmulatorsResult> {
  if (!existsSync(emulatorsMain)) {
    say(
      `emulators: NOT STARTED: ${path.relative(repoRoot, emulatorsMain)} does not exist yet (ACR / Entra ID / Azure DevOps / IMDS / control API are missing)`,
    );
    return 'missing';
  }
  const current = await owner(emulators, probes.emulators);
  if (current === 'foreign') {
    say(`emulators: something not started by the lab already answers on ${controlUrl} (left alone)`);
    return 'foreign';
  }
  if (current === 'lab') {
    const startedAt = statSync(pidFile(emulators.name)).mtimeMs;
    const stale = labJsonChanged || newestMtime(emulatorsDir) > startedAt;
    if (!stale && (await probes.emulators())) return 'up';
    say(`emulators: restarting (${stale ? 'code or lab.json changed' : 'health check fails'})`);
    await stopProcess(emulators, 10_000);
  }
  const env = { ...process.env, ...labNodeEnv(lab) };
  await start(emulators, [process.execPath, '--require', 'tsx/cjs', emulatorsMain], probes.emulators, 60_000, env);
  return 'started';
}

export async function restartEmulators(lab: Lab): Promise<EmulatorsResult> {
  await stopProcess(emulators, 10_000);
  return ensureEmulators(lab, false);
}

/** Stops one lab process; says so. */
export async function stop(processSpec: LabProcess, graceMs: number): Promise<number | undefined> {
  const pid = await stopProcess(processSpec, graceMs);
  if (pid !== undefined) say(`${processSpec.name}: stopped (pid ${pid})`);
  return pid;
}

/**
 * containerd shims of the lab's containerd that outlived it (a container dockerd could not stop).
 * Picked by their exact executable and the lab's containerd socket, never by a name alone.
 */
export function leftoverShims(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = commandLine(Number(entry));
    if (/^containerd-shim(-runc-v2)?$/.test(basename(argv)) && argv.includes(containerdSocket)) pids.push(Number(entry));
  }
  return pids;
}
