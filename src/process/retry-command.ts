// Runs a registry command of docker (login, push, buildx build --push, imagetools create) again when it failed for a
// transient reason (src/process/transient.ts), within a bound; before each repeat the registry is asked whether the
// step's effect is already there (a push whose answer was lost), and then it is not repeated.
import type { Logger } from '../log';
import { type RetryPolicy, backoffDelay, sleep as realSleep } from '../util/retry';
import { CommandError, type RunOptions, type RunResult, type Runner } from './exec';
import { transientFailure } from './transient';

/** Four tries, 2 s then 4 s then 8 s apart (with jitter): a registry that recovers within half a minute is ridden out. */
export const COMMAND_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 2000, maxDelayMs: 15_000 };

export interface CommandRetry<T> {
  /** What the command does, for the log: "docker push contoso.azurecr.io/web:1". */
  what: string;
  logger?: Logger;
  policy?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  /** Asked before a repeat: what the registry already holds as this step's effect, or undefined to repeat it. */
  landed?: (failure: RunResult) => Promise<T | undefined>;
}

export type Retried<T> =
  { kind: 'ran'; result: RunResult; attempts: number } | { kind: 'landed'; value: T; failure: RunResult; attempts: number };

/** Runs until exit 0, a failure that is not transient (thrown as CommandError), the bound, or the effect found landed. */
export async function runRetried<T = never>(
  runner: Runner,
  file: string,
  args: readonly string[],
  options: RunOptions,
  retry: CommandRetry<T>,
): Promise<Retried<T>> {
  const policy = retry.policy ?? COMMAND_RETRY;
  const wait = retry.sleep ?? realSleep;
  for (let attempt = 1; ; attempt++) {
    const result = await runner(file, args, options);
    if (result.exitCode === 0) return { kind: 'ran', result, attempts: attempt };
    const reason = result.timedOut ? undefined : transientFailure(`${result.stderr}\n${result.stdout}`);
    if (!reason || attempt >= policy.attempts) {
      if (reason) retry.logger?.warn(`${retry.what} failed ${attempt} times (${reason}); giving up.`);
      throw new CommandError(file, args, result);
    }
    if (retry.landed) {
      // the failure may have come after the registry took the step (a lost answer): never do it twice
      const value = await retry.landed(result).catch(() => undefined);
      if (value !== undefined) {
        retry.logger?.info(`${retry.what} failed (${reason}), but the registry already holds its result: not repeated.`);
        return { kind: 'landed', value, failure: result, attempts: attempt };
      }
    }
    const delayMs = backoffDelay(policy, attempt);
    retry.logger?.warn(
      `${retry.what} failed (${reason}); trying again in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${policy.attempts}).`,
    );
    await wait(delayMs);
  }
}
