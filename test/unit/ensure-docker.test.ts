import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { daemonStartRefusal, ensureDocker, type EnsureContext } from '../../src/docker/ensure';
import type { Diagnosis } from '../../src/docker/diagnose';
import { processEnvironment, resolveEndpoint } from '../../src/docker/endpoint';
import { parsePlatformList } from '../../src/platform/platform';
import type { DaemonInfo } from '../../src/docker/probe';
import type { ToolCache } from '../../src/tools/cache';
import { RecordingLogger } from '../../src/log';
import type { RunResult, Runner } from '../../src/process/exec';
import { ensureOptions } from './task-context-fakes';

const ok = (stdout: string, exitCode = 0, stderr = ''): RunResult => ({
  exitCode,
  stdout,
  stderr,
  signal: null,
  timedOut: false,
  durationMs: 1,
});
const server: DaemonInfo = { version: '26.1.5', apiVersion: '1.45', os: 'linux', arch: 'amd64' };
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

function agent() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ensure-'));
  const bin = path.join(root, 'bin');
  mkdirSync(bin);
  const docker = path.join(bin, 'docker');
  writeFileSync(docker, '#!/bin/sh\n');
  chmodSync(docker, 0o755);
  const tools = path.join(root, 'tools');
  const temp = path.join(root, 'temp');
  mkdirSync(tools);
  mkdirSync(temp);
  // A plugin file where the CLI looks first (<config>/cli-plugins), so the probe finds one whatever this machine has.
  // buildx counts as present only once the (fake) install ran; every plugin file, the machine's too, is made to fail.
  const plugins = path.join(root, 'config', 'cli-plugins');
  mkdirSync(plugins, { recursive: true });
  writeFileSync(path.join(plugins, 'docker-buildx'), '#!/bin/sh\n', { mode: 0o755 });
  // compose found but unusable, whatever this machine has (compose: report, the default, only reports it)
  writeFileSync(path.join(plugins, 'docker-compose'), '#!/bin/sh\n', { mode: 0o755 });
  // installWorks: the install leaves a usable buildx; installedBy: 'other' makes buildx appear while the lock is awaited.
  const state = { buildxInstalled: false, cliVersion: '27.3.1', installWorks: true, installedByAnotherJob: false, buildxProbes: 0 };
  const calls: string[] = [];
  const runner: Runner = async (file, args) => {
    calls.push([path.basename(file), ...args].join(' '));
    if (file.endsWith('docker-buildx')) {
      if (state.installedByAnotherJob && ++state.buildxProbes > 1) state.buildxInstalled = true;
      return state.buildxInstalled ? ok('github.com/docker/buildx v0.21.2 abc\n') : ok('', 1, 'not usable in this test');
    }
    if (file.endsWith('docker-compose')) return ok('', 1, 'not usable in this test');
    if (path.basename(file) === 'docker' && args[0] === '--version') return ok(`Docker version ${state.cliVersion}, build x\n`);
    if (file === 'install') {
      state.buildxInstalled = state.installWorks;
      return ok('');
    }
    return ok('', 127, `unexpected ${file}`);
  };
  const downloads: string[] = [];
  const prepended: string[] = [];
  const toolCache: ToolCache = {
    find: () => undefined,
    download: async (url) => {
      downloads.push(url);
      const f = path.join(root, `dl-${downloads.length}`);
      writeFileSync(
        f,
        url.endsWith('checksums.txt') ? `${sha('buildx')} *buildx-v0.21.2.linux-amd64\n` : url.endsWith('.tgz') ? 'tgz' : 'buildx',
      );
      return f;
    },
    extract: async () => {
      const d = path.join(root, 'x');
      mkdirSync(path.join(d, 'docker'), { recursive: true });
      writeFileSync(path.join(d, 'docker', 'docker'), '');
      return d;
    },
    cacheDir: async () => path.join(root, 'cache', 'docker-static'),
    cacheFile: async () => {
      const d = path.join(root, 'cache', 'buildx');
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, 'docker-buildx'), 'buildx');
      return d;
    },
    prependPath: (dir) => {
      prepended.push(dir);
      state.cliVersion = '28.3.3';
    },
  };
  const env: NodeJS.ProcessEnv = { PATH: bin, DOCKER_CONFIG: path.join(root, 'config'), HOME: root };
  const log = new RecordingLogger();
  // as root, whoever runs the tests: the system-wide install path is what these cases check
  const deps = (ask: () => Promise<DaemonInfo>): EnsureContext => ({
    runner,
    logger: log,
    env,
    toolsDir: tools,
    tempDir: temp,
    toolCache: async () => toolCache,
    ask,
    arch: 'x64',
    uid: 0,
  });
  return { root, calls, downloads, prepended, state, deps, log, env };
}

