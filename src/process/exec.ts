import { spawn } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  /** The complete environment of the child; defaults to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, then stdin is closed. The way to hand a secret to a program. */
  stdin?: string | Buffer;
  /** Kill the child (SIGTERM, then SIGKILL after 5 s) when it runs longer than this. */
  timeoutMs?: number;
  /** Called for every complete line the child prints, as it prints it. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

/** The one seam through which the core starts programs: an argv array, never a shell string. */
export type Runner = (file: string, args: readonly string[], options?: RunOptions) => Promise<RunResult>;

export class CommandError extends Error {
  constructor(
    readonly file: string,
    readonly args: readonly string[],
    readonly result: RunResult,
  ) {
    super(describeFailure(file, args, result));
    this.name = 'CommandError';
  }
}

export const run: Runner = (file, args, options = {}) =>
  new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(file, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const pending = { stdout: '', stderr: '' };
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGTERM');
            killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
          }, options.timeoutMs);

    const collect = (stream: 'stdout' | 'stderr', sink: Buffer[]) => (chunk: Buffer) => {
      sink.push(chunk);
      if (!options.onLine) return;
      const text = pending[stream] + chunk.toString('utf8');
      const lines = text.split(/\r?\n/);
      pending[stream] = lines.pop() ?? '';
      for (const line of lines) options.onLine(line, stream);
    };
    child.stdout.on('data', collect('stdout', out));
    child.stderr.on('data', collect('stderr', err));
    child.on('error', (e) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      reject(e);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      if (options.onLine) {
        for (const stream of ['stdout', 'stderr'] as const) if (pending[stream]) options.onLine(pending[stream], stream);
      }
      resolve({
        exitCode,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        durationMs: Date.now() - started,
      });
    });
    // A child that exits before reading its stdin must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');
  });

/** Runs a program and throws a CommandError, naming its last meaningful stderr line, unless it exits 0. */
export async function runChecked(runner: Runner, file: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
  const result = await runner(file, args, options);
  if (result.exitCode !== 0) throw new CommandError(file, args, result);
  return result;
}

/** The last line of output that says something, which for docker and most CLIs is the reason of a failure. */
export function lastMeaningfulLine(text: string): string | undefined {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !/^(usage:|see '.*--help')/i.test(l));
  return lines.at(-1);
}

function describeFailure(file: string, args: readonly string[], result: RunResult): string {
  const command = [file, ...args.slice(0, 2)].join(' ');
  const reason = lastMeaningfulLine(result.stderr) ?? lastMeaningfulLine(result.stdout) ?? 'no output';
  if (result.timedOut) return `${command} did not finish in time and was stopped: ${reason}`;
  if (result.exitCode === null) return `${command} was killed by ${result.signal}: ${reason}`;
  return `${command} failed with exit code ${result.exitCode}: ${reason}`;
}
