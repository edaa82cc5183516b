// Runs `trivy image` against one manifest digest and returns its JSON report, checked to be a trivy report of
// exactly that digest. Choices, each for a reason:
// - `--exit-code 10`: trivy exits 1 on any fatal error and a Go panic exits 2, so neither can be the findings
//   code; 10 means "findings", 0 "no findings", anything else "trivy failed". The decision itself is made
//   from the JSON (src/release/policy.ts), not from the exit code.
// - No `--severity`: the report keeps every severity so the counts are complete; the threshold is ours.
// - `--image-src remote`: scan what the registry holds, never a same-named image in a local docker daemon.
// - Credentials never in argv, and not in TRIVY_USERNAME/TRIVY_PASSWORD either: trivy offers those to every registry
//   it touches, the vulnerability database's (mirror.gcr.io, ghcr.io) included, as its documentation warns. They go
//   into a docker config of this scan only (DOCKER_CONFIG, a 0600 file removed afterwards) that names just the image's
//   registry, which trivy's keychain then uses for that host alone.
// - A clean environment: inherited TRIVY_* variables (TRIVY_SEVERITY, TRIVY_IGNOREFILE, ...), the agent's
//   ENDPOINT_/SECRET_ variables and AZURE_* (trivy's built-in ACR login would pick up another identity from them)
//   are dropped, and trivy runs in an empty directory so no stray trivy.yaml or .trivyignore changes what it reports.
// - `--quiet`: no progress bars or info lines in the pipeline log; fatal errors are still printed.
// - `--output <file>`: trivy writes the report straight to a file (no 40 MB through a pipe for a big image); a run
//   that leaves no file, or one that is not a trivy report of this digest, is refused, quoting what trivy printed.
// - `--list-all-pkgs=false`: the package inventory is not needed for the decision and can be most of the report.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TaskContext } from '../context';
import { lastMeaningfulLine, type RunResult, type Runner } from '../process/exec';
import type { RegistryCredentials } from '../registry/credentials';
import { FINDINGS_TEMPLATE, parseFindings, readReportHead, reportFromParts } from './findings';
import { type ExpectedArtifact, TrivyReportError, assertReportIsFor, parseTrivyReport, type TrivyReport } from './report';

export const FINDINGS_EXIT_CODE = 10;
export const SCANNERS = ['vuln', 'secret', 'misconfig', 'license'] as const;
export type Scanner = (typeof SCANNERS)[number];

export interface ScanSettings {
  /** Path of the trivy executable. */
  trivy: string;
  cacheDir: string;
  scanners: readonly Scanner[];
  ignoreUnfixed: boolean;
  /** An ignore file (.trivyignore or .trivyignore.yaml), checked to exist by the caller. */
  ignoreFile?: string;
  /** Mirror of the vulnerability database, e.g. myacr.azurecr.io/aquasec/trivy-db:2 */
  dbRepository?: string;
  /** Mirror of the Java database (trivy downloads it when it finds Java packages), e.g. myacr.azurecr.io/aquasec/trivy-java-db:1 */
  javaDbRepository?: string;
  /** Scan with the databases in cacheDir as they are: no download (--skip-db-update, --skip-java-db-update). */
  skipDbUpdate?: boolean;
  timeoutMs: number;
}

export interface ScanRequest extends ExpectedArtifact {
  /** Where the JSON report is kept once it passed the checks. */
  outputFile: string;
}

/** trivy did not produce a usable result: crashed, timed out, refused, or wrote something that is not a report. */
export class TrivyFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrivyFailedError';
  }
}

/** How long the process may run beyond trivy's own --timeout before it is killed (DB lock waits, cleanup). */
export const KILL_GRACE_MS = 15_000;