const options = ensureOptions;

describe('EnsureDocker core', () => {
  it('with everything present: probes once, installs nothing, reports versions and the server platform', async () => {
    const a = agent();
    a.state.buildxInstalled = true;
    const result = await ensureDocker(
      options(),
      a.deps(async () => server),
    );
    assert.deepEqual(result.installed, []);
    assert.equal(result.dockerVersion, '27.3.1');
    assert.equal(result.buildxVersion, '0.21.2');
    assert.equal(result.serverPlatform, 'linux/amd64');
    assert.equal(result.daemonStarted, undefined);
    assert.deepEqual(a.calls.sort(), ['docker --version', 'docker-buildx version', 'docker-compose version']);
    assert.deepEqual(a.downloads, []);
  });

  it('installs a missing buildx from static binaries, verified, into the system plugin directory, and re-probes', async () => {
    const a = agent();
    const result = await ensureDocker(
      options(),
      a.deps(async () => server),
    );
    assert.deepEqual(result.installed, ['buildx']);
    assert.equal(result.buildxVersion, '0.21.2');
    assert.deepEqual(a.downloads, [
      'https://mirror.test/buildx/v0.21.2/checksums.txt',
      'https://mirror.test/buildx/v0.21.2/buildx-v0.21.2.linux-amd64',
    ]);
    assert.ok(
      a.calls.includes(
        `install -D -m 0755 ${path.join(a.root, 'cache', 'buildx', 'docker-buildx')} /usr/local/lib/docker/cli-plugins/docker-buildx`,
      ),
    );
  });

  it('counts a docker CLI of another version than dockerVersion as missing and puts the pinned one first on PATH', async () => {
    const a = agent();
    a.state.buildxInstalled = true;
    const result = await ensureDocker(
      options({
        dockerVersion: '28.3.3',
        staticSources: { ...options().staticSources, checksumLines: [`${sha('tgz')}  x86_64/docker-28.3.3.tgz`] },
      }),
      a.deps(async () => server),
    );
    assert.deepEqual(result.installed, ['docker-cli']);
    assert.equal(result.dockerVersion, '28.3.3');
    assert.deepEqual(a.downloads, ['https://mirror.test/static/stable/x86_64/docker-28.3.3.tgz']);
    assert.deepEqual(a.prepended, [path.join(a.root, 'cache', 'docker-static')]);
    assert.ok(a.env.PATH?.startsWith(path.join(a.root, 'cache', 'docker-static')));
  });

  it('fails with the diagnosis when the daemon does not answer and startDaemon is never, before installing anything', async () => {
    const a = agent();
    const socket = path.join(a.root, 'docker.sock');
    const error = await ensureDocker(
      options({ dockerHost: `unix://${socket}` }),
      a.deps(async () => Promise.reject(Object.assign(new Error(`connect ENOENT ${socket}`), { code: 'ENOENT' }))),
    ).catch((e) => e);
    assert.match(error.message, new RegExp(`no Docker socket at ${socket}, the address set by the dockerHost input`));
    assert.match(error.message, /Also missing: buildx/);
    assert.deepEqual(a.downloads, []);
  });

  it('refuses a TCP daemon that does not answer even with startDaemon: auto', async () => {
    const a = agent();
    a.state.buildxInstalled = true;
    const error = await ensureDocker(
      options({ dockerHost: 'tcp://127.0.0.1:1', startDaemon: 'auto' }),
      a.deps(async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))),
    ).catch((e) => e);
    assert.match(error.message, /^Nothing accepts connections at 127\.0\.0\.1:1, the address set by the dockerHost input/);
  });

  it('logs the probe of each tool and the daemon, in that order, and nothing else when everything is present', async () => {
    const a = agent();
    a.state.buildxInstalled = true;
    await ensureDocker(
      options({ dockerHost: 'unix:///run/test-docker.sock' }),
      a.deps(async () => server),
    );
    assert.deepEqual(
      a.log.lines.map((l) => l.message),
      [
        `docker 27.3.1 (${path.join(a.root, 'bin', 'docker')})`,
        `buildx 0.21.2 (${path.join(a.root, 'config', 'cli-plugins', 'docker-buildx')})`,
        `compose unusable: \`docker-compose version\` did not print a version: not usable in this test`,
        'daemon 26.1.5 linux/amd64 at unix:///run/test-docker.sock (the dockerHost input)',
      ],
    );
  });

  it('installs inside one group and says what it installed, with the versions found afterwards', async () => {
    const a = agent();
    await ensureDocker(
      options(),
      a.deps(async () => server),
    );
    const lines = a.log.lines.map((l) => `${l.level}: ${l.message}`);
    assert.ok(lines.includes('group: Install buildx'), lines.join('\n'));
    assert.ok(
      lines.some((l) => /^info: Installing buildx from static \(/.test(l)),
      lines.join('\n'),
    );
    assert.equal(lines.at(-1), 'info: Installed buildx: docker 27.3.1, buildx 0.21.2');
  });

  it('installs nothing when another job installed the tools while this one waited for the lock', async () => {
    const a = agent();
    a.state.installedByAnotherJob = true;
    const result = await ensureDocker(
      options(),
      a.deps(async () => server),
    );
    assert.deepEqual(result.installed, []);
    assert.deepEqual(a.downloads, []);
    assert.ok(a.log.text().includes('Another job installed them meanwhile; nothing to do.'));
    assert.ok(a.log.text().includes('Installed nothing: docker 27.3.1, buildx 0.21.2'));
  });

  it('fails naming both tools when the install left one of them unusable', async () => {
    const a = agent();
    a.state.installWorks = false;
    const error = await ensureDocker(
      options(),
      a.deps(async () => server),
    ).catch((e) => e);
    assert.match(error.message, /^After installing, still missing: docker 27\.3\.1 \(.*\); buildx unusable: /);
  });

  it('reports a platform the daemon runs natively as native, without installing or registering anything', async () => {
    const a = agent();
    a.state.buildxInstalled = true;
    const result = await ensureDocker(
      options({ emulatePlatforms: parsePlatformList('linux/amd64') }),
      a.deps(async () => server),
    );
    assert.deepEqual(result.emulation, [{ platform: 'linux/amd64', how: 'native' }]);
    assert.deepEqual(result.installed, []);
    assert.ok(a.log.lines.some((l) => l.level === 'group' && l.message === 'Emulation for linux/amd64'));
    assert.equal(a.log.lines.at(-1)?.message, 'linux/amd64: native');
  });
});

