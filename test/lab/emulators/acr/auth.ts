// ACR's token service: POST /oauth2/exchange (Entra token -> ACR refresh token), POST /oauth2/token
// (grant_type refresh_token or password) and GET /oauth2/token with Basic, the forms ACR documents and
// docker, BuildKit and containerd send; plus the check of access tokens on /v2 and /acr/v1.
import type { LabConfig } from '../config';
import type { EntraEmulator } from '../entra';
import { auditForm, basicCredentials, bearerToken, type Exchange, readForm, sendJson } from '../http';
import { checkLifetime, decodeJwt, type JwtClaims, newJwtId, nowSeconds, signJwt, verifySignature } from '../jwt';
import type { SigningKey } from '../keys';
import { acrError, authenticationRequired } from './errors';
import { createHash, type KeyObject } from 'node:crypto';
import type { AcrPolicies, RegistryPolicy } from './store';
import {
  accessClaim,
  accessOf,
  allowedRepositoryActions,
  bearerChallenge,
  conditionMatches,
  grantScopesPerRepository,
  hasAccess,
  legacyRepositoryRoles,
  parseScopes,
  type ResourceScope,
} from './scopes';

/** The username that tells ACR the password is an ACR refresh (or access) token. */
export const nullGuid = '00000000-0000-0000-0000-000000000000';
/** Live ACR (recorded 2021 and 2023): nbf and iat 15 minutes before the answer, refresh exp 3 h and access exp 1 h after it. */
export const notBeforeSkewSeconds = 15 * 60;
export const refreshTokenLifetimeSeconds = 3 * 3600;
export const accessTokenLifetimeSeconds = 3600;
/** What a refresh token's `permissions.Actions` lists for each token action (recorded: read, write, delete, metadata/read...). */
const permissionOfAction: Record<string, string> = {
  pull: 'read',
  push: 'write',
  delete: 'delete',
  metadata_read: 'metadata/read',
  metadata_write: 'metadata/write',
};
/** Entra audiences ACR accepts at /oauth2/exchange (ACR audience, and ARM unless disabled by policy). */
export const exchangeAudiences = [
  'https://containerregistry.azure.net',
  'https://management.azure.com',
  'https://management.core.windows.net',
];

/** Who is calling: a lab identity (service principal or managed identity) or the registry's admin user. */
export interface Principal {
  kind: 'identity' | 'admin' | 'anonymous';
  /** Identity name from lab.json, or `admin:<username>`. */
  name: string;
  /** `sub` of the ACR tokens: the identity's object id or the admin username (empty for anonymous pull). */
  subject: string;
  /** The identity's client id (the `appid` claim of today's ACR tokens). */
  appId?: string;
  roles: string[];
}

/** A verified ACR access token. */
export interface AccessGrant {
  principal: Principal;
  access: ResourceScope[];
}

export type AuthorizeResult = { ok: true; grant: AccessGrant } | { ok: false };

export class AcrAuth {
  constructor(
    private readonly config: LabConfig,
    private readonly key: SigningKey,
    private readonly entra: EntraEmulator,
    /** The registries' policies (role-assignment mode, ABAC assignments); without them every registry is in legacy mode. */
    private readonly policies?: AcrPolicies,
  ) {}

  quarantineReader(principal: Principal, registry?: string, repository?: string): boolean {
    const roles = this.quarantineRoles(principal, registry, repository);
    return roles.includes('AcrQuarantineReader') || roles.includes('AcrQuarantineWriter');
  }

  quarantineWriter(principal: Principal, registry?: string, repository?: string): boolean {
    return this.quarantineRoles(principal, registry, repository).includes('AcrQuarantineWriter');
  }

  /** Whether the principal's roles (or being the admin user) allow pushing, whatever its token holds. */
  canPush(principal: Principal, registry?: string, repository?: string): boolean {
    if (registry && repository) return this.repositoryActions(principal, registry, repository).includes('push');
    return allowedRepositoryActions(principal.roles, principal.kind === 'admin').includes('push');
  }

  /**
   * The roles that count on a repository: lab.json's roles in legacy mode; in ABAC mode the ABAC assignments whose
   * condition matches, plus the quarantine roles when the policy honors them (AcrPull/AcrPush/AcrDelete grant nothing).
   */
  effectiveRoles(principal: Principal, registry: string, repository: string | undefined): string[] {
    const policy = this.abacPolicy(registry, repository);
    if (!policy) return principal.roles;
    const honored = policy.abacQuarantineRoles !== false;
    const roles = honored ? principal.roles.filter((role) => !legacyRepositoryRoles.includes(role)) : [];
    for (const assignment of policy.abacAssignments ?? []) {
      if (assignment.identity !== principal.name) continue;
      if (repository === undefined ? assignment.condition === undefined : conditionMatches(assignment.condition, repository))
        roles.push(assignment.role);
    }
    return roles.filter((role) => honored || !role.startsWith('AcrQuarantine'));
  }

