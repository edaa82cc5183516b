// Builds .lab/lab.json. Configuration (names, roles, URLs) comes from this file on every run; generated
// values (GUIDs, secrets, tokens) are kept from the previous lab.json so they stay stable across runs.
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  labFile,
  labRoot,
  type AcrRole,
  type AppIdentity,
  type AppIdentityName,
  type Lab,
  type ManagedIdentity,
  type RegistryName,
  type ServiceConnection,
} from '../lab';
import { baseDir } from './busybox';
import { backingRegistry, controlUrl, type DockerVersions } from './daemons';
import { logsDir } from './log';
import { caFile, ensureIdentityCertificate, serverCertFile, serverKeyFile } from './tls';

export const registryNames: RegistryName[] = ['contoso.azurecr.io', 'fabrikam.azurecr.io'];
export const labHostNames = [...registryNames, 'login.lab.test', 'dev.azure.lab.test', 'releases.lab.test'];
export const qemuPlatforms = ['linux/arm64'];

const quarantineByRegistry: Record<RegistryName, boolean> = { 'contoso.azurecr.io': true, 'fabrikam.azurecr.io': false };

// `builder` pushes only; `pipeline` is the build identity the docs recommend for a registry with quarantine on: it may
// also read the still quarantined digest it pushed, which BuildForPlatform's platform proof does.
const appRoles: Record<AppIdentityName, Partial<Record<RegistryName, AcrRole[]>>> = {
  builder: { 'contoso.azurecr.io': ['AcrPush'], 'fabrikam.azurecr.io': ['AcrPush'] },
  pipeline: { 'contoso.azurecr.io': ['AcrPush', 'AcrQuarantineReader'], 'fabrikam.azurecr.io': ['AcrPush'] },
  scanner: { 'contoso.azurecr.io': ['AcrPull', 'AcrQuarantineWriter'], 'fabrikam.azurecr.io': ['AcrPull'] },
  qreader: { 'contoso.azurecr.io': ['AcrPull', 'AcrQuarantineReader'] },
  puller: { 'contoso.azurecr.io': ['AcrPull'], 'fabrikam.azurecr.io': ['AcrPull'] },
  nobody: {},
};
const managedRoles: Partial<Record<RegistryName, AcrRole[]>> = { 'contoso.azurecr.io': ['AcrPush', 'AcrQuarantineWriter'] };

/** Entra-like client secret: 40 URL-safe characters. */
const newSecret = (): string => randomBytes(30).toString('base64url');
/** Opaque bearer token; never 52 characters (azure-devops-node-api would take it for a PAT). */
const newAccessToken = (): string => `lab.${randomBytes(48).toString('base64url')}`;

/** A deep partial of the previous lab.json: anything in it may be missing. */
type Previous = { [key: string]: Previous | undefined } | string | number | boolean | undefined;

function readPrevious(): Previous {
  if (!existsSync(labFile)) return undefined;
  try {
    return JSON.parse(readFileSync(labFile, 'utf8')) as Previous;
  } catch {
    return undefined;
  }
}

function at(value: Previous, ...keys: string[]): Previous {
  let current = value;
  for (const key of keys) current = current !== null && typeof current === 'object' ? current[key] : undefined;
  return current;
}

/** The previous string at that path, or a new one. */
function keep(previous: Previous, keys: string[], make: () => string): string {
  const value = at(previous, ...keys);
  return typeof value === 'string' && value.length > 0 ? value : make();
}

function serviceConnections(previous: Previous): Record<string, ServiceConnection> {
  const wanted: ServiceConnection[] = [];
  for (const identity of Object.keys(appRoles) as AppIdentityName[]) {
    wanted.push({ name: `${identity}-wif`, scheme: 'WorkloadIdentityFederation', identity });
    wanted.push({ name: `${identity}-secret`, scheme: 'ServicePrincipal', authenticationType: 'spnKey', identity });
    wanted.push({ name: `${identity}-cert`, scheme: 'ServicePrincipal', authenticationType: 'spnCertificate', identity });
  }
  wanted.push({ name: 'managed-msi', scheme: 'ManagedServiceIdentity', identity: 'managed' });
  // a connection keeps its id: find it by name in the previous file
  const previousIds = new Map<string, string>();
  const old = at(previous, 'azureDevOps', 'serviceConnections');
  if (old !== null && typeof old === 'object') {
    for (const [id, connection] of Object.entries(old)) {
      const name = at(connection, 'name');
      if (typeof name === 'string') previousIds.set(name, id);
    }
  }
  return Object.fromEntries(wanted.map((connection) => [previousIds.get(connection.name) ?? randomUUID(), connection]));
}

