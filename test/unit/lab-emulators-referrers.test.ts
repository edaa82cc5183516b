// The ACR emulator's OCI 1.1 referrers API (distribution-spec v1.1), in-process: the emulator on a loopback HTTP server
// with a lab.json of this test's own, in front of a small in-memory registry that answers like distribution 2.8 (no
// referrers API: 404 "404 page not found"). No lab needed.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AcrEmulator } from '../lab/emulators/acr';
import { LabConfig } from '../lab/emulators/config';
import type { EntraEmulator } from '../lab/emulators/entra';
import { loadOrCreateSigningKey } from '../lab/emulators/keys';

const registry = 'r.azurecr.io';
const builder = { clientId: '11111111-0000-0000-0000-000000000002', objectId: '22222222-0000-0000-0000-000000000002', secret: 's3cret' };
const ociManifest = 'application/vnd.oci.image.manifest.v1+json';
const ociIndex = 'application/vnd.oci.image.index.v1+json';
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Manifests by repository and digest, tags; no blobs (the emulator never reads them for referrers). */
function memoryRegistry(): Server {
  const manifests = new Map<string, { raw: Buffer; type: string }>();
  const tags = new Map<string, string>();
  const read = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  return createServer((req, res) => {
    void (async () => {
      const match = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
      if (!match) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
        return res.end('404 page not found\n');
      }
      const [, repository, reference] = match;
      if (req.method === 'PUT') {
        const raw = await read(req);
        const digest = sha256(raw);
        manifests.set(`${repository}@${digest}`, { raw, type: String(req.headers['content-type']) });
        if (!reference.startsWith('sha256:')) tags.set(`${repository}:${reference}`, digest);
        res.writeHead(201, { 'Docker-Content-Digest': digest, Location: `/v2/${repository}/manifests/${digest}` });
        return res.end();
      }
      const digest = reference.startsWith('sha256:') ? reference : tags.get(`${repository}:${reference}`);
      const found = digest && manifests.get(`${repository}@${digest}`);
      if (req.method === 'DELETE' && found) {
        manifests.delete(`${repository}@${digest}`);
        res.writeHead(202);
        return res.end();
      }
      if (!found) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        return res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}\n');
      }
      res.writeHead(200, { 'Content-Type': found.type, 'Docker-Content-Digest': digest, 'Content-Length': found.raw.length });
      res.end(req.method === 'HEAD' ? undefined : found.raw);
    })();
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('lab emulators: the OCI 1.1 referrers API of ACR (policy referrersApi)', () => {
  let dir: string;
  let backing: Server;
  let server: Server;
  let base: string;
  let acr: AcrEmulator;
  let token: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'acr-referrers-'));
    backing = memoryRegistry();
    const backingPort = await listen(backing);
    const labJson = path.join(dir, 'lab.json');
    writeFileSync(
      labJson,
      JSON.stringify({
        version: 1,
        root: dir,
        caFile: path.join(dir, 'ca.pem'),
        backingRegistry: `127.0.0.1:${backingPort}`,
        registries: { [registry]: { quarantine: false, admin: { username: 'r', password: 'admin-pass' } } },
        entra: { tenantId: '33333333-0000-0000-0000-000000000002', authorityHost: 'https://login.lab.test' },
        identities: { builder: { ...builder, roles: { [registry]: ['AcrPush', 'AcrDelete'] } } },
      }),
    );
    acr = new AcrEmulator(new LabConfig(labJson), loadOrCreateSigningKey(dir, 'acr'), {} as EntraEmulator);
    server = createServer((req, res) => {
      void acr.handle({ req, res, url: new URL(req.url ?? '/', `https://${registry}`), host: registry }, registry);
    });
    base = `http://127.0.0.1:${await listen(server)}`;
    const query = new URLSearchParams({ service: registry });
    for (const repository of ['shop/web', 'other/app']) query.append('scope', `repository:${repository}:pull,push,delete`);
    const answer = await fetch(`${base}/oauth2/token?${query}`, {
      headers: { Authorization: `Basic ${Buffer.from(`${builder.clientId}:${builder.secret}`).toString('base64')}` },
    });
    token = ((await answer.json()) as { access_token: string }).access_token;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => backing.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => acr.policies.reset());

  const auth = () => ({ Authorization: `Bearer ${token}` });

  async function put(
    repository: string,
    manifest: object,
    reference?: string,
  ): Promise<{ digest: string; size: number; ociSubject: string | null }> {
    const raw = Buffer.from(JSON.stringify(manifest));
    const type = (manifest as { mediaType: string }).mediaType;
    const answer = await fetch(`${base}/v2/${repository}/manifests/${reference ?? sha256(raw)}`, {
      method: 'PUT',
      headers: { ...auth(), 'Content-Type': type },
      body: raw,
    });
    assert.equal(answer.status, 201);
    return { digest: sha256(raw), size: raw.length, ociSubject: answer.headers.get('oci-subject') };
  }

  const empty = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(Buffer.from('{}')), size: 2 };
  const image = (stamp: string) => ({
    schemaVersion: 2,
    mediaType: ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(Buffer.from(stamp)), size: stamp.length },
    layers: [],
  });
  const subjectOf = (pushed: { digest: string; size: number }) => ({ mediaType: ociManifest, digest: pushed.digest, size: pushed.size });
  const artifact = (subject: { digest: string; size: number }, fields: object) => ({
    schemaVersion: 2,
    mediaType: ociManifest,
    config: empty,
    layers: [empty],
    subject: subjectOf(subject),
    ...fields,
  });

  async function referrers(repository: string, digest: string, query = '') {
    const answer = await fetch(`${base}/v2/${repository}/referrers/${digest}${query}`, { headers: auth() });
    const text = await answer.text();
    return {
      status: answer.status,
      headers: answer.headers,
      text,
      json: () => JSON.parse(text) as { mediaType: string; manifests: { digest: string }[] },
    };
  }

  it('off (the default): the backing registry answers 404 (no API), and a PUT with a subject gets no OCI-Subject', async () => {
    const subject = await put('shop/web', image('off'), 'off');
    const referrer = await put('shop/web', artifact(subject, { artifactType: 'application/sarif+json' }));
    assert.equal(referrer.ociSubject, null);
    const listed = await referrers('shop/web', subject.digest);
    assert.equal(listed.status, 404);
    assert.equal(listed.text, '404 page not found\n');
    assert.equal(acr.policies.get(registry).referrersApi, false);
  });

  it('on: OCI-Subject on the PUT, and the list holds each referrer with artifactType, annotations, size and media type', async () => {
    acr.policies.set(registry, { referrersApi: true });
    const subject = await put('shop/web', image('on'), 'on');
    assert.equal(subject.ociSubject, null, 'no subject, no OCI-Subject');
    const sarif = await put(
      'shop/web',
      artifact(subject, { artifactType: 'application/sarif+json', annotations: { 'org.example.kind': 'scan' } }),
    );
    assert.equal(sarif.ociSubject, subject.digest);
    const configTyped = { ...artifact(subject, {}), config: { ...empty, mediaType: 'application/vnd.example.sbom.config.v1+json' } };
    const sbom = await put('shop/web', configTyped);
    const indexReferrer = await put('shop/web', { schemaVersion: 2, mediaType: ociIndex, manifests: [], subject: subjectOf(subject) });
    assert.equal(indexReferrer.ociSubject, subject.digest, 'an index with a subject is processed too');
    await put('shop/web', artifact(await put('shop/web', image('other')), { artifactType: 'application/sarif+json' }));

    const listed = await referrers('shop/web', subject.digest);
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get('content-type'), ociIndex);
    assert.equal(listed.headers.get('oci-filters-applied'), null);
    assert.deepEqual(listed.json(), {
      schemaVersion: 2,
      mediaType: ociIndex,
      manifests: [
        {
          mediaType: ociManifest,
          digest: sarif.digest,
          size: sarif.size,
          artifactType: 'application/sarif+json',
          annotations: { 'org.example.kind': 'scan' },
        },
        { mediaType: ociManifest, digest: sbom.digest, size: sbom.size, artifactType: 'application/vnd.example.sbom.config.v1+json' },
        { mediaType: ociIndex, digest: indexReferrer.digest, size: indexReferrer.size },
      ],
    });

    const filtered = await referrers('shop/web', subject.digest, '?artifactType=application%2Fsarif%2Bjson');
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(
      filtered.json().manifests.map((m) => m.digest),
      [sarif.digest],
    );
  });

  it('on: no referrers is an empty list (never a 404); a malformed digest is a 400', async () => {
    acr.policies.set(registry, { referrersApi: true });
    const none = await referrers('shop/web', `sha256:${'0'.repeat(64)}`);
    assert.equal(none.status, 200);
    assert.deepEqual(none.json().manifests, []);
    const bad = await referrers('shop/web', 'sha256:nothex!');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /DIGEST_INVALID/);
  });

  it('follows the registry: a referrer pushed while off is listed once on, a deleted one drops out', async () => {
    const subject = await put('shop/web', image('follow'), 'follow');
    const before = await put('shop/web', artifact(subject, { artifactType: 'application/vnd.example.before' }));
    const gone = await put('shop/web', artifact(subject, { artifactType: 'application/vnd.example.gone' }));
    const deleted = await fetch(`${base}/v2/shop/web/manifests/${gone.digest}`, { method: 'DELETE', headers: auth() });
    assert.equal(deleted.status, 202);
    acr.policies.set(registry, { referrersApi: true });
    assert.deepEqual(
      (await referrers('shop/web', subject.digest)).json().manifests.map((m) => m.digest),
      [before.digest],
    );
  });

  it('referrersApiScope (lab only) serves the API under a repository prefix only', async () => {
    acr.policies.set(registry, { referrersApi: true, referrersApiScope: 'shop/' });
    const inside = await put('shop/web', image('scoped'), 'scoped');
    const outside = await put('other/app', image('scoped'), 'scoped');
    assert.equal((await put('shop/web', artifact(inside, { artifactType: 'a/b' }))).ociSubject, inside.digest);
    assert.equal((await put('other/app', artifact(outside, { artifactType: 'a/b' }))).ociSubject, null);
    assert.equal((await referrers('shop/web', inside.digest)).status, 200);
    assert.equal((await referrers('other/app', outside.digest)).status, 404);
  });
});
