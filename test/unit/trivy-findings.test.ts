// The task decides from the report's head and the findings trivy renders with FINDINGS_TEMPLATE instead of the
// whole JSON report (src/trivy/findings.ts). These tests prove, on every trivy fixture, that both ways decide
// alike: every threshold the policy can be given, with ignoreUnfixed on and off. The template is rendered by the
// lab stand-in's Go text/template subset (test/lab/trivy/src/template.ts), which fails on anything it does not know.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { evaluatePolicy } from '../../src/release/policy';
import { FINDINGS_TEMPLATE, parseFindings, readReportHead, reportFromParts } from '../../src/trivy/findings';
import { type Severity, TrivyReportError, parseTrivyReport } from '../../src/trivy/report';
import { hasFindings } from '../../src/trivy/scan';
import { renderTemplate } from '../lab/trivy/src/template';

const root = path.resolve(__dirname, '..', '..');
// The fixtures of the lab, and the shared copy next to the main checkout when there is one.
const fixtureDirs = [path.join(root, 'test', 'lab', 'trivy', 'fixtures'), path.resolve(root, '..', 'shared', 'fixtures', 'trivy')].filter(
  existsSync,
);
const fixtures = [
  ...new Map(
    fixtureDirs.flatMap((dir) =>
      readdirSync(dir)
        .filter((f) => /\.json(\.golden)?$/.test(f))
        .map((f) => [readFileSync(path.join(dir, f), 'utf8'), path.join(dir, f)] as const),
    ),
  ).values(),
];

const thresholds: Severity[][] = [
  ['CRITICAL'],
  ['CRITICAL', 'HIGH'],
  ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'],
  ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'],
  ['UNKNOWN'],
];

describe('findings from the template decide as the whole report does', () => {
  it('has fixtures to compare', () => assert.ok(fixtures.length >= 10, `${fixtures.length} fixtures`));

  for (const file of fixtures) {
    it(path.basename(file), () => {
      const text = readFileSync(file, 'utf8');
      const whole = parseTrivyReport(text);
      const rendered = renderTemplate(FINDINGS_TEMPLATE, (JSON.parse(text) as { Results?: unknown[] }).Results);
      assert.ok(rendered.length < text.length, 'the rendered findings are smaller than the report');
      // a small chunk size, so keys and strings cross chunk boundaries
      const slim = reportFromParts(readReportHead(file, 7), parseFindings(rendered));
      assert.equal(hasFindings(slim), hasFindings(whole));
      for (const threshold of thresholds) {
        for (const ignoreUnfixed of [false, true]) {
          assert.deepEqual(
            evaluatePolicy(slim, { threshold, ignoreUnfixed }),
            evaluatePolicy(whole, { threshold, ignoreUnfixed }),
            `${threshold.join(',')} ignoreUnfixed ${ignoreUnfixed}`,
          );
        }
      }
    });
  }

  it('would notice a finding field the template leaves out (the comparison can fail)', () => {
    const file = fixtures.find((f) => f.includes('alpine-310'))!;
    const text = readFileSync(file, 'utf8');
    const rendered = renderTemplate(FINDINGS_TEMPLATE.replace(/\{\{if \.FixedVersion\}\}.*?\{\{end\}\}/, ''), JSON.parse(text).Results);
    const slim = reportFromParts(readReportHead(file), parseFindings(rendered));
    const policy = { threshold: ['CRITICAL', 'HIGH'] as Severity[], ignoreUnfixed: true };
    assert.notDeepEqual(evaluatePolicy(slim, policy), evaluatePolicy(parseTrivyReport(text), policy));
  });
});

describe('readReportHead', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'report-head-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const write = (text: string) => {
    const file = path.join(dir, 'report.json');
    writeFileSync(file, text);
    return file;
  };

  it('reads every field before Results and stops there', () => {
    for (const file of fixtures) {
      const { Results: _results, ...head } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      for (const chunk of [1, 3, 64, 65_536]) assert.deepEqual(readReportHead(file, chunk), head, `${file} in chunks of ${chunk}`);
    }
  });

  it('does not take "Results" inside a value, a nested object or an escaped string for the key', () => {
    const head = {
      SchemaVersion: 2,
      ArtifactName: 'x "Results": [',
      ArtifactType: 'container_image',
      Metadata: { Results: ['{'], Note: 'a \\"quoted\\" \\\\ Results' },
    };
    const file = write(`${JSON.stringify(head, null, 2).slice(0, -2)},\n  "Results": [ {"Target": "t"} ]\n}\n`);
    for (const chunk of [1, 2, 5, 100]) assert.deepEqual(readReportHead(file, chunk), head);
  });

  it('reads a report without Results (nothing found: trivy leaves the key out) whole', () => {
    const report = { SchemaVersion: 2, ArtifactName: 'a@sha256:1', ArtifactType: 'container_image' };
    assert.deepEqual(readReportHead(write(JSON.stringify(report)), 4), report);
  });

  it('ignores anything after Results, so a head field written there is missing and the report is refused', () => {
    const file = write('{"ArtifactName":"a","ArtifactType":"container_image","Results":[],"SchemaVersion":2}');
    assert.throws(
      () => reportFromParts(readReportHead(file), []),
      (e: Error) => e instanceof TrivyReportError && /SchemaVersion/.test(e.message),
    );
  });

  it('refuses what is not JSON, or not an object', () => {
    assert.throws(() => readReportHead(write('this is not json')), /the output is not JSON/);
    assert.throws(() => readReportHead(write('[1, 2]')), TrivyReportError);
    assert.throws(() => readReportHead(write('')), /the output is not JSON/);
  });
});

describe('parseFindings', () => {
  it('refuses what the template did not render, and findings without the fields the policy needs', () => {
    assert.throws(() => parseFindings('FATAL'), /rendered findings are not JSON/);
    assert.throws(() => parseFindings('{"Results":"none"}'), /no Results list/);
    const head = { SchemaVersion: 2, ArtifactName: 'a', ArtifactType: 'container_image' };
    assert.throws(
      () =>
        reportFromParts(head, parseFindings('{"Results":[{"Target":"t","Vulnerabilities":[{"VulnerabilityID":"CVE-1","PkgName":"p"}]}]}')),
      /has no Severity/,
    );
  });
});
