// Issue 13's four budgets, read from the results the benchmarks of this run wrote, each printed as met or NOT met.
// Pure, so the verdicts are unit-tested; the figures themselves are only printed, never asserted.
import type { Summary } from './stats';

/** A benchmark's .bench/<name>.json, as stats.report writes it. */
export interface BenchResult {
  benchmark: string;
  measuredAt: string;
  data: Record<string, unknown>;
}

export interface Budget {
  name: string;
  target: string;
  /** undefined when the benchmark that measures it did not run. */
  figure?: string;
  met?: boolean;
}

export const TASKS = ['EnsureDocker', 'BuildForPlatform', 'ScanAndRelease'] as const;
export const NODES = ['node20', 'node24'] as const;
export const STARTUP_BUDGET_MS = 50;
export const SCAN_BUDGET = { ms: 300, mb: 150 };
export const ENSURE_DOCKER_BUDGET = 0.5;
export const VSIX_BUDGET_KIB = 1024;

interface ScanCase {
  name: string;
  phases: { total: Summary };
  memory: { maxRssMb: number };
}

export function budgets(results: Partial<Record<string, BenchResult>>): Budget[] {
  const list: Budget[] = [];
  const pkg = results.package?.data;
  for (const node of NODES) {
    for (const task of TASKS) {
      const bare = pkg?.[`${node}.bare`] as Summary | undefined;
      const cold = pkg?.[`${node}.${task}`] as Summary | undefined;
      const budget: Budget = { name: `${task} first log line, ${node}`, target: `<= bare node + ${STARTUP_BUDGET_MS} ms` };
      if (bare && cold) {
        const over = cold.median - bare.median;
        Object.assign(budget, {
          figure: `${over >= 0 ? '+' : ''}${over.toFixed(0)} ms (${cold.median.toFixed(0)} ms beside ${bare.median.toFixed(0)} ms)`,
          met: over <= STARTUP_BUDGET_MS,
        });
      }
      list.push(budget);
    }
  }

  const scan = (results['scan-overhead']?.data.cases as ScanCase[] | undefined)?.find((c) => c.name === 'full');
  const scanBudget: Budget = {
    name: 'ScanAndRelease work beyond trivy, 10,000 findings (full report)',
    target: `< ${SCAN_BUDGET.ms} ms and < ${SCAN_BUDGET.mb} MB`,
  };
  if (scan) {
    const ms = scan.phases.total.median;
    const mb = scan.memory.maxRssMb;
    Object.assign(scanBudget, { figure: `${ms.toFixed(0)} ms, ${mb.toFixed(0)} MB`, met: ms < SCAN_BUDGET.ms && mb < SCAN_BUDGET.mb });
  }
  list.push(scanBudget);

  const ratio = results['ensure-docker']?.data.ratio as number | undefined;
  list.push({
    name: 'EnsureDocker with everything present / its floor',
    target: `<= ${ENSURE_DOCKER_BUDGET}x`,
    ...(ratio === undefined ? {} : { figure: `${ratio.toFixed(2)}x`, met: ratio <= ENSURE_DOCKER_BUDGET }),
  });

  const vsixBytes = pkg?.vsixBytes as number | undefined;
  list.push({
    name: '.vsix size',
    target: `<= ${VSIX_BUDGET_KIB} KiB`,
    ...(vsixBytes === undefined ? {} : { figure: `${(vsixBytes / 1024).toFixed(0)} KiB`, met: vsixBytes <= VSIX_BUDGET_KIB * 1024 }),
  });
  return list;
}

export function formatBudgets(list: Budget[]): string[] {
  const width = Math.max(...list.map((b) => b.name.length));
  return list.map(
    (b) =>
      `  ${b.name.padEnd(width)}  ${b.met === undefined ? 'not measured in this run' : `${b.figure}   target ${b.target}: ${b.met ? 'met' : 'NOT met'}`}`,
  );
}