export function buildLab(docker: DockerVersions): Lab {
  const previous = readPrevious();
  const registries = Object.fromEntries(
    registryNames.map((name) => {
      const username = name.split('.')[0];
      return [
        name,
        {
          quarantine: quarantineByRegistry[name],
          admin: { username, password: keep(previous, ['registries', name, 'admin', 'password'], newSecret) },
        },
      ];
    }),
  ) as Lab['registries'];

  const appIdentity = (name: AppIdentityName): AppIdentity => ({
    clientId: keep(previous, ['identities', name, 'clientId'], randomUUID),
    objectId: keep(previous, ['identities', name, 'objectId'], randomUUID),
    secret: keep(previous, ['identities', name, 'secret'], newSecret),
    certificatePath: ensureIdentityCertificate(name),
    roles: appRoles[name],
  });
  const managed: ManagedIdentity = {
    kind: 'managedIdentity',
    clientId: keep(previous, ['identities', 'managed', 'clientId'], randomUUID),
    objectId: keep(previous, ['identities', 'managed', 'objectId'], randomUUID),
    roles: managedRoles,
  };
  const identities = {
    ...(Object.fromEntries((Object.keys(appRoles) as AppIdentityName[]).map((name) => [name, appIdentity(name)])) as Record<
      AppIdentityName,
      AppIdentity
    >),
    managed,
  };

  const releasesBaseUrl = 'https://releases.lab.test';
  return {
    version: 1,
    root: labRoot,
    caFile,
    tls: { certFile: serverCertFile, keyFile: serverKeyFile, names: labHostNames },
    docker: { host: 'unix:///var/run/docker.sock', ...docker },
    backingRegistry,
    registries,
    entra: {
      authorityHost: 'https://login.lab.test',
      tenantId: keep(previous, ['entra', 'tenantId'], randomUUID),
      subscriptionId: keep(previous, ['entra', 'subscriptionId'], randomUUID),
    },
    identities,
    managedIdentityEndpoint: 'http://127.0.0.1:8090',
    azureDevOps: {
      collectionUri: 'https://dev.azure.lab.test/contoso/',
      organization: 'contoso',
      organizationId: keep(previous, ['azureDevOps', 'organizationId'], randomUUID),
      projectName: 'container-release',
      projectId: keep(previous, ['azureDevOps', 'projectId'], randomUUID),
      planId: keep(previous, ['azureDevOps', 'planId'], randomUUID),
      jobId: keep(previous, ['azureDevOps', 'jobId'], randomUUID),
      hostType: 'build',
      accessToken: keep(previous, ['azureDevOps', 'accessToken'], newAccessToken),
      serviceConnections: serviceConnections(previous),
    },
    trivy: {
      version: '0.74.0',
      downloadBaseUrl: `${releasesBaseUrl}/aquasecurity/trivy/releases/download`,
      tamperedDownloadBaseUrl: `${releasesBaseUrl}/tampered/aquasecurity/trivy/releases/download`,
      dbRepository: 'releases.lab.test/aquasec/trivy-db:2',
    },
    baseDir,
    logsDir,
    releasesDir: path.join(labRoot, 'releases'),
    releasesBaseUrl,
    control: controlUrl,
    qemu: { platforms: qemuPlatforms },
  };
}

/** Writes lab.json (0600: it holds secrets). True when its content changed. */
export function writeLab(lab: Lab): boolean {
  const content = `${JSON.stringify(lab, null, 2)}\n`;
  const changed = !existsSync(labFile) || readFileSync(labFile, 'utf8') !== content;
  if (changed) writeFileSync(labFile, content, { mode: 0o600 });
  chmodSync(labFile, 0o600);
  return changed;
}
