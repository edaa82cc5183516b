// Entra ID, IMDS and Azure DevOps emulators against the clients that call them in production:
// @azure/identity (MSAL) with an authorityHost, ManagedIdentityCredential via AZURE_POD_IDENTITY_AUTHORITY_HOST,
// azure-devops-node-api's TaskApi.createOidcToken and AzurePipelinesCredential (shared/research/azdo-tasks.md §3,
// shared/notes/lab-recipe.md), plus the error shapes Entra answers with.
import { strict as assert } from 'node:assert';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomUUID, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  AzurePipelinesCredential,
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
} from '@azure/identity';
import * as azdev from 'azure-devops-node-api';
import { LabControl } from '../lab/client';
import { clientAssertionType } from '../lab/emulators/entra';
import { signJwt } from '../lab/emulators/jwt';
import { acrRefreshToken, claimsOf, formBody, formHeaders, headerOf, labRequest } from '../lab/emulators/testkit';
import { type Lab, readLab, serviceConnectionId } from '../lab/lab';

const acrScope = 'https://containerregistry.azure.net/.default';
const armScope = 'https://management.azure.com/.default';

interface AadError {
  error: string;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
}

describe('lab emulators: Entra ID, IMDS and Azure DevOps', function () {
  this.timeout(60_000);
  let lab: Lab;
  let ca: string;
  let tokenUrl: string;
  const control = new LabControl();

  before(() => {
    lab = readLab();
    ca = readFileSync(lab.caFile, 'utf8');
    tokenUrl = `${lab.entra.authorityHost}/${lab.entra.tenantId}/oauth2/v2.0/token`;
  });

  const credentialOptions = () => ({ authorityHost: lab.entra.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca } });
  const postToken = (fields: Record<string, string>) =>
    labRequest(lab, tokenUrl, { method: 'POST', headers: formHeaders, body: formBody(fields) });

  async function jwks(): Promise<Array<Record<string, string>>> {
    const configuration = await labRequest(lab, `${lab.entra.authorityHost}/${lab.entra.tenantId}/v2.0/.well-known/openid-configuration`);
    return (await labRequest(lab, configuration.json<{ jwks_uri: string }>().jwks_uri)).json<{ keys: Array<Record<string, string>> }>()
      .keys;
  }

  async function verifiesWithJwks(token: string): Promise<boolean> {
    const [header, payload, signature] = token.split('.');
    const key = (await jwks()).find((candidate) => candidate.kid === headerOf(token).kid);
    if (!key) return false;
    const publicKey = createPublicKey({ key: { kty: key.kty, n: key.n, e: key.e }, format: 'jwk' });
    return verify('sha256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url'));
  }

  describe('Entra ID (login.lab.test)', () => {
    it('publishes OpenID metadata pointing back at the emulator (what MSAL needs)', async () => {
      const answer = await labRequest(lab, `${lab.entra.authorityHost}/${lab.entra.tenantId}/v2.0/.well-known/openid-configuration`);
      assert.equal(answer.status, 200);
      const metadata = answer.json<Record<string, string>>();
      const base = `${lab.entra.authorityHost}/${lab.entra.tenantId}`;
      assert.equal(metadata.token_endpoint, `${base}/oauth2/v2.0/token`);
      assert.equal(metadata.issuer, `${base}/v2.0`);
      assert.equal(metadata.authorization_endpoint, `${base}/oauth2/v2.0/authorize`);
      assert.equal(metadata.end_session_endpoint, `${base}/oauth2/v2.0/logout`);
      assert.equal(metadata.jwks_uri, `${base}/discovery/v2.0/keys`);
    });

    it('issues ACR-audience tokens to ClientSecretCredential with tid, oid, appid, aud, exp, verifiable with the JWKS', async () => {
      const builder = lab.identities.builder;
      const mark = await control.auditMark();
      const credential = new ClientSecretCredential(lab.entra.tenantId, builder.clientId, builder.secret, credentialOptions());
      const { token, expiresOnTimestamp } = await credential.getToken(acrScope);
      const claims = claimsOf(token);
      assert.equal(claims.aud, 'https://containerregistry.azure.net');
      assert.equal(claims.tid, lab.entra.tenantId);
      assert.equal(claims.oid, lab.identities.builder.objectId);
      assert.equal(claims.appid, builder.clientId);
      assert.equal(claims.appidacr, '1');
      // MSAL computes expiresOn from expires_in at its own clock: the same moment within a second or two
      assert.ok(Math.abs((claims.exp as number) - expiresOnTimestamp / 1000) <= 2, `exp ${String(claims.exp)} vs ${expiresOnTimestamp}`);
      assert.ok(await verifiesWithJwks(token));
      // other suites may use the lab at the same time: pick this credential's own calls
      const calls = (await control.audit(mark)).filter((entry) => entry.host === 'login.lab.test');
      const tokenCall = calls.find((entry) => entry.method === 'POST' && entry.form?.client_id === builder.clientId);
      assert.equal(tokenCall?.path, `/${lab.entra.tenantId}/oauth2/v2.0/token`);
      assert.deepEqual(tokenCall?.form, { grant_type: 'client_credentials', client_id: builder.clientId, scope: acrScope });
      assert.equal(tokenCall?.identity, 'builder');
      assert.ok(calls.some((entry) => entry.path.endsWith('/v2.0/.well-known/openid-configuration')));
    });

    it('issues ARM-audience tokens too', async () => {
      const scanner = lab.identities.scanner;
      const credential = new ClientSecretCredential(lab.entra.tenantId, scanner.clientId, scanner.secret, credentialOptions());
      assert.equal(claimsOf((await credential.getToken(armScope)).token).aud, 'https://management.azure.com');
    });

    it('accepts a client certificate (ClientCertificateCredential: PS256 with x5t#S256)', async () => {
      const mark = await control.auditMark();
      const qreader = lab.identities.qreader;
      const credential = new ClientCertificateCredential(
        lab.entra.tenantId,
        qreader.clientId,
        { certificatePath: qreader.certificatePath },
        credentialOptions(),
      );
      const claims = claimsOf((await credential.getToken(acrScope)).token);
      assert.equal(claims.oid, qreader.objectId);
      assert.equal(claims.appidacr, '2');
      const call = (await control.audit(mark)).find((entry) => entry.method === 'POST' && entry.form?.client_id === qreader.clientId);
      assert.equal(call?.form?.client_assertion_type, clientAssertionType);
    });

    describe('certificate assertions signed by hand (RS256 with the SHA-1 x5t)', () => {
      let certificate: X509Certificate;
      let privateKey: KeyObject;
      before(() => {
        const pem = readFileSync(lab.identities.puller.certificatePath, 'utf8');
        certificate = new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0] ?? '');
        privateKey = createPrivateKey(pem);
      });

      const assertion = (claims: Record<string, unknown>, key: KeyObject = privateKey) => {
        const x5t = Buffer.from(certificate.fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
        return signJwt(claims, key, { x5t });
      };
      const now = () => Math.floor(Date.now() / 1000);
      const request = (clientAssertion: string) =>
        postToken({
          grant_type: 'client_credentials',
          client_id: lab.identities.puller.clientId,
          scope: acrScope,
          client_assertion_type: clientAssertionType,
          client_assertion: clientAssertion,
        });
      const valid = () => ({
        aud: tokenUrl,
        iss: lab.identities.puller.clientId,
        sub: lab.identities.puller.clientId,
        jti: randomUUID(),
        nbf: now(),
        exp: now() + 600,
      });

      it('issues a token for a valid one', async () => {
        const answer = await request(assertion(valid()));
        assert.equal(answer.status, 200, answer.text);
        const body = answer.json<{ token_type: string; expires_in: number; access_token: string }>();
        assert.equal(body.token_type, 'Bearer');
        assert.equal(typeof body.expires_in, 'number');
        assert.equal(claimsOf(body.access_token).oid, lab.identities.puller.objectId);
      });

      it('rejects an expired one (AADSTS700024)', async () => {
        const answer = await request(assertion({ ...valid(), nbf: now() - 7200, exp: now() - 3600 }));
        assert.equal(answer.status, 400);
        assert.deepEqual(answer.json<AadError>().error_codes, [700024]);
      });

      it('rejects one signed with another key (AADSTS700027)', async () => {
        const answer = await request(assertion(valid(), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));
        assert.equal(answer.status, 401);
        assert.deepEqual(answer.json<AadError>().error_codes, [700027]);
      });

      it('rejects one for another audience (AADSTS50012) and another client (AADSTS700021)', async () => {
        assert.deepEqual(
          (await request(assertion({ ...valid(), aud: 'https://login.microsoftonline.com/x/oauth2/v2.0/token' }))).json<AadError>()
            .error_codes,
          [50012],
        );
        assert.deepEqual(
          (await request(assertion({ ...valid(), iss: 'someone-else', sub: 'someone-else' }))).json<AadError>().error_codes,
          [700021],
        );
      });

      it("rejects another identity's certificate (not registered on the app)", async () => {
        const answer = await postToken({
          grant_type: 'client_credentials',
          client_id: lab.identities.builder.clientId,
          scope: acrScope,
          client_assertion_type: clientAssertionType,
          client_assertion: assertion({ ...valid(), iss: lab.identities.builder.clientId, sub: lab.identities.builder.clientId }),
        });
        assert.equal(answer.status, 401);
        assert.deepEqual(answer.json<AadError>().error_codes, [700027]);
      });
    });

    it('answers AADSTS errors in Entra shape: wrong secret, unknown client, unknown tenant, bad scope, unknown resource, no credential', async () => {
      const builder = lab.identities.builder;
      const cases: Array<[Record<string, string>, number, string, number, string?]> = [
        [
          { grant_type: 'client_credentials', client_id: builder.clientId, client_secret: 'wrong', scope: acrScope },
          401,
          'invalid_client',
          7000215,
        ],
        [
          { grant_type: 'client_credentials', client_id: randomUUID(), client_secret: 'x', scope: acrScope },
          400,
          'unauthorized_client',
          700016,
        ],
        [
          {
            grant_type: 'client_credentials',
            client_id: builder.clientId,
            client_secret: builder.secret,
            scope: 'https://containerregistry.azure.net/user_impersonation',
          },
          400,
          'invalid_scope',
          1002012,
        ],
        [
          {
            grant_type: 'client_credentials',
            client_id: builder.clientId,
            client_secret: builder.secret,
            scope: 'https://vault.azure.net/.default',
          },
          400,
          'invalid_resource',
          500011,
        ],
        [{ grant_type: 'client_credentials', client_id: builder.clientId, scope: acrScope }, 401, 'invalid_client', 7000216],
        [{ grant_type: 'authorization_code', client_id: builder.clientId, scope: acrScope }, 400, 'unsupported_grant_type', 70003],
        [{ grant_type: 'client_credentials', client_id: builder.clientId, client_secret: builder.secret }, 400, 'invalid_request', 900144],
      ];
      for (const [fields, status, error, code] of cases) {
        const answer = await postToken(fields);
        assert.equal(answer.status, status, `${error}: ${answer.text}`);
        const body = answer.json<AadError>();
        assert.equal(body.error, error);
        assert.deepEqual(body.error_codes, [code]);
        assert.match(body.error_description, new RegExp(`^AADSTS${code}: .+ Trace ID: .+ Correlation ID: .+ Timestamp: `));
        assert.match(body.trace_id, /^[0-9a-f-]{36}$/);
        assert.match(body.correlation_id, /^[0-9a-f-]{36}$/);
        assert.match(body.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
      }
      const otherTenant = await labRequest(lab, `${lab.entra.authorityHost}/${randomUUID()}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: formHeaders,
        body: formBody({ grant_type: 'client_credentials', client_id: builder.clientId, client_secret: builder.secret, scope: acrScope }),
      });
      assert.deepEqual(otherTenant.json<AadError>().error_codes, [90002]);
    });

    it('lets @azure/identity surface the AADSTS error of a wrong secret', async () => {
      const credential = new ClientSecretCredential(
        lab.entra.tenantId,
        lab.identities.builder.clientId,
        'wrong-secret',
        credentialOptions(),
      );
      await assert.rejects(credential.getToken(acrScope), /AADSTS7000215/);
    });
  });

  describe('IMDS (managed identity at 127.0.0.1:8090)', () => {
    let saved: string | undefined;
    before(() => {
      saved = process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
      process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = lab.managedIdentityEndpoint;
    });
    after(() => {
      if (saved === undefined) delete process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
      else process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = saved;
    });

    it('serves ManagedIdentityCredential (user-assigned by client id) a token the ACR exchange accepts', async () => {
      const managed = lab.identities.managed;
      const mark = await control.auditMark();
      const credential = new ManagedIdentityCredential({ clientId: managed.clientId });
      const { token } = await credential.getToken(acrScope);
      const claims = claimsOf(token);
      assert.equal(claims.oid, managed.objectId);
      assert.equal(claims.aud, 'https://containerregistry.azure.net');
      assert.ok(await verifiesWithJwks(token));
      const call = (await control.audit(mark)).find((entry) => entry.host === '127.0.0.1:8090' && entry.status === 200);
      assert.match(String(call?.path), /^\/metadata\/identity\/oauth2\/token\/?$/);
      assert.equal(call?.method, 'GET');
      assert.equal(call?.query['api-version'], '2018-02-01');
      assert.equal(call?.query.resource, 'https://containerregistry.azure.net');
      assert.equal(call?.query.client_id, managed.clientId);
      assert.equal(call?.identity, 'managed');
      assert.equal(claimsOf(await acrRefreshToken(lab, 'contoso.azurecr.io', token)).sub, managed.objectId);
    });

    it('answers the IMDS shapes: strings for numbers, 400 without Metadata: true, 400 for an unknown identity', async () => {
      const url = `${lab.managedIdentityEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`;
      const ok = await labRequest(lab, url, { headers: { Metadata: 'true' } });
      assert.equal(ok.status, 200);
      const body = ok.json<Record<string, unknown>>();
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.resource, 'https://management.azure.com/');
      for (const field of ['expires_in', 'expires_on', 'not_before', 'ext_expires_in']) assert.match(String(body[field]), /^\d+$/, field);
      assert.equal(typeof body.expires_on, 'string');
      assert.equal(body.client_id, lab.identities.managed.clientId, 'the only managed identity answers when none is named');
      const noHeader = await labRequest(lab, url);
      assert.equal(noHeader.status, 400);
      assert.equal(noHeader.json<{ error_description: string }>().error_description, 'Required metadata header not specified');
      const unknown = await labRequest(lab, `${url}&client_id=${randomUUID()}`, { headers: { Metadata: 'true' } });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.json<{ error_description: string }>().error_description, 'Identity not found');
    });
  });

  describe('Azure DevOps (dev.azure.lab.test/contoso)', () => {
    const connection = (
      identity: 'builder' | 'scanner',
      scheme: 'WorkloadIdentityFederation' | 'ServicePrincipal' = 'WorkloadIdentityFederation',
    ) => serviceConnectionId(lab, identity, scheme);
    const webApi = (accessToken = lab.azureDevOps.accessToken) =>
      new azdev.WebApi(lab.azureDevOps.collectionUri, azdev.getHandlerFromToken(accessToken), { cert: { caFile: lab.caFile } });
    const oidcToken = async (connectionId: string, accessToken?: string) => {
      const ado = lab.azureDevOps;
      const taskApi = await webApi(accessToken).getTaskApi();
      return (await taskApi.createOidcToken({}, ado.projectId, ado.hostType, ado.planId, ado.jobId, connectionId)).oidcToken as string;
    };

    it('answers OPTIONS /_apis/distributedtask with the oidctoken location data', async () => {
      const answer = await labRequest(lab, `${lab.azureDevOps.collectionUri}_apis/distributedtask`, {
        method: 'OPTIONS',
        headers: { Accept: 'application/json', Authorization: `Bearer ${lab.azureDevOps.accessToken}` },
      });
      assert.equal(answer.status, 200);
      const body = answer.json<{ count: number; value: Array<Record<string, unknown>> }>();
      assert.equal(body.count, 1);
      assert.deepEqual(body.value[0], {
        id: '69a319f4-28c1-4bfd-93e6-ea0ff5c6f1a2',
        area: 'distributedtask',
        resourceName: 'oidctoken',
        routeTemplate: '{scopeIdentifier}/_apis/{area}/hubs/{hubName}/plans/{planId}/jobs/{jobId}/{resource}',
        minVersion: '7.1',
        maxVersion: '7.2',
        releasedVersion: '0.0',
        resourceVersion: 1,
      });
      const anonymous = await labRequest(lab, `${lab.azureDevOps.collectionUri}_apis/distributedtask`, { method: 'OPTIONS' });
      assert.equal(anonymous.status, 401);
    });

    it('issues the OIDC token through TaskApi.createOidcToken (OPTIONS, then POST .../oidctoken?serviceConnectionId=)', async () => {
      const mark = await control.auditMark();
      const token = await oidcToken(connection('builder'));
      const claims = claimsOf(token);
      assert.equal(claims.iss, `https://vstoken.dev.azure.com/${lab.azureDevOps.organizationId}`);
      assert.equal(claims.sub, `sc://${lab.azureDevOps.organization}/${lab.azureDevOps.projectName}/builder-wif`);
      assert.equal(claims.aud, 'api://AzureADTokenExchange');
      assert.ok((claims.exp as number) > Date.now() / 1000);
      const calls = (await control.audit(mark)).filter((entry) => entry.host === 'dev.azure.lab.test');
      const options = calls.find((entry) => entry.method === 'OPTIONS');
      const post = calls.find((entry) => entry.method === 'POST' && entry.query.serviceConnectionId === connection('builder'));
      assert.equal(`${options?.path} ${options?.status}`, '/contoso/_apis/distributedtask 200');
      const ado = lab.azureDevOps;
      assert.equal(
        `${post?.path} ${post?.status}`,
        `/contoso/${ado.projectId}/_apis/distributedtask/hubs/${ado.hostType}/plans/${ado.planId}/jobs/${ado.jobId}/oidctoken 200`,
      );
      assert.ok((options?.seq ?? Infinity) < (post?.seq ?? 0), 'location data first, then the token');
    });

    it('refuses a wrong System.AccessToken (401) and an unknown service connection (404)', async () => {
      await assert.rejects(
        oidcToken(connection('builder'), 'not-the-access-token-of-this-job'),
        (error: Error & { statusCode?: number }) => error.statusCode === 401,
      );
      const ado = lab.azureDevOps;
      const unknown = await labRequest(
        lab,
        `${ado.collectionUri}${ado.projectId}/_apis/distributedtask/hubs/${ado.hostType}/plans/${ado.planId}/jobs/${ado.jobId}/oidctoken?serviceConnectionId=${randomUUID()}`,
        {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${ado.accessToken}`,
            'Content-Type': 'application/json',
            Accept: 'application/json;api-version=7.2-preview.1',
          },
          body: '{}',
        },
      );
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json<{ typeKey: string }>().typeKey, 'ServiceEndpointNotFoundException');
      // typed-rest-client turns a 404 into a null result rather than an error
      const taskApi = await webApi().getTaskApi();
      assert.equal(await taskApi.createOidcToken({}, ado.projectId, ado.hostType, ado.planId, ado.jobId, randomUUID()), null);
    });

    it('answers the SYSTEM_OIDCREQUESTURI form used by AzurePipelinesCredential, ending in an Entra token', async () => {
      const ado = lab.azureDevOps;
      const saved = process.env.SYSTEM_OIDCREQUESTURI;
      process.env.SYSTEM_OIDCREQUESTURI = `${ado.collectionUri}${ado.projectId}/_apis/distributedtask/hubs/${ado.hostType}/plans/${ado.planId}/jobs/${ado.jobId}/oidctoken`;
      try {
        const credential = new AzurePipelinesCredential(
          lab.entra.tenantId,
          lab.identities.scanner.clientId,
          connection('scanner'),
          ado.accessToken,
          credentialOptions(),
        );
        const claims = claimsOf((await credential.getToken(acrScope)).token);
        assert.equal(claims.oid, lab.identities.scanner.objectId);
        assert.equal(claims.appidacr, '2');
      } finally {
        if (saved === undefined) delete process.env.SYSTEM_OIDCREQUESTURI;
        else process.env.SYSTEM_OIDCREQUESTURI = saved;
      }
    });
  });

  describe('workload identity federation (ADO OIDC token as client assertion)', () => {
    const oidcToken = async (connectionId: string) => {
      const ado = lab.azureDevOps;
      const api = new azdev.WebApi(ado.collectionUri, azdev.getHandlerFromToken(ado.accessToken), { cert: { caFile: lab.caFile } });
      return (await (await api.getTaskApi()).createOidcToken({}, ado.projectId, ado.hostType, ado.planId, ado.jobId, connectionId))
        .oidcToken as string;
    };
    const assertionRequest = (clientId: string, assertion: string) =>
      postToken({
        grant_type: 'client_credentials',
        client_id: clientId,
        scope: acrScope,
        client_assertion_type: clientAssertionType,
        client_assertion: assertion,
      });

    it('gives ClientAssertionCredential an Entra token for the federated app, which ACR exchanges', async () => {
      const builder = lab.identities.builder;
      const credential = new ClientAssertionCredential(
        lab.entra.tenantId,
        builder.clientId,
        () => oidcToken(serviceConnectionId(lab, 'builder', 'WorkloadIdentityFederation')),
        credentialOptions(),
      );
      const { token } = await credential.getToken(acrScope);
      assert.equal(claimsOf(token).oid, builder.objectId);
      const refresh = await acrRefreshToken(lab, 'contoso.azurecr.io', token);
      assert.equal(claimsOf(refresh).sub, builder.objectId);
    });

    it("refuses a token whose subject has no federated credential on the app (AADSTS700213): another app's connection, a secret connection", async () => {
      const scannerToken = await oidcToken(serviceConnectionId(lab, 'scanner', 'WorkloadIdentityFederation'));
      const forBuilder = await assertionRequest(lab.identities.builder.clientId, scannerToken);
      assert.equal(forBuilder.status, 400);
      assert.deepEqual(forBuilder.json<AadError>().error_codes, [700213]);
      assert.match(forBuilder.json<AadError>().error_description, /presented assertion subject 'sc:\/\/contoso\/.+\/scanner-wif'/);
      const secretConnection = await oidcToken(serviceConnectionId(lab, 'builder', 'ServicePrincipal', 'spnKey'));
      assert.deepEqual((await assertionRequest(lab.identities.builder.clientId, secretConnection)).json<AadError>().error_codes, [700213]);
    });

    it('refuses a tampered token (AADSTS700027) and an unknown issuer (AADSTS700211)', async () => {
      const token = await oidcToken(serviceConnectionId(lab, 'builder', 'WorkloadIdentityFederation'));
      const [header, , signature] = token.split('.');
      const longer = { ...claimsOf(token), exp: (claimsOf(token).exp as number) + 86_400 };
      const tampered = `${header}.${Buffer.from(JSON.stringify(longer)).toString('base64url')}.${signature}`;
      assert.deepEqual((await assertionRequest(lab.identities.builder.clientId, tampered)).json<AadError>().error_codes, [700027]);
      const foreign = signJwt(
        { ...claimsOf(token), iss: 'https://token.actions.githubusercontent.com' },
        generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
      );
      assert.deepEqual((await assertionRequest(lab.identities.builder.clientId, foreign)).json<AadError>().error_codes, [700211]);
    });
  });
});
