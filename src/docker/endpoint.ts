// Which daemon the docker CLI (and so every later step) talks to, resolved the way the CLI resolves it:
// the dockerHost input (like `--host`), then DOCKER_HOST, then DOCKER_CONTEXT, then config.json's currentContext,
// then the default socket. TLS material follows DOCKER_TLS_VERIFY/DOCKER_TLS/DOCKER_CERT_PATH or the context's store.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const DEFAULT_SOCKET = '/var/run/docker.sock';
export const DEFAULT_HOST = `unix://${DEFAULT_SOCKET}`;

export type EndpointSource = 'input' | 'DOCKER_HOST' | 'DOCKER_CONTEXT' | 'currentContext' | 'default';

export interface TlsMaterial {
  /** Verify the server's certificate (DOCKER_TLS_VERIFY, or a context without SkipTLSVerify). */
  verify: boolean;
  /** Where the files came from, for messages. */
  dir?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

export type DockerEndpoint =
  | { kind: 'unix'; host: string; socketPath: string; source: EndpointSource; context?: string }
  | { kind: 'tcp'; host: string; hostname: string; port: number; tls?: TlsMaterial; source: EndpointSource; context?: string }
  | { kind: 'ssh'; host: string; source: EndpointSource; context?: string };

/** The file system and environment an endpoint is resolved from; tests hand in their own. */
export interface EndpointEnvironment {
  env: NodeJS.ProcessEnv;
  readFile(file: string): string | undefined;
  homeDir: string;
}

export const processEnvironment = (env: NodeJS.ProcessEnv = process.env): EndpointEnvironment => ({
  env,
  readFile: (file) => (existsSync(file) ? readFileSync(file, 'utf8') : undefined),
  homeDir: os.homedir(),
});

const SUPPORTED_SCHEMES = ['unix', 'tcp', 'ssh'];

/**
 * Parses a daemon address as DOCKER_HOST and `--host` take it. Throws with the reason and the fix, so that
 * the dockerHost input parser can name the input.
 */
export function parseDockerHost(
  value: string,
): { kind: 'unix'; socketPath: string } | { kind: 'tcp'; hostname: string; port: number; tlsPort: boolean } | { kind: 'ssh' } {
  const text = value.trim();
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(text);
  if (!match) throw new Error(`'${text}' is not a daemon address. Write unix:///var/run/docker.sock, tcp://host:2376 or ssh://user@host.`);
  const scheme = match[1].toLowerCase();
  const rest = match[2];
  if (!SUPPORTED_SCHEMES.includes(scheme)) {
    const hint =
      scheme === 'http' || scheme === 'https'
        ? ' For a TCP daemon write tcp://host:port (TLS comes from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH).'
        : '';
    throw new Error(`the scheme '${scheme}' of '${text}' is not supported on a Linux agent. Use unix://, tcp:// or ssh://.${hint}`);
  }
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) throw new Error(`'${text}' must name an absolute socket path, for example unix:///var/run/docker.sock.`);
    return { kind: 'unix', socketPath: rest };
  }
  if (scheme === 'ssh') {
    if (!rest) throw new Error(`'${text}' names no host. Write ssh://user@host.`);
    return { kind: 'ssh' };
  }
  const hostPort = /^(\[[0-9a-f:.]+\]|[^:/\s[\]]+)(?::(\d+))?\/?$/i.exec(rest);
  if (!hostPort) throw new Error(`'${text}' is not host:port. Write tcp://host:2376.`);
  const hostname = hostPort[1].replace(/^\[|\]$/g, '');
  // The CLI's defaults: 2376 with TLS, 2375 without; we pick once TLS settings are known.
  const port = hostPort[2] === undefined ? undefined : Number(hostPort[2]);
  if (port !== undefined && (port < 1 || port > 65535)) throw new Error(`'${text}' has port ${port}, outside 1-65535.`);
  return { kind: 'tcp', hostname, port: port ?? 0, tlsPort: port === undefined };
}

export function dockerConfigDir(environment: EndpointEnvironment): string {
  return environment.env.DOCKER_CONFIG || path.join(environment.homeDir, '.docker');
}

interface ContextMeta {
  Name?: string;
  Endpoints?: { docker?: { Host?: string; SkipTLSVerify?: boolean } };
}

/** The directory name the CLI's context store gives a context: the sha256 of its name. */
export function contextStoreId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

