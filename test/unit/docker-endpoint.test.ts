import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { contextStoreId, type EndpointEnvironment, parseDockerHost, resolveEndpoint } from '../../src/docker/endpoint';

function environment(env: NodeJS.ProcessEnv, files: Record<string, string> = {}): EndpointEnvironment {
  return { env, homeDir: '/home/agent', readFile: (file) => files[file] };
}

const meta = (name: string, host: string, skipTls = false) =>
  JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: skipTls } } });
const metaPath = (configDir: string, name: string) => path.join(configDir, 'contexts', 'meta', contextStoreId(name), 'meta.json');
const tlsPath = (configDir: string, name: string, file: string) =>
  path.join(configDir, 'contexts', 'tls', contextStoreId(name), 'docker', file);

describe('docker endpoint', () => {
  describe('parseDockerHost', () => {
    it('reads unix, tcp (with and without port, IPv6) and ssh addresses', () => {
      assert.deepEqual(parseDockerHost('unix:///var/run/docker.sock'), { kind: 'unix', socketPath: '/var/run/docker.sock' });
      assert.deepEqual(parseDockerHost('tcp://10.0.0.5:2376'), { kind: 'tcp', hostname: '10.0.0.5', port: 2376, tlsPort: false });
      assert.deepEqual(parseDockerHost('tcp://docker.internal'), { kind: 'tcp', hostname: 'docker.internal', port: 0, tlsPort: true });
      assert.deepEqual(parseDockerHost('tcp://[::1]:2375'), { kind: 'tcp', hostname: '::1', port: 2375, tlsPort: false });
      assert.deepEqual(parseDockerHost('ssh://builder@arm64-box'), { kind: 'ssh' });
    });
    const bad: [string, RegExp][] = [
      ['http://docker.internal:2375', /scheme 'http'.*not supported.*tcp:\/\/host:port/],
      ['npipe:////./pipe/docker_engine', /scheme 'npipe'.*not supported/],
      ['/var/run/docker.sock', /not a daemon address/],
      ['unix://var/run/docker.sock', /absolute socket path/],
      ['tcp://host:99999', /outside 1-65535/],
      ['tcp://host:port', /not host:port/],
      ['ssh://', /names no host/],
    ];
    for (const [value, reason] of bad) it(`refuses ${value}`, () => assert.throws(() => parseDockerHost(value), reason));
  });

  describe('resolveEndpoint, in the docker CLI order', () => {
    it('defaults to the local socket', () => {
      const e = resolveEndpoint(environment({}));
      assert.equal(e.kind, 'unix');
      assert.equal(e.source, 'default');
      assert.equal(e.kind === 'unix' && e.socketPath, '/var/run/docker.sock');
    });

    it('takes the dockerHost input over DOCKER_HOST and DOCKER_CONTEXT', () => {
      const e = resolveEndpoint(
        environment({ DOCKER_HOST: 'tcp://other:2375', DOCKER_CONTEXT: 'ctx' }),
        'unix:///run/user/1000/docker.sock',
      );
      assert.equal(e.source, 'input');
      assert.equal(e.kind === 'unix' && e.socketPath, '/run/user/1000/docker.sock');
    });

    it('takes DOCKER_HOST over DOCKER_CONTEXT, with TLS from DOCKER_TLS_VERIFY/DOCKER_CERT_PATH and port 2376 by default', () => {
      const files = { '/certs/ca.pem': 'CA', '/certs/cert.pem': 'CERT', '/certs/key.pem': 'KEY' };
      const e = resolveEndpoint(
        environment({ DOCKER_HOST: 'tcp://dind', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs', DOCKER_CONTEXT: 'ctx' }, files),
      );
      assert.equal(e.source, 'DOCKER_HOST');
      assert.ok(e.kind === 'tcp');
      assert.equal(e.port, 2376);
      assert.deepEqual(e.tls, { verify: true, dir: '/certs', ca: 'CA', cert: 'CERT', key: 'KEY' });
    });

    it('treats any non-empty DOCKER_TLS_VERIFY as on (as the CLI does) and reads certificates from the config dir by default', () => {
      const e = resolveEndpoint(
        environment({ DOCKER_HOST: 'tcp://dind:2376', DOCKER_TLS_VERIFY: '0' }, { '/home/agent/.docker/ca.pem': 'CA' }),
      );
      assert.ok(e.kind === 'tcp' && e.tls?.verify && e.tls.ca === 'CA' && e.tls.dir === '/home/agent/.docker');
    });

    it('uses plain TCP on 2375 without TLS settings, and TLS without verification for DOCKER_TLS', () => {
      const plain = resolveEndpoint(environment({ DOCKER_HOST: 'tcp://dind' }));
      assert.ok(plain.kind === 'tcp' && plain.port === 2375 && plain.tls === undefined);
      const noVerify = resolveEndpoint(environment({ DOCKER_HOST: 'tcp://dind', DOCKER_TLS: '1' }));
      assert.ok(noVerify.kind === 'tcp' && noVerify.port === 2376 && noVerify.tls?.verify === false);
    });

    it("reads DOCKER_CONTEXT's endpoint and TLS files from the config dir's context store", () => {
      const configDir = '/cfg';
      const files = {
        [metaPath(configDir, 'remote')]: meta('remote', 'tcp://build-host:2376'),
        [tlsPath(configDir, 'remote', 'ca.pem')]: 'CTXCA',
      };
      const e = resolveEndpoint(environment({ DOCKER_CONFIG: configDir, DOCKER_CONTEXT: 'remote' }, files));
      assert.equal(e.source, 'DOCKER_CONTEXT');
      assert.equal(e.context, 'remote');
      assert.ok(e.kind === 'tcp' && e.hostname === 'build-host' && e.tls?.ca === 'CTXCA' && e.tls.verify);
    });

    it("falls back to config.json's currentContext, and treats 'default' as the local socket", () => {
      const files = {
        '/home/agent/.docker/config.json': JSON.stringify({ currentContext: 'rootless' }),
        [metaPath('/home/agent/.docker', 'rootless')]: meta('rootless', 'unix:///run/user/1000/docker.sock'),
      };
      const e = resolveEndpoint(environment({}, files));
      assert.equal(e.source, 'currentContext');
      assert.ok(e.kind === 'unix' && e.socketPath === '/run/user/1000/docker.sock');
      assert.equal(resolveEndpoint(environment({ DOCKER_CONTEXT: 'default' }, files)).source, 'default');
    });

    it('says which context is missing and where it was looked for', () => {
      assert.throws(
        () => resolveEndpoint(environment({ DOCKER_CONTEXT: 'gone' })),
        /docker context 'gone' \(from DOCKER_CONTEXT\) does not exist: .*meta\.json was not found/,
      );
    });

    it('names DOCKER_HOST when its value is malformed', () => {
      assert.throws(() => resolveEndpoint(environment({ DOCKER_HOST: 'http://x:2375' })), /^Error: DOCKER_HOST: the scheme 'http'/);
    });

    it('uses the sha256 of the name as the context store directory (as the CLI does)', () => {
      assert.equal(contextStoreId('default'), '37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f');
    });
  });
});
