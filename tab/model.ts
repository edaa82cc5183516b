// What the tab shows, from the build's timeline and its containerRelease.v1 records: pure functions, no DOM, no SDK.
// One card per image (its build and scan records joined by digest), cards grouped by the job that built the image,
// jobs and cards in the timeline's order (order, then start time), never in the order the REST API lists attachments.
import {
  RECORD_TYPE,
  SEVERITY_ORDER,
  type ContainerReleaseRecord,
  type FindingRow,
  type RecordSeverity,
} from '../src/release-record/record';

/** A timeline record as the Build REST API returns it (enums as numbers, dates as Date or ISO text). */
export interface TimelineEntry {
  id: string;
  parentId?: string | null;
  type: string;
  name: string;
  order?: number;
  startTime?: Date | string | null;
  state?: number | string;
  result?: number | string | null;
}

/** An attachment of the build, with the timeline and record it belongs to (from its URL) and its record. */
export interface LoadedRecord {
  timelineId: string;
  recordId: string;
  name: string;
  record: ContainerReleaseRecord;
}

export interface ImageCard {
  key: string;
  registry: string;
  repository: string;
  reference: string;
  digest?: string;
  tags: string[];
  build?: ContainerReleaseRecord;
  scan?: ContainerReleaseRecord;
  status: CardStatus;
}

export interface CardStatus {
  kind: 'released' | 'passed' | 'rejected' | 'refused' | 'pending' | 'failed' | 'built';
  /** A few words: Released, Rejected, Refused by the platform proof, Scan pending. */
  label: string;
  /** The reason in words, from the task that decided. */
  reason: string;
}

export interface JobGroup {
  id: string;
  name: string;
  running: boolean;
  cards: ImageCard[];
}

/** recordId and timelineId from an attachment's self link: .../builds/{id}/{timelineId}/{recordId}/attachments/{type}/{name}. */
export function attachmentIds(href: string): { timelineId: string; recordId: string } | undefined {
  const m = /\/builds\/\d+\/([0-9a-fA-F-]{36})\/([0-9a-fA-F-]{36})\/attachments\//.exec(href);
  return m ? { timelineId: m[1], recordId: m[2] } : undefined;
}

/** A record this tab understands, or undefined (another schema, or not a record at all). */
export function parseRecord(text: string): ContainerReleaseRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<ContainerReleaseRecord>;
    if (value && value.schema === RECORD_TYPE && typeof value.reference === 'string' && Array.isArray(value.platforms))
      return value as ContainerReleaseRecord;
  } catch {
    // not JSON: not ours
  }
  return undefined;
}

const COMPLETED = new Set<number | string>([2, 'completed']);
const time = (t: TimelineEntry['startTime']): number => (t ? new Date(t).getTime() : Number.MAX_SAFE_INTEGER);

/** Timeline order: order, then start time, then name; a stable sort that does not depend on the API's listing. */
function byTimeline(a: TimelineEntry, b: TimelineEntry): number {
  return (
    (a.order ?? 0) - (b.order ?? 0) || time(a.startTime) - time(b.startTime) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id)
  );
}

export function cardStatus(
  build: ContainerReleaseRecord | undefined,
  scan: ContainerReleaseRecord | undefined,
  running: boolean,
): CardStatus {
  if (scan?.decision) {
    const { result, release, reason } = scan.decision;
    if (scan.problems.length > 0) return { kind: 'failed', label: 'Release did not complete', reason };
    if (result === 'Passed') {
      if (release === 'quarantine') return { kind: 'released', label: 'Released', reason };
      if (release === 'promote')
        return scan.promotion
          ? { kind: 'released', label: 'Promoted', reason }
          : { kind: 'passed', label: 'Policy passed, not promoted', reason };
      return { kind: 'passed', label: 'Policy passed (gate only)', reason };
    }
    const rejected = { quarantine: 'Rejected: stays quarantined', promote: 'Rejected: not promoted' } as Partial<Record<string, string>>;
    return { kind: 'rejected', label: rejected[release] ?? 'Policy failed (gate only)', reason };
  }
  if (build?.outcome === 'failed')
    return { kind: 'refused', label: 'Refused by the platform proof', reason: build.decision?.reason ?? build.problems.join('; ') };
  if (build && !build.digest) return { kind: 'built', label: 'Built, not pushed', reason: build.decision?.reason ?? '' };
  return {
    kind: 'pending',
    label: running ? 'Scan pending' : 'Not scanned',
    reason: running
      ? 'Built and pushed; it stays in quarantine while the scan has not decided.'
      : 'Built and pushed, but no scan in this build decided about it: it stays in quarantine.',
  };
}

