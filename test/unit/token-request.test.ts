import { strict as assert } from 'node:assert';
import { RecordingLogger } from '../../src/log';
import { RegistryError } from '../../src/registry/errors';
import { formPost, refreshTokenGrant, sendTokenRequest } from '../../src/registry/token-request';
import { fakeHttp, fastRetry, noSleep, reply } from './registry-fakes';

describe('token requests', () => {
  it('writes ACR refresh_token grant fields in the documented order, one scope parameter per scope', () => {
    const request = refreshTokenGrant(
      'https://contoso.azurecr.io/oauth2/token',
      'contoso.azurecr.io',
      ['repository:a:pull', 'repository:b:push'],
      'refresh-1',
    );
    assert.equal(request.method, 'POST');
    assert.equal(request.url, 'https://contoso.azurecr.io/oauth2/token');
    assert.equal(request.headers?.['Content-Type'], 'application/x-www-form-urlencoded');
    assert.equal(
      request.body,
      'grant_type=refresh_token&service=contoso.azurecr.io&scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apush&refresh_token=refresh-1',
    );
  });

  it('leaves service out when the challenge named none', () => {
    assert.equal(refreshTokenGrant('https://r.test/token', undefined, [], 't').body, 'grant_type=refresh_token&refresh_token=t');
  });

  it('posts a form and asks for JSON', () => {
    const request = formPost('https://r.test/x', new URLSearchParams({ a: '1' }));
    assert.deepEqual(request.headers, { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' });
    assert.equal(request.body, 'a=1');
  });

  it('retries a transient answer with a warning that names the request, then returns the 200', async () => {
    const { http, requests } = fakeHttp((_r, i) => (i === 0 ? reply(503) : reply(200, { access_token: 'x' })));
    const logger = new RecordingLogger();
    const response = await sendTokenRequest(formPost('https://r.test/token', new URLSearchParams()), 'r.test: token', {
      http,
      retry: fastRetry,
      sleep: noSleep,
      logger,
    });
    assert.equal(response.status, 200);
    assert.equal(requests.length, 2);
    assert.equal(logger.lines.length, 1);
    assert.match(logger.lines[0].message, /^r\.test: token answered 503 from r\.test; trying again in [\d.]+ s \(attempt 2\)\.$/);
  });

  it("throws a RegistryError at once on a refusal, with the caller's message when it gives one", async () => {
    const { http, requests } = fakeHttp(() => reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'no' }] }));
    const error = await sendTokenRequest(
      formPost('https://r.test/token', new URLSearchParams()),
      'r.test: token',
      { http, retry: fastRetry, sleep: noSleep },
      (r) => `refused with ${r.status}`,
    ).catch((e) => e);
    assert.ok(error instanceof RegistryError);
    assert.match(error.message, /refused with 401/);
    assert.equal(requests.length, 1);
  });
});
