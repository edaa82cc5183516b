// Entra ID (login.lab.test): OpenID metadata, JWKS and the client-credentials token endpoint, as MSAL
// (under @azure/identity) calls them given an authorityHost and disableInstanceDiscovery.
import { createHash, type KeyObject, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { LabConfig, NamedIdentity } from './config';
import { auditForm, type Exchange, readForm, sendJson } from './http';
import {
  audiences,
  checkLifetime,
  decodeJwt,
  type DecodedJwt,
  type JwtClaims,
  newJwtId,
  nowSeconds,
  signJwt,
  verifySignature,
} from './jwt';
import type { SigningKey } from './keys';

export const clientAssertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const tokenExchangeAudience = 'api://AzureADTokenExchange';

/** Resources (application ID URIs) the lab tenant issues tokens for. */
export const knownResources = [
  'https://containerregistry.azure.net',
  'https://management.azure.com',
  'https://management.core.windows.net',
];

export const accessTokenLifetimeSeconds = 3599;

/** A federated identity credential on an app registration (issuer, subject, audiences must all match). */
export interface FederatedCredential {
  issuer: string;
  subject: string;
  audiences: string[];
}

/** An issuer Entra trusts for federation, with the keys that sign its tokens. */
export interface TrustedIssuer {
  issuer: string;
  keys: Array<{ kid: string; publicKey: KeyObject }>;
}

export interface EntraDependencies {
  federatedCredentials(identityName: string): FederatedCredential[];
  trustedIssuers(): TrustedIssuer[];
}

export type EntraTokenCheck = { ok: true; claims: JwtClaims } | { ok: false; reason: string };

export class EntraEmulator {
  constructor(
    private readonly config: LabConfig,
    private readonly key: SigningKey,
    private readonly dependencies: EntraDependencies,
  ) {}

  /** v1 issuer of the access tokens (what Entra puts in tokens for ARM and ACR). */
  accessTokenIssuer(): string {
    return `${this.config.authorityHost}/${this.config.tenantId}/`;
  }

  v2Issuer(): string {
    return `${this.config.authorityHost}/${this.config.tenantId}/v2.0`;
  }

  tokenEndpoint(tenant = this.config.tenantId): string {
    return `${this.config.authorityHost}/${tenant}/oauth2/v2.0/token`;
  }

  /** Signs an app-only access token for a resource (also used by the IMDS emulator). */
  issueAccessToken(identity: NamedIdentity, resource: string, authenticationMethod: '0' | '1' | '2'): { token: string; expiresOn: number } {
    const now = nowSeconds();
    const expiresOn = now + accessTokenLifetimeSeconds;
    const claims: JwtClaims = {
      aud: resource,
      iss: this.accessTokenIssuer(),
      iat: now,
      nbf: now,
      exp: expiresOn,
      appid: identity.identity.clientId,
      appidacr: authenticationMethod,
      idp: this.accessTokenIssuer(),
      idtyp: 'app',
      oid: identity.identity.objectId,
      sub: identity.identity.objectId,
      tid: this.config.tenantId,
      uti: newJwtId().replace(/-/g, '').slice(0, 22),
      ver: '1.0',
    };
    return { token: signJwt(claims, this.key.privateKey, { kid: this.key.kid }), expiresOn };
  }

  /** Verifies an access token issued here: signature, issuer, lifetime. The caller checks the audience. */
  verifyAccessToken(token: string): EntraTokenCheck {
    const jwt = decodeJwt(token);
    if (!jwt) return { ok: false, reason: 'not a JWT' };
    if (jwt.header.alg !== 'RS256' || !verifySignature(jwt, this.key.publicKey)) return { ok: false, reason: 'invalid signature' };
    if (jwt.claims.iss !== this.accessTokenIssuer() && jwt.claims.iss !== this.v2Issuer()) return { ok: false, reason: 'unknown issuer' };
    const lifetime = checkLifetime(jwt.claims, nowSeconds(), 0);
    if (lifetime !== 'valid') return { ok: false, reason: `token ${lifetime}` };
    return { ok: true, claims: jwt.claims };
  }

  async handle(exchange: Exchange): Promise<void> {
    const { req, res, url } = exchange;
    const match = /^\/([^/]+)\/(.*)$/.exec(url.pathname);
    if (!match) return this.error(exchange, 404, 'invalid_request', 90002, 'Tenant not specified in the request path.');
    const [, tenant, rest] = match;
    if (tenant.toLowerCase() !== this.config.tenantId.toLowerCase()) {
      return this.error(
        exchange,
        400,
        'invalid_request',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
    }
    if (req.method === 'GET' && (rest === 'v2.0/.well-known/openid-configuration' || rest === '.well-known/openid-configuration')) {
      return sendJson(res, 200, this.openIdConfiguration(tenant, rest.startsWith('v2.0/')));
    }
    if (req.method === 'GET' && (rest === 'discovery/v2.0/keys' || rest === 'discovery/keys')) {
      return sendJson(res, 200, { keys: [this.key.jwk] });
    }
    if (rest === 'oauth2/v2.0/token' || rest === 'oauth2/token') {
      if (req.method !== 'POST') return this.error(exchange, 405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
      return this.token(exchange, tenant, rest === 'oauth2/token');
    }
    return this.error(exchange, 404, 'invalid_request', 900561, `The endpoint ${url.pathname} is not emulated.`);
  }

  private openIdConfiguration(tenant: string, v2: boolean): Record<string, unknown> {
    const base = `${this.config.authorityHost}/${tenant}`;
    const version = v2 ? '/v2.0' : '';
    return {
      token_endpoint: `${base}/oauth2${version}/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery${version}/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: v2 ? this.v2Issuer() : this.accessTokenIssuer(),
      request_uri_parameter_supported: false,
      authorization_endpoint: `${base}/oauth2${version}/authorize`,
      device_authorization_endpoint: `${base}/oauth2${version}/devicecode`,
      http_logout_supported: true,
      kerberos_endpoint: `${base}/kerberos`,
      userinfo_endpoint: 'https://graph.lab.test/oidc/userinfo',
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2${version}/logout`,
      tenant_region_scope: 'EU',
      claims_supported: [
        'sub',
        'iss',
        'cloud_instance_name',
        'cloud_instance_host_name',
        'cloud_graph_host_name',
        'msgraph_host',
        'aud',
        'exp',
        'iat',
        'auth_time',
        'acr',
        'nonce',
        'preferred_username',
        'name',
        'tid',
        'ver',
        'at_hash',
        'c_hash',
        'email',
      ],
      rbac_url: 'https://pas.lab.test',
      cloud_instance_name: 'lab.test',
      cloud_graph_host_name: 'graph.lab.test',
      msgraph_host: 'graph.lab.test',
    };
  }

  private async token(exchange: Exchange, tenant: string, v1: boolean): Promise<void> {
    const form = await readForm(exchange.req);
    exchange.form = auditForm(form);
    const grantType = form.get('grant_type');
    const clientId = form.get('client_id');
    if (!grantType) return this.missing(exchange, 'grant_type');
    if (grantType !== 'client_credentials') {
      return this.error(exchange, 400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
    }
    if (!clientId) return this.missing(exchange, 'client_id');

    const resource = v1 ? this.resourceFromV1(exchange, form.get('resource')) : this.resourceFromScope(exchange, form.get('scope'));
    if (!resource) return;

    const identity = this.config.identityByClientId(clientId);
    if (!identity) {
      return this.error(
        exchange,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.config.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    exchange.identity = identity.name;

    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    let method: '1' | '2';
    if (secret !== null) {
      const expected = identity.identity.kind === 'managedIdentity' ? undefined : identity.identity.secret;
      if (!expected || secret !== expected) {
        return this.error(
          exchange,
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
        );
      }
      method = '1';
    } else if (assertion !== null) {
      if (form.get('client_assertion_type') !== clientAssertionType) {
        return this.error(exchange, 400, 'invalid_request', 700023, `Client assertion type must be '${clientAssertionType}'.`);
      }
      const failure = this.checkClientAssertion(assertion, identity, clientId, tenant);
      if (failure) return this.error(exchange, failure.status, failure.error, failure.code, failure.description);
      method = '2';
    } else {
      return this.error(
        exchange,
        401,
        'invalid_client',
        7000216,
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
      );
    }

    const { token } = this.issueAccessToken(identity, resource, method);
    sendJson(exchange.res, 200, {
      token_type: 'Bearer',
      expires_in: accessTokenLifetimeSeconds,
      ext_expires_in: accessTokenLifetimeSeconds,
      access_token: token,
      ...(v1 ? { resource, expires_on: String(nowSeconds() + accessTokenLifetimeSeconds) } : {}),
    });
  }

  /** `<resource>/.default` (client credentials allow nothing else); OIDC scopes MSAL may add are ignored. */
  private resourceFromScope(exchange: Exchange, scope: string | null): string | undefined {
    if (!scope) {
      this.missing(exchange, 'scope');
      return undefined;
    }
    const scopes = scope.split(' ').filter((item) => item && !['openid', 'profile', 'offline_access'].includes(item));
    if (scopes.length !== 1 || !scopes[0].endsWith('/.default')) {
      this.error(
        exchange,
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
      return undefined;
    }
    return this.resourceFromV1(exchange, scopes[0].slice(0, -'/.default'.length));
  }

  private resourceFromV1(exchange: Exchange, resource: string | null): string | undefined {
    if (!resource) {
      this.missing(exchange, 'resource');
      return undefined;
    }
    if (!knownResources.includes(resource.replace(/\/+$/, ''))) {
      this.error(
        exchange,
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${resource} was not found in the tenant named ${this.config.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
      return undefined;
    }
    return resource;
  }

  /** Checks a client assertion: a certificate-signed JWT (x5t header) or a federated token. */
  private checkClientAssertion(assertion: string, identity: NamedIdentity, clientId: string, tenant: string): AssertionFailure | undefined {
    const jwt = decodeJwt(assertion);
    if (!jwt) return invalidClient(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
    const thumbprint = jwt.header['x5t#S256'] ?? jwt.header.x5t;
    return thumbprint ? this.checkCertificateAssertion(jwt, identity, clientId, tenant) : this.checkFederatedAssertion(jwt, identity);
  }

  private checkCertificateAssertion(
    jwt: DecodedJwt,
    identity: NamedIdentity,
    clientId: string,
    tenant: string,
  ): AssertionFailure | undefined {
    const certificate = identity.identity.kind === 'managedIdentity' ? undefined : loadCertificate(identity.identity.certificatePath);
    const sha256 = jwt.header['x5t#S256'];
    const matches =
      certificate !== undefined && (sha256 !== undefined ? sha256 === certificate.x5tS256 : jwt.header.x5t === certificate.x5t);
    if (!certificate || !matches) {
      const presented = Buffer.from(sha256 ?? jwt.header.x5t ?? '', 'base64url')
        .toString('hex')
        .toUpperCase();
      return invalidClient(
        401,
        'invalid_client',
        700027,
        `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${presented}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`,
      );
    }
    if (!verifySignature(jwt, certificate.publicKey))
      return invalidClient(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
    if (jwt.claims.iss !== clientId || jwt.claims.sub !== clientId) {
      return invalidClient(401, 'invalid_client', 700021, "Client assertion application identifier doesn't match 'client_id' parameter.");
    }
    const accepted = [
      this.tokenEndpoint(tenant),
      this.tokenEndpoint(this.config.tenantId),
      `${this.config.authorityHost}/${tenant}/oauth2/token`,
    ];
    if (!audiences(jwt.claims).some((audience) => accepted.includes(audience.split('?')[0]))) {
      return invalidClient(401, 'invalid_client', 50012, 'Client assertion audience claim does not match Realm issuer.');
    }
    return this.lifetimeFailure(jwt.claims);
  }

  private checkFederatedAssertion(jwt: DecodedJwt, identity: NamedIdentity): AssertionFailure | undefined {
    const issuer = typeof jwt.claims.iss === 'string' ? jwt.claims.iss : '';
    const subject = typeof jwt.claims.sub === 'string' ? jwt.claims.sub : '';
    const credentials = this.dependencies.federatedCredentials(identity.name).filter((credential) => credential.issuer === issuer);
    const hint =
      'Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation';
    if (credentials.length === 0) {
      return invalidClient(
        400,
        'invalid_request',
        700211,
        `No matching federated identity record found for presented assertion issuer '${issuer}'. ${hint}`,
      );
    }
    const trusted = this.dependencies.trustedIssuers().find((candidate) => candidate.issuer === issuer);
    const signingKey = trusted?.keys.find((key) => key.kid === jwt.header.kid) ?? (jwt.header.kid ? undefined : trusted?.keys[0]);
    if (!signingKey || jwt.header.alg !== 'RS256' || !verifySignature(jwt, signingKey.publicKey)) {
      return invalidClient(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
    }
    const lifetime = this.lifetimeFailure(jwt.claims);
    if (lifetime) return lifetime;
    const bySubject = credentials.filter((credential) => credential.subject === subject);
    if (bySubject.length === 0) {
      return invalidClient(
        400,
        'invalid_request',
        700213,
        `No matching federated identity record found for presented assertion subject '${subject}'. ${hint}`,
      );
    }
    const presented = audiences(jwt.claims);
    if (!bySubject.some((credential) => credential.audiences.some((audience) => presented.includes(audience)))) {
      return invalidClient(
        400,
        'invalid_request',
        700212,
        `No matching federated identity record found for presented assertion audience '${presented.join(',')}'. ${hint}`,
      );
    }
    return undefined;
  }

  /** Entra allows five minutes of clock skew on assertions (MSAL rounds its nbf up to the next second). */
  private lifetimeFailure(claims: JwtClaims): AssertionFailure | undefined {
    const lifetime = checkLifetime(claims, nowSeconds(), 300);
    if (lifetime === 'valid') return undefined;
    const at = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : 'none');
    return invalidClient(
      400,
      'invalid_client',
      700024,
      `Client assertion is not within its valid time range. Current time: ${new Date().toISOString()}, assertion valid from ${at(claims.nbf)}, expiry time of assertion ${at(claims.exp)}.`,
    );
  }

  private missing(exchange: Exchange, parameter: string): void {
    this.error(exchange, 400, 'invalid_request', 900144, `The request body must contain the following parameter: '${parameter}'.`);
  }

  /** An AADSTS error body, shaped as Entra ID answers on its token endpoint. */
  private error(exchange: Exchange, status: number, error: string, code: number, description: string): void {
    const timestamp = new Date()
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
    const traceId = randomUUID();
    const correlationId =
      exchange.url.searchParams.get('client-request-id') ?? String(exchange.req.headers['client-request-id'] ?? randomUUID());
    sendJson(exchange.res, status, {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${this.config.authorityHost}/error?code=${code}`,
    });
  }
}

interface AssertionFailure {
  status: number;
  error: string;
  code: number;
  description: string;
}

function invalidClient(status: number, error: string, code: number, description: string): AssertionFailure {
  return { status, error, code, description };
}

interface LoadedCertificate {
  publicKey: KeyObject;
  x5t: string;
  x5tS256: string;
}

const certificates = new Map<string, { mtimeMs: number; certificate: LoadedCertificate }>();

/** The certificate of a PEM file that may also hold the private key; cached until the file changes. */
function loadCertificate(file: string | undefined): LoadedCertificate | undefined {
  if (!file) return undefined;
  try {
    const mtimeMs = statSync(file).mtimeMs;
    const cached = certificates.get(file);
    if (cached && cached.mtimeMs === mtimeMs) return cached.certificate;
    const block = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(readFileSync(file, 'utf8'));
    if (!block) return undefined;
    const x509 = new X509Certificate(block[0]);
    const certificate = {
      publicKey: x509.publicKey,
      x5t: createHash('sha1').update(x509.raw).digest('base64url'),
      x5tS256: createHash('sha256').update(x509.raw).digest('base64url'),
    };
    certificates.set(file, { mtimeMs, certificate });
    return certificate;
  } catch {
    return undefined;
  }
}
