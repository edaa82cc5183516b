// The first step of `npm test`, `npm run demo` and `npm run lab:up` on any clone: installs the npm dependencies when
// they are missing or older than package-lock.json (npm ci), and says so. Plain Node: it runs before anything is installed.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  console.error(`setup: Node.js ${process.versions.node} is too old; the tasks run on Node 20 and 24 (install Node.js 20 or later)`);
  process.exit(1);
}
const installed = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  console.log(
    `setup: ${existsSync(installed) ? 'package-lock.json changed' : 'no node_modules yet'}; installing the npm dependencies (npm ci)`,
  );
  try {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  } catch (error) {
    process.exit(typeof error.status === 'number' ? error.status : 1);
  }
}
