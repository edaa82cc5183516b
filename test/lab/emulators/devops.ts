// Azure DevOps (dev.azure.lab.test): the location data and the OIDC token endpoint that
// azure-devops-node-api's TaskApi.createOidcToken and @azure/identity's AzurePipelinesCredential call.
import type { Lab } from '../lab';
import type { LabConfig } from './config';
import { tokenExchangeAudience, type FederatedCredential, type TrustedIssuer } from './entra';
import { basicCredentials, bearerToken, type Exchange, readBody, sendJson } from './http';
import { newJwtId, nowSeconds, signJwt } from './jwt';
import type { SigningKey } from './keys';

/** Location id of the `oidctoken` resource of the `distributedtask` area (TaskApi.createOidcToken). */
export const oidcTokenLocationId = '69a319f4-28c1-4bfd-93e6-ea0ff5c6f1a2';
export const oidcTokenLifetimeSeconds = 600;

/** The issuer Azure DevOps puts in its OIDC tokens: https://vstoken.dev.azure.com/<organization id>. */
export function devOpsIssuer(lab: Lab): string {
  return `https://vstoken.dev.azure.com/${lab.azureDevOps.organizationId}`;
}

/** The subject of an OIDC token for a service connection: sc://<organization>/<project>/<connection name>. */
export function serviceConnectionSubject(lab: Lab, connectionId: string): string | undefined {
  const connection = lab.azureDevOps.serviceConnections[connectionId];
  if (!connection) return undefined;
  return `sc://${organizationOf(lab)}/${lab.azureDevOps.projectName}/${connection.name ?? connectionId}`;
}

/**
 * The federated credentials of an app registration: one per workload identity federation service
 * connection that uses it (what creating such a connection sets up on the app in Entra ID).
 */
export function federatedCredentialsFor(lab: Lab, identityName: string): FederatedCredential[] {
  return Object.entries(lab.azureDevOps.serviceConnections)
    .filter(([, connection]) => connection.scheme === 'WorkloadIdentityFederation' && connection.identity === identityName)
    .map(([id]) => ({
      issuer: devOpsIssuer(lab),
      subject: serviceConnectionSubject(lab, id) as string,
      audiences: [tokenExchangeAudience],
    }));
}

function organizationOf(lab: Lab): string {
  return lab.azureDevOps.organization ?? new URL(lab.azureDevOps.collectionUri).pathname.split('/').filter(Boolean)[0];
}

export class DevOpsEmulator {
  constructor(
    private readonly config: LabConfig,
    private readonly key: SigningKey,
  ) {}

  trustedIssuer(): TrustedIssuer {
    return { issuer: devOpsIssuer(this.config.lab), keys: [{ kid: this.key.kid, publicKey: this.key.publicKey }] };
  }

  async handle(exchange: Exchange): Promise<void> {
    const { req, res, url } = exchange;
    const lab = this.config.lab;
    const collectionPath = new URL(lab.azureDevOps.collectionUri).pathname.replace(/\/?$/, '/');
    if (!url.pathname.startsWith(collectionPath))
      return this.error(exchange, 404, 'CollectionNotFoundException', `TF400898: The collection at ${url.pathname} does not exist.`);
    const route = url.pathname.slice(collectionPath.length);

    if (!this.authorized(exchange)) {
      return this.error(exchange, 401, 'UnauthorizedRequestException', "TF400813: The user '' is not authorized to access this resource.");
    }
    exchange.identity = 'System.AccessToken';

    if (req.method === 'OPTIONS' && /^_apis\/[^/]+\/?$/.test(route)) {
      const area = route.split('/')[1].toLowerCase();
      const value = area === 'distributedtask' ? [this.oidcTokenLocation()] : [];
      return sendJson(res, 200, { count: value.length, value });
    }

    const oidc = /^([^/]+)\/_apis\/distributedtask\/hubs\/([^/]+)\/plans\/([^/]+)\/jobs\/([^/]+)\/oidctoken\/?$/i.exec(route);
    if (oidc) {
      if (req.method !== 'POST')
        return this.error(exchange, 405, 'HttpMethodNotAllowedException', 'The requested resource does not support http method.');
      await readBody(req);
      return this.oidcToken(exchange, oidc[1], oidc[2], oidc[3], oidc[4]);
    }
    return this.error(
      exchange,
      404,
      'ApiResourceNotFoundException',
      `API resource location for ${url.pathname} is not registered on ${lab.azureDevOps.collectionUri}.`,
    );
  }

