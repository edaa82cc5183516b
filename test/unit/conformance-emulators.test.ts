// Every recorded exchange with live ACR and Entra ID (test/conformance/recordings) replayed against the lab's
// emulators in-process: status, client-read headers, JSON shape, error bodies byte for byte, token claims and
// lifetimes. Where the emulator deliberately answers otherwise, the difference is listed with its reason
// (test/lab/README.md "Conformance"), and the test proves that difference is still the only one.
import { strict as assert } from 'node:assert';
import { EmulatedAzure, type EmulatedRegistry } from '../conformance/emulated-acr';
import { exchangeRecordings } from '../conformance/recordings';
import { challengeParams, entraToken, refreshToken, replay, type ReplayPlan, type ReplayedExchange } from '../conformance/replay';

const olderChallenge =
  'the 2021-05..08 recordings (Python, JS) add error="invalid_token" to the challenge of a request without a token; the 2021-09 JS and 2023 Go recordings do not, and the emulator follows the newer ones';
const olderClaims =
  'the 2021 tokens write access entries in lower case with version "2.0" and no appid; the emulator writes the 2023 shape (Type/Name/Actions, Actions/NotActions, version "1.0", appid)';

async function withEmulators<T>(registries: EmulatedRegistry[], run: (azure: EmulatedAzure) => Promise<T>): Promise<T> {
  const azure = new EmulatedAzure(registries);
  try {
    await azure.start();
    return await run(azure);
  } finally {
    await azure.stop();
  }
}

function assertConforms(results: ReplayedExchange[], plan: ReplayPlan): void {
  const replayed = results.filter((result) => result.answer);
  assert.equal(replayed.length + Object.keys(plan.skipped ?? {}).length, results.length);
  assert.ok(replayed.length > 0);
  const report = results.flatMap((result) =>
    result.differences.map(
      (difference) => `#${result.recorded.index} ${result.recorded.method} ${result.recorded.url.pathname}: ${difference}`,
    ),
  );
  assert.deepEqual(report, []);
}

const covered = new Set<string>();
function recording(file: string): string {
  covered.add(file);
  return file;
}

