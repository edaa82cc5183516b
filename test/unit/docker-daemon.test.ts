import { strict as assert } from 'node:assert';
import { dockerdArgv, hasCapSysAdmin, howToStart, type StartFacts, waitForDaemon } from '../../src/docker/daemon';
import type { DockerEndpoint } from '../../src/docker/endpoint';
import type { DaemonInfo } from '../../src/docker/probe';

const local: DockerEndpoint = { kind: 'unix', host: 'unix:///var/run/docker.sock', socketPath: '/var/run/docker.sock', source: 'default' };
const remote: DockerEndpoint = { kind: 'tcp', host: 'tcp://10.1.2.3:2376', hostname: '10.1.2.3', port: 2376, source: 'DOCKER_HOST' };
const ctx = (over: Partial<StartFacts>): StartFacts => ({
  privilege: 'root',
  inContainer: false,
  capSysAdmin: true,
  systemd: false,
  ...over,
});
const info: DaemonInfo = { version: '26.1.5', apiVersion: '1.45', os: 'linux', arch: 'amd64' };

describe('starting a daemon', () => {
  it('starts dockerd in the background as root without systemd', () => assert.deepEqual(howToStart(ctx({}), local), { how: 'background' }));
  it('starts the systemd service where systemd runs (root or sudo)', () => {
    assert.deepEqual(howToStart(ctx({ systemd: true, privilege: 'sudo' }), local), { how: 'systemd' });
  });
  it('in a privileged container as root: background', () =>
    assert.deepEqual(howToStart(ctx({ inContainer: true }), local), { how: 'background' }));
  it('refuses an unprivileged container and says to use --privileged or the host socket', () => {
    const d = howToStart(ctx({ inContainer: true, capSysAdmin: false }), local);
    assert.ok('refused' in d && /not privileged.*--privileged.*\/var\/run\/docker\.sock/.test(d.refused));
  });
  it('refuses without root (and without systemd + sudo)', () => {
    const d = howToStart(ctx({ privilege: 'sudo' }), local);
    assert.ok('refused' in d && /needs root/.test(d.refused));
  });
  it('refuses a remote daemon', () => {
    const d = howToStart(ctx({}), remote);
    assert.ok('refused' in d && /another machine/.test(d.refused));
  });

  it('reads CAP_SYS_ADMIN from CapEff', () => {
    assert.ok(hasCapSysAdmin('Name:\tx\nCapEff:\t000001ffffffffff\n'));
    assert.ok(!hasCapSysAdmin('CapEff:\t00000000a80425fb\n'), "docker's default set has no CAP_SYS_ADMIN");
    assert.ok(!hasCapSysAdmin('CapInh:\t0\n'));
  });

  it('runs dockerd on the endpoint socket with its own pid file', () => {
    assert.deepEqual(dockerdArgv('/usr/sbin/dockerd', '/var/run/docker.sock', '/tmp/step/dockerd.pid'), [
      '/usr/sbin/dockerd',
      '--host',
      'unix:///var/run/docker.sock',
      '--pidfile',
      '/tmp/step/dockerd.pid',
    ]);
  });

  it('waits until the daemon answers', async () => {
    let asked = 0;
    const got = await waitForDaemon(
      async () => (++asked < 3 ? Promise.reject(Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' })) : info),
      local,
      { pollMs: 1 },
    );
    assert.equal(got, info);
    assert.equal(asked, 3);
  });

  it('stops waiting when the process exited, and when the time is up', async () => {
    const never = async () => Promise.reject(new Error('connect ENOENT'));
    await assert.rejects(
      waitForDaemon(never, local, { pollMs: 1, exited: () => 'exited with code 1' }),
      /dockerd exited with code 1 before it answered/,
    );
    await assert.rejects(
      waitForDaemon(never, local, { pollMs: 1, timeoutMs: 20 }),
      /did not answer on unix:\/\/\/var\/run\/docker\.sock within 0\.02 s \(last: connect ENOENT\)/,
    );
  });
});
