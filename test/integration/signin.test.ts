// Signing in from every kind of service connection users have, each ending in a real `docker login` through
// the job-local DOCKER_CONFIG and a manifest read (by docker and by RegistryClient), with no secret in a log
// line or a process argument.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TaskApi } from 'azure-devops-node-api/TaskApi';
import { BearerCredentialHandler } from 'azure-devops-node-api/handlers/bearertoken';
import { userDockerConfigDir } from '../../src/docker/config';
import { ACR_TOKEN_USERNAME } from '../../src/registry/credentials';
import { LabControl } from '../lab/client';
import { acrAccessToken, identityRefreshToken, pushTestImage } from '../lab/emulators/testkit';
import { type Lab, readLab } from '../lab/lab';
import { type ConnectionData, type DriverRun, labConnection, labOidc, labSecrets, runDriver } from './signin-lab';

const contoso = 'contoso.azurecr.io';
const fabrikam = 'fabrikam.azurecr.io';

interface SignInDocker {
  method: string;
  username: string;
  secrets: string[];
  loggedInTo: string[];
  configDir: string;
  configDirRemoved: boolean;
  dockerDigest: string;
  clientDigest: string;
}

describe('sign-in to ACR from service connections (lab)', function () {
  this.timeout(180_000);
  // The audit log and faults are shared by everyone using the lab; another test's reset() can clear them mid-test.
  this.retries(1);
  let lab: Lab;
  let parentDir: string;
  const control = new LabControl();
  const images: Record<string, { repository: string; digest: string }> = {};

  before(async () => {
    lab = readLab();
    parentDir = mkdtempSync(path.join(os.tmpdir(), 'signin-it-'));
    for (const registry of [contoso, fabrikam]) {
      const repository = `it-signin/app-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
      const token = await acrAccessToken(lab, registry, await identityRefreshToken(lab, registry, 'builder'), [
        `repository:${repository}:pull,push`,
      ]);
      images[registry] = { repository, digest: (await pushTestImage(lab, registry, token, repository, '1')).digest };
    }
  });
  after(() => rmSync(parentDir, { recursive: true, force: true }));

  function assertNoLeak(run: DriverRun<{ secrets: string[] }>): void {
    const secrets = [...labSecrets(lab), ...run.result.secrets];
    const logged = secrets.filter((secret) => secret.length >= 6 && run.log.includes(secret));
    assert.deepEqual(logged, [], 'no secret in the log');
    const argv = run.commandLines.filter((line) => secrets.some((secret) => secret.length >= 6 && line.includes(secret)));
    assert.deepEqual(argv, [], 'no secret in a process argument');
    assert.ok(
      run.commandLines.some((line) => line.includes('login --username')),
      'docker login ran while argv was watched',
    );
    const userConfig = path.join(userDockerConfigDir(), 'config.json');
    if (existsSync(userConfig)) {
      const text = readFileSync(userConfig, 'utf8');
      assert.ok(!run.result.secrets.some((secret) => text.includes(secret)), "nothing of this sign-in in the user's docker config");
    }
  }

  async function signInAndRead(registry: string, connection: ConnectionData, kind: 'azure' | 'dockerRegistry' = 'azure') {
    const image = images[registry];
    const run = await runDriver<SignInDocker>(lab, 'signin-docker', {
      registry,
      connection,
      kind,
      oidc: labOidc(lab),
      parentDir,
      ...image,
    });
    assert.equal(run.result.dockerDigest, image.digest, 'docker read the manifest with the stored login');
    assert.equal(run.result.clientDigest, image.digest, 'RegistryClient read the manifest');
    assert.deepEqual(run.result.loggedInTo, [registry]);
    assert.equal(path.dirname(run.result.configDir), parentDir);
    assert.ok(run.result.configDirRemoved, 'the job-local DOCKER_CONFIG is removed');
    assertNoLeak(run);
    return run.result;
  }

  it('service principal with a secret', async () => {
    const result = await signInAndRead(fabrikam, labConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'));
    assert.equal(result.username, ACR_TOKEN_USERNAME);
    assert.match(result.method, /service principal, secret/);
  });

  it('service principal with a certificate', async () => {
    const result = await signInAndRead(fabrikam, labConnection(lab, 'builder', 'ServicePrincipal', 'spnCertificate'));
    assert.equal(result.username, ACR_TOKEN_USERNAME);
    assert.match(result.method, /service principal, certificate/);
  });

  it('workload identity federation (OIDC token from Azure DevOps through TaskApi)', async () => {
    const mark = await control.auditMark();
    const result = await signInAndRead(fabrikam, labConnection(lab, 'builder', 'WorkloadIdentityFederation'));
    assert.match(result.method, /workload identity federation/);
    const audit = await control.audit(mark);
    const oidc = audit.filter((entry) => entry.path.endsWith('/oidctoken'));
    assert.equal(oidc.length, 1, 'one OIDC token request');
    assert.equal(oidc[0].status, 200);
    assert.equal(oidc[0].identity, 'serviceConnection:builder-wif');
    const exchange = audit.filter((entry) => entry.host === fabrikam && entry.path === '/oauth2/exchange');
    assert.deepEqual(
      exchange.map((e) => [e.status, e.identity, e.form?.grant_type, e.form?.tenant]),
      [[200, 'builder', 'access_token', lab.entra.tenantId]],
    );
  });

  it('workload identity federation with a late-bound idToken asks Azure DevOps for nothing', async () => {
    // Get an OIDC token the way the agent would have, then hand it in as the connection's idToken.
    const connection = labConnection(lab, 'builder', 'WorkloadIdentityFederation');
    const ado = lab.azureDevOps;
    const api = new TaskApi(ado.collectionUri, [new BearerCredentialHandler(ado.accessToken, false)], { cert: { caFile: lab.caFile } });
    const idToken = (await api.createOidcToken({}, ado.projectId, ado.hostType, ado.planId, ado.jobId, connection.id)).oidcToken!;
    const mark = await control.auditMark();
    const run = await runDriver<{ method: string; secrets: string[] }>(lab, 'signin', {
      registry: fabrikam,
      connection: { ...connection, parameters: { ...connection.parameters, idtoken: idToken } },
    });
    assert.ok(run.result.secrets.includes(idToken), 'the idToken is reported as a secret');
    assert.equal((await control.audit(mark)).filter((e) => e.path.endsWith('/oidctoken')).length, 0);
    assert.ok(!run.log.includes(idToken));
  });

  it('managed identity (IMDS)', async () => {
    const mark = await control.auditMark();
    const result = await signInAndRead(contoso, labConnection(lab, 'managed', 'ManagedServiceIdentity'));
    assert.match(result.method, /managed identity/);
    const audit = await control.audit(mark);
    assert.ok(
      audit.some((e) => e.host === contoso && e.path === '/oauth2/exchange' && e.status === 200 && e.identity === 'managed'),
      'exchanged as the managed identity',
    );
  });

  it('Docker registry connection with the admin user', async () => {
    const admin = lab.registries[fabrikam].admin;
    const connection: ConnectionData = {
      id: 'docker-admin',
      scheme: 'UsernamePassword',
      parameters: { registry: `https://${fabrikam}`, username: admin.username, password: admin.password, email: '' },
      dataParameters: {},
      url: `https://${fabrikam}`,
    };
    const result = await signInAndRead(fabrikam, connection, 'dockerRegistry');
    assert.equal(result.username, admin.username);
  });

  it('an identity without a role on the registry fails at sign-in, naming the role', async () => {
    await assert.rejects(
      runDriver(lab, 'signin', {
        registry: contoso,
        connection: labConnection(lab, 'nobody', 'ServicePrincipal', 'spnKey'),
        checkAccess: { repository: 'anything', actions: ['pull'] },
      }),
      /may not pull on contoso\.azurecr\.io\/anything \(granted: nothing\)\. Assign it the AcrPull role/,
    );
    await assert.rejects(
      runDriver(lab, 'signin', {
        registry: contoso,
        connection: labConnection(lab, 'puller', 'ServicePrincipal', 'spnKey'),
        checkAccess: { repository: 'anything', actions: ['pull', 'push'] },
      }),
      /may not push .*granted: pull\)\. Assign it the AcrPush role/,
    );
  });

  it('a wrong client secret says what to fix, without the secret', async () => {
    const connection = labConnection(lab, 'builder', 'ServicePrincipal', 'spnKey');
    connection.parameters.serviceprincipalkey = 'not-the-secret-value';
    const error = await runDriver(lab, 'signin', { registry: fabrikam, connection }).catch((e: Error & { log?: string }) => e);
    assert.ok(error instanceof Error);
    assert.match(
      error.message,
      /could not get an Entra ID token from https:\/\/login\.lab\.test \(service principal with a client secret\): the client secret is wrong or expired/,
    );
    assert.ok(!error.message.includes('not-the-secret-value') && !String((error as { log?: string }).log).includes('not-the-secret-value'));
  });

  it('workload identity federation: a refused or unknown OIDC request says what to fix', async () => {
    const connection = labConnection(lab, 'builder', 'WorkloadIdentityFederation');
    await assert.rejects(
      runDriver(lab, 'signin', { registry: fabrikam, connection, oidc: { ...labOidc(lab), accessToken: 'not-the-job-token-value' } }),
      /Service connection '.*' \(WorkloadIdentityFederation\): Azure DevOps refused to issue an OIDC token \(401\): .*authorize the connection for this pipeline/,
    );
    await assert.rejects(
      runDriver(lab, 'signin', {
        registry: fabrikam,
        connection: { ...connection, id: '00000000-1111-2222-3333-444444444444' },
        oidc: labOidc(lab),
      }),
      /Service connection '00000000-1111-2222-3333-444444444444' \(WorkloadIdentityFederation\): Azure DevOps issued no OIDC token \(answered 404 or without a token\): the service connection may not exist in this project/,
    );
  });

  it('a host that is not an ACR is named as such', async () => {
    await assert.rejects(
      runDriver(lab, 'signin', { registry: 'releases.lab.test', connection: labConnection(lab, 'builder', 'ServicePrincipal', 'spnKey') }),
      /releases\.lab\.test is not an Azure Container Registry: it has no token exchange/,
    );
  });

  it('leaves nothing behind in the step temp directory', () => {
    assert.deepEqual(readdirSync(parentDir), []);
  });
});
