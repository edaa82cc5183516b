// The ACR emulator against the documented protocol (shared/research/scan-quarantine.md §1-§2): the challenge,
// /oauth2/exchange, the three /oauth2/token forms, scope grants per role, the /acr/v1 API and the quarantine
// policy, all with raw HTTPS requests as the documentation describes them.
import { strict as assert } from 'node:assert';
import { ContainerRegistryClient } from '@azure/container-registry';
import { ClientSecretCredential } from '@azure/identity';
import { readFileSync } from 'node:fs';
import { LabControl } from '../lab/client';
import { nullGuid } from '../lab/emulators/acr/auth';
import {
  acrAccessToken,
  acrCall,
  acrRefreshToken,
  challengeOf,
  claimsOf,
  entraToken,
  formBody,
  formHeaders,
  identityRefreshToken,
  labRequest,
  ociManifestType,
  pushTestImage,
  pushTestIndex,
  uniqueRepository,
} from '../lab/emulators/testkit';
import { type AppIdentityName, type Lab, readLab } from '../lab/lab';

const contoso = 'contoso.azurecr.io';
const fabrikam = 'fabrikam.azurecr.io';
const manifestAccept = { Accept: `${ociManifestType}, application/vnd.oci.image.index.v1+json` };

describe('lab emulators: ACR (contoso quarantine on, fabrikam off)', function () {
  this.timeout(60_000);
  let lab: Lab;
  const control = new LabControl();
  const refresh: Partial<Record<AppIdentityName, string>> = {};

  before(async () => {
    lab = readLab();
    for (const identity of ['builder', 'scanner', 'qreader', 'puller', 'nobody'] as const) {
      refresh[identity] = await identityRefreshToken(lab, contoso, identity);
    }
  });

  const token = (identity: AppIdentityName) => refresh[identity] as string;
  const pushToken = (repository: string) => acrAccessToken(lab, contoso, token('builder'), [`repository:${repository}:pull,push`]);
  const bearer = (accessToken: string) => ({ Authorization: `Bearer ${accessToken}` });

  describe('authentication (docs/AAD-OAuth.md, Token-BasicAuth.md)', () => {
    it('challenges an anonymous pull with realm, service and scope, and an ACR error body with detail', async () => {
      const answer = await labRequest(lab, `https://${contoso}/v2/hello-world/manifests/latest`);
      assert.equal(answer.status, 401);
      assert.equal(
        answer.headers['www-authenticate'],
        `Bearer realm="https://${contoso}/oauth2/token",service="${contoso}",scope="repository:hello-world:pull"`,
      );
      const body = answer.json<{ errors: Array<{ code: string; message: string; detail: unknown }> }>();
      assert.equal(body.errors[0].code, 'UNAUTHORIZED');
      assert.match(body.errors[0].message, /^authentication required/);
      assert.deepEqual(body.errors[0].detail, [{ Type: 'repository', Name: 'hello-world', Action: 'pull' }]);
    });

    it('challenges GET /v2/ without a scope and the catalog with registry:catalog:*', async () => {
      const base = await labRequest(lab, `https://${contoso}/v2/`);
      assert.equal(base.status, 401);
      assert.deepEqual(challengeOf(base), { realm: `https://${contoso}/oauth2/token`, service: contoso });
      const catalog = await labRequest(lab, `https://${contoso}/acr/v1/_catalog`);
      assert.equal(challengeOf(catalog).scope, 'registry:catalog:*');
    });

    it('exchanges an Entra token for a refresh token, with or without tenant (JS SDK form), ignoring api-version', async () => {
      const entra = await entraToken(lab, 'puller');
      const withTenant = await acrRefreshToken(lab, contoso, entra);
      const claims = claimsOf(withTenant);
      assert.equal(claims.iss, 'Azure Container Registry');
      assert.equal(claims.aud, contoso);
      assert.equal(claims.grant_type, 'refresh_token');
      assert.equal(claims.tenant, lab.entra.tenantId);
      assert.equal(claims.sub, lab.identities.puller.objectId);
      assert.ok((claims.exp as number) > Date.now() / 1000);
      const sdkForm = await labRequest(lab, `https://${contoso}/oauth2/exchange?api-version=2021-07-01`, {
        method: 'POST',
        headers: formHeaders,
        body: formBody({ grant_type: 'access_token', service: contoso, access_token: entra }),
      });
      assert.equal(sdkForm.status, 200);
      assert.equal(typeof sdkForm.json().refresh_token, 'string');
    });

    it('accepts an ARM-audience Entra token (trivy built-in Azure login) too', async () => {
      const arm = await entraToken(lab, 'scanner', 'https://management.azure.com/.default');
      assert.equal(claimsOf(arm).aud, 'https://management.azure.com');
      assert.equal(claimsOf(await acrRefreshToken(lab, contoso, arm)).sub, lab.identities.scanner.objectId);
    });

    it('rejects a tampered Entra token, another tenant and a wrong grant type at /oauth2/exchange', async () => {
      const entra = await entraToken(lab, 'puller');
      const [header, , signature] = entra.split('.');
      const forged = { ...claimsOf(entra), oid: lab.identities.builder.objectId };
      const tampered = `${header}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${signature}`;
      const exchange = (fields: Record<string, string>) =>
        labRequest(lab, `https://${contoso}/oauth2/exchange`, { method: 'POST', headers: formHeaders, body: formBody(fields) });
      const forgedAnswer = await exchange({ grant_type: 'access_token', service: contoso, access_token: tampered });
      assert.equal(forgedAnswer.status, 401);
      assert.equal(forgedAnswer.json<{ errors: Array<{ code: string }> }>().errors[0].code, 'UNAUTHORIZED');
      assert.equal(
        (
          await exchange({
            grant_type: 'access_token',
            service: contoso,
            tenant: '00000000-1111-2222-3333-444444444444',
            access_token: entra,
          })
        ).status,
        401,
      );
      assert.equal((await exchange({ grant_type: 'password', service: contoso, access_token: entra })).status, 400);
    });

    it('grants the requested actions that the roles allow (space-separated and repeated scopes)', async () => {
      const answer = await labRequest(lab, `https://${contoso}/oauth2/token`, {
        method: 'POST',
        headers: formHeaders,
        body: formBody({
          grant_type: 'refresh_token',
          service: contoso,
          scope: ['repository:app:pull,push repository:other:pull', 'registry:catalog:*'],
          refresh_token: token('puller'),
        }),
      });
      assert.equal(answer.status, 200);
      const claims = claimsOf(answer.json<{ access_token: string }>().access_token);
      assert.equal(claims.grant_type, 'access_token');
      assert.deepEqual(claims.access, [
        { Type: 'repository', Name: 'app', Actions: ['pull'] },
        { Type: 'repository', Name: 'other', Actions: ['pull'] },
        { Type: 'registry', Name: 'catalog', Actions: ['*'] },
      ]);
      const builder = claimsOf(await acrAccessToken(lab, contoso, token('builder'), ['repository:app:pull,push,delete']));
      assert.deepEqual(builder.access, [{ Type: 'repository', Name: 'app', Actions: ['pull', 'push'] }]);
      const nobody = claimsOf(await acrAccessToken(lab, contoso, token('nobody'), ['repository:app:pull']));
      assert.deepEqual(nobody.access, []); // live ACR: `"access":[]` (recorded), no entry without actions
    });

    it('answers GET /oauth2/token with Basic: null GUID + refresh token, the admin user, a service principal', async () => {
      const basic = (user: string, password: string) => ({
        Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      });
      const url = `https://${contoso}/oauth2/token?service=${contoso}&scope=repository:app:pull,push`;
      const viaRefresh = await labRequest(lab, url, { headers: basic(nullGuid, token('builder')) });
      assert.equal(viaRefresh.status, 200);
      assert.deepEqual(claimsOf(viaRefresh.json<{ access_token: string }>().access_token).access, [
        { Type: 'repository', Name: 'app', Actions: ['pull', 'push'] },
      ]);
      const admin = lab.registries[contoso].admin;
      const viaAdmin = await labRequest(lab, url, { headers: basic(admin.username, admin.password) });
      assert.equal(viaAdmin.status, 200);
      assert.equal(claimsOf(viaAdmin.json<{ access_token: string }>().access_token).sub, admin.username);
      const puller = lab.identities.puller;
      const viaServicePrincipal = await labRequest(lab, url, { headers: basic(puller.clientId, puller.secret) });
      assert.deepEqual(claimsOf(viaServicePrincipal.json<{ access_token: string }>().access_token).access, [
        { Type: 'repository', Name: 'app', Actions: ['pull'] },
      ]);
      assert.equal((await labRequest(lab, url, { headers: basic(admin.username, 'wrong') })).status, 401);
      assert.equal((await labRequest(lab, url)).status, 401);
    });

    it('answers POST /oauth2/token grant_type=password (BuildKit, containerd) and refuses a token of another registry', async () => {
      const form = (password: string, registry = contoso) =>
        labRequest(lab, `https://${registry}/oauth2/token`, {
          method: 'POST',
          headers: formHeaders,
          body: formBody({
            client_id: 'buildkit-client',
            grant_type: 'password',
            username: nullGuid,
            password,
            scope: 'repository:app:pull,push',
            service: registry,
          }),
        });
      const ok = await form(token('builder'));
      assert.equal(ok.status, 200);
      assert.deepEqual(claimsOf(ok.json<{ access_token: string }>().access_token).access, [
        { Type: 'repository', Name: 'app', Actions: ['pull', 'push'] },
      ]);
      assert.equal((await form(token('builder'), fabrikam)).status, 401, 'a contoso refresh token is not valid at fabrikam');
      assert.equal((await form('not-a-token')).status, 401);
    });

    it('takes an ACR access token as password too, without widening it', async () => {
      const pullOnly = await acrAccessToken(lab, contoso, token('builder'), ['repository:app:pull']);
      const answer = await labRequest(lab, `https://${contoso}/oauth2/token?service=${contoso}&scope=repository:app:pull,push`, {
        headers: { Authorization: `Basic ${Buffer.from(`${nullGuid}:${pullOnly}`).toString('base64')}` },
      });
      assert.equal(answer.status, 200);
      assert.deepEqual(claimsOf(answer.json<{ access_token: string }>().access_token).access, [
        { Type: 'repository', Name: 'app', Actions: ['pull'] },
      ]);
    });

    it('answers 401 insufficient_scope when the token lacks the action, and lets a token of another registry fail', async () => {
      const repository = uniqueRepository('scope');
      const pullOnly = await acrAccessToken(lab, contoso, token('builder'), [`repository:${repository}:pull`]);
      const answer = await labRequest(lab, `https://${contoso}/v2/${repository}/blobs/uploads/`, {
        method: 'POST',
        headers: bearer(pullOnly),
      });
      assert.equal(answer.status, 401);
      assert.deepEqual(challengeOf(answer), {
        realm: `https://${contoso}/oauth2/token`,
        service: contoso,
        scope: `repository:${repository}:pull,push`,
        error: 'insufficient_scope',
      });
      const fabrikamToken = await acrAccessToken(lab, fabrikam, await identityRefreshToken(lab, fabrikam, 'builder'), [
        `repository:${repository}:pull`,
      ]);
      assert.equal(
        (await labRequest(lab, `https://${contoso}/v2/${repository}/tags/list`, { headers: bearer(fabrikamToken) })).status,
        401,
      );
    });
  });

  describe('registry API through the emulator', () => {
    it('proxies blob uploads with Location rewritten to the registry name, and range reads', async () => {
      const repository = uniqueRepository('proxy');
      const access = await pushToken(repository);
      const image = await pushTestImage(lab, contoso, access, repository, 'v1');
      assert.match(image.uploadLocation, new RegExp(`^https://${contoso}/v2/${repository}/blobs/uploads/`));
      const range = await labRequest(lab, `https://${contoso}/v2/${repository}/blobs/${image.layerDigest}`, {
        headers: { ...bearer(access), Range: 'bytes=0-9' },
      });
      assert.equal(range.status, 206);
      assert.equal(range.body.length, 10);
      const head = await labRequest(lab, `https://${fabrikam}/v2/`, { method: 'HEAD' });
      assert.equal(head.status, 401);
    });

    it('does not mount a blob from a repository the token cannot pull (a plain upload starts)', async () => {
      const repository = uniqueRepository('mount');
      const access = await acrAccessToken(lab, contoso, token('builder'), [`repository:${repository}:pull,push`]);
      const answer = await labRequest(
        lab,
        `https://${contoso}/v2/${repository}/blobs/uploads/?mount=sha256:${'0'.repeat(64)}&from=elsewhere`,
        { method: 'POST', headers: bearer(access) },
      );
      assert.equal(answer.status, 202);
    });
  });

  describe('quarantine (policy on at contoso)', () => {
    let repository: string;
    let image: Awaited<ReturnType<typeof pushTestImage>>;

    beforeEach(async () => {
      repository = uniqueRepository('quarantine');
      image = await pushTestImage(lab, contoso, await pushToken(repository), repository, '1');
    });

    const pull = async (identity: AppIdentityName, reference: string, method = 'GET', actions = 'pull') =>
      labRequest(lab, `https://${contoso}/v2/${repository}/manifests/${reference}`, {
        method,
        headers: {
          ...bearer(await acrAccessToken(lab, contoso, token(identity), [`repository:${repository}:${actions}`])),
          ...manifestAccept,
        },
      });

    it('starts a pushed manifest quarantined (the emulator record)', async () => {
      const record = await control.quarantineRecord(contoso, repository, image.digest);
      assert.equal(record?.quarantineState, 'Quarantined');
      assert.deepEqual(record?.tags, ['1']);
    });

    it('hides it by tag (404 MANIFEST_UNKNOWN) and disallows it by digest (403 "The operation is disallowed.")', async () => {
      const byTag = await pull('puller', '1');
      assert.equal(byTag.status, 404);
      assert.equal(byTag.json<{ errors: Array<{ code: string }> }>().errors[0].code, 'MANIFEST_UNKNOWN');
      const byDigest = await pull('puller', image.digest);
      assert.equal(byDigest.status, 403);
      assert.deepEqual(byDigest.json<{ errors: unknown[] }>().errors[0], {
        code: 'UNKNOWN',
        message: 'The operation is disallowed.',
        detail: {},
      });
    });

    it('answers 405 instead when the policy says so (the other reading of the record)', async () => {
      try {
        await control.setPolicy(contoso, { disallowedStatus: 405 });
        const byDigest = await pull('puller', image.digest);
        assert.equal(byDigest.status, 405);
        assert.equal(byDigest.json<{ errors: Array<{ message: string }> }>().errors[0].message, 'The operation is disallowed.');
      } finally {
        await control.setPolicy(contoso, { disallowedStatus: 403 });
      }
    });

    it('lets quarantine readers and writers pull by digest, but by tag nobody', async () => {
      assert.equal((await pull('qreader', image.digest)).status, 200);
      assert.equal((await pull('scanner', image.digest)).status, 200);
      assert.equal((await pull('qreader', '1')).status, 404);
    });

    it('shows the pusher nothing on HEAD by digest, so a re-push of the same manifest PUTs it again', async () => {
      assert.equal((await pull('builder', image.digest, 'HEAD', 'pull,push')).status, 404, 'containerd asks pull,push before a push');
      assert.equal((await pull('builder', image.digest, 'HEAD')).status, 403, 'a plain pull check is disallowed');
      assert.equal((await pull('builder', image.digest, 'GET', 'pull,push')).status, 403);
    });

    it('hides quarantined tags from /v2 tags/list and /acr/v1 _tags for non-readers only', async () => {
      const tagsFor = async (identity: AppIdentityName) =>
        (
          await labRequest(lab, `https://${contoso}/v2/${repository}/tags/list`, {
            headers: bearer(await acrAccessToken(lab, contoso, token(identity), [`repository:${repository}:pull`])),
          })
        ).json<{
          tags: string[];
        }>().tags;
      assert.deepEqual(await tagsFor('puller'), []);
      assert.deepEqual(await tagsFor('qreader'), ['1']);
      const acrTags = await acrCall(lab, contoso, token('puller'), `/acr/v1/${repository}/_tags`);
      assert.deepEqual(acrTags.json<{ tags: unknown[] }>().tags, []);
      const tag = await acrCall(lab, contoso, token('puller'), `/acr/v1/${repository}/_tags/1`);
      assert.equal(tag.status, 404);
      assert.equal(tag.json<{ errors: Array<{ code: string }> }>().errors[0].code, 'TAG_UNKNOWN');
    });

    it('GET /acr/v1/<repo>/_manifests/<digest> shows the attributes with quarantineState (challenge scope metadata_read)', async () => {
      const first = await labRequest(
        lab,
        `https://${contoso}/acr/v1/${repository}/_manifests/${encodeURIComponent(image.digest)}?api-version=2021-07-01`,
      );
      assert.equal(first.status, 401);
      assert.equal(challengeOf(first).scope, `repository:${repository}:metadata_read`);
      const answer = await acrCall(lab, contoso, token('qreader'), `/acr/v1/${repository}/_manifests/${encodeURIComponent(image.digest)}`);
      assert.equal(answer.status, 200);
      const body = answer.json<{ registry: string; imageName: string; manifest: Record<string, unknown> }>();
      assert.equal(body.registry, contoso);
      assert.equal(body.imageName, repository);
      assert.equal(body.manifest.digest, image.digest);
      assert.equal(body.manifest.architecture, 'amd64');
      assert.equal(body.manifest.os, 'linux');
      assert.equal(body.manifest.mediaType, ociManifestType);
      assert.equal(typeof body.manifest.imageSize, 'number');
      assert.match(String(body.manifest.createdTime), /^\d{4}-\d\d-\d\dT/);
      assert.deepEqual(body.manifest.tags, ['1']);
      assert.deepEqual(body.manifest.changeableAttributes, {
        deleteEnabled: true,
        writeEnabled: true,
        readEnabled: true,
        listEnabled: true,
        quarantineState: 'Quarantined',
      });
      const hidden = await acrCall(lab, contoso, token('puller'), `/acr/v1/${repository}/_manifests/${image.digest}`);
      assert.equal(hidden.status, 404);
    });

    it('shows no quarantineState for a fresh manifest when freshState is "absent"', async () => {
      try {
        await control.setPolicy(contoso, { freshState: 'absent' });
        const answer = await acrCall(lab, contoso, token('qreader'), `/acr/v1/${repository}/_manifests/${image.digest}`);
        const attributes = answer.json<{ manifest: { changeableAttributes: Record<string, unknown> } }>().manifest.changeableAttributes;
        assert.equal('quarantineState' in attributes, false);
        assert.equal((await pull('puller', '1')).status, 404, 'still quarantined');
      } finally {
        await control.setPolicy(contoso, { freshState: 'Quarantined' });
      }
    });

    it('PATCH with quarantineState Passed (readme body) by an AcrQuarantineWriter releases the image', async () => {
      const body = JSON.stringify({
        quarantineState: 'Passed',
        quarantineDetails: JSON.stringify({ state: 'scan passed', link: 'http://test.io/test' }),
      });
      const path = `/acr/v1/${repository}/_manifests/${image.digest}`;
      const first = await labRequest(lab, `https://${contoso}${path}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body,
      });
      assert.equal(first.status, 401);
      assert.equal(challengeOf(first).scope, `repository:${repository}:metadata_write`);
      const answer = await acrCall(lab, contoso, token('scanner'), path, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body,
      });
      assert.equal(answer.status, 200, answer.text);
      const attributes = answer.json<{ manifest: { changeableAttributes: Record<string, unknown> } }>().manifest.changeableAttributes;
      assert.equal(attributes.quarantineState, 'Passed');
      assert.equal(attributes.quarantineDetails, '{"state":"scan passed","link":"http://test.io/test"}');
      assert.equal((await pull('puller', '1')).status, 200);
      assert.equal((await pull('puller', image.digest)).status, 200);
      const acrTags = await acrCall(lab, contoso, token('puller'), `/acr/v1/${repository}/_tags`);
      assert.equal(
        acrTags.json<{ tags: Array<{ quarantineState: string }> }>().tags[0].quarantineState, // beside changeableAttributes (recorded)
        'Passed',
      );
    });

    it('PATCH with the literal ":" and a pull,push token (readme flow) works too', async () => {
      const access = await acrAccessToken(lab, contoso, token('scanner'), [
        `repository:${repository}:pull,push`,
        `repository:${repository}:metadata_write`,
      ]);
      const answer = await labRequest(lab, `https://${contoso}/acr/v1/${repository}/_manifests/${image.digest}`, {
        method: 'PATCH',
        headers: { ...bearer(access), 'Content-Type': 'application/json' },
        body: JSON.stringify({ quarantineState: 'Passed' }),
      });
      assert.equal(answer.status, 200, answer.text);
    });

    it('keeps a Failed image blocked for pullers and readable by digest for quarantine readers', async () => {
      const answer = await acrCall(lab, contoso, token('scanner'), `/acr/v1/${repository}/_manifests/${image.digest}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          quarantineState: 'Failed',
          quarantineDetails: JSON.stringify({
            scanner: 'trivy',
            state: 'Failed',
            result: { version: '0.74.0', summary: [{ severity: 'Critical', count: 2 }] },
          }),
        }),
      });
      assert.equal(answer.status, 200, answer.text);
      assert.equal((await control.quarantineRecord(contoso, repository, image.digest))?.quarantineState, 'Failed');
      assert.equal((await pull('puller', '1')).status, 404);
      assert.equal((await pull('puller', image.digest)).status, 403);
      assert.equal((await pull('qreader', image.digest)).status, 200);
    });

    it('refuses the quarantine PATCH without AcrQuarantineWriter: 403 for AcrPush and for a quarantine reader', async () => {
      for (const identity of ['builder', 'qreader'] as const) {
        const access = await acrAccessToken(lab, contoso, token(identity), [`repository:${repository}:metadata_write,push`]);
        const answer = await labRequest(lab, `https://${contoso}/acr/v1/${repository}/_manifests/${image.digest}`, {
          method: 'PATCH',
          headers: { ...bearer(access), 'Content-Type': 'application/json' },
          body: JSON.stringify({ quarantineState: 'Passed' }),
        });
        if (identity === 'qreader') {
          assert.equal(answer.status, 401, 'a quarantine reader gets no metadata_write at all');
        } else {
          assert.equal(answer.status, 403, answer.text);
          assert.equal(answer.json<{ errors: Array<{ code: string }> }>().errors[0].code, 'DENIED');
        }
      }
      const puller = await acrCall(lab, contoso, token('puller'), `/acr/v1/${repository}/_manifests/${image.digest}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ quarantineState: 'Passed' }),
      });
      assert.equal(puller.status, 401, 'AcrPull cannot get metadata_write');
      assert.equal((await control.quarantineRecord(contoso, repository, image.digest))?.quarantineState, 'Quarantined');
    });

    it('validates quarantineState and quarantineDetails against the published schema (400)', async () => {
      const patch = (body: unknown) =>
        acrCall(lab, contoso, token('scanner'), `/acr/v1/${repository}/_manifests/${image.digest}`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
      for (const body of [
        { quarantineState: 'Quarantined' },
        { quarantineState: 'passed' },
        { quarantineState: 'Passed', quarantineDetails: { state: 'object, not string' } },
        { quarantineState: 'Passed', quarantineDetails: JSON.stringify({ extra: true }) },
        {
          quarantineState: 'Passed',
          quarantineDetails: JSON.stringify({ result: { version: '1', summary: [{ severity: 'HIGH', count: 1 }] } }),
        },
        {
          quarantineState: 'Passed',
          quarantineDetails: JSON.stringify({ result: { version: '1', summary: [], description: 'x'.repeat(1025) } }),
        },
      ]) {
        const answer = await patch(body);
        assert.equal(answer.status, 400, `${JSON.stringify(body).slice(0, 80)} -> ${answer.status}`);
      }
      assert.equal((await control.quarantineRecord(contoso, repository, image.digest))?.quarantineState, 'Quarantined');
    });

    it('keeps an index and each child manifest as separate records: releasing the index alone is not enough', async () => {
      const indexRepository = uniqueRepository('index');
      const index = await pushTestIndex(lab, contoso, await pushToken(indexRepository), indexRepository, 'multi');
      for (const digest of [index.digest, ...index.children.map((child) => child.digest)]) {
        assert.equal((await control.quarantineRecord(contoso, indexRepository, digest))?.quarantineState, 'Quarantined');
      }
      const release = (digest: string) =>
        acrCall(lab, contoso, token('scanner'), `/acr/v1/${indexRepository}/_manifests/${digest}`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ quarantineState: 'Passed' }),
        });
      assert.equal((await release(index.digest)).status, 200);
      const pullerToken = await acrAccessToken(lab, contoso, token('puller'), [`repository:${indexRepository}:pull`]);
      const get = (reference: string) =>
        labRequest(lab, `https://${contoso}/v2/${indexRepository}/manifests/${reference}`, {
          headers: { ...bearer(pullerToken), ...manifestAccept },
        });
      assert.equal((await get('multi')).status, 200);
      assert.equal((await get(index.children[0].digest)).status, 403);
      for (const child of index.children) assert.equal((await release(child.digest)).status, 200);
      assert.equal((await get(index.children[0].digest)).status, 200);
      const attributes = await acrCall(lab, contoso, token('puller'), `/acr/v1/${indexRepository}/_manifests/${index.digest}`);
      const references = attributes.json<{ manifest: { references: Array<{ digest: string; architecture: string }> } }>().manifest
        .references;
      assert.deepEqual(
        references.map((reference) => reference.architecture),
        ['amd64', 'arm64'],
      );
    });
  });

  describe('no quarantine at fabrikam', () => {
    it('serves a fresh push by tag and digest at once, and shows quarantineState Passed', async () => {
      const repository = uniqueRepository('open');
      const builder = await identityRefreshToken(lab, fabrikam, 'builder');
      const image = await pushTestImage(
        lab,
        fabrikam,
        await acrAccessToken(lab, fabrikam, builder, [`repository:${repository}:pull,push`]),
        repository,
        'v1',
      );
      const puller = await identityRefreshToken(lab, fabrikam, 'puller');
      const access = await acrAccessToken(lab, fabrikam, puller, [`repository:${repository}:pull`]);
      for (const reference of ['v1', image.digest]) {
        const answer = await labRequest(lab, `https://${fabrikam}/v2/${repository}/manifests/${reference}`, {
          headers: { ...bearer(access), ...manifestAccept },
        });
        assert.equal(answer.status, 200);
        assert.equal(answer.headers['docker-content-digest'], image.digest);
      }
      const attributes = await acrCall(lab, fabrikam, puller, `/acr/v1/${repository}/_manifests/${image.digest}`);
      assert.equal(
        attributes.json<{ manifest: { changeableAttributes: { quarantineState: string } } }>().manifest.changeableAttributes
          .quarantineState,
        'Passed',
      );
    });

    it('quarantines new pushes once the policy is switched on, and lets earlier ones through', async () => {
      const repository = uniqueRepository('switch');
      const builder = await identityRefreshToken(lab, fabrikam, 'builder');
      const access = await acrAccessToken(lab, fabrikam, builder, [`repository:${repository}:pull,push`]);
      const before = await pushTestImage(lab, fabrikam, access, repository, 'before');
      try {
        await control.setPolicy(fabrikam, { quarantine: true });
        const after = await pushTestImage(lab, fabrikam, access, repository, 'after');
        const puller = await acrAccessToken(lab, fabrikam, await identityRefreshToken(lab, fabrikam, 'puller'), [
          `repository:${repository}:pull`,
        ]);
        const get = (reference: string) =>
          labRequest(lab, `https://${fabrikam}/v2/${repository}/manifests/${reference}`, {
            headers: { ...bearer(puller), ...manifestAccept },
          });
        assert.equal((await get('before')).status, 200);
        assert.equal((await get('after')).status, 404);
        assert.equal((await get(after.digest)).status, 403);
        assert.equal((await get(before.digest)).status, 200);
      } finally {
        await control.setPolicy(fabrikam, { quarantine: false });
      }
    });
  });

  describe('/acr/v1 listing API', () => {
    let repository: string;
    let image: Awaited<ReturnType<typeof pushTestImage>>;

    before(async () => {
      repository = uniqueRepository('listing');
      const access = await pushToken(repository);
      image = await pushTestImage(lab, contoso, access, repository, 'a');
      await pushTestImage(lab, contoso, access, repository, 'b');
      for (const digest of [image.digest]) {
        await acrCall(lab, contoso, token('scanner'), `/acr/v1/${repository}/_manifests/${digest}`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ quarantineState: 'Passed' }),
        });
      }
    });

    it('GET /acr/v1/_catalog lists repositories (registry:catalog:* scope), paged with n and a Link', async () => {
      const answer = await acrCall(lab, contoso, token('puller'), '/acr/v1/_catalog?n=10000');
      assert.equal(answer.status, 200);
      assert.ok(answer.json<{ repositories: string[] }>().repositories.includes(repository));
      const page = await acrCall(lab, contoso, token('puller'), '/acr/v1/_catalog?n=1');
      assert.equal(page.json<{ repositories: string[] }>().repositories.length, 1);
      assert.match(String(page.headers.link), /^<\/acr\/v1\/_catalog\?last=.+&n=1&orderby=>; rel="next"$/);
      assert.equal((await acrCall(lab, contoso, token('nobody'), '/acr/v1/_catalog')).status, 401);
    });

    it('GET /acr/v1/<repo>/_tags lists tag attributes; a quarantine reader sees the quarantined one too', async () => {
      const forPuller = await acrCall(lab, contoso, token('puller'), `/acr/v1/${repository}/_tags`);
      const body = forPuller.json<{ registry: string; imageName: string; tags: Array<Record<string, unknown>> }>();
      assert.equal(body.registry, contoso);
      assert.equal(body.imageName, repository);
      assert.deepEqual(
        body.tags.map((tag) => tag.name),
        ['a'],
      );
      const tag = body.tags[0];
      assert.equal(tag.digest, image.digest);
      assert.equal(tag.signed, false);
      assert.match(String(tag.createdTime), /^\d{4}-/);
      assert.match(String(tag.lastUpdateTime), /^\d{4}-/);
      // as recorded (js__recording_should_list_tags_by_pages): the tag's quarantineState sits beside its attributes
      assert.equal(tag.quarantineState, 'Passed');
      assert.deepEqual(tag.changeableAttributes, {
        deleteEnabled: true,
        writeEnabled: true,
        readEnabled: true,
        listEnabled: true,
      });
      const forReader = await acrCall(lab, contoso, token('qreader'), `/acr/v1/${repository}/_tags?orderby=timeasc`);
      assert.deepEqual(
        forReader.json<{ tags: Array<{ name: string }> }>().tags.map((entry) => entry.name),
        ['a', 'b'],
      );
      const byDigest = await acrCall(lab, contoso, token('qreader'), `/acr/v1/${repository}/_tags?digest=${image.digest}`);
      assert.deepEqual(
        byDigest.json<{ tags: Array<{ name: string }> }>().tags.map((entry) => entry.name),
        ['a'],
      );
    });

    it('GET /acr/v1/<repo>/_tags/<tag> answers {registry, imageName, tag}', async () => {
      const answer = await acrCall(lab, contoso, token('puller'), `/acr/v1/${repository}/_tags/a`);
      const body = answer.json<{ registry: string; imageName: string; tag: { name: string; digest: string } }>();
      assert.equal(body.registry, contoso);
      assert.equal(body.tag.name, 'a');
      assert.equal(body.tag.digest, image.digest);
    });

    it('GET /acr/v1/<repo>/_manifests lists manifests with quarantineState (filter client-side)', async () => {
      const answer = await acrCall(lab, contoso, token('qreader'), `/acr/v1/${repository}/_manifests`);
      const manifests = answer.json<{
        manifests: Array<{ digest: string; tags: string[]; changeableAttributes: { quarantineState: string } }>;
      }>().manifests;
      assert.equal(manifests.length, 2);
      const states = Object.fromEntries(manifests.map((manifest) => [manifest.tags[0], manifest.changeableAttributes.quarantineState]));
      assert.deepEqual(states, { a: 'Passed', b: 'Quarantined' });
      const forPuller = await acrCall(lab, contoso, token('puller'), `/acr/v1/${repository}/_manifests`);
      assert.equal(forPuller.json<{ manifests: unknown[] }>().manifests.length, 1);
    });

    it('answers NAME_UNKNOWN for a repository that does not exist', async () => {
      const answer = await acrCall(lab, contoso, token('puller'), `/acr/v1/${uniqueRepository('none')}/_tags`);
      assert.equal(answer.status, 404);
      assert.equal(answer.json<{ errors: Array<{ code: string }> }>().errors[0].code, 'NAME_UNKNOWN');
    });
  });

  describe('@azure/container-registry 1.1.2 against the emulator (the probed JS SDK sequence)', () => {
    it('lists repositories and reads manifest properties through the SDK challenge flow', async () => {
      const repository = uniqueRepository('sdk');
      const image = await pushTestImage(lab, contoso, await pushToken(repository), repository, 'sdk');
      await acrCall(lab, contoso, token('scanner'), `/acr/v1/${repository}/_manifests/${image.digest}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ quarantineState: 'Passed' }),
      });
      const tlsOptions = { ca: readFileSync(lab.caFile, 'utf8') };
      const puller = lab.identities.puller;
      const credential = new ClientSecretCredential(lab.entra.tenantId, puller.clientId, puller.secret, {
        authorityHost: lab.entra.authorityHost,
        disableInstanceDiscovery: true,
        tlsOptions,
      });
      const mark = await control.auditMark();
      const client = new ContainerRegistryClient(`https://${contoso}`, credential, { tlsOptions });
      const properties = await client.getArtifact(repository, image.digest).getManifestProperties();
      assert.equal(properties.digest, image.digest);
      assert.equal(properties.architecture, 'amd64');
      assert.deepEqual(properties.tags, ['sdk']);
      const names: string[] = [];
      for await (const name of client.listRepositoryNames()) names.push(name);
      assert.ok(names.includes(repository));
      const tagProperties = await client.getArtifact(repository, 'sdk').getTagProperties('sdk');
      assert.equal(tagProperties.digest, image.digest);
      const calls = (await control.audit(mark)).filter((entry) => entry.host === contoso);
      const exchange = calls.find((entry) => entry.path === '/oauth2/exchange');
      assert.equal(exchange?.status, 200);
      assert.equal(exchange?.form?.grant_type, 'access_token');
      assert.equal(exchange?.identity, 'puller');
      assert.ok(
        calls.some(
          (entry) =>
            entry.path === '/oauth2/token' &&
            entry.form?.grant_type === 'refresh_token' &&
            entry.form.scope === `repository:${repository}:metadata_read`,
        ),
      );
    });
  });
});
