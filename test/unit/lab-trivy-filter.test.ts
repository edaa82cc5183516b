import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { type FilterOptions, emptyIgnoreConfig, filterReport, globMatch, loadIgnoreFile } from '../lab/trivy/src/filter';
import { Logger } from '../lab/trivy/src/log';
import { loadFixture } from '../lab/trivy/src/report';
import { type Report, resultsFailed } from '../lab/trivy/src/types';
import { tempDir } from '../lab/trivy/testkit';

const quiet = new Logger({ quiet: true, write: () => undefined });

function options(changes: Partial<FilterOptions> = {}): FilterOptions {
  return {
    ignoreUnfixed: false,
    showSuppressed: false,
    scanners: ['vuln', 'secret', 'misconfig', 'license'],
    ignore: emptyIgnoreConfig(),
    ...changes,
  };
}

function vulnIds(report: Report): string[] {
  return (report.Results ?? []).flatMap((r) => (r.Vulnerabilities ?? []).map((v) => `${v.PkgName}:${v.VulnerabilityID}`));
}

function ignoreFile(name: string, content: string): string {
  const file = path.join(tempDir('lab-trivy-ignore-'), name);
  writeFileSync(file, content);
  return file;
}

describe('lab trivy stand-in: result filters', () => {
  it('keeps a fixture unchanged when nothing is filtered (the goldens are trivy output already)', () => {
    for (const name of ['alpine-310', 'debian-buster', 'centos-7', 'photon-30', 'secrets', 'dockerfile']) {
      const original = loadFixture(name);
      const filtered = loadFixture(name);
      filterReport(filtered, options());
      assert.deepEqual(filtered.Results, original.Results, name);
    }
  });

  it('--ignore-unfixed drops every vulnerability whose status is not "fixed" and keeps the emptied result', () => {
    const report = loadFixture('debian-buster');
    filterReport(report, options({ ignoreUnfixed: true }));
    assert.deepEqual(vulnIds(report), ['libidn2-0:CVE-2019-18224']);
    const distroless = loadFixture('distroless-base');
    filterReport(distroless, options({ ignoreUnfixed: true }));
    assert.equal(vulnIds(distroless).length, 2);
    const alpine = loadFixture('alpine-310');
    alpine.Results![0].Vulnerabilities = alpine.Results![0].Vulnerabilities!.map((v) => ({ ...v, Status: 'affected' }));
    filterReport(alpine, options({ ignoreUnfixed: true }));
    assert.equal(alpine.Results?.length, 1);
    assert.equal(alpine.Results?.[0].Vulnerabilities, undefined);
    assert.equal(resultsFailed(alpine.Results), false);
  });

  it('an empty severity becomes UNKNOWN, as trivy writes it', () => {
    const report = loadFixture('alpine-310');
    report.Results![0].Vulnerabilities![0].Severity = '';
    filterReport(report, options());
    assert.ok(report.Results![0].Vulnerabilities!.some((v) => v.Severity === 'UNKNOWN'));
  });

  it('applies a plain .trivyignore: ids, comments, and exp: dates (expired entries no longer ignore)', () => {
    const file = ignoreFile('.trivyignore', '# accepted risks\nCVE-2019-18224 exp:2999-01-01\n\nCVE-2019-18276 exp:2001-01-01\n');
    const report = loadFixture('debian-buster');
    filterReport(report, options({ ignore: loadIgnoreFile(file, quiet) }));
    assert.deepEqual(vulnIds(report), ['bash:CVE-2019-18276']);
  });

  it('applies .trivyignore.yaml by kind, paths and statement, and shows suppressed findings on request', () => {
    const file = ignoreFile(
      '.trivyignore.yaml',
      [
        'vulnerabilities:',
        '  - id: CVE-2019-1549',
        '    statement: not reachable',
        '  - id: CVE-2019-1551',
        '    paths: ["other/**"]',
        'secrets:',
        '  - id: aws-access-key-id',
        '    paths: ["deploy.sh"]',
        '  - id: mysecret',
        '    expired_at: 2001-01-01',
        '',
      ].join('\n'),
    );
    const ignore = loadIgnoreFile(file, quiet);
    const alpine = loadFixture('alpine-310');
    filterReport(alpine, options({ ignore, showSuppressed: true }));
    assert.deepEqual(vulnIds(alpine), ['libcrypto1.1:CVE-2019-1551', 'libssl1.1:CVE-2019-1551']);
    const suppressed = alpine.Results?.[0].ExperimentalModifiedFindings ?? [];
    assert.equal(suppressed.length, 2);
    assert.deepEqual(
      [suppressed[0].Type, suppressed[0].Status, suppressed[0].Statement, suppressed[0].Source],
      ['vulnerability', 'ignored', 'not reachable', file],
    );
    const secrets = loadFixture('secrets');
    filterReport(secrets, options({ ignore }));
    assert.deepEqual(
      secrets.Results?.[0].Secrets?.map((s) => s.RuleID),
      ['mysecret'],
    );
  });

  it('a broken .trivyignore.yaml is an error naming the file', () => {
    const file = ignoreFile('bad.yaml', 'vulnerabilities: [\n');
    assert.throws(
      () => loadIgnoreFile(file, quiet),
      (e: Error) => e.message.startsWith(`${file} parse error: yaml decode error`),
    );
  });

  it('drops results of scanners that were not asked for (--scanners); no result left means no Results key', () => {
    const secrets = loadFixture('secrets');
    filterReport(secrets, options({ scanners: ['vuln'] }));
    assert.equal(secrets.Results, undefined);
    const dockerfile = loadFixture('dockerfile');
    filterReport(dockerfile, options({ scanners: ['vuln', 'secret'] }));
    assert.equal(dockerfile.Results, undefined);
    const both = loadFixture('dockerfile');
    filterReport(both, options({ scanners: ['misconfig'] }));
    assert.equal(both.Results?.length, 1);
  });

  it('recounts the misconfiguration summary: an ignored failure becomes an exception and no longer fails', () => {
    const report = loadFixture('dockerfile');
    const file = ignoreFile('.trivyignore', 'DS-0002\n');
    filterReport(report, options({ ignore: loadIgnoreFile(file, quiet) }));
    assert.deepEqual(report.Results?.[0].MisconfSummary, { Successes: 26, Exceptions: 1 });
    assert.equal(report.Results?.[0].Misconfigurations, undefined);
    assert.equal(resultsFailed(report.Results), false);
    const kept = loadFixture('dockerfile');
    filterReport(kept, options());
    assert.deepEqual(kept.Results?.[0].MisconfSummary, { Successes: 26, Failures: 1 });
    assert.equal(resultsFailed(kept.Results), true);
  });

  it('deduplicates and sorts like trivy (package, version, higher severity first, id)', () => {
    const report = loadFixture('alpine-310');
    const vulns = report.Results?.[0].Vulnerabilities ?? [];
    report.Results![0].Vulnerabilities = [
      vulns[3],
      { ...vulns[0] },
      vulns[1],
      vulns[0],
      { ...vulns[2], Severity: 'CRITICAL', VulnerabilityID: 'CVE-2000-0001' },
    ];
    filterReport(report, options());
    assert.deepEqual(vulnIds(report), [
      'libcrypto1.1:CVE-2019-1549',
      'libcrypto1.1:CVE-2019-1551',
      'libssl1.1:CVE-2000-0001',
      'libssl1.1:CVE-2019-1551',
    ]);
  });

  it('matches ignore paths with doublestar globs', () => {
    assert.equal(globMatch('**/Cargo.lock', 'app/sub/Cargo.lock'), true);
    assert.equal(globMatch('app/*.lock', 'app/sub/Cargo.lock'), false);
    assert.equal(globMatch('deploy.?h', 'deploy.sh'), true);
  });
});
