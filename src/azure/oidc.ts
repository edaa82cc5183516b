// The job's OIDC token for a workload identity federation connection, asked of Azure DevOps with
// System.AccessToken through azure-devops-node-api (what AzureCLI@2 does).
import { type AgentNetwork, describeProxy, proxyFor } from '../http/proxy';
import type { Logger } from '../log';
import { type RetryPolicy, retry } from '../util/retry';
import { type AzureConnection, ConnectionError, type OidcContext } from './connection';
import { BearerCredentialHandler, PersonalAccessTokenCredentialHandler, TaskApi } from './sdk';

export interface OidcRequestOptions {
  logger?: Logger;
  /** Retries of the OIDC token request (default 3 tries, 2 s apart, as Microsoft's tasks do). */
  oidcRetry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  /** The agent's proxy and certificates, for the request to Azure DevOps. */
  network?: AgentNetwork;
}

interface RestError {
  statusCode?: number;
  message?: string;
  code?: string;
}

/** A personal access token (52 characters, or the newer 84 with AZDO) goes as Basic; System.AccessToken as Bearer. */
function azureDevOpsHandler(token: string) {
  return token.length === 52 || /^.{76}AZDO.{4}$/.test(token)
    ? new PersonalAccessTokenCredentialHandler(token, false)
    : new BearerCredentialHandler(token, false);
}

/** The job's OIDC token for the connection, from Azure DevOps' distributedtask API (what AzureCLI@2 does). */
export async function requestOidcToken(
  connection: Pick<AzureConnection, 'id' | 'scheme'>,
  oidc: OidcContext,
  options: OidcRequestOptions = {},
): Promise<string> {
  for (const key of ['collectionUri', 'projectId', 'hostType', 'planId', 'jobId', 'accessToken'] as const) {
    if (!oidc[key])
      throw new ConnectionError(
        connection,
        `workload identity federation needs ${key} of the job to request an OIDC token, and it is empty.`,
      );
  }
  const proxy = proxyFor(options.network, oidc.collectionUri);
  const cert = options.network?.cert;
  const api = new TaskApi(oidc.collectionUri, [azureDevOpsHandler(oidc.accessToken)], {
    ...(proxy
      ? {
          proxy: { proxyUrl: proxy.url, proxyUsername: proxy.username, proxyPassword: proxy.password, proxyBypassHosts: proxy.bypass },
        }
      : {}),
    ...(cert ? { cert: { caFile: cert.caFile, certFile: cert.certFile, keyFile: cert.keyFile, passphrase: cert.passphrase } } : {}),
  });
  options.logger?.debug(`Requesting an OIDC token for service connection ${connection.id} from ${oidc.collectionUri}`);
  const answer = await retry(
    async () => {
      try {
        return await api.createOidcToken({}, oidc.projectId, oidc.hostType, oidc.planId, oidc.jobId, connection.id);
      } catch (error) {
        const status = (error as RestError).statusCode;
        if (status === 401 || status === 403) {
          throw new ConnectionError(
            connection,
            `Azure DevOps refused to issue an OIDC token (${status}): this pipeline may not be authorized to use the service connection, or System.AccessToken lacks the right; authorize the connection for this pipeline.`,
          );
        }
        if (status === 404) {
          throw new ConnectionError(
            connection,
            `Azure DevOps does not know this service connection or job (404) when asked for an OIDC token; check that the connection exists in this project.`,
          );
        }
        throw error;
      }
    },
    {
      policy: options.oidcRetry ?? { attempts: 3, baseDelayMs: 2000, maxDelayMs: 4000 },
      sleep: options.sleep,
      shouldRetry: (error) => {
        if (error instanceof ConnectionError) return false;
        if (/statusCode=40[37]/.test((error as Error).message)) return false; // the proxy refused: not transient
        const status = (error as RestError).statusCode;
        if (status !== undefined && status !== 429 && status < 500) return false;
        return { reason: status ? `HTTP ${status}` : ((error as RestError).code ?? 'network error') };
      },
      onRetry: ({ reason, delayMs }) =>
        options.logger?.warn(`The OIDC token request failed (${reason}); trying again in ${Math.round(delayMs / 1000)} s.`),
    },
  ).catch((error: unknown) => {
    if (error instanceof ConnectionError) throw error;
    // typed-rest-client's tunnel says only "tunneling socket could not be established, statusCode=403"
    const through =
      proxy && /tunnel|proxy|statusCode=40[37]/i.test((error as Error).message)
        ? ` through the agent's proxy ${describeProxy(proxy)} (it refused the connection to ${new URL(oidc.collectionUri).host})`
        : '';
    throw new ConnectionError(connection, `could not get an OIDC token from ${oidc.collectionUri}${through}: ${(error as Error).message}`);
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