/** Groups the records into cards by job, in the timeline's order. Records whose task is not in the timeline come last. */
export function groupRecords(timeline: readonly TimelineEntry[], records: readonly LoadedRecord[]): JobGroup[] {
  const byId = new Map(timeline.map((r) => [r.id, r]));
  const running = timeline.some((r) => r.state !== undefined && !COMPLETED.has(r.state));
  const jobOf = (recordId: string): TimelineEntry | undefined => {
    let entry = byId.get(recordId);
    for (let depth = 0; entry && entry.type !== 'Job' && depth < 10; depth++) entry = entry.parentId ? byId.get(entry.parentId) : undefined;
    return entry?.type === 'Job' ? entry : undefined;
  };
  const jobs = timeline.filter((r) => r.type === 'Job').sort(byTimeline);
  const jobRank = new Map(jobs.map((j, i) => [j.id, i]));
  const taskRank = (recordId: string) => {
    const task = byId.get(recordId);
    return task ? (task.order ?? 0) * 1e13 + Math.min(time(task.startTime), 1e13 - 1) : Number.MAX_SAFE_INTEGER;
  };
  // every record in timeline order: job, then the task's order and start, then when the task wrote it
  const sorted = [...records].sort((a, b) => {
    const ja = jobOf(a.recordId);
    const jb = jobOf(b.recordId);
    return (
      (ja ? jobRank.get(ja.id)! : jobs.length) - (jb ? jobRank.get(jb.id)! : jobs.length) ||
      taskRank(a.recordId) - taskRank(b.recordId) ||
      a.record.writtenAt.localeCompare(b.record.writtenAt) ||
      a.name.localeCompare(b.name)
    );
  });
  const groups = new Map<string, JobGroup>();
  const cards = new Map<string, ImageCard>();
  for (const loaded of sorted) {
    const { record } = loaded;
    const key = record.digest ? `${record.registry}/${record.repository}@${record.digest}` : record.reference;
    let card = cards.get(key);
    if (!card) {
      const job = jobOf(loaded.recordId);
      const groupId = job?.id ?? 'other';
      let group = groups.get(groupId);
      if (!group) {
        group = {
          id: groupId,
          name: job?.name ?? 'Other steps',
          running: job ? job.state !== undefined && !COMPLETED.has(job.state) : running,
          cards: [],
        };
        groups.set(groupId, group);
      }
      card = {
        key,
        registry: record.registry,
        repository: record.repository,
        reference: record.reference,
        digest: record.digest,
        tags: [],
        status: cardStatus(undefined, undefined, running),
      };
      cards.set(key, card);
      group.cards.push(card);
    }
    if (record.task === 'BuildForPlatform') card.build = record;
    else card.scan = record;
    for (const tag of record.tags) if (!card.tags.includes(tag)) card.tags.push(tag);
  }
  for (const group of groups.values())
    for (const card of group.cards) card.status = cardStatus(card.build, card.scan, group.running || running);
  return [...groups.values()];
}

/** The platform matrix: the build's rows (asked, pushed, proven with the file), else the platforms the scan found. */
export function platformMatrix(card: ImageCard): ContainerReleaseRecord['platforms'] {
  return card.build?.platforms.length ? card.build.platforms : (card.scan?.platforms ?? []);
}

