export interface RetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 15_000 };

/** What to do after a failed try: give up, or wait (the server's Retry-After wins over backoff). */
export type RetryDecision = false | { afterMs?: number; reason: string };

export interface RetryOptions {
  policy?: RetryPolicy;
  shouldRetry: (error: unknown, attempt: number) => RetryDecision;
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  sleep?: (ms: number) => Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with full jitter, capped; deterministic bounds so tests can reason about them. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY;
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      const decision = attempt < policy.attempts ? options.shouldRetry(error, attempt) : false;
      if (!decision) throw error;
      const delayMs = Math.min(decision.afterMs ?? backoffDelay(policy, attempt), policy.maxDelayMs * 4);
      options.onRetry?.({ attempt, delayMs, reason: decision.reason });
      await wait(delayMs);
    }
  }
}
