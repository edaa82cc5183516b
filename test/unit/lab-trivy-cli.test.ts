// The packaged trivy stand-in run as a process (the same bundle the lab ships) against loopback servers:
// a small registry with a token flow and a static server holding the DB artifact. No lab needed.
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { RecordingLogger } from '../../src/log';
import { run } from '../../src/process/exec';
import { type ScanSettings, scanImage, trivyImageArgs, trivyVersion, writeSarif } from '../../src/trivy/scan';
import type { Report } from '../lab/trivy/src/types';
import {
  FakeRegistry,
  type RunResult,
  isolatedEnv,
  runTrivy,
  seedDb,
  serveDbArtifact,
  standInExecutable,
  tempDir,
} from '../lab/trivy/testkit';

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
    it('prints the version like trivy: --version as text, `version --format json` as the tasks read it', async () => {
      const bare = await runTrivy(['--version'], { env });
      assert.equal(bare.code, 0);
      assert.equal(bare.stdout, 'Version: 0.74.0\n');
      assert.equal(await trivyVersion(await standInExecutable(), run), '0.74.0');
    });

    it('fails a flag the tasks do not pass like trivy fails an unknown one: the error, then a FATAL line, exit 1', async () => {
      const result = await scan(['--severity', 'HIGH', `${registry.host}/team/app:1.0`]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^Error: unknown flag: --severity\n/);
      assert.match(fatalLine(result.stderr), /\tFATAL\tFatal error\tunknown flag: --severity\n$/);
      assert.equal(registry.requests.length, 0);
    });

    it('needs an image name; an unknown command fails like cobra', async () => {
      const missing = await scan([]);
      assert.equal(missing.code, 1);
      assert.match(fatalLine(missing.stderr), /"trivy image" requires at least 1 argument or --input option/);
      const unknown = await runTrivy(['sbom', 'x'], { env });
      assert.equal(unknown.code, 1);
      assert.match(fatalLine(unknown.stderr), /unknown command "sbom" for "trivy"/);
    });
  });

  describe('what the tasks call (src/trivy/scan.ts, run against the stand-in)', () => {
    const settings = (extra: Partial<ScanSettings> = {}): ScanSettings => ({
      trivy: '',
      cacheDir: cache,
      scanners: ['vuln', 'secret'],
      ignoreUnfixed: false,
      timeoutMs: 30_000,
      ...extra,
    });

    it("scanImage: the JSON report of exactly the digest, exit 10 for findings, credentials through the scan's docker config", async () => {
      const trivy = await standInExecutable();
      const dir = tempDir('lab-trivy-task-');
      const request = {
        registry: registry.host,
        repository: 'team/app',
        digest: debian.manifestDigest,
        outputFile: path.join(dir, 'report.json'),
      };
      const logger = new RecordingLogger();
      const context = {
        runner: run,
        logger,
        env: { ...env, TRIVY_USERNAME: undefined, TRIVY_PASSWORD: undefined },
        credentials: { registry: registry.host, ...user },
      };
      const result = await scanImage(settings({ trivy }), request, context);
      assert.equal(result.exitCode, 10);
      assert.deepEqual(
        result.report.Results?.[0].Vulnerabilities?.map((v) => v.VulnerabilityID),
        ['CVE-2019-18276', 'CVE-2019-18224'],
      );
      assert.ok(
        registry.requests.some((r) => r.path.startsWith('/token') && r.authorization),
        'the registry was asked with the credentials',
      );

      const ignoreFile = path.join(dir, '.trivyignore.yaml');
      writeFileSync(ignoreFile, 'vulnerabilities:\n  - id: CVE-2019-18224\n    statement: accepted\n');
      const filtered = await scanImage(
        settings({ trivy, ignoreFile, ignoreUnfixed: true, scanners: ['vuln', 'secret', 'misconfig', 'license'] }),
        request,
        context,
      );
      assert.equal(filtered.exitCode, 0);
      assert.equal(filtered.report.Results?.[0].Vulnerabilities, undefined);
      assert.deepEqual(
        filtered.report.Results?.[0].ExperimentalModifiedFindings?.map((f) => f.Statement),
        ['accepted'],
      );
    });

    it("writeSarif: `trivy convert --format sarif` of the task's JSON report; the rescan argv of older trivy works too", async () => {
      const trivy = await standInExecutable();
      const dir = tempDir('lab-trivy-task-');
      const request = {
        registry: registry.host,
        repository: 'team/alpine',
        digest: alpine.manifestDigest,
        outputFile: path.join(dir, 'report.json'),
      };
      const context = { runner: run, logger: new RecordingLogger(), env, credentials: { registry: registry.host, ...user } };
      await scanImage(settings({ trivy }), request, context);
      const sarifFile = path.join(dir, 'report.sarif');
      assert.equal(await writeSarif(settings({ trivy }), request, sarifFile, context), 'convert');
      const converted = readFileSync(sarifFile, 'utf8');
      assert.equal((JSON.parse(converted) as { runs: Array<{ results: unknown[] }> }).runs[0].results.length, 4);
      const rescanned = path.join(dir, 'rescan.sarif');
      const rescan = await runTrivy(trivyImageArgs(settings(), request, rescanned), { env });
      assert.equal(rescan.code, 0, rescan.stderr);
      assert.equal(readFileSync(rescanned, 'utf8'), converted, 'the same SARIF either way');
    });
  });

  describe('vulnerability DB', () => {
    it('downloads the DB on first use from --db-repository, then reuses it', async () => {
      const served = await serveDbArtifact();
      try {
        const fresh = isolatedEnv(env);
        const dir = path.join(fresh.HOME as string, 'cache');
        const args = [
          'image',
          '--cache-dir',
          dir,
          '--image-src',
          'remote',
          '--db-repository',
          served.repository,
          `${registry.host}/team/app:1.0`,
          '-f',
          'json',
        ];
        const first = await runTrivy(args, { env: fresh });
        assert.equal(first.code, 0, first.stderr);
        assert.match(first.stderr, /\tINFO\t\[vulndb\] Need to update DB\n/);
        assert.match(first.stderr, new RegExp(`\\[vulndb\\] Downloading artifact\\.\\.\\.\\trepo="${served.repository}"`));
        assert.ok(existsSync(path.join(dir, 'db', 'trivy.db')));
        const meta = JSON.parse(readFileSync(path.join(dir, 'db', 'metadata.json'), 'utf8')) as { Version: number; DownloadedAt: string };
        assert.equal(meta.Version, 2);
        assert.notEqual(meta.DownloadedAt, '0001-01-01T00:00:00Z');
        assert.deepEqual(
          served.requests.map((r) => r.path.replace(/sha256:[a-f0-9]+/, 'sha256:*')),
          ['/v2/aquasec/trivy-db/manifests/2', '/v2/aquasec/trivy-db/blobs/sha256:*'],
        );
        const second = await runTrivy(args, { env: fresh });
        assert.equal(second.code, 0, second.stderr);
        assert.doesNotMatch(second.stderr, /Need to update DB/);
        assert.equal(served.requests.length, 2, 'no second download while the DB is fresh');
      } finally {
        await served.close();
      }
    });

    it('--skip-db-update without a DB fails before touching the registry', async () => {
      const fresh = isolatedEnv(env);
      const result = await runTrivy(['image', '--skip-db-update', '--image-src', 'remote', `${registry.host}/team/app:1.0`], {
        env: fresh,
      });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /\tERROR\t\[vulndb\] The first run cannot skip downloading DB\n/);
      assert.match(
        fatalLine(result.stderr),
        /Fatal error\trun error: init error: DB error: --skip-db-update cannot be specified on the first run/,
      );
      assert.equal(registry.requests.length, 0);
    });

    it("fails like trivy when no repository serves the DB (after go-containerregistry's retries)", async () => {
      const fresh = isolatedEnv(env);
      const result = await runTrivy(
        ['image', '--db-repository', '127.0.0.1:9/none/trivy-db:2', '--image-src', 'remote', `${registry.host}/team/app:1.0`],
        { env: fresh },
      );
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /\tERROR\t\[vulndb\] Failed to download artifact\trepo="127\.0\.0\.1:9\/none\/trivy-db:2" err=".*connection refused/,
      );
      assert.match(
        fatalLine(result.stderr),
        /init error: DB error: failed to download vulnerability DB: OCI artifact error: failed to download vulnerability DB: failed to download artifact from any source/,
      );
    });

    it('never connects outside loopback, even when told to', async () => {
      const fresh = isolatedEnv(env);
      const result = await runTrivy(['image', '--db-repository', '10.9.8.7:5000/aquasec/trivy-db:2', '--image-src', 'remote', 'x/y:1'], {
        env: fresh,
      });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /dial tcp 10\.9\.8\.7:5000: connect: network is unreachable/);
    });
  });

  describe('reports', () => {
    it("reports the fixture named by the image label, with the image's own identity", async () => {
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
      assert.deepEqual(
        result?.Vulnerabilities?.map((v) => v.VulnerabilityID),
        ['CVE-2019-18276', 'CVE-2019-18224'],
      );
      assert.equal(result?.Vulnerabilities?.[0].Layer?.Digest, debian.layerDigest);
      // it really went to the registry: ping, token, manifest by digest, config blob
      assert.deepEqual(
        registry.requests.map((r) => r.path.split('?')[0]),
        ['/v2/', '/token', `/v2/team/app/manifests/${debian.manifestDigest}`, `/v2/team/app/blobs/${debian.configDigest}`],
      );
      assert.equal(registry.requests[1].authorization, `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`);
    });

    it('a clean image has no Results key and never fails --exit-code', async () => {
      const result = await scan(['-f', 'json', '--exit-code', '5', `${registry.host}/team/clean:1`]);
      const out = report(result);
      assert.equal('Results' in out, false);
      assert.deepEqual(out.Metadata?.RepoTags, [`${registry.host}/team/clean:1`]);
      assert.deepEqual(out.Metadata?.RepoDigests, [`${registry.host}/team/clean@${clean.manifestDigest}`]);
    });

    it('--exit-code N only when findings survive --ignore-unfixed and --ignorefile', async () => {
      const ref = `${registry.host}/team/app:1.0`;
      assert.equal((await scan(['-f', 'json', '--exit-code', '3', ref])).code, 3);
      assert.equal((await scan(['-f', 'json', ref])).code, 0, 'exit 0 by default even with findings');
      const unfixed = await scan(['-f', 'json', '--exit-code', '3', '--ignore-unfixed', ref]);
      assert.equal(unfixed.code, 3, unfixed.stderr);
      assert.deepEqual(
        (JSON.parse(unfixed.stdout) as Report).Results?.[0].Vulnerabilities?.map((v) => v.VulnerabilityID),
        ['CVE-2019-18224'],
      );
      const dir = tempDir('lab-trivy-cwd-');
      writeFileSync(path.join(dir, '.trivyignore'), 'CVE-2019-18224\nCVE-2019-18276 exp:2999-12-31\n');
      assert.equal(
        (await scan(['-f', 'json', '--exit-code', '3', ref], {}, dir)).code,
        0,
        'the default .trivyignore in the working directory',
      );
      writeFileSync(path.join(dir, 'expired'), 'CVE-2019-18224\nCVE-2019-18276 exp:2000-01-01\n');
      const expired = await scan(['-f', 'json', '--exit-code', '3', '--ignorefile', path.join(dir, 'expired'), '--show-suppressed', ref]);
      assert.equal(expired.code, 3);
      const result = (JSON.parse(expired.stdout) as Report).Results?.[0];
      assert.deepEqual(
        result?.Vulnerabilities?.map((v) => v.VulnerabilityID),
        ['CVE-2019-18276'],
      );
      assert.deepEqual(
        result?.ExperimentalModifiedFindings?.map((f) => [f.Type, f.Status]),
        [['vulnerability', 'ignored']],
      );
    });

    it('writes SARIF to --output and nothing to stdout', async () => {
      const file = path.join(env.HOME as string, 'report.sarif');
      const result = await scan(['--format', 'sarif', '--output', file, `${registry.host}/team/alpine@${alpine.manifestDigest}`]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '');
      const sarif = JSON.parse(readFileSync(file, 'utf8')) as {
        version: string;
        runs: Array<{
          results: Array<{ level: string; locations: Array<{ physicalLocation: { artifactLocation: { uri: string } } }> }>;
          properties: Record<string, unknown>;
        }>;
      };
      assert.equal(sarif.version, '2.1.0');
      assert.equal(sarif.runs[0].results.length, 4);
      assert.deepEqual(new Set(sarif.runs[0].results.map((r) => r.level)), new Set(['warning']));
      assert.equal(sarif.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri, 'team/alpine');
      assert.deepEqual(sarif.runs[0].properties.repoDigests, [`${registry.host}/team/alpine@${alpine.manifestDigest}`]);
    });

    it('emulates json, sarif and template only: the default table format is refused after the scan', async () => {
      const result = await scan([`${registry.host}/team/app:1.0`]);
      assert.equal(result.code, 1);
      assert.match(fatalLine(result.stderr), /--format table is not emulated \(json, sarif and template are\)/);
    });

    it('--scanners picks which findings exist: secrets only with the secret scanner', async () => {
      const both = registry.addImage({ repository: 'team/both', tag: '1', labels: { 'lab.trivy.report': 'debian-buster,secrets' } });
      const ref = `${registry.host}/team/both@${both.manifestDigest}`;
      const all = report(await scan(['-f', 'json', ref]));
      assert.deepEqual(
        all.Results?.map((r) => r.Class),
        ['os-pkgs', 'secret'],
      );
      const vulnOnly = report(await scan(['-f', 'json', '--scanners', 'vuln', ref]));
      assert.deepEqual(
        vulnOnly.Results?.map((r) => r.Class),
        ['os-pkgs'],
      );
      const secretOnly = await scan(['-f', 'json', '--scanners', 'secret', '--exit-code', '4', ref]);
      assert.equal(secretOnly.code, 4);
      assert.deepEqual(
        (JSON.parse(secretOnly.stdout) as Report).Results?.map((r) => r.Class),
        ['secret'],
      );
      assert.doesNotMatch(secretOnly.stderr, /vulndb|Vulnerability scanning/, 'no DB work without the vuln scanner');
    });

    it('`trivy convert` re-renders a JSON report with the filters applied again', async () => {
      const dir = tempDir('lab-trivy-convert-');
      const json = path.join(dir, 'result.json');
      const scanned = await scan(['-f', 'json', '-o', json, `${registry.host}/team/app:1.0`]);
      assert.equal(scanned.code, 0, scanned.stderr);
      const sarif = path.join(dir, 'result.sarif');
      const converted = await runTrivy(['convert', '--format', 'sarif', '--ignore-unfixed', '--exit-code', '6', '--output', sarif, json], {
        env,
      });
      assert.equal(converted.code, 6, converted.stderr);
      const runs = (JSON.parse(readFileSync(sarif, 'utf8')) as { runs: Array<{ results: Array<{ ruleId: string }> }> }).runs;
      assert.deepEqual(
        runs[0].results.map((r) => r.ruleId),
        ['CVE-2019-18224'],
      );
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
      assert.match(
        fatal,
        /\t\* remote error: GET http:\/\/127\.0\.0\.1:\d+\/token\?scope=repository%3Ateam%2Fapp%3Apull&service=fake-registry: UNAUTHORIZED: authentication required; \[map\[Action:pull Name:x Type:repository\]\]\n/,
      );
    });

    it('a denied digest (a quarantined image without rights) fails at once, without trying other credentials', async () => {
      const image = registry.addImage({ repository: 'team/quarantined', tag: 'q', labels: {} });
      registry.denied.add(image.manifestDigest);
      const ref = `${registry.host}/team/quarantined@${image.manifestDigest}`;
      const result = await scan(['-f', 'json', ref]);
      assert.equal(result.code, 1);
      assert.match(
        fatalLine(result.stderr),
        new RegExp(
          `in \\["remote"\\]: 1 error occurred:\\n\\t\\* remote error: GET http://${registry.host}/v2/team/quarantined/manifests/${image.manifestDigest}: DENIED: The operation is disallowed\\.`,
        ),
      );
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

    it('uses the docker config keychain (DOCKER_CONFIG) for the registry it names', async () => {
      const dockerConfig = tempDir('lab-trivy-docker-');
      const noEnvCreds = { TRIVY_USERNAME: undefined, TRIVY_PASSWORD: undefined, DOCKER_CONFIG: dockerConfig };
      const ref = `${registry.host}/team/app:1.0`;
      assert.equal((await scan(['-q', '-f', 'json', ref], noEnvCreds)).code, 1, 'anonymous is refused');
      const auth = Buffer.from(`${user.username}:${user.password}`).toString('base64');
      writeFileSync(path.join(dockerConfig, 'config.json'), JSON.stringify({ auths: { 'other.example': { auth } } }));
      assert.equal((await scan(['-q', '-f', 'json', ref], noEnvCreds)).code, 1, "another registry's credentials are not used");
      writeFileSync(path.join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth } } }));
      const result = await scan(['-f', 'json', ref], noEnvCreds);
      assert.equal(result.code, 0, result.stderr);
    });

    it('with the default image sources, reports every source that failed', async () => {
      const ref = `${registry.host}/team/app@sha256:${'1'.repeat(64)}`;
      const result = await runTrivy(['image', '--cache-dir', cache, ref], {
        env: { ...env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
      });
      assert.equal(result.code, 1);
      const fatal = fatalLine(result.stderr);
      assert.ok(fatal.includes(`unable to find the specified image "${ref}" in ["docker" "containerd" "podman" "remote"]`), fatal);
      assert.ok(
        fatal.includes(
          `* docker error: unable to inspect the image (${ref}): Cannot connect to the Docker daemon at unix:///nonexistent/docker.sock. Is the docker daemon running?`,
        ),
        fatal,
      );
      assert.match(fatal, /\* containerd error: .*not found/);
      assert.match(fatal, /\* podman error: .*not found/);
      assert.match(fatal, /\* remote error: GET .*MANIFEST_UNKNOWN/);
    });
  });

  describe('lab.trivy.behaviour', () => {
    const withBehaviour = (behaviour: string): string => {
      const image = registry.addImage({
        repository: `team/${behaviour.replace(/[^a-z]/g, '')}`,
        tag: '1',
        labels: { 'lab.trivy.report': 'debian-buster', 'lab.trivy.behaviour': behaviour },
      });
      return `${registry.host}/team/${behaviour.replace(/[^a-z]/g, '')}@${image.manifestDigest}`;
    };

    it('crash: a Go panic, exit 2, no report', async () => {
      const result = await scan(['-f', 'json', '--exit-code', '3', withBehaviour('crash')]);
      assert.equal(result.code, 2);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^panic: runtime error: invalid memory address or nil pointer dereference\n\[signal SIGSEGV/m);
      assert.match(result.stderr, /\ngoroutine 1 \[running\]:\n/);
    });

    it("hang: --timeout ends it with trivy's deadline error, exit 1", async () => {
      const result = await scan(['-f', 'json', '--timeout', '1s', withBehaviour('hang')]);
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /\tWARN\tProvide a higher timeout value, see https:\/\/trivy\.dev\/docs\/v0\.74\/guide\/references\/troubleshooting#timeout\n/,
      );
      assert.match(
        fatalLine(result.stderr),
        /Fatal error\trun error: image scan error: scan error: scan failed: failed analysis: analyze error: pipeline error: context deadline exceeded\n/,
      );
    });

    it('hang: without a short --timeout it runs until killed', async () => {
      const result = await runTrivy(['image', '--cache-dir', cache, '--image-src', 'remote', withBehaviour('hang')], {
        env,
        killAfterMs: 2_000,
      });
      assert.equal(result.code, null);
      assert.equal(result.signal, 'SIGKILL');
    });

    it('garbage: exit 0 with output that is not a trivy report', async () => {
      const result = await scan(['-f', 'json', withBehaviour('garbage')]);
      assert.equal(result.code, 0);
      const parsed = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.equal(parsed.SchemaVersion, undefined);
    });

    it("wrong-digest: RepoDigests name a digest other than the image's", async () => {
      const ref = withBehaviour('wrong-digest');
      const out = report(await scan(['-f', 'json', ref]));
      const [repo, digest] = (out.Metadata?.RepoDigests?.[0] ?? '').split('@');
      assert.equal(repo, `${registry.host}/team/wrongdigest`);
      assert.match(digest, /^sha256:[a-f0-9]{64}$/);
      assert.notEqual(digest, ref.split('@')[1]);
    });
  });
});
