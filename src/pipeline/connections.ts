import * as tl from 'azure-pipelines-task-lib/task';
import { InputError } from './inputs';

/** A service connection as the agent hands it to a task (ENDPOINT_URL_/ENDPOINT_AUTH_/ENDPOINT_DATA_ variables). */
export interface ServiceConnection {
  id: string;
  url: string | undefined;
  scheme: string;
  parameters: Readonly<Record<string, string>>;
  data(key: string): string | undefined;
}

export function readServiceConnection(inputName: string, id: string): ServiceConnection {
  const auth = tl.getEndpointAuthorization(id, true);
  if (!auth) {
    throw new InputError(inputName, `service connection '${id}' was not found or this pipeline is not authorized to use it.`);
  }
  // Parameter keys arrive in the case the connection type defines; look them up without caring about case.
  const parameters: Record<string, string> = {};
  for (const [key, value] of Object.entries(auth.parameters ?? {})) parameters[key.toLowerCase()] = value;
  return {
    id,
    url: tl.getEndpointUrl(id, true),
    scheme: auth.scheme ?? '',
    parameters,
    data: (key) => tl.getEndpointDataParameter(id, key, true) || undefined,
  };
}

/** The job's System.AccessToken (SYSTEMVSSCONNECTION), which the OIDC token request of workload identity needs. */
export function systemAccessToken(): string | undefined {
  const auth = tl.getEndpointAuthorization('SYSTEMVSSCONNECTION', true);
  return auth?.parameters?.AccessToken || tl.getVariable('System.AccessToken') || undefined;
}
