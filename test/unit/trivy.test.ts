import assert from 'node:assert/strict';
import { convertTemplate } from './trivy-convert-fake';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RecordingLogger } from '../../src/log';
import type { RunOptions, RunResult, Runner } from '../../src/process/exec';
import { ChecksumMismatchError, installTrivy, normalizeTrivyVersion, trivyAsset } from '../../src/trivy/install';
import type { ToolCache } from '../../src/tools/cache';
import { TrivyReportError, assertReportIsFor, parseTrivyReport } from '../../src/trivy/report';
import {
  FINDINGS_EXIT_CODE,
  type ScanSettings,
  TrivyFailedError,
  formatGoDuration,
  parseTimeout,
  scanImage,
  trivyEnvironment,
  trivyImageArgs,
  trivyVersion,
  writeRegistryAuth,
  writeSarif,
} from '../../src/trivy/scan';

const fixtures = path.resolve(__dirname, '..', 'lab', 'trivy', 'fixtures');
const DIGEST = `sha256:${'1'.repeat(64)}`;
const OTHER = `sha256:${'2'.repeat(64)}`;
const expected = { registry: 'contoso.azurecr.io', repository: 'team/app', digest: DIGEST };

/** A fixture report made to look like trivy's output for contoso.azurecr.io/team/app@<digest>. */
function reportFor(
  fixture: string,
  digest = DIGEST,
  repoDigests: string[] | undefined = [`contoso.azurecr.io/team/app@${digest}`],
): string {
  const report = JSON.parse(readFileSync(path.join(fixtures, fixture), 'utf8'));
  report.ArtifactName = `contoso.azurecr.io/team/app@${digest}`;
  report.Metadata = { ...report.Metadata, RepoDigests: repoDigests };
  return JSON.stringify(report);
}

describe('trivy report parsing', () => {
  it('parses every fixture report', () => {
    for (const file of readdirSync(fixtures).filter((f) => /\.json(\.golden)?$/.test(f))) {
      const report = parseTrivyReport(readFileSync(path.join(fixtures, file), 'utf8'));
      assert.equal(report.SchemaVersion, 2, file);
    }
  });

  const refused: [string, string, RegExp][] = [
    ['text that is not JSON', 'Segmentation fault (core dumped)', /not JSON.*starts with: Segmentation fault/],
    ['empty output', '', /not JSON.*\(empty\)/],
    ['a JSON array', '[]', /not an object/],
    [
      'another schema version',
      JSON.stringify({ SchemaVersion: 1, ArtifactName: 'x', ArtifactType: 'container_image' }),
      /SchemaVersion is 1/,
    ],
    ['a SARIF log', readFileSync(path.join(fixtures, 'alpine-310.sarif.golden'), 'utf8'), /SchemaVersion is undefined/],
    ['no ArtifactName', JSON.stringify({ SchemaVersion: 2, ArtifactType: 'container_image' }), /no ArtifactName/],
    [
      'Results not a list',
      JSON.stringify({ SchemaVersion: 2, ArtifactName: 'x', ArtifactType: 'container_image', Results: {} }),
      /Results is not an array/,
    ],
    [
      'a vulnerability without severity',
      JSON.stringify({
        SchemaVersion: 2,
        ArtifactName: 'x',
        ArtifactType: 'container_image',
        Results: [{ Target: 't', Vulnerabilities: [{ VulnerabilityID: 'CVE-1', PkgName: 'p' }] }],
      }),
      /Vulnerabilities\[0\] has no Severity/,
    ],
    [
      'a secret without rule',
      JSON.stringify({
        SchemaVersion: 2,
        ArtifactName: 'x',
        ArtifactType: 'container_image',
        Results: [{ Target: 't', Secrets: [{ Severity: 'HIGH' }] }],
      }),
      /Secrets\[0\] has no RuleID/,
    ],
  ];
  for (const [what, text, message] of refused) {
    it(`refuses ${what}`, () =>
      assert.throws(
        () => parseTrivyReport(text),
        (e: Error) => e instanceof TrivyReportError && message.test(e.message),
      ));
  }

  it('accepts a report about exactly the requested digest', () => {
    assertReportIsFor(parseTrivyReport(reportFor('photon-30.json.golden')), expected);
    assertReportIsFor(parseTrivyReport(reportFor('photon-30.json.golden', DIGEST, undefined)), expected);
  });

  it('refuses a report about another digest (ArtifactName)', () => {
    assert.throws(
      () => assertReportIsFor(parseTrivyReport(reportFor('photon-30.json.golden', OTHER)), expected),
      /not the requested .*@sha256:1111/,
    );
  });

  it('refuses a report whose RepoDigests name another digest of the repository', () => {
    const text = reportFor('photon-30.json.golden', DIGEST, [`contoso.azurecr.io/team/app@${OTHER}`]);
    assert.throws(() => assertReportIsFor(parseTrivyReport(text), expected), /RepoDigests .* does not confirm/);
  });

  it('refuses a report of another repository, and one that is not of a container image', () => {
    const other = JSON.parse(reportFor('photon-30.json.golden'));
    other.ArtifactName = `contoso.azurecr.io/team/other@${DIGEST}`;
    assert.throws(() => assertReportIsFor(other, expected), /another repository/);
    assert.throws(
      () => assertReportIsFor(parseTrivyReport(readFileSync(path.join(fixtures, 'secrets.json.golden'), 'utf8')), expected),
      /repository, not a container image/,
    );
  });

  it('refuses the fixture goldens as they are (a tar path, no digest)', () => {
    assert.throws(
      () => assertReportIsFor(parseTrivyReport(readFileSync(path.join(fixtures, 'debian-buster.json.golden'), 'utf8')), expected),
      TrivyReportError,
    );
  });
});

