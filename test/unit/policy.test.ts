import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import {
  combineEvaluations,
  describeFinding,
  evaluatePolicy,
  parseSeverityList,
  thresholdGaps,
  type PolicyEvaluation,
  type SeverityCounts,
} from '../../src/release/policy';
import { parseTrivyReport, type TrivyReport } from '../../src/trivy/report';

const fixtures = path.resolve(__dirname, '..', 'lab', 'trivy', 'fixtures');
const load = (name: string): TrivyReport => parseTrivyReport(readFileSync(path.join(fixtures, name), 'utf8'));
const counts = (partial: Partial<SeverityCounts>): SeverityCounts => ({ CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0, ...partial });
const DEFAULT = { threshold: parseSeverityList(['CRITICAL', 'HIGH']), ignoreUnfixed: false };

// Counted by reading each fixture (test/lab/trivy/fixtures, copies of aquasecurity/trivy's integration goldens):
// every Vulnerabilities/Secrets/Misconfigurations entry, its Severity, FixedVersion and Status.
interface Expected {
  vulnerabilities: Partial<SeverityCounts>;
  secrets?: Partial<SeverityCounts>;
  misconfigurations?: Partial<SeverityCounts>;
  /** violations under CRITICAL,HIGH, most severe first: "ID package" */
  violations: string[];
  /** vulnerabilities without a FixedVersion (dropped by ignoreUnfixed) */
  unfixed: number;
}

const table: Record<string, Expected> = {
  'alpine-310.json.golden': { vulnerabilities: { MEDIUM: 4 }, violations: [], unfixed: 0 },
  'busybox-with-lockfile.json.golden': { vulnerabilities: { HIGH: 1, MEDIUM: 1 }, violations: ['CVE-2019-15542 ammonia'], unfixed: 0 },
  'centos-7.json.golden': { vulnerabilities: { MEDIUM: 1, LOW: 2 }, violations: [], unfixed: 1 },
  'debian-buster.json.golden': { vulnerabilities: { CRITICAL: 1, LOW: 1 }, violations: ['CVE-2019-18224 libidn2-0'], unfixed: 1 },
  'distroless-base.json.golden': { vulnerabilities: { MEDIUM: 2, LOW: 2 }, violations: [], unfixed: 2 },
  'dockerfile.json.golden': { vulnerabilities: {}, misconfigurations: { HIGH: 1 }, violations: ['DS-0002 '], unfixed: 0 },
  'photon-30.json.golden': {
    vulnerabilities: { CRITICAL: 2, HIGH: 1 },
    violations: ['CVE-2019-5481 curl', 'CVE-2019-5481 curl-libs', 'CVE-2019-18276 bash'],
    unfixed: 0,
  },
  'reporting-md-alpine-latest.json': { vulnerabilities: { LOW: 2 }, violations: [], unfixed: 0 },
  'secrets.json.golden': {
    vulnerabilities: {},
    secrets: { CRITICAL: 1, HIGH: 1 },
    violations: ['aws-access-key-id ', 'mysecret '],
    unfixed: 0,
  },
  'sl-micro-rancher5.4.json.golden': { vulnerabilities: {}, violations: [], unfixed: 0 },
  'ubuntu-1804.json.golden': { vulnerabilities: { MEDIUM: 4, LOW: 1 }, violations: [], unfixed: 1 },
};

const violationNames = (e: PolicyEvaluation) => e.violations.map((v) => `${v.id} ${v.packageName ?? ''}`);

