// ScanAndRelease@1 with `evidence: attach` on the lab's quarantine-enabled registry (contoso), as the agent runs it:
// after a pass the trivy report and the SARIF are attached to the scanned digest as OCI 1.1 referrers and read back,
// the referrers (quarantined on push, like any manifest there) and the fallback tag index listing them are set
// Passed, and only then the image. Read back as an AcrPull-only identity (which sees nothing quarantined), with the
// referrers API off (the fallback tag) and on (policy referrersApi for this file's `api/` repositories only). An
// identity without push is stopped by the preflight; a 503 that persists on a referrer push leaves the image
// quarantined; and `evidence: none` turns the evidence of `release: promote` off.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type RunTaskOptions, type TaskRun, repoRoot, explainRun } from '../helpers/task-runner';
import { type LabServiceConnection, labServiceConnection, runLabTask } from '../lab/agent';
import { busyboxDockerfile, makeBuildContext } from '../lab/base';
import { type AuditEntry, LabControl } from '../lab/client';
import { nullGuid } from '../lab/emulators/acr/auth';
import { DockerClient, identityRefreshToken, ociIndexType, uniqueRepository, dockerOk } from '../lab/emulators/testkit';
import { type Lab, readLab } from '../lab/lab';
import { type Reader, assertScanEvidence, readReferrers, registryGet, trivyReportType } from './evidence-readback';

const contoso = 'contoso.azurecr.io';
const fabrikam = 'fabrikam.azurecr.io';

const ok = dockerOk;

const explain = explainRun;

