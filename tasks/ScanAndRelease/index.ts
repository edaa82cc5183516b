// ScanAndRelease@1: read the inputs, sign in, install trivy, then hand over to the core
// (src/release/scan-and-release.ts) and publish what it found where people look.
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AcrClient } from '../../src/acr/client';
import { signInToRegistry } from '../../src/acr/signin';
import {
  InputError,
  type Outcome,
  TaskInputs,
  addAttachment,
  loc,
  pipelineLogger,
  publishTestResults,
  readRegistryConnection,
  registerSecret,
  runTask,
  runUrl,
  setOutput,
  stepTempDir,
  toolsDirectory,
  uploadSummary,
} from '../../src/pipeline';
import { run } from '../../src/process/exec';
import { RegistryClient } from '../../src/registry/client';
import { parseImageReference } from '../../src/registry/reference';
import { acrQuarantineApi } from '../../src/release/acr-quarantine';
import { parseSeverityList, thresholdGaps } from '../../src/release/policy';
import { countsJson, junitXml, mergeReports, mergeSarif, summaryMarkdown } from '../../src/release/publish';
import { type ScanAndReleaseResult, type ScanOutcome, scanAndRelease } from '../../src/release/scan-and-release';
import { installTrivy, normalizeTrivyVersion } from '../../src/trivy/install';
import { SCANNERS, type ScanDependencies, type Scanner, type ScanSettings, parseTimeout, trivyVersion, writeSarif } from '../../src/trivy/scan';
import { agentToolCache } from './toolCache';

const logger = pipelineLogger;

runTask(__dirname, async (): Promise<Outcome> => {
  const inputs = new TaskInputs(path.join(__dirname, 'task.json'));
  const image = inputs.parse('image', (value) => parseImageReference(value ?? ''));
  const allowTag = inputs.bool('allowTag');
  if (!image.digest && !allowTag) {
    throw new InputError(
      'image',
      `'${value(inputs, 'image')}' is a tag, and a tag can move between scan and release. Give the digest (${image.registry}/${image.repository}@sha256:…, e.g. $(build.imageReference)), or set allowTag: true to resolve the tag once before scanning.`,
    );
  }
  const release = inputs.choice('release', ['quarantine', 'gateOnly'] as const);
  const failOnViolation = inputs.bool('failTaskOnPolicyViolation');
  const threshold = inputs.parse('severityThreshold', (v) => parseSeverityList((v ?? '').split(',')));
  const gaps = thresholdGaps(threshold);
  if (gaps.length > 0) logger.warn(`severityThreshold '${threshold.join(',')}' leaves out ${gaps.join(', ')}: such findings will not fail the policy. Add them unless that is intended.`);
  const scanners = inputs.parse('scanners', parseScanners);
  const ignoreFile = inputs.path('ignoreFile', 'file');
  const timeoutMs = inputs.parse('timeout', (v) => parseTimeout(v ?? '10m'));
  const trivyPath = inputs.path('trivyPath', 'file');
  const pinnedVersion = inputs.parse('trivyVersion', (v) => normalizeTrivyVersion(v ?? '0.74.0'));
  const downloadBaseUrl = inputs.required('trivyDownloadBaseUrl');
  const cacheDir = inputs.string('cacheDirectory') ? path.resolve(inputs.required('cacheDirectory')) : path.join(toolsDirectory(), 'trivy-cache');
  const detailsLink = inputs.string('detailsLink') ?? runUrl();

  const signedIn = await logger.group(`Sign in to ${image.registry}`, async () => {
    const result = await signInToRegistry({ registry: image.registry, connection: requiredConnection(inputs), logger, checkAccess: { repository: image.repository, actions: ['pull'] } });
    for (const secret of result.secrets) registerSecret(secret);
    logger.info(loc('SignedIn', image.registry, result.method));
    return result;
  });
  const { credentials } = signedIn;

  const trivy = await logger.group('trivy', async () => {
    let executable: string;
    if (trivyPath) {
      executable = trivyPath;
      logger.info(`Using trivy at ${trivyPath} (trivyPath); nothing is downloaded.`);
    } else {
      executable = (await installTrivy({ version: pinnedVersion, downloadBaseUrl, cache: agentToolCache, logger })).executable;
    }
    const version = await trivyVersion(executable, run);
    if (!trivyPath && version !== pinnedVersion) logger.warn(`The installed trivy reports version ${version}, not ${pinnedVersion}.`);
    logger.info(`trivy ${version}; cache directory ${cacheDir}`);
    return { executable, version };
  });

  const registry = new RegistryClient({ registry: image.registry, credentials, logger });
  const acr = new AcrClient({ registry: image.registry, credentials, logger, authenticator: registry.authenticator });
  const workDir = stepTempDir('scan-and-release');
  const scan: ScanSettings = {
    trivy: trivy.executable,
    cacheDir,
    scanners,
    ignoreUnfixed: inputs.bool('ignoreUnfixed'),
    ignoreFile,
    dbRepository: inputs.string('dbRepository'),
    timeoutMs,
  };

  let scanned: ScanOutcome | undefined;
  let result: ScanAndReleaseResult;
  try {
    result = await scanAndRelease(
      { image, allowTag, policy: { threshold, ignoreUnfixed: scan.ignoreUnfixed }, release, scan, trivyVersion: trivy.version, workDir, detailsLink },
      {
        registry,
        quarantine: acrQuarantineApi(acr),
        quarantinedTagDigest: async (repository, tag) => (await acr.getTagAttributes(repository, tag)).tag.digest,
        runner: run,
        credentials,
        logger,
      },
      async (outcome) => {
        scanned = outcome;
        await logger.group('Publish', () => publishReports(outcome, scan, { runner: run, logger, credentials }, workDir));
      },
    );
  } catch (error) {
    if (scanned) {
      const message = error instanceof Error ? error.message : String(error);
      publishSummary(scanned, `The release did not complete: ${message}`);
    }
    throw error;
  }

  const { scan: outcome } = result;
  if (result.quarantineState) setOutput('quarantineState', result.quarantineState);
  const violations = outcome.evaluation.violations.length;
  let message: string;
  if (release === 'gateOnly') {
    message = outcome.decision === 'Passed' ? loc('GateOnlyPassed', outcome.reference) : loc('GateOnlyFailed', violations, outcome.reference);
  } else if (outcome.decision === 'Passed') {
    const wrote = result.release?.targets.some((t) => t.action === 'written');
    message = wrote ? loc('Released', outcome.reference) : loc('AlreadyReleased', outcome.reference);
  } else if (result.release?.keptPassed.length) {
    message = loc('RejectedKeptPassed', violations, outcome.reference);
  } else {
    message = loc('Rejected', violations, outcome.reference);
  }
  publishSummary(outcome, message);
  logger.info(message);
  if (outcome.decision === 'Passed') return { result: 'succeeded' };
  return { result: failOnViolation ? 'failed' : 'succeededWithIssues', message };
});

