// The permission preflight: before a run builds, pushes, scans or copies anything, ask the registry once for a token
// covering every repository and action the run needs, read what it granted, probe quarantine read with a HEAD on the
// digest, and fail naming every missing role at once. The role named depends on the registry's role-assignment mode
// (learn.microsoft.com/azure/container-registry/container-registry-rbac-abac-repository-permissions): the legacy
// AcrPull/AcrPush/AcrDelete roles, or in "RBAC Registry + ABAC Repository Permissions" mode the Container Registry
// Repository Reader/Writer/Contributor roles with a condition on the repository name. When the mode is unknown both
// are named, with the reason.
import type { HttpClient } from '../http/client';
import type { Logger } from '../log';
import { accessEntries, jwtClaims } from '../registry/auth';
import { RegistryClient } from '../registry/client';
import { ACR_TOKEN_USERNAME, type RegistryCredentials } from '../registry/credentials';
import { RegistryError } from '../registry/errors';
import { validateDigest, validateRepository } from '../registry/reference';
import type { RetryPolicy } from '../util/retry';
import { AcrClient, quarantineStateOf } from './client';

export type RepositoryAction = 'pull' | 'push' | 'delete' | 'metadata_read' | 'metadata_write';

/** `legacy`: "RBAC Registry Permissions"; `abac`: "RBAC Registry + ABAC Repository Permissions". */
export type RoleAssignmentMode = 'legacy' | 'abac';

/** What is known of the registry's mode: the mode, or why it is unknown. */
export interface ModeKnowledge {
  mode?: RoleAssignmentMode;
  /** Why the mode is unknown (ARM not readable, ...), or where it was read. */
  reason?: string;
}

export interface AccessNeed {
  repository: string;
  actions: RepositoryAction[];
  /** What the run does with it, for the message: e.g. "to push the build". */
  why?: string;
}

export interface QuarantineNeed {
  repository: string;
  digest: string;
  /** The run writes quarantineState (release: quarantine); not needed when the digest is already Passed. */
  write: boolean;
}

export interface PermissionNeeds {
  access: AccessNeed[];
  quarantine?: QuarantineNeed;
}

export type Permission = 'pull' | 'push' | 'delete' | 'quarantine read' | 'quarantine write';

export interface MissingPermission {
  repository: string;
  permission: Permission;
  /** The actions the token granted on that repository. */
  granted: string[];
  why?: string;
  /** The registry's answer, for a probe that was refused. */
  said?: string;
}

export class PermissionError extends Error {
  constructor(
    readonly registry: string,
    readonly missing: MissingPermission[],
    readonly mode: ModeKnowledge,
  ) {
    super(`The identity ${describeMissing(registry, missing, mode)}`);
    this.name = 'PermissionError';
  }
}

export interface PreflightOptions {
  registry: string;
  credentials: RegistryCredentials;
  mode?: ModeKnowledge;
  http?: HttpClient;
  logger?: Logger;
  retry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
}

export interface PreflightResult {
  /** The access token of the check (a secret: register it), undefined when the registry gave none to read. */
  token?: string;
  /** Actions granted per repository; undefined when the token does not say (not a JWT, Basic auth). */
  granted?: Map<string, Set<string>>;
}

export const ABAC_CONDITION_ATTRIBUTE = '@Request[Microsoft.ContainerRegistry/registries/repositories:name]';

