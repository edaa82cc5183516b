// Signing in to a registry from a service connection. Azure connections: an Entra ID token for ACR's audience
// is exchanged at POST /oauth2/exchange for an ACR refresh token, which docker and the registry clients use with
// the zero-GUID user (ACR docs/AAD-OAuth.md; what Docker@2 does). Docker registry connections give their user
// and password directly (ACR admin user, ACR tokens, other registries).
import type { TokenCredential } from '@azure/identity';
import { armTarget } from '../azure/arm';
import {
  type AzureConnection,
  ConnectionError,
  type OidcContext,
  armScopeOf,
  credentialPlan,
  describeCredentialKind,
  requiredParameter,
} from '../azure/connection';
import { type HttpClient, type HttpRequest, type HttpResponse, fetchClient, networkErrorCode } from '../http/client';
import type { AgentNetwork } from '../http/proxy';
import type { Logger } from '../log';
import { ACR_TOKEN_USERNAME, type RegistryCredentials } from '../registry/credentials';
import { RegistryError } from '../registry/errors';
import { isDockerHub, validateLoginServer } from '../registry/reference';
import { formPost, sendTokenRequest } from '../registry/token-request';
import type { RetryPolicy } from '../util/retry';
import { type AccessNeed, type ModeKnowledge, type PermissionNeeds, PermissionError, checkPermissions, describeMissing } from './preflight';
import { roleAssignmentModeFromArm } from './role-assignment-mode';

/** The Entra ID scope of ACR's own audience (preferred: registries may refuse ARM-audience tokens). */
export const ACR_SCOPE = 'https://containerregistry.azure.net/.default';

export type RegistryConnection =
  { kind: 'azure'; azure: AzureConnection; oidc?: OidcContext } | { kind: 'dockerRegistry'; docker: AzureConnection; oidc?: OidcContext };

export type { RepositoryAction } from './preflight';

export interface SignInOptions {
  /** Login server, e.g. contoso.azurecr.io. */
  registry: string;
  connection: RegistryConnection;
  http?: HttpClient;
  /** The agent's proxy and certificates: Entra ID (through `http`) and the OIDC request of Azure DevOps take them. */
  network?: AgentNetwork;
  logger?: Logger;
  retry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  /** Entra ID scope to ask for; default ACR's audience. */
  scope?: string;
  /** Use this credential instead of the one the connection describes (tests; callers that hold one). */
  credential?: TokenCredential;
  /**
   * Check at sign-in that the identity may do these actions on this repository (an access token is asked for
   * and its grant read), so a missing role fails now with the role to assign, not halfway through a build.
   */
  checkAccess?: AccessNeed | PermissionNeeds;
  /**
   * The registry's role-assignment mode, for naming the role a preflight finds missing. By default it is read from
   * Resource Manager with an AzureRM connection once the preflight has found something missing (unknown when it
   * cannot be read, or with another kind of connection: both kinds of role are then named).
   */
  roleAssignmentMode?: ModeKnowledge;
}

export interface SignedIn {
  credentials: RegistryCredentials;
  /** Every secret value obtained (tokens, passwords, keys), for the shell to register with setSecret. */
  secrets: string[];
  /** How the sign-in went, for a log line: e.g. "Entra ID (workload identity federation) -> ACR refresh token". */
  method: string;
}

