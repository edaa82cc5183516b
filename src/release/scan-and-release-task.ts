// ScanAndRelease's whole flow, apart from the agent: check the inputs, sign in, install (or use) trivy, then scan,
// decide and release through src/release/scan-and-release.ts, and publish what it found where people look
// (outputs, report files and attachments, the Tests tab, the Summary tab). The task shell reads the inputs and the
// connection and hands in the context; tests hand in fakes.
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AcrClient, quarantineStateOf } from '../acr/client';
import { HttpError } from '../http/client';
import type { PermissionNeeds } from '../acr/preflight';
import { type RegistryConnection, signInToRegistry } from '../acr/signin';
import type { Outcome, TaskContext } from '../context';
import { InputError, type Inputs } from '../inputs';
import { type FetchedManifest, RegistryClient } from '../registry/client';
import type { Descriptor } from '../registry/oci';
import type { RegistryCredentials } from '../registry/credentials';
import { type ImageReference, parseImageReference, validateRepository, validateTag } from '../registry/reference';
import { installTrivy, normalizeTrivyVersion } from '../trivy/install';
import { type Severity, parseTrivyReport } from '../trivy/report';
import { SCANNERS, type Scanner, type ScanSettings, hasCachedDb, parseTimeout, trivyVersion, writeSarif } from '../trivy/scan';
import { type ScanFacts, scanRecord, writeReleaseRecord } from '../release-record/build';
import { acrQuarantineApi } from './acr-quarantine';
import {
  type EvidenceFile,
  type EvidenceRegistry,
  type EvidenceSet,
  SARIF_TYPE,
  TRIVY_REPORT_TYPE,
  attachEvidence,
  sbomsOf,
  seeingQuarantinedTags,
} from './evidence';
import { promote, refusePromoteUnderQuarantine } from './promote';
import { parseSeverityList, thresholdGaps } from './policy';
import { countsJson, junitXml, mergeReports, mergeSarif, summaryMarkdown } from './publish';
import { type ScanAndReleaseResult, type ScanOutcome, movableTagMessage, scanAndRelease } from './scan-and-release';

export interface ScanAndReleaseTaskInputs {
  image: ImageReference;
  allowTag: boolean;
  release: 'quarantine' | 'gateOnly' | 'promote';
  /** release: promote: the release repository (same registry) and the tags applied after the read-back. */
  promote?: { repository: string; tags: string[] };
  /** `auto`: attached with promote only; `attach`: in every release mode; `none`: never. See attachesEvidence. */
  evidence: EvidenceMode;
  failOnViolation: boolean;
  threshold: Severity[];
  scanners: Scanner[];
  ignoreUnfixed: boolean;
  ignoreFile: string | undefined;
  dbRepository: string | undefined;
  javaDbRepository: string | undefined;
  skipDbUpdate: boolean;
  timeoutMs: number;
  /** A trivy the agent has; nothing is downloaded. */
  trivyPath: string | undefined;
  trivyVersion: string;
  downloadBaseUrl: string;
  cacheDir: string;
  detailsLink: string | undefined;
  /** Read when signing in (a missing or ambiguous connection fails there, in the sign-in group). */
  connection: () => RegistryConnection | undefined;
}

export const EVIDENCE_MODES = ['auto', 'attach', 'none'] as const;
export type EvidenceMode = (typeof EVIDENCE_MODES)[number];

/** Whether a pass attaches the evidence (trivy report, SARIF, the build's SBOM) to the released digest. */
export function attachesEvidence(inputs: Pick<ScanAndReleaseTaskInputs, 'evidence' | 'release'>): boolean {
  return inputs.evidence === 'attach' || (inputs.evidence === 'auto' && inputs.release === 'promote');
}