/** Checks every need with one token request (+ a HEAD on the digest for quarantine read); throws a PermissionError. */
export async function checkPermissions(needs: PermissionNeeds, options: PreflightOptions): Promise<PreflightResult> {
  const { credentials, logger } = options;
  const registry = options.registry;
  const mode = options.mode ?? {};
  const wanted = mergeNeeds(needs);
  if (wanted.size === 0) return {};
  const client = new RegistryClient({ registry, credentials, http: options.http, logger, retry: options.retry, sleep: options.sleep });

  // ACR's realm is known; other registries tell theirs at /v2/.
  const realm =
    credentials.username === ACR_TOKEN_USERNAME
      ? { realm: `https://${registry}/oauth2/token`, service: registry }
      : await client.bearerChallenge();
  if (!realm) {
    logger?.debug(`${registry} asks for no bearer token; its permissions are seen as the run goes.`);
    return {};
  }
  const scopes = [...wanted].map(([repository, actions]) => `repository:${repository}:${[...actions].join(',')}`);
  const token = await client.authenticator.accessToken(realm.realm, realm.service, scopes).catch((error: unknown) => {
    if (error instanceof RegistryError)
      throw new Error(`${registry} refused a token for ${scopes.join(' ')}: ${error.registryMessage ?? error.message}`);
    throw error;
  });
  const claims = jwtClaims(token);
  if (!claims) {
    logger?.debug(`${registry}'s token does not say what it grants; its permissions are seen as the run goes.`);
    return { token };
  }
  const granted = grantedActions(claims);
  const grantedOn = (repository: string) => granted.get(repository) ?? new Set<string>();
  const missing: MissingPermission[] = [];
  for (const need of needs.access) {
    const has = grantedOn(need.repository);
    for (const permission of permissionsOf(need.actions)) {
      if (!allows(has, permission) && !missing.some((m) => m.repository === need.repository && m.permission === permission))
        missing.push({ repository: need.repository, permission, granted: [...has], why: need.why });
    }
  }

  const quarantine = needs.quarantine;
  if (quarantine && allows(grantedOn(quarantine.repository), 'pull')) {
    const reference = `${registry}/${quarantine.repository}@${quarantine.digest}`;
    let readable = true;
    try {
      await client.headManifest(quarantine.repository, quarantine.digest);
    } catch (error) {
      if (!(error instanceof RegistryError) || (error.status !== 403 && error.status !== 405)) throw error;
      readable = false;
      missing.push({
        repository: quarantine.repository,
        permission: 'quarantine read',
        granted: [...grantedOn(quarantine.repository)],
        why: `to scan ${reference}, which is quarantined`,
        said: `${error.status}${error.registryMessage ? ` (${error.registryMessage})` : ''} to a HEAD of the digest`,
      });
    }
    if (quarantine.write && !grantedOn(quarantine.repository).has('metadata_write') && !grantedOn(quarantine.repository).has('*')) {
      // An image already Passed is never written again (release.ts), so write is not needed for it.
      const passed = readable && (await alreadyPassed(quarantine, options, client));
      if (!passed)
        missing.push({
          repository: quarantine.repository,
          permission: 'quarantine write',
          granted: [...grantedOn(quarantine.repository)],
          why: `to release ${reference} from quarantine`,
        });
    }
  }
  if (missing.length > 0) throw new PermissionError(registry, missing, mode);
  logger?.info(
    `${registry}: the identity may ${[...wanted].map(([repository, actions]) => `${[...actions].join(', ')} on ${repository}`).join('; ')}` +
      (quarantine ? `${quarantine.write ? ', and release from quarantine' : ''}` : '') +
      '.',
  );
  return { token, granted };
}

async function alreadyPassed(need: QuarantineNeed, options: PreflightOptions, client: RegistryClient): Promise<boolean> {
  const acr = new AcrClient({
    registry: options.registry,
    credentials: options.credentials,
    http: options.http,
    retry: options.retry,
    sleep: options.sleep,
    authenticator: client.authenticator,
  });
  try {
    return quarantineStateOf(await acr.getManifestAttributes(need.repository, need.digest)) === 'Passed';
  } catch {
    return false;
  }
}

/** Repository -> actions, in the order first asked; the quarantine repository also asks metadata_write when written. */
export function mergeNeeds(needs: PermissionNeeds): Map<string, Set<RepositoryAction>> {
  const merged = new Map<string, Set<RepositoryAction>>();
  const add = (repository: string, actions: RepositoryAction[]) => {
    validateRepository(repository);
    const set = merged.get(repository) ?? new Set<RepositoryAction>();
    for (const action of actions) set.add(action);
    merged.set(repository, set);
  };
  for (const need of needs.access) add(need.repository, need.actions);
  if (needs.quarantine) {
    validateDigest(needs.quarantine.digest);
    add(needs.quarantine.repository, needs.quarantine.write ? ['pull', 'metadata_write'] : ['pull']);
  }
  return merged;
}

