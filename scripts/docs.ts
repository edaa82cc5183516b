// npm run docs            regenerates the task tables in overview.md from task.json
// npm run docs -- --check fails when overview.md has drifted from task.json
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { renderOverview } from './docs-tables';

const root = path.resolve(__dirname, '..');
const file = path.join(root, 'overview.md');
const current = readFileSync(file, 'utf8');
const wanted = renderOverview(current, path.join(root, 'tasks'));
if (process.argv.includes('--check')) {
  if (current !== wanted) {
    console.error('overview.md is out of date with task.json: run `npm run docs`.');
    process.exit(1);
  }
} else if (current !== wanted) {
  writeFileSync(file, wanted);
  console.log('overview.md updated');
}
