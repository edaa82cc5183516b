// IMDS managed identity endpoint (http://127.0.0.1:8090), as MSAL's Imds source calls it when
// AZURE_POD_IDENTITY_AUTHORITY_HOST is set: GET /metadata/identity/oauth2/token?api-version=2018-02-01
// &resource=<resource>[&client_id=|object_id=|msi_res_id=] with the header `Metadata: true`.
import type { LabConfig, NamedIdentity } from './config';
import { knownResources, type EntraEmulator } from './entra';
import { type Exchange, sendJson } from './http';

export const imdsTokenPath = '/metadata/identity/oauth2/token';

export class ImdsEmulator {
  constructor(
    private readonly config: LabConfig,
    private readonly entra: EntraEmulator,
  ) {}

  handle(exchange: Exchange): void {
    const { req, res, url } = exchange;
    // MSAL asks for the path with a trailing slash; IMDS answers both
    if (url.pathname.replace(/\/$/, '') !== imdsTokenPath)
      return sendJson(res, 404, { error: 'not_found', error_description: 'Not found' });
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'invalid_request', error_description: 'Method not allowed' });
    if (String(req.headers.metadata ?? '').toLowerCase() !== 'true') {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'Required metadata header not specified' });
    }
    if (!url.searchParams.get('api-version')) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'Required query variable api-version is missing' });
    }
    const resource = url.searchParams.get('resource');
    if (!resource)
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'Required query variable resource is missing' });
    if (!knownResources.includes(resource.replace(/\/+$/, ''))) {
      return sendJson(res, 400, {
        error: 'invalid_resource',
        error_description: `AADSTS500011: The resource principal named ${resource} was not found in the tenant named ${this.config.tenantId}.`,
      });
    }
    const identity = this.selectIdentity(url);
    if (!identity) return sendJson(res, 400, { error: 'invalid_request', error_description: 'Identity not found' });
    exchange.identity = identity.name;

    const { token, expiresOn } = this.entra.issueAccessToken(identity, resource, '2');
    const now = Math.floor(Date.now() / 1000);
    // IMDS answers every number as a string
    sendJson(res, 200, {
      access_token: token,
      client_id: identity.identity.clientId,
      expires_in: String(expiresOn - now),
      expires_on: String(expiresOn),
      ext_expires_in: String(expiresOn - now),
      not_before: String(now),
      resource,
      token_type: 'Bearer',
    });
  }

  /** The user-assigned identity asked for, or the only managed identity of the lab (system-assigned). */
  private selectIdentity(url: URL): NamedIdentity | undefined {
    const managed = this.config.identities().filter(({ identity }) => identity.kind === 'managedIdentity');
    const clientId = url.searchParams.get('client_id');
    const objectId = url.searchParams.get('object_id');
    const resourceId = url.searchParams.get('msi_res_id');
    if (clientId) return managed.find(({ identity }) => identity.clientId.toLowerCase() === clientId.toLowerCase());
    if (objectId) return managed.find(({ identity }) => identity.objectId.toLowerCase() === objectId.toLowerCase());
    if (resourceId) return managed.find(({ name }) => resourceId.toLowerCase().endsWith(`/userassignedidentities/${name.toLowerCase()}`));
    return managed.length === 1 ? managed[0] : undefined;
  }
}
