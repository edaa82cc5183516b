// The emulators' view of .lab/lab.json: re-read when the file changes, the last good copy kept otherwise.
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { type AppIdentity, type Lab, labFile, type ManagedIdentity, readLab } from '../lab';

export type LabIdentity = AppIdentity | ManagedIdentity;

export interface NamedIdentity {
  name: string;
  identity: LabIdentity;
}

export class LabConfig {
  private cached: Lab;
  private mtimeMs: number;

  constructor(private readonly file: string = process.env.LAB_JSON ?? labFile) {
    this.cached = readLab(file);
    this.mtimeMs = statSync(file).mtimeMs;
  }

  /** The current lab description (cheap: one stat per call). */
  get lab(): Lab {
    try {
      const mtimeMs = statSync(this.file).mtimeMs;
      if (mtimeMs !== this.mtimeMs) {
        this.cached = readLab(this.file);
        this.mtimeMs = mtimeMs;
      }
    } catch {
      // keep serving the last good description while the file is being rewritten
    }
    return this.cached;
  }

  get root(): string {
    return this.lab.root ?? path.dirname(this.file);
  }

  /** Where the emulators keep their keys and state. */
  get stateDir(): string {
    return path.join(this.root, 'emulators');
  }

  get tenantId(): string {
    return this.lab.entra.tenantId;
  }

  /** The authority host without a trailing slash, e.g. https://login.lab.test. */
  get authorityHost(): string {
    return (this.lab.entra.authorityHost ?? 'https://login.lab.test').replace(/\/+$/, '');
  }

  identities(): NamedIdentity[] {
    return Object.entries(this.lab.identities ?? {}).map(([name, identity]) => ({ name, identity: identity as LabIdentity }));
  }

  identityByClientId(clientId: string): NamedIdentity | undefined {
    return this.identities().find(({ identity }) => identity.clientId.toLowerCase() === clientId.toLowerCase());
  }

  identityByObjectId(objectId: string): NamedIdentity | undefined {
    return this.identities().find(({ identity }) => identity.objectId.toLowerCase() === objectId.toLowerCase());
  }

  identityByName(name: string): NamedIdentity | undefined {
    return this.identities().find((entry) => entry.name === name);
  }

  rolesOf(identity: LabIdentity, registry: string): string[] {
    return (identity.roles as Record<string, string[] | undefined>)[registry] ?? [];
  }

  registryNames(): string[] {
    return Object.keys(this.lab.registries ?? {});
  }

  registry(name: string): Lab['registries'][keyof Lab['registries']] | undefined {
    return (this.lab.registries as Record<string, Lab['registries'][keyof Lab['registries']] | undefined>)[name];
  }

  /** The backing registry as host and port (plain HTTP on loopback). */
  get backingRegistry(): { host: string; port: number } {
    const [host, port] = (this.lab.backingRegistry ?? '127.0.0.1:5000').split(':');
    return { host, port: Number(port || 80) };
  }
}
