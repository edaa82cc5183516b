// Test helpers for the trivy stand-in: build the real bundle once, run it as a process, seed or serve its DB,
// and a small loopback registry (token flow, indexes, denied digests) for the tests that need no lab.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { dbLayerFiles } from './src/db';
import { bundleStandIn, writeDbArtifact } from './package';

let built: Promise<string> | undefined;

// Every temp dir made here goes when the test process ends.
const madeDirs: string[] = [];
process.on('exit', () => {
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
});

/** mkdtemp under the OS temp dir, removed at exit. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  madeDirs.push(dir);
  return dir;
}

/** The packaged `trivy` (same bundle the lab ships), built once per test process. */
export function standInExecutable(): Promise<string> {
  built ??= (async () => {
    const dir = tempDir('lab-trivy-bin-');
    const file = path.join(dir, 'trivy');
    await bundleStandIn({ outFile: file, version: '0.74.0', dbRepository: 'releases.lab.test/aquasec/trivy-db:2' });
    return file;
  })();
  return built;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** kill after this many ms (for "hang" checks); default none */
  killAfterMs?: number;
}

/** An environment with nothing of the caller's trivy/docker settings: own HOME, cache and docker config. */
export function isolatedEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const home = tempDir('lab-trivy-home-');
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('TRIVY_') || key === 'DOCKER_CONFIG' || key === 'DOCKER_HOST' || key === 'XDG_CACHE_HOME') continue;
    env[key] = value;
  }
  return { ...env, HOME: home, TZ: 'UTC', ...extra };
}