const settings: ScanSettings = {
  trivy: '/opt/trivy/trivy',
  cacheDir: '/agent/tools/trivy-cache',
  scanners: ['vuln', 'secret'],
  ignoreUnfixed: false,
  timeoutMs: 600_000,
};

describe('trivy argv and environment', () => {
  it('scans the digest reference remotely with JSON output and the findings exit code', () => {
    const args = trivyImageArgs(settings, { ...expected, outputFile: '/tmp/r.json' });
    assert.deepEqual(args, [
      'image',
      '--format',
      'json',
      '--output',
      '/tmp/r.json',
      '--exit-code',
      '10',
      '--list-all-pkgs=false',
      '--quiet',
      '--image-src',
      'remote',
      '--scanners',
      'vuln,secret',
      '--cache-dir',
      '/agent/tools/trivy-cache',
      '--timeout',
      '600s',
      '--show-suppressed',
      '--skip-version-check',
      '--disable-telemetry',
      `contoso.azurecr.io/team/app@${DIGEST}`,
    ]);
    assert.notEqual(FINDINGS_EXIT_CODE, 1, 'trivy exits 1 on fatal errors');
    assert.notEqual(FINDINGS_EXIT_CODE, 2, 'a Go panic exits 2');
  });

  it('adds the optional filters and the database mirror', () => {
    const args = trivyImageArgs(
      {
        ...settings,
        ignoreUnfixed: true,
        ignoreFile: '/src/.trivyignore',
        dbRepository: 'mirror.contoso.com/trivy-db:2',
        scanners: ['vuln'],
      },
      { ...expected, outputFile: '/tmp/r.json' },
    );
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    assert.ok(args.includes('--ignore-unfixed'));
    assert.equal(after('--ignorefile'), '/src/.trivyignore');
    assert.equal(after('--db-repository'), 'mirror.contoso.com/trivy-db:2');
    assert.equal(after('--scanners'), 'vuln');
    assert.ok(!args.includes('--severity'), 'severity filtering is ours, the report keeps every severity');
  });

  it('drops from the environment what would change findings, pick another identity or leak agent secrets', () => {
    const { env, dropped } = trivyEnvironment(
      {
        PATH: '/bin',
        TRIVY_SEVERITY: 'LOW',
        trivy_ignorefile: '/x',
        TRIVY_USERNAME: 'someone',
        TRIVY_PASSWORD: 'else',
        ENDPOINT_AUTH_abc: '{"secret"}',
        SECRET_X: 's',
        SYSTEM_ACCESSTOKEN: 't',
        AZURE_TENANT_ID: 'other-tenant',
        DOCKER_CONFIG: '/home/agent/.docker',
        HOME: '/root',
      },
      '/tmp/scan/docker',
    );
    assert.deepEqual(env, { PATH: '/bin', HOME: '/root', DOCKER_CONFIG: '/tmp/scan/docker' });
    assert.deepEqual(dropped.sort(), ['TRIVY_PASSWORD', 'TRIVY_SEVERITY', 'TRIVY_USERNAME', 'trivy_ignorefile']);
  });

  it('gives the credentials to their registry only, in a docker config readable by the agent user alone', () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'auth-')), 'docker');
    writeRegistryAuth(dir, { registry: 'contoso.azurecr.io', username: '00000000-0000-0000-0000-000000000000', password: 'refresh-token' });
    const file = path.join(dir, 'config.json');
    const config = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(Object.keys(config.auths), ['contoso.azurecr.io']);
    assert.equal(
      Buffer.from(config.auths['contoso.azurecr.io'].auth, 'base64').toString(),
      '00000000-0000-0000-0000-000000000000:refresh-token',
    );
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
  });

  it('reads timeouts as trivy does, a bare number as minutes', () => {
    assert.equal(parseTimeout('10m'), 600_000);
    assert.equal(parseTimeout('1h30m'), 5_400_000);
    assert.equal(parseTimeout('90s'), 90_000);
    assert.equal(parseTimeout('15'), 900_000);
    assert.throws(() => parseTimeout('ten minutes'), /not a duration\. Write it like 10m/);
    assert.throws(() => parseTimeout('500ms'), /shorter than one second/);
    assert.equal(formatGoDuration(90_500), '91s');
  });
});

