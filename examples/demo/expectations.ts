// What each step of the demo should have done, checked one by one and printed as it goes; the demo exits non-zero
// when any of them failed.
import type { AgentLog } from './agent-log';

export class Expectations {
  readonly failures: string[] = [];

  constructor(private readonly log: AgentLog) {}

  /** Records and prints one expectation; returns whether it held. */
  check(what: string, held: boolean, detail?: string): boolean {
    this.log.print(`  ${held ? '✔' : '✘'} ${what}${!held && detail ? ` (${detail})` : ''}`);
    if (!held) this.failures.push(detail ? `${what} (${detail})` : what);
    return held;
  }

  equal(what: string, actual: unknown, expected: unknown): boolean {
    return this.check(what, actual === expected, `expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }

  match(what: string, actual: string | undefined, pattern: RegExp): boolean {
    return this.check(what, actual !== undefined && pattern.test(actual), `expected ${pattern}, got ${JSON.stringify(actual)}`);
  }

  /** A step that could not run at all (e.g. its input came from a step that failed). */
  skipped(what: string, reason: string): void {
    this.check(what, false, `not run: ${reason}`);
  }
}
