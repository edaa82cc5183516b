// The containerRelease.v1 record: one small JSON per image and task, written as a build attachment of its own type so
// the "Container release" tab (tab/) can show the whole release of an image on one page. Types only, shared by the
// tasks that write it and the tab that reads it; nothing here imports node or the DOM.

/**
 * The attachment type; a new version of the record gets a new type, and the tab reads the ones it knows. Fields added
 * within v1 are optional, so a record written before them still reads: `referrers` and `promotion` (written since the
 * promotion and the evidence referrers, issue 15), `build.annotations`.
 */
export const RECORD_TYPE = 'containerRelease.v1';
export const SEVERITY_ORDER = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const;
export type RecordSeverity = (typeof SEVERITY_ORDER)[number];

/** The file that proved a platform: the program the image starts, or an interpreter on the way to it. */
export interface PlatformEvidence {
  /** e.g. entrypoint, interpreter of /app/.venv/bin/python */
  role: string;
  path: string;
  /** e.g. ELF 64-bit aarch64, or script for /bin/sh */
  what: string;
  /** The OCI architecture the ELF header names, when it names one. */
  architecture?: string;
}

export interface PlatformRow {
  platform: string;
  asked: boolean;
  pushed: boolean;
  /** true: the program's files are of this platform; false: one is not; undefined: not checked. */
  proven?: boolean;
  manifestDigest?: string;
  evidence: PlatformEvidence[];
  problem?: string;
}

export interface FindingRow {
  id: string;
  severity: RecordSeverity;
  kind: string;
  package?: string;
  installed?: string;
  fixed?: string;
  title: string;
  link?: string;
  /** The platform image it was found in (linux/arm64), or "image". */
  image: string;
}

export interface BuildPart {
  builder?: string;
  driver?: string;
  mode: string;
  cache: { mode: string; ref?: string; steps: number; cached: number };
  buildMs?: number;
  pushMs?: number;
  /** Why the platforms were not proven (nothing pushed, verifyPlatforms off). */
  verifySkipped?: string;
  /** The OCI annotations of the pushed index (or manifest), as read back from the registry; v1 addition. */
  annotations?: Record<string, string>;
}

export interface ScanPart {
  trivyVersion: string;
  counts: Record<RecordSeverity, number>;
  /** Findings of all kinds counted; top holds at most TOP_FINDINGS of them, most severe first. */
  total: number;
  top: FindingRow[];
  policy: { threshold: RecordSeverity[]; ignoreUnfixed: boolean };
}

export interface DecisionPart {
  /** Passed or Failed: the policy's verdict; undefined when no decision was reached (the build failed the proof). */
  result?: 'Passed' | 'Failed';
  release: 'quarantine' | 'gateOnly' | 'promote' | 'none';
  /** The reason, in words, as the task's log and summary say it. */
  reason: string;
}

export interface ContainerReleaseRecord {
  schema: typeof RECORD_TYPE;
  task: 'BuildForPlatform' | 'ScanAndRelease';
  /** ISO time the task wrote it. */
  writtenAt: string;
  registry: string;
  repository: string;
  /** registry/repository@digest, or registry/repository:tag when nothing was pushed. */
  reference: string;
  digest?: string;
  tags: string[];
  /** succeeded: this task did its part; failed: it refused or stopped (reason in decision or problems). */
  outcome: 'succeeded' | 'failed';
  problems: string[];
  platforms: PlatformRow[];
  build?: BuildPart;
  scan?: ScanPart;
  decision?: DecisionPart;
  /** The quarantine state read back from the registry after the task; undefined when not known. */
  quarantineState?: string;
  /** The evidence this run attached to the digest as OCI 1.1 referrers, each read back; v1 addition. */
  referrers?: ReferrerRow[];
  /** release: promote, once the copy was read back and tagged; v1 addition. */
  promotion?: PromotionPart;
}

/** One piece of evidence attached to a digest as an OCI 1.1 referrer (an artifact manifest whose subject is the digest). */
export interface ReferrerRow {
  /** e.g. application/sarif+json */
  artifactType: string;
  /** The referrer manifest's digest. */
  digest: string;
  /** The file it carries (trivy-report.json, trivy.sarif, sbom-linux-amd64.spdx.json). */
  title?: string;
  /** The repository that lists it (after a promotion, the release repository). */
  repository?: string;
  /** How a client finds it: the registry's referrers API, or the fallback tag sha256-<hex of the subject>. */
  by?: 'api' | 'tag';
  /** Its quarantine state read back, where the run set it (release: quarantine releases the evidence with the image). */
  quarantineState?: string;
}

/** release: promote: the scanned digest copied from the staging repository to the release repository, then tagged. */
export interface PromotionPart {
  /** The staging repository (the record's repository). */
  from: string;
  /** The release repository, same registry. */
  to: string;
  /** registry/to@digest */
  reference: string;
  /** The release tags, each read back pointing at the digest before the next. */
  tags: string[];
  /** The digest the release repository answered for the copy (its bytes hashed); the record's digest when verified. */
  readBack: string;
  manifests: { copied: number; present: number };
  blobs: { mounted: number; uploaded: number; present: number };
  /** Referrers of the staging digest copied with it (signatures, attestations). */
  referrersCopied: number;
}