export async function runTrivy(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const executable = await standInExecutable();
  return new Promise((resolve, reject) => {
    const child = spawn(executable, args, { env: options.env ?? isolatedEnv(), cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const killer = options.killAfterMs ? setTimeout(() => child.kill('SIGKILL'), options.killAfterMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (killer) clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end();
  });
}

/** Puts a fresh DB into <cacheDir>/db, as a previous download would have. */
export function seedDb(cacheDir: string, nextUpdateInMs = 24 * 3_600_000): void {
  const dir = path.join(cacheDir, 'db');
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  for (const file of dbLayerFiles({ ms: now, extraNanos: 0 }, { ms: now + nextUpdateInMs, extraNanos: 0 })) {
    writeFileSync(path.join(dir, file.name), file.data);
  }
}

export interface Served {
  url: string;
  host: string;
  requests: Array<{ method: string; path: string; authorization?: string }>;
  close(): Promise<void>;
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function closer(server: http.Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

/** A static file server on loopback (what releases.lab.test is to the lab), with the DB artifact written into it. */
export async function serveDbArtifact(repositoryPath = 'aquasec/trivy-db'): Promise<Served & { repository: string; root: string }> {
  const root = tempDir('lab-trivy-releases-');
  const requests: Served['requests'] = [];
  const server = http.createServer((request, response) => {
    const urlPath = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    requests.push({ method: request.method ?? '', path: urlPath });
    const file = path.join(root, urlPath);
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end('404 page not found\n');
      return;
    }
    response.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(readFileSync(file));
  });
  const host = await listen(server);
  const repository = `${host}/${repositoryPath}:2`;
  const now = Date.now();
  writeDbArtifact({ root, repository, updatedAt: { ms: now, extraNanos: 0 }, nextUpdate: { ms: now + 24 * 3_600_000, extraNanos: 0 } });
  return { url: `http://${host}`, host, requests, close: closer(server), repository, root };
}

export interface ImageSpec {
  repository: string;
  tag?: string;
  labels?: Record<string, string>;
  architecture?: string;
}

interface Stored {
  body: Buffer;
  mediaType: string;
}

function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * A loopback registry speaking the distribution API with an optional Docker token flow
 * (GET /token with Basic user:password). Digests can be marked denied (403 DENIED), like a quarantined image.
 */
export class FakeRegistry {
  readonly requests: Served['requests'] = [];
  readonly denied = new Set<string>();
  private readonly manifests = new Map<string, Stored>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly tokens = new Set<string>();
  private server?: http.Server;
  host = '';

  constructor(private readonly credentials?: { username: string; password: string }) {}

  async start(): Promise<this> {
    this.server = http.createServer((request, response) => this.handle(request, response));
    this.host = await listen(this.server);
    return this;
  }

  close(): Promise<void> {
    return this.server ? closer(this.server)() : Promise.resolve();
  }

  private challenge(response: http.ServerResponse, scope?: string): void {
    const header = `Bearer realm="http://${this.host}/token",service="fake-registry"${scope ? `,scope="${scope}"` : ''}`;
    response
      .writeHead(401, { 'WWW-Authenticate': header, 'Content-Type': 'application/json' })
      .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] }));
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? '/', `http://${this.host}`);
    this.requests.push({
      method: request.method ?? '',
      path: `${url.pathname}${url.search}`,
      authorization: request.headers.authorization,
    });
    const json = (status: number, body: unknown): void => {
      response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname === '/token') {
      const expected = this.credentials
        ? `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`
        : undefined;
      if (expected && request.headers.authorization !== expected) {
        json(401, {
          errors: [
            { code: 'UNAUTHORIZED', message: 'authentication required', detail: [{ Type: 'repository', Name: 'x', Action: 'pull' }] },
          ],
        });
        return;
      }
      const token = randomBytes(12).toString('hex');
      this.tokens.add(token);
      json(200, { token, access_token: token });
      return;
    }
    if (this.credentials) {
      const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
      if (!bearer || !this.tokens.has(bearer[1])) {
        this.challenge(response, url.pathname === '/v2/' ? undefined : 'repository:x:pull');
        return;
      }
    }
    if (url.pathname === '/v2/') {
      json(200, {});
      return;
    }
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (manifest) {
      const [, repo, reference] = manifest;
      const stored = this.manifests.get(`${repo}:${reference}`) ?? this.manifests.get(`${repo}@${reference}`);
      if (!stored) {
        json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: reference } }] });
        return;
      }
      const digest = digestOf(stored.body);
      if (this.denied.has(digest)) {
        json(403, { errors: [{ code: 'DENIED', message: 'The operation is disallowed.', detail: null }] });
        return;
      }
      response.writeHead(200, { 'Content-Type': stored.mediaType, 'Docker-Content-Digest': digest }).end(stored.body);
      return;
    }
    const blob = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(url.pathname);
    if (blob && this.blobs.has(blob[2])) {
      response.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(this.blobs.get(blob[2]));
      return;
    }
    json(404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry', detail: null }] });
  }

  private put(repository: string, body: Buffer, mediaType: string, tag?: string): string {
    const digest = digestOf(body);
    this.manifests.set(`${repository}@${digest}`, { body, mediaType });
    if (tag) this.manifests.set(`${repository}:${tag}`, { body, mediaType });
    return digest;
  }

  private blob(data: Buffer): { digest: string; size: number } {
    const digest = digestOf(data);
    this.blobs.set(digest, data);
    return { digest, size: data.length };
  }

  /** A single-platform image; returns its manifest and config digests. */
  addImage(spec: ImageSpec, tag: string | undefined = spec.tag): { manifestDigest: string; configDigest: string; layerDigest: string } {
    const layer = this.blob(Buffer.concat([Buffer.from(spec.repository), randomBytes(64)]));
    const diffId = digestOf(randomBytes(32));
    const config = Buffer.from(
      JSON.stringify({
        architecture: spec.architecture ?? 'amd64',
        os: 'linux',
        created: '2026-01-01T00:00:00Z',
        config: { Labels: spec.labels ?? {}, Cmd: ['/bin/sh'] },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: '2026-01-01T00:00:00Z', created_by: 'COPY busybox /bin/busybox # buildkit' }],
      }),
    );
    const configBlob = this.blob(config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    );
    const manifestDigest = this.put(spec.repository, manifest, 'application/vnd.oci.image.manifest.v1+json', tag);
    return { manifestDigest, configDigest: configBlob.digest, layerDigest: layer.digest };
  }

  /** A multi-platform index (amd64 + arm64 children, each with its own labels). */
  addIndex(
    repository: string,
    tag: string,
    children: Array<{ architecture: string; labels?: Record<string, string> }>,
  ): { indexDigest: string; children: Record<string, { manifestDigest: string; configDigest: string }> } {
    const out: Record<string, { manifestDigest: string; configDigest: string }> = {};
    const manifests = children.map((child) => {
      const added = this.addImage({ repository, labels: child.labels, architecture: child.architecture }, undefined);
      out[child.architecture] = added;
      const body = this.manifests.get(`${repository}@${added.manifestDigest}`) as Stored;
      return {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: added.manifestDigest,
        size: body.body.length,
        platform: { architecture: child.architecture, os: 'linux' },
      };
    });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    const indexDigest = this.put(repository, index, 'application/vnd.oci.image.index.v1+json', tag);
    return { indexDigest, children: out };
  }
}
