// The lab's `trivy`: trivy's command-line contract for what the tasks use (see ../README.md).
// Exit codes like trivy: 0, --exit-code N when findings survive the filters, 1 for every fatal error
// (log.Fatal), 2 for a Go panic (lab.trivy.behaviour=crash).
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultDbRepository, docVersion, trivyVersion } from './build-info';
import { ensureDb, readDbMetadata } from './db';
import { emptyIgnoreConfig, filterReport, ignoredStatuses, loadIgnoreFile } from './filter';
import {
  FlagError,
  type FlagSpec,
  type ParsedFlags,
  cleanFlagSpecs,
  convertFlagSpecs,
  findCommand,
  globalFlagSpecs,
  imageFlagSpecs,
  parseFlags,
  registryLoginFlagSpecs,
  statusNames,
  usage,
  versionFlagSpecs,
} from './flags';
import { DeadlineError, GoError, goMarshalIndent, goNow, goTimeStringUTC, parseDuration, parseRfc3339, wrap } from './go';
import { type Credentials, findImage, otherDigest, parsePlatform } from './image';
import { writeJunit } from './junit';
import { Logger } from './log';
import { type HttpSettings, trustedCaBundle } from './net';
import { behaviourLabel, buildReport, orderedReport, reportLabel } from './report';
import { writeSarif } from './sarif';
import { writeTable } from './table';
import { type Report, resultsFailed } from './types';

/** Ends the process with this code (after a fatal error, a panic or a report). */
class Exit {
  constructor(readonly code: number) {}
}

/** A usage error (wrong arguments, a flag the stand-in refuses). */
class UserError extends GoError {}

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readStdin: () => string;
}

const defaultIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readStdin: () => readFileSync(0, 'utf8'),
};

function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'trivy');
}

const rootUsage = `Scanner for vulnerabilities in container images, file systems, and Git repositories, as well as for configuration issues and hard-coded secrets
(lab stand-in: only the commands below are emulated)

Usage:
  trivy [global flags] command [flags] target
  trivy [command]

Examples:
  # Scan a container image
  $ trivy image python:3.4-alpine

Scanning Commands
  image       Scan a container image

Management Commands
  clean       Remove cached files
  registry    Manage registry authentication

Utility Commands
  convert     Convert Trivy JSON report into a different format
  help        Help about any command
  version     Print the version

Flags:
      --cacert string             Path to PEM-encoded CA certificate file
      --cache-dir string          cache directory
  -c, --config string             config path (default "trivy.yaml")
  -d, --debug                     debug mode
  -h, --help                      help for trivy
      --insecure                  allow insecure server connections
  -q, --quiet                     suppress progress bar and log output
      --timeout duration          timeout (default 5m0s)
  -v, --version                   show version

Use "trivy [command] --help" for more information about a command.
`;

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, io: Io = defaultIo): Promise<number> {
  const globals = globalFlagSpecs(defaultCacheDir(env));
  const index = findCommand(argv, globals);
  const command = index >= 0 ? argv[index] : undefined;
  const rest = index >= 0 ? [...argv.slice(0, index), ...argv.slice(index + 1)] : [...argv];
  const quietGuess = rest.includes('-q') || rest.includes('--quiet');
  let log = new Logger({ quiet: quietGuess, debug: false, write: io.stderr });
  const parse = (specs: FlagSpec[], commandLine: string, argsUsage: string): ParsedFlags => {
    try {
      return parseFlags(rest, [...globals, ...specs], env);
    } catch (error) {
      if (error instanceof FlagError) {
        io.stderr(`Error: ${error.message}\n${usage(commandLine, argsUsage, specs)}\n`);
      }
      throw error;
    }
  };
  try {
    switch (command) {
      case undefined: {
        const flags = parse([{ name: 'format', short: 'f', type: 'string', default: 'table', values: ['table', 'json'], usage: 'version format' }], 'trivy', '');
        log = loggerFor(flags, io);
        if (flags.bool('version')) return printVersion(flags, io);
        io.stdout(rootUsage);
        return 0;
      }
      case 'image':
      case 'i': {
        const flags = parse(imageFlagSpecs([defaultDbRepository]), 'trivy image', 'IMAGE_NAME');
        log = loggerFor(flags, io);
        if (flags.bool('help')) {
          io.stdout(`Scan a container image\n\n${usage('trivy image', 'IMAGE_NAME', imageFlagSpecs([defaultDbRepository]))}`);
          return 0;
        }
        return await runImage(flags, env, io, log);
      }
      case 'version': {
        const flags = parse(versionFlagSpecs(), 'trivy version', '');
        log = loggerFor(flags, io);
        return printVersion(flags, io);
      }
      case 'registry': {
        const flags = parse(registryLoginFlagSpecs(), 'trivy registry login|logout', 'SERVER');
        log = loggerFor(flags, io);
        return runRegistry(flags, env, io, log);
      }
      case 'convert': {
        const flags = parse(convertFlagSpecs(), 'trivy convert', 'RESULT_JSON');
        log = loggerFor(flags, io);
        return runConvert(flags, io, log);
      }
      case 'clean': {
        const flags = parse(cleanFlagSpecs(), 'trivy clean', '');
        log = loggerFor(flags, io);
        return runClean(flags, log);
      }
      case 'help':
        io.stdout(rootUsage);
        return 0;
      default:
        throw new UserError(`unknown command "${command}" for "trivy"`);
    }
  } catch (error) {
    if (error instanceof Exit) return error.code;
    log.fatal('Fatal error', error);
    return 1;
  }
}