  /** What the real service lists for the resource (see research azdo-tasks.md §3.3). */
  private oidcTokenLocation(): Record<string, unknown> {
    return {
      id: oidcTokenLocationId,
      area: 'distributedtask',
      resourceName: 'oidctoken',
      routeTemplate: '{scopeIdentifier}/_apis/{area}/hubs/{hubName}/plans/{planId}/jobs/{jobId}/{resource}',
      minVersion: '7.1',
      maxVersion: '7.2',
      releasedVersion: '0.0',
      resourceVersion: 1,
    };
  }

  /** System.AccessToken as a Bearer token (or as the password of a Basic header, node-api's PAT form). */
  private authorized(exchange: Exchange): boolean {
    const expected = this.config.lab.azureDevOps.accessToken;
    const presented = bearerToken(exchange.req) ?? basicCredentials(exchange.req)?.password;
    return presented !== undefined && presented === expected;
  }

  private oidcToken(exchange: Exchange, scope: string, hub: string, plan: string, job: string): void {
    const lab = this.config.lab;
    const ado = lab.azureDevOps;
    const sameId = (left: string, right: string) => left.toLowerCase() === right.toLowerCase();
    if (!sameId(scope, ado.projectId) && scope !== ado.projectName) {
      return this.error(exchange, 404, 'ProjectDoesNotExistWithNameException', `TF200016: The following project does not exist: ${scope}.`);
    }
    if (!sameId(hub, ado.hostType)) return this.error(exchange, 404, 'TaskOrchestrationPlanNotFoundException', `Hub ${hub} was not found.`);
    if (!sameId(plan, ado.planId))
      return this.error(exchange, 404, 'TaskOrchestrationPlanNotFoundException', `Plan ${plan} was not found.`);
    if (!sameId(job, ado.jobId))
      return this.error(exchange, 404, 'TaskOrchestrationJobNotFoundException', `Job ${job} was not found in plan ${plan}.`);

    const connectionId = exchange.url.searchParams.get('serviceConnectionId') ?? '';
    const knownId = Object.keys(ado.serviceConnections).find((id) => sameId(id, connectionId));
    if (!knownId) {
      return this.error(
        exchange,
        404,
        'ServiceEndpointNotFoundException',
        `Service connection ${connectionId || '(none)'} was not found or is not authorized for this pipeline.`,
      );
    }
    exchange.identity = `serviceConnection:${ado.serviceConnections[knownId].name ?? knownId}`;

    const now = nowSeconds();
    const claims = {
      jti: newJwtId(),
      sub: serviceConnectionSubject(lab, knownId),
      aud: tokenExchangeAudience,
      iss: devOpsIssuer(lab),
      nbf: now,
      exp: now + oidcTokenLifetimeSeconds,
      iat: now,
    };
    sendJson(exchange.res, 200, { oidcToken: signJwt(claims, this.key.privateKey, { kid: this.key.kid }) });
  }

  /** The error body Azure DevOps REST APIs answer with. */
  private error(exchange: Exchange, status: number, typeKey: string, message: string): void {
    sendJson(exchange.res, status, {
      $id: '1',
      innerException: null,
      message,
      typeName: `Microsoft.TeamFoundation.DistributedTask.WebApi.${typeKey}, Microsoft.TeamFoundation.DistributedTask.WebApi`,
      typeKey,
      errorCode: 0,
      eventId: 3000,
    });
  }
}
