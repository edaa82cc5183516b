// npm run bench: every benchmark in this folder, one after the other (they share two cores; never in parallel).
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { labPath } from '../test/lab/engine';

const skip = new Set(['run-all.ts', 'stats.ts']);
const benches = readdirSync(__dirname).filter((f) => f.endsWith('.ts') && !skip.has(f)).sort();
let failed = 0;
for (const bench of benches) {
  try {
    // the lab's engine (private daemons of the benches included) runs from .lab/engine/bin
    execFileSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, bench)], { stdio: 'inherit', env: { ...process.env, PATH: labPath() } });
  } catch {
    failed++;
    console.error(`${bench} failed`);
  }
}
process.exit(failed ? 1 : 0);
