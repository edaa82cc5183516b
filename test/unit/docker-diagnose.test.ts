import { strict as assert } from 'node:assert';
import { parseGroupFile } from '../../src/docker/daemon-facts';
import { type DaemonFacts, diagnoseDaemon, formatDiagnosis } from '../../src/docker/diagnose';
import { type DockerEndpoint, resolveEndpoint } from '../../src/docker/endpoint';
import type { DaemonFailure } from '../../src/docker/probe';

const local: DockerEndpoint = { kind: 'unix', host: 'unix:///var/run/docker.sock', socketPath: '/var/run/docker.sock', source: 'default' };
const fromEnv = (host: string): DockerEndpoint => resolveEndpoint({ env: { DOCKER_HOST: host }, homeDir: '/h', readFile: () => undefined });

function facts(failure: DaemonFailure, over: Partial<DaemonFacts> = {}): DaemonFacts {
  return {
    endpoint: local,
    failure,
    socket: { exists: false },
    user: { uid: 1000, gid: 1000, groups: [1000], name: 'azdo' },
    inContainer: false,
    groupNames: { 0: 'root', 998: 'docker', 1000: 'azdo' },
    ...over,
  };
}

describe('daemon diagnosis', () => {
  it('no socket and no engine, on a machine: install one or point elsewhere', () => {
    const d = diagnoseDaemon(facts({ code: 'ENOENT', message: 'connect ENOENT /var/run/docker.sock' }));
    assert.equal(d.problem, 'no-socket');
    assert.match(d.summary, /no Docker socket at \/var\/run\/docker\.sock and no Docker engine is installed here\./);
    assert.match(formatDiagnosis(d), /Fix: Install Docker Engine/);
  });

  it('no socket in a container: the host socket mount, and what it means', () => {
    const d = diagnoseDaemon(facts({ code: 'ENOENT', message: 'x' }, { inContainer: true }));
    assert.equal(d.problem, 'no-socket');
    const text = formatDiagnosis(d);
    assert.match(text, /-v \/var\/run\/docker\.sock:\/var\/run\/docker\.sock/);
    assert.match(text, /share its image store/);
    assert.match(text, /root on the host/);
    assert.match(text, /privileged/);
  });

  it('engine installed but not running: start it, or startDaemon: auto', () => {
    const d = diagnoseDaemon(facts({ code: 'ENOENT', message: 'x' }, { engine: '/usr/sbin/dockerd' }));
    assert.equal(d.problem, 'not-running');
    assert.match(d.summary, /installed \(\/usr\/sbin\/dockerd\) but not running: there is no socket/);
    assert.match(formatDiagnosis(d), /startDaemon: auto/);
    assert.match(formatDiagnosis(d), /service docker start/);
  });

  it('a stale socket with an engine installed is a stopped daemon', () => {
    const d = diagnoseDaemon(
      facts({ code: 'ECONNREFUSED', message: 'x' }, { engine: '/usr/sbin/dockerd', socket: { exists: true, isSocket: true } }),
    );
    assert.equal(d.problem, 'not-running');
    assert.match(d.summary, /exists but nothing listens/);
  });

  it('permission denied: who owns the socket, who we are, the docker group fix and its risk', () => {
    const d = diagnoseDaemon(
      facts({ code: 'EACCES', message: 'connect EACCES' }, { socket: { exists: true, isSocket: true, uid: 0, gid: 998, mode: 0o140660 } }),
    );
    assert.equal(d.problem, 'permission-denied');
    assert.match(d.summary, /owned by uid 0 and group docker \(gid 998\), mode 660\) for azdo \(uid 1000, groups 1000\)/);
    const text = formatDiagnosis(d);
    assert.match(text, /usermod -aG docker azdo/);
    assert.match(text, /equivalent to root/);
    assert.doesNotMatch(text, /--group-add/);
  });

  it('permission denied in a container: the host gid and --group-add', () => {
    const d = diagnoseDaemon(
      facts(
        { code: 'EACCES', message: 'x' },
        { inContainer: true, groupNames: {}, socket: { exists: true, isSocket: true, uid: 0, gid: 995, mode: 0o140660 } },
      ),
    );
    assert.equal(d.problem, 'permission-denied');
    assert.match(formatDiagnosis(d), /host's group id 995.*--group-add 995/);
  });

  it('a directory where the socket should be: the bind mount of a missing host path', () => {
    const d = diagnoseDaemon(facts({ code: 'ENOTSOCK', message: 'x' }, { socket: { exists: true, isSocket: false, isDirectory: true } }));
    assert.equal(d.problem, 'not-a-socket');
    assert.match(formatDiagnosis(d), /bind mount of a host path that does not exist creates an empty directory/);
  });

  it('DOCKER_HOST to a unix path where nothing is: it points nowhere', () => {
    const d = diagnoseDaemon(facts({ code: 'ENOENT', message: 'x' }, { endpoint: fromEnv('unix:///tmp/gone.sock') }));
    assert.equal(d.problem, 'no-socket');
    assert.match(d.summary, /no Docker socket at \/tmp\/gone\.sock, the address set by DOCKER_HOST .*points nowhere/);
  });

  it('DOCKER_HOST to a closed TCP port: refused, names DOCKER_HOST', () => {
    const d = diagnoseDaemon(
      facts({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' }, { endpoint: fromEnv('tcp://127.0.0.1:1') }),
    );
    assert.equal(d.problem, 'refused');
    assert.match(d.summary, /Nothing accepts connections at 127\.0\.0\.1:1, the address set by DOCKER_HOST/);
    assert.match(formatDiagnosis(d), /Unset DOCKER_HOST/);
  });

  it('an unknown host name is unreachable', () => {
    assert.equal(
      diagnoseDaemon(facts({ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND dind' }, { endpoint: fromEnv('tcp://dind:2375') })).problem,
      'unreachable',
    );
  });

  for (const code of [
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'CERT_HAS_EXPIRED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'ERR_SSL_WRONG_VERSION_NUMBER',
  ]) {
    it(`a TLS failure (${code}) says which certificates were used and what they must be`, () => {
      const endpoint = resolveEndpoint({
        env: { DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' },
        homeDir: '/h',
        readFile: (f) => (f === '/certs/ca.pem' ? 'CA' : undefined),
      });
      const d = diagnoseDaemon(facts({ code, message: 'handshake failed' }, { endpoint }));
      assert.equal(d.problem, 'tls');
      assert.match(
        d.summary,
        /TLS handshake with the daemon at 127\.0\.0\.1:2376 set by DOCKER_HOST failed \(TLS with verification, certificates from \/certs \(missing: cert\.pem, key\.pem\)\)/,
      );
      assert.match(formatDiagnosis(d), /ca\.pem must be the CA that signed the daemon's certificate/);
    });
  }

  it('plain HTTP to a TLS daemon: set DOCKER_TLS_VERIFY', () => {
    const d = diagnoseDaemon(
      facts(
        { statusCode: 400, message: '(HTTP code 400) unexpected - Client sent an HTTP request to an HTTPS server.' },
        { endpoint: fromEnv('tcp://127.0.0.1:2376') },
      ),
    );
    assert.equal(d.problem, 'tls');
    assert.match(formatDiagnosis(d), /DOCKER_TLS_VERIFY=1/);
  });

  it('something else answering on the port is not a docker daemon', () => {
    assert.equal(
      diagnoseDaemon(facts({ statusCode: 404, message: '(HTTP code 404) unexpected' }, { endpoint: fromEnv('tcp://127.0.0.1:8080') }))
        .problem,
      'not-docker',
    );
  });

  it('reads group names from /etc/group', () => {
    assert.deepEqual(parseGroupFile('root:x:0:\ndocker:x:998:azdo,bob\nbroken\n'), { 0: 'root', 998: 'docker' });
  });

  it('every problem has a distinct first line', () => {
    const lines = [
      diagnoseDaemon(facts({ code: 'ENOENT', message: 'x' }, { inContainer: true })),
      diagnoseDaemon(facts({ code: 'EACCES', message: 'x' }, { socket: { exists: true, isSocket: true, gid: 998 } })),
      diagnoseDaemon(facts({ code: 'ECONNREFUSED', message: 'x' }, { endpoint: fromEnv('tcp://127.0.0.1:1') })),
      diagnoseDaemon(facts({ code: 'ENOENT', message: 'x' }, { engine: '/usr/bin/dockerd' })),
    ].map((d) => d.problem);
    assert.deepEqual(lines, ['no-socket', 'permission-denied', 'refused', 'not-running']);
  });
});