  /** The repository actions the principal may do on a repository now. */
  repositoryActions(principal: Principal, registry: string, repository: string): string[] {
    return allowedRepositoryActions(this.effectiveRoles(principal, registry, repository), principal.kind === 'admin');
  }

  private quarantineRoles(principal: Principal, registry: string | undefined, repository: string | undefined): string[] {
    const policy = registry ? this.abacPolicy(registry, repository) : undefined;
    return policy?.abacQuarantineRoles === false ? [] : principal.roles;
  }

  /** The registry's policy when ABAC mode applies to this repository (all of them, or those under `abacScope`). */
  private abacPolicy(registry: string, repository: string | undefined): RegistryPolicy | undefined {
    const policy = this.policies?.get(registry);
    if (!policy || policy.roleAssignmentMode !== 'abac') return undefined;
    if (policy.abacScope && (repository === undefined || !repository.startsWith(policy.abacScope))) return undefined;
    return policy;
  }

  async handle(exchange: Exchange, registry: string): Promise<void> {
    const { req, url } = exchange;
    if (url.pathname === '/oauth2/exchange' && req.method === 'POST') return this.exchange(exchange, registry);
    if (url.pathname === '/oauth2/token' && req.method === 'POST') return this.postToken(exchange, registry);
    if (url.pathname === '/oauth2/token' && req.method === 'GET') return this.getToken(exchange, registry);
    acrError(exchange.res, 404, 'NOT_FOUND', `${req.method} ${url.pathname} is not supported by the token service.`);
  }

  /**
   * Checks the Bearer token of a /v2 or /acr/v1 request for an action on a resource. Without a valid
   * token, or with one lacking the action, it answers ACR's 401 challenge (carrying `scope`, so
   * clients know what to ask for) and returns ok: false.
   */
  authorize(exchange: Exchange, registry: string, scope: ResourceScope | undefined, acceptedActions: readonly string[]): AuthorizeResult {
    const token = bearerToken(exchange.req);
    const grant = token ? this.verifyAccessToken(registry, token) : undefined;
    // recorded today: no `error` without a token, `insufficient_scope` for a valid one lacking the action
    const error = grant ? 'insufficient_scope' : token ? 'invalid_token' : undefined;
    if (grant) exchange.identity = grant.principal.name;
    const allowed =
      grant !== undefined &&
      (scope === undefined || acceptedActions.some((action) => hasAccess(grant.access, scope.type, scope.name, action)));
    if (grant && allowed) return { ok: true, grant };
    const detail = scope ? scope.actions.map((action) => ({ Type: scope.type, Name: scope.name, Action: action })) : null;
    acrError(exchange.res, 401, 'UNAUTHORIZED', authenticationRequired, detail, {
      'WWW-Authenticate': bearerChallenge(registry, scope, error),
    });
    return { ok: false };
  }

  private async exchange(exchange: Exchange, registry: string): Promise<void> {
    const form = await readForm(exchange.req);
    exchange.form = auditForm(form);
    const grantType = form.get('grant_type');
    if (grantType !== 'access_token') {
      return acrError(exchange.res, 400, 'UNSUPPORTED_GRANT_TYPE', `grant_type '${grantType ?? ''}' is not supported; use access_token.`);
    }
    if (!this.sameService(exchange, registry, form.get('service'))) return;
    const accessToken = form.get('access_token');
    if (!accessToken) return acrError(exchange.res, 400, 'INVALID_REQUEST', 'access_token is required.');
    const checked = this.entra.verifyAccessToken(accessToken);
    if (!checked.ok) return this.unauthorized(exchange, `The Entra ID access token is not valid: ${checked.reason}.`);
    const claims = checked.claims;
    const audience = typeof claims.aud === 'string' ? claims.aud.replace(/\/+$/, '') : '';
    if (!exchangeAudiences.includes(audience))
      return this.unauthorized(exchange, `The access token has an audience ACR does not accept: ${audience}.`);
    const tenant = form.get('tenant');
    if (tenant && tenant.toLowerCase() !== String(claims.tid).toLowerCase()) {
      return this.unauthorized(exchange, `The access token was issued by tenant ${String(claims.tid)}, not ${tenant}.`);
    }
    const identity = this.config.identityByObjectId(String(claims.oid ?? ''));
    if (!identity) return this.unauthorized(exchange, 'The access token belongs to no principal of the tenant.');
    const principal = this.identityPrincipal(identity.name, identity.identity.objectId, registry);
    exchange.identity = principal.name;
    sendJson(exchange.res, 200, { refresh_token: this.refreshToken(registry, principal, tenant ?? undefined) });
  }