function readJson<T>(environment: EndpointEnvironment, file: string, what: string): T | undefined {
  const text = environment.readFile(file);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`${what} ${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function tlsFromDir(environment: EndpointEnvironment, dir: string, verify: boolean): TlsMaterial {
  const read = (file: string) => environment.readFile(path.join(dir, file));
  return { verify, dir, ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
}

function endpointFromHost(host: string, source: EndpointSource, tls: TlsMaterial | undefined, context?: string): DockerEndpoint {
  const parsed = parseDockerHost(host);
  if (parsed.kind === 'unix') return { kind: 'unix', host, socketPath: parsed.socketPath, source, context };
  if (parsed.kind === 'ssh') return { kind: 'ssh', host, source, context };
  const port = parsed.tlsPort ? (tls ? 2376 : 2375) : parsed.port;
  return { kind: 'tcp', host, hostname: parsed.hostname, port, tls, source, context };
}

/** TLS settings from the environment, as the CLI reads them for DOCKER_HOST and --host. */
function tlsFromEnvironment(environment: EndpointEnvironment): TlsMaterial | undefined {
  const { env } = environment;
  // The CLI treats any non-empty value as "on", even "0".
  const verify = !!env.DOCKER_TLS_VERIFY;
  if (!verify && !env.DOCKER_TLS) return undefined;
  return tlsFromDir(environment, env.DOCKER_CERT_PATH || dockerConfigDir(environment), verify);
}

/** Resolves the endpoint; `dockerHost` is the task input (already validated), undefined when not set. */
export function resolveEndpoint(environment: EndpointEnvironment, dockerHost?: string): DockerEndpoint {
  const { env } = environment;
  if (dockerHost) return endpointFromHost(dockerHost, 'input', tlsFromEnvironment(environment));
  if (env.DOCKER_HOST) {
    try {
      return endpointFromHost(env.DOCKER_HOST, 'DOCKER_HOST', tlsFromEnvironment(environment));
    } catch (error) {
      throw new Error(`DOCKER_HOST: ${(error as Error).message}`);
    }
  }
  const configDir = dockerConfigDir(environment);
  let contextName = env.DOCKER_CONTEXT;
  let source: EndpointSource = 'DOCKER_CONTEXT';
  if (!contextName) {
    const config = readJson<{ currentContext?: string }>(environment, path.join(configDir, 'config.json'), 'docker config');
    contextName = config?.currentContext;
    source = 'currentContext';
  }
  if (!contextName || contextName === 'default') return endpointFromHost(DEFAULT_HOST, 'default', undefined);

  const id = contextStoreId(contextName);
  const metaFile = path.join(configDir, 'contexts', 'meta', id, 'meta.json');
  const meta = readJson<ContextMeta>(environment, metaFile, `docker context '${contextName}'`);
  const origin = source === 'DOCKER_CONTEXT' ? 'DOCKER_CONTEXT' : `currentContext in ${path.join(configDir, 'config.json')}`;
  if (!meta) {
    throw new Error(
      `docker context '${contextName}' (from ${origin}) does not exist: ${metaFile} was not found. Create it with \`docker context create\` or unset ${source === 'DOCKER_CONTEXT' ? 'DOCKER_CONTEXT' : 'currentContext'}.`,
    );
  }
  const docker = meta.Endpoints?.docker;
  if (!docker?.Host) throw new Error(`docker context '${contextName}' (${metaFile}) has no docker endpoint host.`);
  const tlsDir = path.join(configDir, 'contexts', 'tls', id, 'docker');
  const material = tlsFromDir(environment, tlsDir, !docker.SkipTLSVerify);
  const hasTls = !!(material.ca || material.cert || material.key) || docker.SkipTLSVerify === true;
  try {
    return endpointFromHost(docker.Host, source, hasTls ? material : undefined, contextName);
  } catch (error) {
    throw new Error(`docker context '${contextName}': ${(error as Error).message}`);
  }
}

/** How the endpoint reads in a message: its address and where it was configured. */
export function describeEndpoint(endpoint: DockerEndpoint): string {
  switch (endpoint.source) {
    case 'input':
      return `${endpoint.host} (the dockerHost input)`;
    case 'DOCKER_HOST':
      return `${endpoint.host} (DOCKER_HOST)`;
    case 'DOCKER_CONTEXT':
      return `${endpoint.host} (docker context '${endpoint.context}' from DOCKER_CONTEXT)`;
    case 'currentContext':
      return `${endpoint.host} (docker context '${endpoint.context}', the CLI's current context)`;
    default:
      return endpoint.host;
  }
}
