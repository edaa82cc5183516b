import { strict as assert } from 'node:assert';
import { PermissionError, checkPermissions, roleAdvice } from '../../src/acr/preflight';
import type { HttpRequest } from '../../src/http/client';
import { ACR_TOKEN_USERNAME } from '../../src/registry/credentials';
import { parseImageReference } from '../../src/registry/reference';
import { scanPermissionNeeds } from '../../src/release/scan-and-release-task';
import { fakeHttp, fastRetry, form, noSleep, reply, unsignedJwt } from './registry-fakes';

const registry = 'contoso.azurecr.io';
const credentials = { registry, username: ACR_TOKEN_USERNAME, password: 'acr-refresh-token' };
const digest = `sha256:${'a'.repeat(64)}`;
const challenge = (scope: string) => ({
  'www-authenticate': `Bearer realm="https://${registry}/oauth2/token",service="${registry}",scope="${scope}"`,
});

/** A registry whose token service grants `grants` (repository -> actions), and whose HEAD/attributes answer as told. */
function registryFake(grants: Record<string, string[]>, options: { head?: number; state?: string } = {}) {
  return fakeHttp((request: HttpRequest) => {
    const url = new URL(request.url);
    if (url.pathname === '/oauth2/token') {
      const scopes = form(request).getAll('scope');
      const access = scopes.map((scope) => {
        const [, name, actions] = /^repository:(.+):([^:]+)$/.exec(scope)!;
        return { type: 'repository', name, actions: actions.split(',').filter((a) => (grants[name] ?? []).includes(a)) };
      });
      return reply(200, { access_token: unsignedJwt({ access }) });
    }
    const auth = request.headers?.Authorization;
    if (url.pathname.startsWith('/v2/') && request.method === 'HEAD') {
      if (!auth) return reply(401, '', challenge('repository:team/app:pull'));
      const status = options.head ?? 200;
      return status === 200
        ? reply(200, '', { 'docker-content-digest': digest, 'content-type': 'application/vnd.oci.image.manifest.v1+json' })
        : reply(status, { errors: [{ code: 'UNKNOWN', message: 'The operation is disallowed.' }] });
    }
    if (url.pathname.startsWith('/acr/v1/')) {
      if (!auth) return reply(401, '', challenge('repository:team/app:metadata_read'));
      return reply(200, { manifest: { digest, changeableAttributes: { quarantineState: options.state ?? 'Quarantined' } } });
    }
    return reply(404, { errors: [{ code: 'NOT_FOUND' }] });
  });
}

const options = (http: ReturnType<typeof fakeHttp>['http'], mode = {}) => ({
  registry,
  credentials,
  http,
  mode,
  retry: fastRetry,
  sleep: noSleep,
});

