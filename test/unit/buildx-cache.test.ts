import { strict as assert } from 'node:assert';
import { registryCacheSource, splitCacheRef, unreadableCacheWarning } from '../../src/buildx/cache';
import type { BuildRequest } from '../../src/buildx/command';
import { RecordingLogger } from '../../src/log';
import { fakeHttp, reply } from './registry-fakes';

const digest = `sha256:${'c'.repeat(64)}`;
const request = {
  registry: 'contoso.azurecr.io',
  repository: 'team/app',
  cache: 'registry',
  cacheRef: 'contoso.azurecr.io/team/app:buildcache',
} as BuildRequest;
const credentials = { registry: 'contoso.azurecr.io', username: 'u', password: 'p' };

/** The registry as an identity sees it: the cache tag on /v2 (visible or not), and on /acr/v1 (shown or not). */
function registry(view: { byTag: boolean; acr: 'shown' | 'hidden' }) {
  return fakeHttp((r) => {
    if (r.method === 'HEAD' && r.url.endsWith('/v2/team/app/manifests/buildcache'))
      return view.byTag ? reply(200, '', { 'docker-content-digest': digest }) : reply(404, { errors: [{ code: 'MANIFEST_UNKNOWN' }] });
    if (r.method === 'GET' && r.url.endsWith('/acr/v1/team/app/_tags/buildcache'))
      return view.acr === 'shown'
        ? reply(200, { tag: { name: 'buildcache', digest, changeableAttributes: { quarantineState: 'Quarantined' } } })
        : reply(404, { errors: [{ code: 'TAG_UNKNOWN' }] });
    return reply(500, `unexpected ${r.method} ${r.url}`);
  });
}

describe('the registry cache under quarantine', () => {
  it('splits a cache reference', () => {
    assert.deepEqual(splitCacheRef('contoso.azurecr.io/team/app:buildcache'), {
      registry: 'contoso.azurecr.io',
      repository: 'team/app',
      tag: 'buildcache',
    });
    assert.equal(splitCacheRef('contoso.azurecr.io/team/app'), undefined);
  });

  it('imports by digest when quarantine hides the tag and /acr/v1 shows this identity the digest', async () => {
    const { http, requests } = registry({ byTag: false, acr: 'shown' });
    const logger = new RecordingLogger();
    assert.equal(await registryCacheSource(request, { http, logger, credentials }), `contoso.azurecr.io/team/app@${digest}`);
    assert.match(
      logger.lines.map((l) => l.message).join('\n'),
      /is in quarantine \(quarantineState Quarantined\).*importing it by digest.*nothing is released/,
    );
    assert.ok(!requests.some((r) => r.method === 'PATCH'), 'nothing released');
  });

  it('keeps the tag when it resolves, and when there is nothing to find', async () => {
    const visible = registry({ byTag: true, acr: 'hidden' });
    assert.equal(await registryCacheSource(request, { http: visible.http, logger: new RecordingLogger(), credentials }), undefined);
    assert.equal(visible.requests.length, 1, 'one HEAD, no /acr/v1 look-up');
    const none = registry({ byTag: false, acr: 'hidden' });
    assert.equal(await registryCacheSource(request, { http: none.http, logger: new RecordingLogger(), credentials }), undefined);
  });

  it('looks at nothing without a sign-in, for another cache mode, or for a cache in another registry', async () => {
    const { http, requests } = registry({ byTag: false, acr: 'shown' });
    const logger = new RecordingLogger();
    assert.equal(await registryCacheSource(request, { http, logger, credentials: undefined }), undefined);
    assert.equal(await registryCacheSource({ ...request, cache: 'inline' }, { http, logger, credentials }), undefined);
    assert.equal(
      await registryCacheSource({ ...request, cacheRef: 'fabrikam.azurecr.io/team/app:buildcache' }, { http, logger, credentials }),
      undefined,
    );
    assert.equal(requests.length, 0);
  });

  it('after the push: warns, naming the role, when the pushed cache is hidden from this identity', async () => {
    const hidden = registry({ byTag: false, acr: 'hidden' });
    const warning = await unreadableCacheWarning(request, { http: hidden.http, logger: new RecordingLogger(), credentials });
    assert.match(
      warning ?? '',
      /hidden by contoso\.azurecr\.io's quarantine .* Fix: give the build's identity AcrQuarantineReader on contoso\.azurecr\.io/,
    );
    const readable = registry({ byTag: false, acr: 'shown' });
    assert.equal(await unreadableCacheWarning(request, { http: readable.http, logger: new RecordingLogger(), credentials }), undefined);
    const plain = registry({ byTag: true, acr: 'hidden' });
    assert.equal(await unreadableCacheWarning(request, { http: plain.http, logger: new RecordingLogger(), credentials }), undefined);
  });
});