export async function signInToRegistry(options: SignInOptions): Promise<SignedIn> {
  const registry = validateLoginServer(options.registry.trim().toLowerCase());
  const { connection } = options;
  if (connection.kind === 'azure') return signInWithEntra(registry, connection.azure, connection.oidc, options);

  const docker = connection.docker;
  const isAcr = (docker.data('registrytype') ?? '').toLowerCase() === 'acr';
  const connectionRegistry = registryOfConnection(docker);
  if (connectionRegistry && connectionRegistry !== registry && !(isDockerHub(connectionRegistry) && isDockerHub(registry))) {
    throw new ConnectionError(
      docker,
      `it is for the registry '${connectionRegistry}', not '${registry}'; choose a connection for ${registry} or set the registry to ${connectionRegistry}.`,
    );
  }
  const scheme = docker.scheme.trim().toLowerCase();
  if (isAcr && (scheme === 'workloadidentityfederation' || scheme === 'managedserviceidentity')) {
    return signInWithEntra(registry, docker, connection.oidc, options);
  }
  const [username, password] = isAcr
    ? [
        requiredParameter(docker, 'serviceprincipalid', 'the service principal id'),
        requiredParameter(docker, 'serviceprincipalkey', 'the service principal key'),
      ]
    : [requiredParameter(docker, 'username', 'the user name'), requiredParameter(docker, 'password', 'the password')];
  const secrets = [password];
  const credentials: RegistryCredentials = { registry, username, password };
  // The preflight names ACR roles, so it runs for ACR connections only; other registries show their rights as the run goes.
  if (options.checkAccess && isAcr) {
    const token = await checkAccess(credentials, options.checkAccess, docker, options, undefined);
    if (token) secrets.push(token);
  }
  return {
    credentials,
    secrets,
    method: isAcr ? 'Docker registry connection (ACR, service principal)' : 'Docker registry connection (user name and password)',
  };
}

/** The login server a docker-registry connection is for (ACR: loginServer; others: the registry URL's host). */
export function registryOfConnection(connection: AzureConnection): string | undefined {
  const text = connection.parameters.loginserver || connection.parameters.registry || connection.url;
  if (!text?.trim()) return undefined;
  const host = text
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return isDockerHub(host) ? 'docker.io' : host;
}

async function signInWithEntra(
  registry: string,
  connection: AzureConnection,
  oidc: OidcContext | undefined,
  options: SignInOptions,
): Promise<SignedIn> {
  const secrets: string[] = [];
  const remember = (secret: string) => {
    if (secret && !secrets.includes(secret)) secrets.push(secret);
  };
  const plan = credentialPlan(connection);
  // @azure/identity is loaded only here, on the one path that needs it: the tasks start faster without it. A require,
  // not import(): the bundle defers either, but Node's own import() cannot load a .ts file under tsx/cjs (the tests).
  const load = () => require('../azure/credential') as typeof import('../azure/credential'); // eslint-disable-line @typescript-eslint/no-require-imports
  const credential =
    options.credential ??
    load().azureCredential(connection, {
      oidc,
      logger: options.logger,
      onSecret: remember,
      ...(options.network ? { network: options.network, http: options.http } : {}),
    });
  // ACR's own audience first (registries may refuse ARM tokens); the connection's ARM audience when the cloud or
  // the registry does not know ACR's (sovereign clouds), as Docker@2 signs in.
  const arm = armScopeOf(connection);
  const scopes = options.scope ? [options.scope] : [ACR_SCOPE, ...(arm && arm !== ACR_SCOPE ? [arm] : [])];
  let refreshToken: string | undefined;
  for (const [i, scope] of scopes.entries()) {
    try {
      const entraToken = await credential.getToken(scope);
      if (!entraToken) throw new ConnectionError(connection, 'Entra ID returned no token.');
      remember(entraToken.token);
      refreshToken = await exchangeForRefreshToken(registry, entraToken.token, plan.tenantId, connection, options);
      break;
    } catch (error) {
      if (i === scopes.length - 1 || !(error instanceof ConnectionError) || error.reason !== 'audience') throw error;
      options.logger?.warn(
        `${registry}: a token for ${scope.replace('/.default', '')} was refused (${error.message}); trying ${scopes[i + 1].replace('/.default', '')}.`,
      );
    }
  }
  if (!refreshToken) throw new ConnectionError(connection, `${registry} gave no refresh token.`);
  remember(refreshToken);
  const credentials: RegistryCredentials = { registry, username: ACR_TOKEN_USERNAME, password: refreshToken };
  if (options.checkAccess) {
    // Only an AzureRM connection can ask Resource Manager (its subscription and ARM audience).
    const lookupMode =
      options.connection.kind === 'azure'
        ? async (): Promise<ModeKnowledge> => {
            const target = armTarget(connection, credential, remember);
            if (!target) return { reason: 'the service connection names no subscription to read it from' };
            return roleAssignmentModeFromArm(registry, target, { http: options.http, logger: options.logger });
          }
        : undefined;
    remember(await checkAccess(credentials, options.checkAccess, connection, options, lookupMode));
  }
  return { credentials, secrets, method: `Entra ID (${describeCredentialKind(plan.kind, 'short')}) -> ACR refresh token` };
}

