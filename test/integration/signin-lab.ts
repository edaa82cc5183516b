// Helpers of the sign-in/registry/ACR integration tests: service connections as the agent would hand them to a
// task, built from lab.json, and a driver process that runs the core modules with the lab's Node environment
// (NODE_EXTRA_CA_CERTS and the IMDS host must be set when a process starts, so they cannot run inside mocha).
import * as path from 'node:path';
import type { OidcContext } from '../../src/azure/connection';
import { run } from '../../src/process/exec';
import { ArgvWatch } from '../helpers/argv-watch';
import { labSecrets, labServiceConnection } from '../lab/agent';
import { type IdentityName, type Lab, type ServiceConnection, labNodeEnv } from '../lab/lab';

/** An AzureConnection as plain data (what crosses into the driver). */
export interface ConnectionData {
  id: string;
  scheme: string;
  parameters: Record<string, string>;
  dataParameters: Record<string, string>;
  url?: string;
}

/** The AzureRM service connection of lab.json for an identity and scheme, as plain data (test/lab/agent.ts builds it). */
export function labConnection(
  lab: Lab,
  identity: IdentityName,
  scheme: ServiceConnection['scheme'],
  authenticationType?: 'spnKey' | 'spnCertificate',
): ConnectionData {
  const { id, endpoint } = labServiceConnection(lab, identity, scheme, authenticationType);
  // The core reads parameters with lower-case keys, as src/pipeline hands them over.
  const parameters = Object.fromEntries(Object.entries(endpoint.parameters).map(([key, value]) => [key.toLowerCase(), value]));
  return { id, scheme: endpoint.scheme, parameters, dataParameters: { ...endpoint.data }, url: endpoint.url };
}

export function labOidc(lab: Lab): OidcContext {
  const ado = lab.azureDevOps;
  return {
    collectionUri: ado.collectionUri,
    projectId: ado.projectId,
    hostType: ado.hostType,
    planId: ado.planId,
    jobId: ado.jobId,
    accessToken: ado.accessToken,
  };
}

export { labSecrets };

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
