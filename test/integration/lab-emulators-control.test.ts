// The lab control API: every fault kind as a client observes it (raw HTTPS, @azure/identity, docker), the audit
// log (every host, no secrets), reset, policy and its validation; and the releases server.
import { strict as assert } from 'node:assert';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ClientSecretCredential } from '@azure/identity';
import { LabControl, LabControlError } from '../lab/client';
import { nullGuid } from '../lab/emulators/acr/auth';
import {
  acrAccessToken,
  acrCall,
  DockerClient,
  formBody,
  formHeaders,
  identityRefreshToken,
  labRequest,
  pushTestImage,
  uniqueRepository,
} from '../lab/emulators/testkit';
import { type Lab, readLab } from '../lab/lab';

const contoso = 'contoso.azurecr.io';
const fabrikam = 'fabrikam.azurecr.io';

describe('lab emulators: control API, faults, audit, releases', function () {
  this.timeout(120_000);
  let lab: Lab;
  const control = new LabControl();
  // faults target a repository only this suite uses, so suites running at the same time are not hit
  const repository = uniqueRepository('faults');
  const tagsPath = `/v2/${repository}/tags/list`;
  let pullToken: string;

  before(async () => {
    lab = readLab();
    const builder = await identityRefreshToken(lab, fabrikam, 'builder');
    await pushTestImage(
      lab,
      fabrikam,
      await acrAccessToken(lab, fabrikam, builder, [`repository:${repository}:pull,push`]),
      repository,
      'v1',
    );
    pullToken = await acrAccessToken(lab, fabrikam, builder, [`repository:${repository}:pull`]);
  });

  const listTags = (timeoutMs?: number) =>
    labRequest(lab, `https://${fabrikam}${tagsPath}`, { headers: { Authorization: `Bearer ${pullToken}` }, timeoutMs });

  describe('faults as clients see them', () => {
    it('429 with Retry-After, once, then healthy', async () => {
      await control.addFault({ host: fabrikam, path: `^${tagsPath}$`, kind: '429', retryAfter: 7 });
      const limited = await listTags();
      assert.equal(limited.status, 429);
      assert.equal(limited.headers['retry-after'], '7');
      assert.equal(limited.json<{ errors: Array<{ code: string }> }>().errors[0].code, 'TOOMANYREQUESTS');
      const healthy = await listTags();
      assert.equal(healthy.status, 200);
      assert.deepEqual(healthy.json<{ tags: string[] }>().tags, ['v1']);
    });

    it('500 n times, then healthy', async () => {
      await control.addFault({ host: fabrikam, path: `^${tagsPath}$`, kind: '500', times: 2 });
      assert.equal((await listTags()).status, 500);
      assert.equal((await listTags()).status, 500);
      assert.equal((await listTags()).status, 200);
    });

    it('503 forever until removed (hits counted), only for the method and host given', async () => {
      const id = await control.addFault({ host: fabrikam, method: 'GET', path: `^${tagsPath}$`, kind: '503', times: -1, retryAfter: 2 });
      try {
        for (let i = 0; i < 3; i += 1) {
          const answer = await listTags();
          assert.equal(answer.status, 503);
          assert.equal(answer.headers['retry-after'], '2');
        }
        const head = await labRequest(lab, `https://${fabrikam}${tagsPath}`, {
          method: 'HEAD',
          headers: { Authorization: `Bearer ${pullToken}` },
        });
        assert.equal(head.status, 405, 'HEAD is not faulted: the registry itself answers (it has no HEAD for tags/list)');
        assert.equal((await labRequest(lab, `https://${contoso}${tagsPath}`)).status, 401, 'contoso is not faulted');
        assert.equal((await control.faults()).find((fault) => fault.id === id)?.hits, 3);
      } finally {
        await control.removeFault(id);
      }
      assert.equal((await listTags()).status, 200);
    });

    it('reset drops the connection (ECONNRESET) and the audit shows status 0', async () => {
      const mark = await control.auditMark();
      await control.addFault({ host: fabrikam, path: `^${tagsPath}$`, kind: 'reset' });
      await assert.rejects(listTags(), (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET');
      const entry = (await control.audit(mark)).find((candidate) => candidate.path === tagsPath);
      assert.equal(entry?.status, 0);
      assert.equal(entry?.fault, 'reset');
      assert.equal((await listTags()).status, 200);
    });

    it('slow holds the answer (a client with a shorter timeout gives up), then answers normally', async () => {
      await control.addFault({ host: fabrikam, path: `^${tagsPath}$`, kind: 'slow', delayMs: 3000 });
      await assert.rejects(listTags(300), /timed out after 300 ms/);
      await control.addFault({ host: fabrikam, path: `^${tagsPath}$`, kind: 'slow', delayMs: 500 });
      const mark = await control.auditMark();
      const slow = await listTags();
      assert.equal(slow.status, 200);
      assert.deepEqual(slow.json<{ tags: string[] }>().tags, ['v1']);
      assert.equal((await control.audit(mark)).find((entry) => entry.path === tagsPath)?.fault, 'slow');
    });

    it('@azure/identity retries a 503 of the token endpoint and gets its token (audit: 503, then 200)', async () => {
      const puller = lab.identities.puller;
      const mark = await control.auditMark();
      await control.addFault({ host: 'login.lab.test', method: 'POST', path: '/oauth2/v2.0/token$', kind: '503', retryAfter: 0 });
      const credential = new ClientSecretCredential(lab.entra.tenantId, puller.clientId, puller.secret, {
        authorityHost: lab.entra.authorityHost,
        disableInstanceDiscovery: true,
        tlsOptions: { ca: readFileSync(lab.caFile, 'utf8') },
      });
      assert.ok((await credential.getToken('https://containerregistry.azure.net/.default')).token);
      const posts = (await control.audit(mark)).filter((entry) => entry.host === 'login.lab.test' && entry.method === 'POST');
      assert.equal(posts[0]?.fault, '503');
      assert.equal(posts[0]?.status, 503);
      assert.ok(posts.some((entry) => entry.status === 200 && entry.form?.client_id === puller.clientId));
    });

    it('the IMDS endpoint can be faulted too', async () => {
      await control.addFault({ host: '127.0.0.1:8090', path: '^/metadata/identity/oauth2/token', kind: '500' });
      const answer = await labRequest(
        lab,
        `${lab.managedIdentityEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`,
        {
          headers: { Metadata: 'true' },
        },
      );
      assert.equal(answer.status, 500);
    });

    it('docker sees a registry fault and recovers once it is removed', async () => {
      const client = new DockerClient();
      try {
        assert.equal(client.login(fabrikam, nullGuid, await identityRefreshToken(lab, fabrikam, 'puller')).code, 0);
        const reference = `${fabrikam}/${repository}:v1`;
        const id = await control.addFault({ host: fabrikam, path: `^/v2/${repository}/manifests/`, kind: '500', times: -1 });
        let failed;
        try {
          failed = client.run(['buildx', 'imagetools', 'inspect', '--raw', reference]);
        } finally {
          await control.removeFault(id);
        }
        assert.notEqual(failed.code, 0);
        assert.match(failed.stderr, /500 Internal Server Error/);
        const inspected = client.run(['buildx', 'imagetools', 'inspect', '--raw', reference]);
        assert.equal(inspected.code, 0, inspected.stderr);
        assert.equal(JSON.parse(inspected.stdout).schemaVersion, 2);
      } finally {
        client.remove();
      }
    });
  });

  describe('audit log', () => {
    it('records every emulated host with method, path, query, status and identity', async () => {
      const mark = await control.auditMark();
      await labRequest(lab, `https://${contoso}/v2/`);
      await labRequest(lab, `${lab.entra.authorityHost}/${lab.entra.tenantId}/v2.0/.well-known/openid-configuration`);
      await labRequest(lab, `${lab.azureDevOps.collectionUri}_apis/distributedtask`, { method: 'OPTIONS' });
      await labRequest(lab, `${lab.releasesBaseUrl}/no-such-file`);
      await labRequest(
        lab,
        `${lab.managedIdentityEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`,
        { headers: { Metadata: 'true' } },
      );
      const entries = await control.audit(mark);
      const seen = (host: string, status: number) => entries.some((entry) => entry.host === host && entry.status === status);
      assert.ok(seen(contoso, 401));
      assert.ok(seen('login.lab.test', 200));
      assert.ok(seen('dev.azure.lab.test', 401));
      assert.ok(seen('releases.lab.test', 404));
      assert.ok(seen('127.0.0.1:8090', 200));
      const imds = entries.find((entry) => entry.host === '127.0.0.1:8090');
      assert.equal(imds?.identity, 'managed');
      assert.deepEqual(imds?.query, { 'api-version': '2018-02-01', resource: 'https://management.azure.com/' });
      for (const entry of entries) {
        assert.equal(typeof entry.seq, 'number');
        assert.ok(entry.seq > mark);
        assert.match(entry.time, /^\d{4}-\d\d-\d\dT/);
      }
    });

    it('never keeps a secret: not in the audit, not in the log file', async () => {
      const mark = await control.auditMark();
      const admin = lab.registries[contoso].admin;
      const builder = lab.identities.builder;
      const basic = (user: string, password: string) => ({
        Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      });
      const refreshToken = await identityRefreshToken(lab, contoso, 'builder');
      const accessToken = await acrAccessToken(lab, contoso, refreshToken, ['repository:x:pull']);
      await labRequest(lab, `https://${contoso}/oauth2/token?service=${contoso}&scope=repository:x:pull`, {
        headers: basic(admin.username, admin.password),
      });
      await labRequest(lab, `https://${contoso}/oauth2/token?service=${contoso}&scope=repository:x:pull`, {
        headers: basic(builder.clientId, builder.secret),
      });
      await labRequest(lab, `https://${contoso}/oauth2/token`, {
        method: 'POST',
        headers: formHeaders,
        body: formBody({
          grant_type: 'password',
          username: nullGuid,
          password: refreshToken,
          service: contoso,
          scope: 'repository:x:pull',
        }),
      });
      // a token placed in the query string (some clients do) is masked as well
      await labRequest(lab, `https://${contoso}/oauth2/token?service=${contoso}&refresh_token=${refreshToken}&password=${admin.password}`);
      await labRequest(lab, `${lab.azureDevOps.collectionUri}_apis/distributedtask`, {
        method: 'OPTIONS',
        headers: { Authorization: `Bearer ${lab.azureDevOps.accessToken}` },
      });
      const secrets = [admin.password, builder.secret, refreshToken, accessToken, lab.azureDevOps.accessToken];
      const audit = JSON.stringify(await control.audit(mark));
      const log = readFileSync(path.join(lab.logsDir, 'emulators.log'), 'utf8');
      for (const secret of secrets) {
        assert.ok(!audit.includes(secret), 'a secret is in the audit log');
        assert.ok(!log.includes(secret), 'a secret is in the emulators log file');
      }
      assert.ok(audit.includes('"refresh_token":"***"'));
    });
  });

  describe('control API', () => {
    it('validates faults and policies (400) and answers 404 for an unknown quarantine record', async () => {
      await assert.rejects(control.addFault({ path: '(', kind: '500' }), (error: LabControlError) => error.status === 400);
      await assert.rejects(control.addFault({ path: '^/', kind: '418' as never }), (error: LabControlError) => error.status === 400);
      await assert.rejects(control.setPolicy('nowhere.azurecr.io', { quarantine: true }), (error: LabControlError) => error.status === 400);
      await assert.rejects(
        control.setPolicy(contoso, { disallowedStatus: 500 as never }),
        (error: LabControlError) => error.status === 400,
      );
      assert.equal(await control.quarantineRecord(contoso, 'none', `sha256:${'0'.repeat(64)}`), undefined);
      const policies = await control.policies();
      assert.equal(policies[contoso].quarantine, true);
      assert.equal(policies[fabrikam].quarantine, false);
    });

    it('reset clears faults and the audit and puts policies back to lab.json', async () => {
      await control.addFault({ host: fabrikam, path: `^${tagsPath}$`, kind: '500', times: -1 });
      await control.setPolicy(contoso, { disallowedStatus: 405 });
      const before = await control.auditMark();
      await control.reset();
      assert.deepEqual(
        (await control.faults()).filter((fault) => fault.path === `^${tagsPath}$`),
        [],
      );
      assert.equal((await control.policies())[contoso].disallowedStatus, 403);
      assert.equal((await control.audit(0)).filter((entry) => entry.seq <= before).length, 0);
      assert.equal((await listTags()).status, 200);
      assert.ok((await control.auditMark()) > before, 'sequence numbers keep growing');
    });

    it('shows the record of a manifest the emulator saw pushed', async () => {
      const repo = uniqueRepository('record');
      const builder = await identityRefreshToken(lab, contoso, 'builder');
      const image = await pushTestImage(
        lab,
        contoso,
        await acrAccessToken(lab, contoso, builder, [`repository:${repo}:pull,push`]),
        repo,
        't',
      );
      const record = await control.quarantineRecord(contoso, repo, image.digest);
      assert.equal(record?.registry, contoso);
      assert.equal(record?.repository, repo);
      assert.equal(record?.digest, image.digest);
      assert.equal(record?.quarantineState, 'Quarantined');
      assert.equal(record?.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      assert.deepEqual(record?.tags, ['t']);
      assert.equal(record?.policy.quarantine, true);
      await acrCall(lab, contoso, await identityRefreshToken(lab, contoso, 'scanner'), `/acr/v1/${repo}/_manifests/${image.digest}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ quarantineState: 'Failed', quarantineDetails: '{"state":"failed"}' }),
      });
      const after = await control.quarantineRecord(contoso, repo, image.digest);
      assert.equal(after?.quarantineState, 'Failed');
      assert.equal(after?.quarantineDetails, '{"state":"failed"}');
    });
  });

  describe('releases.lab.test', () => {
    const folder = `lab-emulators-${randomUUID()}`;
    const content = randomBytes(1000);
    let directory: string;

    before(() => {
      directory = path.join(lab.releasesDir, folder);
      mkdirSync(directory, { recursive: true });
      writeFileSync(path.join(directory, 'asset.tar.gz'), content);
    });
    after(() => rmSync(directory, { recursive: true, force: true }));

    it('serves files of releasesDir with GET and HEAD', async () => {
      const url = `${lab.releasesBaseUrl}/${folder}/asset.tar.gz`;
      const get = await labRequest(lab, url);
      assert.equal(get.status, 200);
      assert.ok(get.body.equals(content));
      assert.equal(get.headers['content-type'], 'application/gzip');
      const head = await labRequest(lab, url, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], '1000');
      assert.equal(head.body.length, 0);
    });

    it('answers 404 for what is not there, directories and paths out of the folder, 405 for other methods', async () => {
      assert.equal((await labRequest(lab, `${lab.releasesBaseUrl}/${folder}/missing.txt`)).status, 404);
      assert.equal((await labRequest(lab, `${lab.releasesBaseUrl}/${folder}`)).status, 404);
      assert.equal((await labRequest(lab, `${lab.releasesBaseUrl}/%2e%2e/lab.json`)).status, 404);
      assert.equal((await labRequest(lab, `${lab.releasesBaseUrl}/${folder}/asset.tar.gz`, { method: 'POST', body: 'x' })).status, 405);
    });
  });
});