  private async postToken(exchange: Exchange, registry: string): Promise<void> {
    const form = await readForm(exchange.req);
    exchange.form = auditForm(form);
    if (!this.sameService(exchange, registry, form.get('service'))) return;
    const grantType = form.get('grant_type');
    let principal: Principal | undefined;
    let cap: ResourceScope[] | undefined;
    if (grantType === 'refresh_token') {
      principal = this.verifyRefreshToken(registry, form.get('refresh_token') ?? '');
    } else if (grantType === 'password') {
      // anonymous pull (recorded): grant_type=password and no credentials at all, `refresh_token=` empty or absent
      const anonymous = !form.get('username') && !form.get('password') && !form.get('refresh_token');
      const result = anonymous
        ? this.anonymous(registry)
        : this.authenticate(registry, form.get('username') ?? '', form.get('password') ?? '');
      principal = result?.principal;
      cap = result?.cap;
    } else {
      return acrError(
        exchange.res,
        400,
        'UNSUPPORTED_GRANT_TYPE',
        `grant_type '${grantType ?? ''}' is not supported; use refresh_token or password.`,
      );
    }
    if (!principal) return this.unauthorized(exchange, 'The credentials are not valid for this registry.');
    exchange.identity = principal.name;
    sendJson(exchange.res, 200, { access_token: this.accessToken(registry, principal, form.getAll('scope'), cap) });
  }

  private getToken(exchange: Exchange, registry: string): void {
    if (!this.sameService(exchange, registry, exchange.url.searchParams.get('service'))) return;
    const credentials = basicCredentials(exchange.req);
    const result = credentials ? this.authenticate(registry, credentials.username, credentials.password) : undefined;
    if (!result) return this.unauthorized(exchange, credentials ? 'The username or password is not valid.' : authenticationRequired);
    exchange.identity = result.principal.name;
    sendJson(exchange.res, 200, {
      access_token: this.accessToken(registry, result.principal, exchange.url.searchParams.getAll('scope'), result.cap),
    });
  }

  /**
   * Username/password as ACR takes them: the null GUID with an ACR refresh token (or access token,
   * whose access then caps the grant), the admin user, or a service principal's client id and secret.
   */
  private authenticate(registry: string, username: string, password: string): { principal: Principal; cap?: ResourceScope[] } | undefined {
    if (username === nullGuid) {
      const principal = this.verifyRefreshToken(registry, password);
      if (principal) return { principal };
      const grant = this.verifyAccessToken(registry, password);
      return grant ? { principal: grant.principal, cap: grant.access } : undefined;
    }
    const admin = this.config.registry(registry)?.admin;
    if (admin && username === admin.username) {
      return password === admin.password ? { principal: this.adminPrincipal(admin.username) } : undefined;
    }
    const identity = this.config.identityByClientId(username);
    if (identity && identity.identity.kind !== 'managedIdentity' && password === identity.identity.secret) {
      return { principal: this.identityPrincipal(identity.name, identity.identity.objectId, registry) };
    }
    return undefined;
  }

  private anonymous(registry: string): { principal: Principal; cap?: ResourceScope[] } | undefined {
    if (!this.config.registry(registry)?.anonymousPull) return undefined;
    return { principal: this.anonymousPrincipal() };
  }

  private refreshToken(registry: string, principal: Principal, tenant?: string): string {
    const actions = allowedRepositoryActions(principal.roles, principal.kind === 'admin');
    return this.sign(registry, principal, 'refresh_token', refreshTokenLifetimeSeconds, {
      ...(tenant ? { tenant } : {}),
      permissions: { Actions: actions.map((action) => permissionOfAction[action] ?? action), NotActions: null },
    });
  }

  private accessToken(registry: string, principal: Principal, scopeValues: string[], cap?: ResourceScope[]): string {
    const admin = principal.kind === 'admin';
    const catalogRoles = this.effectiveRoles(principal, registry, undefined);
    const catalog =
      allowedRepositoryActions(catalogRoles, admin).includes('metadata_read') ||
      catalogRoles.includes('Container Registry Repository Catalog Lister');
    let access = grantScopesPerRepository(
      parseScopes(scopeValues),
      (repository) => this.repositoryActions(principal, registry, repository),
      catalog,
    );
    if (cap) {
      access = access.map((entry) => ({
        ...entry,
        actions: entry.actions.filter((action) => hasAccess(cap, entry.type, entry.name, action)),
      }));
    }
    return this.sign(registry, principal, 'access_token', accessTokenLifetimeSeconds, { access: accessClaim(access) });
  }