/** POST /oauth2/exchange: Entra ID access token -> ACR refresh token. */
async function exchangeForRefreshToken(
  registry: string,
  accessToken: string,
  tenantId: string | undefined,
  connection: AzureConnection,
  options: SignInOptions,
): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'access_token', service: registry });
  if (tenantId) form.set('tenant', tenantId);
  form.set('access_token', accessToken);
  const response = await send(formPost(`https://${registry}/oauth2/exchange`, form), options, `${registry}: token exchange`).catch(
    (error: unknown) => {
      throw explainExchangeFailure(registry, connection, error);
    },
  );
  let refreshToken: string | undefined;
  try {
    refreshToken = response.json<{ refresh_token?: string }>().refresh_token;
  } catch {
    // handled below
  }
  if (!refreshToken) {
    throw new ConnectionError(
      connection,
      `${registry} answered the token exchange without a refresh token; is it an Azure Container Registry?`,
    );
  }
  return refreshToken;
}

function explainExchangeFailure(registry: string, connection: AzureConnection, error: unknown): Error {
  if (error instanceof RegistryError) {
    const said = error.registryMessage ?? error.code ?? '';
    if (error.status === 404 || error.status === 405) {
      return new ConnectionError(
        connection,
        `${registry} is not an Azure Container Registry: it has no token exchange (POST /oauth2/exchange answered ${error.status}). Use a Docker registry service connection for it.`,
      );
    }
    if (error.status === 401 || error.status === 403) {
      if (/audience|aud\b/i.test(said)) {
        return new ConnectionError(
          connection,
          `${registry} refused the Entra ID token because of its audience (${said}). The token must be for ${ACR_SCOPE.replace('/.default', '')} (or the cloud's ARM resource, unless the registry refuses ARM-audience tokens).`,
          'audience',
        );
      }
      return new ConnectionError(
        connection,
        `${registry} refused the Entra ID token (${error.status}${said ? `: ${said}` : ''}). The identity must belong to the registry's tenant and the registry must allow Entra ID authentication.`,
      );
    }
    return new ConnectionError(connection, `the token exchange at ${registry} failed: ${error.message}`);
  }
  const code = networkErrorCode(error);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ECONNREFUSED') {
    return new ConnectionError(connection, `cannot reach ${registry} (${code}); check the registry name and the agent's network.`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The permission preflight at sign-in (src/acr/preflight.ts): a missing role fails now, named for the registry's mode
 * (given, else asked with lookupMode, else unknown).
 */
async function checkAccess(
  credentials: RegistryCredentials,
  wanted: AccessNeed | PermissionNeeds,
  connection: AzureConnection,
  options: SignInOptions,
  lookupMode: (() => Promise<ModeKnowledge>) | undefined,
): Promise<string> {
  const needs: PermissionNeeds = 'access' in wanted ? wanted : { access: [wanted] };
  try {
    const result = await checkPermissions(needs, {
      registry: credentials.registry,
      credentials,
      mode: options.roleAssignmentMode,
      http: options.http,
      logger: options.logger,
      retry: options.retry,
      sleep: options.sleep,
    });
    return result.token ?? '';
  } catch (error) {
    if (error instanceof PermissionError) {
      const mode =
        error.mode.mode || options.roleAssignmentMode
          ? error.mode
          : lookupMode
            ? await lookupMode().catch((): ModeKnowledge => error.mode)
            : { reason: 'a Docker registry service connection cannot read it from Resource Manager' };
      throw new ConnectionError(connection, `its identity ${describeMissing(error.registry, error.missing, mode)}`);
    }
    throw new ConnectionError(connection, error instanceof Error ? error.message : String(error));
  }
}

function send(request: HttpRequest, options: SignInOptions, what: string): Promise<HttpResponse> {
  return sendTokenRequest(request, what, { ...options, http: options.http ?? fetchClient });
}
