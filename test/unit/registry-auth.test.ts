import { strict as assert } from 'node:assert';
import { TokenAuthenticator, authorizedRequest, jwtExpiry, parseChallenges } from '../../src/registry/auth';
import { ACR_TOKEN_USERNAME } from '../../src/registry/credentials';
import { RegistryError } from '../../src/registry/errors';
import { fakeHttp, fastRetry, form, networkError, noSleep, reply, unsignedJwt } from './registry-fakes';

const registry = 'contoso.azurecr.io';
const realm = `https://${registry}/oauth2/token`;
const challenge = (scope: string, extra = '') => ({
  'www-authenticate': `Bearer realm="${realm}",service="${registry}",scope="${scope}"${extra}`,
});
const refresh = { registry, username: ACR_TOKEN_USERNAME, password: 'acr-refresh-token' };
const basicOf = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('registry auth: challenges', () => {
  it("parses ACR's Bearer challenge with quoted values", () => {
    assert.deepEqual(parseChallenges(`Bearer realm="${realm}",service="${registry}",scope="repository:hello-world:pull"`), [
      { scheme: 'bearer', params: { realm, service: registry, scope: 'repository:hello-world:pull' } },
    ]);
  });
  it('parses several challenges, spaces, commas inside quotes, escapes and unquoted values', () => {
    const parsed = parseChallenges(
      'Basic realm="Registry Realm", Bearer realm="https://r/t?a=1,b=2" , service=reg, scope="repository:a:pull repository:b:pull",error="insufficient_scope", x="a\\"b"',
    );
    assert.deepEqual(parsed, [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      {
        scheme: 'bearer',
        params: {
          realm: 'https://r/t?a=1,b=2',
          service: 'reg',
          scope: 'repository:a:pull repository:b:pull',
          error: 'insufficient_scope',
          x: 'a"b',
        },
      },
    ]);
  });
  it('returns nothing for an empty header', () => assert.deepEqual(parseChallenges(''), []));
});

