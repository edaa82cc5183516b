// What the Container release tab shows, as data (tab/model.ts): cards by image and job in the timeline's order, the
// decision in words, the findings table's filter and sort, and the attachment links it reads ids from.
import { strict as assert } from 'node:assert';
import { RECORD_TYPE, type ContainerReleaseRecord } from '../../src/release-record/record';
import {
  attachmentIds,
  cardStatus,
  evidenceLabel,
  evidenceViews,
  findingRows,
  groupRecords,
  parseRecord,
  promotionView,
  type LoadedRecord,
  type TimelineEntry,
} from '../../tab/model';

const DIGEST = (c: string) => `sha256:${c.repeat(64)}`;

function record(
  repository: string,
  task: ContainerReleaseRecord['task'],
  over: Partial<ContainerReleaseRecord> = {},
): ContainerReleaseRecord {
  const digest = DIGEST(repository.length % 2 ? 'a' : 'b');
  return {
    schema: RECORD_TYPE,
    task,
    writtenAt: '2026-12-07T20:00:00.000Z',
    registry: 'contoso.azurecr.io',
    repository,
    reference: `contoso.azurecr.io/${repository}@${digest}`,
    digest,
    tags: task === 'BuildForPlatform' ? ['42'] : [],
    outcome: 'succeeded',
    problems: [],
    platforms: [],
    ...over,
  };
}

const job = (id: string, name: string, order: number, startTime: string, state = 2): TimelineEntry => ({
  id,
  type: 'Job',
  name,
  order,
  startTime,
  state,
  parentId: 'phase',
});
const task = (id: string, parentId: string, order: number, state = 2): TimelineEntry => ({
  id,
  type: 'Task',
  name: id,
  order,
  parentId,
  state,
});
const loaded = (recordId: string, r: ContainerReleaseRecord): LoadedRecord => ({
  timelineId: 't',
  recordId,
  name: `${r.task}-${r.repository}`,
  record: r,
});

