// The ACR emulator against the real clients: docker login (dockerd's GET /oauth2/token with Basic), a buildx
// multi-platform push (BuildKit's password grant), daemon pulls (containerd's password grant), quarantine as
// docker shows it, and the workload identity federation chain ending in a docker login.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ClientAssertionCredential, ClientSecretCredential } from '@azure/identity';
import * as azdev from 'azure-devops-node-api';
import { busyboxDockerfile, makeBuildContext, type BuildContext } from '../lab/base';
import { LabControl } from '../lab/client';
import { nullGuid } from '../lab/emulators/acr/auth';
import { acrCall, acrRefreshToken, DockerClient, identityRefreshToken, uniqueRepository, dockerOk } from '../lab/emulators/testkit';
import { type Lab, readLab, serviceConnectionId } from '../lab/lab';

const contoso = 'contoso.azurecr.io';
const fabrikam = 'fabrikam.azurecr.io';
const acrScope = 'https://containerregistry.azure.net/.default';

const ok = dockerOk;

interface IndexManifest {
  manifests: Array<{ digest: string; platform?: { architecture: string; os: string } }>;
}

describe('lab emulators: ACR with docker, BuildKit and containerd', function () {
  this.timeout(600_000);
  let lab: Lab;
  let context: BuildContext;
  let metadataDir: string;
  const control = new LabControl();
  const clients: DockerClient[] = [];

  before(() => {
    lab = readLab();
    // a stamp makes every run's image new, so records and pulls never come from an earlier run
    context = makeBuildContext({
      lab,
      dockerfile: `${busyboxDockerfile}COPY stamp.txt /stamp.txt\n`,
      files: { 'stamp.txt': randomBytes(16).toString('hex') },
    });
    metadataDir = mkdtempSync(path.join(os.tmpdir(), 'lab-emulators-metadata-'));
  });

  after(() => {
    context?.remove();
    rmSync(metadataDir, { recursive: true, force: true });
    for (const client of clients) client.remove();
  });

  const dockerClient = () => {
    const client = new DockerClient();
    clients.push(client);
    return client;
  };
  const credentialOptions = () => ({
    authorityHost: lab.entra.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: readFileSync(lab.caFile, 'utf8') },
  });

  /** buildx build --push for the platforms; returns the pushed digest from the metadata file. */
  function buildAndPush(client: DockerClient, reference: string, platforms: string): string {
    const metadataFile = path.join(metadataDir, `${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
    ok(
      client.run(['buildx', 'build', '--platform', platforms, '--push', '--metadata-file', metadataFile, '-t', reference, context.dir]),
      `buildx push of ${reference}`,
    );
    return (JSON.parse(readFileSync(metadataFile, 'utf8')) as Record<string, string>)['containerimage.digest'];
  }

  describe('the token flow of a push, then quarantine (one image, in order)', () => {
    const repository = uniqueRepository('docker');
    const reference = `${contoso}/${repository}:1`;
    let builder: DockerClient;
    let indexDigest: string;
    let children: string[];

    it('docker login -u <null GUID> --password-stdin with an ACR refresh token from ClientSecretCredential + /oauth2/exchange', async () => {
      const identity = lab.identities.builder;
      const credential = new ClientSecretCredential(lab.entra.tenantId, identity.clientId, identity.secret, credentialOptions());
      const refreshToken = await acrRefreshToken(lab, contoso, (await credential.getToken(acrScope)).token);
      builder = dockerClient();
      const mark = await control.auditMark();
      const login = builder.login(contoso, nullGuid, refreshToken);
      assert.match(ok(login, 'docker login'), /Login Succeeded/);
      // other suites may use the lab at the same time: pick dockerd's own token request (client_id=docker)
      const tokenCall = (await control.audit(mark)).find(
        (entry) => entry.host === contoso && entry.path === '/oauth2/token' && entry.query.client_id === 'docker',
      );
      assert.equal(tokenCall?.method, 'GET');
      assert.equal(tokenCall?.status, 200);
      assert.equal(tokenCall?.identity, 'builder');
      assert.equal(tokenCall?.query.account, nullGuid);
      assert.equal(tokenCall?.query.service, contoso);
      const auths = builder.config().auths as Record<string, { auth?: string; identitytoken?: string }>;
      assert.ok(auths[contoso]?.auth, 'the answer has no refresh_token, so docker keeps user and password');
      assert.equal(auths[contoso].identitytoken, undefined);
    });

    it('buildx pushes a multi-platform image through the token flow (pushersSeeQuarantined on), every manifest quarantined', async () => {
      const mark = await control.auditMark();
      await control.setPolicy(contoso, { pushersSeeQuarantined: true });
      try {
        indexDigest = buildAndPush(builder, reference, 'linux/amd64,linux/arm64');
      } finally {
        await control.setPolicy(contoso, { pushersSeeQuarantined: false });
      }
      assert.match(indexDigest, /^sha256:[0-9a-f]{64}$/);
      const calls = (await control.audit(mark)).filter((entry) => entry.host === contoso);
      const tokenRequest = calls.find((entry) => entry.path === '/oauth2/token' && entry.method === 'POST');
      assert.equal(tokenRequest?.form?.grant_type, 'password');
      assert.equal(tokenRequest?.form?.username, nullGuid);
      assert.match(String(tokenRequest?.form?.client_id), /^(buildkit|containerd)-client$/);
      assert.equal(tokenRequest?.identity, 'builder');
      assert.ok(
        calls.some(
          (entry) =>
            entry.method === 'PUT' &&
            entry.path === `/v2/${repository}/manifests/1` &&
            entry.status === 201 &&
            entry.identity === 'builder',
        ),
      );
      const index = await acrCall(
        lab,
        contoso,
        await identityRefreshToken(lab, contoso, 'qreader'),
        `/v2/${repository}/manifests/${indexDigest}`,
        {
          headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
        },
      );
      assert.equal(index.status, 200);
      children = index.json<IndexManifest>().manifests.map((manifest) => manifest.digest);
      assert.ok(children.length >= 2);
      for (const digest of [indexDigest, ...children]) {
        assert.equal((await control.quarantineRecord(contoso, repository, digest))?.quarantineState, 'Quarantined', digest);
      }
    });

    it('with pushersSeeQuarantined off (default), buildx --push stores everything but fails its digest look-up by tag', async () => {
      const other = `${contoso}/${repository}:strict`;
      const mark = await control.auditMark();
      const result = builder.run(['buildx', 'build', '--platform', 'linux/amd64', '--push', '-t', other, context.dir]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /manifest unknown: manifest tagged by "strict" is not found/);
      const calls = (await control.audit(mark)).filter((entry) => entry.path === `/v2/${repository}/manifests/strict`);
      assert.ok(
        calls.some((entry) => entry.method === 'PUT' && entry.status === 201),
        'the push itself went through',
      );
      ok(builder.run(['image', 'rm', other]), 'docker image rm');
    });

    it('with pushersSeeQuarantined off, build then docker push works (docker push resolves nothing after the push)', async () => {
      const other = `${contoso}/${repository}:pushed`;
      ok(
        builder.run(['buildx', 'build', '--platform', 'linux/amd64,linux/arm64', '-t', other, context.dir]),
        'buildx build into the image store',
      );
      const mark = await control.auditMark();
      ok(builder.run(['push', other]), 'docker push');
      const puts = (await control.audit(mark)).filter(
        (entry) => entry.method === 'PUT' && entry.path === `/v2/${repository}/manifests/pushed`,
      );
      assert.ok(puts.length > 0 && puts.every((entry) => entry.status === 201 && entry.identity === 'builder'));
      ok(builder.run(['image', 'rm', other, reference]), 'docker image rm');
    });

    it('hides the image from an AcrPull identity: by tag "not found", by digest 403 (containerd HEADs, so no message)', async () => {
      const puller = dockerClient();
      ok(puller.login(contoso, nullGuid, await identityRefreshToken(lab, contoso, 'puller')), 'puller login');
      const mark = await control.auditMark();
      const byTag = puller.run(['pull', reference]);
      assert.notEqual(byTag.code, 0);
      assert.match(byTag.stderr, /not found/);
      const byDigest = puller.run(['pull', `${contoso}/${repository}@${indexDigest}`]);
      assert.notEqual(byDigest.code, 0);
      assert.match(byDigest.stderr, /unexpected status from HEAD request to .+: 403 Forbidden/);
      const calls = await control.audit(mark);
      assert.ok(
        calls.some(
          (entry) => entry.path === `/v2/${repository}/manifests/${indexDigest}` && entry.status === 403 && entry.identity === 'puller',
        ),
      );
      const daemonToken = calls.find((entry) => entry.path === '/oauth2/token' && entry.method === 'POST' && entry.identity === 'puller');
      assert.equal(daemonToken?.form?.client_id, 'containerd-client');
      assert.equal(daemonToken?.form?.grant_type, 'password');
    });

    it('lets a quarantine reader pull it by digest', async () => {
      const reader = dockerClient();
      ok(reader.login(contoso, nullGuid, await identityRefreshToken(lab, contoso, 'qreader')), 'qreader login');
      const byDigest = `${contoso}/${repository}@${indexDigest}`;
      ok(reader.run(['pull', '--platform', 'linux/amd64', byDigest]), 'qreader pull by digest');
      ok(reader.run(['image', 'rm', byDigest]), 'docker image rm');
    });

    it('shows it to the AcrPull identity once an AcrQuarantineWriter PATCHes the index and its manifests to Passed', async () => {
      const scanner = await identityRefreshToken(lab, contoso, 'scanner');
      for (const digest of [indexDigest, ...children]) {
        const answer = await acrCall(lab, contoso, scanner, `/acr/v1/${repository}/_manifests/${digest}`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            quarantineState: 'Passed',
            quarantineDetails: JSON.stringify({ scanner: 'lab', state: 'Passed', result: { version: '1', summary: [] } }),
          }),
        });
        assert.equal(answer.status, 200, answer.text);
      }
      const puller = dockerClient();
      ok(puller.login(contoso, nullGuid, await identityRefreshToken(lab, contoso, 'puller')), 'puller login');
      ok(puller.run(['pull', '--platform', 'linux/arm64', reference]), 'puller pull by tag');
      assert.match(ok(puller.run(['run', '--rm', '--platform', 'linux/arm64', reference]), 'docker run'), /built on aarch64/);
      ok(puller.run(['image', 'rm', reference]), 'docker image rm');
    });
  });

  describe('other ways in', () => {
    it('workload identity federation: ADO OIDC token -> Entra client assertion -> ACR exchange -> docker login, then a push', async () => {
      const ado = lab.azureDevOps;
      const connectionId = serviceConnectionId(lab, 'builder', 'WorkloadIdentityFederation');
      const webApi = new azdev.WebApi(ado.collectionUri, azdev.getHandlerFromToken(ado.accessToken), { cert: { caFile: lab.caFile } });
      const taskApi = await webApi.getTaskApi();
      const getAssertion = async () =>
        (await taskApi.createOidcToken({}, ado.projectId, ado.hostType, ado.planId, ado.jobId, connectionId)).oidcToken as string;
      const credential = new ClientAssertionCredential(
        lab.entra.tenantId,
        lab.identities.builder.clientId,
        getAssertion,
        credentialOptions(),
      );
      const refreshToken = await acrRefreshToken(lab, fabrikam, (await credential.getToken(acrScope)).token);
      const client = dockerClient();
      assert.match(ok(client.login(fabrikam, nullGuid, refreshToken), 'docker login'), /Login Succeeded/);
      const repository = uniqueRepository('wif');
      const digest = buildAndPush(client, `${fabrikam}/${repository}:wif`, 'linux/amd64');
      assert.equal((await control.quarantineRecord(fabrikam, repository, digest))?.quarantineState, 'Passed', 'fabrikam has no quarantine');
      ok(client.run(['image', 'rm', `${fabrikam}/${repository}:wif`]), 'docker image rm');
    });

    it('docker login with the admin user and with a service principal (client id + secret)', async () => {
      const admin = lab.registries[contoso].admin;
      const mark = await control.auditMark();
      ok(dockerClient().login(contoso, admin.username, admin.password), 'admin login');
      const scanner = lab.identities.scanner;
      ok(dockerClient().login(contoso, scanner.clientId, scanner.secret), 'service principal login');
      const logins = (await control.audit(mark)).filter((entry) => entry.path === '/oauth2/token' && entry.query.client_id === 'docker');
      assert.equal(logins.find((entry) => entry.query.account === admin.username)?.identity, `admin:${admin.username}`);
      assert.equal(logins.find((entry) => entry.query.account === scanner.clientId)?.identity, 'scanner');
      const before = await control.auditMark();
      const wrong = dockerClient().login(contoso, admin.username, 'not-the-password');
      assert.notEqual(wrong.code, 0);
      // docker then also tries plain HTTP (127.0.0.0/8 counts as an insecure registry), so its message varies
      const refused = (await control.audit(before)).find(
        (entry) => entry.path === '/oauth2/token' && entry.query.account === admin.username,
      );
      assert.equal(refused?.status, 401);
    });
  });
});
