import { strict as assert } from 'node:assert';
import { AcrClient, type ManifestAttributes, quarantineDetailsOf, quarantineStateOf } from '../../src/acr/client';
import type { HttpRequest } from '../../src/http/client';
import { ACR_TOKEN_USERNAME } from '../../src/registry/credentials';
import { RegistryError } from '../../src/registry/errors';
import { fakeHttp, fastRetry, form, networkError, noSleep, reply } from './registry-fakes';

const registry = 'contoso.azurecr.io';
const digest = `sha256:${'a'.repeat(64)}`;
const credentials = { registry, username: ACR_TOKEN_USERNAME, password: 'acr-refresh' };
const attributes = (state?: string, details?: string): ManifestAttributes => ({
  registry,
  imageName: 'team/app',
  manifest: {
    digest,
    tags: ['1'],
    changeableAttributes: {
      deleteEnabled: true,
      writeEnabled: true,
      readEnabled: true,
      listEnabled: true,
      ...(state ? { quarantineState: state } : {}),
      ...(details ? { quarantineDetails: details } : {}),
    },
  },
});

/** An ACR that challenges with a scope per method, as the research says ACR may (the PATCH scope is not documented). */
function acr(answer: (request: HttpRequest) => ReturnType<typeof reply> | undefined) {
  return fakeHttp((request) => {
    if (request.url.endsWith('/oauth2/token')) return reply(200, { access_token: `token-for ${form(request).getAll('scope').join(' ')}` });
    const scope = request.method === 'PATCH' ? 'repository:team/app:metadata_write' : 'repository:team/app:metadata_read';
    if (request.headers?.Authorization !== `Bearer token-for ${scope}`) {
      return reply(
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
        {
          'www-authenticate': `Bearer realm="https://${registry}/oauth2/token",service="${registry}",scope="${scope}"`,
        },
      );
    }
    return answer(request) ?? reply(500);
  });
}

