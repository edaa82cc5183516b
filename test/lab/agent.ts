// How the Azure Pipelines agent runs a bundled task against the lab: lab.json's service connections handed to the
// task as the agent hands them (ENDPOINT_* through task-runner's `endpoints`), the System.* variables of the lab's
// Azure DevOps job (the OIDC request of workload identity federation needs them), System.AccessToken as a secret
// variable, and the lab's Node environment (CA, IMDS). The demo, the integration tests and the benchmarks start
// tasks through this instead of each building it.
import { readFileSync } from 'node:fs';
import { type Endpoint, type RunTaskOptions, type TaskRun, runTask } from '../helpers/task-runner';
import { type IdentityName, type Lab, type ServiceConnection, labNodeEnv, serviceConnectionId } from './lab';

/** A service connection as a pipeline refers to it (its id goes into the task input) and as the agent hands it over. */
export interface LabServiceConnection {
  id: string;
  name: string;
  endpoint: Endpoint;
}

/**
 * ENDPOINT_URL_ of an Azure Resource Manager connection: the Resource Manager URL. In the lab it is the lab's own
 * (emulators/acr-tasks.ts on https://127.0.0.1), so a task asking ARM (the preflight's role-assignment mode, ACR
 * Tasks) reaches the emulator and never the real management.azure.com.
 */
const armUrl = 'https://127.0.0.1/';
/** What the agent puts into the connection's activeDirectoryServiceEndpointResourceId: the ARM audience (AzureCloud). */
const armResource = 'https://management.core.windows.net/';

/**
 * The AzureRM service connection of lab.json for an identity and scheme (e.g. pipeline + WorkloadIdentityFederation =
 * `pipeline-wif`), with the authorization parameters and data the agent sets for that kind of connection.
 */
export function labServiceConnection(
  lab: Lab,
  identity: IdentityName,
  scheme: ServiceConnection['scheme'],
  authenticationType?: 'spnKey' | 'spnCertificate',
): LabServiceConnection {
  return connectionById(lab, serviceConnectionId(lab, identity, scheme, authenticationType));
}

/** The service connection of lab.json by its name: `pipeline-wif`, `scanner-secret`, `managed-msi`, ... */
export function labServiceConnectionNamed(lab: Lab, name: string): LabServiceConnection {
  const found = Object.entries(lab.azureDevOps.serviceConnections).find(([, connection]) => connection.name === name);
  if (!found) throw new Error(`lab.json has no service connection named ${name}`);
  return connectionById(lab, found[0]);
}

function connectionById(lab: Lab, id: string): LabServiceConnection {
  const connection = lab.azureDevOps.serviceConnections[id];
  const data: Record<string, string> = {
    environment: 'AzureCloud',
    environmentAuthorityUrl: `${lab.entra.authorityHost}/`,
    subscriptionId: lab.entra.subscriptionId,
    activeDirectoryServiceEndpointResourceId: armResource,
    subscriptionName: 'lab subscription',
    scopeLevel: 'Subscription',
  };
  const parameters: Record<string, string> = { tenantid: lab.entra.tenantId };
  if (connection.scheme === 'ManagedServiceIdentity') {
    data.msiclientId = lab.identities.managed.clientId;
  } else {
    const app = lab.identities[connection.identity];
    parameters.serviceprincipalid = app.clientId;
    if (connection.scheme === 'ServicePrincipal') {
      parameters.authenticationType = connection.authenticationType;
      if (connection.authenticationType === 'spnKey') parameters.serviceprincipalkey = app.secret;
      else parameters.servicePrincipalCertificate = readFileSync(app.certificatePath, 'utf8');
    } else {
      // Azure DevOps issues the job's OIDC token for this subject; the lab's Entra ID federates with it.
      parameters.workloadIdentityFederationIssuer = `https://vstoken.dev.azure.com/${lab.azureDevOps.organizationId}`;
      parameters.workloadIdentityFederationSubject = `sc://${lab.azureDevOps.organization}/${lab.azureDevOps.projectName}/${connection.name}`;
    }
  }
  return { id, name: connection.name, endpoint: { url: armUrl, scheme: connection.scheme, parameters, data } };
}

/** The System.* variables of a job in lab.json's Azure DevOps project (the emulator knows only this plan and job). */
export function labJobVariables(lab: Lab): Record<string, string> {
  const ado = lab.azureDevOps;
  return {
    'System.CollectionUri': ado.collectionUri,
    'System.TeamFoundationCollectionUri': ado.collectionUri,
    'System.TeamProject': ado.projectName,
    'System.TeamProjectId': ado.projectId,
    'System.PlanId': ado.planId,
    'System.JobId': ado.jobId,
    'System.HostType': ado.hostType,
  };
}

/** The job's secret variables: System.AccessToken (the agent also hands it over as SYSTEMVSSCONNECTION). */
export function labSecretVariables(lab: Lab): Record<string, string> {
  return { 'System.AccessToken': lab.azureDevOps.accessToken };
}

/**
 * Every secret value of the lab, as the agent's masker would know them: the job's access token, the registries'
 * admin passwords, each identity's client secret and each line of its private key. For masking output and for
 * "nothing leaked" checks.
 */
export function labSecrets(lab: Lab): string[] {
  const secrets = [lab.azureDevOps.accessToken, ...Object.values(lab.registries).map((registry) => registry.admin.password)];
  for (const [name, app] of Object.entries(lab.identities)) {
    if (name === 'managed' || !('secret' in app)) continue;
    secrets.push(app.secret);
    const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----([\s\S]*?)-----END/.exec(readFileSync(app.certificatePath, 'utf8'))?.[1] ?? '';
    secrets.push(
      ...key
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line.length >= 16),
    );
  }
  return [...new Set(secrets.filter(Boolean))];
}

export interface LabTaskOptions extends RunTaskOptions {
  /** Service connections by the input that names them: the input gets the connection's id, `endpoints` its Endpoint. */
  connections?: Record<string, LabServiceConnection>;
}

/**
 * RunTaskOptions for a task run against the lab: the lab's job variables, System.AccessToken, the lab's Node
 * environment and the given connections, under what the caller passes (the caller's values win).
 */
export function labTaskOptions(lab: Lab, options: LabTaskOptions): RunTaskOptions {
  const { connections, ...rest } = options;
  const inputs = { ...rest.inputs };
  const endpoints = { ...rest.endpoints };
  for (const [input, connection] of Object.entries(connections ?? {})) {
    inputs[input] = connection.id;
    endpoints[connection.id] = connection.endpoint;
  }
  return {
    ...rest,
    inputs,
    endpoints,
    variables: { ...labJobVariables(lab), ...rest.variables },
    secretVariables: { ...labSecretVariables(lab), ...rest.secretVariables },
    env: { ...labNodeEnv(lab), ...rest.env },
  };
}

/** runTask with labTaskOptions: a bundled task started as the agent starts it, against the lab. */
export function runLabTask(lab: Lab, options: LabTaskOptions): Promise<TaskRun> {
  return runTask(labTaskOptions(lab, options));
}
