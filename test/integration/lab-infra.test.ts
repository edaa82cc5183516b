// The real parts of the lab: Docker Engine 26 with the containerd image store, a multi-platform build pushed to
// the loopback registry, QEMU emulation that can be switched off (exec format error) and on, idempotent lab:up.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeBuildContext, type BuildContext } from '../lab/base';
import { labFile, readLab, repoRoot, type Lab } from '../lab/lab';
import { qemuState, withQemuOff } from '../lab/qemu';
import { tryRun, type RunResult } from '../lab/setup/proc';

function docker(...args: string[]): RunResult {
  return tryRun(['docker', ...args]);
}

function ok(result: RunResult, what: string): string {
  assert.equal(result.code, 0, `${what} failed (exit ${result.code}): ${result.stderr.trim()}`);
  return result.stdout.trim();
}

interface IndexManifest {
  mediaType?: string;
  manifests: Array<{ digest: string; platform?: { os: string; architecture: string } }>;
}

describe('lab infrastructure (real docker, registry and QEMU)', function () {
  this.timeout(300_000);
  let lab: Lab;

  before(() => {
    lab = readLab();
  });

  it('runs Docker Engine 26 with the containerd image store and buildx', () => {
    const server = ok(docker('version', '--format', '{{.Server.Version}}'), 'docker version');
    assert.match(server, /^26\./);
    assert.equal(server, lab.docker.serverVersion, 'lab.json describes the running engine');
    const driverStatus = ok(docker('info', '--format', '{{json .DriverStatus}}'), 'docker info');
    assert.match(driverStatus, /io\.containerd\.snapshotter\.v1/);
    assert.match(ok(docker('buildx', 'version'), 'docker buildx version'), /v?\d+\.\d+\.\d+/);
  });

  describe('a multi-platform busybox image pushed to the loopback registry', () => {
    const repository = 'lab-infra/busybox';
    const tag = `t${Date.now()}-${randomBytes(3).toString('hex')}`;
    let reference: string;
    let context: BuildContext;

    before(() => {
      reference = `${lab.backingRegistry}/${repository}:${tag}`;
      context = makeBuildContext({ lab });
      ok(
        docker('buildx', 'build', '--platform', 'linux/amd64,linux/arm64', '--tag', reference, '--push', context.dir),
        'buildx build --push',
      );
    });

    after(async () => {
      context?.remove();
      docker('image', 'rm', '--force', reference);
      const head = await fetch(`http://${lab.backingRegistry}/v2/${repository}/manifests/${tag}`, {
        method: 'HEAD',
        headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
      });
      const digest = head.headers.get('docker-content-digest');
      if (digest) await fetch(`http://${lab.backingRegistry}/v2/${repository}/manifests/${digest}`, { method: 'DELETE' });
    });

    it('is stored as an index holding linux/amd64 and linux/arm64', async () => {
      const response = await fetch(`http://${lab.backingRegistry}/v2/${repository}/manifests/${tag}`, {
        headers: { Accept: 'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json' },
      });
      assert.equal(response.status, 200);
      const index = (await response.json()) as IndexManifest;
      const platforms = index.manifests
        .map((manifest) => manifest.platform)
        .filter((platform) => platform && platform.os !== 'unknown')
        .map((platform) => `${platform?.os}/${platform?.architecture}`)
        .sort();
      assert.deepEqual(platforms, ['linux/amd64', 'linux/arm64']);
    });

    it('runs both variants, the arm64 one under QEMU', () => {
      assert.equal(qemuState('linux/arm64'), 'enabled');
      assert.equal(ok(docker('run', '--rm', '--platform', 'linux/arm64', reference), 'run arm64'), 'built on aarch64');
      assert.equal(ok(docker('run', '--rm', '--platform', 'linux/arm64', reference, 'uname', '-m'), 'run arm64 uname'), 'aarch64');
      assert.equal(ok(docker('run', '--rm', '--platform', 'linux/amd64', reference), 'run amd64'), 'built on x86_64');
    });

    it('fails with exec format error while QEMU is off, and runs again once it is back on', async () => {
      const whileOff = await withQemuOff('linux/arm64', () => {
        assert.equal(qemuState('linux/arm64'), 'disabled');
        return docker('run', '--rm', '--platform', 'linux/arm64', reference, 'uname', '-m');
      });
      assert.notEqual(whileOff.code, 0, 'an arm64 binary must not run without QEMU');
      assert.match(whileOff.stderr, /exec format error/);
      assert.equal(qemuState('linux/arm64'), 'enabled', 'withQemuOff restores the state it found');
      assert.equal(ok(docker('run', '--rm', '--platform', 'linux/arm64', reference, 'uname', '-m'), 'run arm64 after'), 'aarch64');
    });
  });

  it('lab:up twice in a row changes nothing: same lab.json (secrets included), same daemons', () => {
    const pids = (): Record<string, string | undefined> =>
      Object.fromEntries(
        ['containerd', 'dockerd', 'registry'].map((name) => {
          const file = path.join(lab.root, 'pids', `${name}.pid`);
          return [name, existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined];
        }),
      );
    const labBefore = readFileSync(labFile, 'utf8');
    const pidsBefore = pids();
    for (const attempt of [1, 2]) {
      const up = tryRun([process.execPath, '--require', 'tsx/cjs', path.join(repoRoot, 'test', 'lab', 'cli.ts'), 'up'], { cwd: repoRoot });
      assert.equal(up.code, 0, `lab:up #${attempt} failed: ${up.stderr.trim()}`);
      // the emulators may restart when someone edits their code meanwhile; every other part must be left as it is
      const acted = up.stdout
        .split('\n')
        .filter((line) => !line.startsWith('emulators:'))
        .filter((line) =>
          /: (started|restarting|creating|issuing|adding|writing|written|mapping|installing|mounting|registering|enabling|copying|fetching)\b/.test(
            line,
          ),
        );
      assert.deepEqual(acted, [], `lab:up #${attempt} acted`);
    }
    const labAfter = readFileSync(labFile, 'utf8');
    assert.equal(labAfter, labBefore);
    const secrets = (text: string): string[] => {
      const parsed = JSON.parse(text) as Lab;
      return [
        parsed.azureDevOps.accessToken,
        ...Object.values(parsed.registries).map((registry) => registry.admin.password),
        ...(['builder', 'scanner', 'qreader', 'puller', 'nobody'] as const).map((name) => parsed.identities[name].secret),
      ];
    };
    assert.deepEqual(secrets(labAfter), secrets(labBefore));
    assert.deepEqual(pids(), pidsBefore);
  });
});
