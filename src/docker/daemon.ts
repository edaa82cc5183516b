// Starting an installed engine that is not running (startDaemon: auto), waiting until it answers, and stopping
// it again in the post-job step. Only a daemon on a local unix socket can be started, and only by root
// (in a container: a privileged one); where systemd runs, its docker service is started instead.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import type { TaskContext } from '../context';
import type { Logger } from '../log';
import { sleep } from '../util/retry';
import type { DockerEndpoint } from './endpoint';
import { executePlan, type Privilege } from './executor';
import type { DaemonAsker, DaemonInfo } from './probe';
import { daemonFailure } from './probe';

export interface StartedDaemon {
  how: 'background' | 'systemd';
  socketPath: string;
  pid?: number;
  pidFile?: string;
  logFile?: string;
}

export interface StartFacts {
  privilege: Privilege;
  inContainer: boolean;
  /** CAP_SYS_ADMIN in the effective set: what a privileged container has and dockerd needs. */
  capSysAdmin: boolean;
  /** systemd is the init system (/run/systemd/system exists). */
  systemd: boolean;
}

export type StartDecision = { how: 'background' | 'systemd' } | { refused: string };

export function howToStart(facts: StartFacts, endpoint: DockerEndpoint): StartDecision {
  if (endpoint.kind !== 'unix') return { refused: `the daemon at ${endpoint.host} runs on another machine; start it there.` };
  if (facts.systemd && !facts.inContainer && facts.privilege !== 'none') return { how: 'systemd' };
  if (facts.privilege !== 'root') {
    return {
      refused: `starting dockerd needs root, and the agent runs as uid ${process.getuid?.() ?? '?'}${facts.systemd ? ' without passwordless sudo' : ''}. Start it yourself (\`sudo systemctl start docker\`, or \`sudo dockerd &\` without systemd).`,
    };
  }
  if (facts.inContainer && !facts.capSysAdmin) {
    return {
      refused:
        "this container is not privileged, and dockerd cannot run without --privileged (docker-in-docker). Either run the agent container with --privileged, or mount the host's socket (-v /var/run/docker.sock:/var/run/docker.sock) and set startDaemon: never.",
    };
  }
  return { how: 'background' };
}

/** CAP_SYS_ADMIN (bit 21) in the CapEff line of /proc/self/status. */
export function hasCapSysAdmin(status: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)/im.exec(status)?.[1];
  if (!hex) return false;
  return (BigInt(`0x${hex}`) & (1n << 21n)) !== 0n;
}

export function readStartFacts(privilege: Privilege, inContainer: boolean): StartFacts {
  let status = '';
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    status = '';
  }
  return { privilege, inContainer, capSysAdmin: hasCapSysAdmin(status), systemd: existsSync('/run/systemd/system') };
}

export function dockerdArgv(dockerd: string, socketPath: string, pidFile: string): string[] {
  return [dockerd, '--host', `unix://${socketPath}`, '--pidfile', pidFile];
}

function tail(file: string | undefined, lines = 15): string {
  if (!file || !existsSync(file)) return '';
  const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
  return text.map((l) => `    ${l}`).join('\n');
}

/** Polls the daemon until it answers, the process we started exits, or the time is up. */
export async function waitForDaemon(
  ask: DaemonAsker,
  endpoint: DockerEndpoint,
  options: { timeoutMs?: number; pollMs?: number; exited?: () => string | undefined },
): Promise<DaemonInfo> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const started = Date.now();
  let last = '';
  for (;;) {
    try {
      return await ask(endpoint);
    } catch (error) {
      last = daemonFailure(error).message;
    }
    const exited = options.exited?.();
    if (exited) throw new Error(`dockerd ${exited} before it answered`);
    if (Date.now() - started > timeoutMs)
      throw new Error(`dockerd did not answer on ${endpoint.host} within ${timeoutMs / 1000} s (last: ${last})`);
    await sleep(options.pollMs ?? 500);
  }
}

/** What starting dockerd needs beyond the task's runner, logger and env. */
export type StartDaemonContext = Pick<TaskContext, 'runner' | 'logger' | 'env'> & {
  ask: DaemonAsker;
  privilege: Privilege;
  /** Directory for the pid file and the log (the step's temp directory). */
  stateDir: string;
  timeoutMs?: number;
};

export async function startDaemon(
  how: 'background' | 'systemd',
  dockerd: string,
  endpoint: Extract<DockerEndpoint, { kind: 'unix' }>,
  context: StartDaemonContext,
): Promise<{ started: StartedDaemon; info: DaemonInfo }> {
  if (how === 'systemd') {
    await executePlan(
      [{ kind: 'run', argv: ['systemctl', 'start', 'docker'], root: true, why: 'start the docker service' }],
      'Starting the docker service',
      {
        runner: context.runner,
        logger: context.logger,
        privilege: context.privilege,
        env: context.env,
        download: () => Promise.reject(new Error('no download')),
      },
    );
    const info = await waitForDaemon(context.ask, endpoint, { timeoutMs: context.timeoutMs });
    return { started: { how, socketPath: endpoint.socketPath }, info };
  }

  const pidFile = `${context.stateDir}/dockerd.pid`;
  const logFile = `${context.stateDir}/dockerd.log`;
  const argv = dockerdArgv(dockerd, endpoint.socketPath, pidFile);
  context.logger.info(`$ ${argv.join(' ')} > ${logFile} 2>&1 &`);
  const out = openSync(logFile, 'a');
  // Detached, with its output in a file: the step's process can end while dockerd keeps running for later steps.
  // The agent's own process cleanup at the end of the job still finds it (it keeps the job's environment).
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', out, out], env: context.env });
  closeSync(out);
  let exit: string | undefined;
  child.on('exit', (code, signal) => (exit = signal ? `was killed by ${signal}` : `exited with code ${code}`));
  child.on('error', (error) => (exit = `could not be started (${error.message})`));
  child.unref();
  try {
    const info = await waitForDaemon(context.ask, endpoint, { timeoutMs: context.timeoutMs, exited: () => exit });
    return { started: { how, socketPath: endpoint.socketPath, pid: child.pid, pidFile, logFile }, info };
  } catch (error) {
    if (!exit && child.pid) process.kill(child.pid, 'SIGTERM');
    const log = tail(logFile);
    throw new Error(`${(error as Error).message}.${log ? `\n  Last lines of ${logFile}:\n${log}` : ''}`);
  }
}

/** Running and not a zombie (an exited dockerd whose new parent, e.g. a container's PID 1, does not reap it). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Stops a daemon this task started in the background: SIGTERM, then SIGKILL when it has not exited in time. */
export async function stopDaemon(started: StartedDaemon, log: Logger, timeoutMs = 30_000): Promise<void> {
  if (started.how !== 'background' || !started.pid) {
    log.info('The docker service was started through systemd; it is left running as a service of the machine.');
    return;
  }
  const pid = started.pid;
  if (!alive(pid)) {
    log.info(`dockerd (pid ${pid}) is no longer running.`);
    return;
  }
  log.info(`Stopping dockerd (pid ${pid}) that this job started`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < deadline) await sleep(250);
  if (alive(pid)) {
    log.warn(`dockerd (pid ${pid}) did not stop within ${timeoutMs / 1000} s; killing it.`);
    process.kill(pid, 'SIGKILL');
  }
}
