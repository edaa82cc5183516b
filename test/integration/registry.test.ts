// RegistryClient against the lab: an index pushed by buildx (two platforms and BuildKit's attestation manifests),
// verified reads of manifests, configs and layers, and the faults a real registry throws (429, 500, resets),
// injected through the lab's control API on paths of this test's own repositories.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { RegistryClient } from '../../src/registry/client';
import { LabControl } from '../lab/client';
import { type BuildContext, makeBuildContext } from '../lab/base';
import { acrAccessToken, identityRefreshToken, pushTestImage } from '../lab/emulators/testkit';
import { type Lab, readLab } from '../lab/lab';
import { labConnection, labOidc, labSecrets, runDriver } from './signin-lab';

const fabrikam = 'fabrikam.azurecr.io';
const unique = (prefix: string) => `it-registry/${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const fastRetry = { attempts: 3, baseDelayMs: 200, maxDelayMs: 1000 };
const port = (server: Server) => (server.address() as AddressInfo).port;
const listen = (server: Server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

interface BuildxRead {
  secrets: string[];
  indexDigest: string;
  indexMediaType: string;
  byDigest: string;
  head: { digest: string; mediaType: string; size: number };
  resolved: string;
  entries: number;
  attestations: number;
  platforms: { platform: string; digest: string; config: string; layerBytes: number; layerSize: number }[];
}

describe('registry client against the lab', function () {
  this.timeout(300_000);
  // The audit log and faults are shared by everyone using the lab; another test's reset() can clear them mid-test.
  this.retries(1);
  let lab: Lab;
  let context: BuildContext;
  let parentDir: string;
  const control = new LabControl();
  const faults: string[] = [];

  before(() => {
    lab = readLab();
    context = makeBuildContext({ lab });
    parentDir = mkdtempSync(path.join(os.tmpdir(), 'registry-it-'));
  });
  afterEach(async () => {
    for (const id of faults.splice(0)) await control.removeFault(id).catch(() => undefined);
  });
  after(() => {
    context.remove();
    rmSync(parentDir, { recursive: true, force: true });
  });

  it('reads an index pushed by buildx: platforms, attestations set aside, configs and layers verified', async () => {
    const repository = unique('multi');
    const mark = await control.auditMark();
    const run = await runDriver<BuildxRead>(lab, 'registry-buildx', {
      registry: fabrikam,
      connection: labConnection(lab, 'builder', 'WorkloadIdentityFederation'),
      oidc: labOidc(lab),
      repository,
      tag: '1',
      contextDir: context.dir,
      platforms: 'linux/amd64,linux/arm64',
      parentDir,
    });
    const read = run.result;
    assert.equal(read.indexMediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(read.byDigest, read.indexDigest);
    assert.equal(read.resolved, read.indexDigest);
    assert.equal(read.head.digest, read.indexDigest);
    assert.ok(read.attestations >= 1, 'buildx added attestation manifests');
    assert.equal(read.entries, read.platforms.length + read.attestations);
    assert.deepEqual(read.platforms.map((p) => p.platform).sort(), ['linux/amd64', 'linux/arm64']);
    for (const platform of read.platforms) {
      assert.equal(platform.config, platform.platform, 'config os/architecture match the index entry');
      assert.equal(platform.layerBytes, platform.layerSize, 'the whole layer streamed and verified');
    }
    const tokenRequests = (await control.audit(mark)).filter(
      (e) => e.host === fabrikam && e.path === '/oauth2/token' && e.method === 'POST' && e.form?.scope === `repository:${repository}:pull`,
    );
    assert.ok(tokenRequests.length >= 1, 'RegistryClient asked for exactly the pull scope of the repository');
    const secrets = [...labSecrets(lab), ...read.secrets];
    assert.deepEqual(
      secrets.filter((s) => run.log.includes(s)),
      [],
    );
    assert.deepEqual(
      run.commandLines.filter((line) => secrets.some((s) => line.includes(s))),
      [],
    );
  });

  it("follows a blob redirect to storage on another host with the real transport, without the registry's Authorization", async () => {
    // Two loopback servers stand for a registry and its blob storage (the lab's registry does not redirect).
    const blob = Buffer.from('layer bytes '.repeat(1000));
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const seen: string[] = [];
    const storage = createServer((request, response) => {
      seen.push(`storage ${request.url} ${request.headers.authorization ?? '-'}`);
      response.end(blob);
    });
    const registryServer = createServer((request, response) => {
      const auth = request.headers.authorization ?? '-';
      seen.push(`registry ${request.method} ${request.url?.split('?')[0]} ${auth.split(' ')[0]}`);
      if (request.url?.startsWith('/token')) return void response.end(JSON.stringify({ token: 'registry-token' }));
      if (auth !== 'Bearer registry-token') {
        response.writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${port(registryServer)}/token",service="test",scope="repository:app:pull"`,
        });
        return void response.end();
      }
      response.writeHead(307, { location: `http://localhost:${port(storage)}/container/blob?sig=signed` });
      response.end();
    });
    await Promise.all([listen(storage), listen(registryServer)]);
    try {
      const client = new RegistryClient({
        registry: `127.0.0.1:${port(registryServer)}`,
        credentials: { registry: `127.0.0.1:${port(registryServer)}`, username: 'user', password: 'pass' },
      });
      assert.deepEqual(await client.getBlob('app', digest), blob);
      assert.deepEqual(seen, [
        `registry GET /v2/app/blobs/${digest} -`,
        'registry GET /token Basic',
        `registry GET /v2/app/blobs/${digest} Bearer`,
        'storage /container/blob?sig=signed -',
      ]);
    } finally {
      storage.close();
      registryServer.close();
    }
  });

  describe('faults', () => {
    let repository: string;
    let digest: string;
    before(async () => {
      repository = unique('faults');
      const token = await acrAccessToken(lab, fabrikam, await identityRefreshToken(lab, fabrikam, 'builder'), [
        `repository:${repository}:pull,push`,
      ]);
      digest = (await pushTestImage(lab, fabrikam, token, repository, '1')).digest;
    });
    const get = (extra: Record<string, unknown> = {}) =>
      runDriver<{ digest: string }>(lab, 'registry-get', {
        registry: fabrikam,
        connection: labConnection(lab, 'puller', 'ServicePrincipal', 'spnKey'),
        repository,
        reference: '1',
        retry: fastRetry,
        ...extra,
      });
    const manifestGets = async (mark: number) =>
      (await control.audit(mark)).filter((e) => e.host === fabrikam && e.method === 'GET' && e.path === `/v2/${repository}/manifests/1`);

    it('429 with Retry-After, then 200: retried and read', async () => {
      faults.push(
        await control.addFault({
          host: fabrikam,
          method: 'GET',
          path: `^/v2/${repository}/manifests/`,
          kind: '429',
          times: 1,
          retryAfter: 1,
        }),
      );
      const mark = await control.auditMark();
      const run = await get();
      assert.equal(run.result.digest, digest);
      const statuses = (await manifestGets(mark)).map((e) => e.status);
      assert.equal(statuses[0], 429);
      assert.equal(statuses.at(-1), 200);
      assert.match(run.log, /\[warn\] fabrikam\.azurecr\.io: 429 from fabrikam\.azurecr\.io; trying again in 1 s/);
    });

    it('a reset connection is retried', async () => {
      faults.push(
        await control.addFault({ host: fabrikam, method: 'GET', path: `^/v2/${repository}/manifests/`, kind: 'reset', times: 1 }),
      );
      const mark = await control.auditMark();
      const run = await get();
      assert.equal(run.result.digest, digest);
      const gets = await manifestGets(mark);
      assert.equal(gets[0].fault, 'reset');
      assert.equal(gets.at(-1)?.status, 200);
    });

    it('500 forever: bounded, and the error says so', async () => {
      faults.push(await control.addFault({ host: fabrikam, method: 'GET', path: `^/v2/${repository}/manifests/`, kind: '500', times: -1 }));
      const mark = await control.auditMark();
      await assert.rejects(
        get(),
        (error: Error & { status?: number }) =>
          error.status === 500 && /GET https:\/\/fabrikam\.azurecr\.io\/v2\/.*\/manifests\/1 answered 500/.test(error.message),
      );
      assert.equal((await manifestGets(mark)).length, fastRetry.attempts);
    });

    it('MANIFEST_UNKNOWN is retried only when asked, and bounded', async () => {
      const mark = await control.auditMark();
      await assert.rejects(get({ reference: 'no-such-tag' }), (error: Error & { code?: string }) => error.code === 'MANIFEST_UNKNOWN');
      await assert.rejects(
        get({ reference: 'no-such-tag', retryUnknown: true }),
        (error: Error & { code?: string }) => error.code === 'MANIFEST_UNKNOWN',
      );
      const gets = (await control.audit(mark)).filter(
        (e) => e.method === 'GET' && e.path === `/v2/${repository}/manifests/no-such-tag` && e.status === 404,
      );
      assert.equal(gets.length, 1 + fastRetry.attempts);
    });
  });
});
