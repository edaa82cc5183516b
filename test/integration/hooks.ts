// Root hooks of the integration suite (`--require test/integration/hooks.ts`): make sure the lab is up first.
// Under CI a lab that cannot be brought up fails the run with the reason; elsewhere the suite is skipped loudly.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { labPath } from '../lab/engine';
import { probeLab, repoRoot } from '../lab/lab';

// The lab's engine (dockerd, containerd, runc, qemu) runs from .lab/engine/bin: tests and the tasks they start find it first.
process.env.PATH = labPath(process.env.PATH);

const underCi = (): boolean => !!process.env.CI && !['false', '0'].includes(process.env.CI.toLowerCase());

/** Probes the lab; when something is down, runs `lab:up` once and probes again. Returns what is still wrong. */
export async function ensureLabUp(): Promise<string[]> {
  const problems = await probeLab();
  if (problems.length === 0) return [];
  process.stderr.write(`lab: not up (${problems.join('; ')}); running lab:up\n`);
  const cli = path.join(repoRoot, 'test', 'lab', 'cli.ts');
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', cli, 'up'], { cwd: repoRoot, stdio: ['ignore', 2, 2] });
  const after = await probeLab();
  if (result.status !== 0) after.unshift(`lab:up exited with ${result.status ?? result.signal ?? result.error?.message}`);
  return after;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(600_000);
    const problems = await ensureLabUp();
    if (problems.length === 0) return;
    const reason = `the lab is not usable: ${problems.join('; ')} (see .lab/logs/)`;
    if (underCi()) throw new Error(reason);
    const bar = '!'.repeat(100);
    process.stderr.write(`\n${bar}\n!! SKIPPING THE INTEGRATION SUITE: ${reason}\n!! Under CI=true this fails the run.\n${bar}\n\n`);
    this.skip();
  },
};