describe('conformance: the emulators answer as the recorded live ACR and Entra ID', function () {
  this.timeout(20_000);

  it('py test_auth_flow: /oauth2/exchange and /oauth2/token (refresh 3 h, access 1 h, nbf 15 min back)', async () => {
    const plan: ReplayPlan = {
      registry: 'seankane.azurecr.io',
      accepted: { 0: { 'refresh_token claims': olderClaims }, 1: { 'access_token claims': olderClaims } },
    };
    await withEmulators([{ name: plan.registry }], async (azure) => {
      const results = await replay(azure, recording('py__test_auth_flow.test_get_refresh_token.yaml'), plan);
      assertConforms(results, plan);
      // the accepted difference is exactly the 2021 claim shape, and the lifetimes still match
      const claims = JSON.parse(Buffer.from(JSON.parse(results[1].answer!.body).access_token.split('.')[1], 'base64url').toString());
      assert.deepEqual(claims.access, [{ Type: 'repository', Name: 'hello-world', Actions: ['metadata_read'] }]);
      assert.equal(claims.exp - claims.nbf, 4500);
    });
  });

  it('cli test_acr_check_health: /v2/ challenge (detail null), unknown scopes give "access":[], capitalised access entries', async () => {
    const plan: ReplayPlan = { registry: 'clireg3tal56fhkul3xo.azurecr.io' };
    await withEmulators([{ name: plan.registry }], async (azure) => {
      assertConforms(await replay(azure, recording('cli__test_acr_check_health.EXCERPT.yaml'), plan), plan);
    });
  });

  it('py test_incorrect_authentication_scope: 401 on GET /acr/v1/<repo> with the metadata_read detail', async () => {
    const plan: ReplayPlan = { registry: 'fake_url.azurecr.io', accepted: { 0: { 'WWW-Authenticate error': olderChallenge } } };
    await withEmulators([{ name: plan.registry }], async (azure) => {
      azure.backing.addImage('library/hello-world', 'amd64', 'latest');
      assertConforms(
        await replay(azure, recording('py__test_container_registry_client.test_incorrect_authentication_scope.yaml'), plan),
        plan,
      );
    });
  });

  it('py test_get_manifest_properties_does_not_exist: tag and manifest-list attributes, then MANIFEST_UNKNOWN', async () => {
    await withEmulators([{ name: 'fake_url.azurecr.io' }], async (azure) => {
      const children = ['amd64', 'arm', 'arm64', '386'].map((architecture) => ({
        architecture,
        digest: azure.backing.addImage('repo80c61ece', architecture),
      }));
      const index = azure.backing.addManifest(
        'repo80c61ece',
        {
          schemaVersion: 2,
          mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
          manifests: children.map((child) => ({
            mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
            digest: child.digest,
            size: 100,
            platform: { architecture: child.architecture, os: 'linux' },
          })),
        },
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'tag80c61ece',
      );
      azure.acr.store.manifestPushed('fake_url.azurecr.io', 'repo80c61ece', index, undefined, 'tag80c61ece', false);
      const plan: ReplayPlan = {
        registry: 'fake_url.azurecr.io',
        digests: { 'sha256:5122f6204b6a3596e048758cabba3c46b1c937a46b5be6225b835d091b90e46c': index },
        accepted: Object.fromEntries([0, 4, 7].map((i) => [i, { 'WWW-Authenticate error': olderChallenge }])),
      };
      const results = await replay(
        azure,
        recording('py__test_container_registry_client.test_get_manifest_properties_does_not_exist.yaml'),
        plan,
      );
      assertConforms(results, plan);
      assert.equal(results[9].answer!.body, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}\n');
    });
  });

  it('py test_anon_access: anonymous grant_type=password without credentials, then the catalog', async () => {
    const plan: ReplayPlan = { registry: 'yalinlitestsanon.azurecr.io', accepted: { 0: { 'WWW-Authenticate error': olderChallenge } } };
    await withEmulators([{ name: plan.registry, anonymousPull: true }], async (azure) => {
      for (const repository of ['library/alpine', 'library/busybox', 'library/hello-world'])
        azure.backing.addImage(repository, 'amd64', 'latest');
      assertConforms(await replay(azure, recording('py__test_anon_access.test_list_repository_names.yaml'), plan), plan);
    });
  });

  it('js sets_manifest_properties: Entra v2.0 token, manifest attributes with quarantine fields, PATCH of the flat attributes', async () => {
    await withEmulators([{ name: 'myregistry.azurecr.io', quarantine: true }], async (azure) => {
      const digest = azure.backing.addImage('library/hello-world', 'arm');
      azure.acr.store.manifestPushed('myregistry.azurecr.io', 'library/hello-world', digest, undefined, undefined, true);
      azure.acr.store.update('myregistry.azurecr.io', 'library/hello-world', digest, {
        quarantineState: 'Passed',
        quarantineDetails: JSON.stringify({ state: 'Scan Passed', scanner: 'trivy', result: { version: '1', summary: [] } }),
      });
      const plan: ReplayPlan = {
        registry: 'myregistry.azurecr.io',
        digests: { 'sha256:50b8560ad574c779908da71f7ce370c0a2471c098d44d1c8f6b513c5a55eeeb1': digest },
        accepted: Object.fromEntries([1, 6, 9].map((i) => [i, { 'WWW-Authenticate error': olderChallenge }])),
      };
      assertConforms(await replay(azure, recording('js__recording_sets_manifest_properties.js'), plan), plan);
    });
  });

  it('js should_list_tags_by_pages: paging Link (repository %2F-encoded, empty orderby) and the tag-level quarantineState', async () => {
    await withEmulators([{ name: 'myregistry.azurecr.io' }], async (azure) => {
      const latest = azure.backing.addImage('library/hello-world', 'amd64', 'latest');
      azure.backing.addImage('library/hello-world', 'arm64', 'test-delete');
      azure.backing.addImage('library/hello-world', 'arm', 'v1');
      azure.acr.store.manifestPushed('myregistry.azurecr.io', 'library/hello-world', latest, undefined, 'latest', false);
      const plan: ReplayPlan = {
        registry: 'myregistry.azurecr.io',
        queries: { 0: 'n=1', 6: 'n=1', 7: 'last=latest&n=1&orderby=', 9: 'last=latest&n=1&orderby=' },
        skipped: {
          1: "instance discovery: the tasks' sign-in sets disableInstanceDiscovery for the lab's authority, so MSAL never asks",
        },
      };
      assertConforms(await replay(azure, recording('js__recording_should_list_tags_by_pages.js'), plan), plan);
    });
  });

  it('go GetRepositoryProperties_wrongName: NAME_UNKNOWN `repository "wrong-name" is not found`, no detail', async () => {
    const plan: ReplayPlan = { registry: 'azacrlivetest.azurecr.io' };
    await withEmulators([{ name: plan.registry }], async (azure) => {
      assertConforms(await replay(azure, recording('go__TestClient_GetRepositoryProperties_wrongName.json'), plan), plan);
    });
  });

  it('a token refused for its signature is challenged with error="invalid_token"; a valid one lacking the action with insufficient_scope', async () => {
    await withEmulators([{ name: 'myregistry.azurecr.io' }], async (azure) => {
      azure.backing.addImage('app', 'amd64', 'latest');
      const url = 'https://myregistry.azurecr.io/acr/v1/app/_tags';
      const forged = await azure.send(url, { headers: { Authorization: 'Bearer a.b.c' } });
      assert.equal(challengeParams(String(forged.headers['www-authenticate'])).error, 'invalid_token');
      const refresh = await refreshToken(azure, 'myregistry.azurecr.io', await entraToken(azure));
      const token = await azure.send('https://myregistry.azurecr.io/oauth2/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          service: 'myregistry.azurecr.io',
          scope: 'repository:other:pull',
          refresh_token: refresh,
        }).toString(),
      });
      const wrongScope = await azure.send(url, { headers: { Authorization: `Bearer ${JSON.parse(token.body).access_token}` } });
      assert.equal(wrongScope.status, 401);
      assert.deepEqual(challengeParams(String(wrongScope.headers['www-authenticate'])), {
        realm: 'https://myregistry.azurecr.io/oauth2/token',
        service: 'myregistry.azurecr.io',
        scope: 'repository:app:metadata_read',
        error: 'insufficient_scope',
      });
    });
  });

  it('every recording of an exchange is replayed by a test above', () => {
    assert.deepEqual([...covered].sort(), exchangeRecordings());
  });
});
