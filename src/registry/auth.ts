// The Docker registry token flow (distribution's token spec, ACR's docs/AAD-OAuth.md and Token-BasicAuth.md):
// a request answered 401 with `WWW-Authenticate: Bearer realm=..,service=..,scope=..` is retried once with a
// token from the realm. ACR refresh tokens (zero-GUID user) are traded with the POST refresh_token grant ACR
// documents; other users use GET with Basic, as docker does; `Basic` challenges get Basic.
import { type HttpClient, type HttpRequest, type HttpResponse, fetchClient, redactUrl } from '../http/client';
import type { Logger } from '../log';
import type { RetryPolicy } from '../util/retry';
import { ACR_TOKEN_USERNAME, type RegistryCredentials } from './credentials';
import { parseChallenges } from './challenge';
import { RegistryError } from './errors';
import { refreshTokenGrant, sendTokenRequest } from './token-request';

export { type AuthChallenge, parseChallenges } from './challenge';

/** The registry's answer at the token realm (distribution token spec; ACR answers access_token only). */
interface TokenAnswer {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
}

interface CachedToken {
  authorization: string;
  /** Milliseconds since epoch after which the token is not used any more (expiry minus a margin). */
  renewAt: number;
}

type Authorization = { kind: 'basic' } | { kind: 'bearer'; realm: string; service?: string; scopes: string[] };

export interface TokenAuthenticatorOptions {
  /** Omit for anonymous access (public repositories). */
  credentials?: RegistryCredentials;
  http?: HttpClient;
  retry?: RetryPolicy;
  logger?: Logger;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_TOKEN_LIFETIME_S = 60; // distribution token spec: when expires_in is absent
const MAX_RENEW_MARGIN_MS = 5 * 60_000;

/**
 * Answers registry challenges and caches what it learned: per request key (a caller's name for a kind of
 * request, e.g. `pull team/app`) the scope the registry asked for, and per scope the token until its expiry.
 */
export class TokenAuthenticator {
  private readonly http: HttpClient;
  private readonly now: () => number;
  private readonly byKey = new Map<string, Authorization>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(private readonly options: TokenAuthenticatorOptions = {}) {
    this.http = options.http ?? fetchClient;
    this.now = options.now ?? Date.now;
  }

  get credentials(): RegistryCredentials | undefined {
    return this.options.credentials;
  }

  /** The Authorization header to send for a request of this key, when a challenge taught us one. */
  async authorization(key: string): Promise<string | undefined> {
    const known = this.byKey.get(key);
    if (!known) return undefined;
    if (known.kind === 'basic') return this.basic();
    return (await this.bearer(known, false)).authorization;
  }

  /**
   * Learns from a 401's WWW-Authenticate and returns the Authorization to retry with; undefined when the
   * challenge cannot be answered (no header, unknown scheme, Basic without credentials).
   * A fresh token is always fetched: the cached one (if any) was just refused.
   */
  async answer(key: string, wwwAuthenticate: string | null | undefined, extraScopes: readonly string[] = []): Promise<string | undefined> {
    const challenges = parseChallenges(wwwAuthenticate ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      const scopes = (bearer.params.scope ?? '').split(' ').filter(Boolean);
      for (const scope of extraScopes) if (!scopes.includes(scope)) scopes.push(scope);
      const authorization: Authorization = {
        kind: 'bearer',
        realm: bearer.params.realm,
        service: bearer.params.service,
        scopes,
      };
      this.byKey.set(key, authorization);
      return (await this.bearer(authorization, true)).authorization;
    }
    if (challenges.some((c) => c.scheme === 'basic') && this.options.credentials) {
      this.byKey.set(key, { kind: 'basic' });
      return this.basic();
    }
    return undefined;
  }

  /**
   * A fresh access token for these scopes at a realm (the permission preflight: one request covering every
   * repository a run needs). The raw token, for reading its grant; it is a secret.
   */
  async accessToken(realm: string, service: string | undefined, scopes: string[]): Promise<string> {
    const token = await this.bearer({ kind: 'bearer', realm, service, scopes }, true);
    return token.authorization.replace(/^Bearer /, '');
  }

  private basic(): string {
    const { username, password } = this.options.credentials!;
    return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  private async bearer(authorization: Extract<Authorization, { kind: 'bearer' }>, fresh: boolean): Promise<CachedToken> {
    const cacheKey = JSON.stringify([authorization.realm, authorization.service, [...authorization.scopes].sort()]);
    const cached = this.tokens.get(cacheKey);
    if (!fresh && cached && cached.renewAt > this.now()) return cached;
    let inFlight = this.pending.get(cacheKey);
    if (!inFlight) {
      inFlight = this.fetchToken(authorization).finally(() => this.pending.delete(cacheKey));
      this.pending.set(cacheKey, inFlight);
    }
    const token = await inFlight;
    this.tokens.set(cacheKey, token);
    return token;
  }

  private async fetchToken(authorization: Extract<Authorization, { kind: 'bearer' }>): Promise<CachedToken> {
    this.checkRealm(authorization.realm);
    const request = this.tokenRequest(authorization);
    const scopes = authorization.scopes.join(' ') || '(no scope)';
    this.options.logger?.debug(`Asking ${redactUrl(authorization.realm)} for a registry token: ${scopes}`);
    const response = await sendTokenRequest(request, "The registry's token service", { ...this.options, http: this.http }, (answer) =>
      this.refusal(authorization, answer),
    );
    let answer: TokenAnswer;
    try {
      answer = response.json<TokenAnswer>();
    } catch {
      throw new Error(`The registry's token service at ${redactUrl(authorization.realm)} answered something that is not JSON.`);
    }
    const token = answer.access_token ?? answer.token;
    if (!token) throw new Error(`The registry's token service at ${redactUrl(authorization.realm)} answered without a token.`);
    return { authorization: `Bearer ${token}`, renewAt: this.renewAt(token, answer) };
  }

  /**
   * A challenge decides where credentials go, so it is checked first: never over plain http (except loopback),
   * and an ACR refresh token only to the registry's own token service, where ACR's realm always is.
   */
  private checkRealm(realm: string): void {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new Error(`The registry's challenge names a token realm that is not a URL: '${realm.slice(0, 100)}'.`);
    }
    const credentials = this.options.credentials;
    if (!credentials) return;
    if (url.protocol !== 'https:' && !isLoopbackHost(url.hostname)) {
      throw new Error(
        `The registry ${credentials.registry} asks for credentials over plain http (${redactUrl(realm)}); refusing to send them.`,
      );
    }
    if (credentials.username === ACR_TOKEN_USERNAME && url.host.toLowerCase() !== credentials.registry.toLowerCase()) {
      throw new Error(
        `The registry ${credentials.registry} sends its token requests to another host (${url.host}); refusing to send an ACR refresh token there.`,
      );
    }
  }