describe('ScanAndRelease@1 evidence: attach on a registry that quarantines (contoso)', function () {
  this.timeout(900_000);
  let lab: Lab;
  let builder: DockerClient;
  let base: string;
  let toolsDir: string;
  let workDir: string;
  const control = new LabControl();
  const contexts: (() => void)[] = [];

  before(async () => {
    lab = readLab();
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', 'ScanAndRelease', '--no-typecheck'], {
      stdio: 'pipe',
    });
    builder = new DockerClient();
    for (const registry of [contoso, fabrikam])
      ok(builder.login(registry, nullGuid, await identityRefreshToken(lab, registry, 'builder')), `docker login to ${registry} as builder`);
    base = uniqueRepository('qevidence');
    workDir = mkdtempSync(path.join(os.tmpdir(), 'qevidence-it-'));
    toolsDir = path.join(workDir, 'tools');
    mkdirSync(toolsDir);
  });

  after(async () => {
    builder?.remove();
    for (const remove of contexts) remove();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  /** Builds FROM scratch + busybox (a unique file, so a new digest) and pushes it with docker as the builder. */
  function pushImage(registry: string, repository: string, tag: string): string {
    const context = makeBuildContext({
      lab,
      dockerfile: `${busyboxDockerfile}COPY stamp.txt /stamp.txt\n`,
      files: { 'stamp.txt': randomBytes(16).toString('hex') },
    });
    contexts.push(context.remove);
    const reference = `${registry}/${repository}:${tag}`;
    ok(
      builder.run(['buildx', 'build', '--platform', 'linux/amd64', '--provenance=false', '-t', reference, context.dir]),
      `build of ${tag}`,
    );
    const pushed = ok(builder.run(['push', reference]), `docker push of ${tag}`);
    builder.run(['image', 'rm', reference]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
    assert.ok(digest, `no digest in the output of docker push: ${pushed}`);
    return digest;
  }

  /** AcrPush + AcrQuarantineWriter on contoso: may scan, attach and release. */
  const releaser = () => labServiceConnection(lab, 'managed', 'ManagedServiceIdentity');

  function scan(inputs: RunTaskOptions['inputs'], connection: LabServiceConnection = releaser()): Promise<TaskRun> {
    return runLabTask(lab, {
      task: 'ScanAndRelease',
      inputs: { trivyDownloadBaseUrl: lab.trivy.downloadBaseUrl, trivyVersion: lab.trivy.version, ...inputs },
      connections: { azureSubscription: connection },
      variables: { 'Agent.ToolsDirectory': toolsDir },
      timeoutMs: 300_000,
    });
  }

  const state = async (repository: string, digest: string) =>
    (await control.quarantineRecord(contoso, repository, digest))?.quarantineState;

  /** As an AcrPull-only identity, which sees nothing quarantined: what it reads is released. */
  const puller = (): Reader => ({ lab, registry: contoso, identity: 'puller' });
  const readAsPuller = (repository: string, subject: string, via: 'api' | 'tag') => readReferrers(puller(), repository, subject, via);
  const get = (repository: string, pathAndQuery: string, accept?: string) => registryGet(puller(), repository, pathAndQuery, accept);

  const patches = (entries: AuditEntry[], repository: string) =>
    entries.filter(
      (e) => e.host === contoso && e.method === 'PATCH' && e.status === 200 && e.path.startsWith(`/acr/v1/${repository}/_manifests/`),
    );
  const writes = (entries: AuditEntry[], repository: string) =>
    entries.filter(
      (e) =>
        e.method !== 'GET' &&
        e.method !== 'HEAD' &&
        (e.path.startsWith(`/v2/${repository}/`) || e.path.startsWith(`/acr/v1/${repository}/`)),
    );

  /** The evidence's quarantine record: Passed, with details saying whose evidence it is. */
  async function assertReleasedEvidence(repository: string, digest: string, subject: string): Promise<void> {
    const record = await control.quarantineRecord(contoso, repository, digest);
    assert.equal(record?.quarantineState, 'Passed', `${digest} released`);
    const details = JSON.parse(record.quarantineDetails ?? '{}') as { state?: string; result?: { description?: string } };
    assert.equal(details.state, 'evidence of a passed scan');
    assert.ok(
      details.result?.description?.startsWith(`Evidence of this task's trivy scan of ${contoso}/${repository}@${subject}`),
      details.result?.description,
    );
  }

  describe('no referrers API (the fallback tag index)', () => {
    let repository: string;
    let digest: string;
    let run: TaskRun;
    let audit: AuditEntry[];

    before(async () => {
      repository = `${base}/tag`;
      digest = pushImage(contoso, repository, 'clean');
      assert.equal(await state(repository, digest), 'Quarantined');
      const mark = await control.auditMark();
      run = await scan({ image: `${contoso}/${repository}@${digest}`, evidence: 'attach' });
      audit = await control.audit(mark);
    });

    it('succeeds: the image is released (Passed), the message names the evidence', async () => {
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.equal(run.outputs.quarantineState, 'Passed');
      assert.equal(await state(repository, digest), 'Passed');
      assert.match(run.stdout, /Evidence attached to sha256:[0-9a-f]{64} \(fallback tag sha256-[0-9a-f]{64}\), read back/);
      assert.match(
        run.stdout,
        /Evidence: 2 referrer\(s\) of sha256:[0-9a-f]{64} \(fallback tag sha256-[0-9a-f]{64}\), read back and released from quarantine before the image\./,
      );
    });

    it('an AcrPull identity reads the report and the SARIF under the fallback tag, subject = the released digest', async () => {
      assertScanEvidence(await readAsPuller(repository, digest, 'tag'), digest);
    });

    it('the referrers and the fallback tag index were quarantined on push and released, with details naming the scan, before the image', async () => {
      const tagIndex = await get(repository, `manifests/${digest.replace(':', '-')}`, ociIndexType);
      const indexDigest = String(tagIndex.headers['docker-content-digest']);
      const referrers = tagIndex.json<{ manifests: { digest: string }[] }>().manifests.map((m) => m.digest);
      for (const released of [...referrers, indexDigest]) await assertReleasedEvidence(repository, released, digest);
      const patched = patches(audit, repository).map((e) => e.path.slice(e.path.lastIndexOf('/') + 1));
      assert.deepEqual(patched, [...referrers, indexDigest, digest], 'the evidence first, the image last');
    });

    it('a re-run is safe: succeeded, the image not written again, its new report attached and released', async () => {
      const mark = await control.auditMark();
      const again = await scan({ image: `${contoso}/${repository}@${digest}`, evidence: 'attach' });
      assert.equal(again.result, 'Succeeded', explain(again));
      assert.match(again.stdout, /was already released \(Passed\); nothing was written\./);
      const patched = patches(await control.audit(mark), repository).map((e) => e.path.slice(e.path.lastIndexOf('/') + 1));
      assert.ok(!patched.includes(digest), 'the image is not PATCHed again');
      const read = await readAsPuller(repository, digest, 'tag');
      assert.ok(read.filter((r) => r.descriptor.artifactType === trivyReportType).length >= 1, 'the reports are listed and pullable');
      for (const r of read) assert.equal(r.manifest.subject?.digest, digest);
    });
  });

  describe("with the referrers API (policy referrersApi on for this file's api/ repositories)", () => {
    let repository: string;
    let digest: string;
    let run: TaskRun;
    let audit: AuditEntry[];

    before(async () => {
      repository = `${base}/api/app`;
      await control.setPolicy(contoso, { referrersApi: true, referrersApiScope: `${base}/api/` });
      digest = pushImage(contoso, repository, 'clean');
      const mark = await control.auditMark();
      run = await scan({ image: `${contoso}/${repository}@${digest}`, evidence: 'attach' });
      audit = await control.audit(mark);
    });

    after(async () => {
      await control.setPolicy(contoso, { referrersApi: false, referrersApiScope: '' }).catch(() => undefined);
    });

    it('succeeds; the referrers API lists the report and the SARIF, pullable by AcrPull, subject = the released digest; no fallback tag', async () => {
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.match(run.stdout, /Evidence attached to sha256:[0-9a-f]{64} \(referrers API\), read back/);
      const evidence = assertScanEvidence(await readAsPuller(repository, digest, 'api'), digest);
      for (const e of evidence) await assertReleasedEvidence(repository, e.descriptor.digest, digest);
      assert.deepEqual(
        audit.filter((e) => e.method === 'PUT' && e.path === `/v2/${repository}/manifests/${digest.replace(':', '-')}`),
        [],
        'no fallback tag index',
      );
      assert.equal(await state(repository, digest), 'Passed');
      const patched = patches(audit, repository).map((e) => e.path.slice(e.path.lastIndexOf('/') + 1));
      assert.equal(patched.at(-1), digest, 'the image last');
    });
  });

  it('an identity without push (AcrQuarantineWriter + AcrPull) is stopped by the preflight, before trivy; nothing is written', async () => {
    const repository = `${base}/no-push`;
    const digest = pushImage(contoso, repository, 'no-push');
    const mark = await control.auditMark();
    const run = await scan(
      { image: `${contoso}/${repository}@${digest}`, evidence: 'attach' },
      labServiceConnection(lab, 'scanner', 'ServicePrincipal', 'spnKey'),
    );
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage ?? '',
      new RegExp(
        `may not push on contoso\\.azurecr\\.io/${repository} \\(to attach the evidence to it\\) \\(granted: [^)]*\\)\\. Assign it the AcrPush role on the registry`,
      ),
    );
    assert.equal(run.outputs.policyResult, undefined, 'trivy did not run');
    assert.deepEqual(writes(await control.audit(mark), repository), []);
    assert.equal(await state(repository, digest), 'Quarantined');
  });

  it('a 503 that persists on a referrer push fails the run naming it; the image stays Quarantined; the next run releases both', async () => {
    const repository = `${base}/evidence-503`;
    const digest = pushImage(contoso, repository, 'evidence-503');
    // every manifest PUT by digest in the repository but the image's own: the evidence referrers
    const fault = await control.addFault({
      host: contoso,
      method: 'PUT',
      path: `^/v2/${repository}/manifests/sha256:(?!${digest.slice('sha256:'.length)})`,
      kind: '503',
      times: -1,
    });
    const mark = await control.auditMark();
    let run: TaskRun;
    try {
      run = await scan({ image: `${contoso}/${repository}@${digest}`, evidence: 'attach' });
    } finally {
      await control.removeFault(fault);
    }
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage ?? '', /Attaching the evidence to contoso\.azurecr\.io\/.*@sha256:[0-9a-f]{64} failed: .*503/);
    assert.match(run.resultMessage ?? '', /is not released: its quarantine state was not changed/);
    const entries = await control.audit(mark);
    const served = entries.filter((e) => e.status === 503 && e.path.startsWith(`/v2/${repository}/`));
    assert.ok(served.length > 1 && served.every((e) => e.path === served[0].path), `the push was retried: ${JSON.stringify(served)}`);
    assert.deepEqual(patches(entries, repository), [], 'nothing released');
    assert.equal(await state(repository, digest), 'Quarantined');
    assert.equal(run.outputs.policyResult, 'passed', 'the scan itself passed');

    const again = await scan({ image: `${contoso}/${repository}@${digest}`, evidence: 'attach' });
    assert.equal(again.result, 'Succeeded', explain(again));
    assert.equal(await state(repository, digest), 'Passed');
    assertScanEvidence(await readAsPuller(repository, digest, 'tag'), digest);
  });

  it('release: promote with evidence: none copies and tags, and attaches nothing', async () => {
    const staging = `${base}/none/staging`;
    const release = `${base}/none/release`;
    const digest = pushImage(fabrikam, staging, 'none');
    const mark = await control.auditMark();
    const run = await scan(
      { image: `${fabrikam}/${staging}@${digest}`, release: 'promote', releaseRepository: release, releaseTags: '1.0', evidence: 'none' },
      labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
    );
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(run.outputs.releasedImage, `${fabrikam}/${release}@${digest}`);
    const puts = (await control.audit(mark)).filter(
      (e) => e.method === 'PUT' && e.path.startsWith(`/v2/${release}/manifests/`) && e.status === 201,
    );
    assert.deepEqual(
      puts.map((e) => e.path.slice(e.path.lastIndexOf('/') + 1)),
      [digest, '1.0'],
      'the image and its tag, no referrer and no fallback tag index',
    );
    const fallback = await registryGet(
      { lab, registry: fabrikam, identity: 'builder' },
      release,
      `manifests/${digest.replace(':', '-')}`,
      ociIndexType,
    );
    assert.equal(fallback.status, 404, 'no fallback tag');
    assert.doesNotMatch(run.stdout, /Evidence attached/);
  });
});
