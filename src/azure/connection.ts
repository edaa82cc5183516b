// Entra ID credentials from an Azure Resource Manager service connection, for every scheme users have:
// service principal with a secret or a certificate, workload identity federation (the Azure DevOps OIDC token
// as client assertion) and managed identity. The authority comes from the connection, so sovereign clouds and
// the lab's own Entra emulator take the same path.
import {
  type AccessToken,
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  type GetTokenOptions,
  ManagedIdentityCredential,
  type TokenCredential,
  type TokenCredentialOptions,
} from '@azure/identity';
import { TaskApi } from 'azure-devops-node-api/TaskApi';
import { BearerCredentialHandler } from 'azure-devops-node-api/handlers/bearertoken';
import { PersonalAccessTokenCredentialHandler } from 'azure-devops-node-api/handlers/personalaccesstoken';
import type { Logger } from '../log';
import { jwtExpiry } from '../registry/auth';
import { type RetryPolicy, retry } from '../util/retry';

/** A service connection as the agent describes it; src/pipeline's ServiceConnection satisfies it. */
export interface AzureConnection {
  id: string;
  scheme: string;
  /** Authorization parameters, keys in lower case. */
  parameters: Readonly<Record<string, string>>;
  /** A data parameter (environmentAuthorityUrl, msiclientId, registrytype, ...). */
  data(key: string): string | undefined;
  url?: string;
}

/** What the OIDC token request of workload identity federation needs from the running job. */
export interface OidcContext {
  /** System.CollectionUri, e.g. https://dev.azure.com/contoso/ */
  collectionUri: string;
  /** System.TeamProjectId */
  projectId: string;
  /** System.HostType (build, release, ...) */
  hostType: string;
  planId: string;
  jobId: string;
  /** System.AccessToken */
  accessToken: string;
}

export type CredentialKind = 'secret' | 'certificate' | 'federated' | 'managedIdentity';

/** How a connection signs in: decided from the connection alone, before anything is sent. */
export interface CredentialPlan {
  kind: CredentialKind;
  scheme: string;
  tenantId?: string;
  clientId?: string;
  authorityHost: string;
  /** MSAL asks an instance-discovery endpoint about authorities it does not know; only Microsoft's clouds have it. */
  disableInstanceDiscovery: boolean;
}

export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

const MICROSOFT_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
  'login.microsoftonline.us',
  'login.usgovcloudapi.net',
  'login-us.microsoftonline.com',
  'login.microsoftonline.de',
]);

export class ConnectionError extends Error {
  constructor(
    connection: Pick<AzureConnection, 'id' | 'scheme'>,
    problem: string,
    /** `audience`: the token's resource was refused (by Entra ID or the registry); another audience may work. */
    readonly reason?: 'audience',
  ) {
    super(`Service connection '${connection.id}'${connection.scheme ? ` (${connection.scheme})` : ''}: ${problem}`);
    this.name = 'ConnectionError';
  }
}

