import * as assert from 'node:assert/strict';
import { FlagError, globalFlagSpecs, imageFlagSpecs, parseFlags } from '../lab/trivy/src/flags';
import { goValue, parseDuration } from '../lab/trivy/src/go';
import { isLoopback, trustedCaBundle } from '../lab/trivy/src/net';
import { parseReference, referenceName, registryAllowsHttp } from '../lab/trivy/src/reference';
import { tempDir } from '../lab/trivy/testkit';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';

const specs = [...globalFlagSpecs('/home/x/.cache/trivy'), ...imageFlagSpecs('releases.lab.test/aquasec/trivy-db:2')];

describe('lab trivy stand-in: flags', () => {
  it('reads the argv the tasks build (src/trivy/scan.ts): long, short and "=" forms, positionals interspersed', () => {
    const argv = [
      '--format',
      'json',
      '--output',
      'r.json',
      '--exit-code',
      '10',
      '--list-all-pkgs=false',
      '-q',
      '--image-src',
      'remote',
      '--scanners',
      'vuln,secret',
    ];
    const flags = parseFlags(
      [...argv, '--timeout', '90s', '--show-suppressed', 'ref@sha256:1', '--skip-version-check', '--disable-telemetry', '--ignore-unfixed'],
      specs,
      {},
    );
    assert.equal(flags.string('format'), 'json');
    assert.equal(flags.string('output'), 'r.json');
    assert.equal(flags.number('exit-code'), 10);
    assert.equal(flags.bool('list-all-pkgs'), false);
    assert.equal(flags.bool('quiet'), true);
    assert.deepEqual(flags.strings('image-src'), ['remote']);
    assert.deepEqual(flags.strings('scanners'), ['vuln', 'secret']);
    assert.equal(flags.number('timeout'), 90_000);
    assert.equal(flags.bool('show-suppressed'), true);
    assert.equal(flags.bool('ignore-unfixed'), true);
    assert.deepEqual(flags.positionals, ['ref@sha256:1']);
    assert.equal(parseFlags(['-fsarif', '-o=x'], specs, {}).string('output'), 'x');
  });

  it('falls back to TRIVY_<NAME> and then to trivy defaults; the command line wins over the environment', () => {
    const env = {
      TRIVY_USERNAME: 'a,b',
      TRIVY_TIMEOUT: '30s',
      TRIVY_SKIP_DB_UPDATE: 'true',
      TRIVY_FORMAT: 'sarif',
      TRIVY_EXIT_CODE: 'two',
    };
    const flags = parseFlags(['--format', 'json'], specs, env);
    assert.deepEqual(flags.strings('username'), ['a', 'b']);
    assert.equal(flags.number('timeout'), 30_000);
    assert.equal(flags.bool('skip-db-update'), true);
    assert.equal(flags.string('format'), 'json');
    assert.equal(flags.number('exit-code'), 0, 'an unparsable environment value keeps the default');
    const defaults = parseFlags([], specs, {});
    assert.equal(defaults.string('format'), 'table');
    assert.deepEqual(defaults.strings('scanners'), ['vuln', 'secret']);
    assert.deepEqual(defaults.strings('image-src'), ['docker', 'containerd', 'podman', 'remote']);
    assert.equal(defaults.number('timeout'), 300_000);
    assert.deepEqual(defaults.strings('db-repository'), ['releases.lab.test/aquasec/trivy-db:2']);
    assert.equal(defaults.string('ignorefile'), '.trivyignore');
  });

  it('accumulates repeated list flags', () => {
    assert.deepEqual(parseFlags(['--scanners', 'vuln', '--scanners', 'misconfig,license'], specs, {}).strings('scanners'), [
      'vuln',
      'misconfig',
      'license',
    ]);
  });

  it('rejects unknown flags (every flag the tasks do not pass), missing values and values outside the allowed set like pflag', () => {
    assert.throws(
      () => parseFlags(['--severity', 'HIGH'], specs, {}),
      (e: Error) => e instanceof FlagError && e.message === 'unknown flag: --severity',
    );
    assert.throws(() => parseFlags(['-X'], specs, {}), /unknown shorthand flag: 'X' in -X/);
    assert.throws(() => parseFlags(['--format'], specs, {}), /flag needs an argument: --format/);
    assert.throws(
      () => parseFlags(['--scanners', 'viruses'], specs, {}),
      /invalid argument "viruses" for "--scanners" flag: must be one of \[vuln misconfig secret license\]/,
    );
    assert.throws(() => parseFlags(['--exit-code', 'two'], specs, {}), /invalid argument "two" for "--exit-code" flag: strconv.ParseInt/);
    assert.throws(() => parseFlags(['--timeout', '5'], specs, {}), /time: missing unit in duration "5"/);
    assert.throws(
      () => parseFlags(['-f', 'cyclonedx'], specs, {}),
      /invalid argument "cyclonedx" for "-f, --format" flag: must be one of \[table json sarif template\]/,
    );
  });

  it('parses Go durations', () => {
    assert.equal(parseDuration('5m0s'), 300_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.throws(() => parseDuration('soon'), /time: invalid duration "soon"/);
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
    assert.deepEqual(
      [byDigest.registry, byDigest.repository, byDigest.digest, byDigest.tag],
      ['contoso.azurecr.io', 'team/app', digest, undefined],
    );
    assert.equal(referenceName(parseReference('127.0.0.1:5000/app')), '127.0.0.1:5000/app:latest');
    assert.equal(referenceName(parseReference('alpine:3.20')), 'index.docker.io/library/alpine:3.20');
    assert.equal(parseReference('testdata/fixtures/images/alpine-310.tar.gz').repository, 'testdata/fixtures/images/alpine-310.tar.gz');
    assert.throws(() => parseReference('Contoso.azurecr.io/App:1'), /could not parse reference/);
    assert.throws(() => parseReference('contoso.azurecr.io/app@sha256:short'), /could not parse reference/);
  });

  it('allows plain HTTP for loopback registries only, as go-containerregistry does', () => {
    assert.deepEqual(['127.0.0.1:5000', 'localhost:5000', '[::1]:5000', 'contoso.azurecr.io'].map(registryAllowsHttp), [
      true,
      true,
      true,
      false,
    ]);
  });
});

describe('lab trivy stand-in: network trust', () => {
  it('trusts the system bundle (SSL_CERT_FILE first, as Go does) and NODE_EXTRA_CA_CERTS', () => {
    const dir = tempDir('lab-trivy-ca-');
    const write = (name: string, text: string): string => {
      const file = path.join(dir, name);
      writeFileSync(file, text);
      return file;
    };
    const system = write('system.pem', 'SYSTEM-BUNDLE\n');
    const extra = write('extra.pem', 'NODE-EXTRA\n');
    const bundle = trustedCaBundle({ SSL_CERT_FILE: system, NODE_EXTRA_CA_CERTS: extra }) ?? '';
    assert.deepEqual(bundle.split('\n').filter(Boolean), ['SYSTEM-BUNDLE', 'NODE-EXTRA']);
  });

  it('only loopback addresses count as reachable', () => {
    assert.deepEqual(['127.0.0.1', '127.1.2.3', '::1', '10.0.0.1', '192.168.1.1', '8.8.8.8'].map(isLoopback), [
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });
});
