import { strict as assert } from 'node:assert';
import { ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import { createHttpHeaders, type HttpClient as AzureHttpClient, type PipelineRequest } from '@azure/core-rest-pipeline';
import {
  type AzureConnection,
  ConnectionError,
  credentialPlan,
  describeCredentialKind,
  requiredParameter,
} from '../../src/azure/connection';
import { ConnectionCredential, azureCredential } from '../../src/azure/credential';
import { requestOidcToken } from '../../src/azure/oidc';
import { RecordingLogger } from '../../src/log';
import { unsignedJwt } from './registry-fakes';

const tenant = '11111111-1111-1111-1111-111111111111';
const clientId = '22222222-2222-2222-2222-222222222222';

/** A test-only self-signed certificate with its key (what an spnCertificate connection holds). */
const TEST_CERTIFICATE_PEM = `
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCagaCHoCFBAFmO
79cKWSI0GhkQyfUHJswRY5f+VIxbPr/2pnJm8dGkUTcag/iz8m20J3Kt6CjviGqs
KAlKGtkaznREHAzkODIBSA0HqTno/lpz1Ou9plA+FuIDHFcz82nS1TB8JJD1kaDT
gPV1LHo9EwgTjoFMi/SAZM78XipuljHUi2qC3513p3Tbi0AxdKapPLs8JGTz4KjL
f7iGxKq68pQbl/7RF/XpQ8cxITDHfSgrNI9U4R95Xv2DON9uKooe+8JQHUrjfh8A
TWprOeXVIwT7zcbptP8SUmdW/QFkcAKUW5GiT2BxVo5maWthsIMke3KNdkXxmYWB
vEcjqPhPAgMBAAECggEATIQ1w/UBgvdxYuBUVsOdtL/X+gCKYGhOV65C76lfeTCy
UKxNq73GXOH7sB37ZOKCgd2nZYi7/SRJ78hEEXcKXcQwwCpEGCHcYdYU3d5o14Jf
uU2REfLzekxK0c+PQCMkHU2HHXPedj8Qrq4G4WiNgQGT1luUnRwSkiNafpED4o+q
URkGqUNu+CiP2aqS6iX/yuN9ycC5TucLDHaYn3qHQxgzikRrPcS4+V38QTXnJu7o
RCudGHYA7DToFkP5uX75z009O2RCkNQFjZH5esRZ3Pn2w9VFzaBtPDl8DoH4+rXW
VMfFKqdXa94WcR6OgLBsG5Zi/dFZJ9EgcOYxqCnEQQKBgQDHGg09xsQByLrcvE9U
BQCb+vIkThE0/Pr/Xs2iUGAlxjTISU6xEWcKyHJ9AhfWvyLFGg3Y+9qH3MQ8+uvZ
9HtNWdh2cAgI0z7Qo2jWs6qw4uAS6ZEieHyahMjO4sgmQUxJ2Jq+p+WlDWf0TMU+
bJdPdMVd0AKVMo4/pqbxM5yPJQKBgQDGqQz5SiGZ0zX6+8CWYeR42Qw9mdjbqinr
57qxA5JXKeBi3YTDqr3tWg7lGkJkV8/zOmN36K6OQWC6g0iq4evqDvksIXGXNZ02
f4n4xGLPeEHoDjrMrX7ak+u3DtGqYvGcgbcng58pedkA1aRuVfd33eGhvLk8UOpE
5K94h6cZYwKBgE1YNnqgI3aZ9tVXJe36v4DYnIYz+YU/HXZk6rc6SA+Eju6bY8Fv
hDrxIWCkloQq3iP5ehWnyP3saiNSSprx2ZBz7Z4c6VIcVhOQ12JIi2+Jwwg1yda9
PZJ9MNEF0kDiLvOk/IBCEvjqW07RH/KfFqycLSvDaa1x5Uaew82BgjktAoGAOlMd
jP8XuFrLSWGqXDxnYJeQwXEuuudNoYYKSLgcudyAlWYl+XBijJHZN6gq/9zMH8Pv
uh+lR/yn0nqC1jC4G6LDwxIakGNcQcjWECRQQkszRlcPKlJxoOi21qrSIa0k9Gcd
B8vb6chtTpJq0T4KBrYs7VhEJhI3hXyCi+d/xrMCgYEAwOxtw894GbZWAmWXDw50
H4ZpRyTXKJkwfq6ssEhe0nu56MtM4M++SkZkMIX3JeVdgVZqDqga+IzeRXAolAwr
7y4bAfkk7zalkTnOyWZmvQZr4bM3tyriz2Z8PwU+s1DhAtG31DX1SNvDln3jS0zZ
s0U/sCSKPGq6/v0IIsvIjYg=
-----END PRIVATE KEY-----
-----BEGIN CERTIFICATE-----
MIIDETCCAfmgAwIBAgIUQ8yWafMeMrhpM8/WeU5qbKPFMaIwDQYJKoZIhvcNAQEL
BQAwFzEVMBMGA1UEAwwMdW5pdC10ZXN0LXNwMCAXDTI2MTEyOTA4NTE0NVoYDzIx
MjYxMTA1MDg1MTQ1WjAXMRUwEwYDVQQDDAx1bml0LXRlc3Qtc3AwggEiMA0GCSqG
SIb3DQEBAQUAA4IBDwAwggEKAoIBAQCagaCHoCFBAFmO79cKWSI0GhkQyfUHJswR
Y5f+VIxbPr/2pnJm8dGkUTcag/iz8m20J3Kt6CjviGqsKAlKGtkaznREHAzkODIB
SA0HqTno/lpz1Ou9plA+FuIDHFcz82nS1TB8JJD1kaDTgPV1LHo9EwgTjoFMi/SA
ZM78XipuljHUi2qC3513p3Tbi0AxdKapPLs8JGTz4KjLf7iGxKq68pQbl/7RF/Xp
Q8cxITDHfSgrNI9U4R95Xv2DON9uKooe+8JQHUrjfh8ATWprOeXVIwT7zcbptP8S
UmdW/QFkcAKUW5GiT2BxVo5maWthsIMke3KNdkXxmYWBvEcjqPhPAgMBAAGjUzBR
MB0GA1UdDgQWBBRVKnUUQZtpXtHf3oNMV1lgDHib1zAfBgNVHSMEGDAWgBRVKnUU
QZtpXtHf3oNMV1lgDHib1zAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUA
A4IBAQCUWpmEjSVxlXlWlIZX8tpotnzIg7vdG5riCSmnIqqx3kbyP8Y+6zQn5mFM
ejGjHGxab63+RJKYv9PvqP2BjTjNWm2FbeadqJI2PzhGkxUd7W+HpgsfbDj01T2E
Yec9Eb20mR0rpd5tBvGQUmbgl0rUDyb0c62F7rRXCevBUhkh+Y34saVqoN3Ppbta
3mv/R4Us1Be+AiO07W+VnvG/FJr2DDGPmSfn32xEsy+Cm09ScL835VosM4r2qhbg
qSkzjNSMnetU+L8GotFxjv84/FwjV+W/Q8bpfHOXljv6yvnBGzdGGlZ5pN8cAv4e
KhqUOU/jpJGca5yeDGzSFZlQHanD
-----END CERTIFICATE-----
`;

function connection(scheme: string, parameters: Record<string, string>, data: Record<string, string> = {}): AzureConnection {
  return { id: 'conn-1', scheme, parameters, data: (key) => data[key] };
}

const sp = (extra: Record<string, string> = {}) => ({ tenantid: tenant, serviceprincipalid: clientId, ...extra });
const lab = { environmentAuthorityUrl: 'https://login.lab.test/' };

/** Answers MSAL's two calls (openid-configuration, token) like Entra ID, recording the token requests' forms. */
function fakeEntra(host = 'https://login.lab.test') {
  const tokenForms: URLSearchParams[] = [];
  const urls: string[] = [];
  const client: AzureHttpClient = {
    async sendRequest(request: PipelineRequest) {
      urls.push(`${request.method} ${request.url}`);
      const url = new URL(request.url);
      const json = (status: number, body: object) => ({
        request,
        status,
        headers: createHttpHeaders({ 'content-type': 'application/json' }),
        bodyAsText: JSON.stringify(body),
      });
      if (url.pathname.endsWith('/.well-known/openid-configuration')) {
        const base = `${host}/${tenant}`;
        return json(200, {
          token_endpoint: `${base}/oauth2/v2.0/token`,
          issuer: `${base}/v2.0`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
          jwks_uri: `${base}/discovery/v2.0/keys`,
        });
      }
      if (url.pathname.endsWith('/oauth2/v2.0/token')) {
        const body = new URLSearchParams(String(request.body));
        tokenForms.push(body);
        if (body.get('scope') === 'https://unknown.example/.default') {
          return json(400, {
            error: 'invalid_resource',
            error_description: 'AADSTS500011: The resource principal named https://unknown.example was not found in the tenant.',
            error_codes: [500011],
          });
        }
        if (body.get('client_secret') === 'wrong') {
          return json(401, {
            error: 'invalid_client',
            error_description: 'AADSTS7000215: Invalid client secret provided.',
            error_codes: [7000215],
          });
        }
        return json(200, {
          token_type: 'Bearer',
          expires_in: 3600,
          ext_expires_in: 3600,
          access_token: unsignedJwt({ aud: 'https://containerregistry.azure.net', tid: tenant }),
        });
      }
      return json(404, { error: 'not_found' });
    },
  };
  return { client, tokenForms, urls };
}

describe('Azure credentials from service connections', () => {
  it('plans each scheme users have', () => {
    assert.deepEqual(credentialPlan(connection('ServicePrincipal', sp({ authenticationtype: 'spnKey', serviceprincipalkey: 's' }), lab)), {
      kind: 'secret',
      scheme: 'ServicePrincipal',
      tenantId: tenant,
      clientId,
      authorityHost: 'https://login.lab.test',
      disableInstanceDiscovery: true,
    });
    assert.equal(credentialPlan(connection('ServicePrincipal', sp({ serviceprincipalkey: 's' }))).kind, 'secret', 'spnKey is the default');
    assert.equal(
      credentialPlan(connection('ServicePrincipal', sp({ authenticationtype: 'spnCertificate', serviceprincipalcertificate: 'pem' }))).kind,
      'certificate',
    );
    assert.equal(credentialPlan(connection('WorkloadIdentityFederation', sp())).kind, 'federated');
    assert.deepEqual(credentialPlan(connection('ManagedServiceIdentity', {}, { msiclientId: clientId })), {
      kind: 'managedIdentity',
      scheme: 'ManagedServiceIdentity',
      tenantId: undefined,
      clientId,
      authorityHost: 'https://login.microsoftonline.com',
      disableInstanceDiscovery: false,
    });
    assert.equal(credentialPlan(connection('ManagedServiceIdentity', {})).clientId, undefined, 'system-assigned identity');
  });

  it('takes the authority from environmentAuthorityUrl, then activeDirectoryAuthority, then the public cloud', () => {
    const plan = (data: Record<string, string>) => credentialPlan(connection('WorkloadIdentityFederation', sp(), data));
    assert.equal(
      plan({ environmentAuthorityUrl: 'https://login.chinacloudapi.cn/', activeDirectoryAuthority: 'https://x.test/' }).authorityHost,
      'https://login.chinacloudapi.cn',
    );
    assert.equal(plan({ environmentAuthorityUrl: 'https://login.chinacloudapi.cn/' }).disableInstanceDiscovery, false);
    assert.equal(plan({ activeDirectoryAuthority: 'https://login.microsoftonline.us/' }).authorityHost, 'https://login.microsoftonline.us');
    assert.equal(plan({}).authorityHost, 'https://login.microsoftonline.com');
    assert.equal(plan(lab).disableInstanceDiscovery, true);
    assert.throws(() => plan({ environmentAuthorityUrl: 'http://login.lab.test/' }), /must use https/);
    assert.throws(() => plan({ environmentAuthorityUrl: 'not a url' }), /is not a URL/);
  });

  it('names the connection and what is missing', () => {
    assert.throws(
      () => credentialPlan(connection('ServicePrincipal', { serviceprincipalid: clientId, serviceprincipalkey: 's' })),
      /Service connection 'conn-1' \(ServicePrincipal\): the authorization parameter 'tenantid' \(the directory \(tenant\) id\) is missing/,
    );
    assert.throws(() => credentialPlan(connection('ServicePrincipal', sp())), /'serviceprincipalkey' \(the client secret\) is missing/);
    assert.throws(
      () => credentialPlan(connection('ServicePrincipal', sp({ authenticationtype: 'spnCertificate' }))),
      /'servicePrincipalCertificate' \(the PEM certificate with its private key\) is missing/,
    );
    assert.throws(
      () => credentialPlan(connection('ServicePrincipal', sp({ authenticationtype: 'spnPassword' }))),
      /authenticationType 'spnPassword' is not supported/,
    );
    assert.throws(() => credentialPlan(connection('WorkloadIdentityFederation', { tenantid: tenant })), /'serviceprincipalid'/);
    assert.throws(
      () => credentialPlan(connection('PublishProfile', {})),
      /the scheme 'PublishProfile' is not supported; use an Azure Resource Manager connection/,
    );
    assert.throws(
      () => azureCredential(connection('WorkloadIdentityFederation', sp())),
      /needs the job's OIDC token: System\.AccessToken is not available/,
    );
  });

  it('builds the @azure/identity credential each scheme needs', () => {
    const inner = (c: AzureConnection) =>
      azureCredential(c, {
        oidc: { collectionUri: 'https://dev.azure.com/x/', projectId: 'p', hostType: 'build', planId: 'pl', jobId: 'j', accessToken: 't' },
      }).inner;
    assert.ok(inner(connection('ServicePrincipal', sp({ serviceprincipalkey: 's' }))) instanceof ClientSecretCredential);
    assert.ok(
      inner(
        connection('ServicePrincipal', sp({ authenticationtype: 'spnCertificate', serviceprincipalcertificate: TEST_CERTIFICATE_PEM })),
      ) instanceof ClientCertificateCredential,
    );
    assert.ok(inner(connection('WorkloadIdentityFederation', sp())) instanceof ClientAssertionCredential);
    assert.ok(inner(connection('ManagedServiceIdentity', {}, { msiclientId: clientId })) instanceof ManagedIdentityCredential);
  });

  it("service principal with a secret: client_credentials at the connection's authority, no instance discovery", async () => {
    const entra = fakeEntra();
    const credential = azureCredential(connection('ServicePrincipal', sp({ serviceprincipalkey: 'the-secret' }), lab), {
      identityHttpClient: entra.client,
    });
    const token = await credential.getToken('https://containerregistry.azure.net/.default');
    assert.ok(token.token);
    assert.equal(entra.tokenForms.length, 1);
    const sent = entra.tokenForms[0];
    assert.equal(sent.get('grant_type'), 'client_credentials');
    assert.equal(sent.get('client_id'), clientId);
    assert.equal(sent.get('client_secret'), 'the-secret');
    assert.equal(sent.get('scope'), 'https://containerregistry.azure.net/.default');
    assert.ok(
      entra.urls.every((u) => u.includes('https://login.lab.test/')),
      entra.urls.join('\n'),
    );
  });

  it('service principal with a certificate: a signed client assertion', async () => {
    const entra = fakeEntra();
    const c = connection(
      'ServicePrincipal',
      sp({ authenticationtype: 'spnCertificate', serviceprincipalcertificate: TEST_CERTIFICATE_PEM }),
      lab,
    );
    await azureCredential(c, { identityHttpClient: entra.client }).getToken('https://containerregistry.azure.net/.default');
    const sent = entra.tokenForms[0];
    assert.equal(sent.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const header = JSON.parse(Buffer.from(sent.get('client_assertion')!.split('.')[0], 'base64url').toString()) as Record<string, string>;
    assert.ok(header.x5t || header['x5t#S256'], 'the assertion names the certificate');
  });

  it('workload identity federation: the late-bound idToken is the client assertion, and reported as a secret', async () => {
    const entra = fakeEntra();
    const secrets: string[] = [];
    const c = connection('WorkloadIdentityFederation', sp({ idtoken: 'the-oidc-token' }), lab);
    await azureCredential(c, { identityHttpClient: entra.client, onSecret: (s) => secrets.push(s) }).getToken(
      'https://containerregistry.azure.net/.default',
    );
    assert.equal(entra.tokenForms[0].get('client_assertion'), 'the-oidc-token');
    assert.deepEqual([...new Set(secrets)], ['the-oidc-token']);
  });

  it('wraps an Entra refusal with the connection and the fix, without the secret', async () => {
    const entra = fakeEntra();
    const logger = new RecordingLogger();
    const credential = azureCredential(connection('ServicePrincipal', sp({ serviceprincipalkey: 'wrong' }), lab), {
      identityHttpClient: entra.client,
      logger,
    });
    const error = await credential.getToken('https://containerregistry.azure.net/.default').catch((e: Error) => e);
    assert.ok(error instanceof Error);
    assert.match(
      error.message,
      /Service connection 'conn-1' \(ServicePrincipal\): could not get an Entra ID token from https:\/\/login\.lab\.test \(service principal with a client secret\): the client secret is wrong or expired/,
    );
    assert.ok(!error.message.includes('wrong"') && !logger.text().includes('wrong'));
  });

  it('marks a refused resource as an audience problem (so sign-in can try another audience)', async () => {
    const entra = fakeEntra();
    const credential = azureCredential(connection('ServicePrincipal', sp({ serviceprincipalkey: 's' }), lab), {
      identityHttpClient: entra.client,
    });
    const error = await credential.getToken('https://unknown.example/.default').catch((e: Error) => e);
    assert.ok(error instanceof ConnectionError);
    assert.equal(error.reason, 'audience');
    assert.match(error.message, /the resource \(audience\) is not known in the tenant/);
  });

  it('ConnectionCredential keeps a plain failure message', async () => {
    const failing = new ConnectionCredential(
      { id: 'c', scheme: 'ManagedServiceIdentity' },
      credentialPlan(connection('ManagedServiceIdentity', {})),
      {
        getToken: async () => {
          throw new Error('ManagedIdentityCredential: no managed identity endpoint found.\nmore');
        },
      },
    );
    await assert.rejects(
      failing.getToken('x'),
      /Service connection 'c' \(ManagedServiceIdentity\): could not get an Entra ID token from https:\/\/login\.microsoftonline\.com \(managed identity\): ManagedIdentityCredential: no managed identity endpoint found\.$/,
    );
  });

  it('a failed OIDC token request surfaces as itself, not wrapped by @azure/identity', async () => {
    const entra = fakeEntra();
    const oidc = { collectionUri: 'https://dev.azure.com/x/', projectId: '', hostType: 'build', planId: 'p', jobId: 'j', accessToken: 't' };
    const credential = azureCredential(connection('WorkloadIdentityFederation', sp(), lab), { oidc, identityHttpClient: entra.client });
    const error = await credential.getToken('https://containerregistry.azure.net/.default').catch((e: Error) => e);
    assert.ok(error instanceof Error);
    assert.equal(
      error.message,
      "Service connection 'conn-1' (WorkloadIdentityFederation): workload identity federation needs projectId of the job to request an OIDC token, and it is empty.",
    );
    assert.equal(entra.tokenForms.length, 0);
  });

  it('checks the OIDC context before asking Azure DevOps', async () => {
    await assert.rejects(
      requestOidcToken(
        { id: 'c', scheme: 'WorkloadIdentityFederation' },
        { collectionUri: 'https://dev.azure.com/x/', projectId: '', hostType: 'build', planId: 'p', jobId: 'j', accessToken: 't' },
      ),
      /needs projectId of the job/,
    );
  });
});

describe('requiredParameter', () => {
  const connection = (parameters: Record<string, string>): AzureConnection => ({
    id: 'c1',
    scheme: 'UsernamePassword',
    parameters,
    data: () => undefined,
  });

  it('reads a parameter in whatever case the key is given, as the connection holds it', () => {
    assert.equal(
      requiredParameter(connection({ serviceprincipalcertificate: ' pem ' }), 'servicePrincipalCertificate', 'the certificate'),
      ' pem ',
    );
  });

  it('fails on a missing or blank parameter, naming the parameter, what it is and the connection', () => {
    for (const parameters of [{}, { password: '  ' }] as Record<string, string>[]) {
      assert.throws(
        () => requiredParameter(connection(parameters), 'password', 'the password'),
        (e: Error) =>
          e instanceof ConnectionError &&
          e.message ===
            "Service connection 'c1' (UsernamePassword): the authorization parameter 'password' (the password) is missing; edit the service connection and set it.",
      );
    }
  });
});

describe('describeCredentialKind', () => {
  it('names each kind briefly for the sign-in line and in full for a token failure', () => {
    assert.equal(describeCredentialKind('secret', 'short'), 'service principal, secret');
    assert.equal(describeCredentialKind('secret', 'long'), 'service principal with a client secret');
    assert.equal(describeCredentialKind('certificate', 'short'), 'service principal, certificate');
    assert.equal(describeCredentialKind('federated', 'long'), 'workload identity federation');
    assert.equal(describeCredentialKind('managedIdentity', 'short'), 'managed identity');
  });
});