  /**
   * The claims live ACR puts in its tokens today (2023 recordings, test/conformance/recordings): RBAC roles are never
   * in the token (`roles: []`), `appid` names the client, the refresh token adds `permissions` (and `tenant` when the
   * exchange named one), the access token adds `access`. Signed with the emulator's ACR key and a libtrust-style kid.
   */
  private sign(registry: string, principal: Principal, grantType: string, lifetime: number, extra: JwtClaims): string {
    const now = nowSeconds();
    const claims: JwtClaims = {
      jti: newJwtId(),
      sub: principal.subject,
      nbf: now - notBeforeSkewSeconds,
      exp: now + lifetime,
      iat: now - notBeforeSkewSeconds,
      iss: 'Azure Container Registry',
      aud: registry,
      version: '1.0',
      rid: registryId(registry),
      grant_type: grantType,
      ...(principal.appId ? { appid: principal.appId } : {}),
      ...extra,
      roles: [],
    };
    return signJwt(claims, this.key.privateKey, { kid: libtrustKeyId(this.key.publicKey) });
  }

  private verifyRefreshToken(registry: string, token: string): Principal | undefined {
    const claims = this.verifyOwnToken(registry, token, 'refresh_token');
    return claims ? this.principalOf(registry, claims) : undefined;
  }

  verifyAccessToken(registry: string, token: string): AccessGrant | undefined {
    const claims = this.verifyOwnToken(registry, token, 'access_token');
    const principal = claims ? this.principalOf(registry, claims) : undefined;
    if (!claims || !principal) return undefined;
    return { principal, access: accessOf(claims) };
  }

  private verifyOwnToken(registry: string, token: string, grantType: string): JwtClaims | undefined {
    const jwt = decodeJwt(token);
    if (!jwt || jwt.header.alg !== 'RS256' || !verifySignature(jwt, this.key.publicKey)) return undefined;
    if (jwt.claims.aud !== registry || jwt.claims.grant_type !== grantType) return undefined;
    return checkLifetime(jwt.claims, nowSeconds(), 0) === 'valid' ? jwt.claims : undefined;
  }

  /** The principal behind a token's subject, with the roles it holds now (role changes apply at once). */
  private principalOf(registry: string, claims: JwtClaims): Principal | undefined {
    const subject = String(claims.sub ?? '');
    if (subject === '' && this.config.registry(registry)?.anonymousPull) return this.anonymousPrincipal();
    const admin = this.config.registry(registry)?.admin;
    if (admin && subject === admin.username) return this.adminPrincipal(subject);
    const identity = this.config.identityByObjectId(subject);
    return identity ? this.identityPrincipal(identity.name, identity.identity.objectId, registry) : undefined;
  }

  private identityPrincipal(name: string, objectId: string, registry: string): Principal {
    const identity = this.config.identityByName(name);
    return {
      kind: 'identity',
      name,
      subject: objectId,
      appId: identity?.identity.clientId,
      roles: identity ? this.config.rolesOf(identity.identity, registry) : [],
    };
  }

  /** Anonymous pull (a registry with `anonymousPull`): pull and read, on every repository. */
  private anonymousPrincipal(): Principal {
    return { kind: 'anonymous', name: 'anonymous', subject: '', roles: ['AcrPull'] };
  }

  private adminPrincipal(username: string): Principal {
    return { kind: 'admin', name: `admin:${username}`, subject: username, roles: [] };
  }

  private sameService(exchange: Exchange, registry: string, service: string | null): boolean {
    if (!service || service.toLowerCase() === registry) return true;
    acrError(exchange.res, 400, 'INVALID_REQUEST', `service '${service}' does not match this registry (${registry}).`);
    return false;
  }

  private unauthorized(exchange: Exchange, message: string): void {
    acrError(exchange.res, 401, 'UNAUTHORIZED', message);
  }
}

/** ACR's `rid` claim: a registry id of 32 hex digits (stable per login server in the lab). */
export function registryId(registry: string): string {
  return createHash('sha256').update(registry).digest('hex').slice(0, 32);
}

/**
 * The key id ACR's tokens carry: libtrust's form, the base32 of the first 240 bits of the SHA-256 of the public
 * key's DER, in 12 groups of 4 joined by ':' (recorded: `ZBVY:BXAN:...:YGUD`).
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const hash = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const byte of hash) bits += byte.toString(2).padStart(8, '0');
  let encoded = '';
  for (let i = 0; i < bits.length; i += 5) encoded += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  return encoded.match(/.{4}/g)!.join(':');
}
