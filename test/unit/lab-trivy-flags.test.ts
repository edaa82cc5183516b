import * as assert from 'node:assert/strict';
import { FlagError, findCommand, globalFlagSpecs, imageFlagSpecs, parseFlags } from '../lab/trivy/src/flags';
import { formatDuration, goValue, parseDuration } from '../lab/trivy/src/go';
import { isLoopback, trustedCaBundle } from '../lab/trivy/src/net';
import { parseReference, referenceName, registryAllowsHttp } from '../lab/trivy/src/reference';
import { tempDir } from '../lab/trivy/testkit';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';

const specs = [...globalFlagSpecs('/home/x/.cache/trivy'), ...imageFlagSpecs(['releases.lab.test/aquasec/trivy-db:2'])];

describe('lab trivy stand-in: flags', () => {
  it('reads long, short, "=" and attached forms and keeps positionals interspersed', () => {
    const flags = parseFlags(['--format', 'json', 'ref:1', '-s', 'HIGH,critical', '--exit-code=2', '-ofile.json', '--quiet'], specs, {});
    assert.equal(flags.string('format'), 'json');
    assert.deepEqual(flags.strings('severity'), ['HIGH', 'CRITICAL']);
    assert.equal(flags.number('exit-code'), 2);
    assert.equal(flags.string('output'), 'file.json');
    assert.equal(flags.bool('quiet'), true);
    assert.deepEqual(flags.positionals, ['ref:1']);
  });

  it('falls back to TRIVY_<NAME> and then to trivy defaults; the command line wins over the environment', () => {
    const env = { TRIVY_SEVERITY: 'LOW', TRIVY_TIMEOUT: '30s', TRIVY_SKIP_DB_UPDATE: 'true', TRIVY_FORMAT: 'sarif' };
    const flags = parseFlags(['--format', 'json'], specs, env);
    assert.deepEqual(flags.strings('severity'), ['LOW']);
    assert.equal(flags.number('timeout'), 30_000);
    assert.equal(flags.bool('skip-db-update'), true);
    assert.equal(flags.string('format'), 'json');
    const defaults = parseFlags([], specs, {});
    assert.deepEqual(defaults.strings('scanners'), ['vuln', 'secret']);
    assert.deepEqual(defaults.strings('image-src'), ['docker', 'containerd', 'podman', 'remote']);
    assert.equal(defaults.number('timeout'), 300_000);
    assert.deepEqual(defaults.strings('db-repository'), ['releases.lab.test/aquasec/trivy-db:2']);
    assert.equal(defaults.string('ignorefile'), '.trivyignore');
  });

  it('accumulates repeated list flags and normalises scanner aliases like trivy', () => {
    const flags = parseFlags(['--scanners', 'vulnerability', '--scanners', 'misconf,secret', '--security-checks', 'config'], specs, {});
    assert.deepEqual(flags.strings('scanners'), ['vuln', 'misconfig', 'secret', 'misconfig']);
  });

  it('rejects unknown flags, missing values and values outside the allowed set like pflag', () => {
    assert.throws(() => parseFlags(['--no-such-flag'], specs, {}), (e: Error) => e instanceof FlagError && e.message === 'unknown flag: --no-such-flag');
    assert.throws(() => parseFlags(['-X'], specs, {}), /unknown shorthand flag: 'X' in -X/);
    assert.throws(() => parseFlags(['--format'], specs, {}), /flag needs an argument: --format/);
    assert.throws(() => parseFlags(['--scanners', 'viruses'], specs, {}), /invalid argument "viruses" for "--scanners" flag: must be one of \[vuln misconfig secret license\]/);
    assert.throws(() => parseFlags(['--exit-code', 'two'], specs, {}), /invalid argument "two" for "--exit-code" flag: strconv.ParseInt/);
    assert.throws(() => parseFlags(['--timeout', '5'], specs, {}), /time: missing unit in duration "5"/);
    assert.throws(() => parseFlags(['-f', 'xml'], specs, {}), /invalid argument "xml" for "-f, --format" flag/);
  });

  it('finds the subcommand after global flags and their values', () => {
    const globals = globalFlagSpecs('/c');
    assert.equal(findCommand(['--cache-dir', '/tmp/c', '-q', 'image', 'x'], globals), 3);
    assert.equal(findCommand(['--timeout=1m', 'version'], globals), 1);
    assert.equal(findCommand(['--version'], globals), -1);
  });

  it('parses and prints Go durations', () => {
    assert.equal(parseDuration('5m0s'), 300_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.throws(() => parseDuration('soon'), /time: invalid duration "soon"/);
    assert.equal(formatDuration(300_000), '5m0s');
    assert.equal(formatDuration(2_000), '2s');
  });

  it('formats registry error details like Go %v', () => {
    assert.equal(goValue([{ Type: 'repository', Name: 'app', Action: 'pull' }]), '[map[Action:pull Name:app Type:repository]]');
    assert.equal(goValue(null), '<nil>');
  });
});

describe('lab trivy stand-in: image references', () => {
  it('parses references like go-containerregistry', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const byDigest = parseReference(`contoso.azurecr.io/team/app@${digest}`);
    assert.deepEqual([byDigest.registry, byDigest.repository, byDigest.digest, byDigest.tag], ['contoso.azurecr.io', 'team/app', digest, undefined]);
    assert.equal(referenceName(parseReference('127.0.0.1:5000/app')), '127.0.0.1:5000/app:latest');
    assert.equal(referenceName(parseReference('alpine:3.20')), 'index.docker.io/library/alpine:3.20');
    assert.equal(parseReference('testdata/fixtures/images/alpine-310.tar.gz').repository, 'testdata/fixtures/images/alpine-310.tar.gz');
    assert.throws(() => parseReference('Contoso.azurecr.io/App:1'), /could not parse reference/);
    assert.throws(() => parseReference('contoso.azurecr.io/app@sha256:short'), /could not parse reference/);
  });

  it('allows plain HTTP only where go-containerregistry does', () => {
    assert.equal(registryAllowsHttp('127.0.0.1:5000', false), true);
    assert.equal(registryAllowsHttp('localhost:5000', false), true);
    assert.equal(registryAllowsHttp('contoso.azurecr.io', false), false);
    assert.equal(registryAllowsHttp('contoso.azurecr.io', true), true);
  });
});

describe('lab trivy stand-in: network trust', () => {
  it('trusts the system bundle (SSL_CERT_FILE first, as Go does), NODE_EXTRA_CA_CERTS and --cacert', () => {
    const dir = tempDir('lab-trivy-ca-');
    const write = (name: string, text: string): string => {
      const file = path.join(dir, name);
      writeFileSync(file, text);
      return file;
    };
    const system = write('system.pem', 'SYSTEM-BUNDLE\n');
    const extra = write('extra.pem', 'NODE-EXTRA\n');
    const cacert = write('cacert.pem', 'CACERT\n');
    const bundle = trustedCaBundle(cacert, { SSL_CERT_FILE: system, NODE_EXTRA_CA_CERTS: extra }) ?? '';
    assert.deepEqual(bundle.split('\n').filter(Boolean), ['SYSTEM-BUNDLE', 'NODE-EXTRA', 'CACERT']);
  });

  it('only loopback addresses count as reachable', () => {
    assert.deepEqual(['127.0.0.1', '127.1.2.3', '::1', '10.0.0.1', '192.168.1.1', '8.8.8.8'].map(isLoopback), [true, true, true, false, false, false]);
  });
});