interface FakeRun {
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
  stderr?: string;
  stdout?: string;
  timedOut?: boolean;
  /** The report trivy writes to --output. */
  writes?: string;
}

/** The credentials per registry in a docker config directory, as user:password (what trivy's keychain reads). */
function authsOf(dockerConfig: string | undefined): Record<string, string> {
  if (!dockerConfig) return {};
  const config = JSON.parse(readFileSync(path.join(dockerConfig, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
  return Object.fromEntries(Object.entries(config.auths).map(([host, { auth }]) => [host, Buffer.from(auth, 'base64').toString()]));
}

function fakeTrivy(behaviour: FakeRun): {
  runner: Runner;
  calls: { file: string; args: readonly string[]; options?: RunOptions; auths: Record<string, string> }[];
} {
  const calls: { file: string; args: readonly string[]; options?: RunOptions; auths: Record<string, string> }[] = [];
  const runner: Runner = async (file, args, options) => {
    calls.push({ file, args, options, auths: authsOf(options?.env?.DOCKER_CONFIG) });
    if (convertTemplate(args)) return { exitCode: 0, signal: null, stdout: '', stderr: '', timedOut: false, durationMs: 1 };
    if (behaviour.writes !== undefined) writeFileSync(args[args.indexOf('--output') + 1], behaviour.writes);
    const result: RunResult = {
      exitCode: behaviour.exitCode === undefined ? 0 : behaviour.exitCode,
      signal: behaviour.signal ?? null,
      stdout: behaviour.stdout ?? '',
      stderr: behaviour.stderr ?? '',
      timedOut: behaviour.timedOut ?? false,
      durationMs: 1,
    };
    return result;
  };
  return { runner, calls };
}

describe('scanImage with a fake trivy', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'scan-test-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const credentials = {
    registry: 'contoso.azurecr.io',
    username: '00000000-0000-0000-0000-000000000000',
    password: 's3cr3t-refresh-token',
  };
  const request = () => ({ ...expected, outputFile: path.join(dir, 'report.json') });

  it('returns the checked report when trivy finds issues (exit 10), with credentials only in its own docker config', async () => {
    const fake = fakeTrivy({ exitCode: 10, writes: reportFor('photon-30.json.golden') });
    const result = await scanImage(settings, request(), {
      runner: fake.runner,
      logger: new RecordingLogger(),
      credentials,
      env: { PATH: '/bin' },
    });
    assert.equal(result.report.Results?.[0].Vulnerabilities?.length, 3);
    const call = fake.calls[0];
    assert.ok(!call.args.some((a) => a.includes('s3cr3t')), 'the secret must not be in argv');
    assert.ok(!Object.values(call.options?.env ?? {}).some((v) => v?.includes('s3cr3t')), 'nor in the environment');
    assert.deepEqual(call.auths, { 'contoso.azurecr.io': `${credentials.username}:${credentials.password}` });
    assert.ok(!existsSync(call.options!.env!.DOCKER_CONFIG!), 'the docker config is removed after the scan');
    assert.equal(call.options?.timeoutMs, 600_000 + 15_000);
    assert.ok(call.options?.cwd && call.options.cwd !== process.cwd(), 'trivy runs in an empty directory');
  });

  it('accepts a clean report with exit 0', async () => {
    const fake = fakeTrivy({ exitCode: 0, writes: reportFor('sl-micro-rancher5.4.json.golden') });
    const result = await scanImage(settings, request(), { runner: fake.runner, logger: new RecordingLogger() });
    assert.equal(result.exitCode, 0);
  });

  const failures: [string, FakeRun, RegExp][] = [
    [
      'a crash (exit 1)',
      { exitCode: 1, stderr: '2026-11-29T10:00:00Z\tFATAL\tFatal error\tinit error: DB error: failed to download vulnerability DB\n' },
      /trivy failed with exit code 1: .*failed to download vulnerability DB/,
    ],
    [
      'a Go panic (exit 2)',
      { exitCode: 2, stderr: 'panic: runtime error: invalid memory address\ngoroutine 1 [running]:\nmain.main()\n' },
      /exit code 2/,
    ],
    ['a kill by a signal', { exitCode: null, signal: 'SIGKILL' }, /killed by SIGKILL/],
    [
      'a hang past the timeout',
      { exitCode: null, signal: 'SIGTERM', timedOut: true },
      /did not finish within the timeout of 600s and was stopped/,
    ],
    [
      'its own --timeout expiring',
      { exitCode: 1, stderr: '2026-11-29T10:00:00Z\tFATAL\tFatal error\trun error: image scan error: context deadline exceeded\n' },
      /did not finish within the timeout of 600s; its last words: .*context deadline exceeded\. Raise 'timeout'/,
    ],
    ['garbage output', { exitCode: 0, writes: 'this is not json' }, /output was refused: the output is not JSON/],
    ['no report file', { exitCode: 0 }, /exited 0 without writing its report to .*report\.json\. That is not a trivy report/],
    [
      'something else printed instead of a report (lab garbage)',
      { exitCode: 0, stdout: '{"lab":"garbage","message":"this is not a trivy report","Results":"none"}\n' },
      /without writing its report .*; it printed instead: \{"lab":"garbage"/,
    ],
    ['a report file that is not a report', { exitCode: 0, writes: '{"lab":"garbage"}' }, /output was refused: SchemaVersion is undefined/],
    [
      'a report about another digest',
      { exitCode: 10, writes: reportFor('photon-30.json.golden', OTHER) },
      /output was refused: the report is about/,
    ],
    [
      'exit 10 with a report listing nothing',
      { exitCode: 10, writes: reportFor('sl-micro-rancher5.4.json.golden') },
      /exited 10 \(findings\) but its report lists none/,
    ],
  ];
  for (const [what, behaviour, message] of failures) {
    it(`fails on ${what}`, async () => {
      const fake = fakeTrivy(behaviour);
      await assert.rejects(
        scanImage(settings, request(), { runner: fake.runner, logger: new RecordingLogger() }),
        (e: Error) => e instanceof TrivyFailedError && message.test(e.message),
      );
    });
  }

  it('never takes a report file left from an earlier run', async () => {
    writeFileSync(path.join(dir, 'report.json'), reportFor('sl-micro-rancher5.4.json.golden'));
    const fake = fakeTrivy({ exitCode: 0 });
    await assert.rejects(
      scanImage(settings, request(), { runner: fake.runner, logger: new RecordingLogger() }),
      /without writing its report/,
    );
  });

  describe('SARIF', () => {
    const ok = (stdout = ''): RunResult => ({ exitCode: 0, signal: null, stdout, stderr: '', timedOut: false, durationMs: 1 });
    it('converts the JSON report with trivy convert (no second scan)', async () => {
      const calls: string[][] = [];
      const runner: Runner = async (_file, args) => {
        calls.push([...args]);
        writeFileSync(args[args.indexOf('--output') + 1], '{"version":"2.1.0","runs":[]}');
        return ok();
      };
      const sarif = path.join(dir, 'r.sarif');
      assert.equal(await writeSarif(settings, request(), sarif, { runner, logger: new RecordingLogger(), credentials }), 'convert');
      assert.deepEqual(calls, [['convert', '--format', 'sarif', '--output', sarif, '--quiet', path.join(dir, 'report.json')]]);
    });
    it('scans again with --format sarif when this trivy has no convert command', async () => {
      const calls: { args: string[]; password?: string }[] = [];
      const runner: Runner = async (_file, args, options) => {
        calls.push({ args: [...args], password: authsOf(options?.env?.DOCKER_CONFIG)['contoso.azurecr.io']?.split(':')[1] });
        if (args[0] === 'convert') return { ...ok(), exitCode: 1, stderr: 'Error: unknown command "convert" for "trivy"\n' };
        writeFileSync(args[args.indexOf('--output') + 1], '{"version":"2.1.0","runs":[]}');
        return ok();
      };
      assert.equal(
        await writeSarif(settings, request(), path.join(dir, 'r.sarif'), { runner, logger: new RecordingLogger(), credentials }),
        'rescan',
      );
      const rescan = calls[1];
      assert.deepEqual(rescan.args.slice(0, 6), ['image', '--format', 'sarif', '--output', path.join(dir, 'r.sarif'), '--skip-db-update']);
      assert.ok(!rescan.args.includes('--exit-code'));
      assert.equal(rescan.args.at(-1), `contoso.azurecr.io/team/app@${DIGEST}`);
      assert.equal(rescan.password, 's3cr3t-refresh-token');
    });
    it('reports another convert failure without scanning again', async () => {
      let n = 0;
      const runner: Runner = async () => (n++, { ...ok(), exitCode: 1, stderr: 'FATAL\tconvert error: broken\n' });
      await assert.rejects(
        writeSarif(settings, request(), path.join(dir, 'r.sarif'), { runner, logger: new RecordingLogger() }),
        /trivy convert --format sarif failed: FATAL\tconvert error: broken/,
      );
      assert.equal(n, 1);
    });
  });

  it('reads the version trivy reports about itself', async () => {
    const runner: Runner = async () => ({
      exitCode: 0,
      signal: null,
      stdout: '{"Version":"0.74.0","VulnerabilityDB":{"Version":2}}',
      stderr: '',
      timedOut: false,
      durationMs: 1,
    });
    assert.equal(await trivyVersion('/x/trivy', runner), '0.74.0');
    const notTrivy: Runner = async () => ({ exitCode: 0, signal: null, stdout: 'hello', stderr: '', timedOut: false, durationMs: 1 });
    await assert.rejects(trivyVersion('/bin/echo', notTrivy), /printed no version; is \/bin\/echo trivy\?/);
  });
});

describe('trivy release assets and installation', () => {
  it('names assets as trivy releases them', () => {
    assert.equal(trivyAsset('0.74.0', 'linux', 'x64').archive, 'trivy_0.74.0_Linux-64bit.tar.gz');
    assert.equal(trivyAsset('0.74.0', 'linux', 'arm64').archive, 'trivy_0.74.0_Linux-ARM64.tar.gz');
    assert.equal(trivyAsset('0.74.0', 'darwin', 'arm64').archive, 'trivy_0.74.0_macOS-ARM64.tar.gz');
    assert.deepEqual(trivyAsset('0.74.0', 'win32', 'x64'), {
      archive: 'trivy_0.74.0_windows-64bit.zip',
      kind: 'zip',
      executable: 'trivy.exe',
    });
    assert.throws(() => trivyAsset('0.74.0', 'aix', 'ppc'), /no release for aix\/ppc.*trivyPath/);
  });

  it('takes exact versions only', () => {
    assert.equal(normalizeTrivyVersion('v0.74.0'), '0.74.0');
    assert.throws(() => normalizeTrivyVersion('latest'), /exact version/);
    assert.throws(() => normalizeTrivyVersion('0.x'), /exact version/);
  });

  describe('installTrivy with a directory tool cache', () => {
    let root: string;
    let served: Map<string, Buffer>;
    let downloads: string[];
    let cache: Pick<ToolCache, 'find' | 'download' | 'extract' | 'cacheDir'>;
    const base = 'https://mirror.test/aquasecurity/trivy/releases/download';
    const archiveName = trivyAsset('0.74.0', 'linux', 'x64').archive;

    beforeEach(() => {
      root = mkdtempSync(path.join(os.tmpdir(), 'install-test-'));
      const stage = path.join(root, 'stage');
      mkdirSync(stage);
      writeFileSync(path.join(stage, 'trivy'), '#!/bin/sh\necho trivy\n');
      mkdirSync(path.join(stage, 'contrib'));
      writeFileSync(path.join(stage, 'contrib', 'junit.tpl'), '<x/>');
      const archive = path.join(root, archiveName);
      execFileSync('tar', ['czf', archive, '-C', stage, 'trivy', 'contrib']);
      const bytes = readFileSync(archive);
      const sha = createHash('sha256').update(bytes).digest('hex');
      served = new Map([
        [`${base}/v0.74.0/${archiveName}`, bytes],
        [
          `${base}/v0.74.0/trivy_0.74.0_checksums.txt`,
          Buffer.from(`${'0'.repeat(64)}  trivy_0.74.0_Linux-ARM64.tar.gz\n${sha}  ${archiveName}\n`),
        ],
      ]);
      downloads = [];
      const tools = path.join(root, 'tools');
      let n = 0;
      cache = {
        find: (tool, version, arch) => {
          const dir = path.join(tools, tool, version, arch);
          return existsSync(`${dir}.complete`) ? dir : undefined;
        },
        download: async (url) => {
          downloads.push(url);
          const body = served.get(url);
          if (!body) throw new Error(`Unexpected HTTP response: 404 (${url})`);
          const file = path.join(root, `download-${n++}`);
          writeFileSync(file, body);
          return file;
        },
        extract: async (archive) => {
          const dest = path.join(root, `extract-${n++}`);
          mkdirSync(dest);
          execFileSync('tar', ['xzf', archive, '-C', dest]);
          return dest;
        },
        cacheDir: async (dir, tool, version, arch) => {
          const dest = path.join(tools, tool, version, arch);
          mkdirSync(dest, { recursive: true });
          cpSync(dir, dest, { recursive: true });
          writeFileSync(`${dest}.complete`, '');
          return dest;
        },
      };
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it('downloads, verifies and caches; a second run downloads nothing', async () => {
      const first = await installTrivy({
        version: '0.74.0',
        downloadBaseUrl: `${base}/`,
        cache,
        logger: new RecordingLogger(),
        platform: 'linux',
        arch: 'x64',
      });
      assert.equal(first.fromCache, false);
      assert.ok(existsSync(first.executable));
      assert.ok(existsSync(path.join(first.directory, 'contrib', 'junit.tpl')));
      assert.deepEqual(downloads, [`${base}/v0.74.0/trivy_0.74.0_checksums.txt`, `${base}/v0.74.0/${archiveName}`]);
      const second = await installTrivy({
        version: '0.74.0',
        downloadBaseUrl: base,
        cache,
        logger: new RecordingLogger(),
        platform: 'linux',
        arch: 'x64',
      });
      assert.equal(second.fromCache, true);
      assert.equal(second.executable, first.executable);
      assert.equal(downloads.length, 2, 'no download on the second run');
    });

    it('refuses an archive whose checksum does not match and caches nothing', async () => {
      const url = `${base}/v0.74.0/${archiveName}`;
      const tampered = Buffer.from(served.get(url)!);
      tampered[tampered.length - 1] ^= 0xff;
      served.set(url, tampered);
      await assert.rejects(
        installTrivy({ version: '0.74.0', downloadBaseUrl: base, cache, logger: new RecordingLogger(), platform: 'linux', arch: 'x64' }),
        (e: Error) =>
          e instanceof ChecksumMismatchError &&
          /has sha256 [0-9a-f]{64}, but trivy_0.74.0_checksums.txt says [0-9a-f]{64}\. The download was refused and nothing was cached/.test(
            e.message,
          ),
      );
      assert.equal(cache.find('trivy', '0.74.0', 'x64'), undefined);
      assert.deepEqual(
        readdirSync(root).filter((f) => f.startsWith('download-') || f.startsWith('extract-')),
        [],
        'the refused download is deleted',
      );
    });

    it('refuses when the checksums file has no line for the archive', async () => {
      served.set(`${base}/v0.74.0/trivy_0.74.0_checksums.txt`, Buffer.from(`${'0'.repeat(64)}  something-else.tar.gz\n`));
      await assert.rejects(
        installTrivy({ version: '0.74.0', downloadBaseUrl: base, cache, logger: new RecordingLogger(), platform: 'linux', arch: 'x64' }),
        /has no line for trivy_0.74.0_Linux-64bit.tar.gz; refusing/,
      );
      assert.equal(downloads.length, 1, 'the archive is not even downloaded');
    });
  });
});
