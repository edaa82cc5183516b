// Emulation on the lab machine: the exit-0 programs EnsureDocker executes as its proof really are programs of their
// platforms (run under each qemu-*-static directly, no global state), and the task switches QEMU for linux/arm64
// back on after it was switched off. The QEMU switch is machine-wide: the window is one task run, restored in finally.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exitZeroProgram } from '../../src/buildx/qemu';
import { parsePlatform } from '../../src/platform/platform';
import { run } from '../../src/process/exec';
import { distTasks, repoRoot, runTask, type TaskRun } from '../helpers/task-runner';
import { engineCommand } from '../lab/engine';
import { labNodeEnv, readLab } from '../lab/lab';
import { qemuState, withQemuOff } from '../lab/qemu';

const visible = (r: TaskRun) =>
  r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('##vso[task.debug'))
    .join('\n');

describe('EnsureDocker emulation on the lab machine', function () {
  this.timeout(300_000);
  before(() => {
    if (!existsSync(path.join(distTasks, 'EnsureDocker', 'index.js'))) {
      execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', 'EnsureDocker', '--no-typecheck'], {
        stdio: 'inherit',
      });
    }
  });

  describe('the exit-0 proof programs', () => {
    const qemuOf: Record<string, string> = {
      'linux/arm64': 'aarch64',
      'linux/arm/v7': 'arm',
      'linux/ppc64le': 'ppc64le',
      'linux/s390x': 's390x',
      'linux/riscv64': 'riscv64',
      'linux/386': 'i386',
      'linux/amd64': 'x86_64',
    };
    const dir = mkdtempSync(path.join(os.tmpdir(), 'exit0-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    for (const [platform, qemu] of Object.entries(qemuOf)) {
      it(`${platform} exits 0 under qemu-${qemu}-static, and a program of another platform does not`, async () => {
        // the lab's own emulators (unpacked from qemu-user-static by lab:up)
        const emulator = engineCommand(`qemu-${qemu}-static`);
        assert.ok(existsSync(emulator), `${emulator} is missing: run npm run lab:up`);
        const file = path.join(dir, qemu);
        writeFileSync(file, exitZeroProgram(parsePlatform(platform))!, { mode: 0o755 });
        assert.equal((await run(emulator, [file])).exitCode, 0);
        const wrong = path.join(dir, `${qemu}-wrong`);
        writeFileSync(wrong, exitZeroProgram(parsePlatform(platform === 'linux/s390x' ? 'linux/riscv64' : 'linux/s390x'))!, {
          mode: 0o755,
        });
        assert.notEqual((await run(emulator, [wrong])).exitCode, 0);
      });
    }
  });

  it('switches QEMU for linux/arm64 back on when it is off, proves it, and leaves it on', async function () {
    if (qemuState('linux/arm64') === 'unmounted' || qemuState('linux/arm64') === 'unregistered') this.skip();
    const lab = readLab();
    const { during, after } = await withQemuOff('linux/arm64', async () => {
      assert.equal(qemuState('linux/arm64'), 'disabled');
      const result = await runTask({ task: 'EnsureDocker', inputs: { emulatePlatforms: 'linux/amd64,linux/arm64' }, env: labNodeEnv(lab) });
      return { during: result, after: qemuState('linux/arm64') };
    });
    assert.equal(during.result, 'Succeeded', `${during.resultMessage}\n${visible(during)}`);
    assert.match(visible(during), /QEMU for linux\/arm64 \(qemu-aarch64\) is registered but switched off; switching it on/);
    assert.match(visible(during), /linux\/amd64: native/);
    assert.match(visible(during), /linux\/arm64: enabled/);
    assert.equal(during.outputs.installed, '', 'nothing was installed, only switched on');
    assert.equal(after, 'enabled', 'the task left emulation on');
  });

  it('with emulation already on, only proves it', async function () {
    const lab = readLab();
    if (qemuState('linux/arm64') !== 'enabled') this.skip();
    const result = await runTask({ task: 'EnsureDocker', inputs: { emulatePlatforms: 'linux/arm64' }, env: labNodeEnv(lab) });
    assert.equal(result.result, 'Succeeded', result.resultMessage);
    assert.match(visible(result), /linux\/arm64: ready/);
  });
});
