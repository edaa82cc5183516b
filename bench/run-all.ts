// npm run bench: every benchmark in this folder, one after the other (they share two cores; never in parallel),
// then issue 13's budgets from what this run measured. `npm run bench -- package scan-overhead` runs only those
// (the ensure-docker and build-cache benchmarks need the lab up).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { labPath } from '../test/lab/engine';
import { type BenchResult, budgets, formatBudgets } from './budgets';

const skip = new Set(['run-all.ts', 'stats.ts', 'budgets.ts']);
const wanted = process.argv.slice(2);
const benches = readdirSync(__dirname)
  .filter((f) => f.endsWith('.ts') && !skip.has(f))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.ts$/, '')))
  .sort();
const started = new Date();
let failed = 0;
for (const bench of benches) {
  try {
    // the lab's engine (private daemons of the benches included) runs from .lab/engine/bin
    execFileSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, bench)], {
      stdio: 'inherit',
      env: { ...process.env, PATH: labPath() },
    });
  } catch {
    failed++;
    console.error(`${bench} failed`);
  }
}

/** The results written by this run; an older file in .bench/ measured something else. */
function resultsOfThisRun(): Record<string, BenchResult> {
  const dir = path.resolve(__dirname, '..', '.bench');
  const results: Record<string, BenchResult> = {};
  for (const name of ['package', 'scan-overhead', 'ensure-docker']) {
    const file = path.join(dir, `${name}.json`);
    if (!existsSync(file)) continue;
    const result = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
    if (new Date(result.measuredAt) >= started) results[name] = result;
  }
  return results;
}

console.log('\nbudgets (issue 13)');
for (const line of formatBudgets(budgets(resultsOfThisRun()))) console.log(line);
process.exit(failed ? 1 : 0);
