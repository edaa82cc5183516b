// The ScanAndRelease flow without the agent: pin the digest, find what to scan (one image, or each platform
// image of an index), scan each with trivy, evaluate the policy, let the caller publish, then write the decision
// into ACR's quarantine and read it back. Anything uncertain on the way throws before a Passed is written.
// With evidence (the caller's `evidence`), a pass first attaches the reports to the digest as OCI referrers and reads
// them back, then releases those referrers (quarantined like any pushed manifest), and only then the image: a step
// of the evidence that fails leaves the image as it was. A failed scan attaches nothing.
import * as path from 'node:path';
import type { TaskContext } from '../context';
import type { Logger } from '../log';
import type { FetchedManifest } from '../registry/client';
import type { RegistryCredentials } from '../registry/credentials';
import { type Descriptor, INDEX_MEDIA_TYPES, type Index, imageManifests, isAttestationManifest, isIndex } from '../registry/oci';
import { type ImageReference, isDigest } from '../registry/reference';
import { HttpError } from '../http/client';
import { type ScanSettings, scanImage } from '../trivy/scan';
import { buildQuarantineDetails, serializeDetails } from './details';
import { explainRegistryError } from './diagnose';
import type { EvidenceSet } from './evidence';
import { type PolicyEvaluation, type PolicyOptions, combineEvaluations, describeFinding, evaluatePolicy } from './policy';
import type { PromoteResult } from './promote';
import type { ScannedImage } from './publish';
import { type Decision, type QuarantineApi, type ReleaseOptions, type ReleaseOutcome, type ReleaseTarget, applyDecision } from './release';

/** What the flow needs from an OCI registry client (src/registry/client.ts RegistryClient). */
export interface ManifestSource {
  getManifest(repository: string, reference: string): Promise<FetchedManifest>;
  resolveDigest(repository: string, tag: string): Promise<string>;
}

export interface ScanAndReleaseInput {
  image: ImageReference;
  allowTag: boolean;
  policy: PolicyOptions;
  release: 'quarantine' | 'gateOnly' | 'promote';
  scan: ScanSettings;
  trivyVersion: string;
  /** Reports are written here. */
  workDir: string;
  detailsLink?: string;
}

/** The task's runner, logger and env (trivy's starting environment), and the registry this flow talks to. */
export type ScanAndReleaseContext = Pick<TaskContext, 'runner' | 'logger'> &
  Partial<Pick<TaskContext, 'env'>> & {
    registry: ManifestSource;
    /**
     * ACR hides the tags of quarantined images from /v2/ (quarantine readers pull by digest); its own
     * /acr/v1/<repo>/_tags/<tag> shows them to quarantine readers. Used when the /v2/ look-up finds nothing.
     */
    quarantinedTagDigest?: (repository: string, tag: string) => Promise<string>;
    quarantine: QuarantineApi;
    credentials: RegistryCredentials;
    /** release: promote (src/release/promote.ts): copies the scanned digest after a pass. */
    promote?: (scan: ScanOutcome) => Promise<PromoteResult>;
    /**
     * release: quarantine or gateOnly with evidence: attaches the scan's reports to the scanned digest as OCI 1.1
     * referrers and reads them back (src/release/evidence.ts). Called after a pass only.
     */
    evidence?: (scan: ScanOutcome) => Promise<EvidenceSet>;
  };

export interface ScanOutcome {
  registry: string;
  repository: string;
  digest: string;
  /** registry/repository@digest */
  reference: string;
  resolvedFromTag?: string;
  kind: 'image' | 'index';
  images: ScannedImage[];
  attestations: Descriptor[];
  evaluation: PolicyEvaluation;
  policy: PolicyOptions;
  decision: Decision;
  trivyVersion: string;
}

export interface ScanAndReleaseResult {
  scan: ScanOutcome;
  release?: ReleaseOutcome;
  /** The quarantine state of the digest after this run, when known. */
  quarantineState?: string;
  /** release: promote, after a pass. */
  promoted?: PromoteResult;
  /** The evidence attached to the released (or, gateOnly, the scanned) digest after a pass, read back. */
  evidence?: EvidenceSet;
  /** release: quarantine: the evidence referrers' quarantine states, released before the image. */
  evidenceRelease?: ReleaseOutcome;
}

export class ImageInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageInputError';
  }
}

