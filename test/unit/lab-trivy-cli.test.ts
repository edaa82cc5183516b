// The packaged trivy stand-in run as a process (the same bundle the lab ships) against loopback servers:
// a small registry with a token flow and a static server holding the DB artifact. No lab needed.
import * as assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { writeJunit } from '../lab/trivy/src/junit';
import { loadFixture } from '../lab/trivy/src/report';
import type { Report } from '../lab/trivy/src/types';
import { FakeRegistry, type RunResult, isolatedEnv, runTrivy, seedDb, serveDbArtifact, standInExecutable, tempDir } from '../lab/trivy/testkit';

const user = { username: 'scanner', password: 'pa55-word' };

function report(result: RunResult): Report {
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Report;
}

function fatalLine(stderr: string): string {
  const line = stderr.split('\n').find((l) => l.includes('\tFATAL\t'));
  assert.ok(line, `no FATAL line in:\n${stderr}`);
  return stderr.slice(stderr.indexOf(line));
}

describe('lab trivy stand-in: the packaged executable', function () {
  this.timeout(60_000);
  let registry: FakeRegistry;
  let env: Record<string, string | undefined>;
  let cache: string;
  let debian: { manifestDigest: string; configDigest: string; layerDigest: string };
  let clean: { manifestDigest: string };
  let alpine: { manifestDigest: string };

  before(async () => {
    await standInExecutable();
    registry = await new FakeRegistry(user).start();
    debian = registry.addImage({ repository: 'team/app', tag: '1.0', labels: { 'lab.trivy.report': 'debian-buster' } });
    clean = registry.addImage({ repository: 'team/clean', tag: '1', labels: {} });
    alpine = registry.addImage({ repository: 'team/alpine', tag: '3.10', labels: { 'lab.trivy.report': 'alpine-310' } });
  });
  after(() => registry.close());

  beforeEach(() => {
    env = isolatedEnv({ TRIVY_USERNAME: user.username, TRIVY_PASSWORD: user.password });
    cache = path.join(env.HOME as string, 'trivy-cache');
    seedDb(cache);
    registry.requests.length = 0;
  });

  const scan = (args: string[], extraEnv: Record<string, string | undefined> = {}, cwd?: string): Promise<RunResult> =>
    runTrivy(['image', '--cache-dir', cache, '--image-src', 'remote', ...args], { env: { ...env, ...extraEnv }, cwd });

  describe('version and command line', () => {
    it('prints the version like trivy, with the DB once there is one', async () => {
      const bare = await runTrivy(['--version'], { env });
      assert.equal(bare.code, 0);
      assert.equal(bare.stdout, 'Version: 0.74.0\n');
      const withDb = await runTrivy(['version', '--cache-dir', cache], { env });
      assert.match(withDb.stdout, /^Version: 0\.74\.0\nVulnerability DB:\n {2}Version: 2\n {2}UpdatedAt: \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? \+0000 UTC\n {2}NextUpdate: .+ \+0000 UTC\n {2}DownloadedAt: .+ \+0000 UTC\n$/);
      const json = JSON.parse((await runTrivy(['version', '-f', 'json', '--cache-dir', cache], { env })).stdout) as { Version: string; VulnerabilityDB: { Version: number } };
      assert.equal(json.Version, '0.74.0');
      assert.equal(json.VulnerabilityDB.Version, 2);
    });

    it('fails an unknown flag like trivy: usage, then a FATAL line, exit 1', async () => {
      const result = await scan(['--bogus', `${registry.host}/team/app:1.0`]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^Error: unknown flag: --bogus\nUsage:\n {2}trivy image \[flags\] IMAGE_NAME/);
      assert.match(fatalLine(result.stderr), /\tFATAL\tFatal error\tunknown flag: --bogus\n$/);
      assert.equal(registry.requests.length, 0);
    });

    it('needs an image name, and refuses flags whose effect it cannot reproduce', async () => {
      const missing = await scan([]);
      assert.equal(missing.code, 1);
      assert.match(fatalLine(missing.stderr), /"trivy image" requires at least 1 argument or --input option/);
      const input = await scan(['--input', 'image.tar']);
      assert.equal(input.code, 1);
      assert.match(input.stderr, /--input is not emulated/);
    });
  });

  describe('vulnerability DB', () => {
    it('downloads the DB on first use from --db-repository, then reuses it', async () => {
      const served = await serveDbArtifact();
      try {
        const fresh = isolatedEnv(env);
        const dir = path.join(fresh.HOME as string, 'cache');
        const args = ['image', '--cache-dir', dir, '--image-src', 'remote', '--db-repository', served.repository, `${registry.host}/team/app:1.0`, '-f', 'json'];
        const first = await runTrivy(args, { env: fresh });
        assert.equal(first.code, 0, first.stderr);
        assert.match(first.stderr, /\tINFO\t\[vulndb\] Need to update DB\n/);
        assert.match(first.stderr, new RegExp(`\\[vulndb\\] Downloading artifact\\.\\.\\.\\trepo="${served.repository}"`));
        assert.match(first.stderr, /\d B \/ .+ \[-+\] 100\.00%/, 'a progress bar unless --no-progress');
        assert.ok(existsSync(path.join(dir, 'db', 'trivy.db')));
        const meta = JSON.parse(readFileSync(path.join(dir, 'db', 'metadata.json'), 'utf8')) as { Version: number; DownloadedAt: string };
        assert.equal(meta.Version, 2);
        assert.notEqual(meta.DownloadedAt, '0001-01-01T00:00:00Z');
        assert.deepEqual(served.requests.map((r) => r.path.replace(/sha256:[a-f0-9]+/, 'sha256:*')), ['/v2/aquasec/trivy-db/manifests/2', '/v2/aquasec/trivy-db/blobs/sha256:*']);
        const second = await runTrivy([...args, '--no-progress'], { env: fresh });
        assert.equal(second.code, 0, second.stderr);
        assert.doesNotMatch(second.stderr, /Need to update DB/);
        assert.equal(served.requests.length, 2, 'no second download while the DB is fresh');
      } finally {
        await served.close();
      }
    });

    it('--skip-db-update without a DB fails before touching the registry', async () => {
      const fresh = isolatedEnv(env);
      const result = await runTrivy(['image', '--skip-db-update', '--image-src', 'remote', `${registry.host}/team/app:1.0`], { env: fresh });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /\tERROR\t\[vulndb\] The first run cannot skip downloading DB\n/);
      assert.match(fatalLine(result.stderr), /Fatal error\trun error: init error: DB error: --skip-db-update cannot be specified on the first run/);
      assert.equal(registry.requests.length, 0);
    });

    it('fails like trivy when no repository serves the DB (after go-containerregistry\'s retries)', async () => {
      const fresh = isolatedEnv(env);
      const result = await runTrivy(['image', '--db-repository', '127.0.0.1:9/none/trivy-db:2', '--image-src', 'remote', `${registry.host}/team/app:1.0`], { env: fresh });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /\tERROR\t\[vulndb\] Failed to download artifact\trepo="127\.0\.0\.1:9\/none\/trivy-db:2" err=".*connection refused/);
      assert.match(fatalLine(result.stderr), /init error: DB error: failed to download vulnerability DB: OCI artifact error: failed to download vulnerability DB: failed to download artifact from any source/);
    });

    it('never connects outside loopback, even when told to', async () => {
      const fresh = isolatedEnv(env);
      const result = await runTrivy(['image', '--db-repository', '10.9.8.7:5000/aquasec/trivy-db:2', '--image-src', 'remote', 'x/y:1'], { env: fresh });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /dial tcp 10\.9\.8\.7:5000: connect: network is unreachable/);
    });
  });

  describe('reports', () => {
    it('reports the fixture named by the image label, with the image\'s own identity', async () => {
      const ref = `${registry.host}/team/app@${debian.manifestDigest}`;
      const out = report(await scan(['-f', 'json', ref]));
      assert.equal(out.SchemaVersion, 2);
      assert.deepEqual(out.Trivy, { Version: '0.74.0' });
      assert.match(out.ReportID ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(out.ArtifactName, ref);
      assert.equal(out.ArtifactType, 'container_image');
      assert.equal(out.ArtifactID, debian.configDigest);
      assert.equal(out.Metadata?.ImageID, debian.configDigest);
      assert.deepEqual(out.Metadata?.RepoDigests, [`${registry.host}/team/app@${debian.manifestDigest}`]);
      assert.equal(out.Metadata?.RepoTags, undefined, 'a digest reference has no tag');
      assert.deepEqual(out.Metadata?.OS, { Family: 'debian', Name: '10.1' });
      const result = out.Results?.[0];
      assert.equal(result?.Target, `${ref} (debian 10.1)`);
      assert.deepEqual(result?.Vulnerabilities?.map((v) => v.VulnerabilityID), ['CVE-2019-18276', 'CVE-2019-18224']);
      assert.equal(result?.Vulnerabilities?.[0].Layer?.Digest, debian.layerDigest);
      // it really went to the registry: ping, token, manifest by digest, config blob
      assert.deepEqual(registry.requests.map((r) => r.path.split('?')[0]), ['/v2/', '/token', `/v2/team/app/manifests/${debian.manifestDigest}`, `/v2/team/app/blobs/${debian.configDigest}`]);
      assert.equal(registry.requests[1].authorization, `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`);
    });

    it('a clean image has no Results key and never fails --exit-code', async () => {
      const result = await scan(['-f', 'json', '--exit-code', '5', `${registry.host}/team/clean:1`]);
      const out = report(result);
      assert.equal('Results' in out, false);
      assert.deepEqual(out.Metadata?.RepoTags, [`${registry.host}/team/clean:1`]);
      assert.deepEqual(out.Metadata?.RepoDigests, [`${registry.host}/team/clean@${clean.manifestDigest}`]);
    });

    it('--exit-code N only when findings survive --severity, --ignore-unfixed and --ignorefile', async () => {
      const ref = `${registry.host}/team/app:1.0`;
      assert.equal((await scan(['-f', 'json', '--exit-code', '3', ref])).code, 3);
      assert.equal((await scan(['-f', 'json', ref])).code, 0, 'exit 0 by default even with findings');
      assert.equal((await scan(['-f', 'json', '--exit-code', '3', '--severity', 'HIGH,MEDIUM', ref])).code, 0);
      const unfixed = await scan(['-f', 'json', '--exit-code', '3', '--severity', 'LOW', '--ignore-unfixed', ref]);
      assert.equal(unfixed.code, 0, unfixed.stderr);
      const dir = tempDir('lab-trivy-cwd-');
      writeFileSync(path.join(dir, '.trivyignore'), 'CVE-2019-18224\nCVE-2019-18276 exp:2999-12-31\n');
      assert.equal((await scan(['-f', 'json', '--exit-code', '3', ref], {}, dir)).code, 0, 'the default .trivyignore in the working directory');
      writeFileSync(path.join(dir, 'expired'), 'CVE-2019-18224\nCVE-2019-18276 exp:2000-01-01\n');
      const expired = await scan(['-f', 'json', '--exit-code', '3', '--ignorefile', path.join(dir, 'expired'), ref]);
      assert.equal(expired.code, 3);
      assert.deepEqual(JSON.parse(expired.stdout).Results[0].Vulnerabilities.map((v: { VulnerabilityID: string }) => v.VulnerabilityID), ['CVE-2019-18276']);
    });

    it('--exit-on-eol wins for an end-of-life OS', async () => {
      const result = await scan(['-f', 'json', '--exit-on-eol', '7', '--exit-code', '3', `${registry.host}/team/alpine:3.10`]);
      assert.equal(result.code, 7);
      assert.match(result.stderr, /\tERROR\tDetected EOL OS\tfamily="alpine" version="3\.10\.2"/);
    });

    it('writes SARIF to --output and nothing to stdout', async () => {
      const file = path.join(env.HOME as string, 'report.sarif');
      const result = await scan(['--format', 'sarif', '--output', file, `${registry.host}/team/alpine@${alpine.manifestDigest}`]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '');
      const sarif = JSON.parse(readFileSync(file, 'utf8')) as { version: string; runs: Array<{ results: Array<{ level: string; locations: Array<{ physicalLocation: { artifactLocation: { uri: string } } }> }>; properties: Record<string, unknown> }> };
      assert.equal(sarif.version, '2.1.0');
      assert.equal(sarif.runs[0].results.length, 4);
      assert.deepEqual(new Set(sarif.runs[0].results.map((r) => r.level)), new Set(['warning']));
      assert.equal(sarif.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri, 'team/alpine');
      assert.deepEqual(sarif.runs[0].properties.repoDigests, [`${registry.host}/team/alpine@${alpine.manifestDigest}`]);
    });

    it('--template @contrib/junit.tpl reads the file relative to the working directory, as trivy does', async () => {
      const executable = await standInExecutable();
      const dir = tempDir('lab-trivy-tpl-');
      mkdirSync(path.join(dir, 'contrib'));
      cpSync(path.join(__dirname, '..', 'lab', 'trivy', 'contrib', 'junit.tpl'), path.join(dir, 'contrib', 'junit.tpl'));
      const ref = `${registry.host}/team/alpine:3.10`;
      const result = await scan(['--format', 'template', '--template', '@contrib/junit.tpl', ref], {}, dir);
      assert.equal(result.code, 0, result.stderr);
      const expected = writeJunit(loadFixture('alpine-310').Results).replaceAll('testdata/fixtures/images/alpine-310.tar.gz', ref);
      assert.equal(result.stdout, expected);
      const elsewhere = await scan(['--format', 'template', '--template', '@contrib/junit.tpl', ref], {}, path.dirname(executable));
      assert.equal(elsewhere.code, 1);
      assert.match(fatalLine(elsewhere.stderr), /unable to write results: failed to initialize template writer: error retrieving template from path: open contrib\/junit\.tpl: no such file or directory/);
    });

    it('--scanners picks which findings exist: secrets only with the secret scanner', async () => {
      const both = registry.addImage({ repository: 'team/both', tag: '1', labels: { 'lab.trivy.report': 'debian-buster,secrets' } });
      const ref = `${registry.host}/team/both@${both.manifestDigest}`;
      const all = report(await scan(['-f', 'json', ref]));
      assert.deepEqual(all.Results?.map((r) => r.Class), ['os-pkgs', 'secret']);
      const vulnOnly = report(await scan(['-f', 'json', '--scanners', 'vuln', ref]));
      assert.deepEqual(vulnOnly.Results?.map((r) => r.Class), ['os-pkgs']);
      const secretOnly = await scan(['-f', 'json', '--scanners', 'secret', '--exit-code', '4', ref]);
      assert.equal(secretOnly.code, 4);
      assert.deepEqual((JSON.parse(secretOnly.stdout) as Report).Results?.map((r) => r.Class), ['secret']);
      assert.doesNotMatch(secretOnly.stderr, /vulndb|Vulnerability scanning/, 'no DB work without the vuln scanner');
    });

    it('`trivy convert` re-renders a JSON report with the filters applied again', async () => {
      const dir = tempDir('lab-trivy-convert-');
      const json = path.join(dir, 'result.json');
      const scanned = await scan(['-f', 'json', '-o', json, `${registry.host}/team/app:1.0`]);
      assert.equal(scanned.code, 0, scanned.stderr);
      const sarif = path.join(dir, 'result.sarif');
      const converted = await runTrivy(['convert', '--format', 'sarif', '--severity', 'CRITICAL', '--exit-code', '6', '--output', sarif, json], { env });
      assert.equal(converted.code, 6, converted.stderr);
      const runs = (JSON.parse(readFileSync(sarif, 'utf8')) as { runs: Array<{ results: Array<{ ruleId: string }> }> }).runs;
      assert.deepEqual(runs[0].results.map((r) => r.ruleId), ['CVE-2019-18224']);
      const notReport = path.join(dir, 'other.json');
      writeFileSync(notReport, '{"hello":1}');
      const refused = await runTrivy(['convert', '--format', 'json', notReport], { env });
      assert.equal(refused.code, 1);
      assert.match(fatalLine(refused.stderr), /unsupported schema version: undefined/);
    });

    it('--quiet prints nothing but the report', async () => {
      const result = await scan(['-q', '-f', 'json', `${registry.host}/team/app:1.0`]);
      assert.equal(result.code, 0);
      assert.equal(result.stderr, '');
      assert.ok(JSON.parse(result.stdout));
    });
  });

  describe('registry access', () => {
    it('wrong credentials fail with exit 1 and a message naming the reference (every credential tried)', async () => {
      const ref = `${registry.host}/team/app@${debian.manifestDigest}`;
      const result = await scan(['-f', 'json', ref], { TRIVY_PASSWORD: 'wrong' });
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      const fatal = fatalLine(result.stderr);
      assert.ok(fatal.includes(`unable to find the specified image "${ref}" in ["remote"]: 2 errors occurred:\n`), fatal);
      assert.match(fatal, /\t\* remote error: GET http:\/\/127\.0\.0\.1:\d+\/token\?scope=repository%3Ateam%2Fapp%3Apull&service=fake-registry: UNAUTHORIZED: authentication required; \[map\[Action:pull Name:x Type:repository\]\]\n/);
    });

    it('a denied digest (a quarantined image without rights) fails at once, without trying other credentials', async () => {
      const image = registry.addImage({ repository: 'team/quarantined', tag: 'q', labels: {} });
      registry.denied.add(image.manifestDigest);
      const ref = `${registry.host}/team/quarantined@${image.manifestDigest}`;
      const result = await scan(['-f', 'json', ref]);
      assert.equal(result.code, 1);
      assert.match(fatalLine(result.stderr), new RegExp(`in \\["remote"\\]: 1 error occurred:\\n\\t\\* remote error: GET http://${registry.host}/v2/team/quarantined/manifests/${image.manifestDigest}: DENIED: The operation is disallowed\\.`));
    });

    it('a digest the registry does not have fails with MANIFEST_UNKNOWN', async () => {
      const missing = `sha256:${'0'.repeat(64)}`;
      const result = await scan([`${registry.host}/team/app@${missing}`]);
      assert.equal(result.code, 1);
      assert.match(fatalLine(result.stderr), /MANIFEST_UNKNOWN: manifest unknown; map\[Tag:sha256:0+\]/);
    });

    it('follows an index to linux/amd64 by default and to --platform otherwise; RepoDigests keep the index digest', async () => {
      const multi = registry.addIndex('team/multi', '2', [
        { architecture: 'amd64', labels: { 'lab.trivy.report': 'debian-buster' } },
        { architecture: 'arm64', labels: { 'lab.trivy.report': 'photon-30' } },
      ]);
      const ref = `${registry.host}/team/multi:2`;
      const amd64 = report(await scan(['-f', 'json', ref]));
      assert.equal(amd64.Metadata?.OS?.Family, 'debian');
      assert.equal(amd64.Metadata?.ImageID, multi.children.amd64.configDigest);
      assert.deepEqual(amd64.Metadata?.RepoDigests, [`${registry.host}/team/multi@${multi.indexDigest}`]);
      const arm64 = report(await scan(['-f', 'json', '--platform', 'linux/arm64', ref]));
      assert.equal(arm64.Metadata?.OS?.Family, 'photon');
      const none = await scan(['--platform', 'linux/s390x', ref]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, new RegExp(`no child with platform linux/s390x in index ${registry.host}/team/multi:2`));
    });

    it('uses the docker config keychain (DOCKER_CONFIG), e.g. after `trivy registry login --password-stdin`', async () => {
      const dockerConfig = tempDir('lab-trivy-docker-');
      const noEnvCreds = { TRIVY_USERNAME: undefined, TRIVY_PASSWORD: undefined, DOCKER_CONFIG: dockerConfig };
      const ref = `${registry.host}/team/app:1.0`;
      assert.equal((await scan(['-q', ref], noEnvCreds)).code, 1, 'anonymous is refused');
      const login = await runTrivy(['registry', 'login', '--username', user.username, '--password-stdin', registry.host], { env: { ...env, ...noEnvCreds }, stdin: `${user.password}\n` });
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stderr, /\tINFO\tLogin succeeded\tregistry="127\.0\.0\.1:\d+"/);
      const config = JSON.parse(readFileSync(path.join(dockerConfig, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
      assert.equal(Buffer.from(config.auths[registry.host].auth, 'base64').toString(), `${user.username}:${user.password}`);
      const result = await scan(['-f', 'json', ref], noEnvCreds);
      assert.equal(result.code, 0, result.stderr);
    });

    it('--password-stdin and --registry-token work like trivy\'s', async () => {
      const ref = `${registry.host}/team/app:1.0`;
      const viaStdin = await runTrivy(['image', '--cache-dir', cache, '--image-src', 'remote', '--username', user.username, '--password-stdin', '-q', ref], {
        env: { ...env, TRIVY_USERNAME: undefined, TRIVY_PASSWORD: undefined },
        stdin: user.password,
      });
      assert.equal(viaStdin.code, 0, viaStdin.stderr);
      const tokenAnswer = await fetch(`http://${registry.host}/token?scope=repository:team/app:pull&service=fake-registry`, {
        headers: { Authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` },
      });
      const { token } = (await tokenAnswer.json()) as { token: string };
      registry.requests.length = 0;
      const viaToken = await scan(['-q', ref], { TRIVY_USERNAME: 'ignored', TRIVY_PASSWORD: 'ignored', TRIVY_REGISTRY_TOKEN: token });
      assert.equal(viaToken.code, 0, viaToken.stderr);
      assert.equal(registry.requests.filter((r) => r.path.startsWith('/token')).length, 0, 'a registry token is used as is');
    });

    it('with the default image sources, reports every source that failed', async () => {
      const ref = `${registry.host}/team/app@sha256:${'1'.repeat(64)}`;
      const result = await runTrivy(['image', '--cache-dir', cache, ref], { env: { ...env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
      assert.equal(result.code, 1);
      const fatal = fatalLine(result.stderr);
      assert.ok(fatal.includes(`unable to find the specified image "${ref}" in ["docker" "containerd" "podman" "remote"]`), fatal);
      assert.ok(fatal.includes(`* docker error: unable to inspect the image (${ref}): Cannot connect to the Docker daemon at unix:///nonexistent/docker.sock. Is the docker daemon running?`), fatal);
      assert.match(fatal, /\* podman error: unable to initialize Podman client: no podman socket found/);
      assert.match(fatal, /\* remote error: GET .*MANIFEST_UNKNOWN/);
    });
  });

  describe('lab.trivy.behaviour', () => {
    const withBehaviour = (behaviour: string): string => {
      const image = registry.addImage({ repository: `team/${behaviour.replace(/[^a-z]/g, '')}`, tag: '1', labels: { 'lab.trivy.report': 'debian-buster', 'lab.trivy.behaviour': behaviour } });
      return `${registry.host}/team/${behaviour.replace(/[^a-z]/g, '')}@${image.manifestDigest}`;
    };

    it('crash: a Go panic, exit 2, no report', async () => {
      const result = await scan(['-f', 'json', '--exit-code', '3', withBehaviour('crash')]);
      assert.equal(result.code, 2);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^panic: runtime error: invalid memory address or nil pointer dereference\n\[signal SIGSEGV/m);
      assert.match(result.stderr, /\ngoroutine 1 \[running\]:\n/);
    });

    it('hang: --timeout ends it with trivy\'s deadline error, exit 1', async () => {
      const result = await scan(['-f', 'json', '--timeout', '1s', withBehaviour('hang')]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /\tWARN\tProvide a higher timeout value, see https:\/\/trivy\.dev\/docs\/v0\.74\/guide\/references\/troubleshooting#timeout\n/);
      assert.match(fatalLine(result.stderr), /Fatal error\trun error: image scan error: scan error: scan failed: failed analysis: analyze error: pipeline error: context deadline exceeded\n/);
    });

    it('hang: without a short --timeout it runs until killed', async () => {
      const result = await runTrivy(['image', '--cache-dir', cache, '--image-src', 'remote', withBehaviour('hang')], { env, killAfterMs: 2_000 });
      assert.equal(result.code, null);
      assert.equal(result.signal, 'SIGKILL');
    });

    it('slow:<duration>: reports after the wait, unless --timeout is shorter', async () => {
      const quick = await scan(['-f', 'json', withBehaviour('slow:200ms')]);
      assert.equal(quick.code, 0, quick.stderr);
      assert.equal((JSON.parse(quick.stdout) as Report).Metadata?.OS?.Family, 'debian');
      const late = await scan(['-f', 'json', '--timeout', '500ms', withBehaviour('slow:30s')]);
      assert.equal(late.code, 1);
      assert.match(fatalLine(late.stderr), /pipeline error: context deadline exceeded/);
    });

    it('garbage: exit 0 with output that is not a trivy report', async () => {
      const result = await scan(['-f', 'json', withBehaviour('garbage')]);
      assert.equal(result.code, 0);
      const parsed = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.equal(parsed.SchemaVersion, undefined);
      const text = await scan(['-f', 'json', withBehaviour('garbage-text')]);
      assert.equal(text.code, 0);
      assert.throws(() => JSON.parse(text.stdout));
    });

    it('wrong-digest: RepoDigests name a digest other than the image\'s', async () => {
      const ref = withBehaviour('wrong-digest');
      const out = report(await scan(['-f', 'json', ref]));
      const [repo, digest] = (out.Metadata?.RepoDigests?.[0] ?? '').split('@');
      assert.equal(repo, `${registry.host}/team/wrongdigest`);
      assert.match(digest, /^sha256:[a-f0-9]{64}$/);
      assert.notEqual(digest, ref.split('@')[1]);
    });
  });
});