describe('daemonStartRefusal', () => {
  const unix = resolveEndpoint(processEnvironment({}), 'unix:///var/run/docker.sock');
  const tcp = resolveEndpoint(processEnvironment({}), 'tcp://10.0.0.5:2375');
  const diagnosis = (problem: Diagnosis['problem']): Diagnosis => ({ problem, summary: `summary of ${problem}.`, fixes: ['a fix'] });

  it('lets startDaemon: auto start a local daemon whose socket is missing, or that is installed and not running', () => {
    assert.equal(daemonStartRefusal(diagnosis('no-socket'), unix, false, 'auto', []), undefined);
    assert.equal(daemonStartRefusal(diagnosis('not-running'), unix, true, 'auto', []), undefined);
  });

  it('refuses with the diagnosis alone when the daemon cannot be started: not installed, not local, or another problem', () => {
    for (const [d, endpoint, engine] of [
      [diagnosis('not-running'), unix, false],
      [diagnosis('refused'), tcp, true],
      [diagnosis('permission-denied'), unix, true],
    ] as const) {
      const refusal = daemonStartRefusal(d, endpoint, engine, 'auto', []);
      assert.ok(refusal?.startsWith(`summary of ${d.problem}.`), refusal);
      assert.ok(!refusal?.includes('startDaemon is never'), refusal);
    }
  });

  it('says startDaemon is never when it could have started the daemon, and names what is missing too', () => {
    const refusal = daemonStartRefusal(diagnosis('no-socket'), unix, false, 'never', ['docker-cli', 'buildx']);
    assert.match(
      refusal ?? '',
      /\n {2}\(startDaemon is never, so the task does not start one\.\)\n\(Also missing: docker-cli, buildx\.\)$/,
    );
  });
});
