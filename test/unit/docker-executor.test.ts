import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { executePlan, NeedsRootError } from '../../src/docker/executor';
import { aptInstall, aptUpdate, type PlanStep } from '../../src/docker/install-plan';
import { RecordingLogger } from '../../src/log';
import type { RunOptions, RunResult, Runner } from '../../src/process/exec';

const ok = (stdout = '', stderr = '', exitCode = 0): RunResult => ({
  exitCode,
  stdout,
  stderr,
  signal: null,
  timedOut: false,
  durationMs: 1,
});

function recorder(answer: (argv: string[]) => RunResult = () => ok()) {
  const calls: { argv: string[]; options?: RunOptions }[] = [];
  const runner: Runner = async (file, args, options) => {
    const argv = [file, ...args];
    calls.push({ argv, options });
    return answer(argv);
  };
  return { calls, runner };
}

describe('plan executor', () => {
  const steps: PlanStep[] = [aptUpdate(), aptInstall(['docker-buildx'], 'buildx')];

  it('runs root steps directly as root, with their environment through env(1)', async () => {
    const { calls, runner } = recorder();
    await executePlan(steps, 'Installing buildx', { runner, logger: new RecordingLogger(), privilege: 'root', download: async () => '' });
    assert.deepEqual(
      calls.map((c) => c.argv.join(' ')),
      [
        'env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update',
        'env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker-buildx',
      ],
    );
  });

  it('prefixes root steps with sudo -n when the agent has passwordless sudo, and writes root files through sudo tee', async () => {
    const { calls, runner } = recorder();
    const write: PlanStep = {
      kind: 'write',
      path: '/etc/apt/sources.list.d/docker.sources',
      content: 'Types: deb\n',
      mode: 0o644,
      root: true,
      why: 'w',
    };
    await executePlan([steps[0], write], 'x', { runner, logger: new RecordingLogger(), privilege: 'sudo', download: async () => '' });
    assert.equal(calls[0].argv.slice(0, 4).join(' '), 'sudo -n env DEBIAN_FRONTEND=noninteractive');
    assert.deepEqual(calls[1].argv, ['sudo', '-n', 'tee', '/etc/apt/sources.list.d/docker.sources']);
    assert.equal(calls[1].options?.stdin, 'Types: deb\n');
    assert.deepEqual(calls[2].argv, ['sudo', '-n', 'chmod', '644', '/etc/apt/sources.list.d/docker.sources']);
  });

  it('refuses the whole plan without root or sudo and prints the exact commands to run', async () => {
    const { calls, runner } = recorder();
    const error = await executePlan(steps, 'Installing docker-buildx', {
      runner,
      logger: new RecordingLogger(),
      privilege: 'none',
      download: async () => '',
    }).catch((e) => e);
    assert.ok(error instanceof NeedsRootError);
    assert.equal(calls.length, 0, 'nothing may run');
    assert.match(
      error.message,
      /^Installing docker-buildx needs root, but the agent runs as a user without passwordless sudo\. Run this once on the agent as root/,
    );
    assert.match(
      error.message,
      /\n {2}DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update\n {2}DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker-buildx$/,
    );
  });

  it('runs steps that need no root without sudo, and writes them directly', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'exec-'));
    const file = path.join(dir, 'plugin.conf');
    const { calls, runner } = recorder();
    await executePlan([{ kind: 'write', path: file, content: 'x', mode: 0o600, root: false, why: 'w' }], 'x', {
      runner,
      logger: new RecordingLogger(),
      privilege: 'none',
      download: async () => '',
    });
    assert.equal(calls.length, 0);
    assert.equal(readFileSync(file, 'utf8'), 'x');
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('downloads to a temporary file, then installs it with its mode', async () => {
    const { calls, runner } = recorder();
    const step: PlanStep = {
      kind: 'download',
      url: 'https://download.docker.com/linux/debian/gpg',
      path: '/etc/apt/keyrings/docker.asc',
      mode: 0o644,
      root: true,
      why: 'key',
    };
    const fetched: string[] = [];
    await executePlan([step], 'x', {
      runner,
      logger: new RecordingLogger(),
      privilege: 'sudo',
      download: async (url) => (fetched.push(url), '/tmp/dl-1'),
    });
    assert.deepEqual(fetched, ['https://download.docker.com/linux/debian/gpg']);
    assert.deepEqual(calls[0].argv, ['sudo', '-n', 'install', '-D', '-m', '0644', '/tmp/dl-1', '/etc/apt/keyrings/docker.asc']);
  });

  it('waits while another apt holds its lock, then goes on', async () => {
    let attempts = 0;
    const { runner } = recorder(() =>
      ++attempts < 3 ? ok('', 'E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)', 100) : ok(),
    );
    const log = new RecordingLogger();
    await executePlan([steps[0]], 'x', {
      runner,
      logger: log,
      privilege: 'root',
      download: async () => '',
      aptLockRetry: { attempts: 5, delayMs: 1 },
    });
    assert.equal(attempts, 3);
    assert.match(log.text(), /apt is busy/);
  });

  it('fails with the command and its last stderr line', async () => {
    const { runner } = recorder(() => ok('', 'E: Unable to locate package docker-buildx\n', 100));
    await assert.rejects(
      executePlan([steps[1]], 'x', { runner, logger: new RecordingLogger(), privilege: 'root', download: async () => '' }),
      /env DEBIAN_FRONTEND=noninteractive apt-get failed with exit code 100: E: Unable to locate package docker-buildx/,
    );
  });
});
