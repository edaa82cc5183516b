// npm run demo: the first command of the quick start. Works on a fresh clone: installs dependencies when they are
// missing, builds the tasks, brings the lab up, then runs the pipeline of examples/demo.ts.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const npm = (...args) => execFileSync('npm', args, { cwd: root, stdio: 'inherit' });

try {
  execFileSync(process.execPath, [path.join(root, 'scripts', 'setup.mjs')], { stdio: 'inherit' });
  npm('run', 'build', '--silent');
  npm('run', 'lab:up', '--silent');
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(root, 'examples', 'demo.ts')], {
    cwd: root,
    stdio: 'inherit',
  });
} catch (error) {
  process.exit(typeof error.status === 'number' ? error.status : 1);
}
