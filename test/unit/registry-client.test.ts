import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import type { HttpRequest } from '../../src/http/client';
import { RegistryClient, RegistryError } from '../../src/registry/client';
import { readAll } from '../../src/registry/transport';
import { ACR_TOKEN_USERNAME } from '../../src/registry/credentials';
import { DigestMismatchError } from '../../src/registry/errors';
import { type Descriptor, type Index, MediaType, imageManifests, isAttestationManifest, isIndex } from '../../src/registry/oci';
import { fakeHttp, fakeStream, fastRetry, networkError, noSleep, reply } from './registry-fakes';

const registry = 'contoso.azurecr.io';
const sha = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const challenge = (scope: string) => ({
  'www-authenticate': `Bearer realm="https://${registry}/oauth2/token",service="${registry}",scope="${scope}"`,
});

const platformEntry = (arch: string, digest: string): Descriptor => ({
  mediaType: MediaType.ociManifest,
  digest,
  size: 500,
  platform: { os: 'linux', architecture: arch },
});
const attestationEntry = (digest: string): Descriptor => ({
  mediaType: MediaType.ociManifest,
  digest: `sha256:${'c'.repeat(64)}`,
  size: 800,
  platform: { os: 'unknown', architecture: 'unknown' },
  annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': digest },
});
const index: Index = {
  schemaVersion: 2,
  mediaType: MediaType.ociIndex,
  manifests: [
    platformEntry('amd64', `sha256:${'a'.repeat(64)}`),
    platformEntry('arm64', `sha256:${'b'.repeat(64)}`),
    attestationEntry(`sha256:${'a'.repeat(64)}`),
  ],
};
const indexBytes = Buffer.from(JSON.stringify(index));
const indexDigest = sha(indexBytes);

function client(handler: Parameters<typeof fakeHttp>[0], extra: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}) {
  const fake = fakeHttp(handler);
  const waits: number[] = [];
  const registryClient = new RegistryClient({
    registry,
    credentials: { registry, username: ACR_TOKEN_USERNAME, password: 'refresh' },
    http: fake.http,
    retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 1000 },
    sleep: async (ms) => void waits.push(ms),
    ...extra,
  });
  return { client: registryClient, requests: fake.requests, waits };
}

