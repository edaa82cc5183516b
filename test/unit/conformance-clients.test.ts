// The project's own clients (src/acr sign-in, src/acr client, src/registry token flow) pointed at a loopback server
// that answers from the recordings of live ACR (test/conformance/recordings): they must do the right thing with
// real responses, whatever the emulators think.
import { strict as assert } from 'node:assert';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { AcrClient, quarantineDetailsOf, quarantineStateOf } from '../../src/acr/client';
import { signInToRegistry } from '../../src/acr/signin';
import type { AzureConnection } from '../../src/azure/connection';
import { TokenAuthenticator, authorizedRequest, tokenAccess } from '../../src/registry/auth';
import { ACR_TOKEN_USERNAME } from '../../src/registry/credentials';
import { RegistryError } from '../../src/registry/errors';
import { RecordingServer } from '../conformance/recording-server';
import { loadRecording, type RecordedExchange } from '../conformance/recordings';

const connection: AzureConnection = {
  id: 'conn-1',
  scheme: 'WorkloadIdentityFederation',
  parameters: { tenantid: '72f988bf-86f1-41af-91ab-2d7cd011db47', serviceprincipalid: 'client', idtoken: 'oidc' },
  data: () => undefined,
};
const credential: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({ token: 'entra-access-token', expiresOnTimestamp: Date.now() + 3600_000 }),
};
const fastRetry = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 };

const cli = loadRecording('cli__test_acr_check_health.EXCERPT.yaml');
const authFlow = loadRecording('py__test_auth_flow.test_get_refresh_token.yaml');
const manifestProperties = loadRecording('js__recording_sets_manifest_properties.js');
const doesNotExist = loadRecording('py__test_container_registry_client.test_get_manifest_properties_does_not_exist.yaml');

const servers: RecordingServer[] = [];
async function serve(exchanges: RecordedExchange[]): Promise<RecordingServer> {
  const server = new RecordingServer(exchanges);
  servers.push(server);
  await server.start();
  return server;
}

function accessTokenOf(exchange: RecordedExchange): string {
  return (JSON.parse(exchange.body) as { access_token: string }).access_token;
}

