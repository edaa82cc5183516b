import { strict as assert } from 'node:assert';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliAsker, dockerCliEnv, serverPlatform } from '../../src/docker/api';
import type { DockerEndpoint, EndpointEnvironment } from '../../src/docker/endpoint';
import {
  cliPluginDirs,
  daemonFailure,
  findBuildxPlugin,
  findOnPath,
  probeAll,
  probeBuildx,
  probeCli,
  SYSTEM_PLUGIN_DIRS,
} from '../../src/docker/probe';
import { versionMemo } from '../../src/docker/version-memo';
import { formatPlatform } from '../../src/platform/platform';
import type { RunResult, Runner } from '../../src/process/exec';

const ok = (stdout: string, exitCode = 0, stderr = ''): RunResult => ({
  exitCode,
  stdout,
  stderr,
  signal: null,
  timedOut: false,
  durationMs: 1,
});

function executable(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, '#!/bin/sh\n');
  chmodSync(file, 0o755);
  return file;
}

describe('probes', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'probe-'));
  const bin = path.join(root, 'bin');
  const config = path.join(root, 'config');
  const environment = (env: NodeJS.ProcessEnv, files: Record<string, string> = {}): EndpointEnvironment => ({
    env,
    homeDir: root,
    readFile: (f) => files[f],
  });

  it('finds executables on PATH in order and ignores non-executables', () => {
    const first = path.join(root, 'a');
    executable(bin, 'docker');
    mkdirSync(first, { recursive: true });
    writeFileSync(path.join(first, 'docker'), 'not executable');
    assert.equal(findOnPath('docker', `${first}:${bin}`), path.join(bin, 'docker'));
    assert.equal(findOnPath('docker', '/nonexistent'), undefined);
  });

  it('looks for buildx where the CLI does: cliPluginsExtraDirs, <config>/cli-plugins, then the system directories', () => {
    const env = environment(
      { DOCKER_CONFIG: config },
      { [path.join(config, 'config.json')]: JSON.stringify({ cliPluginsExtraDirs: ['/opt/plugins'] }) },
    );
    assert.deepEqual(cliPluginDirs(env), ['/opt/plugins', path.join(config, 'cli-plugins'), ...SYSTEM_PLUGIN_DIRS]);
    const plugin = executable(path.join(config, 'cli-plugins'), 'docker-buildx');
    assert.equal(findBuildxPlugin(env), plugin);
    assert.equal(
      findBuildxPlugin(
        environment({ DOCKER_CONFIG: config }),
        (f) => f === '/usr/libexec/docker/cli-plugins/docker-buildx' || f === plugin,
      ),
      plugin,
    );
  });

  it('reads the CLI and plugin versions, running the plugin directly', async () => {
    executable(bin, 'docker');
    executable(path.join(config, 'cli-plugins'), 'docker-buildx');
    const calls: string[] = [];
    const runner: Runner = async (file, args) => {
      calls.push([path.basename(file), ...args].join(' '));
      return file.endsWith('docker') ? ok('Docker version 27.3.1, build ce12230\n') : ok('github.com/docker/buildx v0.21.2 1360a9e\n');
    };
    const env = environment({ PATH: bin, DOCKER_CONFIG: config });
    assert.deepEqual(await probeCli(runner, env), { path: path.join(bin, 'docker'), version: '27.3.1' });
    assert.deepEqual(await probeBuildx(runner, env), { path: path.join(config, 'cli-plugins', 'docker-buildx'), version: '0.21.2' });
    assert.deepEqual(calls.sort(), ['docker --version', 'docker-buildx version']);
  });

  it('remembers a printed version per file in the tools directory: an unchanged file is not run again, a changed one is', async () => {
    const docker = executable(bin, 'docker');
    const tools = path.join(root, 'tools');
    let runs = 0;
    let says = 'Docker version 27.3.1, build ce12230\n';
    const runner: Runner = async () => {
      runs++;
      return ok(says);
    };
    const env = environment({ PATH: bin, AGENT_TOOLSDIRECTORY: tools });
    assert.equal((await probeCli(runner, env)).version, '27.3.1');
    assert.equal((await probeCli(runner, env)).version, '27.3.1');
    assert.equal(runs, 1, 'the second probe of the unchanged file ran it again');
    // Replaced by an upgrade (same size, new content): its change time moves, so it is run again.
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(docker, '#!/bin/sh\n');
    says = 'Docker version 28.2.2, build e6534b4\n';
    assert.equal((await probeCli(runner, env)).version, '28.2.2');
    assert.equal(runs, 2);
    // A failure is never remembered; without a tools directory nothing is.
    const failing: Runner = async () => ok('', 1, 'boom\n');
    writeFileSync(docker, '#!/bin/sh\n\n');
    assert.match((await probeCli(failing, env)).problem ?? '', /boom/);
    assert.match((await probeCli(failing, env)).problem ?? '', /boom/);
    runs = 0;
    await probeCli(runner, environment({ PATH: bin }));
    await probeCli(runner, environment({ PATH: bin }));
    assert.equal(runs, 2);
  });

  it('does not trust a memo written on another host or architecture, or one that is not JSON', () => {
    const tools = path.join(root, 'tools-shared');
    const file = executable(bin, 'docker-shared');
    const memo = versionMemo(tools);
    memo.remember(file, ['--version'], '27.3.1');
    assert.equal(versionMemo(tools).recall(file, ['--version']), '27.3.1');
    assert.equal(versionMemo(tools).recall(file, ['version']), undefined);
    const memoFile = path.join(tools, 'container-release', 'tool-versions.json');
    const entries = JSON.parse(readFileSync(memoFile, 'utf8')) as Record<string, { identity: string }>;
    for (const entry of Object.values(entries)) entry.identity = entry.identity.replace(/^[^:]+/, 'other-host/arm64');
    writeFileSync(memoFile, JSON.stringify(entries));
    assert.equal(versionMemo(tools).recall(file, ['--version']), undefined);
    writeFileSync(memoFile, 'not json');
    assert.equal(versionMemo(tools).recall(file, ['--version']), undefined);
  });

  it('reports a tool that is found but does not run, and one that is not found', async () => {
    executable(bin, 'docker');
    const broken: Runner = async () => Promise.reject(Object.assign(new Error('spawn ENOEXEC'), { code: 'ENOEXEC' }));
    const env = environment({ PATH: bin, DOCKER_CONFIG: path.join(root, 'empty') });
    const cli = await probeCli(broken, env);
    assert.equal(cli.version, undefined);
    assert.match(cli.problem ?? '', /could not be run: spawn ENOEXEC/);
    const failing: Runner = async () => ok('', 1, 'error while loading shared libraries: libc.so.6\n');
    assert.match((await probeCli(failing, env)).problem ?? '', /did not print a version: error while loading shared libraries/);
    assert.deepEqual(await probeCli(failing, environment({ PATH: '/nonexistent' })), {});
  });

  it('runs the three probes at once and keeps a daemon failure as data', async () => {
    const runner: Runner = async () => ok('');
    const endpoint: DockerEndpoint = { kind: 'unix', host: 'unix:///x.sock', socketPath: '/x.sock', source: 'default' };
    const result = await probeAll(runner, environment({ PATH: '/nonexistent' }), endpoint, async () =>
      Promise.reject(Object.assign(new Error('connect ENOENT /x.sock'), { code: 'ENOENT' })),
    );
    assert.deepEqual(result.daemon, { ok: false, failure: { code: 'ENOENT', statusCode: undefined, message: 'connect ENOENT /x.sock' } });
    assert.deepEqual(daemonFailure({ statusCode: 400, message: '(HTTP code 400) unexpected' }), {
      code: undefined,
      statusCode: 400,
      message: '(HTTP code 400) unexpected',
    });
  });

  it('asks an ssh daemon through the CLI, with the dockerHost input as DOCKER_HOST', async () => {
    const endpoint: DockerEndpoint = { kind: 'ssh', host: 'ssh://builder@arm-box', source: 'input' };
    let seen: NodeJS.ProcessEnv | undefined;
    const runner: Runner = async (_file, args, options) => {
      seen = options?.env;
      assert.deepEqual(args, ['version', '--format', '{{json .Server}}']);
      return ok('{"Version":"27.3.1","ApiVersion":"1.47","Os":"linux","Arch":"arm64"}\n');
    };
    const info = await cliAsker(runner, { PATH: '/usr/bin' })(endpoint);
    assert.equal(seen?.DOCKER_HOST, 'ssh://builder@arm-box');
    assert.equal(formatPlatform(serverPlatform(info)), 'linux/arm64');
    const refused: Runner = async () => ok('', 1, 'error during connect: ssh: handshake failed: ssh: unable to authenticate\n');
    await assert.rejects(cliAsker(refused, {})(endpoint), /unable to authenticate/);
    assert.equal(dockerCliEnv({ ...endpoint, source: 'DOCKER_HOST' }, { A: '1' }).DOCKER_HOST, undefined);
  });

  it("names the server's platform, with the arm variant from uname -m", () => {
    assert.equal(formatPlatform(serverPlatform({ version: '', apiVersion: '', os: 'linux', arch: 'amd64' })), 'linux/amd64');
    assert.equal(
      formatPlatform(serverPlatform({ version: '', apiVersion: '', os: 'linux', arch: 'arm', machine: 'armv7l' })),
      'linux/arm/v7',
    );
  });
});
