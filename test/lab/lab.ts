// The running lab as described by .lab/lab.json (written by `npm run lab:up`, see README.md).
import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const labRoot = path.join(repoRoot, '.lab');
export const labFile = path.join(labRoot, 'lab.json');

export type AcrRole = 'AcrPull' | 'AcrPush' | 'AcrQuarantineReader' | 'AcrQuarantineWriter';
export type RegistryName = 'contoso.azurecr.io' | 'fabrikam.azurecr.io';
export type AppIdentityName = 'builder' | 'pipeline' | 'scanner' | 'qreader' | 'puller' | 'nobody';
export type IdentityName = AppIdentityName | 'managed';

export interface LabRegistry {
  quarantine: boolean;
  admin: { username: string; password: string };
  /** Anonymous pull enabled (the conformance tests' registries; lab:up writes none). */
  anonymousPull?: boolean;
}

/** An app registration (service principal): client secret and client certificate both work. */
export interface AppIdentity {
  kind?: undefined;
  clientId: string;
  objectId: string;
  secret: string;
  /** PEM holding the certificate and its private key (what ClientCertificateCredential takes). */
  certificatePath: string;
  roles: Partial<Record<RegistryName, AcrRole[]>>;
}

/** A user-assigned managed identity, served by the IMDS emulator. */
export interface ManagedIdentity {
  kind: 'managedIdentity';
  clientId: string;
  objectId: string;
  roles: Partial<Record<RegistryName, AcrRole[]>>;
}

export type ServiceConnection =
  | { name: string; scheme: 'WorkloadIdentityFederation'; identity: AppIdentityName }
  | { name: string; scheme: 'ServicePrincipal'; authenticationType: 'spnKey' | 'spnCertificate'; identity: AppIdentityName }
  | { name: string; scheme: 'ManagedServiceIdentity'; identity: 'managed' };

export interface Lab {
  version: 1;
  root: string;
  caFile: string;
  tls: { certFile: string; keyFile: string; names: string[] };
  docker: { host: string; serverVersion: string; buildxVersion: string };
  backingRegistry: string;
  registries: Record<RegistryName, LabRegistry>;
  entra: { authorityHost: string; tenantId: string; subscriptionId: string };
  identities: Record<AppIdentityName, AppIdentity> & { managed: ManagedIdentity };
  managedIdentityEndpoint: string;
  azureDevOps: {
    collectionUri: string;
    organization: string;
    organizationId: string;
    projectName: string;
    projectId: string;
    planId: string;
    jobId: string;
    hostType: string;
    accessToken: string;
    serviceConnections: Record<string, ServiceConnection>;
  };
  trivy: { version: string; downloadBaseUrl: string; tamperedDownloadBaseUrl: string; dbRepository: string };
  baseDir: string;
  logsDir: string;
  releasesDir: string;
  releasesBaseUrl: string;
  control: string;
  qemu: { platforms: string[] };
}

export class LabNotUpError extends Error {
  constructor(detail: string) {
    super(`The lab is not up (${detail}). Run \`npm run lab:up\` first.`);
    this.name = 'LabNotUpError';
  }
}

/** Reads .lab/lab.json; throws LabNotUpError when it is absent or unreadable. */
export function readLab(file: string = labFile): Lab {
  if (!existsSync(file)) throw new LabNotUpError(`${file} does not exist`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new LabNotUpError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const lab = parsed as Partial<Lab>;
  if (lab.version !== 1 || !lab.caFile || !lab.identities || !lab.registries) {
    throw new LabNotUpError(`${file} is incomplete or of another version`);
  }
  return lab as Lab;
}

/** The service connection id for an identity and scheme (e.g. the builder's WIF connection). */
export function serviceConnectionId(
  lab: Lab,
  identity: IdentityName,
  scheme: ServiceConnection['scheme'],
  authenticationType?: 'spnKey' | 'spnCertificate',
): string {
  for (const [id, connection] of Object.entries(lab.azureDevOps.serviceConnections)) {
    if (connection.identity !== identity || connection.scheme !== scheme) continue;
    if (connection.scheme === 'ServicePrincipal' && (authenticationType ?? 'spnKey') !== connection.authenticationType) continue;
    return id;
  }
  throw new Error(`lab.json has no ${scheme} service connection for identity ${identity}`);
}

/**
 * Environment for a Node process that talks to the lab (a task under test, the demo, a tool):
 * trust the lab CA and find the IMDS emulator. Merge it over process.env.
 */
export function labNodeEnv(lab: Lab): Record<string, string> {
  return {
    NODE_EXTRA_CA_CERTS: lab.caFile,
    AZURE_POD_IDENTITY_AUTHORITY_HOST: lab.managedIdentityEndpoint,
  };
}

function answers(url: string, socketPath?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get(url, { socketPath, timeout: 3_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

/** What is wrong with the running lab: an empty list when lab.json, docker, the registry and the control API all answer. */
export async function probeLab(): Promise<string[]> {
  let lab: Lab;
  try {
    lab = readLab();
  } catch (error) {
    return [(error as Error).message];
  }
  const socketPath = lab.docker.host.replace(/^unix:\/\//, '');
  const checks: Array<[string, Promise<boolean>]> = [
    [`docker does not answer on ${lab.docker.host}`, answers('http://docker/_ping', socketPath)],
    [`the registry does not answer on http://${lab.backingRegistry}/v2/`, answers(`http://${lab.backingRegistry}/v2/`)],
    [`the emulators' control API does not answer on ${lab.control}/_lab/health`, answers(`${lab.control}/_lab/health`)],
  ];
  const problems: string[] = [];
  for (const [problem, ok] of checks) if (!(await ok)) problems.push(problem);
  if (!existsSync('/sys/class/net/docker0')) problems.push("docker's default bridge docker0 is missing (containers cannot start)");
  return problems;
}

/** Every manifest media type: without them the registry answers a request for an index with one of its platform manifests. */
const ANY_MANIFEST = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** What the backing registry (behind every ACR emulator, no quarantine there) holds under a tag or digest. */
export async function backingDigest(lab: Lab, repository: string, reference: string): Promise<string | undefined> {
  const response = await fetch(`http://${lab.backingRegistry}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: { Accept: ANY_MANIFEST },
  });
  return response.status === 200 ? (response.headers.get('docker-content-digest') ?? undefined) : undefined;
}
