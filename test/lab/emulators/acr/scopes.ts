// Docker token scopes as ACR reads them: parse, grant by role (intersect requested and allowed), challenge.

/** One resource in a token request or an access token: `repository:<name>:<actions>` or `registry:catalog:*`. */
export interface ResourceScope {
  type: string;
  name: string;
  actions: string[];
}

export type AcrRoleName = 'AcrPull' | 'AcrPush' | 'AcrDelete' | 'AcrQuarantineReader' | 'AcrQuarantineWriter';

/** The roles of "RBAC Registry + ABAC Repository Permissions" mode (learn.microsoft.com container-registry-rbac-abac-repository-permissions). */
export type AbacRoleName =
  | 'Container Registry Repository Reader'
  | 'Container Registry Repository Writer'
  | 'Container Registry Repository Contributor'
  | 'Container Registry Repository Catalog Lister';

export const abacRoleNames: readonly AbacRoleName[] = [
  'Container Registry Repository Reader',
  'Container Registry Repository Writer',
  'Container Registry Repository Contributor',
  'Container Registry Repository Catalog Lister',
];

/** The legacy roles ABAC mode does not honor (the quarantine roles are a policy switch: undocumented). */
export const legacyRepositoryRoles: readonly string[] = ['AcrPull', 'AcrPush', 'AcrDelete'];

/** The attribute a role assignment's condition tests in ABAC mode. */
export const repositoryNameAttribute = '@Request[Microsoft.ContainerRegistry/registries/repositories:name]';

/** A condition on the repository name, as the portal writes it: `<attribute> StringEqualsIgnoreCase '<repo>'`. */
export interface RepositoryCondition {
  operator: 'StringEqualsIgnoreCase' | 'StringStartsWithIgnoreCase';
  value: string;
}

export function conditionMatches(condition: RepositoryCondition | undefined, repository: string): boolean {
  if (!condition) return true;
  const name = repository.toLowerCase();
  const value = condition.value.toLowerCase();
  return condition.operator === 'StringEqualsIgnoreCase' ? name === value : name.startsWith(value);
}

/** Parses `@Request[...repositories:name] StringEqualsIgnoreCase 'team/app'` (the condition text of a role assignment). */
export function parseCondition(text: string): RepositoryCondition | undefined {
  const match =
    /^\s*@Request\[Microsoft\.ContainerRegistry\/registries\/repositories:name\]\s+(StringEqualsIgnoreCase|StringStartsWithIgnoreCase)\s+'([^']*)'\s*$/i.exec(
      text,
    );
  if (!match) return undefined;
  const operator = match[1].toLowerCase() === 'stringequalsignorecase' ? 'StringEqualsIgnoreCase' : 'StringStartsWithIgnoreCase';
  return { operator, value: match[2] };
}

/**
 * Repository actions each built-in role grants. ACR documents the roles' data actions, not the token
 * actions they map to; this is the lab's reading (see emulators/README.md): quarantine roles read and
 * write metadata (the quarantine PATCH is a metadata write) but never push images.
 */
export const repositoryActionsByRole: Record<AcrRoleName, readonly string[]> = {
  AcrPull: ['pull', 'metadata_read'],
  AcrPush: ['pull', 'push', 'metadata_read', 'metadata_write'],
  AcrDelete: ['delete'],
  AcrQuarantineReader: ['pull', 'metadata_read'],
  AcrQuarantineWriter: ['pull', 'metadata_read', 'metadata_write'],
};

/** The ABAC repository roles' token actions (the lab's reading of their data actions, as for the legacy roles). */
export const repositoryActionsByAbacRole: Record<AbacRoleName, readonly string[]> = {
  'Container Registry Repository Reader': ['pull', 'metadata_read'],
  'Container Registry Repository Writer': ['pull', 'push', 'metadata_read', 'metadata_write'],
  'Container Registry Repository Contributor': ['pull', 'push', 'delete', 'metadata_read', 'metadata_write'],
  'Container Registry Repository Catalog Lister': [],
};

/** What the registry's admin user may do (ACR: push and pull, the owner of the registry). */
export const adminRepositoryActions: readonly string[] = ['pull', 'push', 'delete', 'metadata_read', 'metadata_write'];

/**
 * Parses `scope` values. One value may hold several scopes separated by spaces (acr-cli), and the
 * parameter may repeat (docker). A repository name may itself contain ':' (host:port), so the type is
 * before the first ':' and the actions after the last. Scopes for the same resource are merged.
 */