  private tokenRequest(authorization: Extract<Authorization, { kind: 'bearer' }>): HttpRequest {
    const credentials = this.options.credentials;
    const params = new URLSearchParams();
    if (credentials?.username === ACR_TOKEN_USERNAME)
      return refreshTokenGrant(authorization.realm, authorization.service, authorization.scopes, credentials.password);
    if (authorization.service) params.set('service', authorization.service);
    for (const scope of authorization.scopes) params.append('scope', scope);
    const url = new URL(authorization.realm);
    for (const [name, value] of params) url.searchParams.append(name, value);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (credentials) headers.Authorization = this.basic();
    return { method: 'GET', url: url.toString(), headers };
  }

  private refusal(authorization: Extract<Authorization, { kind: 'bearer' }>, response: HttpResponse): string {
    const who = this.options.credentials
      ? this.options.credentials.username === ACR_TOKEN_USERNAME
        ? 'the ACR refresh token'
        : `the user '${this.options.credentials.username}'`
      : 'an anonymous client';
    const error = new RegistryError({ method: 'GET', url: authorization.realm }, response);
    const detail = error.registryMessage ?? error.code ?? '';
    const reason = response.status === 401 || response.status === 403 ? `refused ${who}` : `answered ${response.status} to ${who}`;
    return `The registry's token service at ${redactUrl(authorization.realm)} ${reason}${detail ? `: ${detail}` : ''}.`;
  }

  private renewAt(token: string, answer: TokenAnswer): number {
    const now = this.now();
    const exp = jwtExpiry(token);
    const expiresAt =
      exp !== undefined
        ? exp * 1000
        : (answer.issued_at ? Date.parse(answer.issued_at) || now : now) + (answer.expires_in ?? DEFAULT_TOKEN_LIFETIME_S) * 1000;
    const lifetime = Math.max(0, expiresAt - now);
    return expiresAt - Math.min(MAX_RENEW_MARGIN_MS, lifetime / 2);
  }
}

/** The `exp` claim (seconds) of a JWT, without verifying it; undefined for an opaque token. */
export function jwtExpiry(token: string): number | undefined {
  const claims = jwtClaims(token);
  return typeof claims?.exp === 'number' ? claims.exp : undefined;
}

/** The claims of a JWT, without verifying it (for reading what a token grants, never for trusting it). */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** One entry of a registry access token's `access` claim (distribution token spec). */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

/**
 * The `access` entries of a registry access token, read without verifying it, whatever the case of their keys:
 * ACR wrote `type/name/actions` until 2021 and writes `Type/Name/Actions` today (test/conformance/recordings).
 * A missing or malformed claim reads as no access.
 */
export function tokenAccess(token: string): TokenAccess[] {
  return accessEntries(jwtClaims(token) ?? {});
}

/** The `access` entries of a token's claims, keys of either case (see tokenAccess). */
export function accessEntries(claims: Record<string, unknown>): TokenAccess[] {
  const access = claims.access;
  if (!Array.isArray(access)) return [];
  return access.flatMap((entry: unknown) => {
    if (!entry || typeof entry !== 'object') return [];
    const fields = new Map(Object.entries(entry).map(([key, value]) => [key.toLowerCase(), value as unknown]));
    const actions = fields.get('actions');
    return [
      {
        type: String(fields.get('type') ?? ''),
        name: String(fields.get('name') ?? ''),
        actions: Array.isArray(actions) ? actions.filter((action): action is string => typeof action === 'string') : [],
      },
    ];
  });
}

/**
 * Sends a request with what the authenticator knows for `key` (default: the request's host), answers one
 * challenge and retries once. A 401 it cannot answer is returned to the caller as is.
 */
export async function authorizedRequest(
  http: HttpClient,
  request: HttpRequest,
  authenticator: TokenAuthenticator,
  key: string = new URL(request.url).host,
  /** Scopes to ask beside the challenge's (a cross-repository mount also needs pull on the source). */
  extraScopes: readonly string[] = [],
): Promise<HttpResponse> {
  const first = await authenticator.authorization(key);
  const response = await http(withAuthorization(request, first));
  if (response.status !== 401) return response;
  const next = await authenticator.answer(key, response.headers.get('www-authenticate'), extraScopes);
  if (!next) return response;
  return http(withAuthorization(request, next));
}

export function withAuthorization(request: HttpRequest, authorization: string | undefined): HttpRequest {
  if (!authorization) return request;
  return { ...request, headers: { ...request.headers, Authorization: authorization } };
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
