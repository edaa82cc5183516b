// The containerRelease.v1 records the Container release tab reads: made by pure functions from what the flows know.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ElfHeader } from '../../src/image/elf';
import type { Verification } from '../../src/image/verify';
import { buildRecord, platformRows, recordName, scanRecord, topFindings, writeReleaseRecord } from '../../src/release-record/build';
import { RECORD_TYPE } from '../../src/release-record/record';
import { combineEvaluations, evaluatePolicy } from '../../src/release/policy';
import type { ScannedImage } from '../../src/release/publish';
import type { TrivyReport } from '../../src/trivy/report';

const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64' };
const elf = (machineName: string, architecture: string) =>
  ({ bits: 64, endianness: 'little', type: 2, machine: 0, architecture, machineName, programHeadersRead: true }) as unknown as ElfHeader;
const DIGEST = `sha256:${'a'.repeat(64)}`;

function verification(problem?: string): Verification {
  return {
    digest: DIGEST,
    kind: 'index',
    attestations: 0,
    problems: problem ? [problem] : [],
    platforms: [
      {
        platform: amd64,
        manifestDigest: `sha256:${'1'.repeat(64)}`,
        configDigest: 'c',
        size: 1,
        layers: 1,
        program: {
          argv: ['/app/run'],
          files: [{ path: '/app/run', links: [], kind: 'elf', elf: elf('x86-64', 'amd64'), role: 'entrypoint' }],
          notes: [],
        },
      },
      {
        platform: arm64,
        manifestDigest: `sha256:${'2'.repeat(64)}`,
        configDigest: 'c',
        size: 1,
        layers: 1,
        program: {
          argv: ['/app/run'],
          files: [{ path: '/app/run', links: ['/bin/run'], kind: 'elf', elf: elf('x86-64', 'amd64'), role: 'entrypoint' }],
          problem,
          notes: [],
        },
      },
    ],
  };
}

const build = (over: Partial<Parameters<typeof buildRecord>[0]> = {}) =>
  buildRecord({
    registry: 'contoso.azurecr.io',
    repository: 'shop/web',
    digest: DIGEST,
    tags: ['42'],
    platforms: [amd64, arm64],
    builder: { name: 'default', driver: 'docker' },
    mode: 'single',
    cache: { mode: 'local', use: { steps: 6, cached: 4 } },
    verification: verification(),
    now: new Date('2026-12-07T20:00:00Z'),
    ...over,
  });

function scanned(label: string, vulnerabilities: { id: string; severity: string; fixed?: string }[]): ScannedImage {
  const report = {
    SchemaVersion: 2,
    ArtifactName: 'x',
    Results: [
      {
        Target: 'debian',
        Class: 'os-pkgs',
        Vulnerabilities: vulnerabilities.map((v) => ({
          VulnerabilityID: v.id,
          PkgName: 'openssl',
          InstalledVersion: '1.1',
          FixedVersion: v.fixed,
          Severity: v.severity,
          Title: `${v.id} title`,
          PrimaryURL: `https://avd.aquasec.com/nvd/${v.id.toLowerCase()}`,
        })),
      },
    ],
  } as unknown as TrivyReport;
  return {
    digest: DIGEST,
    label,
    report,
    reportFile: '/x',
    evaluation: evaluatePolicy(report, { threshold: ['CRITICAL'], ignoreUnfixed: false }),
  };
}