describe('the Container release tab: what it shows', () => {
  const timeline: TimelineEntry[] = [
    { id: 'phase', type: 'Phase', name: 'phase', order: 1, state: 2 },
    job('job-b', 'Build arm64', 2, '2026-12-07T20:05:00Z'),
    job('job-a', 'Build amd64', 1, '2026-12-07T20:00:00Z'),
    task('build-web', 'job-a', 2),
    task('scan-web', 'job-a', 3),
    task('build-api', 'job-b', 1),
  ];

  it('one card per image, its build and scan joined, grouped by job in the timeline order, whatever the listing order', () => {
    const records = [
      loaded('build-api', record('shop/api', 'BuildForPlatform')),
      loaded(
        'scan-web',
        record('shop/web', 'ScanAndRelease', { decision: { result: 'Passed', release: 'quarantine', reason: 'released.' } }),
      ),
      loaded('build-web', record('shop/web', 'BuildForPlatform')),
    ];
    for (const listing of [records, [...records].reverse()]) {
      const groups = groupRecords(timeline, listing);
      assert.deepEqual(
        groups.map((g) => [g.name, g.cards.map((c) => [c.repository, !!c.build, !!c.scan, c.status.label])]),
        [
          ['Build amd64', [['shop/web', true, true, 'Released']]],
          ['Build arm64', [['shop/api', true, false, 'Not scanned']]],
        ],
      );
      assert.deepEqual(groups[0].cards[0].tags, ['42']);
    }
  });

  it('jobs of the same order are put in the order they started', () => {
    const t = [
      job('late', 'Late', 1, '2026-12-07T20:09:00Z'),
      job('early', 'Early', 1, '2026-12-07T20:01:00Z'),
      task('x', 'late', 1),
      task('y', 'early', 1),
    ];
    const groups = groupRecords(t, [loaded('x', record('shop/x', 'BuildForPlatform')), loaded('y', record('shop/yy', 'BuildForPlatform'))]);
    assert.deepEqual(
      groups.map((g) => g.name),
      ['Early', 'Late'],
    );
  });

  it('while the job runs, a pushed image without a scan is "Scan pending"', () => {
    const running = [job('job-a', 'Build', 1, '2026-12-07T20:00:00Z', 1), task('build-web', 'job-a', 1), task('scan-web', 'job-a', 2, 0)];
    const [group] = groupRecords(running, [loaded('build-web', record('shop/web', 'BuildForPlatform'))]);
    assert.equal(group.running, true);
    assert.equal(group.cards[0].status.label, 'Scan pending');
  });

  it('the decision in words', () => {
    const failedBuild = record('shop/api', 'BuildForPlatform', {
      outcome: 'failed',
      decision: { release: 'none', reason: 'Refused by the platform proof: x' },
    });
    assert.deepEqual(cardStatus(failedBuild, undefined, false), {
      kind: 'refused',
      label: 'Refused by the platform proof',
      reason: 'Refused by the platform proof: x',
    });
    const rejected = record('shop/web', 'ScanAndRelease', { decision: { result: 'Failed', release: 'quarantine', reason: 'violated' } });
    assert.equal(cardStatus(undefined, rejected, false).label, 'Rejected: stays quarantined');
    const gate = record('shop/web', 'ScanAndRelease', { decision: { result: 'Passed', release: 'gateOnly', reason: 'ok' } });
    assert.equal(cardStatus(undefined, gate, false).label, 'Policy passed (gate only)');
    const broken = record('shop/web', 'ScanAndRelease', {
      problems: ['PATCH 403'],
      decision: { result: 'Passed', release: 'quarantine', reason: 'no' },
    });
    assert.equal(cardStatus(undefined, broken, false).kind, 'failed');
  });

  describe('a promoted image', () => {
    const digest = DIGEST('b');
    const promotion = {
      from: 'shop/staging',
      to: 'shop/release',
      reference: `contoso.azurecr.io/shop/release@${digest}`,
      tags: ['1.0', 'latest'],
      readBack: digest,
      manifests: { copied: 3, present: 0 },
      blobs: { mounted: 4, uploaded: 0, present: 1 },
      referrersCopied: 1,
    };
    const referrers = [
      {
        artifactType: 'application/vnd.aquasec.trivy.report.v1+json',
        digest: DIGEST('3'),
        title: 'trivy-report.json',
        repository: 'shop/release',
        by: 'tag' as const,
      },
      { artifactType: 'application/sarif+json', digest: DIGEST('4'), title: 'trivy.sarif', repository: 'shop/release', by: 'api' as const },
      { artifactType: 'application/spdx+json', digest: DIGEST('5'), by: 'tag' as const, quarantineState: 'Passed' },
    ];
    const promoted = (over: Partial<ContainerReleaseRecord> = {}) =>
      record('shop/staging', 'ScanAndRelease', {
        decision: { result: 'Passed', release: 'promote', reason: 'released as ...' },
        promotion,
        referrers,
        ...over,
      });

    it('is Promoted, or Rejected: not promoted, never "gate only"', () => {
      assert.deepEqual(cardStatus(undefined, promoted(), false), { kind: 'released', label: 'Promoted', reason: 'released as ...' });
      const rejected = promoted({
        decision: { result: 'Failed', release: 'promote', reason: 'violated' },
        promotion: undefined,
        referrers: undefined,
      });
      assert.equal(cardStatus(undefined, rejected, false).label, 'Rejected: not promoted');
      assert.equal(cardStatus(undefined, promoted({ promotion: undefined }), false).label, 'Policy passed, not promoted');
      assert.equal(cardStatus(undefined, promoted({ problems: ['503'] }), false).label, 'Release did not complete');
    });

    it('says where it went, with the release tags, and that the digest read back is the scanned one', () => {
      const view = promotionView(promoted())!;
      assert.equal(view.text, 'Promoted to contoso.azurecr.io/shop/release:1.0, latest (digest verified)');
      assert.equal(view.verified, true);
      assert.equal(view.byDigest, `contoso.azurecr.io/shop/release@${digest}`);
      assert.deepEqual(view.byTag, ['contoso.azurecr.io/shop/release:1.0', 'contoso.azurecr.io/shop/release:latest']);
      assert.equal(
        view.copied,
        'From shop/staging: 3 manifests (3 copied, 0 already there), 5 blobs (4 mounted, 0 uploaded, 1 already there), 1 referrer copied with it',
      );
      const other = promotionView(promoted({ promotion: { ...promotion, tags: [], readBack: DIGEST('9') } }))!;
      assert.equal(
        other.text,
        `Promoted to contoso.azurecr.io/shop/release@${digest} (digest not verified: the release repository answered ${DIGEST('9')})`,
      );
      assert.equal(other.verified, false);
      assert.equal(promotionView(record('shop/web', 'ScanAndRelease')), undefined);
    });

    it('lists the evidence: what it is, the referrer in the repository that lists it, and how a client finds it', () => {
      assert.deepEqual(
        evidenceViews(promoted()).map((e) => [e.label, e.title, e.reference, e.how, e.fallbackTag, e.quarantineState]),
        [
          [
            'trivy report',
            'trivy-report.json',
            `contoso.azurecr.io/shop/release@${DIGEST('3')}`,
            `fallback tag ${digest.replace(':', '-')}`,
            digest.replace(':', '-'),
            undefined,
          ],
          ['SARIF', 'trivy.sarif', `contoso.azurecr.io/shop/release@${DIGEST('4')}`, 'referrers API', undefined, undefined],
          [
            'SBOM (SPDX)',
            undefined,
            `contoso.azurecr.io/shop/staging@${DIGEST('5')}`,
            `fallback tag ${digest.replace(':', '-')}`,
            digest.replace(':', '-'),
            'Passed',
          ],
        ],
      );
      assert.equal(evidenceLabel('application/vnd.cyclonedx+json'), 'SBOM (CycloneDX)');
      assert.equal(evidenceLabel('application/vnd.example+json'), 'application/vnd.example+json');
    });

    it('a record written before these fields reads as before: no promotion, no evidence', () => {
      const old = JSON.parse(
        JSON.stringify(record('shop/web', 'ScanAndRelease', { decision: { result: 'Passed', release: 'quarantine', reason: 'ok' } })),
      );
      const parsed = parseRecord(JSON.stringify(old))!;
      assert.ok(parsed);
      assert.equal(promotionView(parsed), undefined);
      assert.deepEqual(evidenceViews(parsed), []);
      assert.equal(cardStatus(undefined, parsed, false).label, 'Released');
    });
  });

  it('the findings table filters on every column and sorts by any, severity by rank', () => {
    const findings = [
      { id: 'CVE-2', severity: 'LOW', kind: 'vulnerability', package: 'bash', installed: '5.0', title: 't', image: 'linux/amd64' },
      {
        id: 'CVE-10',
        severity: 'CRITICAL',
        kind: 'vulnerability',
        package: 'openssl',
        installed: '1.1',
        fixed: '1.2',
        title: 't',
        image: 'linux/arm64',
      },
      { id: 'CVE-3', severity: 'HIGH', kind: 'vulnerability', package: 'zlib', installed: '1', title: 't', image: 'linux/amd64' },
    ] as const;
    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
    assert.deepEqual(ids(findingRows(findings, '', 'severity', false)), ['CVE-10', 'CVE-3', 'CVE-2']);
    assert.deepEqual(ids(findingRows(findings, '', 'severity', true)), ['CVE-2', 'CVE-3', 'CVE-10']);
    assert.deepEqual(ids(findingRows(findings, '', 'id', false)), ['CVE-2', 'CVE-3', 'CVE-10'], 'numbers in ids sort as numbers');
    assert.deepEqual(ids(findingRows(findings, 'AMD64 z', 'id', false)), ['CVE-3']);
    assert.deepEqual(ids(findingRows(findings, 'nothing-like-this', 'id', false)), []);
  });

  it("reads the timeline and record ids from an attachment's link, and only records of its own schema", () => {
    assert.deepEqual(
      attachmentIds(
        'https://dev.azure.com/contoso/6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c/_apis/build/builds/7/0a8f7ab8-4b8c-4e6b-a2ef-3c4e1c3c1a11/5b6c7d8e-1f2a-4b3c-9d4e-5f6a7b8c9d0e/attachments/containerRelease.v1/x.json',
      ),
      { timelineId: '0a8f7ab8-4b8c-4e6b-a2ef-3c4e1c3c1a11', recordId: '5b6c7d8e-1f2a-4b3c-9d4e-5f6a7b8c9d0e' },
    );
    assert.equal(attachmentIds('https://dev.azure.com/contoso/_apis/build/builds/7/attachments/x'), undefined);
    assert.equal(parseRecord(JSON.stringify(record('shop/web', 'BuildForPlatform')))?.repository, 'shop/web');
    assert.equal(parseRecord(JSON.stringify({ ...record('shop/web', 'BuildForPlatform'), schema: 'containerRelease.v2' })), undefined);
    assert.equal(parseRecord('not json'), undefined);
  });
});