function loggerFor(flags: ParsedFlags, io: Io): Logger {
  return new Logger({ quiet: flags.bool('quiet'), debug: flags.bool('debug'), write: io.stderr });
}

function printVersion(flags: ParsedFlags, io: Io): number {
  const meta = readDbMetadata(flags.string('cache-dir'));
  const updated = meta ? parseRfc3339(meta.UpdatedAt) : undefined;
  const next = meta ? parseRfc3339(meta.NextUpdate) : undefined;
  const downloaded = meta ? (parseRfc3339(meta.DownloadedAt) ?? { ms: -62135596800000, extraNanos: 0 }) : undefined;
  const hasDb = meta !== undefined && updated !== undefined && next !== undefined && meta.Version !== 0;
  if (flags.string('format') === 'json') {
    const info: Record<string, unknown> = { Version: trivyVersion };
    if (hasDb) info.VulnerabilityDB = { Version: meta.Version, NextUpdate: meta.NextUpdate, UpdatedAt: meta.UpdatedAt, DownloadedAt: meta.DownloadedAt };
    io.stdout(`${JSON.stringify(info)}\n`);
    return 0;
  }
  let text = `Version: ${trivyVersion}\n`;
  if (hasDb && downloaded) {
    text += `Vulnerability DB:\n  Version: ${meta.Version}\n  UpdatedAt: ${goTimeStringUTC(updated)}\n  NextUpdate: ${goTimeStringUTC(next)}\n  DownloadedAt: ${goTimeStringUTC(downloaded)}\n`;
  }
  io.stdout(text);
  return 0;
}

function readCredentials(flags: ParsedFlags, io: Io): Credentials[] {
  const usernames = flags.strings('username');
  let passwords = flags.strings('password');
  if (flags.bool('password-stdin')) {
    if (flags.isSet('password')) throw new UserError("'--password' and '--password-stdin' can't be used at the same time");
    passwords = [io.readStdin().replace(/\r?\n$/, '')];
  }
  if (usernames.length !== passwords.length) throw new UserError('the number of usernames and passwords must match');
  return usernames.map((username, i) => ({ username, password: passwords[i] }));
}

