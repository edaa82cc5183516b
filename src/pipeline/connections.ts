import * as tl from 'azure-pipelines-task-lib/task';
import type { RegistryConnection } from '../acr/signin';
import type { OidcContext } from '../azure/connection';
import { InputError, type TaskInputs } from './inputs';

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

/** What a workload identity federation connection needs to ask Azure DevOps for the job's OIDC token. */
export function oidcContext(): OidcContext | undefined {
  const variable = (name: string) => tl.getVariable(name) || undefined;
  const collectionUri = variable('System.CollectionUri') ?? variable('System.TeamFoundationCollectionUri');
  const projectId = variable('System.TeamProjectId');
  const planId = variable('System.PlanId');
  const jobId = variable('System.JobId');
  const accessToken = systemAccessToken();
  if (!collectionUri || !projectId || !planId || !jobId || !accessToken) return undefined;
  return { collectionUri, projectId, hostType: variable('System.HostType') ?? 'build', planId, jobId, accessToken };
}

/**
 * The registry sign-in the tasks share: an Azure Resource Manager connection (`azureSubscription`) or a Docker
 * registry connection (`dockerRegistryServiceConnection`), exactly one of them.
 */
export function readRegistryConnection(inputs: TaskInputs): RegistryConnection | undefined {
  const azureId = inputs.string('azureSubscription');
  const dockerId = inputs.string('dockerRegistryServiceConnection');
  if (azureId && dockerId) {
    throw new InputError(
      'azureSubscription',
      'give one service connection, not both: azureSubscription or dockerRegistryServiceConnection.',
    );
  }
  const oidc = oidcContext();
  if (azureId) return { kind: 'azure', azure: readServiceConnection('azureSubscription', azureId), oidc };
  if (dockerId) return { kind: 'dockerRegistry', docker: readServiceConnection('dockerRegistryServiceConnection', dockerId), oidc };
  return undefined;
}
