// AcrClient against the lab's quarantine-enabled registry: a writer reads and releases a quarantined digest
// (and the release shows everywhere), a reader is refused with 403 and nothing is retried, and the PATCH's
// faults (429 then 200, 500 forever) are retried within the bound.
import { strict as assert } from 'node:assert';
import type { ManifestAttributes } from '../../src/acr/client';
import { LabControl } from '../lab/client';
import { acrAccessToken, identityRefreshToken, pushTestImage } from '../lab/emulators/testkit';
import { type Lab, readLab } from '../lab/lab';
import { labConnection, labSecrets, runDriver } from './signin-lab';

const contoso = 'contoso.azurecr.io';
const fastRetry = { attempts: 3, baseDelayMs: 200, maxDelayMs: 1000 };
const details = {
  scanner: 'trivy',
  state: 'scan passed',
  link: 'https://dev.azure.lab.test/contoso/run/1',
  result: {
    version: '0.74.0',
    summary: [
      { severity: 'Critical' as const, count: 0 },
      { severity: 'High' as const, count: 0 },
    ],
  },
};

interface AcrRun {
  before: ManifestAttributes;
  updated?: ManifestAttributes;
  after?: ManifestAttributes;
  secrets: string[];
}

describe('ACR client against the lab (quarantine)', function () {
  this.timeout(120_000);
  // The audit log and faults are shared by everyone using the lab; another test's reset() can clear them mid-test.
  this.retries(1);
  let lab: Lab;
  const control = new LabControl();
  const faults: string[] = [];

  before(() => {
    lab = readLab();
  });
  afterEach(async () => {
    for (const id of faults.splice(0)) await control.removeFault(id).catch(() => undefined);
  });

  async function quarantinedImage(): Promise<{ repository: string; digest: string }> {
    const repository = `it-acr/app-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const token = await acrAccessToken(lab, contoso, await identityRefreshToken(lab, contoso, 'builder'), [
      `repository:${repository}:pull,push`,
    ]);
    return { repository, digest: (await pushTestImage(lab, contoso, token, repository, '1')).digest };
  }
  const acr = (identity: 'scanner' | 'qreader', image: { repository: string; digest: string }, update?: object) =>
    runDriver<AcrRun>(lab, 'acr', {
      registry: contoso,
      connection: labConnection(lab, identity, 'ServicePrincipal', 'spnKey'),
      retry: fastRetry,
      ...image,
      update,
    });
  const pull = (image: { repository: string; digest: string }, reference: string) =>
    runDriver<{ digest: string }>(lab, 'registry-get', {
      registry: contoso,
      connection: labConnection(lab, 'puller', 'ServicePrincipal', 'spnKey'),
      repository: image.repository,
      reference,
      retry: fastRetry,
    });
  const patches = async (mark: number, image: { repository: string; digest: string }) =>
    (await control.audit(mark)).filter(
      (e) => e.host === contoso && e.method === 'PATCH' && e.path === `/acr/v1/${image.repository}/_manifests/${image.digest}`,
    );

  it('a quarantine writer reads the state and releases the digest; AcrPull can pull it afterwards', async () => {
    const image = await quarantinedImage();
    await assert.rejects(
      pull(image, image.digest),
      (e: Error & { status?: number }) => e.status === 403 && /The operation is disallowed/.test(e.message),
    );
    await assert.rejects(pull(image, '1'), (e: Error & { code?: string }) => e.code === 'MANIFEST_UNKNOWN');

    const mark = await control.auditMark();
    const run = await acr('scanner', image, { quarantineState: 'Passed', quarantineDetails: details });
    assert.equal(run.result.before.manifest.changeableAttributes?.quarantineState, 'Quarantined');
    assert.equal(run.result.updated?.manifest.changeableAttributes?.quarantineState, 'Passed');
    assert.equal(run.result.after?.manifest.changeableAttributes?.quarantineState, 'Passed');
    assert.deepEqual(JSON.parse(run.result.after?.manifest.changeableAttributes?.quarantineDetails ?? '{}'), details);
    const record = await control.quarantineRecord(contoso, image.repository, image.digest);
    assert.equal(record?.quarantineState, 'Passed');
    assert.deepEqual(
      (await patches(mark, image)).filter((e) => e.status === 200).map((e) => e.identity),
      ['scanner'],
      'exactly one successful PATCH, by the scanner',
    );
    const scopes = (await control.audit(mark)).filter((e) => e.host === contoso && e.path === '/oauth2/token').map((e) => e.form?.scope);
    assert.ok(scopes.length >= 2, `the challenge's scopes were asked for: ${scopes.join(' | ')}`);

    assert.equal((await pull(image, '1')).result.digest, image.digest, 'released: AcrPull pulls by tag');
    const secrets = [...labSecrets(lab), ...run.result.secrets];
    assert.deepEqual(
      secrets.filter((s) => run.log.includes(s)),
      [],
    );
    assert.deepEqual(
      run.commandLines.filter((line) => secrets.some((s) => line.includes(s))),
      [],
    );
  });

  it('a quarantine reader reads the state but may not release (no metadata_write granted), without retries', async () => {
    const image = await quarantinedImage();
    const mark = await control.auditMark();
    const error = await acr('qreader', image, { quarantineState: 'Passed' }).catch((e: Error & { status?: number; code?: string }) => e);
    assert.ok(error instanceof Error);
    assert.equal((error as { status?: number }).status, 401);
    assert.match(error.message, /granted this identity no repository:it-acr\/.*:metadata_write: insufficient_scope/);
    assert.deepEqual(
      (await patches(mark, image)).map((e) => e.status),
      [401, 401],
      'one challenge, one try with a fresh token, no retry',
    );
    assert.equal((await control.quarantineRecord(contoso, image.repository, image.digest))?.quarantineState, 'Quarantined');
    const reads = (await control.audit(mark)).filter(
      (e) => e.method === 'GET' && e.path === `/acr/v1/${image.repository}/_manifests/${image.digest}` && e.status === 200,
    );
    assert.equal(reads.length, 1, 'the reader could read the attributes');
  });

  it('an identity that may push but is no quarantine writer is refused with 403 DENIED, without retries', async () => {
    const image = await quarantinedImage();
    const mark = await control.auditMark();
    // The builder holds only AcrPush: its token carries metadata_write, but it is no quarantine writer. It cannot
    // read a quarantined digest's attributes either, hence the driver's PATCH without a GET first.
    const error = await runDriver(lab, 'acr-patch', {
      registry: contoso,
      connection: labConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
      retry: fastRetry,
      ...image,
      update: { quarantineState: 'Passed' },
    }).catch((e: Error & { status?: number; code?: string }) => e);
    assert.ok(error instanceof Error);
    assert.equal((error as { status?: number }).status, 403);
    assert.equal((error as { code?: string }).code, 'DENIED');
    assert.match(error.message, /AcrQuarantineWriter/);
    assert.deepEqual(
      (await patches(mark, image)).map((e) => e.status),
      [401, 403],
      'one challenge, one refused PATCH, no retry',
    );
    assert.equal((await control.quarantineRecord(contoso, image.repository, image.digest))?.quarantineState, 'Quarantined');
  });

  it('PATCH answered 429 then 200 is retried and takes', async () => {
    const image = await quarantinedImage();
    faults.push(
      await control.addFault({
        host: contoso,
        method: 'PATCH',
        path: `^/acr/v1/${image.repository}/_manifests/`,
        kind: '429',
        times: 1,
        retryAfter: 1,
      }),
    );
    const mark = await control.auditMark();
    const run = await acr('scanner', image, { quarantineState: 'Failed', quarantineDetails: { ...details, state: 'scan failed' } });
    assert.equal(run.result.after?.manifest.changeableAttributes?.quarantineState, 'Failed');
    const statuses = (await patches(mark, image)).map((e) => e.status);
    assert.equal(statuses[0], 429);
    assert.equal(statuses.at(-1), 200);
    assert.match(run.log, /\[warn\] contoso\.azurecr\.io: PATCH answered 429/);
  });

  it('PATCH answered 500 forever fails after the bound with the reason, and the digest stays quarantined', async () => {
    const image = await quarantinedImage();
    faults.push(
      await control.addFault({ host: contoso, method: 'PATCH', path: `^/acr/v1/${image.repository}/_manifests/`, kind: '500', times: -1 }),
    );
    const mark = await control.auditMark();
    await assert.rejects(
      acr('scanner', image, { quarantineState: 'Passed' }),
      (e: Error & { status?: number }) =>
        e.status === 500 && /PATCH https:\/\/contoso\.azurecr\.io\/acr\/v1\/.* answered 500/.test(e.message),
    );
    assert.equal((await patches(mark, image)).length, fastRetry.attempts);
    assert.equal((await control.quarantineRecord(contoso, image.repository, image.digest))?.quarantineState, 'Quarantined');
  });
});
