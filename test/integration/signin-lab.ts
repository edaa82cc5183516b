// Helpers of the sign-in/registry/ACR integration tests: service connections as the agent would hand them to a
// task, built from lab.json, and a driver process that runs the core modules with the lab's Node environment
// (NODE_EXTRA_CA_CERTS and the IMDS host must be set when a process starts, so they cannot run inside mocha).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { OidcContext } from '../../src/azure/connection';
import { run } from '../../src/process/exec';
import { ArgvWatch } from '../helpers/argv-watch';
import { type IdentityName, type Lab, type ServiceConnection, labNodeEnv, serviceConnectionId } from '../lab/lab';

/** An AzureConnection as plain data (what crosses into the driver). */
export interface ConnectionData {
  id: string;
  scheme: string;
  parameters: Record<string, string>;
  dataParameters: Record<string, string>;
  url?: string;
}

/** The AzureRM service connection of lab.json for an identity and scheme, with the parameters the agent sets. */
export function labConnection(lab: Lab, identity: IdentityName, scheme: ServiceConnection['scheme'], authenticationType?: 'spnKey' | 'spnCertificate'): ConnectionData {
  const id = serviceConnectionId(lab, identity, scheme, authenticationType);
  const dataParameters = {
    environment: 'AzureCloud',
    environmentAuthorityUrl: `${lab.entra.authorityHost}/`,
    subscriptionId: lab.entra.subscriptionId,
    scopeLevel: 'Subscription',
  };
  const base = { id, scheme, dataParameters, url: 'https://management.azure.com/' };
  if (identity === 'managed') {
    return { ...base, parameters: { tenantid: lab.entra.tenantId }, dataParameters: { ...dataParameters, msiclientId: lab.identities.managed.clientId } };
  }
  const app = lab.identities[identity];
  const parameters: Record<string, string> = { tenantid: lab.entra.tenantId, serviceprincipalid: app.clientId };
  if (scheme === 'ServicePrincipal' && (authenticationType ?? 'spnKey') === 'spnKey') Object.assign(parameters, { authenticationtype: 'spnKey', serviceprincipalkey: app.secret });
  if (scheme === 'ServicePrincipal' && authenticationType === 'spnCertificate') {
    Object.assign(parameters, { authenticationtype: 'spnCertificate', serviceprincipalcertificate: readFileSync(app.certificatePath, 'utf8') });
  }
  if (scheme === 'WorkloadIdentityFederation') parameters.workloadidentityfederationsubject = `sc://${lab.azureDevOps.organization}/${lab.azureDevOps.projectName}/${lab.azureDevOps.serviceConnections[id].name}`;
  return { ...base, parameters };
}

export function labOidc(lab: Lab): OidcContext {
  const ado = lab.azureDevOps;
  return { collectionUri: ado.collectionUri, projectId: ado.projectId, hostType: ado.hostType, planId: ado.planId, jobId: ado.jobId, accessToken: ado.accessToken };
}

/** Every secret of the lab a test could leak: identity secrets, private keys, the job's access token, admin passwords. */
export function labSecrets(lab: Lab): string[] {
  const secrets = [lab.azureDevOps.accessToken, ...Object.values(lab.registries).map((r) => r.admin.password)];
  for (const [name, app] of Object.entries(lab.identities)) {
    if (name === 'managed' || !('secret' in app)) continue;
    secrets.push(app.secret);
    const pem = readFileSync(app.certificatePath, 'utf8');
    const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----([\s\S]*?)-----END/.exec(pem)?.[1].replace(/\s+/g, '');
    if (key) secrets.push(key.slice(0, 64), key.slice(-64));
  }
  return secrets;
}

export interface DriverRun<T> {
  result: T;
  /** The driver's log (its logger writes here), to check for leaks. */
  log: string;
  /** Every process command line seen while the driver ran. */
  commandLines: string[];
}

const driver = path.join(__dirname, 'signin-driver.ts');

/** Runs a scenario of signin-driver.ts in its own Node process with the lab environment; input travels on stdin. */
export async function runDriver<T>(lab: Lab, scenario: string, input: unknown): Promise<DriverRun<T>> {
  const watch = new ArgvWatch().start();
  const output = await run(process.execPath, ['--require', 'tsx/cjs', driver], {
    env: { ...process.env, ...labNodeEnv(lab) },
    stdin: JSON.stringify({ scenario, input }),
    timeoutMs: 300_000,
  }).finally(() => watch.stop());
  const commandLines = watch.stop();
  const line = output.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`the driver printed no result (exit ${output.exitCode}): ${output.stderr.slice(-2000)}`);
  const parsed = JSON.parse(line.slice('RESULT '.length)) as { ok: true; value: T } | { ok: false; error: DriverError };
  if (!parsed.ok) throw Object.assign(new Error(parsed.error.message), parsed.error, { log: output.stderr });
  return { result: parsed.value, log: output.stderr, commandLines };
}

export interface DriverError {
  name: string;
  message: string;
  status?: number;
  code?: string;
  log?: string;
}
