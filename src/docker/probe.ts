// What is there before anything is done: the docker CLI, the buildx and compose plugins, and a daemon that answers.
// The four probes are independent and run at the same time; on an agent that has everything this is the
// whole cost of the task, so nothing here loads or runs more than it must: a tool file unchanged since an earlier job
// on this agent is not run again to read its version (version-memo.ts).
import { accessSync, constants, statSync } from 'node:fs';
import * as path from 'node:path';
import { lastMeaningfulLine, type Runner } from '../process/exec';
import { type DockerEndpoint, dockerConfigDir, type EndpointEnvironment } from './endpoint';
import { parseBuildxVersion, parseComposeVersion, parseDockerCliVersion, versionAtLeast } from './version';
import { versionMemo } from './version-memo';

export interface ToolProbe {
  /** Where the executable was found (undefined when it was not). */
  path?: string;
  /** Set when the tool ran and printed a version: the tool is usable. */
  version?: string;
  /** Why a tool that was found is not usable. */
  problem?: string;
}

export interface DaemonInfo {
  version: string;
  apiVersion: string;
  os: string;
  arch: string;
  /** uname -m of the server, asked only for 32-bit arm (whose variant /version does not tell). */
  machine?: string;
}

export interface DaemonFailure {
  /** Node's error code (ENOENT, EACCES, ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT, ...) or ETIMEDOUT for our timeout. */
  code?: string;
  /** HTTP status of an answer that was not the daemon's success. */
  statusCode?: number;
  message: string;
}

export type DaemonProbe = { ok: true; info: DaemonInfo } | { ok: false; failure: DaemonFailure };

export interface ProbeResult {
  cli: ToolProbe;
  buildx: ToolProbe;
  compose: ToolProbe;
  daemon: DaemonProbe;
}

/** Asks the daemon at an endpoint for its version; implemented over the Engine API (api.ts) or the CLI (ssh). */
export type DaemonAsker = (endpoint: DockerEndpoint) => Promise<DaemonInfo>;

export const TOOL_TIMEOUT_MS = 30_000;

