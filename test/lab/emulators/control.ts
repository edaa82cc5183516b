// The lab control API (http://127.0.0.1:8089/_lab/...): health, faults, audit, reset, policy, quarantine records.
import type { AcrEmulator } from './acr';
import type { AcrTasksEmulator } from './acr-tasks';
import type { AbacAssignment, DisallowedStatus, FreshState, RegistryPolicy } from './acr/store';
import { type AbacRoleName, type RepositoryCondition, abacRoleNames, parseCondition, repositoryNameAttribute } from './acr/scopes';
import type { LabConfig } from './config';
import { type AuditLog, type FaultTable, validateFaultSpec } from './faults';
import { type Exchange, readJson, sendJson } from './http';

export interface ControlDependencies {
  config: LabConfig;
  faults: FaultTable;
  audit: AuditLog;
  acr: AcrEmulator;
  /** ACR Tasks on https://127.0.0.1 (optional: older callers construct the API without it). */
  acrTasks?: AcrTasksEmulator;
  startedAt: string;
  hosts: () => string[];
}

export class ControlApi {
  constructor(private readonly deps: ControlDependencies) {}

  async handle(exchange: Exchange): Promise<void> {
    const { req, res, url } = exchange;
    const method = req.method ?? 'GET';
    const route = url.pathname.replace(/\/+$/, '');
    const { faults, audit, acr, config } = this.deps;

    if (route === '/_lab/health' && method === 'GET') {
      return sendJson(res, 200, {
        ok: true,
        pid: process.pid,
        startedAt: this.deps.startedAt,
        hosts: this.deps.hosts(),
        auditSeq: audit.lastSeq,
      });
    }
    if (route === '/_lab/faults') {
      if (method === 'GET') return sendJson(res, 200, faults.list());
      if (method === 'DELETE') {
        faults.clear();
        return sendJson(res, 200, { ok: true });
      }
      if (method === 'POST') {
        const { spec, error } = validateFaultSpec(await readJsonSafe(exchange));
        if (!spec) return sendJson(res, 400, { error });
        return sendJson(res, 201, { id: faults.add(spec).id });
      }
    }
    const faultMatch = /^\/_lab\/faults\/([^/]+)$/.exec(route);
    if (faultMatch && method === 'DELETE') {
      return faults.remove(faultMatch[1]) ? sendJson(res, 200, { ok: true }) : sendJson(res, 404, { error: 'no such fault' });
    }
    if (route === '/_lab/audit' && method === 'GET') {
      const since = Number(url.searchParams.get('since') ?? 0);
      return sendJson(res, 200, audit.since(Number.isFinite(since) ? since : 0));
    }
    if (route === '/_lab/reset' && method === 'POST') {
      faults.clear();
      audit.clear();
      acr.policies.reset();
      this.deps.acrTasks?.resetBehaviours();
      return sendJson(res, 200, { ok: true, auditSeq: audit.lastSeq });
    }
    if (route === '/_lab/policy') {
      if (method === 'GET') {
        const registries = config.registryNames();
        return sendJson(res, 200, Object.fromEntries(registries.map((name) => [name, acr.policies.get(name)])));
      }
      if (method === 'POST') {
        const { registry, changes, error } = parsePolicy(await readJsonSafe(exchange), config.registryNames());
        if (!registry || !changes) return sendJson(res, 400, { error });
        return sendJson(res, 200, acr.policies.set(registry, changes));
      }
    }
    if (route === '/_lab/quarantine' && method === 'GET') {
      const registry = url.searchParams.get('registry') ?? '';
      const repository = url.searchParams.get('repo') ?? '';
      const digest = url.searchParams.get('digest') ?? '';
      const record = acr.store.record(registry, repository, digest);
      if (!record) return sendJson(res, 404, { error: `no quarantine record for ${registry}/${repository}@${digest}` });
      return sendJson(res, 200, { ...record, tags: acr.store.tagsOf(registry, repository, digest), policy: acr.policies.get(registry) });
    }
    const acrTasks = this.deps.acrTasks;
    if (route === '/_lab/acr-tasks' && acrTasks) {
      if (method === 'GET') {
        const registries = config.registryNames();
        return sendJson(res, 200, Object.fromEntries(registries.map((name) => [name, acrTasks.behaviour(name)])));
      }
      if (method === 'POST') {
        const body = (await readJsonSafe(exchange)) as { registry?: unknown; tasksAllowed?: unknown; queueMs?: unknown } | undefined;
        const registry = String(body?.registry ?? '');
        if (!config.registryNames().includes(registry)) return sendJson(res, 400, { error: `unknown registry '${registry}'` });
        const changes: { tasksAllowed?: boolean; queueMs?: number } = {};
        if (body?.tasksAllowed !== undefined) {
          if (typeof body.tasksAllowed !== 'boolean') return sendJson(res, 400, { error: 'tasksAllowed must be a boolean' });
          changes.tasksAllowed = body.tasksAllowed;
        }
        if (body?.queueMs !== undefined) {
          if (typeof body.queueMs !== 'number' || !Number.isInteger(body.queueMs) || body.queueMs < -1)
            return sendJson(res, 400, { error: 'queueMs must be an integer >= -1 (-1: queued for ever)' });
          changes.queueMs = body.queueMs;
        }
        return sendJson(res, 200, acrTasks.setBehaviour(registry, changes));
      }
    }
    if (route === '/_lab/acr-tasks/runs' && method === 'GET' && acrTasks) {
      return sendJson(res, 200, acrTasks.listRuns(url.searchParams.get('registry') ?? undefined));
    }
    sendJson(res, 404, { error: `${method} ${url.pathname} is not a control API route` });
  }
}