/**
 * The repository actions an access token grants (distribution token spec's `access` claim), its keys read in either
 * case: live ACR writes `Type/Name/Actions` today (test/conformance/recordings).
 */
export function grantedActions(claims: Record<string, unknown>): Map<string, Set<string>> {
  const granted = new Map<string, Set<string>>();
  for (const entry of accessEntries(claims)) {
    if (entry.type !== 'repository' || !entry.name) continue;
    const set = granted.get(entry.name) ?? new Set<string>();
    for (const action of entry.actions) set.add(action);
    granted.set(entry.name, set);
  }
  return granted;
}

function permissionsOf(actions: RepositoryAction[]): Permission[] {
  const permissions = new Set<Permission>();
  for (const action of actions) {
    if (action === 'pull' || action === 'metadata_read') permissions.add('pull');
    else if (action === 'push' || action === 'metadata_write') permissions.add('push');
    else permissions.add('delete');
  }
  return [...permissions];
}

function allows(granted: Set<string>, permission: Permission): boolean {
  if (granted.has('*')) return true;
  if (permission === 'quarantine read' || permission === 'quarantine write') return false;
  return granted.has(permission);
}

const LEGACY_ROLE: Record<Permission, string> = {
  pull: 'AcrPull',
  push: 'AcrPush',
  delete: 'AcrDelete',
  'quarantine read': 'AcrQuarantineReader',
  'quarantine write': 'AcrQuarantineWriter',
};

const ABAC_ROLE: Record<'pull' | 'push' | 'delete', string> = {
  pull: 'Container Registry Repository Reader',
  push: 'Container Registry Repository Writer',
  delete: 'Container Registry Repository Contributor',
};

/** The ABAC condition that limits a role assignment to one repository. */
export function repositoryCondition(repository: string): string {
  return `${ABAC_CONDITION_ATTRIBUTE} StringEqualsIgnoreCase '${repository}'`;
}

/** The role assignment that grants a permission, in the words of the registry's mode (both when unknown). */
export function roleAdvice(permission: Permission, repository: string, mode: ModeKnowledge): string {
  const legacy = `the ${LEGACY_ROLE[permission]} role on the registry`;
  if (permission === 'quarantine read' || permission === 'quarantine write') {
    const abacNote = mode.mode === 'legacy' ? '' : ' (in ABAC mode too: ACR documents no repository role for the quarantine)';
    return `${legacy}${permission === 'quarantine read' ? ' (or AcrQuarantineWriter, which also lets it release)' : ''}${abacNote}`;
  }
  const abac = `the ${ABAC_ROLE[permission]} role with the condition ${repositoryCondition(repository)}`;
  if (mode.mode === 'legacy') return legacy;
  if (mode.mode === 'abac')
    return `${abac} (the registry is in RBAC Registry + ABAC Repository Permissions mode, where ${LEGACY_ROLE[permission]} is not honored)`;
  return (
    `${legacy} if the registry is in RBAC Registry Permissions mode, or ${abac} if it is in RBAC Registry + ABAC Repository Permissions mode` +
    ` (the mode is unknown${mode.reason ? `: ${mode.reason}` : ''})`
  );
}

const VERB: Record<Permission, string> = {
  pull: 'pull on',
  push: 'push on',
  delete: 'delete on',
  'quarantine read': 'read quarantined images in',
  'quarantine write': 'change the quarantine state in',
};

/** "may not push on r/x (granted: pull). Assign it the AcrPush role on the registry." — one sentence per missing permission. */
export function describeMissing(registry: string, missing: MissingPermission[], mode: ModeKnowledge): string {
  const sentences = missing.map((m) => {
    const granted = m.granted.length ? m.granted.join(', ') : 'nothing';
    const said = m.said ? `, the registry answered ${m.said}` : '';
    return `may not ${VERB[m.permission]} ${registry}/${m.repository}${m.why ? ` (${m.why})` : ''} (granted: ${granted}${said}). Assign it ${roleAdvice(m.permission, m.repository, mode)}.`;
  });
  const text =
    sentences.length === 1 ? sentences[0] : `is missing ${sentences.length} permissions:\n${sentences.map((s) => `  - ${s}`).join('\n')}`;
  return `${text}\nNothing was built, pushed, scanned or copied.`;
}