/** `trivy image` for one digest: the JSON report, or (SARIF fallback) a SARIF file without a database update. */
export function trivyImageArgs(settings: ScanSettings, request: ScanRequest, sarifFile?: string): string[] {
  const args = ['image'];
  if (sarifFile) args.push('--format', 'sarif', '--output', sarifFile, '--skip-db-update');
  else args.push('--format', 'json', '--output', request.outputFile, '--exit-code', String(FINDINGS_EXIT_CODE), '--list-all-pkgs=false');
  args.push(
    '--quiet',
    '--image-src',
    'remote',
    '--scanners',
    settings.scanners.join(','),
    '--cache-dir',
    settings.cacheDir,
    '--timeout',
    formatGoDuration(settings.timeoutMs),
    '--show-suppressed',
    '--skip-version-check',
    '--disable-telemetry',
  );
  if (settings.ignoreUnfixed) args.push('--ignore-unfixed');
  if (settings.ignoreFile) args.push('--ignorefile', settings.ignoreFile);
  if (settings.dbRepository) args.push('--db-repository', settings.dbRepository);
  if (settings.javaDbRepository) args.push('--java-db-repository', settings.javaDbRepository);
  if (settings.skipDbUpdate) args.push(...(sarifFile ? [] : ['--skip-db-update']), '--skip-java-db-update');
  args.push(`${request.registry}/${request.repository}@${request.digest}`);
  return args;
}

const DROPPED_ENV = /^(TRIVY_|ENDPOINT_|SECRET_|INPUT_|VSTS_TASKVARIABLE_|AZURE_|SYSTEM_ACCESSTOKEN$|DOCKER_CONFIG$)/i;

/** The child's environment: ours minus what could change trivy's findings, pick another identity or leak the agent's secrets. */
export function trivyEnvironment(base: NodeJS.ProcessEnv, dockerConfigDir?: string): { env: NodeJS.ProcessEnv; dropped: string[] } {
  const env: NodeJS.ProcessEnv = {};
  const dropped: string[] = [];
  for (const [key, value] of Object.entries(base)) {
    if (DROPPED_ENV.test(key)) {
      if (/^TRIVY_/i.test(key)) dropped.push(key);
      continue;
    }
    env[key] = value;
  }
  if (dockerConfigDir) env.DOCKER_CONFIG = dockerConfigDir;
  return { env, dropped };
}

/** A docker config that gives the credentials to their registry and to no other host. */
export function writeRegistryAuth(dir: string, credentials: RegistryCredentials | undefined): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const auths = credentials
    ? { [credentials.registry]: { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') } }
    : {};
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ auths }), { mode: 0o600 });
}