export function parseScopes(values: readonly string[]): ResourceScope[] {
  const merged = new Map<string, ResourceScope>();
  for (const value of values) {
    for (const item of value.split(' ')) {
      if (!item) continue;
      const first = item.indexOf(':');
      const last = item.lastIndexOf(':');
      if (first < 1 || last <= first + 1) continue;
      const type = item.slice(0, first);
      const name = item.slice(first + 1, last);
      const actions = item
        .slice(last + 1)
        .split(',')
        .map((action) => action.trim())
        .filter(Boolean);
      const key = `${type}:${name}`;
      const existing = merged.get(key);
      if (existing) existing.actions = union(existing.actions, actions);
      else merged.set(key, { type, name, actions: union([], actions) });
    }
  }
  return [...merged.values()];
}

export function formatScope(scope: ResourceScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

/** The repository actions a set of roles allows (admin: the admin user's). */
export function allowedRepositoryActions(roles: readonly string[], admin = false): string[] {
  let actions: string[] = admin ? [...adminRepositoryActions] : [];
  for (const role of roles) {
    const granted = repositoryActionsByRole[role as AcrRoleName] ?? repositoryActionsByAbacRole[role as AbacRoleName];
    if (granted) actions = union(actions, granted);
  }
  return actions;
}

/**
 * The access a token gets: for each requested resource, the requested actions that the roles allow
 * (`*` asks for everything allowed). `registry:catalog:*` needs any read right on the registry.
 * Resources of unknown types get no actions, like ACR.
 */
export function grantScopes(requested: readonly ResourceScope[], roles: readonly string[], admin = false): ResourceScope[] {
  const catalog = allowedRepositoryActions(roles, admin).includes('metadata_read');
  return grantScopesPerRepository(requested, () => allowedRepositoryActions(roles, admin), catalog);
}

/** The same, with the actions allowed decided per repository (ABAC mode's conditions). */
export function grantScopesPerRepository(
  requested: readonly ResourceScope[],
  repositoryActions: (repository: string) => readonly string[],
  catalog: boolean,
): ResourceScope[] {
  return requested
    .map((scope) => {
      let allowed: readonly string[] = [];
      if (scope.type === 'repository') allowed = repositoryActions(scope.name);
      else if (scope.type === 'registry' && scope.name === 'catalog' && catalog) allowed = ['*'];
      const actions = scope.actions.includes('*') ? [...allowed] : scope.actions.filter((action) => allowed.includes(action));
      return { type: scope.type, name: scope.name, actions };
    })
    .filter((scope) => scope.actions.length > 0); // live ACR leaves a resource it grants nothing on out: `"access":[]`
}

/**
 * The `access` entries of an ACR access token, whatever the case of their keys: ACR wrote `type/name/actions` in
 * 2021 and writes `Type/Name/Actions` today (both recorded).
 */
export function accessOf(claims: Record<string, unknown>): ResourceScope[] {
  const entries = Array.isArray(claims.access) ? (claims.access as unknown[]) : [];
  return entries.flatMap((entry) => {
    if (!entry || typeof entry !== 'object') return [];
    const fields = Object.fromEntries(Object.entries(entry).map(([key, value]) => [key.toLowerCase(), value as unknown]));
    const actions = Array.isArray(fields.actions) ? fields.actions.filter((action): action is string => typeof action === 'string') : [];
    return [{ type: String(fields.type ?? ''), name: String(fields.name ?? ''), actions }];
  });
}

/** The `access` claim as ACR writes it today (2023 recordings): capitalised keys. */
export function accessClaim(access: readonly ResourceScope[]): Array<{ Type: string; Name: string; Actions: string[] }> {
  return access.map((entry) => ({ Type: entry.type, Name: entry.name, Actions: entry.actions }));
}

/** True when the access list allows `action` on the resource (a `*` action allows all). */
export function hasAccess(access: readonly ResourceScope[], type: string, name: string, action: string): boolean {
  return access.some(
    (entry) => entry.type === type && entry.name === name && (entry.actions.includes(action) || entry.actions.includes('*')),
  );
}

/** The `WWW-Authenticate` value of ACR's Bearer challenge. */
export function bearerChallenge(registry: string, scope?: ResourceScope, error?: 'insufficient_scope' | 'invalid_token'): string {
  let header = `Bearer realm="https://${registry}/oauth2/token",service="${registry}"`;
  if (scope) header += `,scope="${formatScope(scope)}"`;
  if (error) header += `,error="${error}"`;
  return header;
}

function union(first: readonly string[], second: readonly string[]): string[] {
  const result = [...first];
  for (const item of second) if (!result.includes(item)) result.push(item);
  return result;
}