/** A promotion in words: "Promoted to <registry>/<repo>:<tags> (digest verified)", and what can be copied. */
export interface PromotionView {
  text: string;
  /** The release repository answered the scanned digest for the copy (its bytes hashed). */
  verified: boolean;
  /** registry/repository@digest in the release repository, then registry/repository:tag for each release tag. */
  byDigest: string;
  byTag: string[];
  /** What travelled: manifests, blobs, referrers. */
  copied: string;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function promotionView(scan: ContainerReleaseRecord | undefined): PromotionView | undefined {
  const p = scan?.promotion;
  if (!scan || !p) return undefined;
  const name = `${scan.registry}/${p.to}`;
  const verified = !!scan.digest && p.readBack === scan.digest;
  const target = p.tags.length ? `${name}:${p.tags.join(', ')}` : `${name}@${scan.digest ?? p.readBack}`;
  return {
    text: `Promoted to ${target} (${verified ? 'digest verified' : `digest not verified: the release repository answered ${p.readBack || 'nothing'}`})`,
    verified,
    byDigest: p.reference,
    byTag: p.tags.map((t) => `${name}:${t}`),
    copied:
      `From ${p.from}: ${plural(p.manifests.copied + p.manifests.present, 'manifest')} (${p.manifests.copied} copied, ${p.manifests.present} already there), ` +
      `${plural(p.blobs.mounted + p.blobs.uploaded + p.blobs.present, 'blob')} (${p.blobs.mounted} mounted, ${p.blobs.uploaded} uploaded, ${p.blobs.present} already there), ` +
      `${plural(p.referrersCopied, 'referrer')} copied with it`,
  };
}

/** One row of the evidence list: what it is, the file, the referrer to copy, and how a client finds it. */
export interface EvidenceView {
  label: string;
  artifactType: string;
  title?: string;
  /** registry/repository@referrer-digest */
  reference: string;
  digest: string;
  /** In words: referrers API, or fallback tag sha256-<hex>. */
  how: string;
  /** The fallback tag that lists it, when it is found that way. */
  fallbackTag?: string;
  /** Its quarantine state as the run read it back (release: quarantine releases the evidence with the image). */
  quarantineState?: string;
}

/** A few words for the artifact types the tasks attach; any other type is shown as it is. */
export function evidenceLabel(artifactType: string): string {
  if (/sarif/i.test(artifactType)) return 'SARIF';
  if (/spdx/i.test(artifactType)) return 'SBOM (SPDX)';
  if (/cyclonedx/i.test(artifactType)) return 'SBOM (CycloneDX)';
  if (/trivy\.report/i.test(artifactType)) return 'trivy report';
  return artifactType;
}

export function evidenceViews(scan: ContainerReleaseRecord | undefined): EvidenceView[] {
  if (!scan?.referrers?.length) return [];
  // the OCI fallback tag scheme: the subject's digest with ':' as '-'
  const tag = scan.digest?.replace(':', '-');
  return scan.referrers.map((r) => {
    const fallbackTag = r.by === 'tag' ? tag : undefined;
    return {
      label: evidenceLabel(r.artifactType),
      artifactType: r.artifactType,
      title: r.title,
      reference: `${scan.registry}/${r.repository ?? scan.repository}@${r.digest}`,
      digest: r.digest,
      how: r.by === 'api' ? 'referrers API' : r.by === 'tag' ? `fallback tag ${tag ?? ''}`.trim() : 'not recorded',
      fallbackTag,
      quarantineState: r.quarantineState,
    };
  });
}

export type SortKey = 'severity' | 'id' | 'package' | 'installed' | 'fixed' | 'image';

const severityRank = (s: RecordSeverity): number => SEVERITY_ORDER.indexOf(s);

/** The findings table's rows: filtered by a text (any column, case-insensitive), sorted by a column. */
export function findingRows(findings: readonly FindingRow[], filter: string, sort: SortKey, descending: boolean): FindingRow[] {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const text = (f: FindingRow) => [f.id, f.severity, f.package, f.installed, f.fixed, f.title, f.image].join(' ').toLowerCase();
  const value = (f: FindingRow): string | number => (sort === 'severity' ? severityRank(f.severity) : (f[sort] ?? ''));
  const rows = findings.filter((f) => words.every((w) => text(f).includes(w)));
  return rows
    .map((row, index) => ({ row, index }))
    .sort((a, b) => {
      const va = value(a.row);
      const vb = value(b.row);
      const c =
        typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb), undefined, { numeric: true });
      return (descending ? -c : c) || a.index - b.index;
    })
    .map(({ row }) => row);
}
