// Process helpers for the lab: argv arrays only, secrets only through stdin.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { labRoot } from '../lab';
import { logsDir } from './log';

export const pidsDir = path.join(labRoot, 'pids');

/** A PATH that finds the daemons' helpers (runc, docker-proxy, docker-init) whatever the caller's PATH is. */
export const systemPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs argv and returns its result whatever the exit code. */
export function tryRun(argv: string[], options: RunOptions = {}): RunResult {
  const result = spawnSync(argv[0], argv.slice(1), {
    input: options.input,
    env: options.env ?? { ...process.env, PATH: `${process.env.PATH ?? ''}:${systemPath}` },
    cwd: options.cwd,
    timeout: options.timeoutMs ?? 600_000,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) return { code: -1, stdout: '', stderr: result.error.message };
  return { code: result.status ?? -1, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** Runs argv; throws with the last meaningful stderr line when it fails. */
export function run(argv: string[], options: RunOptions = {}): string {
  const result = tryRun(argv, options);
  if (result.code !== 0) {
    const lines = `${result.stderr}\n${result.stdout}`
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    throw new Error(`\`${argv.join(' ')}\` failed (exit ${result.code}): ${lines.slice(-3).join(' | ') || 'no output'}`);
  }
  return result.stdout;
}

/** Writes a file only when its content differs; true when it wrote. */
export function writeIfChanged(file: string, content: string, mode?: number): boolean {
  if (existsSync(file) && readFileSync(file, 'utf8') === content) return false;
  writeFileSync(file, content, { mode });
  return true;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or the deadline passes. */
export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(150);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // a zombie still answers kill(0) but is gone for our purposes
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** A process the lab started: its pid file names it, and its command line proves the pid was not reused. */
export interface LabProcess {
  name: string;
  /** true when this argv belongs to the process (guards against a recycled pid) */
  matches: (argv: string[]) => boolean;
}

export function pidFile(name: string): string {
  return path.join(pidsDir, `${name}.pid`);
}

export function logFile(name: string): string {
  return path.join(logsDir, `${name}.log`);
}

/** The pid of a running lab process, or undefined (a stale pid file is removed). */
export function runningPid(processSpec: LabProcess): number | undefined {
  const file = pidFile(processSpec.name);
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && processSpec.matches(commandLine(pid))) return pid;
  rmSync(file, { force: true });
  return undefined;
}

/** Starts argv in its own session (it outlives the CLI), output appended to .lab/logs/<name>.log, pid recorded. */
export function startDetached(processSpec: LabProcess, argv: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): number {
  mkdirSync(pidsDir, { recursive: true });
  mkdirSync(logsDir, { recursive: true });
  const out = openSync(logFile(processSpec.name), 'a');
  try {
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', out, out], env: options.env, cwd: options.cwd });
    if (child.pid === undefined) throw new Error(`could not start ${argv[0]}`);
    child.unref();
    writeFileSync(pidFile(processSpec.name), `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** SIGTERM, wait until gone, SIGKILL after the grace period. Removes the pid file. */
export async function stopProcess(processSpec: LabProcess, graceMs: number): Promise<number | undefined> {
  const pid = runningPid(processSpec);
  if (pid === undefined) return undefined;
  process.kill(pid, 'SIGTERM');
  try {
    await waitUntil(`${processSpec.name} (pid ${pid}) to exit`, () => !isAlive(pid), graceMs);
  } catch {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await waitUntil(`${processSpec.name} (pid ${pid}) to die`, () => !isAlive(pid), 5_000);
  }
  rmSync(pidFile(processSpec.name), { force: true });
  return pid;
}

/** Last lines of a lab log, for error messages. */
export function logTail(name: string, lines = 15): string {
  try {
    return readFileSync(logFile(name), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One HTTP GET over TCP or a unix socket; undefined when nothing answers. */
export function httpGet(url: string, options: { socketPath?: string; timeoutMs?: number } = {}): Promise<HttpAnswer | undefined> {
  return new Promise((resolve) => {
    const request = http.get(url, { socketPath: options.socketPath, timeout: options.timeoutMs ?? 2_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', () => resolve(undefined));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}