describe('registry client: manifests', () => {
  it('asks for all four manifest media types and returns the index with its digest, verified', async () => {
    const { client: c, requests } = client(() =>
      reply(200, indexBytes, { 'content-type': MediaType.ociIndex, 'docker-content-digest': indexDigest }),
    );
    const fetched = await c.getManifest('team/app', '1');
    assert.equal(fetched.digest, indexDigest);
    assert.equal(fetched.mediaType, MediaType.ociIndex);
    assert.ok(isIndex(fetched.json));
    assert.equal(requests[0].url, `https://${registry}/v2/team/app/manifests/1`);
    const accept = requests[0].headers?.Accept?.split(', ') ?? [];
    assert.deepEqual(
      accept.sort(),
      [MediaType.dockerManifest, MediaType.dockerManifestList, MediaType.ociIndex, MediaType.ociManifest].sort(),
    );
  });

  it('computes the digest from the bytes when the registry sends no Docker-Content-Digest', async () => {
    const { client: c } = client(() => reply(200, indexBytes, { 'content-type': MediaType.ociIndex }));
    assert.equal((await c.getManifest('app', 'latest')).digest, indexDigest);
  });

  it('refuses bytes that do not match the digest asked for, or the digest the registry claims', async () => {
    const other = `sha256:${'d'.repeat(64)}`;
    const { client: byDigest } = client(() => reply(200, indexBytes, { 'docker-content-digest': other }));
    await assert.rejects(
      byDigest.getManifest('app', other),
      (e: Error) => e instanceof DigestMismatchError && e.expected === other && e.actual === indexDigest,
    );
    const { client: byTag } = client(() => reply(200, indexBytes, { 'docker-content-digest': other }));
    await assert.rejects(byTag.getManifest('app', '1'), DigestMismatchError);
  });

  it("carries the registry's error code in a typed RegistryError", async () => {
    const cases: [number, string, string][] = [
      [404, 'MANIFEST_UNKNOWN', 'manifest unknown'],
      [403, 'DENIED', 'requested access to the resource is denied'],
      [403, 'UNKNOWN', 'The operation is disallowed.'],
      [405, 'UNKNOWN', 'The operation is disallowed.'],
    ];
    for (const [status, code, message] of cases) {
      const { client: c, requests } = client(() => reply(status, { errors: [{ code, message }] }));
      const error = await c.getManifest('app', `sha256:${'e'.repeat(64)}`).catch((e: unknown) => e);
      assert.ok(error instanceof RegistryError, `${status} ${code}`);
      assert.equal(error.status, status);
      assert.equal(error.code, code);
      assert.equal(error.registryMessage, message);
      assert.equal(requests.length, 1, 'a client error is not retried');
    }
  });

  it('retries 429 with Retry-After, 500 and resets, then succeeds', async () => {
    const script: (() => ReturnType<typeof reply>)[] = [
      () => reply(429, { errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }, { 'retry-after': '1' }),
      () => reply(500),
      () => {
        throw networkError('ECONNRESET');
      },
      () => reply(200, indexBytes, { 'docker-content-digest': indexDigest }),
    ];
    const { client: c, requests, waits } = client(() => script.shift()!());
    assert.equal((await c.getManifest('app', '1')).digest, indexDigest);
    assert.equal(requests.length, 4);
    assert.equal(waits.length, 3);
    assert.equal(waits[0], 1000);
  });

  it('gives up after the bound on 500 forever and says so', async () => {
    const { client: c, requests } = client(() => reply(500, { errors: [{ code: 'UNKNOWN', message: 'internal' }] }));
    await assert.rejects(
      c.getManifest('app', '1'),
      (e: RegistryError) => e.status === 500 && /answered 500: UNKNOWN: internal/.test(e.message),
    );
    assert.equal(requests.length, 4);
  });

  it('retries MANIFEST_UNKNOWN only when asked to (right after a push)', async () => {
    const unknown = () => reply(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
    const { client: plain, requests: once } = client(unknown);
    await assert.rejects(plain.getManifest('app', indexDigest), (e: RegistryError) => e.code === 'MANIFEST_UNKNOWN');
    assert.equal(once.length, 1);

    let calls = 0;
    const { client: patient, requests } = client(() => (++calls < 3 ? unknown() : reply(200, indexBytes)));
    assert.equal((await patient.getManifest('app', indexDigest, { retryUnknown: true })).digest, indexDigest);
    assert.equal(requests.length, 3);

    const { client: bounded, requests: all } = client(unknown);
    await assert.rejects(
      bounded.getManifest('app', indexDigest, { retryUnknown: true }),
      (e: RegistryError) => e.code === 'MANIFEST_UNKNOWN',
    );
    assert.equal(all.length, 4);

    const { client: denied, requests: deniedRequests } = client(() =>
      reply(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known' }] }),
    );
    await assert.rejects(denied.getManifest('app', indexDigest, { retryUnknown: true }), (e: RegistryError) => e.code === 'NAME_UNKNOWN');
    assert.equal(deniedRequests.length, 1);
  });

  it("goes through the token flow with the repository's pull scope", async () => {
    const { client: c, requests } = client((request: HttpRequest) => {
      if (request.url.endsWith('/oauth2/token')) return reply(200, { access_token: 'acc' });
      if (request.headers?.Authorization === 'Bearer acc') return reply(200, indexBytes);
      return reply(401, { errors: [{ code: 'UNAUTHORIZED' }] }, challenge('repository:team/app:pull'));
    });
    await c.getManifest('team/app', '1');
    await c.getManifest('team/app', '2');
    assert.deepEqual(
      requests.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.headers?.Authorization ?? '-'}`),
      [
        'GET /v2/team/app/manifests/1 -',
        'POST /oauth2/token -',
        'GET /v2/team/app/manifests/1 Bearer acc',
        'GET /v2/team/app/manifests/2 Bearer acc',
      ],
    );
  });

  it('HEAD: digest, media type and size; undefined on 404; resolveDigest explains a missing tag', async () => {
    const { client: c } = client((request) =>
      request.url.endsWith('/1')
        ? reply(200, '', {
            'docker-content-digest': indexDigest,
            'content-type': MediaType.ociIndex,
            'content-length': String(indexBytes.length),
          })
        : reply(
            404,
            request.method === 'HEAD' ? '' : { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest tagged by "2" is not found' }] },
          ),
    );
    assert.deepEqual(await c.headManifest('app', '1'), { digest: indexDigest, mediaType: MediaType.ociIndex, size: indexBytes.length });
    assert.equal(await c.headManifest('app', '2'), undefined);
    assert.equal(await c.resolveDigest('app', '1'), indexDigest);
    await assert.rejects(
      c.resolveDigest('app', '2'),
      (e: RegistryError) => e.code === 'MANIFEST_UNKNOWN' && /"2" is not found/.test(e.message),
    );
  });

  it('HEAD without Docker-Content-Digest falls back to GET', async () => {
    const { client: c, requests } = client((request) => (request.method === 'HEAD' ? reply(200) : reply(200, indexBytes)));
    assert.equal(await c.resolveDigest('app', '1'), indexDigest);
    assert.deepEqual(
      requests.map((r) => r.method),
      ['HEAD', 'GET'],
    );
  });

  it('refuses bad names before sending anything', async () => {
    const { client: c, requests } = client(() => reply(200));
    await assert.rejects(c.getManifest('Team/App', '1'), /lower-case/);
    await assert.rejects(c.getManifest('app', 'sha256:xyz'), /digest 'sha256:xyz' is not valid/);
    assert.equal(requests.length, 0);
    assert.throws(() => new RegistryClient({ registry: 'https://contoso.azurecr.io' }), /not a registry login server/);
  });

  it('speaks plain http to loopback registries only', async () => {
    const { client: local, requests } = client(() => reply(200, indexBytes), { registry: '127.0.0.1:5000' });
    await local.getManifest('app', '1');
    assert.equal(requests[0].url, 'http://127.0.0.1:5000/v2/app/manifests/1');
  });
});

describe('registry client: blobs', () => {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const configDigest = sha(config);

  it('gets a blob and verifies it', async () => {
    const { stream, requests } = fakeStream(() => reply(200, config));
    const c = new RegistryClient({ registry, stream, http: fakeHttp(() => reply(500)).http });
    assert.deepEqual(await c.getBlob('app', configDigest), config);
    assert.equal(requests[0].url, `https://${registry}/v2/app/blobs/${configDigest}`);
  });

  it('refuses a blob whose bytes do not match, in memory and as a stream', async () => {
    const wrong = `sha256:${'f'.repeat(64)}`;
    const { stream } = fakeStream(() => reply(200, config));
    const c = new RegistryClient({ registry, stream, retry: fastRetry, sleep: noSleep });
    await assert.rejects(c.getBlob('app', wrong), DigestMismatchError);
    const opened = await c.openBlob('app', wrong);
    await assert.rejects(readAll(opened), DigestMismatchError);
  });

  it("follows a redirect to storage without sending the registry's Authorization there, but keeps it on the same host", async () => {
    const { stream, requests } = fakeStream((request) => {
      const url = new URL(request.url);
      if (url.pathname.endsWith('/oauth2/token')) return reply(200, { access_token: 'acc' });
      if (url.host === registry && url.pathname.startsWith('/v2/') && !request.headers?.Authorization)
        return reply(401, '', challenge('repository:app:pull'));
      if (url.host === registry && url.pathname.startsWith('/v2/')) return reply(307, '', { location: `/moved/${configDigest}` });
      if (url.host === registry && url.pathname.startsWith('/moved/'))
        return reply(302, '', { location: `https://storage.blob.example/x?sig=secret` });
      return reply(200, config);
    });
    const http = fakeHttp(() => reply(200, { access_token: 'acc' })).http;
    const c = new RegistryClient({ registry, credentials: { registry, username: ACR_TOKEN_USERNAME, password: 'r' }, http, stream });
    const stream2 = await c.openBlob('app', configDigest);
    assert.deepEqual(await readAll(stream2), config);
    assert.deepEqual(
      requests.map((r) => `${new URL(r.url).host}${new URL(r.url).pathname} ${r.headers?.Authorization ?? '-'}`),
      [
        `${registry}/v2/app/blobs/${configDigest} -`,
        `${registry}/v2/app/blobs/${configDigest} Bearer acc`,
        `${registry}/moved/${configDigest} Bearer acc`,
        'storage.blob.example/x -',
      ],
    );
  });

  it('retries a blob on 503 and a reset, and reports the final error code', async () => {
    const script: (() => ReturnType<typeof reply>)[] = [
      () => reply(503),
      () => {
        throw networkError('ECONNRESET');
      },
      () => reply(200, config),
    ];
    const { stream, requests } = fakeStream(() => script.shift()!());
    const c = new RegistryClient({ registry, stream, retry: fastRetry, sleep: noSleep });
    assert.deepEqual(await c.getBlob('app', configDigest), config);
    assert.equal(requests.length, 3);

    const { stream: missing } = fakeStream(() => reply(404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] }));
    const c2 = new RegistryClient({ registry, stream: missing, retry: fastRetry, sleep: noSleep });
    await assert.rejects(c2.openBlob('app', configDigest), (e: RegistryError) => e.code === 'BLOB_UNKNOWN' && e.status === 404);
  });
});

describe('OCI types: attestation manifests', () => {
  it("sets BuildKit's attestation manifests aside and keeps the images", () => {
    assert.deepEqual(
      imageManifests(index).map((d) => d.platform?.architecture),
      ['amd64', 'arm64'],
    );
    assert.ok(isAttestationManifest(attestationEntry('x')));
    assert.ok(
      isAttestationManifest({
        mediaType: MediaType.ociManifest,
        digest: 'x',
        size: 1,
        platform: { os: 'unknown', architecture: 'unknown' },
      }),
    );
    assert.ok(!isAttestationManifest(platformEntry('amd64', 'x')));
    assert.ok(
      !isAttestationManifest({
        mediaType: MediaType.ociManifest,
        digest: 'x',
        size: 1,
        annotations: { 'vnd.docker.reference.type': 'something-else' },
      }),
    );
  });
  it('tells an index from an image manifest by media type or shape', () => {
    assert.ok(isIndex(index));
    assert.ok(isIndex({ schemaVersion: 2, manifests: [] }));
    assert.ok(!isIndex({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config: platformEntry('amd64', 'x'), layers: [] }));
    assert.ok(isIndex({ schemaVersion: 2, manifests: [] }, MediaType.dockerManifestList));
  });
});