async function readJsonSafe(exchange: Exchange): Promise<unknown> {
  try {
    return await readJson(exchange.req);
  } catch {
    return undefined;
  }
}

function parsePolicy(value: unknown, registries: string[]): { registry?: string; changes?: Partial<RegistryPolicy>; error?: string } {
  if (typeof value !== 'object' || value === null) return { error: 'body must be a JSON object' };
  const body = value as Record<string, unknown>;
  if (typeof body.registry !== 'string' || !registries.includes(body.registry)) {
    return { error: `registry must be one of ${registries.join(', ')}` };
  }
  const changes: Partial<RegistryPolicy> = {};
  if (body.quarantine !== undefined) {
    if (typeof body.quarantine !== 'boolean') return { error: 'quarantine must be a boolean' };
    changes.quarantine = body.quarantine;
  }
  if (body.freshState !== undefined) {
    if (body.freshState !== 'Quarantined' && body.freshState !== 'absent') return { error: 'freshState must be "Quarantined" or "absent"' };
    changes.freshState = body.freshState as FreshState;
  }
  if (body.disallowedStatus !== undefined) {
    if (body.disallowedStatus !== 403 && body.disallowedStatus !== 405) return { error: 'disallowedStatus must be 403 or 405' };
    changes.disallowedStatus = body.disallowedStatus as DisallowedStatus;
  }
  if (body.pushersSeeQuarantined !== undefined) {
    if (typeof body.pushersSeeQuarantined !== 'boolean') return { error: 'pushersSeeQuarantined must be a boolean' };
    changes.pushersSeeQuarantined = body.pushersSeeQuarantined;
  }
  if (body.roleAssignmentMode !== undefined) {
    if (body.roleAssignmentMode !== 'legacy' && body.roleAssignmentMode !== 'abac')
      return { error: 'roleAssignmentMode must be "legacy" or "abac"' };
    changes.roleAssignmentMode = body.roleAssignmentMode;
  }
  if (body.abacScope !== undefined) {
    if (typeof body.abacScope !== 'string') return { error: 'abacScope must be a string (a repository prefix; empty: every repository)' };
    changes.abacScope = body.abacScope;
  }
  if (body.abacQuarantineRoles !== undefined) {
    if (typeof body.abacQuarantineRoles !== 'boolean') return { error: 'abacQuarantineRoles must be a boolean' };
    changes.abacQuarantineRoles = body.abacQuarantineRoles;
  }
  if (body.referrersApi !== undefined) {
    if (typeof body.referrersApi !== 'boolean') return { error: 'referrersApi must be a boolean' };
    changes.referrersApi = body.referrersApi;
  }
  if (body.referrersApiScope !== undefined) {
    if (typeof body.referrersApiScope !== 'string')
      return { error: 'referrersApiScope must be a string (a repository prefix; empty: every repository)' };
    changes.referrersApiScope = body.referrersApiScope;
  }
  if (body.abacAssignments !== undefined) {
    const { assignments, error } = parseAssignments(body.abacAssignments);
    if (!assignments) return { error };
    changes.abacAssignments = assignments;
  }
  return { registry: body.registry, changes };
}

/**
 * `[{identity, role, condition?}]`: a lab identity name, an ABAC role, and the condition as the portal writes it
 * (`@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringEqualsIgnoreCase 'team/app'`) or as
 * `{operator, value}`.
 */
export function parseAssignments(value: unknown): { assignments?: AbacAssignment[]; error?: string } {
  if (!Array.isArray(value)) return { error: 'abacAssignments must be an array' };
  const assignments: AbacAssignment[] = [];
  for (const item of value as unknown[]) {
    const entry = (item ?? {}) as Record<string, unknown>;
    if (typeof entry.identity !== 'string' || !entry.identity) return { error: 'each assignment needs an identity (a lab identity name)' };
    if (!abacRoleNames.includes(entry.role as AbacRoleName)) return { error: `role must be one of ${abacRoleNames.join(', ')}` };
    let condition: RepositoryCondition | undefined;
    if (typeof entry.condition === 'string') {
      condition = parseCondition(entry.condition);
      if (!condition)
        return {
          error: `condition '${entry.condition}' is not ${repositoryNameAttribute} StringEqualsIgnoreCase|StringStartsWithIgnoreCase '<repository>'`,
        };
    } else if (entry.condition !== undefined) {
      const c = entry.condition as Record<string, unknown>;
      if ((c.operator !== 'StringEqualsIgnoreCase' && c.operator !== 'StringStartsWithIgnoreCase') || typeof c.value !== 'string')
        return { error: 'condition must be {operator: StringEqualsIgnoreCase|StringStartsWithIgnoreCase, value} or its text' };
      condition = { operator: c.operator, value: c.value };
    }
    assignments.push({ identity: entry.identity, role: entry.role as AbacRoleName, ...(condition ? { condition } : {}) });
  }
  return { assignments };
}