/** Reads and checks the inputs before anything runs; a bad one throws an InputError naming it and the fix. */
export function readScanAndReleaseInputs(
  inputs: Inputs,
  connection: () => RegistryConnection | undefined,
  context: TaskContext,
): ScanAndReleaseTaskInputs {
  const { logger, agent } = context;
  const image = inputs.parse('image', (value) => parseImageReference(value ?? ''));
  const allowTag = inputs.bool('allowTag');
  if (!image.digest && !allowTag) throw new InputError('image', movableTagMessage(inputs.string('image') ?? '', image));
  const release = inputs.choice('release', ['quarantine', 'gateOnly', 'promote'] as const);
  const promote = release === 'promote' ? readPromoteInputs(inputs, image) : refuseUnusedPromoteInputs(inputs, release);
  const evidence = inputs.choice('evidence', EVIDENCE_MODES);
  const failOnViolation = inputs.bool('failTaskOnPolicyViolation');
  const threshold = inputs.parse('severityThreshold', (v) => parseSeverityList((v ?? '').split(',')));
  const gaps = thresholdGaps(threshold);
  if (gaps.length > 0)
    logger.warn(
      `severityThreshold '${threshold.join(',')}' leaves out ${gaps.join(', ')}: such findings will not fail the policy. Add them unless that is intended.`,
    );
  const scanners = inputs.parse('scanners', parseScanners);
  const ignoreFile = inputs.path('ignoreFile', 'file');
  const timeoutMs = inputs.parse('timeout', (v) => parseTimeout(v ?? '10m'));
  const trivyPath = inputs.path('trivyPath', 'file');
  const trivyVersion = inputs.parse('trivyVersion', (v) => normalizeTrivyVersion(v ?? '0.74.0'));
  const downloadBaseUrl = inputs.required('trivyDownloadBaseUrl');
  const cacheDirectory = inputs.string('cacheDirectory');
  const cacheDir = cacheDirectory
    ? path.resolve(context.workingDirectory, cacheDirectory)
    : path.join(agent.toolsDirectory(), 'trivy-cache');
  const detailsLink = inputs.string('detailsLink') ?? agent.runUrl();
  const skipDbUpdate = inputs.bool('skipDbUpdate');
  if (skipDbUpdate && scanners.includes('vuln') && !hasCachedDb(cacheDir))
    throw new InputError('skipDbUpdate', noCachedDbMessage(cacheDir));
  return {
    image,
    allowTag,
    release,
    promote,
    evidence,
    failOnViolation,
    threshold,
    scanners,
    ignoreUnfixed: inputs.bool('ignoreUnfixed'),
    ignoreFile,
    dbRepository: inputs.string('dbRepository'),
    javaDbRepository: inputs.string('javaDbRepository'),
    skipDbUpdate,
    timeoutMs,
    trivyPath,
    trivyVersion,
    downloadBaseUrl,
    cacheDir,
    detailsLink,
    connection,
  };
}

/** skipDbUpdate on an agent whose trivy cache holds no database: what to do instead. */
export function noCachedDbMessage(cacheDir: string): string {
  return (
    `'true' tells trivy not to download its database, but the trivy cache ${cacheDir} holds none (db/trivy.db), so trivy cannot scan. ` +
    "Run the task once without skipDbUpdate on this agent (it downloads the database into that cache), or point 'cacheDirectory' at a directory that holds one."
  );
}

/** Promotion's inputs given to another release mode: the run would ignore them, so say so before anything runs. */
function refuseUnusedPromoteInputs(inputs: Inputs, release: string): undefined {
  for (const name of ['releaseRepository', 'releaseTags']) {
    if (inputs.string(name) !== undefined)
      throw new InputError(
        name,
        `is set, but release is '${release}', which never copies the image to another repository. ` +
          `Set release: promote to copy the scanned digest there, or remove ${name}.`,
      );
  }
  return undefined;
}

function readPromoteInputs(inputs: Inputs, image: ImageReference): { repository: string; tags: string[] } {
  const repository = inputs.parse('releaseRepository', (value) => {
    const name = (value ?? '').trim();
    if (!name)
      throw new Error(
        `release: promote copies the scanned digest to another repository of ${image.registry}: name it (e.g. 'release/${image.repository}').`,
      );
    if (name === image.repository) throw new Error(`it is the repository of image (${name}); name the repository released images go to.`);
    return validateRepository(name);
  });
  const tags = inputs.lines('releaseTags');
  for (const tag of tags) inputs.parse('releaseTags', () => validateTag(tag));
  return { repository, tags };
}