describe('policy over every trivy fixture report', () => {
  it('covers every JSON fixture in the folder', () => {
    const files = readdirSync(fixtures).filter((f) => /\.json(\.golden)?$/.test(f));
    assert.deepEqual(files.sort(), Object.keys(table).sort());
  });

  for (const [file, expected] of Object.entries(table)) {
    it(`${file}: counts per severity, violations and decision under CRITICAL,HIGH`, () => {
      const evaluation = evaluatePolicy(load(file), DEFAULT);
      assert.deepEqual(evaluation.counts.vulnerabilities, counts(expected.vulnerabilities));
      assert.deepEqual(evaluation.counts.secrets, counts(expected.secrets ?? {}));
      assert.deepEqual(evaluation.counts.misconfigurations, counts(expected.misconfigurations ?? {}));
      assert.deepEqual(violationNames(evaluation), expected.violations);
      assert.equal(evaluation.passed, expected.violations.length === 0);
      assert.equal(evaluation.ignoredUnfixed, 0);
    });

    it(`${file}: ignoreUnfixed drops exactly the vulnerabilities without a fix`, () => {
      const all = evaluatePolicy(load(file), DEFAULT);
      const fixedOnly = evaluatePolicy(load(file), { ...DEFAULT, ignoreUnfixed: true });
      assert.equal(fixedOnly.ignoredUnfixed, expected.unfixed);
      const total = (c: SeverityCounts) => Object.values(c).reduce((a, b) => a + b, 0);
      assert.equal(total(fixedOnly.counts.vulnerabilities), total(all.counts.vulnerabilities) - expected.unfixed);
      assert.ok(fixedOnly.findings.every((f) => f.kind !== 'vulnerability' || f.fixedVersion));
    });
  }

  it('ignoreUnfixed removes the unfixed LOW bash finding of debian-buster but keeps the fixed CRITICAL', () => {
    const evaluation = evaluatePolicy(load('debian-buster.json.golden'), { ...DEFAULT, ignoreUnfixed: true });
    assert.deepEqual(evaluation.counts.vulnerabilities, counts({ CRITICAL: 1 }));
    assert.equal(evaluation.passed, false);
  });

  it('a report with no Results key is a clean report', () => {
    // trivy omits Results when nothing is found (its alpine-39-skip golden has this shape).
    const report = parseTrivyReport(
      JSON.stringify({
        SchemaVersion: 2,
        CreatedAt: '2021-08-25T12:20:30.000000005Z',
        ArtifactName: 'contoso.azurecr.io/app@sha256:' + 'a'.repeat(64),
        ArtifactType: 'container_image',
        Metadata: { OS: { Family: 'alpine', Name: '3.9.4' }, ImageID: 'sha256:' + 'b'.repeat(64) },
      }),
    );
    assert.equal(report.Results, undefined);
    const evaluation = evaluatePolicy(report, DEFAULT);
    assert.equal(evaluation.passed, true);
    assert.deepEqual(evaluation.counts.total, counts({}));
    assert.deepEqual(evaluation.findings, []);
  });

  it('a wider threshold makes the MEDIUM findings of alpine-310 violations', () => {
    const evaluation = evaluatePolicy(load('alpine-310.json.golden'), {
      threshold: parseSeverityList(['critical', 'high', 'medium']),
      ignoreUnfixed: false,
    });
    assert.equal(evaluation.violations.length, 4);
    assert.equal(evaluation.passed, false);
  });

  it('secrets violate the policy whatever their severity and the threshold', () => {
    const evaluation = evaluatePolicy(load('secrets.json.golden'), { threshold: ['UNKNOWN'], ignoreUnfixed: false });
    assert.deepEqual(
      evaluation.violations.map((v) => [v.kind, v.id, v.severity, v.line]),
      [
        ['secret', 'aws-access-key-id', 'CRITICAL', 3],
        ['secret', 'mysecret', 'HIGH', 7],
      ],
    );
  });

  it('failed misconfigurations violate only at threshold severities; PASS ones are not findings', () => {
    const report = load('dockerfile.json.golden');
    assert.equal(evaluatePolicy(report, { threshold: ['CRITICAL'], ignoreUnfixed: false }).passed, true);
    const withPass = structuredClone(report);
    withPass.Results![0].Misconfigurations!.push({ ID: 'DS-0001', Severity: 'CRITICAL', Status: 'PASS', Title: 'fine' });
    const evaluation = evaluatePolicy(withPass, DEFAULT);
    assert.deepEqual(evaluation.counts.misconfigurations, counts({ HIGH: 1 }));
  });

  it('UNKNOWN and unheard-of severities count as UNKNOWN and violate only when UNKNOWN is in the threshold', () => {
    const report = load('alpine-310.json.golden');
    const vulns = report.Results![0].Vulnerabilities!;
    vulns[0].Severity = 'UNKNOWN';
    vulns[1].Severity = 'SEVERE';
    const lenient = evaluatePolicy(report, DEFAULT);
    assert.deepEqual(lenient.counts.vulnerabilities, counts({ MEDIUM: 2, UNKNOWN: 2 }));
    assert.equal(lenient.passed, true);
    assert.deepEqual(lenient.unrecognizedSeverities, ['SEVERE']);
    const strict = evaluatePolicy(report, { threshold: ['CRITICAL', 'HIGH', 'UNKNOWN'], ignoreUnfixed: false });
    assert.equal(strict.violations.length, 2);
    assert.match(describeFinding(strict.violations.find((v) => v.reportedSeverity)!), /reported as 'SEVERE'/);
  });

  it('licenses are counted but never violate', () => {
    const report = load('sl-micro-rancher5.4.json.golden');
    report.Results![0].Licenses = [{ Name: 'GPL-3.0', Severity: 'HIGH', Category: 'restricted', PkgName: 'bash' }];
    const evaluation = evaluatePolicy(report, DEFAULT);
    assert.equal(evaluation.counts.licenses.HIGH, 1);
    assert.equal(evaluation.counts.total.HIGH, 0);
    assert.equal(evaluation.passed, true);
  });

  it('counts findings the ignore file suppressed (trivy --show-suppressed)', () => {
    const report = load('alpine-310.json.golden');
    report.Results![0].ExperimentalModifiedFindings = [{ Type: 'vulnerability', Status: 'ignored', Statement: '', Source: '.trivyignore' }];
    assert.equal(evaluatePolicy(report, DEFAULT).suppressed, 1);
  });

  it('the log line of a violation has ID, package, installed, fixed, severity and title', () => {
    const [first] = evaluatePolicy(load('debian-buster.json.golden'), DEFAULT).violations;
    assert.equal(
      describeFinding(first),
      'CRITICAL CVE-2019-18224  libidn2-0 2.0.5-1 -> 2.0.5-1+deb10u1  libidn2: heap-based buffer overflow in idn2_to_ascii_4i in lib/lookup.c',
    );
  });

  it('combines platform evaluations of an index: same finding once, any failure fails', () => {
    const photon = evaluatePolicy(load('photon-30.json.golden'), DEFAULT);
    const alpine = evaluatePolicy(load('alpine-310.json.golden'), DEFAULT);
    const combined = combineEvaluations([photon, photon, alpine]);
    assert.deepEqual(combined.counts.vulnerabilities, counts({ CRITICAL: 2, HIGH: 1, MEDIUM: 4 }));
    assert.equal(combined.violations.length, 3);
    assert.equal(combined.passed, false);
    assert.equal(combineEvaluations([alpine, alpine]).passed, true);
  });
});

describe('severity threshold input', () => {
  it('accepts any case and drops duplicates', () => {
    assert.deepEqual(parseSeverityList(['high', 'CRITICAL', 'High']), ['HIGH', 'CRITICAL']);
  });
  it('refuses an unknown severity, naming it and the valid ones', () => {
    assert.throws(
      () => parseSeverityList(['CRITICAL', 'SEVERE']),
      /'SEVERE' is not a trivy severity\. Use a comma-separated list of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN/,
    );
  });
  it('refuses an empty list', () => {
    assert.throws(() => parseSeverityList([]), /at least one severity/);
  });
  it('finds the gaps of a threshold that skips a more severe level', () => {
    assert.deepEqual(thresholdGaps(['HIGH']), ['CRITICAL']);
    assert.deepEqual(thresholdGaps(['MEDIUM', 'CRITICAL']), ['HIGH']);
    assert.deepEqual(thresholdGaps(['CRITICAL', 'HIGH']), []);
    assert.deepEqual(thresholdGaps(['UNKNOWN']), []);
  });
});
