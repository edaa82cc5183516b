// Entra ID credentials from an Azure Resource Manager service connection, for every scheme users have:
// service principal with a secret or a certificate, workload identity federation (the Azure DevOps OIDC token
// as client assertion) and managed identity. The authority comes from the connection, so sovereign clouds and
// the lab's own Entra emulator take the same path.
import type { AccessToken, GetTokenOptions, TokenCredential, TokenCredentialOptions } from '@azure/identity';
import { ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential, ManagedIdentityCredential } from './sdk';
import type { HttpClient } from '../http/client';
import type { Logger } from '../log';
import { jwtExpiry } from '../registry/auth';
import {
  type AzureConnection,
  ConnectionError,
  type CredentialPlan,
  credentialPlan,
  describeCredentialKind,
  type OidcContext,
} from './connection';
import { identityHttpClient } from './identity-http';
import { type OidcRequestOptions, requestOidcToken } from './oidc';

export interface AzureCredentialOptions extends OidcRequestOptions {
  /** Needed for workload identity federation unless the connection carries a late-bound idToken. */
  oidc?: OidcContext;
  /** Called with every secret the credential obtains (the OIDC token), for the shell to register. */
  onSecret?: (secret: string) => void;
  /** The HTTP client @azure/identity sends through (tests answer Entra ID's requests with it). */
  identityHttpClient?: TokenCredentialOptions['httpClient'];
  /** The task's HTTP client (the agent's proxy and certificates): Entra ID and IMDS are asked through it. */
  http?: HttpClient;
}

/** A TokenCredential for the connection; a failure to get a token names the connection and the likely fix. */
export function azureCredential(connection: AzureConnection, options: AzureCredentialOptions = {}): ConnectionCredential {
  const plan = credentialPlan(connection);
  const assertionFailure: { error?: Error } = {};
  const httpClient = options.identityHttpClient ?? (options.http ? identityHttpClient(options.http) : undefined);
  const identityOptions = {
    authorityHost: plan.authorityHost,
    disableInstanceDiscovery: plan.disableInstanceDiscovery,
    ...(httpClient ? { httpClient } : {}),
  };
  let inner: TokenCredential;
  switch (plan.kind) {
    case 'secret':
      inner = new ClientSecretCredential(plan.tenantId!, plan.clientId!, connection.parameters.serviceprincipalkey, identityOptions);
      break;
    case 'certificate':
      inner = new ClientCertificateCredential(
        plan.tenantId!,
        plan.clientId!,
        { certificate: connection.parameters.serviceprincipalcertificate },
        identityOptions,
      );
      break;
    case 'federated': {
      const idToken = connection.parameters.idtoken?.trim();
      if (!idToken && !options.oidc) {
        throw new ConnectionError(
          connection,
          "workload identity federation needs the job's OIDC token: System.AccessToken is not available to this task (allow scripts to access the OAuth token, or map System.AccessToken).",
        );
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
        ...(httpClient ? { httpClient } : {}),
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
    this.logger?.debug(
      `Getting an Entra ID token from ${this.plan.authorityHost} (${describeCredentialKind(this.plan.kind, 'long')}) for ${[scopes].flat().join(' ')}`,
    );
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
      throw new ConnectionError(
        this.connection,
        `could not get an Entra ID token from ${this.plan.authorityHost} (${describeCredentialKind(this.plan.kind, 'long')}): ${entraHint(error)}`,
        reason,
      );
    }
    if (!token) throw new ConnectionError(this.connection, `Entra ID at ${this.plan.authorityHost} returned no token.`);
    return token;
  }
}

/** AADSTS codes users meet, with what to fix; unknown codes keep Entra's own message. */
const ENTRA_HINTS: [RegExp, string][] = [
  [
    /AADSTS7000215|AADSTS7000222|invalid_client_secret/i,
    'the client secret is wrong or expired; create a new secret and update the service connection.',
  ],
  [
    /AADSTS700016/,
    'no application with this client id exists in the tenant; check the service principal id and tenant id of the connection.',
  ],
  [/AADSTS90002|AADSTS900023/, 'the tenant does not exist; check the tenant id of the connection.'],
  [
    /AADSTS70021|AADSTS700213|AADSTS700211|AADSTS700212/,
    'no federated credential of the app matches the OIDC token; its issuer and subject must be the ones the service connection shows (sc://<organization>/<project>/<connection>).',
  ],
  [
    /AADSTS700024|AADSTS700027|AADSTS700023/,
    'the client assertion was refused (expired, not yet valid or its certificate/signature is unknown to the app); check the certificate or federated credential of the app.',
  ],
  [/AADSTS50012/, 'the client assertion or certificate is not valid for this app; upload the certificate to the app registration.'],
  [/AADSTS500011/, 'the resource (audience) is not known in the tenant.'],
];

function entraHint(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split('\n')[0].trim();
  for (const [pattern, hint] of ENTRA_HINTS) if (pattern.test(message)) return `${hint} (${firstLine.slice(0, 300)})`;
  return firstLine.slice(0, 500);
}
