// The ACR emulator's two role-assignment modes, in-process: its token service and /v2 check run on a loopback
// HTTP server with a lab.json of this test's own (no lab needed).
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AcrEmulator } from '../lab/emulators/acr';
import { AcrTasksEmulator } from '../lab/emulators/acr-tasks';
import { accessOf } from '../lab/emulators/acr/scopes';
import { LabConfig } from '../lab/emulators/config';
import type { EntraEmulator } from '../lab/emulators/entra';
import { loadOrCreateSigningKey } from '../lab/emulators/keys';

const registry = 'c.azurecr.io';
const builder = { clientId: '11111111-0000-0000-0000-000000000001', objectId: '22222222-0000-0000-0000-000000000001', secret: 's3cret' };

describe('lab emulators: ACR in RBAC Registry + ABAC Repository Permissions mode', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let acr: AcrEmulator;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'acr-abac-'));
    const labJson = path.join(dir, 'lab.json');
    writeFileSync(
      labJson,
      JSON.stringify({
        version: 1,
        root: dir,
        caFile: path.join(dir, 'ca.pem'),
        backingRegistry: '127.0.0.1:9', // never reached: every request here is answered by the check
        registries: { [registry]: { quarantine: true, admin: { username: 'c', password: 'admin-pass' } } },
        entra: {
          tenantId: '33333333-0000-0000-0000-000000000001',
          authorityHost: 'https://login.lab.test',
          subscriptionId: '44444444-0000-0000-0000-000000000001',
        },
        identities: { builder: { ...builder, roles: { [registry]: ['AcrPush'] } } },
      }),
    );
    const config = new LabConfig(labJson);
    acr = new AcrEmulator(config, loadOrCreateSigningKey(dir, 'acr'), {} as EntraEmulator);
    // Resource Manager beside it, on the same policies; its Entra check accepts any token as the builder's for ARM.
    const entra = { verifyAccessToken: () => ({ ok: true, claims: { aud: 'https://management.azure.com/', oid: builder.objectId } }) };
    const arm = new AcrTasksEmulator(config, entra as unknown as EntraEmulator, acr.policies);
    server = createServer((req, res) => {
      if (req.url?.startsWith('/subscriptions/')) {
        const url = new URL(req.url, 'https://127.0.0.1');
        void arm.handle({ req, res, url, host: '127.0.0.1' });
        return;
      }
      const url = new URL(req.url ?? '/', `https://${registry}`);
      void acr.handle({ req, res, url, host: registry }, registry);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** The builder's grant for these scopes (GET /oauth2/token with Basic, as docker login asks). */
  async function grant(...scopes: string[]): Promise<Record<string, string[]>> {
    const query = new URLSearchParams({ service: registry });
    for (const scope of scopes) query.append('scope', scope);
    const response = await fetch(`${base}/oauth2/token?${query}`, {
      headers: { Authorization: `Basic ${Buffer.from(`${builder.clientId}:${builder.secret}`).toString('base64')}` },
    });
    assert.equal(response.status, 200);
    const token = ((await response.json()) as { access_token: string }).access_token;
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
    return Object.fromEntries(accessOf(claims).map((a) => [a.name, a.actions]));
  }

  const scopes = ['repository:shop/web:pull,push', 'repository:other/app:pull'];

  it('legacy mode (the default): lab.json roles grant on every repository', async () => {
    assert.deepEqual(await grant(...scopes), { 'shop/web': ['pull', 'push'], 'other/app': ['pull'] });
  });

  it('ABAC mode: AcrPush grants nothing; a Repository Writer with a condition grants on the matching repository only', async () => {
    acr.policies.set(registry, { roleAssignmentMode: 'abac', abacAssignments: [] });
    assert.deepEqual(await grant(...scopes), {}, 'nothing granted: ACR leaves the resources out');
    acr.policies.set(registry, {
      abacAssignments: [
        {
          identity: 'builder',
          role: 'Container Registry Repository Writer',
          condition: { operator: 'StringEqualsIgnoreCase', value: 'Shop/Web' },
        },
      ],
    });
    assert.deepEqual(await grant(...scopes), { 'shop/web': ['pull', 'push'] });
    acr.policies.set(registry, {
      abacAssignments: [
        {
          identity: 'builder',
          role: 'Container Registry Repository Reader',
          condition: { operator: 'StringStartsWithIgnoreCase', value: 'other/' },
        },
      ],
    });
    assert.deepEqual(await grant(...scopes), { 'other/app': ['pull'] });
  });

  it('ABAC mode: a pull without a matching assignment is challenged (401 insufficient_scope), and abacScope narrows the mode', async () => {
    acr.policies.set(registry, { roleAssignmentMode: 'abac', abacAssignments: [] });
    const query = new URLSearchParams({ service: registry, scope: 'repository:shop/web:pull' });
    const tokenAnswer = await fetch(`${base}/oauth2/token?${query}`, {
      headers: { Authorization: `Basic ${Buffer.from(`${builder.clientId}:${builder.secret}`).toString('base64')}` },
    });
    const token = ((await tokenAnswer.json()) as { access_token: string }).access_token;
    const head = await fetch(`${base}/v2/shop/web/manifests/sha256:${'a'.repeat(64)}`, {
      method: 'HEAD',
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(head.status, 401);
    assert.match(head.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);

    acr.policies.set(registry, { abacScope: 'abac-only/' });
    assert.deepEqual(await grant(...scopes), { 'shop/web': ['pull', 'push'], 'other/app': ['pull'] }, 'outside abacScope: legacy');
    acr.policies.reset();
  });

  it("Resource Manager lists the registry's roleAssignmentMode from the same policy (from api-version 2025-03-01-preview)", async () => {
    const mode = async (apiVersion: string) => {
      const answer = await fetch(
        `${base}/subscriptions/44444444-0000-0000-0000-000000000001/providers/Microsoft.ContainerRegistry/registries?api-version=${apiVersion}`,
        { headers: { Authorization: 'Bearer arm-token' } },
      );
      assert.equal(answer.status, 200);
      const body = (await answer.json()) as { value: { properties: { loginServer: string; roleAssignmentMode?: string } }[] };
      assert.equal(body.value[0].properties.loginServer, registry);
      return body.value[0].properties.roleAssignmentMode;
    };
    assert.equal(await mode('2025-11-01'), 'LegacyRegistryPermissions');
    acr.policies.set(registry, { roleAssignmentMode: 'abac', abacScope: 'only/' });
    assert.equal(await mode('2025-11-01'), 'AbacRepositoryPermissions', 'the whole registry says ABAC, whatever abacScope narrows');
    assert.equal(await mode('2025-03-01-preview'), 'AbacRepositoryPermissions');
    assert.equal(await mode('2019-05-01'), undefined, 'older API versions do not carry it');
    acr.policies.reset();
    assert.equal(await mode('2025-11-01'), 'LegacyRegistryPermissions');
  });
});
