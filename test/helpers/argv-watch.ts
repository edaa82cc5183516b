// Samples the command lines of every process on the machine while a task runs, so a test can prove that no
// secret ever travelled as a process argument (`docker login -p`, a token in a curl URL, ...).
import { readdirSync, readFileSync } from 'node:fs';

export class ArgvWatch {
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  start(intervalMs = 15): this {
    const sample = () => {
      for (const pid of readdirSync('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (cmdline) this.seen.add(cmdline.split('\0').join(' ').trim());
        } catch {
          // the process ended between listing and reading
        }
      }
    };
    sample();
    this.timer = setInterval(sample, intervalMs);
    return this;
  }

  stop(): string[] {
    clearInterval(this.timer);
    return [...this.seen];
  }

  /** The command lines that contain any of the secrets. */
  static offending(commandLines: readonly string[], secrets: readonly (string | undefined)[]): string[] {
    const real = secrets.filter((s): s is string => !!s && s.length >= 6);
    return commandLines.filter((line) => real.some((s) => line.includes(s)));
  }
}