/** The ARM resource of an Azure Resource Manager connection as an Entra ID scope (what Docker@2 asks ACR with). */
export function armScopeOf(connection: AzureConnection): string | undefined {
  const resource = connection.data('activeDirectoryServiceEndpointResourceId') ?? connection.url;
  if (!resource?.trim() || !/^https:\/\//i.test(resource.trim())) return undefined;
  return `${resource.trim().replace(/\/+$/, '')}/.default`;
}

function required(connection: AzureConnection, key: string, what: string): string {
  const value = connection.parameters[key.toLowerCase()]?.trim();
  if (!value) throw new ConnectionError(connection, `the authorization parameter '${key}' (${what}) is missing; edit the service connection and set it.`);
  return value;
}

/** The authority host of a connection: environmentAuthorityUrl, then activeDirectoryAuthority, then public cloud. */
export function authorityHostOf(connection: AzureConnection): string {
  const configured = connection.data('environmentAuthorityUrl') ?? connection.data('activeDirectoryAuthority');
  if (!configured?.trim()) return DEFAULT_AUTHORITY_HOST;
  let url: URL;
  try {
    url = new URL(configured.trim());
  } catch {
    throw new ConnectionError(connection, `its authority URL '${configured}' is not a URL.`);
  }
  if (url.protocol !== 'https:') throw new ConnectionError(connection, `its authority URL '${configured}' must use https.`);
  return url.origin;
}

export function isMicrosoftAuthority(authorityHost: string): boolean {
  return MICROSOFT_AUTHORITY_HOSTS.has(new URL(authorityHost).hostname.toLowerCase());
}

/** Which credential a connection needs, and its ids; errors name the connection and what is missing. */
export function credentialPlan(connection: AzureConnection): CredentialPlan {
  const scheme = connection.scheme.trim().toLowerCase();
  const authorityHost = authorityHostOf(connection);
  const base = { scheme: connection.scheme, authorityHost, disableInstanceDiscovery: !isMicrosoftAuthority(authorityHost) };
  switch (scheme) {
    case 'serviceprincipal':
    case '': {
      // A connection without a scheme is a service principal (azure-arm-rest does the same).
      const tenantId = required(connection, 'tenantid', 'the directory (tenant) id');
      const clientId = required(connection, 'serviceprincipalid', 'the application (client) id');
      const type = (connection.parameters.authenticationtype ?? 'spnKey').trim().toLowerCase();
      if (type === 'spnkey' || type === '') {
        required(connection, 'serviceprincipalkey', 'the client secret');
        return { ...base, kind: 'secret', tenantId, clientId };
      }
      if (type === 'spncertificate') {
        required(connection, 'servicePrincipalCertificate', 'the PEM certificate with its private key');
        return { ...base, kind: 'certificate', tenantId, clientId };
      }
      throw new ConnectionError(connection, `authenticationType '${connection.parameters.authenticationtype}' is not supported; use spnKey or spnCertificate.`);
    }
    case 'workloadidentityfederation':
      return {
        ...base,
        kind: 'federated',
        tenantId: required(connection, 'tenantid', 'the directory (tenant) id'),
        clientId: required(connection, 'serviceprincipalid', 'the application (client) id'),
      };
    case 'managedserviceidentity':
      return { ...base, kind: 'managedIdentity', tenantId: connection.parameters.tenantid || undefined, clientId: connection.data('msiclientId')?.trim() || undefined };
    default:
      throw new ConnectionError(
        connection,
        `the scheme '${connection.scheme}' is not supported; use an Azure Resource Manager connection with workload identity federation, a service principal (secret or certificate) or a managed identity.`,
      );
  }
}

export interface AzureCredentialOptions {
  /** Needed for workload identity federation unless the connection carries a late-bound idToken. */
  oidc?: OidcContext;
  logger?: Logger;
  /** Called with every secret the credential obtains (the OIDC token), for the shell to register. */
  onSecret?: (secret: string) => void;
  /** Retries of the OIDC token request (default 3 tries, 2 s apart, as Microsoft's tasks do). */
  oidcRetry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  /** The HTTP client @azure/identity sends through (tests answer Entra ID's requests with it). */
  identityHttpClient?: TokenCredentialOptions['httpClient'];
}

/** A TokenCredential for the connection; a failure to get a token names the connection and the likely fix. */
export function azureCredential(connection: AzureConnection, options: AzureCredentialOptions = {}): ConnectionCredential {
  const plan = credentialPlan(connection);
  const assertionFailure: { error?: Error } = {};
  const identityOptions = {
    authorityHost: plan.authorityHost,
    disableInstanceDiscovery: plan.disableInstanceDiscovery,
    ...(options.identityHttpClient ? { httpClient: options.identityHttpClient } : {}),
  };
  let inner: TokenCredential;
  switch (plan.kind) {
    case 'secret':
      inner = new ClientSecretCredential(plan.tenantId!, plan.clientId!, connection.parameters.serviceprincipalkey, identityOptions);
      break;
    case 'certificate':
      inner = new ClientCertificateCredential(plan.tenantId!, plan.clientId!, { certificate: connection.parameters.serviceprincipalcertificate }, identityOptions);
      break;
    case 'federated': {
      const idToken = connection.parameters.idtoken?.trim();
      if (!idToken && !options.oidc) {
        throw new ConnectionError(connection, 'workload identity federation needs the job\'s OIDC token: System.AccessToken is not available to this task (allow scripts to access the OAuth token, or map System.AccessToken).');
      }
      const oidc = options.oidc;
      // MSAL asks for the assertion more than once per token; one OIDC token serves until shortly before it expires.
      let cached: { token: string; renewAt: number } | undefined;
      const getAssertion = async (): Promise<string> => {
        if (idToken) {
          options.onSecret?.(idToken);
          return idToken;
        }
        if (!cached || cached.renewAt <= Date.now()) {
          let token: string;
          try {
            token = await requestOidcToken(connection, oidc!, options);
          } catch (error) {
            // @azure/identity rewraps what getAssertion throws; keep ours, which says what to fix.
            assertionFailure.error = error as Error;
            throw error;
          }
          const exp = jwtExpiry(token);
          cached = { token, renewAt: exp === undefined ? Date.now() + 60_000 : exp * 1000 - 60_000 };
          options.onSecret?.(token);
        }
        return cached.token;
      };
      inner = new ClientAssertionCredential(plan.tenantId!, plan.clientId!, getAssertion, identityOptions);
      break;
    }
    case 'managedIdentity':
      inner = new ManagedIdentityCredential({
        ...(plan.clientId ? { clientId: plan.clientId } : {}),
        ...(options.identityHttpClient ? { httpClient: options.identityHttpClient } : {}),
      });
      break;
  }
  return new ConnectionCredential(connection, plan, inner, options.logger, assertionFailure);
}

/** The credential of a connection: getToken failures say which connection failed and what to check. */
export class ConnectionCredential implements TokenCredential {
  constructor(
    readonly connection: Pick<AzureConnection, 'id' | 'scheme'>,
    readonly plan: CredentialPlan,
    readonly inner: TokenCredential,
    private readonly logger?: Logger,
    /** Where the federated credential leaves the failure of its OIDC token request. */
    private readonly assertionFailure: { error?: Error } = {},
  ) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.logger?.debug(`Getting an Entra ID token from ${this.plan.authorityHost} (${describeKind(this.plan.kind)}) for ${[scopes].flat().join(' ')}`);
    let token: AccessToken | null;
    try {
      token = await this.inner.getToken(scopes, options);
    } catch (error) {
      const assertionError = this.assertionFailure.error;
      this.assertionFailure.error = undefined;
      if (assertionError instanceof ConnectionError) throw assertionError;
      if (error instanceof ConnectionError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      const reason = /AADSTS500011|AADSTS650057|AADSTS70011/.test(message) ? 'audience' : undefined;
      throw new ConnectionError(this.connection, `could not get an Entra ID token from ${this.plan.authorityHost} (${describeKind(this.plan.kind)}): ${entraHint(error)}`, reason);
    }
    if (!token) throw new ConnectionError(this.connection, `Entra ID at ${this.plan.authorityHost} returned no token.`);
    return token;
  }
}

function describeKind(kind: CredentialKind): string {
  return {
    secret: 'service principal with a client secret',
    certificate: 'service principal with a certificate',
    federated: 'workload identity federation',
    managedIdentity: 'managed identity',
  }[kind];
}

/** AADSTS codes users meet, with what to fix; unknown codes keep Entra's own message. */
const ENTRA_HINTS: [RegExp, string][] = [
  [/AADSTS7000215|AADSTS7000222|invalid_client_secret/i, 'the client secret is wrong or expired; create a new secret and update the service connection.'],
  [/AADSTS700016/, 'no application with this client id exists in the tenant; check the service principal id and tenant id of the connection.'],
  [/AADSTS90002|AADSTS900023/, 'the tenant does not exist; check the tenant id of the connection.'],
  [/AADSTS70021|AADSTS700213|AADSTS700211|AADSTS700212/, 'no federated credential of the app matches the OIDC token; its issuer and subject must be the ones the service connection shows (sc://<organization>/<project>/<connection>).'],
  [/AADSTS700024|AADSTS700027|AADSTS700023/, 'the client assertion was refused (expired, not yet valid or its certificate/signature is unknown to the app); check the certificate or federated credential of the app.'],
  [/AADSTS50012/, 'the client assertion or certificate is not valid for this app; upload the certificate to the app registration.'],
  [/AADSTS500011/, 'the resource (audience) is not known in the tenant.'],
];

function entraHint(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split('\n')[0].trim();
  for (const [pattern, hint] of ENTRA_HINTS) if (pattern.test(message)) return `${hint} (${firstLine.slice(0, 300)})`;
  return firstLine.slice(0, 500);
}

interface RestError {
  statusCode?: number;
  message?: string;
  code?: string;
}

/** A personal access token (52 characters, or the newer 84 with AZDO) goes as Basic; System.AccessToken as Bearer. */
function azureDevOpsHandler(token: string) {
  return token.length === 52 || /^.{76}AZDO.{4}$/.test(token) ? new PersonalAccessTokenCredentialHandler(token, false) : new BearerCredentialHandler(token, false);
}

/** The job's OIDC token for the connection, from Azure DevOps' distributedtask API (what AzureCLI@2 does). */
export async function requestOidcToken(
  connection: Pick<AzureConnection, 'id' | 'scheme'>,
  oidc: OidcContext,
  options: Pick<AzureCredentialOptions, 'logger' | 'oidcRetry' | 'sleep'> = {},
): Promise<string> {
  for (const key of ['collectionUri', 'projectId', 'hostType', 'planId', 'jobId', 'accessToken'] as const) {
    if (!oidc[key]) throw new ConnectionError(connection, `workload identity federation needs ${key} of the job to request an OIDC token, and it is empty.`);
  }
  const api = new TaskApi(oidc.collectionUri, [azureDevOpsHandler(oidc.accessToken)]);
  options.logger?.debug(`Requesting an OIDC token for service connection ${connection.id} from ${oidc.collectionUri}`);
  const answer = await retry(
    async () => {
      try {
        return await api.createOidcToken({}, oidc.projectId, oidc.hostType, oidc.planId, oidc.jobId, connection.id);
      } catch (error) {
        const status = (error as RestError).statusCode;
        if (status === 401 || status === 403) {
          throw new ConnectionError(connection, `Azure DevOps refused to issue an OIDC token (${status}): this pipeline may not be authorized to use the service connection, or System.AccessToken lacks the right; authorize the connection for this pipeline.`);
        }
        if (status === 404) {
          throw new ConnectionError(connection, `Azure DevOps does not know this service connection or job (404) when asked for an OIDC token; check that the connection exists in this project.`);
        }
        throw error;
      }
    },
    {
      policy: options.oidcRetry ?? { attempts: 3, baseDelayMs: 2000, maxDelayMs: 4000 },
      sleep: options.sleep,
      shouldRetry: (error) => {
        if (error instanceof ConnectionError) return false;
        const status = (error as RestError).statusCode;
        if (status !== undefined && status !== 429 && status < 500) return false;
        return { reason: status ? `HTTP ${status}` : ((error as RestError).code ?? 'network error') };
      },
      onRetry: ({ reason, delayMs }) => options.logger?.warn(`The OIDC token request failed (${reason}); trying again in ${Math.round(delayMs / 1000)} s.`),
    },
  ).catch((error: unknown) => {
    if (error instanceof ConnectionError) throw error;
    throw new ConnectionError(connection, `could not get an OIDC token from ${oidc.collectionUri}: ${(error as Error).message}`);
  });
  // typed-rest-client resolves a 404 with no result instead of throwing.
  const token = answer?.oidcToken;
  if (!token) {
    throw new ConnectionError(
      connection,
      `Azure DevOps issued no OIDC token (answered 404 or without a token): the service connection may not exist in this project, or this pipeline is not authorized to use it.`,
    );
  }
  return token;
}
