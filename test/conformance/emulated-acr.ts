// The lab's ACR and Entra ID emulators run in-process for the conformance tests (no lab needed): a temporary
// lab.json naming the recorded registries, an in-memory distribution registry behind them, and one loopback HTTP
// server that routes by Host header as the lab's emulator process does.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AcrEmulator } from '../lab/emulators/acr';
import { LabConfig } from '../lab/emulators/config';
import { EntraEmulator } from '../lab/emulators/entra';
import type { Exchange } from '../lab/emulators/http';
import { loadOrCreateSigningKey } from '../lab/emulators/keys';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** Header lines as sent, repeated ones kept. */
  rawHeaders: Array<[string, string]>;
  body: string;
}

interface StoredManifest {
  body: Buffer;
  mediaType: string;
  digest: string;
}

/** Just enough of a distribution registry for the ACR emulator's backing calls: catalog, tags, manifests, blobs. */
export class MemoryRegistry {
  private readonly manifests = new Map<string, StoredManifest>();
  private readonly tags = new Map<string, Map<string, string>>();
  private readonly blobs = new Map<string, Buffer>();
  private server?: Server;
  port = 0;

  addBlob(data: Buffer): string {
    const digest = sha256(data);
    this.blobs.set(digest, data);
    return digest;
  }

  /** Stores a manifest (and tags it when a tag is given); returns its digest. */
  addManifest(repository: string, manifest: unknown, mediaType: string, tag?: string): string {
    const body = Buffer.from(JSON.stringify(manifest));
    const digest = sha256(body);
    this.manifests.set(`${repository}@${digest}`, { body, mediaType, digest });
    const tags = this.tags.get(repository) ?? new Map<string, string>();
    if (tag) tags.set(tag, digest);
    this.tags.set(repository, tags);
    return digest;
  }

  /** A single-platform image (config + one layer) in the repository. */
  addImage(repository: string, architecture: string, tag?: string): string {
    const layer = this.addBlob(Buffer.from(`layer of ${repository} ${architecture} ${tag ?? ''}`));
    const config = Buffer.from(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [layer] } }));
    const configDigest = this.addBlob(config);
    const mediaType = 'application/vnd.docker.distribution.manifest.v2+json';
    return this.addManifest(
      repository,
      {
        schemaVersion: 2,
        mediaType,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 32 }],
      },
      mediaType,
      tag,
    );
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://backing');
      const send = (status: number, body: Buffer | string, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(body)), ...headers });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (url.pathname === '/v2/') return send(200, '{}', { 'Content-Type': 'application/json' });
      if (url.pathname === '/v2/_catalog') return send(200, JSON.stringify({ repositories: [...this.tags.keys()].sort() }));
      let match = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
      if (match) {
        const tags = this.tags.get(match[1]);
        if (!tags) return send(404, '{"errors":[{"code":"NAME_UNKNOWN"}]}');
        return send(200, JSON.stringify({ name: match[1], tags: [...tags.keys()].sort() }));
      }
      match = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
      if (match) {
        const reference = decodeURIComponent(match[2]);
        const digest = reference.includes(':') ? reference : this.tags.get(match[1])?.get(reference);
        const manifest = digest ? this.manifests.get(`${match[1]}@${digest}`) : undefined;
        if (!manifest) return send(404, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
        return send(200, manifest.body, { 'Content-Type': manifest.mediaType, 'Docker-Content-Digest': manifest.digest });
      }
      match = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(url.pathname);
      const blob = match ? this.blobs.get(decodeURIComponent(match[2])) : undefined;
      if (blob) return send(200, blob, { 'Content-Type': 'application/octet-stream' });
      send(404, '{"errors":[{"code":"BLOB_UNKNOWN"}]}');
    });
    this.port = await listen(this.server);
  }

  async stop(): Promise<void> {
    await close(this.server);
  }
}

export interface EmulatedRegistry {
  name: string;
  quarantine?: boolean;
  anonymousPull?: boolean;
}