/** `trivy image`: DB, image, behaviour, report, filters, output, exit code. */
async function runImage(flags: ParsedFlags, env: NodeJS.ProcessEnv, io: Io, log: Logger): Promise<number> {
  refuseUnemulated(flags, log);
  const downloadDbOnly = flags.bool('download-db-only');
  const args = flags.positionals;
  if (!downloadDbOnly && args.length === 0) throw new UserError('"trivy image" requires at least 1 argument or --input option');
  if (args.length > 1) throw new UserError(`accepts 1 arg(s), received ${args.length}`);
  const imageName = args[0];

  checkFormat(flags, log);

  const credentials = readCredentials(flags, io);
  const platform = flags.string('platform') ? parsePlatform(flags.string('platform')) : undefined;
  const scanners = flags.strings('scanners');
  const timeoutMs = flags.number('timeout');

  // context.WithTimeout around the whole run.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new DeadlineError()), timeoutMs);
  const cacert = flags.string('cacert');
  const httpSettings: HttpSettings = { ca: trustedCaBundle(cacert || undefined), insecure: flags.bool('insecure'), signal: deadline.signal };
  try {
    const report = await scan();
    return report ? emitReport(report, flags, io, log) : 0;
  } catch (error) {
    if (deadline.signal.aborted && !(error instanceof Exit)) {
      log.warn(`Provide a higher timeout value, see https://trivy.dev/docs/${docVersion()}/guide/references/troubleshooting#timeout`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }

  async function scan(): Promise<Report | undefined> {
    if (scanners.includes('vuln') || downloadDbOnly) {
      try {
        await ensureDb({
          cacheDir: flags.string('cache-dir'),
          repositories: flags.strings('db-repository'),
          skipUpdate: flags.bool('skip-db-update'),
          insecure: flags.bool('insecure'),
          showProgress: !flags.bool('quiet') && !flags.bool('no-progress'),
          http: httpSettings,
          log,
        });
      } catch (error) {
        throw wrap('run error', wrap('init error', wrap('DB error', error)));
      }
    }
    if (downloadDbOnly) return undefined;
    if (scanners.includes('vuln')) log.info('Vulnerability scanning is enabled', undefined, 'vuln');
    if (scanners.includes('misconfig')) log.info('Misconfiguration scanning is enabled', undefined, 'misconfig');
    if (scanners.includes('secret')) {
      log.info('Secret scanning is enabled', undefined, 'secret');
      log.info("If your scanning is slow, please try '--scanners vuln' to disable secret scanning", undefined, 'secret');
      log.info(`Please see https://trivy.dev/docs/${docVersion()}/guide/scanner/secret#recommendation for faster secret detection`, undefined, 'secret');
    }
    const scanError = (error: unknown): GoError => wrap('run error', wrap('image scan error', wrap('scan error', error)));
    let image;
    try {
      image = await findImage(imageName, {
        sources: flags.strings('image-src'),
        platform,
        credentials,
        registryToken: flags.string('registry-token'),
        insecure: flags.bool('insecure'),
        dockerHost: flags.string('docker-host'),
        podmanHost: flags.string('podman-host'),
        http: httpSettings,
        env,
      });
    } catch (error) {
      throw scanError(wrap('unable to initialize a scanner', wrap('unable to initialize an image scanner', error)));
    }

    const behaviour = image.labels[behaviourLabel] ?? '';
    await behave(behaviour, deadline.signal, io).catch((error: unknown) => {
      throw error instanceof Exit ? error : scanError(wrap('scan failed', wrap('failed analysis', wrap('analyze error', wrap('pipeline error', error)))));
    });

    const fixtures = (image.labels[reportLabel] ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    const report = buildReport({ image, artifactName: imageName, fixtures, version: trivyVersion, now: goNow() });
    if (behaviour === 'wrong-digest' && report.Metadata?.RepoDigests) {
      report.Metadata.RepoDigests = report.Metadata.RepoDigests.map((d) => d.replace(/@(sha256:[a-f0-9]{64})$/, (_m, digest: string) => `@${otherDigest(digest)}`));
    }
    logDetection(report, log);

    applyFilters(report, flags, log, scanners);
    return report;
  }
}

/** Writes the report in --format to --output or stdout; the exit code trivy's operation.Exit gives. */
function emitReport(report: Report, flags: ParsedFlags, io: Io, log: Logger): number {
  const format = flags.string('format');
  const template = flags.string('template');
  const ordered = orderedReport(report);
  let text: string;
  if (format === 'json') text = `${goMarshalIndent(ordered)}\n`;
  else if (format === 'sarif') text = writeSarif(ordered, trivyVersion);
  else if (format === 'template') text = template === '' ? '' : renderTemplate(template, ordered);
  else text = writeTable(ordered);

  const output = flags.string('output');
  if (output) {
    try {
      writeFileSync(output, text);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
      throw wrap('run error', wrap('report error', wrap('failed to create an output file', new GoError(`open ${output}: ${reason}`))));
    }
  } else {
    io.stdout(text);
  }

  const eol = flags.number('exit-on-eol');
  const osInfo = report.Metadata?.OS;
  if (eol !== 0 && osInfo?.EOSL) {
    log.error('Detected EOL OS', { family: osInfo.Family, version: osInfo.Name });
    return eol;
  }
  if (flags.number('exit-code') !== 0 && resultsFailed(report.Results)) return flags.number('exit-code');
  return 0;
}

/** --severity, --ignore-unfixed/--ignore-status, --ignorefile, --scanners. */
function applyFilters(report: Report, flags: ParsedFlags, log: Logger, scanners: string[]): void {
  let ignore = emptyIgnoreConfig();
  try {
    ignore = loadIgnoreFile(flags.string('ignorefile'), log);
  } catch (error) {
    throw wrap('run error', wrap('filter error', wrap(`${flags.string('ignorefile')} error`, error)));
  }
  filterReport(report, {
    severities: flags.strings('severity'),
    ignoreStatuses: ignoredStatuses(flags.bool('ignore-unfixed'), flags.strings('ignore-status'), statusNames, log),
    includeNonFailures: flags.bool('include-non-failures'),
    showSuppressed: flags.bool('show-suppressed'),
    scanners,
    ignore,
  });
}

/** Format checks shared by image and convert. */
function checkFormat(flags: ParsedFlags, log: Logger): void {
  const format = flags.string('format');
  const template = flags.string('template');
  if (template !== '' && format !== 'template') {
    log.warn(`'--template' is ignored because '--format ${format}' is specified. Use '--template' option with '--format template' option.`);
  } else if (template === '' && format === 'template') {
    log.warn("'--format template' is ignored because '--template' is not specified. Specify '--template' option when you use '--format template'.");
  }
  if (['cyclonedx', 'spdx', 'spdx-json', 'github', 'cosign-vuln'].includes(format)) {
    throw new UserError(`lab stand-in: --format ${format} is not emulated (json, sarif, template and table are)`);
  }
}

/** `trivy convert`: re-renders a JSON report, applying the filters again. */
function runConvert(flags: ParsedFlags, io: Io, log: Logger): number {
  refuseUnemulated(flags, log);
  checkFormat(flags, log);
  if (flags.positionals.length !== 1) throw new UserError(`accepts 1 arg(s), received ${flags.positionals.length}`);
  const file = flags.positionals[0];
  let report: Report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? `open ${file}: no such file or directory` : `json decode error: ${(error as Error).message}`;
    throw wrap('run error', new GoError(reason));
  }
  if (report.SchemaVersion !== 2) throw wrap('run error', new GoError(`unsupported schema version: ${String(report.SchemaVersion)}`));
  applyFilters(report, flags, log, ['vuln', 'misconfig', 'secret', 'license']);
  return emitReport(report, flags, io, log);
}

function refuseUnemulated(flags: ParsedFlags, log: Logger): void {
  for (const name of flags.setNames()) {
    const spec = flags.spec(name);
    if (spec.refuse) throw new UserError(`lab stand-in: --${name} is not emulated (it would change what trivy reports)`);
    if (spec.emulated === false) log.debug('Flag accepted but not emulated by the lab stand-in', { flag: `--${name}` });
  }
}

function logDetection(report: Report, log: Logger): void {
  const osInfo = report.Metadata?.OS;
  if (osInfo) {
    log.info('Detected OS', { family: osInfo.Family, version: osInfo.Name });
    if (osInfo.EOSL) log.warn('This OS version is no longer supported by the distribution', { family: osInfo.Family, version: osInfo.Name });
    const osResult = report.Results?.find((r) => r.Class === 'os-pkgs');
    const minor = osInfo.Name.split('.').slice(0, 2).join('.');
    log.info('Detecting vulnerabilities...', { os_version: minor, repository: minor, pkg_num: osResult?.Vulnerabilities?.length ?? 0 }, osInfo.Family);
  }
  log.info('Number of language-specific files', { num: report.Results?.filter((r) => r.Class === 'lang-pkgs').length ?? 0 });
}

/** --template: "@file" is read relative to the working directory, as trivy's os.ReadFile does. */
function renderTemplate(template: string, report: Report): string {
  let text = template;
  if (template.startsWith('@')) {
    const file = template.slice(1);
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (error as Error).message;
      throw wrap('run error', wrap('report error', wrap('unable to write results', wrap('failed to initialize template writer', wrap('error retrieving template from path', new GoError(`open ${file}: ${reason}`))))));
    }
  }
  // The stand-in does not execute Go templates; it recognises the JUnit template (trivy's or the stand-in's copy).
  if (text.includes('lab-stand-in-template: junit') || (text.includes('<testsuites name="trivy">') && text.includes('escapeXML'))) {
    return writeJunit(report.Results);
  }
  throw new UserError('lab stand-in: only the contrib/junit.tpl template is emulated');
}

/** Image-label driven failure modes (lab.trivy.behaviour). */
async function behave(behaviour: string, signal: AbortSignal, io: Io): Promise<void> {
  if (behaviour === '' || behaviour === 'wrong-digest') return;
  if (behaviour === 'crash') {
    io.stderr(
      'panic: runtime error: invalid memory address or nil pointer dereference\n' +
        '[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x1f3a2c4]\n\n' +
        'goroutine 1 [running]:\n' +
        'github.com/aquasecurity/trivy/pkg/fanal/artifact/image.(*Artifact).inspect(0xc000a1e000, {0x5b7c0a8, 0xc000b2e0f0})\n' +
        '\t/home/runner/work/trivy/trivy/pkg/fanal/artifact/image/image.go:254 +0x1a4\n' +
        'github.com/aquasecurity/trivy/pkg/scan.Service.ScanArtifact({...}, {0x5b7c0a8, 0xc000b2e0f0}, {...})\n' +
        '\t/home/runner/work/trivy/trivy/pkg/scan/service.go:172 +0x8c\n' +
        'main.main()\n' +
        '\t/home/runner/work/trivy/trivy/cmd/trivy/main.go:19 +0x1f\n' +
        '(lab.trivy.behaviour=crash)\n',
    );
    throw new Exit(2);
  }
  if (behaviour === 'hang') {
    // Wait until --timeout cancels the scan (trivy's context deadline) or the process is killed.
    await new Promise<void>((_resolve, reject) => {
      const keepAlive = setInterval(() => undefined, 60_000);
      const stop = (): void => {
        clearInterval(keepAlive);
        reject(new DeadlineError());
      };
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    });
    return;
  }
  if (behaviour === 'garbage' || behaviour === 'garbage-text') {
    io.stdout(behaviour === 'garbage' ? '{"lab":"garbage","message":"this is not a trivy report","Results":"none"}\n' : 'this is not a trivy report\n{"truncated":\n');
    throw new Exit(0);
  }
  const slow = /^slow:(.+)$/.exec(behaviour);
  if (slow) {
    const ms = parseDuration(slow[1]);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new DeadlineError());
      }, { once: true });
    });
    return;
  }
  throw new UserError(`lab stand-in: unknown ${behaviourLabel}=${behaviour} (crash, hang, garbage, garbage-text, wrong-digest, slow:<duration>)`);
}

