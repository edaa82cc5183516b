// What the ACR emulator knows beyond the backing registry: one record per manifest digest pushed
// through it (quarantine state and changeable attributes) and the tags it saw pushed, persisted in
// .lab/emulators/acr-state.json so a restart keeps them (the registry data survives restarts too).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { AbacRoleName, RepositoryCondition } from './scopes';

/** `Quarantined` is the lab's name for a fresh quarantined manifest (see policy `freshState`). */
export type QuarantineState = 'Quarantined' | 'Passed' | 'Failed';

export interface ManifestRecord {
  registry: string;
  repository: string;
  digest: string;
  mediaType?: string;
  quarantineState: QuarantineState;
  /** The JSON string last PATCHed (validated against quarantine-details.schema.json). */
  quarantineDetails?: string;
  createdTime: string;
  lastUpdateTime: string;
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}

export interface TagRecord {
  digest: string;
  createdTime: string;
  lastUpdateTime: string;
}

interface StateFile {
  version: 1;
  manifests: Record<string, ManifestRecord>;
  tags: Record<string, TagRecord>;
}

export type ChangeableAttributes = Partial<
  Pick<ManifestRecord, 'deleteEnabled' | 'writeEnabled' | 'readEnabled' | 'listEnabled' | 'quarantineState' | 'quarantineDetails'>
>;

export class AcrStore {
  private state: StateFile = { version: 1, manifests: {}, tags: {} };
  private saveTimer: NodeJS.Timeout | undefined;

  constructor(private readonly file?: string) {
    if (file && existsSync(file)) {
      try {
        const loaded = JSON.parse(readFileSync(file, 'utf8')) as StateFile;
        if (loaded.version === 1) this.state = loaded;
      } catch {
        // a damaged state file starts the lab afresh rather than failing it
      }
    }
  }

  record(registry: string, repository: string, digest: string): ManifestRecord | undefined {
    return this.state.manifests[manifestKey(registry, repository, digest)];
  }

  records(registry: string, repository: string): ManifestRecord[] {
    return Object.values(this.state.manifests).filter((record) => record.registry === registry && record.repository === repository);
  }

  /**
   * A manifest was pushed. A new digest starts `Quarantined` when the registry's policy is on at push
   * time and `Passed` otherwise (what ACR shows on registries without quarantine); a digest pushed
   * again keeps its record. A push by tag moves the tag.
   */
  manifestPushed(
    registry: string,
    repository: string,
    digest: string,
    mediaType: string | undefined,
    tag: string | undefined,
    quarantine: boolean,
  ): ManifestRecord {
    const now = new Date().toISOString();
    const key = manifestKey(registry, repository, digest);
    let record = this.state.manifests[key];
    if (!record) {
      record = {
        registry,
        repository,
        digest,
        mediaType,
        quarantineState: quarantine ? 'Quarantined' : 'Passed',
        createdTime: now,
        lastUpdateTime: now,
        deleteEnabled: true,
        writeEnabled: true,
        readEnabled: true,
        listEnabled: true,
      };
      this.state.manifests[key] = record;
    } else {
      record.lastUpdateTime = now;
      if (mediaType) record.mediaType = mediaType;
    }
    if (tag) {
      const tagKey = tagRecordKey(registry, repository, tag);
      const existing = this.state.tags[tagKey];
      this.state.tags[tagKey] = { digest, createdTime: existing?.createdTime ?? now, lastUpdateTime: now };
    }
    this.scheduleSave();
    return record;
  }

  /** Applies a PATCH of changeable attributes (creating the record for a manifest pushed elsewhere). */
  update(registry: string, repository: string, digest: string, changes: ChangeableAttributes): ManifestRecord {
    const record =
      this.record(registry, repository, digest) ?? this.manifestPushed(registry, repository, digest, undefined, undefined, false);
    Object.assign(record, changes, { lastUpdateTime: new Date().toISOString() });
    this.scheduleSave();
    return record;
  }

  manifestDeleted(registry: string, repository: string, digest: string): void {
    delete this.state.manifests[manifestKey(registry, repository, digest)];
    for (const [key, tag] of Object.entries(this.state.tags)) {
      if (tag.digest === digest && key.startsWith(`${registry}/${repository}:`)) delete this.state.tags[key];
    }
    this.scheduleSave();
  }

  tag(registry: string, repository: string, tag: string): TagRecord | undefined {
    return this.state.tags[tagRecordKey(registry, repository, tag)];
  }