/** Why an image given by tag is refused without allowTag, and the two ways to fix it. */
export function movableTagMessage(given: string, image: Pick<ImageReference, 'registry' | 'repository'>): string {
  return (
    `'${given}' is a tag, and a tag can move between scan and release. Give the digest (${image.registry}/${image.repository}@sha256:…, e.g. $(build.imageReference)), ` +
    'or set allowTag: true to resolve the tag once before scanning.'
  );
}

export async function scanAndRelease(
  input: ScanAndReleaseInput,
  context: ScanAndReleaseContext,
  publish: (scan: ScanOutcome) => Promise<void> = async () => undefined,
): Promise<ScanAndReleaseResult> {
  const scan = await scanPinnedImage(input, context);
  await publish(scan);
  if (input.release === 'promote') {
    if (!context.promote) throw new Error('release: promote needs a release repository.');
    if (scan.decision !== 'Passed') {
      context.logger.info(`The policy failed: ${scan.reference} is not copied; nothing is released.`);
      return { scan };
    }
    const promote = context.promote;
    const promoted = await context.logger.group('Release: copy the scanned digest', () => promote(scan));
    return { scan, promoted, ...(promoted.evidence ? { evidence: promoted.evidence } : {}) };
  }
  const evidence = await attachScanEvidence(scan, input, context);
  if (input.release === 'gateOnly') {
    context.logger.info(
      `release: gateOnly, the quarantine state is not changed (the policy ${scan.decision === 'Passed' ? 'passed' : 'failed'}).`,
    );
    const quarantineState = await context.quarantine.readState(scan.repository, scan.digest).catch((error: unknown) => {
      context.logger.debug(`reading the quarantine state failed: ${(error as Error).message}`);
      return undefined;
    });
    if (evidence) await noteQuarantinedEvidence(evidence, context);
    return { scan, quarantineState, ...(evidence ? { evidence } : {}) };
  }
  const evidenceRelease = evidence
    ? await context.logger.group('Evidence: release its referrers from quarantine', () => releaseEvidence(scan, evidence, input, context))
    : undefined;
  const release = await context.logger.group(`Release: set quarantineState ${scan.decision}`, () => releaseScanned(scan, input, context));
  return { scan, release, quarantineState: release.state, ...(evidence ? { evidence, evidenceRelease } : {}) };
}

/** After a pass, the caller's evidence attached to the scanned digest and read back; a failure names what failed. */
async function attachScanEvidence(
  scan: ScanOutcome,
  input: ScanAndReleaseInput,
  context: ScanAndReleaseContext,
): Promise<EvidenceSet | undefined> {
  const attach = context.evidence;
  if (!attach) return undefined;
  if (scan.decision !== 'Passed') {
    context.logger.info(`The policy failed: no evidence is attached to ${scan.reference} (its reports are on this run).`);
    return undefined;
  }
  try {
    return await context.logger.group(`Evidence: attach the reports to ${scan.digest}`, () => attach(scan));
  } catch (error) {
    throw new Error(`Attaching the evidence to ${scan.reference} failed: ${messageOf(error)} ${notReleased(scan, input)}`, {
      cause: error,
    });
  }
}

/**
 * release: quarantine: the referrers this run attached, and the fallback tag index listing them, set Passed with
 * details saying whose evidence they are, and read back. Already Passed (a registry without quarantine, a re-run):
 * not written again.
 */
async function releaseEvidence(
  scan: ScanOutcome,
  evidence: EvidenceSet,
  input: ScanAndReleaseInput,
  context: ScanAndReleaseContext,
): Promise<ReleaseOutcome> {
  const targets: ReleaseTarget[] = evidence.referrers.map((r) => ({ digest: r.digest, kind: 'referrer', label: `evidence ${r.title}` }));
  if (evidence.fallbackIndex)
    targets.push({ digest: evidence.fallbackIndex.digest, kind: 'referrer', label: `referrers index ${evidence.fallbackIndex.tag}` });
  try {
    return await applyDecision({
      api: context.quarantine,
      registry: scan.registry,
      repository: evidence.repository,
      targets,
      decision: 'Passed',
      details: scanDetails(scan, input, scan.reference),
      logger: context.logger,
      explain: explainState(scan.registry, evidence.repository),
    });
  } catch (error) {
    throw new Error(`Releasing the evidence of ${scan.reference} from quarantine failed: ${messageOf(error)} ${notReleased(scan, input)}`, {
      cause: error,
    });
  }
}

