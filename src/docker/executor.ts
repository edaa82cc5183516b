// Runs install plans: every step that needs root runs directly when we are root, through `sudo -n` when the agent
// has passwordless sudo, and otherwise the whole plan is refused with the exact commands for a human to run.
import { chmodSync, writeFileSync } from 'node:fs';
import type { TaskContext } from '../context';
import { CommandError, type Runner } from '../process/exec';
import { sleep } from '../util/retry';
import { type PlanStep, planAsShell } from './install-plan';
import { findOnPath } from './probe';

export type Privilege = 'root' | 'sudo' | 'none';

export async function detectPrivilege(
  runner: Runner,
  env: NodeJS.ProcessEnv = process.env,
  uid: number = process.getuid?.() ?? -1,
): Promise<Privilege> {
  if (uid === 0) return 'root';
  if (!findOnPath('sudo', env.PATH)) return 'none';
  try {
    const result = await runner('sudo', ['-n', 'true'], { env, timeoutMs: 10_000 });
    return result.exitCode === 0 ? 'sudo' : 'none';
  } catch {
    return 'none';
  }
}

export class NeedsRootError extends Error {
  constructor(
    readonly what: string,
    readonly commands: string[],
  ) {
    super(
      `${what} needs root, but the agent runs as a user without passwordless sudo. Run this once on the agent as root (or give the agent's user passwordless sudo), then run the pipeline again:\n${commands.map((c) => `  ${c.replace(/\n/g, '\n  ')}`).join('\n')}`,
    );
    this.name = 'NeedsRootError';
  }
}

/** The task's runner, logger and env, and what running a plan needs beyond them. */
export type ExecutorContext = Pick<TaskContext, 'runner' | 'logger'> &
  Partial<Pick<TaskContext, 'env'>> & {
    privilege: Privilege;
    /** Downloads a URL to a temporary file and returns its path (tool-lib's downloader in the task: proxy-aware). */
    download: (url: string) => Promise<string>;
    /** Waits between attempts while another apt holds its lock (tests shorten it). */
    aptLockRetry?: { attempts: number; delayMs: number };
  };

const APT_LOCKED = /Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock directory|is another process using it/i;

function privileged(argv: string[], env: Record<string, string> | undefined, root: boolean, privilege: Privilege): string[] {
  const withEnv = env && Object.keys(env).length ? ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv] : argv;
  return root && privilege === 'sudo' ? ['sudo', '-n', ...withEnv] : withEnv;
}

async function runLogged(context: ExecutorContext, argv: string[], stdin?: string): Promise<void> {
  const [file, ...args] = argv;
  const retry = context.aptLockRetry ?? { attempts: 60, delayMs: 5000 };
  for (let attempt = 1; ; attempt++) {
    context.logger.info(`$ ${argv.join(' ')}`);
    const result = await context.runner(file, args, {
      env: context.env,
      stdin,
      onLine: (line) => {
        if (line.trim()) context.logger.info(`  ${line}`);
      },
    });
    if (result.exitCode === 0) return;
    const isApt = argv.includes('apt-get');
    if (isApt && APT_LOCKED.test(result.stderr) && attempt < retry.attempts) {
      context.logger.info(`apt is busy (another process holds its lock); trying again in ${retry.delayMs / 1000} s`);
      await sleep(retry.delayMs);
      continue;
    }
    throw new CommandError(file, args, result);
  }
}

/** Executes the steps in order; `what` names the purpose in the error a user sees when root is missing. */
export async function executePlan(steps: PlanStep[], what: string, context: ExecutorContext): Promise<void> {
  if (context.privilege === 'none' && steps.some((s) => s.root)) throw new NeedsRootError(what, planAsShell(steps, false));
  for (const step of steps) {
    context.logger.debug(`step: ${step.why}`);
    if (step.kind === 'run') {
      await runLogged(context, privileged(step.argv, step.env, step.root, context.privilege));
    } else if (step.kind === 'write') {
      context.logger.info(`writing ${step.path} (${step.why})`);
      if (!step.root || context.privilege === 'root') {
        writeFileSync(step.path, step.content);
        if (step.mode !== undefined) chmodSync(step.path, step.mode);
      } else {
        await runLogged(context, ['sudo', '-n', 'tee', step.path], step.content);
        if (step.mode !== undefined) await runLogged(context, ['sudo', '-n', 'chmod', step.mode.toString(8), step.path]);
      }
    } else {
      context.logger.info(`downloading ${step.url} (${step.why})`);
      const file = await context.download(step.url);
      await runLogged(
        context,
        privileged(
          ['install', '-D', '-m', step.mode.toString(8).padStart(4, '0'), file, step.path],
          undefined,
          step.root,
          context.privilege,
        ),
      );
    }
  }
}
