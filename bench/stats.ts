// Shared by every benchmark: repeated measurements summarised as median and spread, printed as a table and
// written as JSON under .bench/ so that overview.md can quote exactly what was printed.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export interface Summary {
  runs: number;
  median: number;
  min: number;
  max: number;
  /** Half the distance between the 25th and 75th percentile, a spread that one outlier cannot blow up. */
  iqrHalf: number;
}

export function summarise(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => {
    const i = (sorted.length - 1) * q;
    const lo = Math.floor(i);
    const hi = Math.ceil(i);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
  };
  return { runs: sorted.length, median: at(0.5), min: sorted[0], max: sorted.at(-1)!, iqrHalf: (at(0.75) - at(0.25)) / 2 };
}

export async function measure(runs: number, once: () => Promise<number>): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await once());
  return summarise(samples);
}

export interface Row {
  name: string;
  value: string;
  detail?: string;
}

export const fmtMs = (s: Summary) =>
  `${s.median.toFixed(0)} ms ±${s.iqrHalf.toFixed(0)} (n=${s.runs}, ${s.min.toFixed(0)}–${s.max.toFixed(0)})`;

export function report(benchmark: string, rows: Row[], data: unknown): void {
  const width = Math.max(...rows.map((r) => r.name.length));
  console.log(`\n${benchmark}`);
  for (const r of rows) console.log(`  ${r.name.padEnd(width)}  ${r.value}${r.detail ? `   ${r.detail}` : ''}`);
  const dir = path.resolve(__dirname, '..', '.bench');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, `${benchmark}.json`),
    JSON.stringify({ benchmark, measuredAt: new Date().toISOString(), rows, data }, null, 2) + '\n',
  );
}
