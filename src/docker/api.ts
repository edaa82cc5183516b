// Asking a daemon for its version: through the Engine API (dockerode) for unix and tcp endpoints, through the
// docker CLI for ssh endpoints (the CLI owns ssh configuration, agents and known_hosts).
import { formatPlatform, platformOfMachine, type Platform, normalizePlatform } from '../platform/platform';
import { lastMeaningfulLine, type Runner } from '../process/exec';
import { createDockerClient } from './client';
import type { DockerEndpoint } from './endpoint';
import type { DaemonAsker, DaemonInfo } from './probe';

export const DAEMON_TIMEOUT_MS = 10_000;

/** The environment for docker CLI calls: the dockerHost input travels as DOCKER_HOST, like `--host`. */
export function dockerCliEnv(endpoint: DockerEndpoint, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (endpoint.source !== 'input') return env;
  return { ...env, DOCKER_HOST: endpoint.host };
}

class TimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} did not answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function apiAsker(timeoutMs: number = DAEMON_TIMEOUT_MS): DaemonAsker {
  return async (endpoint) => {
    const client = await createDockerClient(endpoint, timeoutMs + 1000);
    return withTimeout(
      (async () => {
        await client.ping();
        const v = await client.version();
        const info: DaemonInfo = { version: v.Version, apiVersion: v.ApiVersion, os: v.Os, arch: v.Arch };
        if (v.Arch === 'arm') info.machine = (await client.info()).Architecture;
        return info;
      })(),
      timeoutMs,
      `the daemon at ${endpoint.host}`,
    );
  };
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
      throw Object.assign(new Error(`the docker CLI, needed to reach ${endpoint.host}, could not be run: ${(error as Error).message}`), { code: 'NOCLI' });
    }
    const server = result.exitCode === 0 ? (JSON.parse(result.stdout.trim() || 'null') as CliServerVersion | null) : null;
    if (!server?.Version) {
      const reason = lastMeaningfulLine(result.stderr) ?? lastMeaningfulLine(result.stdout) ?? `exit code ${result.exitCode}`;
      throw Object.assign(new Error(reason), { code: result.timedOut ? 'ETIMEDOUT' : undefined });
    }
    return { version: server.Version, apiVersion: server.ApiVersion ?? '', os: server.Os ?? 'linux', arch: server.Arch ?? '' };
  };
}

/** The asker an endpoint needs. */
export function daemonAsker(endpoint: DockerEndpoint, runner: Runner, env: NodeJS.ProcessEnv): DaemonAsker {
  return endpoint.kind === 'ssh' ? cliAsker(runner, env) : apiAsker();
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
