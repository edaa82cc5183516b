// EnsureDocker's task flow in process, with a fake agent: what it tells the agent (post-job state, DOCKER_HOST,
// outputs, closing lines) when everything is there, and what it leaves when the daemon does not answer.
import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { DaemonInfo } from '../../src/docker/probe';
import { ensureDockerTask, STATE_NAME } from '../../src/docker/ensure-docker-task';
import { ensureOptions, fakeContext, fakeRunner } from './task-context-fakes';

const server: DaemonInfo = { version: '26.1.5', apiVersion: '1.45', os: 'linux', arch: 'amd64' };

const options = ensureOptions;

/** An agent with a docker CLI, a buildx and a compose plugin of its own (in its DOCKER_CONFIG), whatever this machine has. */
function agentWithDocker(ask: () => Promise<DaemonInfo>) {
  const { runner, calls } = fakeRunner(({ file, args }) => {
    if (path.basename(file) === 'docker' && args[0] === '--version') return { stdout: 'Docker version 27.3.1, build x\n' };
    if (file.endsWith('docker-buildx')) return { stdout: 'github.com/docker/buildx v0.21.2 abc\n' };
    if (file.endsWith('docker-compose')) return { stdout: 'Docker Compose version v2.26.1\n' };
    return { exitCode: 127, stderr: `unexpected ${file}` };
  });
  const context = fakeContext('EnsureDocker', runner);
  const bin = path.join(context.root, 'bin');
  const plugins = path.join(context.root, 'config', 'cli-plugins');
  mkdirSync(bin);
  mkdirSync(plugins, { recursive: true });
  writeFileSync(path.join(bin, 'docker'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(path.join(plugins, 'docker-buildx'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(path.join(plugins, 'docker-compose'), '#!/bin/sh\n', { mode: 0o755 });
  context.env = { PATH: bin, HOME: context.root, DOCKER_CONFIG: path.join(context.root, 'config') };
  return { context: { ...context, ask, uid: 0, arch: 'x64' }, agent: context.agent, calls };
}

describe('EnsureDocker task flow', () => {
  it('with everything present: reachable post-job state, versions as outputs, nothing installed, the ready line', async () => {
    const { context, agent } = agentWithDocker(async () => server);
    const lines: string[] = [];
    const log = console.log;
    console.log = (line: string) => lines.push(line);
    try {
      await ensureDockerTask(options(), context);
    } finally {
      console.log = log;
    }
    assert.deepEqual(JSON.parse(agent.state.get(STATE_NAME) ?? '{}'), { reachable: true });
    assert.deepEqual(Object.fromEntries(agent.outputs), {
      dockerVersion: '27.3.1',
      buildxVersion: '0.21.2',
      composeVersion: '2.26.1',
      serverVersion: '26.1.5',
      serverPlatform: 'linux/amd64',
      installed: '',
      daemonStarted: 'false',
    });
    assert.deepEqual(agent.exported.size, 0, 'no DOCKER_HOST without the dockerHost input');
    assert.ok(lines.includes('Everything was already there; nothing was installed.'), lines.join('\n'));
    assert.match(lines.at(-1) ?? '', /^Ready: docker 27\.3\.1, buildx 0\.21\.2, daemon 26\.1\.5 on linux\/amd64 at /);
  });

  it('hands the dockerHost input on to later steps as DOCKER_HOST and keeps it in the post-job state', async () => {
    const { context, agent } = agentWithDocker(async () => server);
    const log = console.log;
    console.log = () => undefined;
    try {
      await ensureDockerTask(options({ dockerHost: 'tcp://127.0.0.1:2375' }), context);
    } finally {
      console.log = log;
    }
    assert.equal(agent.exported.get('DOCKER_HOST'), 'tcp://127.0.0.1:2375');
    assert.deepEqual(JSON.parse(agent.state.get(STATE_NAME) ?? '{}'), { dockerHost: 'tcp://127.0.0.1:2375', reachable: true });
  });

  it('a daemon that does not answer fails the step and leaves no state, no output and no DOCKER_HOST', async () => {
    const socket = '/nonexistent/docker.sock';
    const { context, agent } = agentWithDocker(async () =>
      Promise.reject(Object.assign(new Error(`connect ENOENT ${socket}`), { code: 'ENOENT' })),
    );
    const error = await ensureDockerTask(options({ dockerHost: `unix://${socket}` }), context).catch((e: Error) => e);
    assert.ok(error instanceof Error);
    assert.match(error.message, /docker\.sock/);
    assert.equal(agent.state.size, 0);
    assert.equal(agent.outputs.size, 0);
    assert.equal(agent.exported.size, 0);
  });
});
