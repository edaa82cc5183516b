// The Engine API over the resolved endpoint (unix socket, or TCP with the same TLS material the CLI would use), with
// node:http only: the fast path's probe (GET /_ping, /version) and the post-job step's image clean-up. A client
// library such as dockerode costs 100-350 ms of CPU to load (ssh2, gRPC for BuildKit sessions) and ~260 KB gzip of
// bundle for the four routes these steps use.
import * as http from 'node:http';
import type { DockerEndpoint } from './endpoint';
import type { DaemonInfo } from './probe';
import type { VersionMemo } from './version-memo';

interface VersionBody {
  Version?: string;
  ApiVersion?: string;
  Os?: string;
  Arch?: string;
}

/** An Engine API failure: Node's code for transport failures, statusCode for answers. */
export class EngineApiError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'EngineApiError';
  }
}

export type ApiEndpoint = Exclude<DockerEndpoint, { kind: 'ssh' }>;

export interface EngineAnswer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One Engine API request; resolves with any HTTP answer, rejects on transport failures and the timeout. */
export async function engineRequest(
  endpoint: ApiEndpoint,
  method: 'GET' | 'DELETE',
  path: string,
  timeoutMs: number,
): Promise<EngineAnswer> {
  // node:https pulls in tls, which a task talking to a unix socket (the common case) never needs: load it on demand.
  const https = endpoint.kind === 'tcp' && endpoint.tls ? await import('node:https') : undefined;
  return new Promise((resolve, reject) => {
    const common = { method, path, headers: { Host: 'docker' }, agent: false as const };
    const request =
      endpoint.kind === 'unix'
        ? http.request({ ...common, socketPath: endpoint.socketPath })
        : endpoint.tls && https
          ? https.request({
              ...common,
              host: endpoint.hostname,
              port: endpoint.port,
              headers: { Host: `${endpoint.hostname}:${endpoint.port}` },
              ca: endpoint.tls.ca,
              cert: endpoint.tls.cert,
              key: endpoint.tls.key,
              rejectUnauthorized: endpoint.tls.verify,
            })
          : http.request({
              ...common,
              host: endpoint.hostname,
              port: endpoint.port,
              headers: { Host: `${endpoint.hostname}:${endpoint.port}` },
            });
    const timer = setTimeout(
      () =>
        request.destroy(
          new EngineApiError(`the daemon at ${endpoint.host} did not answer within ${timeoutMs / 1000} s`, undefined, 'ETIMEDOUT'),
        ),
      timeoutMs,
    );
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: response.headers });
      });
      response.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    request.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    request.end();
  });
}

/** Throws unless the answer is a 2xx, with the daemon's message (its JSON `message`, or the first line). */
export function expectOk(answer: { status: number; body: string }, path: string, method = 'GET'): void {
  if (answer.status >= 200 && answer.status < 300) return;
  let text = answer.body.trim().split('\n')[0]?.slice(0, 300) ?? '';
  try {
    text = (JSON.parse(answer.body) as { message?: string }).message ?? text;
  } catch {
    // not JSON: the first line stands
  }
  throw new EngineApiError(`(HTTP code ${answer.status}) ${method} ${path}: ${text}`, answer.status);
}

const get = (endpoint: ApiEndpoint, path: string, timeoutMs: number) => engineRequest(endpoint, 'GET', path, timeoutMs);

/** The daemon's version as every answer's `Server` header says it: `Docker/26.1.5+dfsg1 (linux)`. */
export function serverHeaderVersion(header: string | string[] | undefined): string | undefined {
  return /^Docker\/(\S+)/.exec(typeof header === 'string' ? header : '')?.[1];
}

/**
 * Pings the daemon and reads its version; rejects with an error that keeps Node's code or the HTTP status.
 * GET /version costs the daemon a call to containerd (about 18 ms, against 1 ms for the ping), so on a local socket
 * its answer is remembered (version-memo.ts) under the socket file's identity and the version and API version every
 * ping's headers carry: a restarted or upgraded daemon (a new socket, or a new version) is asked again.
 */
export async function pingAndVersion(endpoint: ApiEndpoint, timeoutMs: number, memo?: VersionMemo): Promise<DaemonInfo> {
  if (memo && endpoint.kind === 'unix') {
    const ping = checkPing(await get(endpoint, '/_ping', timeoutMs));
    const version = serverHeaderVersion(ping.headers.server);
    const apiVersion = ping.headers['api-version'];
    const key = ['GET /version', version ?? '', typeof apiVersion === 'string' ? apiVersion : ''];
    const remembered = version ? parseRemembered(memo.recall(endpoint.socketPath, key), version) : undefined;
    if (remembered) return remembered;
    const info = await readVersion(endpoint, get(endpoint, '/version', timeoutMs), timeoutMs);
    if (version && info.version === version) memo.remember(endpoint.socketPath, key, JSON.stringify(info));
    return info;
  }
  // Both asked at once (one round trip less); the ping's verdict is read first, so a server that is not a daemon is
  // named by it, and the version's failure is then dropped, not left unhandled.
  const pinged = get(endpoint, '/_ping', timeoutMs);
  const asked = get(endpoint, '/version', timeoutMs);
  asked.catch(() => undefined);
  checkPing(await pinged);
  return readVersion(endpoint, asked, timeoutMs);
}

function checkPing(ping: EngineAnswer): EngineAnswer {
  expectOk(ping, '/_ping');
  if (ping.body.trim() !== 'OK')
    throw new EngineApiError(`GET /_ping answered '${ping.body.trim().slice(0, 100)}', not OK: not a Docker daemon`, ping.status);
  return ping;
}

function parseRemembered(text: string | undefined, version: string): DaemonInfo | undefined {
  if (!text) return undefined;
  try {
    const info = JSON.parse(text) as DaemonInfo;
    return info.version === version && typeof info.arch === 'string' && info.arch ? info : undefined;
  } catch {
    return undefined;
  }
}

async function readVersion(endpoint: ApiEndpoint, asked: Promise<EngineAnswer>, timeoutMs: number): Promise<DaemonInfo> {
  const version = await asked;
  expectOk(version, '/version');
  let body: VersionBody;
  try {
    body = JSON.parse(version.body) as VersionBody;
  } catch {
    throw new EngineApiError('GET /version did not answer JSON: not a Docker daemon', version.status);
  }
  if (!body.Version || !body.Arch)
    throw new EngineApiError('GET /version answered without Version/Arch: not a Docker daemon', version.status);
  const info: DaemonInfo = { version: body.Version, apiVersion: body.ApiVersion ?? '', os: body.Os ?? 'linux', arch: body.Arch };
  if (body.Arch === 'arm') {
    const sys = await get(endpoint, '/info', timeoutMs);
    if (sys.status === 200) info.machine = (JSON.parse(sys.body) as { Architecture?: string }).Architecture;
  }
  return info;
}