function value(inputs: TaskInputs, name: string): string {
  return inputs.string(name) ?? '';
}

/** Scanning and releasing need an identity: there is no anonymous quarantine. */
function requiredConnection(inputs: TaskInputs) {
  const connection = readRegistryConnection(inputs);
  if (!connection) throw new InputError('azureSubscription', loc('ConnectionRequired'));
  return connection;
}

function parseScanners(text: string | undefined): Scanner[] {
  const names = (text ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (names.length === 0) throw new Error(`name at least one scanner (${SCANNERS.join(', ')}).`);
  for (const name of names) {
    if (!(SCANNERS as readonly string[]).includes(name)) throw new Error(`'${name}' is not a trivy scanner. Use a comma-separated list of ${SCANNERS.join(', ')}.`);
  }
  return [...new Set(names)] as Scanner[];
}

/** Reports as files, outputs and attachments, and the JUnit file on the Tests tab. */
async function publishReports(outcome: ScanOutcome, scan: ScanSettings, deps: ScanDependencies, workDir: string): Promise<void> {
  setOutput('imageReference', outcome.reference);
  setOutput('policyResult', outcome.decision === 'Passed' ? 'passed' : 'failed');
  setOutput('vulnerabilityCounts', countsJson(outcome.evaluation.counts.vulnerabilities));

  let reportPath = outcome.images[0].reportFile;
  if (outcome.images.length > 1) {
    reportPath = path.join(workDir, 'trivy-report.json');
    writeFileSync(reportPath, JSON.stringify(mergeReports(outcome.reference, outcome.images), null, 2));
  }
  setOutput('reportPath', reportPath);
  for (const image of outcome.images) addAttachment('trivy-json', `trivy-${image.label.replace(/\W+/g, '-')}.json`, image.reportFile);

  const junitPath = path.join(workDir, 'trivy-junit.xml');
  writeFileSync(junitPath, junitXml(outcome.images, outcome.policy.threshold));
  setOutput('junitPath', junitPath);
  publishTestResults('JUnit', [junitPath], `trivy ${outcome.reference}`);

  try {
    const sarifs: string[] = [];
    for (const image of outcome.images) {
      const file = image.reportFile.replace(/\.json$/, '.sarif');
      const request = { registry: outcome.registry, repository: outcome.repository, digest: image.digest, outputFile: image.reportFile };
      await writeSarif(scan, request, file, deps);
      sarifs.push(readFileSync(file, 'utf8'));
    }
    const sarifPath = path.join(workDir, 'trivy.sarif');
    writeFileSync(sarifPath, mergeSarif(sarifs));
    setOutput('sarifPath', sarifPath);
    addAttachment('trivy-sarif', 'trivy.sarif', sarifPath);
    logger.info(`Reports: ${reportPath}, ${sarifPath}, ${junitPath}`);
  } catch (error) {
    // SARIF is for the Scans tab; the decision does not depend on it.
    setOutput('sarifPath', '');
    logger.warn(`No SARIF report: ${(error as Error).message}`);
    logger.info(`Reports: ${reportPath}, ${junitPath}`);
  }
}

function publishSummary(outcome: ScanOutcome, note: string): void {
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
  uploadSummary('trivy-scan', markdown);
}