describe('conformance: our clients against recorded live ACR answers', function () {
  this.timeout(10_000);
  after(async () => {
    for (const server of servers) await server.stop();
  });

  it("reads access entries of either case: today's capitalised Type/Name/Actions and 2021's lower case", () => {
    assert.deepEqual(tokenAccess(accessTokenOf(cli[3])), [{ type: 'repository', name: 'microsoft', actions: ['pull'] }]);
    assert.deepEqual(tokenAccess(accessTokenOf(authFlow[1])), [{ type: 'repository', name: 'hello-world', actions: ['metadata_read'] }]);
    assert.deepEqual(tokenAccess(accessTokenOf(cli[0])), []);
    assert.deepEqual(tokenAccess('REDACTED'), []);
  });

  it("sign-in's access check accepts today's capitalised grant (exchange, then the recorded repository:microsoft:pull token)", async () => {
    const server = await serve([authFlow[0], cli[3]]);
    const signedIn = await signInToRegistry({
      registry: 'clireg3tal56fhkul3xo.azurecr.io',
      connection: { kind: 'azure', azure: connection },
      http: server.client(),
      credential,
      retry: fastRetry,
      checkAccess: { repository: 'microsoft', actions: ['pull'] },
    });
    assert.equal(signedIn.credentials.username, ACR_TOKEN_USERNAME);
    assert.deepEqual(
      server.received.map((request) => `${request.method} ${request.path}`),
      ['POST /oauth2/exchange', 'POST /oauth2/token'],
    );
    const form = new URLSearchParams(server.received[1].body);
    assert.equal(form.get('grant_type'), 'refresh_token');
    assert.equal(form.get('scope'), 'repository:microsoft:pull');
    assert.ok(signedIn.secrets.includes(accessTokenOf(cli[3])), 'the access token is registered as a secret');
  });

  it('an empty access list (recorded "access":[]) fails the sign-in naming the role, not later', async () => {
    const server = await serve([authFlow[0], cli[0]]);
    await assert.rejects(
      signInToRegistry({
        registry: 'clireg3tal56fhkul3xo.azurecr.io',
        connection: { kind: 'azure', azure: connection },
        http: server.client(),
        credential,
        retry: fastRetry,
        checkAccess: { repository: 'team/app', actions: ['pull', 'push'] },
      }),
      (error: unknown) =>
        error instanceof Error &&
        /may not pull on clireg3tal56fhkul3xo\.azurecr\.io\/team\/app \(granted: nothing\)\. Assign it the AcrPull role/.test(
          error.message,
        ) &&
        /may not push on .*Assign it the AcrPush role/.test(error.message),
    );
  });

  it('reads manifest attributes and patches them through the recorded challenge -> refresh_token grant -> retry (no expires_in)', async () => {
    const server = await serve(manifestProperties.filter((exchange) => exchange.url.host.startsWith('myregistry')));
    const digest = 'sha256:50b8560ad574c779908da71f7ce370c0a2471c098d44d1c8f6b513c5a55eeeb1';
    const acr = new AcrClient({
      registry: 'myregistry.azurecr.io',
      credentials: { registry: 'myregistry.azurecr.io', username: ACR_TOKEN_USERNAME, password: 'refresh_token' },
      http: server.client(),
      retry: fastRetry,
    });
    const attributes = await acr.getManifestAttributes('library/hello-world', digest);
    assert.equal(quarantineStateOf(attributes), 'Passed');
    assert.equal(quarantineDetailsOf(attributes)?.scanner, 'Azure Security Monitoring-Qualys Scanner');
    const patched = await acr.updateManifestAttributes('library/hello-world', digest, {
      deleteEnabled: false,
      writeEnabled: false,
      listEnabled: false,
      readEnabled: false,
    });
    assert.equal(patched?.manifest.changeableAttributes?.readEnabled, false);
    const tokenForms = server.received
      .filter((request) => request.path === '/oauth2/token')
      .map((request) => new URLSearchParams(request.body));
    assert.deepEqual(
      tokenForms.map((form) => [form.get('grant_type'), form.get('service'), form.get('scope'), form.get('refresh_token')]),
      [
        ['refresh_token', 'myregistry.azurecr.io', 'repository:library/hello-world:metadata_read', 'refresh_token'],
        ['refresh_token', 'myregistry.azurecr.io', 'repository:library/hello-world:metadata_write', 'refresh_token'],
      ],
    );
    assert.deepEqual(
      server.received.map((request) => `${request.method} ${request.authorization ? 'Bearer' : '-'}`),
      ['GET -', 'POST -', 'GET Bearer', 'PATCH -', 'POST -', 'PATCH Bearer'],
    );
    assert.equal(server.received[2].authorization, 'Bearer access_token');
  });

  it('reads tag attributes, then a recorded 404 MANIFEST_UNKNOWN is a RegistryError with its code and words', async () => {
    // the recording's sanitized host "fake_url" is no host name (and our client refuses a realm on another host)
    const server = await serve(
      doesNotExist.map((exchange) => ({
        ...exchange,
        headers: exchange.headers.map(([name, value]) => [name, value.replace(/fake_url/g, 'fakeurl')] as [string, string]),
      })),
    );
    const acr = new AcrClient({
      registry: 'fakeurl.azurecr.io',
      credentials: { registry: 'fakeurl.azurecr.io', username: ACR_TOKEN_USERNAME, password: 'REDACTED' },
      http: server.client(),
      retry: fastRetry,
    });
    const tag = await acr.getTagAttributes('repo80c61ece', 'tag80c61ece');
    assert.equal(tag.tag.digest, 'sha256:5122f6204b6a3596e048758cabba3c46b1c937a46b5be6225b835d091b90e46c');
    const error = await acr
      .getManifestAttributes('repo80c61ece', 'sha256:5122f6204b6a3596e048758cabba3c46b1c937a46b5be6225b835daaaaaaaaaa')
      .catch((caught: unknown) => caught);
    assert.ok(error instanceof RegistryError, String(error));
    assert.equal(error.status, 404);
    assert.equal(error.code, 'MANIFEST_UNKNOWN');
    assert.equal(error.registryMessage, 'manifest unknown');
  });

  it('a second 401 with error="insufficient_scope" names the scope the identity lacks', async () => {
    const challenge = manifestProperties[1];
    const insufficient: RecordedExchange = {
      ...challenge,
      index: 99,
      headers: challenge.headers.map(([name, value]) => [
        name,
        name.toLowerCase() === 'www-authenticate' ? value.replace('invalid_token', 'insufficient_scope') : value,
      ]),
    };
    const server = await serve([challenge, manifestProperties[4], insufficient]);
    const acr = new AcrClient({
      registry: 'myregistry.azurecr.io',
      credentials: { registry: 'myregistry.azurecr.io', username: ACR_TOKEN_USERNAME, password: 'refresh_token' },
      http: server.client(),
      retry: fastRetry,
    });
    await assert.rejects(
      acr.getManifestAttributes('library/hello-world', 'sha256:50b8560ad574c779908da71f7ce370c0a2471c098d44d1c8f6b513c5a55eeeb1'),
      (error: unknown) =>
        error instanceof RegistryError &&
        error.status === 401 &&
        /no repository:library\/hello-world:metadata_read: insufficient_scope/.test(error.message),
    );
  });

  it('keeps a real ACR token (no expires_in) until shortly before its exp, then asks again', async () => {
    const recordedAt = Date.parse('2021-03-25T15:52:37Z');
    let now = recordedAt;
    const server = await serve([manifestProperties[1], authFlow[1], manifestProperties[5], { ...authFlow[1] }]);
    const authenticator = new TokenAuthenticator({
      credentials: { registry: 'myregistry.azurecr.io', username: ACR_TOKEN_USERNAME, password: 'refresh' },
      http: server.client(),
      retry: fastRetry,
      now: () => now,
    });
    const url =
      'https://myregistry.azurecr.io/acr/v1/library/hello-world/_manifests/sha256:50b8560ad574c779908da71f7ce370c0a2471c098d44d1c8f6b513c5a55eeeb1';
    const first = await authorizedRequest(server.client(), { method: 'GET', url }, authenticator, 'read');
    assert.equal(first.status, 200);
    // within the token's hour: reused without asking
    assert.equal(await authenticator.authorization('read'), `Bearer ${accessTokenOf(authFlow[1])}`);
    assert.equal(server.received.filter((request) => request.path === '/oauth2/token').length, 1);
    // past its exp (exp - nbf = 4500 s, nbf 15 minutes back): a new one
    now = recordedAt + 3600_000;
    await authenticator.authorization('read');
    assert.equal(server.received.filter((request) => request.path === '/oauth2/token').length, 2);
  });
});