describe('registry auth: token flow', () => {
  it("trades an ACR refresh token with ACR's POST form, then retries the request once with the token", async () => {
    const token = unsignedJwt({ exp: Math.floor(Date.now() / 1000) + 3600 });
    const { http, requests } = fakeHttp((request) => {
      if (request.url === realm) return reply(200, { access_token: token });
      if (request.headers?.Authorization === `Bearer ${token}`) return reply(200, 'manifest');
      return reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, challenge('repository:app:pull'));
    });
    const auth = new TokenAuthenticator({ credentials: refresh, http });
    const response = await authorizedRequest(http, { method: 'GET', url: `https://${registry}/v2/app/manifests/1` }, auth, 'pull app');
    assert.equal(response.text(), 'manifest');
    assert.equal(requests.length, 3);
    const tokenRequest = requests[1];
    assert.equal(tokenRequest.method, 'POST');
    assert.equal(tokenRequest.headers?.['Content-Type'], 'application/x-www-form-urlencoded');
    assert.equal(tokenRequest.headers?.Authorization, undefined);
    assert.deepEqual(Object.fromEntries(form(tokenRequest)), {
      grant_type: 'refresh_token',
      service: registry,
      scope: 'repository:app:pull',
      refresh_token: 'acr-refresh-token',
    });

    // cached per key: the next request goes straight with the token
    await authorizedRequest(http, { method: 'GET', url: `https://${registry}/v2/app/manifests/2` }, auth, 'pull app');
    assert.equal(requests.length, 4);
    assert.equal(requests[3].headers?.Authorization, `Bearer ${token}`);
  });

  it('sends every scope of a multi-scope challenge as its own scope parameter', async () => {
    const { http, requests } = fakeHttp((request) =>
      request.url === realm
        ? reply(200, { access_token: 'opaque' })
        : request.headers?.Authorization
          ? reply(200)
          : reply(401, '', challenge('repository:a:pull repository:b:pull,push')),
    );
    await authorizedRequest(
      http,
      { method: 'GET', url: `https://${registry}/v2/a/blobs/x` },
      new TokenAuthenticator({ credentials: refresh, http }),
    );
    assert.deepEqual(form(requests[1]).getAll('scope'), ['repository:a:pull', 'repository:b:pull,push']);
  });

  it('uses GET with Basic for other users (admin user, service principal id), as docker does', async () => {
    const { http, requests } = fakeHttp((request) =>
      request.url.startsWith(realm)
        ? reply(200, { token: 'docker-style' })
        : request.headers?.Authorization
          ? reply(200)
          : reply(401, '', challenge('repository:app:pull,push')),
    );
    const auth = new TokenAuthenticator({ credentials: { registry, username: 'contoso', password: 'admin-pass' }, http });
    await authorizedRequest(http, { method: 'PUT', url: `https://${registry}/v2/app/manifests/1` }, auth);
    const tokenRequest = requests[1];
    assert.equal(tokenRequest.method, 'GET');
    const url = new URL(tokenRequest.url);
    assert.equal(url.origin + url.pathname, realm);
    assert.equal(url.searchParams.get('service'), registry);
    assert.equal(url.searchParams.get('scope'), 'repository:app:pull,push');
    assert.equal(tokenRequest.headers?.Authorization, basicOf('contoso', 'admin-pass'));
    assert.equal(requests[2].headers?.Authorization, 'Bearer docker-style');
  });

  it('asks anonymously without credentials', async () => {
    const { http, requests } = fakeHttp((request) =>
      request.url.startsWith(realm)
        ? reply(200, { token: 'anon' })
        : request.headers?.Authorization
          ? reply(200)
          : reply(401, '', challenge('repository:library/busybox:pull')),
    );
    await authorizedRequest(
      http,
      { method: 'GET', url: `https://${registry}/v2/library/busybox/manifests/1` },
      new TokenAuthenticator({ http }),
    );
    assert.equal(requests[1].headers?.Authorization, undefined);
    assert.equal(requests[2].headers?.Authorization, 'Bearer anon');
  });

  it('answers a Basic challenge with Basic and remembers it', async () => {
    const { http, requests } = fakeHttp((request) =>
      request.headers?.Authorization ? reply(200) : reply(401, '', { 'www-authenticate': 'Basic realm="Registry"' }),
    );
    const auth = new TokenAuthenticator({ credentials: { registry, username: 'u', password: 'p' }, http });
    await authorizedRequest(http, { method: 'GET', url: `https://${registry}/v2/` }, auth);
    await authorizedRequest(http, { method: 'GET', url: `https://${registry}/v2/` }, auth);
    assert.deepEqual(
      requests.map((r) => r.headers?.Authorization),
      [undefined, basicOf('u', 'p'), basicOf('u', 'p')],
    );
  });

  it('returns a 401 it cannot answer (Basic without credentials, unknown scheme) to the caller', async () => {
    for (const header of ['Basic realm="x"', 'Negotiate', '']) {
      const { http, requests } = fakeHttp(() => reply(401, '', header ? { 'www-authenticate': header } : {}));
      const response = await authorizedRequest(http, { method: 'GET', url: `https://${registry}/v2/` }, new TokenAuthenticator({ http }));
      assert.equal(response.status, 401);
      assert.equal(requests.length, 1);
    }
  });

  it('retries once only: a second 401 with a fresh token is the answer, and its error names the missing right', async () => {
    const { http, requests } = fakeHttp((request) =>
      request.url === realm
        ? reply(200, { access_token: 't' })
        : reply(
            401,
            { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
            challenge('repository:app:metadata_write', ',error="insufficient_scope"'),
          ),
    );
    const request = { method: 'PATCH', url: `https://${registry}/acr/v1/app/_manifests/x` };
    const response = await authorizedRequest(http, request, new TokenAuthenticator({ credentials: refresh, http }));
    assert.equal(response.status, 401);
    assert.equal(requests.length, 3);
    const error = new RegistryError(request, response);
    assert.equal(error.code, 'UNAUTHORIZED');
    assert.match(
      error.message,
      /answered 401: UNAUTHORIZED: authentication required \(the registry granted this identity no repository:app:metadata_write: insufficient_scope\)$/,
    );
  });

  it('renews a cached token when its JWT is about to expire, and keeps it while it is not', async () => {
    let now = 1_000_000_000_000;
    let issued = 0;
    const { http, requests } = fakeHttp((request) => {
      if (request.url === realm) {
        issued++;
        return reply(200, { access_token: unsignedJwt({ exp: Math.floor(now / 1000) + 3600, n: issued }) });
      }
      return request.headers?.Authorization ? reply(200) : reply(401, '', challenge('repository:app:pull'));
    });
    const auth = new TokenAuthenticator({ credentials: refresh, http, now: () => now });
    const get = () => authorizedRequest(http, { method: 'GET', url: `https://${registry}/v2/app/manifests/1` }, auth, 'pull app');
    await get();
    now += 50 * 60_000; // 10 minutes left: more than the 5-minute margin
    await get();
    assert.equal(issued, 1);
    now += 6 * 60_000; // 4 minutes left: renewed before sending
    await get();
    assert.equal(issued, 2);
    assert.equal(
      requests.filter((r) => r.url !== realm && !r.headers?.Authorization).length,
      1,
      'only the first request went without a token',
    );
  });

  it('reads expires_in when the token is not a JWT (60 s by default)', async () => {
    let now = 0;
    let issued = 0;
    const { http } = fakeHttp((request) => {
      if (request.url.startsWith(realm)) return reply(200, { token: `opaque-${++issued}` });
      return request.headers?.Authorization ? reply(200) : reply(401, '', challenge('repository:app:pull'));
    });
    const auth = new TokenAuthenticator({ credentials: { registry, username: 'u', password: 'p' }, http, now: () => now });
    const get = () => authorizedRequest(http, { method: 'GET', url: `https://${registry}/v2/app/manifests/1` }, auth, 'k');
    await get();
    now += 20_000;
    await get();
    assert.equal(issued, 1);
    now += 20_000; // 40 s of 60: past the half-lifetime margin
    await get();
    assert.equal(issued, 2);
  });

  it('retries the token request on 429 (with Retry-After), 500 and resets, within the bound', async () => {
    const script: (ReturnType<typeof reply> | 'reset')[] = [
      reply(429, '', { 'retry-after': '2' }),
      reply(500),
      'reset',
      reply(200, { access_token: 'ok' }),
    ];
    const waits: number[] = [];
    const { http } = fakeHttp((request) => {
      if (request.url !== realm) return request.headers?.Authorization ? reply(200) : reply(401, '', challenge('repository:app:pull'));
      const next = script.shift()!;
      if (next === 'reset') throw networkError('ECONNRESET');
      return next;
    });
    const auth = new TokenAuthenticator({
      credentials: refresh,
      http,
      retry: { attempts: 5, baseDelayMs: 10, maxDelayMs: 10_000 },
      sleep: async (ms) => void waits.push(ms),
    });
    const response = await authorizedRequest(http, { method: 'GET', url: `https://${registry}/v2/app/manifests/1` }, auth);
    assert.equal(response.status, 200);
    assert.equal(waits.length, 3);
    assert.equal(waits[0], 2000, 'Retry-After is honoured');
  });

  it("gives up after the bound with the token service's reason, and does not retry a refusal", async () => {
    const { http: failing, requests } = fakeHttp((request) =>
      request.url === realm
        ? reply(503, { errors: [{ code: 'UNAVAILABLE', message: 'busy' }] })
        : reply(401, '', challenge('repository:app:pull')),
    );
    await assert.rejects(
      authorizedRequest(
        failing,
        { method: 'GET', url: `https://${registry}/v2/app/manifests/1` },
        new TokenAuthenticator({ credentials: refresh, http: failing, retry: fastRetry, sleep: noSleep }),
      ),
      (error: RegistryError) =>
        error instanceof RegistryError && error.status === 503 && /answered 503 to the ACR refresh token: busy/.test(error.message),
    );
    assert.equal(requests.filter((r) => r.url === realm).length, fastRetry.attempts);

    const { http: refusing, requests: refused } = fakeHttp((request) =>
      request.url === realm
        ? reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid refresh token' }] })
        : reply(401, '', challenge('repository:app:pull')),
    );
    await assert.rejects(
      authorizedRequest(
        refusing,
        { method: 'GET', url: `https://${registry}/v2/app/manifests/1` },
        new TokenAuthenticator({ credentials: refresh, http: refusing, retry: fastRetry, sleep: noSleep }),
      ),
      /token service at https:\/\/contoso\.azurecr\.io\/oauth2\/token refused the ACR refresh token: invalid refresh token/,
    );
    assert.equal(refused.filter((r) => r.url === realm).length, 1);
  });

  it('never puts the secret in an error message', async () => {
    const { http } = fakeHttp((request) =>
      request.url.startsWith(realm)
        ? reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'nope' }] })
        : reply(401, '', challenge('repository:app:pull')),
    );
    const error = await authorizedRequest(
      http,
      { method: 'GET', url: `https://${registry}/v2/app/manifests/1` },
      new TokenAuthenticator({ credentials: { registry, username: 'sp', password: 'SECRET-VALUE' }, http }),
    ).catch((e: Error) => e);
    assert.ok(error instanceof Error);
    assert.ok(!String(error.message).includes('SECRET-VALUE'));
    assert.match(error.message, /refused the user 'sp'/);
  });

  it("sends an ACR refresh token only to the registry's own token service, and no credentials over plain http", async () => {
    const elsewhere = fakeHttp((request) =>
      request.url.includes('evil')
        ? reply(200, { access_token: 'x' })
        : reply(401, '', { 'www-authenticate': 'Bearer realm="https://evil.example/token",service="x",scope="repository:app:pull"' }),
    );
    await assert.rejects(
      authorizedRequest(
        elsewhere.http,
        { method: 'GET', url: `https://${registry}/v2/app/manifests/1` },
        new TokenAuthenticator({ credentials: refresh, http: elsewhere.http }),
      ),
      /sends its token requests to another host \(evil\.example\); refusing to send an ACR refresh token there/,
    );
    assert.equal(elsewhere.requests.filter((r) => r.url.includes('evil')).length, 0);

    const plain = fakeHttp((request) =>
      request.url.startsWith('http://auth')
        ? reply(200, { token: 'x' })
        : reply(401, '', { 'www-authenticate': 'Bearer realm="http://auth.example/token",service="x"' }),
    );
    await assert.rejects(
      authorizedRequest(
        plain.http,
        { method: 'GET', url: `https://${registry}/v2/` },
        new TokenAuthenticator({ credentials: { registry, username: 'u', password: 'p' }, http: plain.http }),
      ),
      /asks for credentials over plain http/,
    );
    assert.equal(plain.requests.length, 1);

    // Docker Hub style: another https host for user/password is fine, as is a loopback http realm.
    const hub = fakeHttp((request) =>
      request.url.startsWith('https://auth.docker.io')
        ? reply(200, { token: 'hub' })
        : request.headers?.Authorization
          ? reply(200)
          : reply(401, '', {
              'www-authenticate':
                'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
            }),
    );
    const answer = await authorizedRequest(
      hub.http,
      { method: 'GET', url: 'https://registry-1.docker.io/v2/library/busybox/manifests/1' },
      new TokenAuthenticator({ credentials: { registry: 'docker.io', username: 'u', password: 'p' }, http: hub.http }),
    );
    assert.equal(answer.status, 200);
  });

  it('reads exp from a JWT and nothing from an opaque token', () => {
    assert.equal(jwtExpiry(unsignedJwt({ exp: 42 })), 42);
    assert.equal(jwtExpiry('opaque'), undefined);
    assert.equal(jwtExpiry('a.b.c'), undefined);
  });
});
