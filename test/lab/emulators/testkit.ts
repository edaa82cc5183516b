import { strict as assert } from 'node:assert';
// Helpers for tests that talk to the emulators the way outside clients do: raw HTTPS trusting the lab CA,
// the documented ACR token flow, docker with a throw-away DOCKER_CONFIG. Not used by the emulator process.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AppIdentityName, Lab } from '../lab';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Fails the request with a timeout error after this many ms. */
  timeoutMs?: number;
}

/** One HTTP(S) request; HTTPS trusts the lab CA only (so a wrong certificate fails as it would in a task). */
export function labRequest(lab: Lab, url: string, options: RequestOptions = {}): Promise<Answer> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = send(
      target,
      {
        method: options.method ?? 'GET',
        headers:
          options.body === undefined ? options.headers : { 'Content-Length': String(Buffer.byteLength(options.body)), ...options.headers },
        ...(target.protocol === 'https:' ? { ca: readFileSync(lab.caFile), agent: false } : { agent: false }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body, text, json: <T>() => JSON.parse(text) as T });
        });
      },
    );
    if (options.timeoutMs)
      outgoing.setTimeout(options.timeoutMs, () => outgoing.destroy(new Error(`timed out after ${options.timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

export function formBody(fields: Record<string, string | string[]>): string {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const item of Array.isArray(value) ? value : [value]) form.append(name, item);
  return form.toString();
}

export const formHeaders = { 'Content-Type': 'application/x-www-form-urlencoded' };

/** The parameters of a `WWW-Authenticate: Bearer ...` header, parsed as the JS SDK does. */
export function challengeOf(answer: Answer): Record<string, string> {
  const header = String(answer.headers['www-authenticate'] ?? '');
  return Object.fromEntries([...header.matchAll(/(\w+?)="(.*?)"/g)].map((match) => [match[1], match[2]]));
}

/** The claims of a JWT (not verified). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * A request of a setup helper, retried on 429/5xx like an SDK client would (up to 3 tries, Retry-After
 * honoured up to 2 s), so a fault another suite injects on a shared route does not fail the set-up.
 */
async function setupRequest(lab: Lab, url: string, options: RequestOptions): Promise<Answer> {
  for (let attempt = 1; ; attempt += 1) {
    const answer = await labRequest(lab, url, options);
    if (attempt >= 3 || (answer.status !== 429 && answer.status < 500)) return answer;
    const retryAfter = Number(answer.headers['retry-after'] ?? 1);
    await new Promise((resolve) => setTimeout(resolve, Math.min(Number.isFinite(retryAfter) ? retryAfter : 1, 2) * 1000));
  }
}

/** An Entra ID access token for an app identity by client secret (raw client-credentials request). */
export async function entraToken(
  lab: Lab,
  identity: AppIdentityName,
  scope = 'https://containerregistry.azure.net/.default',
): Promise<string> {
  const { clientId, secret } = lab.identities[identity];
  const answer = await setupRequest(lab, `${lab.entra.authorityHost}/${lab.entra.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: formHeaders,
    body: formBody({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope }),
  });
  if (answer.status !== 200) throw new Error(`Entra token for ${identity}: ${answer.status} ${answer.text}`);
  return answer.json<{ access_token: string }>().access_token;
}

/** POST /oauth2/exchange: an Entra access token for an ACR refresh token. */
export async function acrRefreshToken(lab: Lab, registry: string, entraAccessToken: string): Promise<string> {
  const answer = await setupRequest(lab, `https://${registry}/oauth2/exchange`, {
    method: 'POST',
    headers: formHeaders,
    body: formBody({ grant_type: 'access_token', service: registry, tenant: lab.entra.tenantId, access_token: entraAccessToken }),
  });
  if (answer.status !== 200) throw new Error(`ACR exchange at ${registry}: ${answer.status} ${answer.text}`);
  return answer.json<{ refresh_token: string }>().refresh_token;
}

/** POST /oauth2/token with grant_type=refresh_token: an ACR access token for the scopes. */
export async function acrAccessToken(lab: Lab, registry: string, refreshToken: string, scopes: string[]): Promise<string> {
  const answer = await setupRequest(lab, `https://${registry}/oauth2/token`, {
    method: 'POST',
    headers: formHeaders,
    body: formBody({ grant_type: 'refresh_token', service: registry, scope: scopes, refresh_token: refreshToken }),
  });
  if (answer.status !== 200) throw new Error(`ACR token at ${registry}: ${answer.status} ${answer.text}`);
  return answer.json<{ access_token: string }>().access_token;
}

/** Entra token by client secret, exchanged for an ACR refresh token of the identity. */
export async function identityRefreshToken(lab: Lab, registry: string, identity: AppIdentityName): Promise<string> {
  return acrRefreshToken(lab, registry, await entraToken(lab, identity));
}

/**
 * A request to the registry that follows ACR's challenge the way the JS SDK does: try, read the
 * scope from the 401, get an access token for exactly that scope, try again.
 */
export async function acrCall(
  lab: Lab,
  registry: string,
  refreshToken: string,
  pathAndQuery: string,
  options: RequestOptions = {},
): Promise<Answer> {
  const url = `https://${registry}${pathAndQuery}`;
  const first = await labRequest(lab, url, options);
  if (first.status !== 401) return first;
  const { scope } = challengeOf(first);
  const token = await acrAccessToken(lab, registry, refreshToken, scope ? [scope] : []);
  return labRequest(lab, url, { ...options, headers: { ...options.headers, Authorization: `Bearer ${token}` } });
}

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A throw-away docker client configuration (DOCKER_CONFIG), so logins never touch the machine's. */
/** A docker CLI call's stdout, or an assertion error naming what failed and docker's stderr. */
export function dockerOk(result: DockerResult, what: string): string {
  if (result.code !== 0) throw new assert.AssertionError({ message: `${what} failed (exit ${result.code}): ${result.stderr.trim()}` });
  return result.stdout;
}

const REGISTRY_TAG_RACE = /HEAD request to \S+\/manifests\/\S+: 500 Internal Server Error/;
const isBuildPush = (args: string[]) => args[0] === 'buildx' && args[1] === 'build' && args.includes('--push');

export class DockerClient {
  readonly configDir = mkdtempSync(path.join(os.tmpdir(), 'lab-docker-config-'));

  run(args: string[], input?: string, timeoutMs = 600_000): DockerResult {
    const once = (): DockerResult => {
      const result = spawnSync('docker', args, {
        input,
        encoding: 'utf8',
        timeout: timeoutMs,
        env: { ...process.env, DOCKER_CONFIG: this.configDir },
      });
      return { code: result.status ?? -1, stdout: result.stdout ?? '', stderr: result.stderr ?? String(result.error ?? '') };
    };
    let result = once();
    // The docker driver's second push of `buildx build --push` reads the tag back right after BuildKit wrote it, and
    // the lab's distribution 2.8 (filesystem driver) can answer that read with a 500 ("invalid checksum digest
    // format": the tag's link file read while it is rewritten; seen once, on a fresh machine). Run again: it is cached.
    for (let attempt = 1; attempt < 3 && result.code !== 0 && isBuildPush(args) && REGISTRY_TAG_RACE.test(result.stderr); attempt++)
      result = once();
    return result;
  }

  /** docker login with the password on stdin. */
  login(registry: string, username: string, password: string): DockerResult {
    return this.run(['login', registry, '--username', username, '--password-stdin'], password);
  }

  config(): Record<string, unknown> {
    return JSON.parse(readFileSync(path.join(this.configDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  }

  remove(): void {
    rmSync(this.configDir, { recursive: true, force: true });
  }
}

export const ociManifestType = 'application/vnd.oci.image.manifest.v1+json';
export const ociIndexType = 'application/vnd.oci.image.index.v1+json';

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Uploads a blob the way clients do: POST an upload session, then PUT to its Location with ?digest=. */
export async function uploadBlob(
  lab: Lab,
  registry: string,
  token: string,
  repository: string,
  data: Buffer,
): Promise<{ digest: string; location: string }> {
  const digest = sha256(data);
  const auth = { Authorization: `Bearer ${token}` };
  const session = await labRequest(lab, `https://${registry}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: auth });
  if (session.status !== 202) throw new Error(`upload session: ${session.status} ${session.text}`);
  const location = String(session.headers.location);
  const target = new URL(location, `https://${registry}`);
  target.searchParams.set('digest', digest);
  const put = await labRequest(lab, target.toString(), {
    method: 'PUT',
    headers: { ...auth, 'Content-Type': 'application/octet-stream' },
    body: data,
  });
  if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${put.text}`);
  return { digest, location };
}

export interface PushedManifest {
  digest: string;
  size: number;
  architecture: string;
  layerDigest: string;
  uploadLocation: string;
}

/**
 * Pushes a tiny single-platform OCI image (random layer, so its digest is new) by tag or, without a
 * tag, by digest. `token` must allow pull,push on the repository.
 */
export async function pushTestImage(
  lab: Lab,
  registry: string,
  token: string,
  repository: string,
  tag?: string,
  architecture = 'amd64',
): Promise<PushedManifest> {
  const layer = await uploadBlob(lab, registry, token, repository, randomBytes(64));
  const configBody = Buffer.from(
    JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: {} }),
  );
  const config = await uploadBlob(lab, registry, token, repository, configBody);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifestType,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: configBody.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: 64 }],
    }),
  );
  const digest = sha256(manifest);
  const put = await labRequest(lab, `https://${registry}/v2/${repository}/manifests/${tag ?? digest}`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': ociManifestType },
    body: manifest,
  });
  if (put.status !== 201) throw new Error(`manifest push: ${put.status} ${put.text}`);
  return { digest, size: manifest.length, architecture, layerDigest: layer.digest, uploadLocation: layer.location };
}

/** Pushes linux/amd64 and linux/arm64 images by digest, then an OCI index over them by tag. */
export async function pushTestIndex(
  lab: Lab,
  registry: string,
  token: string,
  repository: string,
  tag: string,
): Promise<{ digest: string; children: PushedManifest[] }> {
  const children = [
    await pushTestImage(lab, registry, token, repository, undefined, 'amd64'),
    await pushTestImage(lab, registry, token, repository, undefined, 'arm64'),
  ];
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociIndexType,
      manifests: children.map((child) => ({
        mediaType: ociManifestType,
        digest: child.digest,
        size: child.size,
        platform: { architecture: child.architecture, os: 'linux' },
      })),
    }),
  );
  const put = await labRequest(lab, `https://${registry}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': ociIndexType },
    body: index,
  });
  if (put.status !== 201) throw new Error(`index push: ${put.status} ${put.text}`);
  return { digest: sha256(index), children };
}

/** A repository name nobody else uses, so tests do not see each other's images. */
export function uniqueRepository(prefix: string): string {
  return `lab-emulators/${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}
