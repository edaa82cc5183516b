import { strict as assert } from 'node:assert';
import type { StartedDaemon } from '../../src/docker/daemon';
import { type EnsureDockerState, postJobState } from '../../src/docker/ensure-docker-task';

describe('EnsureDocker post-job state: reachable carries what the main step learnt', () => {
  const daemon: StartedDaemon = { how: 'background', socketPath: '/var/run/docker.sock', pid: 4242, logFile: '/tmp/dockerd.log' };
  const record = (dockerHost?: string) => {
    const saved: EnsureDockerState[] = [];
    return { saved, state: postJobState(dockerHost, (value) => saved.push(JSON.parse(value))) };
  };

  it('a daemon started, then a later check failed: recorded at once, not reachable, so the post step only stops it', () => {
    const { saved, state } = record();
    state.daemonStarted(daemon);
    assert.deepEqual(saved, [{ reachable: false, daemon }]);
  });

  it('every check passed with the daemon this step started: reachable, and the daemon still recorded', () => {
    const { saved, state } = record('unix:///run/user/docker.sock');
    state.daemonStarted(daemon);
    state.checksPassed(daemon);
    assert.deepEqual(saved.at(-1), { dockerHost: 'unix:///run/user/docker.sock', reachable: true, daemon });
  });

  it('a daemon that answered already: reachable, nothing to stop, written as the agent stores it', () => {
    const saved: string[] = [];
    postJobState(undefined, (value) => saved.push(value)).checksPassed(undefined);
    assert.deepEqual(saved, ['{"reachable":true}']);
  });
});
