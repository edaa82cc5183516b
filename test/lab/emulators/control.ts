// The lab control API (http://127.0.0.1:8089/_lab/...): health, faults, audit, reset, policy, quarantine records.
import type { AcrEmulator } from './acr';
import type { DisallowedStatus, FreshState, RegistryPolicy } from './acr/store';
import type { LabConfig } from './config';
import { type AuditLog, type FaultTable, validateFaultSpec } from './faults';
import { type Exchange, readJson, sendJson } from './http';

export interface ControlDependencies {
  config: LabConfig;
  faults: FaultTable;
  audit: AuditLog;
  acr: AcrEmulator;
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
  return { registry: body.registry, changes };
}
