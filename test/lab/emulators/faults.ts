// Fault injection per route, and the audit log of every request on the emulated hosts.
import { randomUUID } from 'node:crypto';

export const faultKinds = ['429', '500', '503', 'reset', 'slow'] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface FaultSpec {
  /** Emulated host (e.g. contoso.azurecr.io, or 127.0.0.1:8090 for IMDS); any host when absent. */
  host?: string;
  /** HTTP method (case-insensitive); any when absent. */
  method?: string;
  /** Regular expression tested against the request path (without the query string). */
  path: string;
  kind: FaultKind;
  /** How many matching requests get the fault: default 1; -1 = forever. */
  times?: number;
  /** Retry-After seconds for 429 (default 1) and 503 (sent only when given). */
  retryAfter?: number;
  /** Delay of a `slow` answer (default 2000 ms); the request is then served normally. */
  delayMs?: number;
}

export interface Fault extends FaultSpec {
  id: string;
  remaining: number;
  hits: number;
}

/** Checks a fault specification from the control API; the error message is for the caller. */
export function validateFaultSpec(value: unknown): { spec?: FaultSpec; error?: string } {
  if (typeof value !== 'object' || value === null) return { error: 'body must be a JSON object' };
  const spec = value as Record<string, unknown>;
  if (typeof spec.path !== 'string') return { error: 'path (a regular expression) is required' };
  try {
    new RegExp(spec.path);
  } catch (error) {
    return { error: `path is not a valid regular expression: ${(error as Error).message}` };
  }
  if (!faultKinds.includes(spec.kind as FaultKind)) return { error: `kind must be one of ${faultKinds.join(', ')}` };
  if (spec.host !== undefined && typeof spec.host !== 'string') return { error: 'host must be a string' };
  if (spec.method !== undefined && typeof spec.method !== 'string') return { error: 'method must be a string' };
  for (const key of ['times', 'retryAfter', 'delayMs'] as const) {
    if (spec[key] !== undefined && !Number.isInteger(spec[key])) return { error: `${key} must be an integer` };
  }
  if (spec.times !== undefined && (spec.times as number) < -1) return { error: 'times must be -1 (forever) or a positive count' };
  if (spec.times === 0) return { error: 'times must be -1 (forever) or a positive count' };
  return {
    spec: {
      host: spec.host as string | undefined,
      method: spec.method as string | undefined,
      path: spec.path,
      kind: spec.kind as FaultKind,
      times: spec.times as number | undefined,
      retryAfter: spec.retryAfter as number | undefined,
      delayMs: spec.delayMs as number | undefined,
    },
  };
}

export class FaultTable {
  private faults: Fault[] = [];

  add(spec: FaultSpec): Fault {
    const fault: Fault = { ...spec, id: randomUUID(), remaining: spec.times ?? 1, hits: 0 };
    this.faults.push(fault);
    return fault;
  }

  list(): Fault[] {
    return this.faults.map((fault) => ({ ...fault }));
  }

  remove(id: string): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((fault) => fault.id !== id);
    return this.faults.length !== before;
  }

  clear(): void {
    this.faults = [];
  }

  /** The first fault matching the request, consumed once; exhausted faults are dropped. */
  take(host: string, method: string, path: string): Fault | undefined {
    const fault = this.faults.find(
      (candidate) =>
        (!candidate.host || candidate.host.toLowerCase() === host) &&
        (!candidate.method || candidate.method.toUpperCase() === method.toUpperCase()) &&
        new RegExp(candidate.path).test(path),
    );
    if (!fault) return undefined;
    fault.hits += 1;
    if (fault.remaining > 0) {
      fault.remaining -= 1;
      if (fault.remaining === 0) this.remove(fault.id);
    }
    return { ...fault };
  }
}

export interface AuditEntry {
  seq: number;
  time: string;
  host: string;
  method: string;
  path: string;
  query: Record<string, string>;
  /** HTTP status answered; 0 when the connection was reset or dropped before an answer. */
  status: number;
  identity?: string;
  fault?: FaultKind;
  /** Non-secret fields of a form body (grant_type, client_id, service, scope, tenant, username, resource). */
  form?: Record<string, string>;
}

export class AuditLog {
  private entries: AuditEntry[] = [];
  private nextSeq = 1;

  constructor(private readonly capacity = 20000) {}

  add(entry: Omit<AuditEntry, 'seq'>): AuditEntry {
    const full = { seq: this.nextSeq++, ...entry };
    this.entries.push(full);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
    return full;
  }

  /** Entries with seq greater than `since`. Sequence numbers keep growing across resets. */
  since(since = 0): AuditEntry[] {
    return this.entries.filter((entry) => entry.seq > since);
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  clear(): void {
    this.entries = [];
  }
}