export function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `which`: the first executable of that name on PATH. */
export function findOnPath(
  name: string,
  pathValue: string | undefined,
  exists: (file: string) => boolean = isExecutableFile,
): string | undefined {
  for (const dir of (pathValue ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (exists(candidate)) return candidate;
  }
  return undefined;
}

/** The system directories the docker CLI searches for plugins on Linux, after the user's. */
export const SYSTEM_PLUGIN_DIRS = [
  '/usr/local/lib/docker/cli-plugins',
  '/usr/local/libexec/docker/cli-plugins',
  '/usr/lib/docker/cli-plugins',
  '/usr/libexec/docker/cli-plugins',
];

/** The plugin directories in the CLI's order: config.json's cliPluginsExtraDirs, <config dir>/cli-plugins, then the system's. */
export function cliPluginDirs(environment: EndpointEnvironment): string[] {
  const configDir = dockerConfigDir(environment);
  let extra: string[] = [];
  const text = environment.readFile(path.join(configDir, 'config.json'));
  if (text) {
    try {
      const parsed = JSON.parse(text) as { cliPluginsExtraDirs?: unknown };
      if (Array.isArray(parsed.cliPluginsExtraDirs)) extra = parsed.cliPluginsExtraDirs.filter((d): d is string => typeof d === 'string');
    } catch {
      // A broken config.json is the CLI's to report; plugins are then looked up in the usual places.
    }
  }
  return [...extra, path.join(configDir, 'cli-plugins'), ...SYSTEM_PLUGIN_DIRS];
}

/** The first plugin of that name in the CLI's plugin directories, as the CLI would find it. */
export function findPlugin(
  environment: EndpointEnvironment,
  name: 'docker-buildx' | 'docker-compose',
  exists: (file: string) => boolean = isExecutableFile,
): string | undefined {
  return cliPluginDirs(environment)
    .map((dir) => path.join(dir, name))
    .find((file) => exists(file));
}

export function findBuildxPlugin(
  environment: EndpointEnvironment,
  exists: (file: string) => boolean = isExecutableFile,
): string | undefined {
  return findPlugin(environment, 'docker-buildx', exists);
}

async function versionOf(
  runner: Runner,
  file: string,
  args: string[],
  parse: (text: string) => string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<ToolProbe> {
  const memo = versionMemo(env.AGENT_TOOLSDIRECTORY);
  const remembered = memo.recall(file, args);
  if (remembered) return { path: file, version: remembered };
  try {
    const result = await runner(file, args, { env, timeoutMs: TOOL_TIMEOUT_MS });
    const version = result.exitCode === 0 ? parse(result.stdout) : undefined;
    if (version) {
      memo.remember(file, args, version);
      return { path: file, version };
    }
    const said = lastMeaningfulLine(result.stderr) ?? lastMeaningfulLine(result.stdout) ?? `exit code ${result.exitCode}`;
    return { path: file, problem: `\`${[path.basename(file), ...args].join(' ')}\` did not print a version: ${said}` };
  } catch (error) {
    // ENOEXEC and friends: a binary for another architecture, or a broken file.
    return { path: file, problem: `${file} could not be run: ${(error as Error).message}` };
  }
}

export function probeCli(runner: Runner, environment: EndpointEnvironment): Promise<ToolProbe> {
  const file = findOnPath('docker', environment.env.PATH);
  if (!file) return Promise.resolve({});
  return versionOf(runner, file, ['--version'], parseDockerCliVersion, environment.env);
}

/** The plugin is run directly (`docker-buildx version`): the same binary the CLI would run, without the CLI's plugin scan. */
export function probeBuildx(runner: Runner, environment: EndpointEnvironment): Promise<ToolProbe> {
  const file = findBuildxPlugin(environment);
  if (!file) return Promise.resolve({});
  return versionOf(runner, file, ['version'], parseBuildxVersion, environment.env);
}

/** Compose v2 is the CLI plugin (`docker compose`); a v1 found where plugins live does not count. */
export const COMPOSE_V2 = '2.0.0';

/** `docker-compose version`, the plugin run directly like buildx: what `docker compose version` prints, without the CLI's scan. */
export async function probeCompose(runner: Runner, environment: EndpointEnvironment): Promise<ToolProbe> {
  const file = findPlugin(environment, 'docker-compose');
  if (!file) return {};
  const probe = await versionOf(runner, file, ['version'], parseComposeVersion, environment.env);
  if (probe.version && !versionAtLeast(probe.version, COMPOSE_V2))
    return { path: file, problem: `${file} is compose ${probe.version} (v1); \`docker compose\` needs compose v2` };
  return probe;
}

export function daemonFailure(error: unknown): DaemonFailure {
  const e = error as { code?: unknown; statusCode?: unknown; message?: unknown; json?: unknown };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const statusCode = typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  const message = typeof e?.message === 'string' && e.message ? e.message : String(error);
  return { code, statusCode, message };
}

export async function probeDaemon(ask: DaemonAsker, endpoint: DockerEndpoint): Promise<DaemonProbe> {
  try {
    return { ok: true, info: await ask(endpoint) };
  } catch (error) {
    return { ok: false, failure: daemonFailure(error) };
  }
}

export interface ToolProbes {
  cli: Promise<ToolProbe>;
  buildx: Promise<ToolProbe>;
  compose: Promise<ToolProbe>;
}

/** Starts the CLI and plugin probes; they need no input, so the task starts them before anything else loads. */
export function startToolProbes(runner: Runner, environment: EndpointEnvironment): ToolProbes {
  // The larger binaries first: they take longest to answer. All run at once, so compose adds no wait of its own.
  const compose = probeCompose(runner, environment);
  const buildx = probeBuildx(runner, environment);
  return { cli: probeCli(runner, environment), buildx, compose };
}

/** The four probes at the same time (the tool probes possibly started earlier). */
export async function probeAll(
  runner: Runner,
  environment: EndpointEnvironment,
  endpoint: DockerEndpoint,
  ask: DaemonAsker,
  started?: ToolProbes,
): Promise<ProbeResult> {
  const tools = started ?? startToolProbes(runner, environment);
  const daemon = probeDaemon(ask, endpoint);
  return { cli: await tools.cli, buildx: await tools.buildx, compose: await tools.compose, daemon: await daemon };
}