function dockerConfigFile(env: NodeJS.ProcessEnv): string {
  return path.join(env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), '.docker'), 'config.json');
}

/** `trivy registry login|logout`: the docker config keychain trivy reads later. */
function runRegistry(flags: ParsedFlags, env: NodeJS.ProcessEnv, io: Io, log: Logger): number {
  const [action, server, ...extra] = flags.positionals;
  if (action !== 'login' && action !== 'logout') throw new UserError(`unknown command "${action ?? ''}" for "trivy registry"`);
  if (!server || extra.length > 0) throw new UserError(`accepts 1 arg(s), received ${flags.positionals.length - 1}`);
  const file = dockerConfigFile(env);
  const config = (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}) as { auths?: Record<string, unknown> };
  config.auths ??= {};
  if (action === 'logout') {
    delete config.auths[server];
    writeFileSync(file, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
    log.info('Logout succeeded', { registry: server });
    return 0;
  }
  const credentials = readCredentials(flags, io);
  if (credentials.length !== 1) throw new UserError('username and password required');
  mkdirSync(path.dirname(file), { recursive: true });
  config.auths[server] = { auth: Buffer.from(`${credentials[0].username}:${credentials[0].password}`).toString('base64') };
  writeFileSync(file, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
  log.info('Login succeeded', { registry: server });
  return 0;
}

/** `trivy clean`: removes the cached DB (and everything with --all). */
function runClean(flags: ParsedFlags, log: Logger): number {
  const cacheDir = flags.string('cache-dir');
  if (flags.bool('all')) {
    log.info('Removing all caches...');
    rmSync(cacheDir, { recursive: true, force: true });
    return 0;
  }
  const any = ['scan-cache', 'vuln-db', 'java-db', 'checks-bundle', 'vex-repo'].some((name) => flags.bool(name));
  if (!any) throw new UserError('no clean option is specified');
  if (flags.bool('vuln-db')) {
    log.info('Removing vulnerability database...');
    rmSync(path.join(cacheDir, 'db'), { recursive: true, force: true });
  }
  if (flags.bool('scan-cache')) {
    log.info('Removing scan cache...');
    rmSync(path.join(cacheDir, 'fanal'), { recursive: true, force: true });
  }
  return 0;
}

