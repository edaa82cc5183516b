// Pure functions that make the containerRelease.v1 records from what each flow already knows, and the one call each
// flow makes to write one (writeReleaseRecord: a file in the step's temp directory, attached to the build).
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Agent } from '../context';
import type { Verification } from '../image/verify';
import { formatPlatform, samePlatform, type Platform } from '../platform/platform';
import type { EvidenceSet } from '../release/evidence';
import type { Finding, PolicyEvaluation } from '../release/policy';
import type { PromoteResult } from '../release/promote';
import type { ReleaseOutcome } from '../release/release';
import type { ScannedImage } from '../release/publish';
import {
  RECORD_TYPE,
  SEVERITY_ORDER,
  type ContainerReleaseRecord,
  type FindingRow,
  type PlatformEvidence,
  type PlatformRow,
  type PromotionPart,
  type RecordSeverity,
  type ReferrerRow,
} from './record';

/** The tab shows the most severe findings; the counts cover all of them. Keeps a record small. */
export const TOP_FINDINGS = 50;

export interface BuildFacts {
  registry: string;
  repository: string;
  digest?: string;
  tags: string[];
  platforms: readonly Platform[];
  builder?: { name: string; driver?: string };
  mode: string;
  cache: { mode: string; ref?: string; use: { steps: number; cached: number } };
  buildMs?: number;
  pushMs?: number;
  verification?: Verification;
  verifySkipped?: string;
  /** Platform images pushed before an index joined them (per-platform mode). */
  platformImages?: { platform: Platform; digest: string }[];
  now?: Date;
}

function evidenceOf(report: Verification['platforms'][number]): PlatformEvidence[] {
  return (report.program?.files ?? []).map((file) => ({
    role: file.role,
    path: [...file.links, file.path].join(' => '),
    what: file.kind === 'elf' ? `ELF ${file.elf.bits}-bit ${file.elf.machineName}` : `script for ${file.interpreter}`,
    architecture: file.kind === 'elf' ? file.elf.architecture : undefined,
  }));
}

/** One row per platform asked for or found: asked, pushed (in the index or the image), proven by its files. */
export function platformRows(asked: readonly Platform[], verification: Verification | undefined, pushed: boolean): PlatformRow[] {
  const rows: PlatformRow[] = asked.map((platform) => {
    const report = verification?.platforms.find((p) => samePlatform(p.platform, platform));
    return {
      platform: formatPlatform(platform),
      asked: true,
      pushed: verification ? report !== undefined : pushed,
      proven: report?.program ? report.program.problem === undefined : undefined,
      manifestDigest: report?.manifestDigest,
      evidence: report ? evidenceOf(report) : [],
      problem: report?.program?.problem,
    };
  });
  for (const report of verification?.platforms ?? []) {
    if (asked.some((p) => samePlatform(p, report.platform))) continue;
    rows.push({
      platform: formatPlatform(report.platform),
      asked: false,
      pushed: true,
      proven: report.program ? report.program.problem === undefined : undefined,
      manifestDigest: report.manifestDigest,
      evidence: evidenceOf(report),
      problem: report.program?.problem,
    });
  }
  return rows;
}

/** BuildForPlatform's record: what was built, with which builder and cache, and the platform proof. */
export function buildRecord(facts: BuildFacts): ContainerReleaseRecord {
  const name = `${facts.registry}/${facts.repository}`;
  const problems = facts.verification?.problems ?? [];
  const reason = !facts.digest
    ? 'Built, not pushed: nothing to release.'
    : problems.length > 0
      ? `Refused by the platform proof: ${problems.join('; ')}`
      : facts.verification
        ? 'Pushed; every platform asked for is proven. It stays in quarantine until a scan releases it.'
        : `Pushed; platforms not proven (${facts.verifySkipped ?? 'not checked'}). It stays in quarantine until a scan releases it.`;
  return {
    schema: RECORD_TYPE,
    task: 'BuildForPlatform',
    writtenAt: (facts.now ?? new Date()).toISOString(),
    registry: facts.registry,
    repository: facts.repository,
    reference: facts.digest ? `${name}@${facts.digest}` : `${name}:${facts.tags[0] ?? 'latest'}`,
    digest: facts.digest,
    tags: [...facts.tags],
    outcome: problems.length > 0 ? 'failed' : 'succeeded',
    problems: [...problems],
    platforms: platformRows(facts.platforms, facts.verification, facts.digest !== undefined),
    build: {
      builder: facts.builder?.name,
      driver: facts.builder?.driver,
      mode: facts.mode,
      cache: { mode: facts.cache.mode, ref: facts.cache.ref, steps: facts.cache.use.steps, cached: facts.cache.use.cached },
      buildMs: facts.buildMs,
      pushMs: facts.pushMs,
      verifySkipped: facts.verifySkipped,
      annotations: facts.verification?.annotations,
    },
    decision: { release: 'none', reason },
  };
}

