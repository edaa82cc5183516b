// The registry's role-assignment mode read from Resource Manager (src/acr/role-assignment-mode.ts), and what the
// permission preflight at sign-in names with it (src/acr/signin.ts): only the mode's role when ARM says the mode, both
// kinds when ARM cannot be read, and no ARM request at all when nothing is missing.
import { strict as assert } from 'node:assert';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { roleAssignmentModeFromArm } from '../../src/acr/role-assignment-mode';
import { ACR_SCOPE, signInToRegistry } from '../../src/acr/signin';
import { ROLE_ASSIGNMENT_MODE_API_VERSION, type ArmTarget } from '../../src/azure/arm';
import type { AzureConnection } from '../../src/azure/connection';
import type { HttpRequest } from '../../src/http/client';
import { RecordingLogger } from '../../src/log';
import { fakeHttp, form, networkError, reply, unsignedJwt } from './registry-fakes';

const registry = 'contoso.azurecr.io';
const subscription = '4fd717d0-0000-0000-0000-000000000001';
const registries = `https://management.azure.com/subscriptions/${subscription}/providers/Microsoft.ContainerRegistry/registries`;
const target: ArmTarget = { baseUrl: 'https://management.azure.com/', subscriptionId: subscription, token: async () => 'arm-token' };

const listed = (roleAssignmentMode?: string, loginServer = registry) => ({
  value: [
    {
      id: `/subscriptions/${subscription}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/${loginServer.split('.')[0]}`,
      name: loginServer.split('.')[0],
      properties: { loginServer, ...(roleAssignmentMode ? { roleAssignmentMode } : {}) },
    },
  ],
});

describe('role-assignment mode from Resource Manager', () => {
  it("reads properties.roleAssignmentMode of the registry's list entry, asking the API version that carries it", async () => {
    const abac = fakeHttp(() => reply(200, listed('AbacRepositoryPermissions')));
    assert.deepEqual(await roleAssignmentModeFromArm(registry, target, { http: abac.http }), {
      mode: 'abac',
      reason: 'Resource Manager: AbacRepositoryPermissions',
    });
    assert.equal(abac.requests.length, 1);
    assert.equal(abac.requests[0].url, `${registries}?api-version=${ROLE_ASSIGNMENT_MODE_API_VERSION}`);
    assert.equal(ROLE_ASSIGNMENT_MODE_API_VERSION, '2025-11-01');
    assert.equal(abac.requests[0].headers?.Authorization, 'Bearer arm-token');
    assert.ok(abac.requests[0].timeoutMs && abac.requests[0].timeoutMs <= 10_000, 'a short timeout');

    const legacy = fakeHttp(() => reply(200, listed('LegacyRegistryPermissions')));
    assert.equal((await roleAssignmentModeFromArm(registry, target, { http: legacy.http })).mode, 'legacy');
  });

  it('leaves the mode unknown, with the reason and a debug line, when ARM cannot say: 403, network, absent, not listed; never retried', async () => {
    const cases: { answer: () => ReturnType<typeof reply>; reason: RegExp }[] = [
      {
        answer: () => reply(403, { error: { code: 'AuthorizationFailed', message: 'does not have authorization' } }),
        reason: /^Resource Manager could not be read \(403 AuthorizationFailed\)$/,
      },
      {
        answer: () => {
          throw networkError('ENOTFOUND');
        },
        reason: /^Resource Manager could not be read \(ENOTFOUND\)$/,
      },
      { answer: () => reply(503), reason: /^Resource Manager could not be read \(503\)$/ },
      { answer: () => reply(200, listed(undefined)), reason: /^Resource Manager did not say \(roleAssignmentMode absent\)$/ },
      { answer: () => reply(200, listed('SomethingNew')), reason: /did not say \(roleAssignmentMode 'SomethingNew'\)/ },
      {
        answer: () => reply(200, listed('LegacyRegistryPermissions', 'other.azurecr.io')),
        reason: /shows no registry contoso\.azurecr\.io/,
      },
    ];
    for (const { answer, reason } of cases) {
      const logger = new RecordingLogger();
      const { http, requests } = fakeHttp(answer);
      const mode = await roleAssignmentModeFromArm(registry, target, { http, logger });
      assert.equal(mode.mode, undefined, JSON.stringify(mode));
      assert.match(mode.reason ?? '', reason);
      assert.equal(requests.length, 1, 'one request, no retries');
      assert.ok(
        logger.lines.some((line) => line.level === 'debug' && /Resource Manager/.test(line.message)),
        'a debug line says why',
      );
    }
  });
});

