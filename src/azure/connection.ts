// What a service connection says, read without any SDK: its parameters, its authority and ARM resource, and which
// credential it needs (credentialPlan). The credential itself is in credential.ts (@azure/identity), the OIDC token
// of workload identity federation in oidc.ts (azure-devops-node-api); each is loaded only when a connection needs it.
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

/**
 * An authorization parameter the connection must have (keys in any case), as the connection holds it; a missing or
 * blank one fails naming the parameter and what it is.
 */
export function requiredParameter(connection: AzureConnection, key: string, what: string): string {
  const value = connection.parameters[key.toLowerCase()];
  if (!value?.trim())
    throw new ConnectionError(
      connection,
      `the authorization parameter '${key}' (${what}) is missing; edit the service connection and set it.`,
    );
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
      const tenantId = requiredParameter(connection, 'tenantid', 'the directory (tenant) id').trim();
      const clientId = requiredParameter(connection, 'serviceprincipalid', 'the application (client) id').trim();
      const type = (connection.parameters.authenticationtype ?? 'spnKey').trim().toLowerCase();
      if (type === 'spnkey' || type === '') {
        requiredParameter(connection, 'serviceprincipalkey', 'the client secret');
        return { ...base, kind: 'secret', tenantId, clientId };
      }
      if (type === 'spncertificate') {
        requiredParameter(connection, 'servicePrincipalCertificate', 'the PEM certificate with its private key');
        return { ...base, kind: 'certificate', tenantId, clientId };
      }
      throw new ConnectionError(
        connection,
        `authenticationType '${connection.parameters.authenticationtype}' is not supported; use spnKey or spnCertificate.`,
      );
    }
    case 'workloadidentityfederation':
      return {
        ...base,
        kind: 'federated',
        tenantId: requiredParameter(connection, 'tenantid', 'the directory (tenant) id').trim(),
        clientId: requiredParameter(connection, 'serviceprincipalid', 'the application (client) id').trim(),
      };
    case 'managedserviceidentity':
      return {
        ...base,
        kind: 'managedIdentity',
        tenantId: connection.parameters.tenantid || undefined,
        clientId: connection.data('msiclientId')?.trim() || undefined,
      };
    default:
      throw new ConnectionError(
        connection,
        `the scheme '${connection.scheme}' is not supported; use an Azure Resource Manager connection with workload identity federation, a service principal (secret or certificate) or a managed identity.`,
      );
  }
}

/** How each credential kind is named: `short` in the sign-in method line, `long` in a token failure. */
const CREDENTIAL_KIND_NAMES: Record<CredentialKind, { short: string; long: string }> = {
  secret: { short: 'service principal, secret', long: 'service principal with a client secret' },
  certificate: { short: 'service principal, certificate', long: 'service principal with a certificate' },
  federated: { short: 'workload identity federation', long: 'workload identity federation' },
  managedIdentity: { short: 'managed identity', long: 'managed identity' },
};

export function describeCredentialKind(kind: CredentialKind, form: 'short' | 'long'): string {
  return CREDENTIAL_KIND_NAMES[kind][form];
}