describe('ACR client (/acr/v1)', () => {
  it('reads manifest attributes including the quarantine fields', async () => {
    const { http, requests } = acr(() => reply(200, attributes('Quarantined')));
    const c = new AcrClient({ registry, credentials, http });
    const read = await c.getManifestAttributes('team/app', digest);
    assert.equal(quarantineStateOf(read), 'Quarantined');
    assert.equal(requests[2].url, `https://${registry}/acr/v1/team/app/_manifests/${digest}`);
    assert.equal(requests[2].method, 'GET');
  });

  it('PATCHes quarantineState with quarantineDetails as a JSON string, with the scope the challenge asks for', async () => {
    let sent: Record<string, unknown> | undefined;
    const { http, requests } = acr((request) => {
      sent = JSON.parse(String(request.body)) as Record<string, unknown>;
      return reply(200, attributes(String(sent.quarantineState), String(sent.quarantineDetails)));
    });
    const c = new AcrClient({ registry, credentials, http });
    const details = {
      scanner: 'trivy',
      state: 'scan passed',
      link: 'https://dev.azure.com/x',
      result: { version: '0.74.0', summary: [{ severity: 'Critical' as const, count: 0 }] },
    };
    const updated = await c.updateManifestAttributes('team/app', digest, { quarantineState: 'Passed', quarantineDetails: details });
    assert.deepEqual(sent, { quarantineState: 'Passed', quarantineDetails: JSON.stringify(details) });
    assert.equal(typeof sent?.quarantineDetails, 'string');
    const patch = requests.find((r) => r.method === 'PATCH' && r.headers?.Authorization);
    assert.equal(patch?.headers?.['Content-Type'], 'application/json');
    assert.deepEqual(form(requests[1]).getAll('scope'), ['repository:team/app:metadata_write']);
    assert.ok(updated);
    assert.equal(quarantineStateOf(updated), 'Passed');
    assert.deepEqual(quarantineDetailsOf(updated), details);
  });

  it('sends a details string as it is and refuses an empty update', async () => {
    let body = '';
    const { http } = acr((request) => {
      body = String(request.body);
      return reply(204);
    });
    const c = new AcrClient({ registry, credentials, http });
    assert.equal(
      await c.updateManifestAttributes('team/app', digest, { quarantineState: 'Failed', quarantineDetails: '{"state":"x"}' }),
      undefined,
    );
    assert.deepEqual(JSON.parse(body), { quarantineState: 'Failed', quarantineDetails: '{"state":"x"}' });
    await assert.rejects(c.updateManifestAttributes('team/app', digest, {}), /nothing to change/);
  });

  it('does not retry a PATCH refused with 403, and carries the code', async () => {
    const { http, requests } = acr(() =>
      reply(403, { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }),
    );
    const c = new AcrClient({ registry, credentials, http, retry: fastRetry, sleep: noSleep });
    await assert.rejects(
      c.updateManifestAttributes('team/app', digest, { quarantineState: 'Passed' }),
      (e: RegistryError) => e instanceof RegistryError && e.status === 403 && e.code === 'DENIED',
    );
    assert.equal(requests.filter((r) => r.method === 'PATCH').length, 2, 'the unauthenticated try and one authorized try');
  });

  it('retries a PATCH on 429 then succeeds, and gives up on 500 forever with the reason', async () => {
    let patches = 0;
    const { http } = acr(() => (++patches === 1 ? reply(429, '', { 'retry-after': '1' }) : reply(200, attributes('Passed'))));
    const waits: number[] = [];
    const c = new AcrClient({ registry, credentials, http, retry: fastRetry, sleep: async (ms) => void waits.push(ms) });
    await c.updateManifestAttributes('team/app', digest, { quarantineState: 'Passed' });
    assert.equal(patches, 2);
    assert.equal(waits.length, 1);

    let tries = 0;
    const { http: broken } = acr(() => {
      tries++;
      return reply(500, { errors: [{ code: 'UNKNOWN', message: 'internal error' }] });
    });
    const c2 = new AcrClient({ registry, credentials, http: broken, retry: fastRetry, sleep: noSleep });
    await assert.rejects(
      c2.updateManifestAttributes('team/app', digest, { quarantineState: 'Passed' }),
      /PATCH https:\/\/contoso\.azurecr\.io\/acr\/v1\/team\/app\/_manifests\/sha256:a+ answered 500: UNKNOWN: internal error/,
    );
    assert.equal(tries, fastRetry.attempts);
  });

  it('retries a reset', async () => {
    let calls = 0;
    const { http } = acr(() => {
      if (++calls === 1) throw networkError('ECONNRESET');
      return reply(200, attributes());
    });
    const c = new AcrClient({ registry, credentials, http, retry: fastRetry, sleep: noSleep });
    assert.equal(quarantineStateOf(await c.getManifestAttributes('team/app', digest)), undefined);
    assert.equal(calls, 2);
  });

  it('reads tag attributes', async () => {
    const { http, requests } = acr(() => reply(200, { registry, imageName: 'team/app', tag: { name: '1', digest } }));
    const c = new AcrClient({ registry, credentials, http });
    assert.equal((await c.getTagAttributes('team/app', '1')).tag.digest, digest);
    assert.equal(new URL(requests[2].url).pathname, '/acr/v1/team/app/_tags/1');
  });

  it('validates names before sending', async () => {
    const { http, requests } = acr(() => reply(200));
    const c = new AcrClient({ registry, credentials, http });
    await assert.rejects(c.getManifestAttributes('team/app', 'latest'), /digest 'latest' is not valid/);
    await assert.rejects(c.getTagAttributes('Team', '1'), /lower-case/);
    assert.equal(requests.length, 0);
  });

  it('returns undefined details for text that is not JSON', () => {
    assert.equal(quarantineDetailsOf(attributes('Passed', 'not json')), undefined);
  });
});
