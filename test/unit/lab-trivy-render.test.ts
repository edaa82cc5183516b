import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadFixture } from '../lab/trivy/src/report';
import { buildSarif, sarifLevel, toPathUri, writeSarif } from '../lab/trivy/src/sarif';

const fixtures = path.join(__dirname, '..', 'lab', 'trivy', 'fixtures');
const golden = (name: string): string => readFileSync(path.join(fixtures, name), 'utf8');

interface SarifRun {
  tool: {
    driver: { rules: Array<{ id: string; name: string; defaultConfiguration: { level: string }; properties: Record<string, unknown> }> };
  };
  results: Array<{
    ruleId: string;
    ruleIndex: number;
    level: string;
    locations: Array<{ physicalLocation: { artifactLocation: { uri: string }; region: Record<string, number> } }>;
  }>;
  properties?: Record<string, unknown>;
}

describe('lab trivy stand-in: SARIF', () => {
  it("writes SARIF byte-identical to trivy's alpine-310.sarif.golden", () => {
    assert.equal(writeSarif(loadFixture('alpine-310'), 'dev'), golden('alpine-310.sarif.golden'));
  });

  it('maps severities to SARIF levels as pkg/report/sarif.go does', () => {
    assert.deepEqual(['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN', ''].map(sarifLevel), [
      'error',
      'error',
      'warning',
      'note',
      'note',
      'none',
    ]);
    const run = (buildSarif(loadFixture('photon-30'), '0.74.0').runs as SarifRun[])[0];
    assert.deepEqual(
      run.results.map((r) => [r.ruleId, r.level]),
      [
        ['CVE-2019-18276', 'error'],
        ['CVE-2019-5481', 'error'],
        ['CVE-2019-5481', 'error'],
      ],
    );
    assert.deepEqual(
      run.tool.driver.rules.map((r) => r.id),
      ['CVE-2019-18276', 'CVE-2019-5481'],
    );
    assert.deepEqual(
      run.results.map((r) => r.ruleIndex),
      [0, 1, 1],
    );
  });

  it('reports secrets and misconfigurations with their lines and rule names', () => {
    const secrets = (buildSarif(loadFixture('secrets'), '0.74.0').runs as SarifRun[])[0];
    assert.deepEqual(
      secrets.tool.driver.rules.map((r) => [r.id, r.name, r.defaultConfiguration.level]),
      [
        ['aws-access-key-id', 'Secret', 'error'],
        ['mysecret', 'Secret', 'error'],
      ],
    );
    assert.deepEqual(secrets.results[0].locations[0].physicalLocation.region, { startLine: 3, startColumn: 1, endLine: 3, endColumn: 1 });
    assert.equal(secrets.properties, undefined, 'run properties are for container images only');
    const dockerfile = (buildSarif(loadFixture('dockerfile'), '0.74.0').runs as SarifRun[])[0];
    assert.deepEqual(
      dockerfile.tool.driver.rules.map((r) => [r.id, r.name, r.properties['security-severity']]),
      [['DS-0002', 'Misconfiguration', '8.0']],
    );
  });

  it('reduces targets to a repository path like ToPathUri', () => {
    assert.equal(toPathUri('almalinux@sha256:08042694fffd61e6a0b3a22dadba207c8937977915ff6b1879ad744fd6638837'), 'library/almalinux');
    assert.equal(toPathUri('alpine:latest (alpine 3.13.4)'), 'library/alpine');
    assert.equal(toPathUri('docker.io/my-organization/my-app:2c6912aee7bde44b84d810aed106ca84f40e2e29'), 'my-organization/my-app');
    assert.equal(toPathUri(`contoso.azurecr.io/team/app@sha256:${'b'.repeat(64)} (debian 10.1)`), 'team/app');
  });
});
