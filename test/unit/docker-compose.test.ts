// Docker Compose v2 in EnsureDocker: the probe (v1 does not count), the package each source installs it from, and
// the source `auto` takes where the distribution's docker-compose is v1 (Debian 12).
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { processEnvironment } from '../../src/docker/endpoint';
import {
  chooseAfterCandidates,
  distributionPlan,
  dockerRepositoryPlan,
  isComposeV2Package,
  parseOsRelease,
  UnavailableError,
} from '../../src/docker/install-plan';
import { probeCompose } from '../../src/docker/probe';
import { parseComposeVersion } from '../../src/docker/version';
import { fakeRunner } from './task-context-fakes';

const trixie = { os: parseOsRelease('ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n'), dpkgArch: 'amd64', hasCaCertificates: true };
const bookworm = {
  os: parseOsRelease('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'),
  dpkgArch: 'amd64',
  hasCaCertificates: true,
};
// apt-cache policy's candidates as each release has them
const trixieCandidates = {
  'docker.io': '26.1.5+dfsg1-9+b9',
  'docker-cli': '26.1.5+dfsg1-9+b9',
  'docker-buildx': '0.13.1+ds1-3',
  'docker-compose': '2.26.1-4',
};
const bookwormCandidates = {
  'docker.io': '20.10.24+dfsg1-1+b3',
  'docker-cli': undefined,
  'docker-buildx': undefined,
  'docker-compose': '1.29.2-3',
};

describe('Docker Compose v2', () => {
  it('reads the version compose v2 and v1 print', () => {
    assert.equal(parseComposeVersion('Docker Compose version v2.26.1\n'), '2.26.1');
    assert.equal(parseComposeVersion('Docker Compose version 2.39.2\n'), '2.39.2');
    assert.equal(parseComposeVersion('docker-compose version 1.29.2, build unknown\n'), '1.29.2');
    assert.equal(parseComposeVersion('nothing'), undefined);
  });

  describe('the probe', () => {
    let root: string;
    beforeEach(() => {
      root = mkdtempSync(path.join(os.tmpdir(), 'compose-probe-'));
      mkdirSync(path.join(root, 'cli-plugins'));
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));
    const env = () => processEnvironment({ PATH: '/nonexistent', HOME: root, DOCKER_CONFIG: root });
    const plugin = () => writeFileSync(path.join(root, 'cli-plugins', 'docker-compose'), '#!/bin/sh\n', { mode: 0o755 });

    it('runs the plugin where the CLI finds it and reads its version', async () => {
      plugin();
      const { runner, calls } = fakeRunner(() => ({ stdout: 'Docker Compose version v2.26.1\n' }));
      assert.deepEqual(await probeCompose(runner, env()), { path: path.join(root, 'cli-plugins', 'docker-compose'), version: '2.26.1' });
      assert.deepEqual(
        calls.map((c) => c.args),
        [['version']],
      );
    });

    it('does not count compose v1 as compose', async () => {
      plugin();
      const { runner } = fakeRunner(() => ({ stdout: 'docker-compose version 1.29.2, build unknown\n' }));
      const probe = await probeCompose(runner, env());
      assert.equal(probe.version, undefined);
      assert.match(probe.problem ?? '', /is compose 1\.29\.2 \(v1\); `docker compose` needs compose v2/);
    });

    it('finds nothing and runs nothing where there is no plugin', async () => {
      const { runner, calls } = fakeRunner(() => undefined);
      // the system plugin directories of this machine may hold one: only the test's own config dir is looked at first
      const probe = await probeCompose(runner, env());
      if (!probe.path) assert.deepEqual(calls, []);
      else assert.ok(!probe.path.startsWith(root));
    });
  });

  it("Docker's repository installs docker-compose-plugin", () => {
    const install = dockerRepositoryPlan(trixie, ['compose'], { alreadyConfigured: true }).steps.at(-1);
    assert.ok(install?.kind === 'run');
    assert.deepEqual(install.argv.slice(-1), ['docker-compose-plugin']);
  });

  it("Debian 13's docker-compose is v2 and is installed; Debian 12's is v1 and refused", () => {
    assert.ok(isComposeV2Package('2.26.1-4'));
    assert.ok(!isComposeV2Package('1.29.2-3'));
    assert.ok(!isComposeV2Package(undefined));
    const plan = distributionPlan(trixie, ['buildx', 'compose'], trixieCandidates, { listsRefreshed: true });
    const install = plan.steps.at(-1);
    assert.ok(install?.kind === 'run');
    assert.deepEqual(install.argv.slice(-2), ['docker-buildx', 'docker-compose']);
    assert.throws(
      () => distributionPlan(bookworm, ['compose'], bookwormCandidates),
      (e: Error) =>
        e instanceof UnavailableError &&
        /^Debian GNU\/Linux 12 \(bookworm\) has no docker-compose v2 package in its configured archives \(Debian 12's docker-compose is v1, which `docker compose` does not run\)\. Use installSource dockerRepository or static\.$/.test(
          e.message,
        ),
    );
  });

  it('auto takes the distribution on Debian 13 and the static release on Debian 12', () => {
    assert.equal(chooseAfterCandidates(['compose'], trixieCandidates, undefined).source, 'distribution');
    assert.deepEqual(chooseAfterCandidates(['compose'], bookwormCandidates, undefined), {
      source: 'static',
      reason: 'the distribution has no package for compose',
    });
  });
});