export function parseScanners(text: string | undefined): Scanner[] {
  const names = (text ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (names.length === 0) throw new Error(`name at least one scanner (${SCANNERS.join(', ')}).`);
  for (const name of names) {
    if (!(SCANNERS as readonly string[]).includes(name))
      throw new Error(`'${name}' is not a trivy scanner. Use a comma-separated list of ${SCANNERS.join(', ')}.`);
  }
  return [...new Set(names)] as Scanner[];
}

/** Signs in, scans, decides and releases (or only gates); the outcome says whether the policy held. */
export async function scanAndReleaseTask(inputs: ScanAndReleaseTaskInputs, context: TaskContext): Promise<Outcome> {
  const { logger, agent, runner } = context;
  const { image, release } = inputs;
  const signedIn = await logger.group(`Sign in to ${image.registry}`, async () => {
    const connection = inputs.connection();
    // Scanning and releasing need an identity: there is no anonymous quarantine.
    if (!connection) throw new InputError('azureSubscription', agent.loc('ConnectionRequired'));
    const result = await signInToRegistry({
      registry: image.registry,
      connection,
      logger,
      http: context.http,
      network: context.network,
      checkAccess: scanPermissionNeeds(inputs),
    });
    for (const secret of result.secrets) agent.registerSecret(secret);
    logger.info(agent.loc('SignedIn', image.registry, result.method));
    return result;
  });
  const { credentials } = signedIn;
  const registry = new RegistryClient({ registry: image.registry, credentials, logger, http: context.http, stream: context.stream });
  const acr = new AcrClient({ registry: image.registry, credentials, logger, http: context.http, authenticator: registry.authenticator });
  const promoteTo = inputs.promote;
  if (promoteTo && image.digest) await checkPromotable(registry, acr, image.repository, image.digest);
  // ACR hides a quarantined manifest's tag from /v2/; its tag API still names the digest (for quarantine readers).
  const quarantinedTagDigest = async (repository: string, tag: string) => (await acr.getTagAttributes(repository, tag)).tag.digest;
  const withEvidence = attachesEvidence(inputs);
  const trivy = await logger.group('trivy', () => useTrivy(inputs, context));
  const workDir = agent.tempDir('scan-and-release');
  const scan: ScanSettings = {
    trivy: trivy.executable,
    cacheDir: inputs.cacheDir,
    scanners: inputs.scanners,
    ignoreUnfixed: inputs.ignoreUnfixed,
    ignoreFile: inputs.ignoreFile,
    dbRepository: inputs.dbRepository,
    javaDbRepository: inputs.javaDbRepository,
    skipDbUpdate: inputs.skipDbUpdate,
    timeoutMs: inputs.timeoutMs,
  };

  let scanned: ScanOutcome | undefined;
  let reports: PublishedReports | undefined;
  let result: ScanAndReleaseResult;
  /** The reports publishReports wrote, and the build's SBOMs under the scanned digest: the files attached as evidence. */
  const evidenceOf = async (from: EvidenceRegistry, repository: string, top: FetchedManifest): Promise<EvidenceFile[]> => {
    if (!reports) throw new Error('The reports were not published; nothing is attached or released.');
    return [...evidenceFiles(reports), ...(await sbomsOf(from, repository, top))];
  };
  try {
    result = await scanAndRelease(
      {
        image,
        allowTag: inputs.allowTag,
        policy: { threshold: inputs.threshold, ignoreUnfixed: scan.ignoreUnfixed },
        release,
        scan,
        trivyVersion: trivy.version,
        workDir,
        detailsLink: inputs.detailsLink,
      },
      {
        registry,
        quarantine: acrQuarantineApi(acr),
        quarantinedTagDigest,
        promote: promoteTo
          ? async (outcome) => {
              await checkPromotable(registry, acr, outcome.repository, outcome.digest);
              const request = {
                registry: image.registry,
                from: outcome.repository,
                to: promoteTo.repository,
                digest: outcome.digest,
                tags: promoteTo.tags,
              };
              const beforeTags = async (subject: Descriptor, top: FetchedManifest) =>
                attachEvidence(registry, promoteTo.repository, subject, await evidenceOf(registry, outcome.repository, top), logger);
              return promote({ ...request, ...(withEvidence ? { beforeTags } : {}) }, registry, logger);
            }
          : undefined,
        // quarantine and gateOnly attach to the scanned digest itself, where what they push is quarantined (and its
        // fallback tag hidden) on a registry that quarantines.
        evidence:
          withEvidence && !promoteTo
            ? async (outcome): Promise<EvidenceSet> => {
                const seen = seeingQuarantinedTags(registry, quarantinedTagDigest);
                const top = await registry.getManifest(outcome.repository, outcome.digest);
                const subject: Descriptor = { mediaType: top.mediaType, digest: outcome.digest, size: top.raw.length };
                return attachEvidence(seen, outcome.repository, subject, await evidenceOf(seen, outcome.repository, top), logger);
              }
            : undefined,
        runner,
        credentials,
        logger,
        env: context.env,
      },
      async (outcome) => {
        scanned = outcome;
        reports = await logger.group('Publish', () => publishReports(outcome, scan, workDir, { ...context, credentials }));
      },
    );
  } catch (error) {
    if (scanned) {
      const message = error instanceof Error ? error.message : String(error);
      publishSummary(scanned, `The release did not complete: ${message}`, context, { release, error: message });
    }
    throw error;
  }

  const { scan: outcome } = result;
  if (result.quarantineState) agent.setOutput('quarantineState', result.quarantineState);
  if (release === 'promote') {
    agent.setOutput('releasedImage', result.promoted?.reference ?? '');
    // Notation@0 signs RESOURCE_URIS when it has no artifactRefs (what Docker@2 sets after a push): exactly this digest.
    if (result.promoted) agent.exportVariable('RESOURCE_URIS', result.promoted.reference);
  }
  const message = decisionMessage(result, release, (key, ...args) => agent.loc(key, ...args));
  publishSummary(outcome, message, context, {
    release,
    quarantineState: result.quarantineState,
    promoted: result.promoted,
    evidence: result.evidence,
    evidenceRelease: result.evidenceRelease,
  });
  logger.info(message);
  if (outcome.decision === 'Passed') return { result: 'succeeded' };
  return { result: inputs.failOnViolation ? 'failed' : 'succeededWithIssues', message };
}

/**
 * What the run needs, checked at sign-in before trivy runs: pull, and quarantine read and write on the digest; push on
 * the image's repository where the evidence is attached to it (evidence: attach with quarantine or gateOnly).
 */
export function scanPermissionNeeds(inputs: Pick<ScanAndReleaseTaskInputs, 'image' | 'release' | 'promote' | 'evidence'>): PermissionNeeds {
  const { image, release, promote } = inputs;
  if (release === 'promote' && promote) {
    // No quarantine on a registry where promotion is used (refused otherwise): pull on staging, push on release.
    return {
      access: [
        { repository: image.repository, actions: ['pull'], why: 'to scan and copy it' },
        { repository: promote.repository, actions: ['pull', 'push'], why: 'to release into it' },
      ],
    };
  }
  const access: PermissionNeeds['access'] = [{ repository: image.repository, actions: ['pull'], why: 'to scan it' }];
  if (attachesEvidence(inputs)) access.push({ repository: image.repository, actions: ['push'], why: 'to attach the evidence to it' });
  return {
    access,
    quarantine: image.digest ? { repository: image.repository, digest: image.digest, write: release === 'quarantine' } : undefined,
  };
}

/** release: promote is refused on a registry that quarantines the digest (its copy would be quarantined too). */
async function checkPromotable(registry: RegistryClient, acr: AcrClient, repository: string, digest: string): Promise<void> {
  let state: string | undefined;
  try {
    state = quarantineStateOf(await acr.getManifestAttributes(repository, digest));
  } catch {
    // Not ACR, or the attributes are hidden: a pull refused as disallowed says the digest is quarantined.
    state = await registry.headManifest(repository, digest).then(
      () => undefined,
      (error: unknown) => (error instanceof HttpError && (error.status === 403 || error.status === 405) ? 'Quarantined' : undefined),
    );
  }
  refusePromoteUnderQuarantine(`${registry.registry}/${repository}@${digest}`, state);
}

/** The files publishReports wrote: the trivy JSON report (merged for an index) and the SARIF (none when trivy made none). */
interface PublishedReports {
  reportPath: string;
  sarifPath?: string;
}

/** The trivy JSON report and the SARIF that publishReports wrote (the reportPath and sarifPath outputs), as evidence files. */
function evidenceFiles(reports: PublishedReports): EvidenceFile[] {
  const files: EvidenceFile[] = [{ artifactType: TRIVY_REPORT_TYPE, title: 'trivy-report.json', bytes: readFileSync(reports.reportPath) }];
  if (reports.sarifPath) files.push({ artifactType: SARIF_TYPE, title: 'trivy.sarif', bytes: readFileSync(reports.sarifPath) });
  return files;
}

/** The trivy given by trivyPath, or the pinned release from the tool cache (downloaded and verified once). */
async function useTrivy(inputs: ScanAndReleaseTaskInputs, context: TaskContext): Promise<{ executable: string; version: string }> {
  const { logger } = context;
  let executable: string;
  if (inputs.trivyPath) {
    executable = inputs.trivyPath;
    logger.info(`Using trivy at ${inputs.trivyPath} (trivyPath); nothing is downloaded.`);
  } else {
    executable = (
      await installTrivy({
        version: inputs.trivyVersion,
        downloadBaseUrl: inputs.downloadBaseUrl,
        cache: await context.toolCache(),
        logger,
      })
    ).executable;
  }
  const version = await trivyVersion(executable, context.runner);
  if (!inputs.trivyPath && version !== inputs.trivyVersion)
    logger.warn(`The installed trivy reports version ${version}, not ${inputs.trivyVersion}.`);
  logger.info(`trivy ${version}; cache directory ${inputs.cacheDir}`);
  return { executable, version };
}

/** The one line that says what happened to the image, for the log, the summary and a failed task's message. */
export function decisionMessage(
  result: ScanAndReleaseResult,
  release: ScanAndReleaseTaskInputs['release'],
  loc: TaskContext['agent']['loc'],
): string {
  const decision = releaseMessage(result, release, loc);
  const evidence = result.evidence;
  if (!evidence?.referrers.length) return decision;
  const released = result.evidenceRelease?.targets.some((t) => t.action === 'written') ? loc('EvidenceReleased') : '';
  const by = evidence.by === 'api' ? 'referrers API' : `fallback tag ${evidence.fallbackIndex?.tag ?? 'index'}`;
  return `${decision} ${loc('EvidenceAttached', evidence.referrers.length, evidence.subject, by, released)}`;
}

function releaseMessage(
  result: ScanAndReleaseResult,
  release: ScanAndReleaseTaskInputs['release'],
  loc: TaskContext['agent']['loc'],
): string {
  const { scan: outcome } = result;
  const violations = outcome.evaluation.violations.length;
  if (release === 'promote') {
    const target = result.promoted?.reference;
    if (outcome.decision === 'Passed' && target)
      return loc('Promoted', outcome.reference, target, result.promoted?.tags.length ? `; tagged ${result.promoted.tags.join(', ')}` : '');
    return loc('PromoteRejected', violations, outcome.reference, result.promoted?.reference ?? 'the release repository');
  }
  if (release === 'gateOnly')
    return outcome.decision === 'Passed' ? loc('GateOnlyPassed', outcome.reference) : loc('GateOnlyFailed', violations, outcome.reference);
  if (outcome.decision === 'Passed') {
    const wrote = result.release?.targets.some((t) => t.action === 'written');
    return wrote ? loc('Released', outcome.reference) : loc('AlreadyReleased', outcome.reference);
  }
  if (result.release?.keptPassed.length) return loc('RejectedKeptPassed', violations, outcome.reference);
  return loc('Rejected', violations, outcome.reference);
}

/** Reports as files, outputs and attachments, and the JUnit file on the Tests tab. */
async function publishReports(
  outcome: ScanOutcome,
  scan: ScanSettings,
  workDir: string,
  context: TaskContext & { credentials: RegistryCredentials },
): Promise<PublishedReports> {
  const { agent, logger } = context;
  agent.setOutput('imageReference', outcome.reference);
  agent.setOutput('policyResult', outcome.decision === 'Passed' ? 'passed' : 'failed');
  agent.setOutput('vulnerabilityCounts', countsJson(outcome.evaluation.counts.vulnerabilities));

  let reportPath = outcome.images[0].reportFile;
  if (outcome.images.length > 1) {
    reportPath = path.join(workDir, 'trivy-report.json');
    const whole = outcome.images.map((image) => ({ ...image, report: parseTrivyReport(readFileSync(image.reportFile, 'utf8')) }));
    writeFileSync(reportPath, JSON.stringify(mergeReports(outcome.reference, whole), null, 2));
  }
  agent.setOutput('reportPath', reportPath);
  for (const image of outcome.images) agent.addAttachment('trivy-json', `trivy-${image.label.replace(/\W+/g, '-')}.json`, image.reportFile);

  const junitPath = path.join(workDir, 'trivy-junit.xml');
  writeFileSync(junitPath, junitXml(outcome.images, outcome.policy.threshold));
  agent.setOutput('junitPath', junitPath);
  agent.publishTestResults('JUnit', [junitPath], `trivy ${outcome.reference}`);

  try {
    const sarifFiles: string[] = [];
    for (const image of outcome.images) {
      const file = image.reportFile.replace(/\.json$/, '.sarif');
      const request = { registry: outcome.registry, repository: outcome.repository, digest: image.digest, outputFile: image.reportFile };
      await writeSarif(scan, request, file, context);
      sarifFiles.push(file);
    }
    // one image: trivy's SARIF file as it is (a big one is not read into memory), like the JSON report
    const sarifPath = sarifFiles.length === 1 ? sarifFiles[0] : path.join(workDir, 'trivy.sarif');
    if (sarifFiles.length > 1) writeFileSync(sarifPath, mergeSarif(sarifFiles.map((file) => readFileSync(file, 'utf8'))));
    agent.setOutput('sarifPath', sarifPath);
    agent.addAttachment('trivy-sarif', 'trivy.sarif', sarifPath);
    // The Scans tab (SARIF SAST Scans Tab extension) shows the .sarif files of the CodeAnalysisLogs artifact.
    agent.uploadArtifact('CodeAnalysisLogs', sarifPath);
    logger.info(`Reports: ${reportPath}, ${sarifPath}, ${junitPath}`);
    return { reportPath, sarifPath };
  } catch (error) {
    // SARIF is for the Scans tab; the decision does not depend on it.
    agent.setOutput('sarifPath', '');
    logger.warn(`No SARIF report: ${(error as Error).message}`);
    logger.info(`Reports: ${reportPath}, ${junitPath}`);
    return { reportPath };
  }
}

/** The Summary tab's section and the Container release tab's record, both saying `note`. */
function publishSummary(
  outcome: ScanOutcome,
  note: string,
  { agent }: TaskContext,
  release: Pick<ScanFacts, 'release' | 'quarantineState' | 'error' | 'promoted' | 'evidence' | 'evidenceRelease'>,
): void {
  writeReleaseRecord(agent, scanRecord({ ...outcome, ...release, reason: note }));
  const markdown = summaryMarkdown({
    reference: outcome.reference,
    images: outcome.images,
    evaluation: outcome.evaluation,
    threshold: outcome.policy.threshold,
    decision: outcome.decision,
    releaseNote: note,
    trivyVersion: outcome.trivyVersion,
    resolvedFromTag: outcome.resolvedFromTag,
  });
  agent.uploadSummary('trivy-scan', markdown);
}
