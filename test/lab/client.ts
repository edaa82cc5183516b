// Typed client of the lab control API (http://127.0.0.1:8089/_lab/...), for tests, benchmarks and the demo.
// See test/lab/emulators/README.md for what each call does.
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import type { ManifestRecord, RegistryPolicy } from './emulators/acr/store';
import type { AuditEntry, Fault as ActiveFault, FaultSpec } from './emulators/faults';
import { labFile, readLab } from './lab';

// The shapes are the emulator's own: the client speaks exactly what the server answers.
export type { AuditEntry, Fault as ActiveFault, FaultKind, FaultSpec } from './emulators/faults';
export type { QuarantineState, RegistryPolicy } from './emulators/acr/store';

/** The emulator's record of one manifest digest, with the tags it saw pushed and its registry's current policy. */
export interface QuarantineRecord extends ManifestRecord {
  tags: string[];
  policy: RegistryPolicy;
}

export interface Health {
  ok: boolean;
  pid: number;
  startedAt: string;
  hosts: string[];
  auditSeq: number;
}

export class LabControlError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'LabControlError';
  }
}

/** The control API's base URL: lab.json's `control`, else the fixed default. */
export function controlBaseUrl(): string {
  if (existsSync(labFile)) {
    try {
      return readLab().control.replace(/\/+$/, '');
    } catch {
      // fall through to the default
    }
  }
  return 'http://127.0.0.1:8089';
}

export class LabControl {
  constructor(readonly baseUrl: string = controlBaseUrl()) {}

  health(): Promise<Health> {
    return this.call<Health>('GET', '/_lab/health');
  }

  /** Adds a fault; returns its id. */
  async addFault(spec: FaultSpec): Promise<string> {
    return (await this.call<{ id: string }>('POST', '/_lab/faults', spec)).id;
  }

  faults(): Promise<ActiveFault[]> {
    return this.call<ActiveFault[]>('GET', '/_lab/faults');
  }

  async removeFault(id: string): Promise<void> {
    await this.call('DELETE', `/_lab/faults/${encodeURIComponent(id)}`);
  }

  async clearFaults(): Promise<void> {
    await this.call('DELETE', '/_lab/faults');
  }

  /** Audit entries after `since` (a seq); the seq keeps growing across resets. */
  audit(since = 0): Promise<AuditEntry[]> {
    return this.call<AuditEntry[]>('GET', `/_lab/audit?since=${since}`);
  }

  /** The latest seq, to read only what a test causes afterwards: `const mark = await lab.auditMark()`. */
  async auditMark(): Promise<number> {
    return (await this.health()).auditSeq;
  }

  /** Clears faults and the audit log, and puts every registry policy back to lab.json's defaults. */
  async reset(): Promise<void> {
    await this.call('POST', '/_lab/reset');
  }

  policies(): Promise<Record<string, RegistryPolicy>> {
    return this.call<Record<string, RegistryPolicy>>('GET', '/_lab/policy');
  }

  setPolicy(registry: string, changes: Partial<RegistryPolicy>): Promise<RegistryPolicy> {
    return this.call<RegistryPolicy>('POST', '/_lab/policy', { registry, ...changes });
  }

  /** The emulator's record of a manifest digest, or undefined when it has none. */
  async quarantineRecord(registry: string, repository: string, digest: string): Promise<QuarantineRecord | undefined> {
    const query = new URLSearchParams({ registry, repo: repository, digest });
    try {
      return await this.call<QuarantineRecord>('GET', `/_lab/quarantine?${query}`);
    } catch (error) {
      if (error instanceof LabControlError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** One request on a fresh connection (no keep-alive: idle sockets never race the server's timeout). */
  private call<T>(method: string, route: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const outgoing = request(
        `${this.baseUrl}${route}`,
        {
          method,
          agent: false,
          headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = response.statusCode ?? 0;
            if (status < 200 || status >= 300) reject(new LabControlError(`${method} ${route} answered ${status}: ${text}`, status));
            else resolve((text ? JSON.parse(text) : undefined) as T);
          });
        },
      );
      outgoing.on('error', reject);
      outgoing.end(payload);
    });
  }
}
