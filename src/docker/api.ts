// Asking a daemon for its version: through the Engine API for unix and tcp endpoints (engine-ping.ts), through the
// docker CLI for ssh endpoints (the CLI owns ssh configuration, agents and known_hosts).
import { formatPlatform, platformOfMachine, type Platform, normalizePlatform } from '../platform/platform';
import { lastMeaningfulLine, type Runner } from '../process/exec';
import { pingAndVersion } from './engine-ping';
import type { DockerEndpoint } from './endpoint';
import type { DaemonAsker, DaemonInfo } from './probe';
import { versionMemo, type VersionMemo } from './version-memo';

export const DAEMON_TIMEOUT_MS = 10_000;

/** The environment for docker CLI calls: the dockerHost input travels as DOCKER_HOST, like `--host`. */
export function dockerCliEnv(endpoint: DockerEndpoint, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (endpoint.source !== 'input') return env;
  return { ...env, DOCKER_HOST: endpoint.host };
}

interface CliServerVersion {
  Version?: string;
  ApiVersion?: string;
  Os?: string;
  Arch?: string;
}

export function cliAsker(runner: Runner, env: NodeJS.ProcessEnv, timeoutMs: number = DAEMON_TIMEOUT_MS * 3): DaemonAsker {
  return async (endpoint) => {
    let result;
    try {
      result = await runner('docker', ['version', '--format', '{{json .Server}}'], { env: dockerCliEnv(endpoint, env), timeoutMs });
    } catch (error) {
      throw Object.assign(new Error(`the docker CLI, needed to reach ${endpoint.host}, could not be run: ${(error as Error).message}`), {
        code: 'NOCLI',
      });
    }
    const server = result.exitCode === 0 ? (JSON.parse(result.stdout.trim() || 'null') as CliServerVersion | null) : null;
    if (!server?.Version) {
      const reason = lastMeaningfulLine(result.stderr) ?? lastMeaningfulLine(result.stdout) ?? `exit code ${result.exitCode}`;
      throw Object.assign(new Error(reason), { code: result.timedOut ? 'ETIMEDOUT' : undefined });
    }
    return { version: server.Version, apiVersion: server.ApiVersion ?? '', os: server.Os ?? 'linux', arch: server.Arch ?? '' };
  };
}

/** GET /_ping and /version with node:http: what the task's fast path uses (see engine-ping.ts for why). */
export function engineAsker(timeoutMs: number = DAEMON_TIMEOUT_MS, memo?: VersionMemo): DaemonAsker {
  return async (endpoint) => {
    if (endpoint.kind === 'ssh') throw new Error(`BUG: ${endpoint.host} is reached through the docker CLI`);
    return pingAndVersion(endpoint, timeoutMs, memo);
  };
}

/** The asker an endpoint needs. */
export function daemonAsker(endpoint: DockerEndpoint, runner: Runner, env: NodeJS.ProcessEnv): DaemonAsker {
  return endpoint.kind === 'ssh' ? cliAsker(runner, env) : engineAsker(DAEMON_TIMEOUT_MS, versionMemo(env.AGENT_TOOLSDIRECTORY));
}

/** The server's platform, e.g. linux/amd64 or linux/arm/v7. */
export function serverPlatform(info: DaemonInfo): Platform {
  if (info.arch === 'arm' && info.machine) {
    try {
      return platformOfMachine(info.machine, info.os);
    } catch {
      // an unknown uname -m: fall back to what /version said
    }
  }
  return normalizePlatform({ os: info.os || 'linux', architecture: info.arch });
}

export const formatServerPlatform = (info: DaemonInfo): string => formatPlatform(serverPlatform(info));
