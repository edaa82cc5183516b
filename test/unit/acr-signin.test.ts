import { strict as assert } from 'node:assert';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { ACR_SCOPE, registryOfConnection, signInToRegistry } from '../../src/acr/signin';
import { type AzureConnection, ConnectionError } from '../../src/azure/connection';
import { RecordingLogger } from '../../src/log';
import { ACR_TOKEN_USERNAME } from '../../src/registry/credentials';
import { fakeHttp, fastRetry, form, networkError, noSleep, reply, unsignedJwt } from './registry-fakes';

const registry = 'contoso.azurecr.io';
const tenant = '11111111-1111-1111-1111-111111111111';
const entraToken = 'entra-access-token';
const refreshToken = unsignedJwt({ iss: 'Azure Container Registry', aud: registry, grant_type: 'refresh_token' });

function connection(scheme: string, parameters: Record<string, string>, data: Record<string, string> = {}, url?: string): AzureConnection {
  return { id: 'conn-7', scheme, parameters, data: (key) => data[key], url };
}
const wif = connection('WorkloadIdentityFederation', { tenantid: tenant, serviceprincipalid: 'client', idtoken: 'oidc' });

/** A credential that hands out a fixed Entra token and records the scopes asked for. */
function fixedCredential(scopes: string[] = []): TokenCredential {
  return {
    getToken: async (scope: string | string[]): Promise<AccessToken> => (
      scopes.push([scope].flat().join(' ')),
      { token: entraToken, expiresOnTimestamp: Date.now() + 3600_000 }
    ),
  };
}