describe('permission preflight (src/acr/preflight.ts)', () => {
  it('asks one token for every repository and action, and names every missing permission at once (legacy mode)', async () => {
    const fake = registryFake({ 'team/staging': ['pull'], 'team/release': ['pull'] });
    const error = await checkPermissions(
      {
        access: [
          { repository: 'team/staging', actions: ['pull'], why: 'to copy from it' },
          { repository: 'team/release', actions: ['pull', 'push'], why: 'to release into it' },
          { repository: 'team/evidence', actions: ['push'] },
        ],
      },
      options(fake.http, { mode: 'legacy' }),
    ).catch((e: unknown) => e);
    assert.ok(error instanceof PermissionError, String(error));
    const tokenRequests = fake.requests.filter((r) => r.url.endsWith('/oauth2/token'));
    assert.equal(tokenRequests.length, 1);
    assert.deepEqual(form(tokenRequests[0]).getAll('scope'), [
      'repository:team/staging:pull',
      'repository:team/release:pull,push',
      'repository:team/evidence:push',
    ]);
    assert.deepEqual(
      error.missing.map((m) => `${m.permission} ${m.repository}`),
      ['push team/release', 'push team/evidence'],
    );
    assert.match(
      error.message,
      /may not push on contoso\.azurecr\.io\/team\/release \(to release into it\) \(granted: pull\)\. Assign it the AcrPush role on the registry\./,
    );
    assert.match(error.message, /may not push on contoso\.azurecr\.io\/team\/evidence \(granted: nothing\)/);
    assert.match(error.message, /Nothing was built, pushed, scanned or copied\./);
    assert.doesNotMatch(error.message, /Container Registry Repository/);
  });

  it('names the ABAC repository role and its condition in ABAC mode, and both kinds with the reason when the mode is unknown', async () => {
    const abac = await checkPermissions(
      { access: [{ repository: 'team/app', actions: ['pull', 'push'] }] },
      options(registryFake({ 'team/app': ['pull'] }).http, { mode: 'abac' }),
    ).then(
      () => new Error('no error'),
      (e: unknown) => e as Error,
    );
    assert.match(
      abac.message,
      /Assign it the Container Registry Repository Writer role with the condition @Request\[Microsoft\.ContainerRegistry\/registries\/repositories:name\] StringEqualsIgnoreCase 'team\/app' \(the registry is in RBAC Registry \+ ABAC Repository Permissions mode, where AcrPush is not honored\)/,
    );
    assert.doesNotMatch(abac.message, /Assign it the AcrPush/);
    const unknown = roleAdvice('pull', 'team/app', { reason: 'ARM answered 403' });
    assert.match(
      unknown,
      /AcrPull role on the registry if .* RBAC Registry Permissions mode, or the Container Registry Repository Reader role .* \(the mode is unknown: ARM answered 403\)/,
    );
  });

  it('quarantine: a refused HEAD on the digest and a missing metadata_write are both named, before anything runs', async () => {
    const fake = registryFake({ 'team/app': ['pull', 'metadata_read'] }, { head: 403 });
    const error = await checkPermissions(
      { access: [{ repository: 'team/app', actions: ['pull'] }], quarantine: { repository: 'team/app', digest, write: true } },
      options(fake.http, { mode: 'legacy' }),
    ).catch((e: unknown) => e);
    assert.ok(error instanceof PermissionError, String(error));
    assert.deepEqual(
      error.missing.map((m) => m.permission),
      ['quarantine read', 'quarantine write'],
    );
    assert.match(error.message, /AcrQuarantineReader role on the registry/);
    assert.match(error.message, /AcrQuarantineWriter role on the registry/);
    assert.match(error.message, /the registry answered 403 .*to a HEAD of the digest\)/);
    const scopes = form(fake.requests.find((r) => r.url.endsWith('/oauth2/token'))!).getAll('scope');
    assert.deepEqual(scopes[0], 'repository:team/app:pull,metadata_write');
  });

  it('quarantine write is not needed for a digest already Passed (it is never written again); it is needed otherwise', async () => {
    const need = { access: [], quarantine: { repository: 'team/app', digest, write: true } };
    await checkPermissions(need, options(registryFake({ 'team/app': ['pull'] }, { state: 'Passed' }).http));
    await assert.rejects(
      checkPermissions(need, options(registryFake({ 'team/app': ['pull'] }, { state: 'Quarantined' }).http)),
      /may not change the quarantine state in contoso\.azurecr\.io\/team\/app/,
    );
    await checkPermissions(need, options(registryFake({ 'team/app': ['pull', 'metadata_write'] }).http));
  });

  it("ScanAndRelease with evidence: attach also needs push on the image's repository, named for the registry's mode", async () => {
    const image = parseImageReference(`${registry}/team/app@${digest}`);
    const needs = (release: 'quarantine' | 'gateOnly' | 'promote', evidence: 'auto' | 'attach' | 'none') =>
      scanPermissionNeeds({
        image,
        release,
        evidence,
        promote: release === 'promote' ? { repository: 'release/app', tags: [] } : undefined,
      });
    const pushOn = (release: 'quarantine' | 'gateOnly' | 'promote', evidence: 'auto' | 'attach' | 'none') =>
      needs(release, evidence)
        .access.filter((a) => a.actions.includes('push'))
        .map((a) => a.repository);
    assert.deepEqual(pushOn('quarantine', 'auto'), [], 'auto: quarantine attaches nothing, needs no push');
    assert.deepEqual(pushOn('gateOnly', 'none'), []);
    assert.deepEqual(pushOn('quarantine', 'attach'), ['team/app']);
    assert.deepEqual(pushOn('gateOnly', 'attach'), ['team/app']);
    assert.deepEqual(pushOn('promote', 'none'), ['release/app'], 'promote pushes its copy either way');
    // a quarantine writer without push: stopped in the preflight, the role named per mode
    const grants = { 'team/app': ['pull', 'metadata_read', 'metadata_write'] };
    for (const [mode, role] of [
      [
        'legacy',
        /may not push on contoso\.azurecr\.io\/team\/app \(to attach the evidence to it\) \(granted: pull, metadata_write\)\. Assign it the AcrPush role on the registry\./,
      ],
      [
        'abac',
        /may not push on contoso\.azurecr\.io\/team\/app \(to attach the evidence to it\).*Assign it the Container Registry Repository Writer role with the condition @Request\[Microsoft\.ContainerRegistry\/registries\/repositories:name\] StringEqualsIgnoreCase 'team\/app'/,
      ],
    ] as const) {
      const error = await checkPermissions(needs('quarantine', 'attach'), options(registryFake(grants).http, { mode })).catch(
        (e: unknown) => e,
      );
      assert.ok(error instanceof PermissionError, String(error));
      assert.deepEqual(
        error.missing.map((m) => `${m.permission} ${m.repository}`),
        ['push team/app'],
      );
      assert.match(error.message, role);
    }
    await checkPermissions(needs('quarantine', 'attach'), options(registryFake({ 'team/app': ['pull', 'push', 'metadata_write'] }).http));
  });

  it('passes when everything is granted, and cannot judge an opaque token (it then lets the run find out)', async () => {
    const ok = await checkPermissions(
      { access: [{ repository: 'team/app', actions: ['pull', 'push'] }] },
      options(registryFake({ 'team/app': ['pull', 'push'] }).http),
    );
    assert.deepEqual([...(ok.granted?.get('team/app') ?? [])], ['pull', 'push']);
    const opaque = fakeHttp(() => reply(200, { access_token: 'opaque' }));
    const result = await checkPermissions({ access: [{ repository: 'team/app', actions: ['push'] }] }, options(opaque.http));
    assert.equal(result.granted, undefined);
  });
});
