// The lab's `trivy`: trivy's command-line contract for what the tasks call (see ../README.md): `trivy --version`,
// `trivy version [--format json]`, `trivy image` and `trivy convert` with json or sarif output.
// Exit codes like trivy: 0, --exit-code N when findings survive the filters, 1 for every fatal error
// (log.Fatal), 2 for a Go panic (lab.trivy.behaviour=crash).
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultDbRepository, docVersion, trivyVersion } from './build-info';
import { ensureDb } from './db';
import { filterReport, loadIgnoreFile } from './filter';
import {
  FlagError,
  type FlagSpec,
  type ParsedFlags,
  globalFlagSpecs,
  imageFlagSpecs,
  parseFlags,
  reportFlagSpecs,
  versionFlagSpecs,
} from './flags';
import { DeadlineError, GoError, goMarshalIndent, goNow, wrap } from './go';
import { findImage, otherDigest, parsePlatform } from './image';
import { Logger } from './log';
import { trustedCaBundle } from './net';
import { behaviourLabel, buildReport, reportLabel } from './report';
import { writeSarif } from './sarif';
import { loadTemplate, renderTemplate } from './template';
import { type Report, resultsFailed } from './types';

/** Ends the process with this code (after a panic or a behaviour that prints instead of reporting). */
class Exit {
  constructor(readonly code: number) {}
}

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, io: Io = defaultIo): Promise<number> {
  const hasCommand = argv.length > 0 && !argv[0].startsWith('-');
  const command = hasCommand ? argv[0] : undefined;
  const rest = hasCommand ? argv.slice(1) : argv;
  let log = new Logger({ quiet: rest.includes('-q') || rest.includes('--quiet'), write: io.stderr });
  const cacheDir = path.join(env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache'), 'trivy');
  const parse = (specs: FlagSpec[]): ParsedFlags => {
    try {
      const flags = parseFlags(rest, [...globalFlagSpecs(cacheDir), ...specs], env);
      log = new Logger({ quiet: flags.bool('quiet'), write: io.stderr });
      return flags;
    } catch (error) {
      if (error instanceof FlagError) io.stderr(`Error: ${error.message}\n`);
      throw error;
    }
  };
  try {
    switch (command) {
      case undefined:
      case 'version': {
        const flags = parse(versionFlagSpecs());
        if (command === undefined && !flags.bool('version'))
          throw new GoError('lab stand-in: only `trivy --version`, `version`, `image` and `convert` are emulated');
        io.stdout(flags.string('format') === 'json' ? `${JSON.stringify({ Version: trivyVersion })}\n` : `Version: ${trivyVersion}\n`);
        return 0;
      }
      case 'image':
        return await runImage(parse(imageFlagSpecs(defaultDbRepository)), env, io, log);
      case 'convert':
        return runConvert(parse(reportFlagSpecs()), io, log);
      default:
        throw new GoError(`unknown command "${command}" for "trivy"`);
    }
  } catch (error) {
    if (error instanceof Exit) return error.code;
    log.fatal('Fatal error', error);
    return 1;
  }
}

/** `trivy image`: DB, image, behaviour, report, filters, output, exit code. */
async function runImage(flags: ParsedFlags, env: NodeJS.ProcessEnv, io: Io, log: Logger): Promise<number> {
  const downloadDbOnly = flags.bool('download-db-only');
  const args = flags.positionals;
  if (!downloadDbOnly && args.length === 0) throw new GoError('"trivy image" requires at least 1 argument or --input option');
  if (args.length > 1) throw new GoError(`accepts 1 arg(s), received ${args.length}`);
  const imageName = args[0];
  const usernames = flags.strings('username');
  const passwords = flags.strings('password');
  if (usernames.length !== passwords.length) throw new GoError('the number of usernames and passwords must match');
  const scanners = flags.strings('scanners');

  // context.WithTimeout around the whole run.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new DeadlineError()), flags.number('timeout'));
  const http = { ca: trustedCaBundle(env), signal: deadline.signal };
  try {
    if (scanners.includes('vuln') || downloadDbOnly) {
      const db = {
        cacheDir: flags.string('cache-dir'),
        repositories: flags.strings('db-repository'),
        skipUpdate: flags.bool('skip-db-update'),
        http,
        log,
      };
      await ensureDb(db).catch((error: unknown) => {
        throw wrap('run error', wrap('init error', wrap('DB error', error)));
      });
    }
    if (downloadDbOnly) return 0;

    const scanError = (error: unknown): GoError => wrap('run error', wrap('image scan error', wrap('scan error', error)));
    const image = await findImage(imageName, {
      sources: flags.strings('image-src'),
      platform: flags.string('platform') ? parsePlatform(flags.string('platform')) : undefined,
      credentials: usernames.map((username, i) => ({ username, password: passwords[i] })),
      http,
      env,
    }).catch((error: unknown) => {
      throw scanError(wrap('unable to initialize a scanner', wrap('unable to initialize an image scanner', error)));
    });

    const behaviour = image.labels[behaviourLabel] ?? '';
    await behave(behaviour, deadline.signal, io).catch((error: unknown) => {
      throw error instanceof Exit
        ? error
        : scanError(wrap('scan failed', wrap('failed analysis', wrap('analyze error', wrap('pipeline error', error)))));
    });

    const fixtures = (image.labels[reportLabel] ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    const report = buildReport({ image, artifactName: imageName, fixtures, version: trivyVersion, now: goNow() });
    if (behaviour === 'wrong-digest' && report.Metadata?.RepoDigests) {
      report.Metadata.RepoDigests = report.Metadata.RepoDigests.map((d) =>
        d.replace(/@(sha256:[a-f0-9]{64})$/, (_m, digest: string) => `@${otherDigest(digest)}`),
      );
    }
    applyFilters(report, flags, scanners, log);
    return emitReport(report, flags, io);
  } catch (error) {
    if (deadline.signal.aborted && !(error instanceof Exit)) {
      log.warn(`Provide a higher timeout value, see https://trivy.dev/docs/${docVersion()}/guide/references/troubleshooting#timeout`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** `trivy convert`: re-renders a JSON report, applying the filters again. */
function runConvert(flags: ParsedFlags, io: Io, log: Logger): number {
  if (flags.positionals.length !== 1) throw new GoError(`accepts 1 arg(s), received ${flags.positionals.length}`);
  const file = flags.positionals[0];
  let report: Report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? `open ${file}: no such file or directory`
        : `json decode error: ${(error as Error).message}`;
    throw wrap('run error', new GoError(reason));
  }
  if (report.SchemaVersion !== 2) throw wrap('run error', new GoError(`unsupported schema version: ${String(report.SchemaVersion)}`));
  applyFilters(report, flags, ['vuln', 'misconfig', 'secret', 'license'], log);
  return emitReport(report, flags, io);
}

/** --ignore-unfixed, --ignorefile, --show-suppressed, --scanners. */
function applyFilters(report: Report, flags: ParsedFlags, scanners: string[], log: Logger): void {
  const file = flags.string('ignorefile');
  const ignore = (() => {
    try {
      return loadIgnoreFile(file, log);
    } catch (error) {
      throw wrap('run error', wrap('filter error', wrap(`${file} error`, error)));
    }
  })();
  filterReport(report, { ignoreUnfixed: flags.bool('ignore-unfixed'), showSuppressed: flags.bool('show-suppressed'), scanners, ignore });
}

/** Writes the report in --format to --output or stdout; the exit code trivy's operation.Exit gives. */
function emitReport(report: Report, flags: ParsedFlags, io: Io): number {
  const format = flags.string('format');
  let text: string;
  if (format === 'json') text = `${goMarshalIndent(report)}\n`;
  else if (format === 'sarif') text = writeSarif(report, trivyVersion);
  else if (format === 'template') {
    if (!flags.string('template')) throw new GoError('lab stand-in: --format template needs --template');
    text = renderTemplate(loadTemplate(flags.string('template')), report.Results);
  } else throw new GoError(`lab stand-in: --format ${format} is not emulated (json, sarif and template are)`);
  const output = flags.string('output');
  if (output) {
    try {
      writeFileSync(output, text);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
      throw wrap('run error', wrap('report error', wrap('failed to create an output file', new GoError(`open ${output}: ${reason}`))));
    }
  } else {
    io.stdout(text);
  }
  return flags.number('exit-code') !== 0 && resultsFailed(report.Results) ? flags.number('exit-code') : 0;
}

const panic = `panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x1f3a2c4]

goroutine 1 [running]:
github.com/aquasecurity/trivy/pkg/fanal/artifact/image.(*Artifact).inspect(0xc000a1e000, {0x5b7c0a8, 0xc000b2e0f0})
\t/home/runner/work/trivy/trivy/pkg/fanal/artifact/image/image.go:254 +0x1a4
main.main()
\t/home/runner/work/trivy/trivy/cmd/trivy/main.go:19 +0x1f
(lab.trivy.behaviour=crash)
`;

/** Image-label driven failure modes (lab.trivy.behaviour). */
async function behave(behaviour: string, signal: AbortSignal, io: Io): Promise<void> {
  switch (behaviour) {
    case '':
    case 'wrong-digest':
      return;
    case 'crash':
      io.stderr(panic);
      throw new Exit(2);
    case 'garbage':
      io.stdout('{"lab":"garbage","message":"this is not a trivy report","Results":"none"}\n');
      throw new Exit(0);
    case 'hang':
      // Until --timeout cancels the scan (trivy's context deadline) or the process is killed.
      return new Promise<void>((_resolve, reject) => {
        const keepAlive = setInterval(() => undefined, 60_000);
        const stop = (): void => {
          clearInterval(keepAlive);
          reject(new DeadlineError());
        };
        if (signal.aborted) stop();
        else signal.addEventListener('abort', stop);
      });
    default:
      throw new GoError(`lab stand-in: unknown ${behaviourLabel}=${behaviour} (crash, hang, garbage, wrong-digest)`);
  }
}