/** gateOnly changes no quarantine state, its evidence's included: said when the registry quarantined the referrers. */
async function noteQuarantinedEvidence(evidence: EvidenceSet, context: ScanAndReleaseContext): Promise<void> {
  const first = evidence.referrers[0];
  if (!first) return;
  const state = await context.quarantine.readState(evidence.repository, first.digest).catch(() => undefined);
  if (state === undefined || state === 'Passed') return;
  context.logger.warn(
    `The registry quarantined the evidence (quarantineState ${state}), and release: gateOnly changes no quarantine state: ` +
      'only quarantine readers see it, by digest. A run with release: quarantine and evidence: attach releases its evidence with the image.',
  );
}

function notReleased(scan: ScanOutcome, input: ScanAndReleaseInput): string {
  return input.release === 'quarantine'
    ? `${scan.reference} is not released: its quarantine state was not changed. A re-run scans again, attaches its evidence and releases both.`
    : 'The quarantine state was not changed.';
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** Pins the digest (a tag is resolved once), scans every image under it and evaluates the policy. */
export async function scanPinnedImage(input: ScanAndReleaseInput, context: ScanAndReleaseContext): Promise<ScanOutcome> {
  const { registry, repository } = input.image;
  const { logger } = context;
  let digest = input.image.digest;
  let resolvedFromTag: string | undefined;
  if (!digest) {
    const tagged = `${registry}/${repository}:${input.image.tag ?? 'latest'}`;
    if (!input.allowTag) {
      throw new ImageInputError(movableTagMessage(tagged, input.image));
    }
    digest = await logger.group(`Resolve ${tagged}`, async () => {
      const resolved = await resolveTag(repository, input.image.tag ?? 'latest', context).catch((error: unknown) => {
        throw new Error(explainRegistryError(error, registry, 'resolve-tag', tagged));
      });
      logger.info(`${tagged} -> ${resolved}. Everything below uses this digest; moving the tag now changes nothing.`);
      return resolved;
    });
    resolvedFromTag = tagged;
  }
  const reference = `${registry}/${repository}@${digest}`;

  const top = await context.registry.getManifest(repository, digest).catch((error: unknown) => {
    throw new Error(explainRegistryError(error, registry, 'pull', reference));
  });
  const { images, attestations, kind } = scanTargets(top);
  if (kind === 'index') {
    logger.info(
      `${reference} is a multi-platform index: scanning ${images.length} platform image(s) (${images.map((i) => `${i.label} ${i.digest}`).join(', ')})` +
        (attestations.length ? `; ${attestations.length} attestation manifest(s) are not images and follow the index's decision.` : '.'),
    );
  } else {
    logger.info(`${reference} is a single image manifest.`);
  }

  const scanned: ScannedImage[] = [];
  for (const target of images) {
    const outputFile = path.join(input.workDir, `trivy-${slug(target.label)}-${target.digest.slice(7, 19)}.json`);
    const result = await logger.group(`Scan ${target.label} ${registry}/${repository}@${target.digest}`, () =>
      scanImage(input.scan, { registry, repository, digest: target.digest, outputFile }, context),
    );
    const evaluation = evaluatePolicy(result.report, input.policy);
    scanned.push({ digest: target.digest, label: target.label, report: result.report, reportFile: result.file, evaluation });
  }
  const evaluation = scanned.length === 1 ? scanned[0].evaluation : combineEvaluations(scanned.map((s) => s.evaluation));
  const decision: Decision = evaluation.passed ? 'Passed' : 'Failed';
  await logger.group('Policy', async () => logEvaluation(evaluation, input.policy, decision, logger));
  return {
    registry,
    repository,
    digest,
    reference,
    resolvedFromTag,
    kind,
    images: scanned,
    attestations,
    evaluation,
    policy: input.policy,
    decision,
    trivyVersion: input.trivyVersion,
  };
}

async function resolveTag(repository: string, tag: string, context: ScanAndReleaseContext): Promise<string> {
  try {
    return await context.registry.resolveDigest(repository, tag);
  } catch (error) {
    if (!(error instanceof HttpError && error.status === 404) || !context.quarantinedTagDigest) throw error;
    const digest = await context.quarantinedTagDigest(repository, tag).catch(() => {
      throw error; // the /v2/ answer says more than a second "not found"
    });
    if (!isDigest(digest))
      throw new Error(`The registry answered '${digest}' as the digest of ${repository}:${tag}, which is not a sha256 digest.`);
    context.logger.info(`The tag is hidden from /v2/ (its image is quarantined); ACR's tag API names its digest.`);
    return digest;
  }
}

interface Targets {
  kind: 'image' | 'index';
  images: { digest: string; label: string }[];
  attestations: Descriptor[];
}

export function scanTargets(top: FetchedManifest): Targets {
  if (!isIndex(top.json, top.mediaType)) return { kind: 'image', images: [{ digest: top.digest, label: 'image' }], attestations: [] };
  const index = top.json as Index;
  const children = imageManifests(index);
  const nested = children.filter((d) => INDEX_MEDIA_TYPES.includes(d.mediaType));
  if (nested.length > 0)
    throw new Error(`The index ${top.digest} contains another index (${nested[0].digest}); nested indexes are not supported.`);
  if (children.length === 0) throw new Error(`The index ${top.digest} lists no platform image to scan.`);
  return {
    kind: 'index',
    images: children.map((d) => ({
      digest: d.digest,
      label: d.platform ? [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/') : d.digest.slice(0, 19),
    })),
    attestations: index.manifests.filter(isAttestationManifest),
  };
}

function logEvaluation(evaluation: PolicyEvaluation, policy: PolicyOptions, decision: Decision, logger: Logger): void {
  if (evaluation.violations.length > 0) {
    logger.info(`${evaluation.violations.length} finding(s) violate the policy (${policy.threshold.join(', ')}, or any secret):`);
    for (const v of evaluation.violations) logger.info(`  ${describeFinding(v)}`);
  } else {
    logger.info(`No finding violates the policy (${policy.threshold.join(', ')}, or any secret).`);
  }
  const c = evaluation.counts;
  logger.info('Counts by severity (vulnerabilities / secrets / failed misconfigurations):');
  for (const s of ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const) {
    logger.info(`  ${s.padEnd(8)} ${c.vulnerabilities[s]} / ${c.secrets[s]} / ${c.misconfigurations[s]}`);
  }
  if (evaluation.ignoredUnfixed) logger.info(`${evaluation.ignoredUnfixed} vulnerabilities without a fix were ignored (ignoreUnfixed).`);
  if (evaluation.suppressed) logger.info(`${evaluation.suppressed} findings were suppressed by the ignore file.`);
  if (evaluation.unrecognizedSeverities.length) {
    logger.warn(
      `The report uses severities trivy does not define (${evaluation.unrecognizedSeverities.join(', ')}); they were counted as UNKNOWN.`,
    );
  }
  logger.info(`Decision: ${decision}.`);
}

async function releaseScanned(scan: ScanOutcome, input: ScanAndReleaseInput, context: ScanAndReleaseContext): Promise<ReleaseOutcome> {
  const targets: ReleaseTarget[] = [
    { digest: scan.digest, kind: scan.kind === 'index' ? 'index' : 'image', label: scan.kind === 'index' ? 'index' : 'image' },
  ];
  if (scan.kind === 'index') {
    for (const image of scan.images) targets.push({ digest: image.digest, kind: 'image', label: image.label });
    for (const attestation of scan.attestations) targets.push({ digest: attestation.digest, kind: 'attestation', label: 'attestation' });
  }
  const details = scanDetails(scan, input);
  return applyDecision({
    api: context.quarantine,
    registry: scan.registry,
    repository: scan.repository,
    targets,
    decision: scan.decision,
    details,
    logger: context.logger,
    explain: explainState(scan.registry, scan.repository),
  });
}

/** A failed read or write of a quarantine state, explained (which role is missing, ...). */
function explainState(registry: string, repository: string): ReleaseOptions['explain'] {
  return (error, action, target) =>
    explainRegistryError(error, registry, action === 'write' ? 'write-state' : 'read-state', `${registry}/${repository}@${target.digest}`);
}

/** quarantineDetails of this scan: for the image, or (evidenceOf) for the evidence attached to it. */
function scanDetails(scan: ScanOutcome, input: ScanAndReleaseInput, evidenceOf?: string): string {
  return serializeDetails(
    buildQuarantineDetails({
      trivyVersion: scan.trivyVersion,
      decision: scan.decision,
      evaluation: scan.evaluation,
      link: input.detailsLink,
      scope: scan.kind === 'index' ? scan.images.map((i) => i.label).join(', ') : undefined,
      evidenceOf,
    }),
  );
}

function slug(text: string): string {
  return text.replace(/[^a-zA-Z0-9.-]+/g, '-');
}