  /** Tags the emulator saw pushed for a digest. */
  tagsOf(registry: string, repository: string, digest: string): string[] {
    const prefix = `${registry}/${repository}:`;
    return Object.entries(this.state.tags)
      .filter(([key, tag]) => key.startsWith(prefix) && tag.digest === digest)
      .map(([key]) => key.slice(prefix.length));
  }

  /** Writes pending changes now (at shutdown). */
  flush(): void {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    this.save();
  }

  private scheduleSave(): void {
    if (!this.file || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.save();
    }, 200);
    this.saveTimer.unref();
  }

  private save(): void {
    if (!this.file) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const temporary = `${this.file}.tmp`;
    writeFileSync(temporary, JSON.stringify(this.state));
    renameSync(temporary, this.file);
  }
}

function manifestKey(registry: string, repository: string, digest: string): string {
  return `${registry}/${repository}@${digest}`;
}

function tagRecordKey(registry: string, repository: string, tag: string): string {
  return `${registry}/${repository}:${tag}`;
}

export type FreshState = 'Quarantined' | 'absent';
export type DisallowedStatus = 403 | 405;

export type RoleAssignmentMode = 'legacy' | 'abac';

/** A role assignment of ABAC mode: a lab identity (by name), an ABAC role, and an optional repository condition. */
export interface AbacAssignment {
  identity: string;
  role: AbacRoleName;
  /** No condition: every repository of the registry. */
  condition?: RepositoryCondition;
}

export interface RegistryPolicy {
  quarantine: boolean;
  /** How GET /acr/v1 shows a fresh quarantined manifest: quarantineState "Quarantined", or no quarantineState. */
  freshState: FreshState;
  /** Status of a pull by digest of a quarantined manifest without quarantine read rights. */
  disallowedStatus: DisallowedStatus;
  /**
   * Whether identities allowed to push (AcrPush, admin) see quarantined manifests on /v2 by tag and
   * digest, as Azure/acr#522 reported for digests. Off: only quarantine readers see them, by digest.
   */
  pushersSeeQuarantined: boolean;
  /** `legacy`: RBAC Registry Permissions (lab.json's Acr* roles). `abac`: RBAC Registry + ABAC Repository Permissions. */
  roleAssignmentMode?: RoleAssignmentMode;
  /** The ABAC role assignments (used in `abac` mode only; lab.json's AcrPull/AcrPush/AcrDelete then grant nothing). */
  abacAssignments?: AbacAssignment[];
  /** Whether AcrQuarantineReader/Writer are honored in ABAC mode (ACR does not document it; default true). */
  abacQuarantineRoles?: boolean;
  /**
   * A lab-only narrowing: ABAC mode applies only to repositories whose name starts with this prefix, so a suite can
   * test ABAC mode on a shared registry without changing what other suites see ('' or absent: every repository).
   */
  abacScope?: string;
  /**
   * Whether the registry serves the OCI 1.1 referrers API (GET /v2/<name>/referrers/<digest>) and answers a manifest
   * PUT with a subject with `OCI-Subject`, as ACR does. Off (the default): as the lab's registry, distribution 2.8,
   * which answers 404 there, so clients keep referrers under the `<alg>-<hex>` fallback tag.
   */
  referrersApi?: boolean;
  /** Lab only, like abacScope: the referrers API is served for repositories under this prefix only ('' or absent: all). */
  referrersApiScope?: string;
}

/** Runtime policy switches per registry; lab.json gives the defaults, the control API changes them. */
export class AcrPolicies {
  private overrides = new Map<string, Partial<RegistryPolicy>>();

  constructor(private readonly defaults: (registry: string) => boolean | undefined) {}

  get(registry: string): RegistryPolicy {
    return {
      quarantine: this.defaults(registry) ?? false,
      freshState: 'Quarantined',
      disallowedStatus: 403,
      pushersSeeQuarantined: false,
      roleAssignmentMode: 'legacy',
      abacAssignments: [],
      abacQuarantineRoles: true,
      referrersApi: false,
      ...this.overrides.get(registry),
    };
  }

  set(registry: string, changes: Partial<RegistryPolicy>): RegistryPolicy {
    this.overrides.set(registry, { ...this.overrides.get(registry), ...changes });
    return this.get(registry);
  }

  reset(): void {
    this.overrides.clear();
  }
}