describe('the preflight at sign-in names the role of the mode ARM reports', () => {
  const refreshToken = unsignedJwt({ iss: 'Azure Container Registry', aud: registry, grant_type: 'refresh_token' });
  const azureRm: AzureConnection = {
    id: 'conn-9',
    scheme: 'WorkloadIdentityFederation',
    parameters: { tenantid: 't', serviceprincipalid: 'client', idtoken: 'oidc' },
    data: (key) => ({ subscriptionId: subscription })[key],
    url: 'https://management.azure.com/',
  };
  function credential(scopes: string[]): TokenCredential {
    return {
      getToken: async (scope: string | string[]): Promise<AccessToken> => {
        scopes.push([scope].flat().join(' '));
        return { token: `token-for-${[scope].flat()[0]}`, expiresOnTimestamp: Date.now() + 3600_000 };
      },
    };
  }
  /** ACR grants `actions` on team/app; Resource Manager answers `arm`. */
  function world(actions: string[], arm: (request: HttpRequest) => ReturnType<typeof reply>) {
    return fakeHttp((request) => {
      const url = new URL(request.url);
      if (url.host === 'management.azure.com') return arm(request);
      if (url.pathname === '/oauth2/exchange') return reply(200, { refresh_token: refreshToken });
      return reply(200, { access_token: unsignedJwt({ access: [{ type: 'repository', name: 'team/app', actions }] }) });
    });
  }
  const signIn = (
    http: ReturnType<typeof fakeHttp>['http'],
    scopes: string[],
    connection = azureRm,
    kind: 'azure' | 'dockerRegistry' = 'azure',
  ) =>
    signInToRegistry({
      registry,
      connection: kind === 'azure' ? { kind, azure: connection } : { kind, docker: connection },
      http,
      credential: credential(scopes),
      checkAccess: { repository: 'team/app', actions: ['pull', 'push'] },
    }).then(
      () => assert.fail('the preflight passed'),
      (error: Error) => error.message,
    );

  it('ARM says ABAC: only the Repository Writer role with its condition; legacy: only AcrPush', async () => {
    const scopes: string[] = [];
    const abac = world(['pull'], () => reply(200, listed('AbacRepositoryPermissions')));
    const message = await signIn(abac.http, scopes);
    assert.match(
      message,
      /may not push on contoso\.azurecr\.io\/team\/app \(granted: pull\)\. Assign it the Container Registry Repository Writer role with the condition @Request\[Microsoft\.ContainerRegistry\/registries\/repositories:name\] StringEqualsIgnoreCase 'team\/app' \(the registry is in RBAC Registry \+ ABAC Repository Permissions mode, where AcrPush is not honored\)\./,
    );
    assert.doesNotMatch(message, /Assign it the AcrPush|if the registry is in RBAC Registry Permissions mode|mode is unknown/);
    assert.deepEqual(scopes, [ACR_SCOPE, 'https://management.azure.com/.default'], 'a token for ARM, asked after the preflight failed');

    const legacy = world(['pull'], () => reply(200, listed('LegacyRegistryPermissions')));
    const legacyMessage = await signIn(legacy.http, []);
    assert.match(legacyMessage, /Assign it the AcrPush role on the registry\./);
    assert.doesNotMatch(legacyMessage, /Container Registry Repository/);
  });

  it('ARM unreadable (403, unreachable): both kinds named with the reason, and the run fails for the permission only', async () => {
    const forbidden = world(['pull'], () => reply(403, { error: { code: 'AuthorizationFailed', message: 'no read on the registry' } }));
    const message = await signIn(forbidden.http, []);
    assert.match(
      message,
      /Assign it the AcrPush role on the registry if the registry is in RBAC Registry Permissions mode, or the Container Registry Repository Writer role .* if it is in RBAC Registry \+ ABAC Repository Permissions mode \(the mode is unknown: Resource Manager could not be read \(403 AuthorizationFailed\)\)\./,
    );
    const unreachable = world(['pull'], () => {
      throw networkError('ENOTFOUND');
    });
    assert.match(await signIn(unreachable.http, []), /\(the mode is unknown: Resource Manager could not be read \(ENOTFOUND\)\)\./);
  });

  it('asks Resource Manager nothing when the preflight passes, or when the connection cannot (no subscription, Docker registry connection)', async () => {
    const scopes: string[] = [];
    const granted = world(['pull', 'push'], () => assert.fail('Resource Manager was asked'));
    await signInToRegistry({
      registry,
      connection: { kind: 'azure', azure: azureRm },
      http: granted.http,
      credential: credential(scopes),
      checkAccess: { repository: 'team/app', actions: ['pull', 'push'] },
    });
    assert.deepEqual(scopes, [ACR_SCOPE]);
    assert.ok(!granted.requests.some((r) => r.url.includes('management.azure.com')));

    const noSubscription = { ...azureRm, data: () => undefined };
    const none = world(['pull'], () => assert.fail('Resource Manager was asked'));
    assert.match(await signIn(none.http, [], noSubscription), /the mode is unknown: the service connection names no subscription/);

    const dockerAcr: AzureConnection = {
      ...azureRm,
      url: undefined,
      parameters: { ...azureRm.parameters, loginserver: registry },
      data: (key) => ({ registrytype: 'ACR', subscriptionId: subscription })[key],
    };
    const docker = world(['pull'], () => assert.fail('Resource Manager was asked'));
    assert.match(
      await signIn(docker.http, [], dockerAcr, 'dockerRegistry'),
      /the mode is unknown: a Docker registry service connection cannot read it from Resource Manager/,
    );
    assert.equal(form(docker.requests[0]).get('grant_type'), 'access_token');
  });
});