export interface ScanFacts {
  registry: string;
  repository: string;
  digest: string;
  resolvedFromTag?: string;
  images: ScannedImage[];
  evaluation: PolicyEvaluation;
  policy: { threshold: readonly string[]; ignoreUnfixed: boolean };
  decision: 'Passed' | 'Failed';
  release: 'quarantine' | 'gateOnly' | 'promote';
  trivyVersion: string;
  /** The sentence the task logs and puts in the summary. */
  reason: string;
  /** The state read back from the registry; undefined when it could not be read. */
  quarantineState?: string;
  /** The release did not complete (the message says why). */
  error?: string;
  /** release: promote: the copy, read back and tagged (absent when it did not complete). */
  promoted?: PromoteResult;
  /** The evidence this run attached as referrers and read back, and the repository that lists them. */
  evidence?: EvidenceSet;
  /** release: quarantine: the quarantine states of the evidence referrers, released before the image. */
  evidenceRelease?: ReleaseOutcome;
  now?: Date;
}

const rank = (s: string): number => {
  const i = (SEVERITY_ORDER as readonly string[]).indexOf(s);
  return i === -1 ? SEVERITY_ORDER.length : i;
};

function findingRow(finding: Finding, image: string): FindingRow {
  return {
    id: finding.id,
    severity: finding.severity as RecordSeverity,
    kind: finding.kind,
    package: finding.packageName,
    installed: finding.installedVersion,
    fixed: finding.fixedVersion,
    title: finding.title,
    link: finding.primaryUrl && /^https:\/\//.test(finding.primaryUrl) ? finding.primaryUrl : undefined,
    image,
  };
}

/** The most severe findings over every platform image, each once per image, at most TOP_FINDINGS. */
export function topFindings(images: readonly ScannedImage[], limit = TOP_FINDINGS): FindingRow[] {
  const rows = images.flatMap((image) => image.evaluation.findings.map((f) => findingRow(f, image.label)));
  return rows
    .map((row, index) => ({ row, index }))
    .sort((a, b) => rank(a.row.severity) - rank(b.row.severity) || a.index - b.index)
    .slice(0, limit)
    .map(({ row }) => row);
}

/** The evidence attached as referrers, one row each, with the repository that lists it and how a client finds it. */
export function referrerRows(evidence: ScanFacts['evidence'], released?: ReleaseOutcome): ReferrerRow[] | undefined {
  if (!evidence?.referrers.length) return undefined;
  return evidence.referrers.map((a) => ({
    artifactType: a.artifactType,
    digest: a.digest,
    title: a.title,
    repository: evidence.repository,
    by: a.by,
    quarantineState: released?.targets.find((t) => t.digest === a.digest)?.after,
  }));
}

/** What a promotion did: where the digest went, the release tags, the digest read back, what was copied. */
export function promotionPart(from: string, promoted: PromoteResult): PromotionPart {
  return {
    from,
    to: promoted.repository,
    reference: promoted.reference,
    tags: [...promoted.tags],
    readBack: promoted.readBack ?? '',
    manifests: { ...promoted.manifests },
    blobs: { ...promoted.blobs },
    referrersCopied: promoted.referrers,
  };
}

/** ScanAndRelease's record: the findings by severity and the top ones, the policy, the decision and the state. */
export function scanRecord(facts: ScanFacts): ContainerReleaseRecord {
  const counts = Object.fromEntries(SEVERITY_ORDER.map((s) => [s, facts.evaluation.counts.total[s] ?? 0])) as Record<
    RecordSeverity,
    number
  >;
  const platforms: PlatformRow[] = facts.images
    .filter((image) => image.label !== 'image')
    .map((image) => ({ platform: image.label, asked: false, pushed: true, manifestDigest: image.digest, evidence: [] }));
  return {
    schema: RECORD_TYPE,
    task: 'ScanAndRelease',
    writtenAt: (facts.now ?? new Date()).toISOString(),
    registry: facts.registry,
    repository: facts.repository,
    reference: `${facts.registry}/${facts.repository}@${facts.digest}`,
    digest: facts.digest,
    tags: facts.resolvedFromTag ? [facts.resolvedFromTag] : [],
    outcome: facts.error || facts.decision === 'Failed' ? 'failed' : 'succeeded',
    problems: facts.error ? [facts.error] : [],
    platforms,
    scan: {
      trivyVersion: facts.trivyVersion,
      counts,
      total: facts.evaluation.findings.length,
      top: topFindings(facts.images),
      policy: {
        threshold: facts.policy.threshold.filter((s) => rank(s) < SEVERITY_ORDER.length) as RecordSeverity[],
        ignoreUnfixed: facts.policy.ignoreUnfixed,
      },
    },
    decision: { result: facts.decision, release: facts.release, reason: facts.reason },
    quarantineState: facts.quarantineState,
    referrers: referrerRows(facts.evidence, facts.evidenceRelease),
    promotion: facts.promoted ? promotionPart(facts.repository, facts.promoted) : undefined,
  };
}

/** A file name that says which image and task, unique within the step. */
export function recordName(record: ContainerReleaseRecord): string {
  const what = `${record.repository}-${(record.digest ?? record.tags[0] ?? 'latest').replace(/^sha256:/, '').slice(0, 12)}`;
  return `${record.task}-${what}`.replace(/[^A-Za-z0-9._-]+/g, '-') + '.json';
}

/** Writes the record into the step's temp directory and attaches it to the build (##vso[task.addattachment]). */
export function writeReleaseRecord(agent: Pick<Agent, 'tempDir' | 'addAttachment'>, record: ContainerReleaseRecord): string {
  const name = recordName(record);
  const file = path.join(agent.tempDir('container-release-record'), name);
  writeFileSync(file, JSON.stringify(record, null, 1) + '\n');
  agent.addAttachment(RECORD_TYPE, name, file);
  return file;
}
