// The containerRelease.v1 record: one small JSON per image and task, written as a build attachment of its own type so
// the "Container release" tab (tab/) can show the whole release of an image on one page. Types only, shared by the
// tasks that write it and the tab that reads it; nothing here imports node or the DOM.

/** The attachment type; a new version of the record gets a new type, and the tab reads the ones it knows. */
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
  referrers?: { artifactType: string; digest: string }[];
  promotion?: { from: string; to: string };
}