describe('signing in to a registry', () => {
  it("Azure: Entra token for ACR's audience -> POST /oauth2/exchange -> zero-GUID user with the refresh token", async () => {
    const scopes: string[] = [];
    const { http, requests } = fakeHttp(() => reply(200, { refresh_token: refreshToken }));
    const signedIn = await signInToRegistry({
      registry,
      connection: { kind: 'azure', azure: wif },
      http,
      credential: fixedCredential(scopes),
    });
    assert.deepEqual(scopes, [ACR_SCOPE]);
    assert.equal(ACR_SCOPE, 'https://containerregistry.azure.net/.default');
    assert.deepEqual(signedIn.credentials, { registry, username: ACR_TOKEN_USERNAME, password: refreshToken });
    assert.deepEqual(signedIn.secrets.sort(), [entraToken, refreshToken].sort());
    assert.match(signedIn.method, /workload identity federation/);
    const exchange = requests[0];
    assert.equal(exchange.method, 'POST');
    assert.equal(exchange.url, `https://${registry}/oauth2/exchange`);
    assert.equal(exchange.headers?.['Content-Type'], 'application/x-www-form-urlencoded');
    assert.deepEqual(Object.fromEntries(form(exchange)), {
      grant_type: 'access_token',
      service: registry,
      tenant,
      access_token: entraToken,
    });
  });

  it("falls back to the connection's ARM audience when ACR's audience is refused (sovereign clouds), and only then", async () => {
    const china = connection(
      'ServicePrincipal',
      { tenantid: tenant, serviceprincipalid: 'c', serviceprincipalkey: 'k' },
      {},
      'https://management.chinacloudapi.cn/',
    );
    const asked: string[] = [];
    const picky: TokenCredential = {
      getToken: async (scope: string | string[]) => {
        asked.push([scope].flat()[0]);
        if (asked.at(-1) === ACR_SCOPE)
          throw new ConnectionError(china, 'could not get an Entra ID token: AADSTS500011: resource not found', 'audience');
        return { token: 'arm-token', expiresOnTimestamp: Date.now() + 3600_000 };
      },
    };
    const logger = new RecordingLogger();
    const { http, requests } = fakeHttp(() => reply(200, { refresh_token: refreshToken }));
    const signedIn = await signInToRegistry({ registry, connection: { kind: 'azure', azure: china }, http, credential: picky, logger });
    assert.deepEqual(asked, [ACR_SCOPE, 'https://management.chinacloudapi.cn/.default']);
    assert.equal(form(requests[0]).get('access_token'), 'arm-token');
    assert.equal(signedIn.credentials.password, refreshToken);
    assert.match(logger.text(), /trying https:\/\/management\.chinacloudapi\.cn/);

    // the registry refusing the ACR-audience token for its audience: the same fallback
    const byRegistry = fakeHttp((request) =>
      form(request).get('access_token') === entraToken
        ? reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'The access token has an audience ACR does not accept.' }] })
        : reply(200, { refresh_token: refreshToken }),
    );
    const tokens: TokenCredential = {
      getToken: async (scope) => ({
        token: [scope].flat()[0] === ACR_SCOPE ? entraToken : 'arm-token',
        expiresOnTimestamp: Date.now() + 3600_000,
      }),
    };
    const viaArm = await signInToRegistry({
      registry,
      connection: { kind: 'azure', azure: china },
      http: byRegistry.http,
      credential: tokens,
    });
    assert.equal(viaArm.credentials.password, refreshToken);
    assert.equal(byRegistry.requests.length, 2);

    // any other refusal is final
    const refusing = fakeHttp(() =>
      reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'The access token belongs to no principal of the tenant.' }] }),
    );
    await assert.rejects(
      signInToRegistry({ registry, connection: { kind: 'azure', azure: china }, http: refusing.http, credential: tokens }),
      /no principal of the tenant/,
    );
    assert.equal(refusing.requests.length, 1);
  });

  it('retries the exchange on 429 and 500, within the bound', async () => {
    const script = [
      () => reply(429, '', { 'retry-after': '1' }),
      () => reply(500),
      () => {
        throw networkError();
      },
      () => reply(200, { refresh_token: refreshToken }),
    ];
    const { http, requests } = fakeHttp(() => script.shift()!());
    const signedIn = await signInToRegistry({
      registry,
      connection: { kind: 'azure', azure: wif },
      http,
      credential: fixedCredential(),
      retry: fastRetry,
      sleep: noSleep,
    });
    assert.equal(signedIn.credentials.password, refreshToken);
    assert.equal(requests.length, 4);

    const { http: down, requests: tries } = fakeHttp(() => reply(503));
    await assert.rejects(
      signInToRegistry({
        registry,
        connection: { kind: 'azure', azure: wif },
        http: down,
        credential: fixedCredential(),
        retry: fastRetry,
        sleep: noSleep,
      }),
      /token exchange at contoso\.azurecr\.io failed: POST .* answered 503/,
    );
    assert.equal(tries.length, fastRetry.attempts);
  });

  it('says what to fix when the exchange is refused', async () => {
    const attempt = (status: number, body: object | string = '') =>
      signInToRegistry({
        registry,
        connection: { kind: 'azure', azure: wif },
        http: fakeHttp(() => reply(status, body)).http,
        credential: fixedCredential(),
        retry: fastRetry,
        sleep: noSleep,
      });
    await assert.rejects(
      attempt(404, '404 page not found'),
      /Service connection 'conn-7' \(WorkloadIdentityFederation\): contoso\.azurecr\.io is not an Azure Container Registry: it has no token exchange .* Use a Docker registry service connection/,
    );
    await assert.rejects(
      attempt(401, {
        errors: [{ code: 'UNAUTHORIZED', message: 'The access token has an audience ACR does not accept: https://vault.azure.net.' }],
      }),
      /refused the Entra ID token because of its audience .* must be for https:\/\/containerregistry\.azure\.net/,
    );
    await assert.rejects(
      attempt(401, { errors: [{ code: 'UNAUTHORIZED', message: 'The access token belongs to no principal of the tenant.' }] }),
      /refused the Entra ID token \(401: The access token belongs to no principal of the tenant\.\)\. The identity must belong to the registry's tenant/,
    );
    await assert.rejects(attempt(200, { nothing: true }), /answered the token exchange without a refresh token/);
  });

  it('explains an unreachable registry', async () => {
    const { http } = fakeHttp(() => {
      throw networkError('ENOTFOUND');
    });
    await assert.rejects(
      signInToRegistry({ registry, connection: { kind: 'azure', azure: wif }, http, credential: fixedCredential() }),
      /cannot reach contoso\.azurecr\.io \(ENOTFOUND\)/,
    );
  });

  it('checkAccess: fails at sign-in naming the role the identity lacks', async () => {
    const grant = (actions: string[]) =>
      fakeHttp((request) =>
        request.url.endsWith('/oauth2/exchange')
          ? reply(200, { refresh_token: refreshToken })
          : reply(200, { access_token: unsignedJwt({ access: [{ type: 'repository', name: 'team/app', actions }] }) }),
      );
    const pullOnly = grant(['pull']);
    await assert.rejects(
      signInToRegistry({
        registry,
        connection: { kind: 'azure', azure: wif },
        http: pullOnly.http,
        credential: fixedCredential(),
        checkAccess: { repository: 'team/app', actions: ['pull', 'push'] },
      }),
      /its identity may not push on contoso\.azurecr\.io\/team\/app \(granted: pull\)\. Assign it the AcrPush role on the registry if the registry is in RBAC Registry Permissions mode, or the Container Registry Repository Writer role with the condition @Request\[Microsoft\.ContainerRegistry\/registries\/repositories:name\] StringEqualsIgnoreCase 'team\/app' if it is in RBAC Registry \+ ABAC Repository Permissions mode \(the mode is unknown: the service connection names no subscription to read it from\)\./,
    );
    const tokenRequest = pullOnly.requests[1];
    assert.deepEqual(Object.fromEntries(form(tokenRequest)), {
      grant_type: 'refresh_token',
      service: registry,
      scope: 'repository:team/app:pull,push',
      refresh_token: refreshToken,
    });

    const nothing = grant([]);
    await assert.rejects(
      signInToRegistry({
        registry,
        connection: { kind: 'azure', azure: wif },
        http: nothing.http,
        credential: fixedCredential(),
        checkAccess: { repository: 'team/app', actions: ['pull'] },
      }),
      /may not pull .* \(granted: nothing\)\. Assign it the AcrPull role/,
    );

    const both = grant(['pull', 'push']);
    const signedIn = await signInToRegistry({
      registry,
      connection: { kind: 'azure', azure: wif },
      http: both.http,
      credential: fixedCredential(),
      checkAccess: { repository: 'team/app', actions: ['pull', 'push'] },
    });
    assert.equal(signedIn.secrets.length, 3, 'the access token is a secret too');
  });

  it('Docker registry connection: user name and password as they are, for that registry only', async () => {
    const docker = connection(
      'UsernamePassword',
      { registry: 'https://contoso.azurecr.io/', username: 'contoso', password: 'admin-pass' },
      {},
      'https://contoso.azurecr.io/',
    );
    const { http, requests } = fakeHttp(() => reply(500));
    const signedIn = await signInToRegistry({ registry, connection: { kind: 'dockerRegistry', docker }, http });
    assert.deepEqual(signedIn.credentials, { registry, username: 'contoso', password: 'admin-pass' });
    assert.deepEqual(signedIn.secrets, ['admin-pass']);
    assert.equal(requests.length, 0);
    await assert.rejects(
      signInToRegistry({ registry: 'fabrikam.azurecr.io', connection: { kind: 'dockerRegistry', docker } }),
      /it is for the registry 'contoso\.azurecr\.io', not 'fabrikam\.azurecr\.io'/,
    );
    await assert.rejects(
      signInToRegistry({ registry, connection: { kind: 'dockerRegistry', docker: connection('UsernamePassword', { registry }) } }),
      /'username' \(the user name\) is missing/,
    );
  });

  it('Docker registry connection of type ACR: the service principal id and key, or the Entra exchange for WIF', async () => {
    const acrSp = connection(
      'ServicePrincipal',
      { loginserver: registry, serviceprincipalid: 'sp-id', serviceprincipalkey: 'sp-key', tenantid: tenant },
      { registrytype: 'ACR' },
    );
    const direct = await signInToRegistry({ registry, connection: { kind: 'dockerRegistry', docker: acrSp } });
    assert.deepEqual(direct.credentials, { registry, username: 'sp-id', password: 'sp-key' });

    const acrWif = connection(
      'WorkloadIdentityFederation',
      { loginserver: registry, serviceprincipalid: 'sp-id', tenantid: tenant, idtoken: 'oidc' },
      { registrytype: 'ACR' },
    );
    const { http, requests } = fakeHttp(() => reply(200, { refresh_token: refreshToken }));
    const exchanged = await signInToRegistry({
      registry,
      connection: { kind: 'dockerRegistry', docker: acrWif },
      http,
      credential: fixedCredential(),
    });
    assert.equal(exchanged.credentials.username, ACR_TOKEN_USERNAME);
    assert.equal(requests[0].url, `https://${registry}/oauth2/exchange`);
  });

  it('refuses a registry that is not a login server', async () => {
    await assert.rejects(
      signInToRegistry({ registry: 'https://contoso.azurecr.io', connection: { kind: 'azure', azure: wif } }),
      /not a registry login server.*has a scheme/,
    );
  });

  it('knows the registry of a docker-registry connection', () => {
    assert.equal(registryOfConnection(connection('UsernamePassword', { registry: 'https://index.docker.io/v1/' })), 'docker.io');
    assert.equal(registryOfConnection(connection('ServicePrincipal', { loginserver: 'Contoso.azurecr.io' })), 'contoso.azurecr.io');
    assert.equal(registryOfConnection(connection('UsernamePassword', {}, {}, 'https://127.0.0.1:5000')), '127.0.0.1:5000');
    assert.equal(registryOfConnection(connection('UsernamePassword', {})), undefined);
  });
});