export const conformanceTenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const authorityHost = 'login.microsoftonline.com';

/** The in-process emulators; `start()` then `send()`; `stop()` in an after hook. */
export class EmulatedAzure {
  readonly backing = new MemoryRegistry();
  readonly identity = {
    clientId: 'f850650c-1fcf-4489-b46f-71af2e30d360',
    objectId: '30511c9d-ba1a-4c7b-b422-5b543da11b3f',
    secret: 'conformance-client-secret',
  };
  acr!: AcrEmulator;
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), 'conformance-'));
  private server?: Server;
  private port = 0;

  constructor(private readonly registries: EmulatedRegistry[]) {}

  async start(): Promise<void> {
    await this.backing.start();
    const roles = ['AcrPush', 'AcrQuarantineWriter'];
    const lab = {
      version: 1,
      root: this.dir,
      caFile: path.join(this.dir, 'ca.pem'),
      backingRegistry: `127.0.0.1:${this.backing.port}`,
      registries: Object.fromEntries(
        this.registries.map((registry) => [
          registry.name,
          { quarantine: registry.quarantine ?? false, anonymousPull: registry.anonymousPull, admin: { username: 'admin', password: 'x' } },
        ]),
      ),
      entra: { authorityHost: `https://${authorityHost}`, tenantId: conformanceTenant, subscriptionId: 'sub' },
      identities: {
        recorder: {
          ...this.identity,
          certificatePath: '',
          roles: Object.fromEntries(this.registries.map((registry) => [registry.name, roles])),
        },
      },
    };
    writeFileSync(path.join(this.dir, 'lab.json'), JSON.stringify(lab), { mode: 0o600 });
    // one pair of keys for every test of the process (RSA generation is most of a replay's time)
    mkdirSync(path.join(this.dir, 'emulators'), { recursive: true });
    for (const name of ['acr', 'entra']) writeFileSync(path.join(this.dir, 'emulators', `${name}-signing-key.pem`), signingKeyPem(name));
    const config = new LabConfig(path.join(this.dir, 'lab.json'));
    const entra = new EntraEmulator(config, loadOrCreateSigningKey(config.stateDir, 'entra'), {
      federatedCredentials: () => [],
      trustedIssuers: () => [],
    });
    this.acr = new AcrEmulator(config, loadOrCreateSigningKey(config.stateDir, 'acr'), entra);
    const names = new Set(this.registries.map((registry) => registry.name));
    this.server = createServer((req, res) => {
      const host = (req.headers.host ?? '').toLowerCase();
      const exchange: Exchange = { req, res, url: new URL(req.url ?? '/', `https://${host}`), host };
      const handled = names.has(host) ? this.acr.handle(exchange, host) : entra.handle(exchange);
      handled.catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(error));
      });
    });
    this.port = await listen(this.server);
  }

  /** One request to an emulated host (`https://<host>/...` is sent to the loopback server with that Host). */
  send(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
    const target = new URL(url);
    return new Promise((resolve, reject) => {
      const outgoing = request(
        {
          host: '127.0.0.1',
          port: this.port,
          method: options.method ?? 'GET',
          path: `${target.pathname}${target.search}`,
          headers: {
            Host: target.host,
            ...(options.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(options.body)) } : {}),
            ...options.headers,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const rawHeaders: Array<[string, string]> = [];
            for (let i = 0; i + 1 < response.rawHeaders.length; i += 2)
              rawHeaders.push([response.rawHeaders[i], response.rawHeaders[i + 1]]);
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              rawHeaders,
              body: Buffer.concat(chunks).toString('utf8'),
            });
          });
          response.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(options.body);
    });
  }

  async stop(): Promise<void> {
    this.acr?.store.flush();
    await close(this.server);
    await this.backing.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const signingKeys = new Map<string, string>();
function signingKeyPem(name: string): string {
  let pem = signingKeys.get(name);
  if (!pem) {
    pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    signingKeys.set(name, pem);
  }
  return pem;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function close(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