/** Runs trivy's work in a scratch directory beside the report: an empty working directory and the scan's docker config. */
async function withScratch<T>(
  besideFile: string,
  credentials: RegistryCredentials | undefined,
  body: (scratch: { cwd: string; dockerConfig: string }) => Promise<T>,
): Promise<T> {
  const root = mkdtempSync(path.join(path.dirname(besideFile), 'trivy-run-'));
  try {
    const cwd = path.join(root, 'cwd');
    mkdirSync(cwd);
    const dockerConfig = path.join(root, 'docker');
    writeRegistryAuth(dockerConfig, credentials);
    return await body({ cwd, dockerConfig });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export interface TrivyScanResult {
  report: TrivyReport;
  /** The report file, as trivy wrote it. */
  file: string;
  exitCode: number;
}

/** env is the environment trivy's own is derived from (default process.env). */
export type ScanContext = Pick<TaskContext, 'runner' | 'logger'> &
  Partial<Pick<TaskContext, 'env'>> & {
    credentials?: RegistryCredentials;
  };

export async function scanImage(settings: ScanSettings, request: ScanRequest, context: ScanContext): Promise<TrivyScanResult> {
  const args = trivyImageArgs(settings, request);
  const base = context.env ?? process.env;
  const { dropped } = trivyEnvironment(base);
  if (dropped.length > 0)
    context.logger.info(`Not passing these inherited variables to trivy (they would change what it reports): ${dropped.join(', ')}`);
  context.logger.info(`${settings.trivy} ${args.join(' ')}`);
  rmSync(request.outputFile, { force: true }); // a report left from before must never pass for this run's
  let result: RunResult;
  try {
    result = await withScratch(request.outputFile, context.credentials, ({ cwd, dockerConfig }) =>
      context.runner(settings.trivy, args, {
        env: trivyEnvironment(base, dockerConfig).env,
        cwd,
        timeoutMs: settings.timeoutMs + KILL_GRACE_MS,
        onLine: (line) => context.logger.debug(`trivy: ${line}`),
      }),
    );
  } catch (error) {
    throw new TrivyFailedError(`trivy could not be started (${settings.trivy}): ${(error as Error).message}`);
  }
  // stdout is small here (the report goes to the file); it is quoted when trivy printed something instead.
  const reason = lastMeaningfulLine(result.stderr) ?? lastMeaningfulLine(result.stdout.slice(0, 4096));
  if (result.timedOut || (result.exitCode === 1 && /context deadline exceeded/i.test(reason ?? ''))) {
    throw new TrivyFailedError(
      `trivy did not finish within the timeout of ${formatGoDuration(settings.timeoutMs)}${result.timedOut ? ' and was stopped' : ''}${reason ? `; its last words: ${reason}` : ''}. Raise 'timeout' or check that the registry and the vulnerability database are reachable.`,
    );
  }
  if (result.exitCode !== 0 && result.exitCode !== FINDINGS_EXIT_CODE) {
    const how = result.exitCode === null ? `was killed by ${result.signal}` : `failed with exit code ${result.exitCode}`;
    throw new TrivyFailedError(`trivy ${how}: ${reason ?? 'it printed nothing'}`);
  }
  if (!existsSync(request.outputFile)) {
    const printed = result.stdout.trim().slice(0, 120).replace(/\s+/g, ' ');
    throw new TrivyFailedError(
      `trivy exited ${result.exitCode} without writing its report to ${request.outputFile}${printed ? `; it printed instead: ${printed}` : ''}. That is not a trivy report.`,
    );
  }
  let report: TrivyReport;
  try {
    report = await readReport(settings, request, context);
    assertReportIsFor(report, request);
  } catch (error) {
    if (error instanceof TrivyReportError) throw new TrivyFailedError(`trivy's output was refused: ${error.message}`);
    throw error;
  }
  if (result.exitCode === FINDINGS_EXIT_CODE && !hasFindings(report)) {
    throw new TrivyFailedError(`trivy exited ${FINDINGS_EXIT_CODE} (findings) but its report lists none; the result is not trustworthy.`);
  }
  return { report, file: request.outputFile, exitCode: result.exitCode ?? -1 };
}

/** Whether cacheDir holds a vulnerability database trivy can scan with (<cache>/db/trivy.db and metadata.json). */
export function hasCachedDb(cacheDir: string): boolean {
  return existsSync(path.join(cacheDir, 'db', 'trivy.db')) && existsSync(path.join(cacheDir, 'db', 'metadata.json'));
}

/** The filter flags of `trivy image` that `trivy convert` takes too: it applies them again, so they must be the same. */
function filterArgs(settings: ScanSettings, showSuppressed = true): string[] {
  const args = showSuppressed ? ['--show-suppressed'] : [];
  if (settings.ignoreUnfixed) args.push('--ignore-unfixed');
  if (settings.ignoreFile) args.push('--ignorefile', settings.ignoreFile);
  return args;
}

/**
 * The report the policy reads: the head of trivy's JSON file and the findings trivy renders from that file with
 * FINDINGS_TEMPLATE (src/trivy/findings.ts), so the task never parses the whole report. A trivy without `convert`
 * (older releases) leaves the whole report to be parsed. convert runs in an empty directory, so no stray
 * .trivyignore or trivy.yaml there changes what it renders.
 */
export async function readReport(settings: ScanSettings, request: ScanRequest, context: ScanContext): Promise<TrivyReport> {
  const { env } = trivyEnvironment(context.env ?? process.env);
  const head = readReportHead(request.outputFile); // refuses a file that is not a report before convert reads it
  return withScratch(request.outputFile, undefined, async ({ cwd }) => {
    const findingsFile = path.join(path.dirname(cwd), 'findings.json');
    const args = ['convert', '--format', 'template', '--template', FINDINGS_TEMPLATE, '--output', findingsFile, '--quiet'];
    const converted = await context.runner(settings.trivy, [...args, ...filterArgs(settings), request.outputFile], {
      env,
      cwd,
      timeoutMs: CONVERT_TIMEOUT_MS,
    });
    if (converted.exitCode === 0 && existsSync(findingsFile)) {
      return reportFromParts(head, parseFindings(readFileSync(findingsFile, 'utf8')));
    }
    if (!/unknown command "convert"/.test(converted.stderr)) {
      throw new TrivyFailedError(
        `trivy convert --format template failed: ${lastMeaningfulLine(converted.stderr) ?? `exit code ${converted.exitCode}`}`,
      );
    }
    context.logger.info('This trivy has no convert command; reading its whole JSON report.');
    return parseTrivyReport(readFileSync(request.outputFile, 'utf8'));
  });
}

const CONVERT_TIMEOUT_MS = 120_000;

/** What makes trivy exit with --exit-code (types.Results.Failed): any vulnerability, FAIL misconfiguration, secret or license. */
export function hasFindings(report: TrivyReport): boolean {
  return (report.Results ?? []).some(
    (r) =>
      (r.Vulnerabilities?.length ?? 0) > 0 ||
      (r.Misconfigurations ?? []).some((m) => m.Status === 'FAIL') ||
      (r.Secrets?.length ?? 0) > 0 ||
      (r.Licenses?.length ?? 0) > 0,
  );
}

/**
 * SARIF for the Scans tab, in trivy's own mapping. `trivy convert` re-renders the JSON report without scanning
 * again (no network, no database); a trivy without `convert` (older releases) scans once more with
 * `--format sarif --skip-db-update` against the same digest instead.
 */
export async function writeSarif(
  settings: ScanSettings,
  request: ScanRequest,
  sarifFile: string,
  context: ScanContext,
): Promise<'convert' | 'rescan'> {
  const { env } = trivyEnvironment(context.env ?? process.env);
  const converted = await withScratch(sarifFile, undefined, ({ cwd }) =>
    context.runner(
      settings.trivy,
      ['convert', '--format', 'sarif', '--output', sarifFile, '--quiet', ...filterArgs(settings, false), request.outputFile],
      { env, cwd, timeoutMs: CONVERT_TIMEOUT_MS },
    ),
  );
  if (converted.exitCode === 0 && existsSync(sarifFile)) return 'convert';
  if (!/unknown command "convert"/.test(converted.stderr)) {
    throw new TrivyFailedError(
      `trivy convert --format sarif failed: ${lastMeaningfulLine(converted.stderr) ?? `exit code ${converted.exitCode}`}`,
    );
  }
  context.logger.info('This trivy has no convert command; scanning again for SARIF (cached layers, no database update).');
  const args = trivyImageArgs(settings, request, sarifFile);
  const rescanned = await withScratch(sarifFile, context.credentials, ({ cwd, dockerConfig }) =>
    context.runner(settings.trivy, args, {
      env: trivyEnvironment(context.env ?? process.env, dockerConfig).env,
      cwd,
      timeoutMs: settings.timeoutMs + KILL_GRACE_MS,
    }),
  );
  if (rescanned.exitCode !== 0 || !existsSync(sarifFile)) {
    throw new TrivyFailedError(
      `trivy image --format sarif failed: ${lastMeaningfulLine(rescanned.stderr) ?? `exit code ${rescanned.exitCode}`}`,
    );
  }
  return 'rescan';
}

/** The version trivy reports about itself (`trivy version --format json`). */
export async function trivyVersion(trivy: string, runner: Runner): Promise<string> {
  const { env } = trivyEnvironment(process.env);
  const result = await runner(trivy, ['version', '--format', 'json'], { env, timeoutMs: 60_000 });
  if (result.exitCode !== 0) {
    throw new TrivyFailedError(
      `'${trivy} version' failed with exit code ${result.exitCode}: ${lastMeaningfulLine(result.stderr) ?? 'no output'}`,
    );
  }
  try {
    const parsed = JSON.parse(result.stdout) as { Version?: unknown };
    if (typeof parsed.Version === 'string' && parsed.Version) return parsed.Version;
  } catch {
    // fall through
  }
  throw new TrivyFailedError(`'${trivy} version --format json' printed no version; is ${trivy} trivy?`);
}

/** Reads a timeout: Go duration syntax as trivy takes it (90s, 10m, 1h30m); a bare number is minutes. */
export function parseTimeout(text: string): number {
  const value = text.trim();
  if (/^\d+$/.test(value)) return minutes(Number(value));
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  const pattern = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  if (!/^(\d+(?:\.\d+)?(ms|h|m|s))+$/.test(value)) {
    throw new Error(`'${text}' is not a duration. Write it like 10m, 90s or 1h30m (a bare number means minutes).`);
  }
  let total = 0;
  for (const match of value.matchAll(pattern)) total += Number(match[1]) * unit[match[2]];
  if (total < 1000) throw new Error(`'${text}' is shorter than one second.`);
  return Math.round(total);
}

const minutes = (n: number) => n * 60_000;

/** trivy's --timeout takes a Go duration; whole seconds are enough. */
export function formatGoDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}