describe('containerRelease.v1 records', () => {
  it('a build record: reference by digest, every platform asked, pushed and proven by its ELF file, the cache hits', () => {
    const record = build();
    assert.equal(record.schema, RECORD_TYPE);
    assert.equal(record.reference, `contoso.azurecr.io/shop/web@${DIGEST}`);
    assert.equal(record.outcome, 'succeeded');
    assert.deepEqual(
      record.platforms.map((p) => [p.platform, p.asked, p.pushed, p.proven, p.evidence.map((e) => `${e.path}: ${e.what}`)]),
      [
        ['linux/amd64', true, true, true, ['/app/run: ELF 64-bit x86-64']],
        ['linux/arm64', true, true, true, ['/bin/run => /app/run: ELF 64-bit x86-64']],
      ],
    );
    assert.deepEqual(record.build?.cache, { mode: 'local', ref: undefined, steps: 6, cached: 4 });
    assert.match(record.decision!.reason, /stays in quarantine until a scan releases it/);
  });

  it('a build refused by the platform proof is failed, with the file and the reason', () => {
    const record = build({ verification: verification('/app/run is an ELF 64-bit x86-64 binary, but the image is linux/arm64') });
    assert.equal(record.outcome, 'failed');
    assert.equal(record.platforms[1].proven, false);
    assert.match(record.platforms[1].problem!, /x86-64 binary/);
    assert.match(record.decision!.reason, /^Refused by the platform proof: \/app\/run/);
  });

  it('a build that pushed nothing names the tag and proves nothing', () => {
    const record = build({ digest: undefined, verification: undefined, verifySkipped: 'nothing pushed' });
    assert.equal(record.reference, 'contoso.azurecr.io/shop/web:42');
    assert.deepEqual(
      record.platforms.map((p) => [p.pushed, p.proven]),
      [
        [false, undefined],
        [false, undefined],
      ],
    );
  });

  it('a platform found but not asked for is listed as not asked', () => {
    const rows = platformRows([amd64], verification(), true);
    assert.deepEqual(
      rows.map((r) => [r.platform, r.asked]),
      [
        ['linux/amd64', true],
        ['linux/arm64', false],
      ],
    );
  });

  it('a scan record: counts by severity, the top findings most severe first with a link, the decision and the state', () => {
    const images = [
      scanned('linux/amd64', [
        { id: 'CVE-1', severity: 'LOW' },
        { id: 'CVE-2', severity: 'CRITICAL', fixed: '1.2' },
      ]),
      scanned('linux/arm64', [{ id: 'CVE-3', severity: 'HIGH' }]),
    ];
    const evaluation = combineEvaluations(images.map((i) => i.evaluation));
    const record = scanRecord({
      registry: 'contoso.azurecr.io',
      repository: 'shop/web',
      digest: DIGEST,
      images,
      evaluation,
      policy: { threshold: ['CRITICAL'], ignoreUnfixed: false },
      decision: 'Failed',
      release: 'quarantine',
      trivyVersion: '0.74.0',
      reason: 'Policy violated by 1 finding(s).',
      quarantineState: 'Failed',
    });
    assert.equal(record.outcome, 'failed');
    assert.deepEqual(record.scan!.counts, { CRITICAL: 1, HIGH: 1, MEDIUM: 0, LOW: 1, UNKNOWN: 0 });
    assert.deepEqual(
      record.scan!.top.map((f) => [f.id, f.severity, f.image, f.fixed]),
      [
        ['CVE-2', 'CRITICAL', 'linux/amd64', '1.2'],
        ['CVE-3', 'HIGH', 'linux/arm64', undefined],
        ['CVE-1', 'LOW', 'linux/amd64', undefined],
      ],
    );
    assert.equal(record.scan!.top[0].link, 'https://avd.aquasec.com/nvd/cve-2');
    assert.deepEqual(record.decision, { result: 'Failed', release: 'quarantine', reason: 'Policy violated by 1 finding(s).' });
    assert.equal(record.quarantineState, 'Failed');
    assert.deepEqual(
      record.platforms.map((p) => p.platform),
      ['linux/amd64', 'linux/arm64'],
    );
  });

  it("a build record carries the pushed index's annotations as read back, and none when it has none", () => {
    const annotations = { 'org.opencontainers.image.revision': 'abc123' };
    assert.deepEqual(build({ verification: { ...verification(), annotations } }).build?.annotations, annotations);
    assert.equal(build().build?.annotations, undefined);
    assert.ok(!('annotations' in JSON.parse(JSON.stringify(build().build))), 'absent from the JSON, as in records written before');
  });

  describe('a promote scan record', () => {
    const images = [scanned('image', [])];
    const facts = {
      registry: 'fabrikam.azurecr.io',
      repository: 'shop/staging',
      digest: DIGEST,
      images,
      evaluation: combineEvaluations(images.map((i) => i.evaluation)),
      policy: { threshold: ['CRITICAL'], ignoreUnfixed: false },
      decision: 'Passed' as const,
      release: 'promote' as const,
      trivyVersion: '0.74.0',
      reason: 'Policy passed: fabrikam.azurecr.io/shop/staging@... is released as fabrikam.azurecr.io/shop/release@...',
    };
    const promoted = {
      reference: `fabrikam.azurecr.io/shop/release@${DIGEST}`,
      repository: 'shop/release',
      digest: DIGEST,
      manifests: { copied: 3, present: 1 },
      blobs: { mounted: 4, uploaded: 0, present: 1 },
      referrers: 1,
      referrersBy: 'tag' as const,
      tags: ['1.0', 'latest'],
      readBack: DIGEST,
    };
    const attached = [
      {
        artifactType: 'application/vnd.aquasec.trivy.report.v1+json',
        digest: `sha256:${'3'.repeat(64)}`,
        by: 'tag' as const,
        title: 'trivy-report.json',
      },
      { artifactType: 'application/sarif+json', digest: `sha256:${'4'.repeat(64)}`, by: 'tag' as const, title: 'trivy.sarif' },
    ];

    const evidenceSet = (referrers: typeof attached) => ({ repository: 'shop/release', subject: DIGEST, by: 'tag' as const, referrers });

    it('says where the digest went, the release tags, the digest read back and what was copied', () => {
      const record = scanRecord({ ...facts, promoted, evidence: evidenceSet(attached) });
      assert.equal(record.outcome, 'succeeded');
      assert.deepEqual(record.decision?.release, 'promote');
      assert.deepEqual(record.promotion, {
        from: 'shop/staging',
        to: 'shop/release',
        reference: `fabrikam.azurecr.io/shop/release@${DIGEST}`,
        tags: ['1.0', 'latest'],
        readBack: DIGEST,
        manifests: { copied: 3, present: 1 },
        blobs: { mounted: 4, uploaded: 0, present: 1 },
        referrersCopied: 1,
      });
      assert.deepEqual(record.referrers, [
        { ...attached[0], repository: 'shop/release', quarantineState: undefined },
        { ...attached[1], repository: 'shop/release', quarantineState: undefined },
      ]);
    });

    it('a failed copy has the evidence attached so far and no promotion; a rejected scan neither', () => {
      const failed = scanRecord({ ...facts, error: 'a 503', evidence: evidenceSet(attached) });
      assert.equal(failed.outcome, 'failed');
      assert.equal(failed.promotion, undefined);
      assert.equal(failed.referrers?.length, 2);
      const rejected = scanRecord({ ...facts, decision: 'Failed' });
      assert.equal(rejected.promotion, undefined);
      assert.equal(rejected.referrers, undefined);
      // a quarantine or gate-only record is as it was: no referrers or promotion key at all
      const json = JSON.parse(JSON.stringify(scanRecord({ ...facts, release: 'quarantine', quarantineState: 'Passed' })));
      assert.ok(!('referrers' in json) && !('promotion' in json), Object.keys(json).join(', '));
    });

    it('release: quarantine with the evidence attached: each referrer with the quarantine state the run read back', () => {
      const record = scanRecord({
        ...facts,
        release: 'quarantine',
        quarantineState: 'Passed',
        evidence: { ...evidenceSet(attached), repository: 'shop/staging' },
        evidenceRelease: {
          decision: 'Passed',
          state: 'Passed',
          keptPassed: [],
          targets: [
            {
              digest: attached[0].digest,
              kind: 'referrer',
              label: 'evidence trivy-report.json',
              before: 'Quarantined',
              after: 'Passed',
              action: 'written',
            },
          ],
        },
      });
      assert.deepEqual(
        record.referrers?.map((r) => [r.title, r.repository, r.quarantineState]),
        [
          ['trivy-report.json', 'shop/staging', 'Passed'],
          ['trivy.sarif', 'shop/staging', undefined],
        ],
      );
    });

    it('no evidence attached (an empty list) writes no referrers', () => {
      assert.equal(scanRecord({ ...facts, promoted, evidence: evidenceSet([]) }).referrers, undefined);
    });
  });

  it('keeps at most the limit of top findings', () => {
    const many = scanned(
      'image',
      Array.from({ length: 80 }, (_, i) => ({ id: `CVE-${i}`, severity: i % 2 ? 'LOW' : 'HIGH' })),
    );
    const top = topFindings([many]);
    assert.equal(top.length, 50);
    assert.deepEqual([...new Set(top.slice(0, 40).map((f) => f.severity))], ['HIGH']);
  });

  it('is written into the step temp directory and attached with its own type', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'record-'));
    const attached: [string, string, string][] = [];
    const file = writeReleaseRecord({ tempDir: () => dir, addAttachment: (t, n, f) => attached.push([t, n, f]) }, build());
    assert.deepEqual(attached, [[RECORD_TYPE, 'BuildForPlatform-shop-web-aaaaaaaaaaaa.json', file]]);
    assert.equal(recordName(build()), 'BuildForPlatform-shop-web-aaaaaaaaaaaa.json');
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).digest, DIGEST);
  });
});
