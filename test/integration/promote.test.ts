// ScanAndRelease@1 with release: promote, as the agent runs it, against the lab: fabrikam (no quarantine) holds a
// staging and a release repository; a multi-platform image is pushed to staging with docker, a signature-like
// referrer is attached to it (the fallback tag, as the lab's registry has no referrers API), and the task copies the
// scanned digest to the release repository. The emulator's audit log shows what travelled. The evidence (trivy
// report, SARIF, SBOM) is read back both ways: through the fallback tag on a registry without the referrers API (the
// lab's default), and through the API where the emulator's policy `referrersApi` serves it (this suite's `api/`
// repositories only, so other suites keep the default).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type RunTaskOptions, type TaskRun, repoRoot, explainRun } from '../helpers/task-runner';
import { type LabServiceConnection, labServiceConnection, runLabTask } from '../lab/agent';
import { busyboxDockerfile, makeBuildContext } from '../lab/base';
import { type AuditEntry, LabControl } from '../lab/client';
import { ensureSbomGenerator } from '../lab/sbom-generator';
import { nullGuid } from '../lab/emulators/acr/auth';
import {
  DockerClient,
  acrAccessToken,
  identityRefreshToken,
  labRequest,
  ociIndexType,
  ociManifestType,
  uniqueRepository,
  uploadBlob,
  dockerOk,
} from '../lab/emulators/testkit';
import { type Lab, readLab } from '../lab/lab';
import { type ReadEvidence, assertScanEvidence, manifestAccept, readReferrers } from './evidence-readback';

const fabrikam = 'fabrikam.azurecr.io';
const contoso = 'contoso.azurecr.io';
const signatureType = 'application/vnd.cncf.notary.signature';
const spdxType = 'application/spdx+json';

const ok = dockerOk;

const explain = explainRun;

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe('ScanAndRelease@1 release: promote against the lab', function () {
  this.timeout(900_000);
  let lab: Lab;
  let builder: DockerClient;
  let base: string;
  let staging: string;
  let release: string;
  let workDir: string;
  let toolsDir: string;
  const control = new LabControl();
  const contexts: (() => void)[] = [];

  before(async () => {
    lab = readLab();
    for (const task of ['ScanAndRelease', 'BuildForPlatform'])
      execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', task, '--no-typecheck'], { stdio: 'pipe' });
    builder = new DockerClient();
    ok(builder.login(fabrikam, nullGuid, await identityRefreshToken(lab, fabrikam, 'builder')), 'docker login to fabrikam as builder');
    ok(builder.login(contoso, nullGuid, await identityRefreshToken(lab, contoso, 'builder')), 'docker login to contoso as builder');
    base = uniqueRepository('promote');
    staging = `${base}/staging`;
    release = `${base}/release`;
    workDir = mkdtempSync(path.join(os.tmpdir(), 'promote-it-'));
    toolsDir = path.join(workDir, 'tools');
    mkdirSync(toolsDir);
  });

  after(async () => {
    builder?.remove();
    for (const remove of contexts) remove();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    await control.clearFaults().catch(() => undefined);
  });

  /** Builds FROM scratch + busybox with labels for the trivy stand-in and pushes it with docker; returns the digest. */
  function pushImage(
    registry: string,
    repository: string,
    tag: string,
    labels: Record<string, string> = {},
    platforms = 'linux/amd64',
  ): string {
    const labelLines = Object.entries(labels).map(([k, v]) => `LABEL ${k}="${v}"`);
    const context = makeBuildContext({
      lab,
      dockerfile: `${busyboxDockerfile}COPY stamp.txt /stamp.txt\n${labelLines.join('\n')}\n`,
      files: { 'stamp.txt': randomBytes(16).toString('hex') },
    });
    contexts.push(context.remove);
    const reference = `${registry}/${repository}:${tag}`;
    const args = ['buildx', 'build', '--platform', platforms, '-t', reference];
    if (!platforms.includes(',')) args.push('--provenance=false');
    ok(builder.run([...args, context.dir]), `buildx build of ${tag}`);
    const pushed = ok(builder.run(['push', reference]), `docker push of ${tag}`);
    builder.run(['image', 'rm', reference]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
    assert.ok(digest, `no digest in the output of docker push: ${pushed}`);
    return digest;
  }

  /** Attaches a referrer (subject = digest) in staging and lists it under the fallback tag, as a client of a registry without the API does. */
  async function attachSignature(subject: string): Promise<string> {
    const token = await acrAccessToken(lab, fabrikam, await identityRefreshToken(lab, fabrikam, 'builder'), [
      `repository:${staging}:pull,push`,
    ]);
    const auth = { Authorization: `Bearer ${token}` };
    const empty = Buffer.from('{}');
    const layer = randomBytes(32);
    await uploadBlob(lab, fabrikam, token, staging, empty);
    await uploadBlob(lab, fabrikam, token, staging, layer);
    const subjectHead = await labRequest(lab, `https://${fabrikam}/v2/${staging}/manifests/${subject}`, {
      method: 'HEAD',
      headers: { ...auth, Accept: manifestAccept },
    });
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: ociManifestType,
        artifactType: signatureType,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
        layers: [{ mediaType: 'application/octet-stream', digest: sha256(layer), size: layer.length }],
        subject: {
          mediaType: String(subjectHead.headers['content-type']),
          digest: subject,
          size: Number(subjectHead.headers['content-length']),
        },
      }),
    );
    const digest = sha256(manifest);
    const put = await labRequest(lab, `https://${fabrikam}/v2/${staging}/manifests/${digest}`, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': ociManifestType },
      body: manifest,
    });
    assert.equal(put.status, 201, put.text);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: ociIndexType,
        manifests: [{ mediaType: ociManifestType, digest, size: manifest.length, artifactType: signatureType }],
      }),
    );
    const tagged = await labRequest(lab, `https://${fabrikam}/v2/${staging}/manifests/${subject.replace(':', '-')}`, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': ociIndexType },
      body: index,
    });
    assert.equal(tagged.status, 201, tagged.text);
    return digest;
  }

  const builderConnection = () => labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey');

  function promoteRun(inputs: RunTaskOptions['inputs'], options: { connection?: LabServiceConnection } = {}): Promise<TaskRun> {
    return runLabTask(lab, {
      task: 'ScanAndRelease',
      inputs: {
        trivyDownloadBaseUrl: lab.trivy.downloadBaseUrl,
        trivyVersion: lab.trivy.version,
        release: 'promote',
        releaseRepository: release,
        releaseTags: '1.0\nlatest',
        ...inputs,
      },
      connections: { azureSubscription: options.connection ?? builderConnection() },
      variables: { 'Agent.ToolsDirectory': toolsDir },
      timeoutMs: 300_000,
    });
  }

  /** A manifest of the release repository as the builder sees it: its digest, or undefined. */
  async function releaseHead(reference: string, repository = release, registry = fabrikam): Promise<string | undefined> {
    const token = await acrAccessToken(lab, registry, await identityRefreshToken(lab, registry, 'builder'), [
      `repository:${repository}:pull`,
    ]);
    const answer = await labRequest(lab, `https://${registry}/v2/${repository}/manifests/${reference}`, {
      method: 'HEAD',
      headers: { Authorization: `Bearer ${token}`, Accept: manifestAccept },
    });
    return answer.status === 200 ? String(answer.headers['docker-content-digest']) : undefined;
  }

  const toRelease = (entries: AuditEntry[], repository = release) => entries.filter((e) => e.path.startsWith(`/v2/${repository}/`));

  /** A GET of the registry API as the builder (pull on the repository). */
  async function pull(repository: string, pathAndQuery: string, accept = manifestAccept) {
    const token = await acrAccessToken(lab, fabrikam, await identityRefreshToken(lab, fabrikam, 'builder'), [
      `repository:${repository}:pull`,
    ]);
    return labRequest(lab, `https://${fabrikam}/v2/${repository}/${pathAndQuery}`, {
      headers: { Authorization: `Bearer ${token}`, Accept: accept },
    });
  }

  /** The evidence under `subject` as the builder reads it (evidence-readback.ts). */
  const readBack = (repository: string, subject: string, via: 'api' | 'tag') =>
    readReferrers({ lab, registry: fabrikam, identity: 'builder' }, repository, subject, via);

  /** The PUTs of the fallback tag of `subject` in `repository` that the audit saw. */
  const fallbackTagPuts = (entries: AuditEntry[], repository: string, subject: string) =>
    entries.filter((e) => e.method === 'PUT' && e.path === `/v2/${repository}/manifests/${subject.replace(':', '-')}`);

  describe('a clean multi-platform image with a referrer', () => {
    let digest: string;
    let signature: string;
    let run: TaskRun;
    let audit: AuditEntry[];

    before(async () => {
      digest = pushImage(fabrikam, staging, 'build-1', {}, 'linux/amd64,linux/arm64');
      signature = await attachSignature(digest);
      const mark = await control.auditMark();
      run = await promoteRun({ image: `${fabrikam}/${staging}@${digest}` });
      audit = await control.audit(mark);
    });

    it('succeeds and names the released digest (output releasedImage)', () => {
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.equal(run.outputs.releasedImage, `${fabrikam}/${release}@${digest}`);
      assert.equal(run.variables.RESOURCE_URIS?.value, `${fabrikam}/${release}@${digest}`, 'Notation@0 signs exactly the released digest');
      assert.match(run.stdout, /Policy passed: .* is released as fabrikam\.azurecr\.io\/.*\/release@sha256:/);
    });

    it('copied with cross-repository mounts: no blob bytes were uploaded to the release repository', () => {
      const mounts = toRelease(audit).filter((e) => e.method === 'POST' && e.query.mount);
      assert.ok(mounts.length >= 3, `mounts: ${JSON.stringify(mounts)}`);
      assert.ok(
        mounts.every((e) => e.status === 201 || e.status === 401),
        `every mount was answered 201: ${JSON.stringify(mounts)}`,
      );
      // Only the evidence travels as bytes: the empty config, the trivy report and the SARIF.
      const uploads = toRelease(audit).filter((e) => e.method === 'PUT' && e.path.includes('/blobs/uploads/') && e.status === 201);
      assert.ok(uploads.length <= 3, `uploads: ${JSON.stringify(uploads)}`);
      assert.deepEqual(
        toRelease(audit).filter((e) => e.method === 'PATCH'),
        [],
        'no chunked upload',
      );
    });

    it('the release tags point to the scanned digest, and were written after every manifest by digest', async () => {
      assert.equal(await releaseHead('1.0'), digest);
      assert.equal(await releaseHead('latest'), digest);
      const puts = toRelease(audit).filter((e) => e.method === 'PUT' && e.path.includes('/manifests/') && e.status === 201);
      const firstTag = puts.findIndex((e) => e.path.endsWith('/manifests/1.0'));
      const lastDigest = puts.map((e) => /\/manifests\/sha256:/.test(e.path)).lastIndexOf(true);
      assert.ok(firstTag > lastDigest, 'tags last');
    });

    it('the referrer travelled with it and is listed under the release repository fallback tag', async () => {
      assert.equal(await releaseHead(signature), signature);
      const token = await acrAccessToken(lab, fabrikam, await identityRefreshToken(lab, fabrikam, 'builder'), [
        `repository:${release}:pull`,
      ]);
      const index = await labRequest(lab, `https://${fabrikam}/v2/${release}/manifests/${digest.replace(':', '-')}`, {
        headers: { Authorization: `Bearer ${token}`, Accept: ociIndexType },
      });
      assert.equal(index.status, 200);
      const listed = index.json<{ manifests: { digest: string; artifactType?: string }[] }>().manifests;
      assert.ok(
        listed.some((m) => m.digest === signature && m.artifactType === signatureType),
        JSON.stringify(listed),
      );
    });

    it('no referrers API (the default): the trivy report and the SARIF are listed under the fallback tag, each with its artifactType and the released digest as subject', async () => {
      assert.equal((await pull(release, `referrers/${digest}`, ociIndexType)).status, 404, 'the registry has no referrers API');
      assertScanEvidence(await readBack(release, digest, 'tag'), digest);
      assert.match(run.stdout, /Evidence attached to sha256:[0-9a-f]{64} \(fallback tag sha256-[0-9a-f]{64}\), read back/);
      assert.ok(fallbackTagPuts(audit, release, digest).length > 0, 'the fallback tag index was written');
    });

    it('a re-run is safe: succeeded, nothing mounted or uploaded again, same tags', async () => {
      const mark = await control.auditMark();
      const again = await promoteRun({ image: `${fabrikam}/${staging}@${digest}` });
      assert.equal(again.result, 'Succeeded', explain(again));
      const entries = toRelease(await control.audit(mark));
      assert.deepEqual(
        entries.filter((e) => e.method === 'POST' && e.query.mount),
        [],
        'no mount: every image blob is there',
      );
      assert.equal(await releaseHead('latest'), digest);
    });
  });

  it('a staging tag moved after the scan changes nothing: the scanned digest is what is released', async () => {
    const scanned = pushImage(fabrikam, staging, 'moving');
    const moved = pushImage(fabrikam, staging, 'moving');
    assert.notEqual(scanned, moved);
    const run = await promoteRun({ image: `${fabrikam}/${staging}@${scanned}`, releaseTags: 'moving-release' });
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(await releaseHead('moving-release'), scanned);
    assert.equal(await releaseHead(moved), undefined, 'the tag target of now was not copied');
  });

  it('a failed scan copies nothing', async () => {
    const digest = pushImage(fabrikam, staging, 'critical', { 'lab.trivy.report': 'debian-buster' });
    const mark = await control.auditMark();
    const run = await promoteRun({ image: `${fabrikam}/${staging}@${digest}`, releaseTags: 'critical' });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage ?? '', /Policy violated by 1 finding\(s\): .* is not copied/);
    assert.equal(run.outputs.releasedImage, '');
    assert.deepEqual(
      toRelease(await control.audit(mark)).filter((e) => e.method !== 'GET' && e.method !== 'HEAD'),
      [],
      'nothing written to the release repository',
    );
    assert.equal(await releaseHead(digest), undefined);
  });

  it('an identity without push on the release repository (AcrPull) is stopped by the preflight, before trivy', async () => {
    const digest = pushImage(fabrikam, staging, 'no-push');
    const mark = await control.auditMark();
    const run = await promoteRun(
      { image: `${fabrikam}/${staging}@${digest}` },
      { connection: labServiceConnection(lab, 'scanner', 'ServicePrincipal', 'spnKey') },
    );
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage ?? '',
      /may not push on fabrikam\.azurecr\.io\/.*\/release \(to release into it\) \(granted: pull\)\. Assign it the AcrPush role/,
    );
    assert.equal(run.outputs.policyResult, undefined, 'trivy did not run');
    assert.deepEqual(
      toRelease(await control.audit(mark)).filter((e) => e.method !== 'GET' && e.method !== 'HEAD'),
      [],
    );
  });

  it('interrupted: a 500 that persists on the index fails the run with nothing tagged; the next run completes it', async function () {
    const digest = pushImage(fabrikam, staging, 'interrupted', {}, 'linux/amd64,linux/arm64');
    const fault = await control.addFault({
      host: fabrikam,
      method: 'PUT',
      path: `^/v2/${release}/manifests/${digest}$`,
      kind: '500',
      times: -1,
    });
    let run: TaskRun;
    try {
      run = await promoteRun({ image: `${fabrikam}/${staging}@${digest}`, releaseTags: 'interrupted' });
    } finally {
      await control.removeFault(fault);
    }
    assert.equal(run.result, 'Failed', explain(run));
    assert.equal(await releaseHead('interrupted'), undefined, 'no tag on a partial copy');
    const again = await promoteRun({ image: `${fabrikam}/${staging}@${digest}`, releaseTags: 'interrupted' });
    assert.equal(again.result, 'Succeeded', explain(again));
    assert.equal(await releaseHead('interrupted'), digest);
    assert.match(again.stdout, /already there/);
  });

  it('a 429 on a mount is retried and the copy completes', async () => {
    const digest = pushImage(fabrikam, staging, 'throttled');
    const mark = await control.auditMark();
    const fault = await control.addFault({
      host: fabrikam,
      method: 'POST',
      path: `^/v2/${release}/blobs/uploads/?$`,
      kind: '429',
      times: 1,
      retryAfter: 1,
    });
    let run: TaskRun;
    try {
      run = await promoteRun({ image: `${fabrikam}/${staging}@${digest}`, releaseTags: 'throttled' });
    } finally {
      await control.removeFault(fault).catch(() => undefined);
    }
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.ok(
      toRelease(await control.audit(mark)).some((e) => e.status === 429),
      'the 429 was served',
    );
    assert.equal(await releaseHead('throttled'), digest);
  });

  it('a 503 that persists on an evidence referrer push fails the run with nothing tagged; the next run completes it', async () => {
    const digest = pushImage(fabrikam, staging, 'evidence-503');
    // every manifest PUT by digest in the release repository but the image's own: the evidence referrers
    const fault = await control.addFault({
      host: fabrikam,
      method: 'PUT',
      path: `^/v2/${release}/manifests/sha256:(?!${digest.slice('sha256:'.length)})`,
      kind: '503',
      times: -1,
    });
    const mark = await control.auditMark();
    let run: TaskRun;
    try {
      run = await promoteRun({ image: `${fabrikam}/${staging}@${digest}`, releaseTags: 'evidence-503' });
    } finally {
      await control.removeFault(fault);
    }
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage ?? '', /503/);
    const served = toRelease(await control.audit(mark)).filter((e) => e.status === 503);
    assert.ok(served.length > 1 && served.every((e) => e.path === served[0].path), `the push was retried: ${JSON.stringify(served)}`);
    assert.equal(await releaseHead(digest), digest, 'the copy itself completed');
    assert.equal(await releaseHead('evidence-503'), undefined, 'no release tag');
    assert.equal(await releaseHead(digest.replace(':', '-')), undefined, 'no fallback tag index');

    const again = await promoteRun({ image: `${fabrikam}/${staging}@${digest}`, releaseTags: 'evidence-503' });
    assert.equal(again.result, 'Succeeded', explain(again));
    assert.equal(await releaseHead('evidence-503'), digest);
    assertScanEvidence(await readBack(release, digest, 'tag'), digest);
  });

  describe("with the referrers API (policy referrersApi on for this suite's api/ repositories)", () => {
    let apiStaging: string;
    let apiRelease: string;
    let digest: string;
    let run: TaskRun;
    let audit: AuditEntry[];

    before(async () => {
      apiStaging = `${base}/api/staging`;
      apiRelease = `${base}/api/release`;
      await control.setPolicy(fabrikam, { referrersApi: true, referrersApiScope: `${base}/api/` });
      const generator = await ensureSbomGenerator(lab);
      const context = makeBuildContext({
        lab,
        dockerfile: `${busyboxDockerfile}COPY stamp.txt /stamp.txt\n`,
        files: { 'stamp.txt': randomBytes(16).toString('hex') },
      });
      contexts.push(context.remove);
      const built = await runLabTask(lab, {
        task: 'BuildForPlatform',
        cwd: context.dir,
        inputs: { registry: fabrikam, repository: apiStaging, tags: 'sbom', attestations: 'provenance+sbom', sbomGenerator: generator },
        connections: { azureSubscription: builderConnection() },
        timeoutMs: 600_000,
      });
      assert.equal(built.result, 'Succeeded', explain(built));
      digest = built.outputs.imageDigest;
      const mark = await control.auditMark();
      run = await promoteRun({ image: `${fabrikam}/${apiStaging}@${digest}`, releaseRepository: apiRelease });
      audit = await control.audit(mark);
    });

    after(async () => {
      await control.setPolicy(fabrikam, { referrersApi: false, referrersApiScope: '' }).catch(() => undefined);
    });

    it('attaches the trivy report and the SARIF through the API, each with its artifactType and the released digest as subject; no fallback tag', async () => {
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.match(run.stdout, /Evidence attached to sha256:[0-9a-f]{64} \(referrers API\), read back/);
      assertScanEvidence(await readBack(apiRelease, digest, 'api'), digest);
      assert.deepEqual(fallbackTagPuts(audit, apiRelease, digest), [], 'no fallback tag index was written');
      assert.equal(await releaseHead(digest.replace(':', '-'), apiRelease), undefined, 'no fallback tag');
      assert.equal(await releaseHead('1.0', apiRelease), digest);
    });

    it("attaches the build's SBOM attestation (application/spdx+json) to the released digest; it lists the image's busybox", async () => {
      const filtered = await pull(apiRelease, `referrers/${digest}?artifactType=${encodeURIComponent(spdxType)}`, ociIndexType);
      assert.equal(filtered.status, 200, filtered.text);
      assert.equal(filtered.headers['oci-filters-applied'], 'artifactType');
      const listed = filtered.json<{ manifests: ReadEvidence['descriptor'][] }>().manifests;
      assert.equal(listed.length, 1, `one SBOM (one platform): ${JSON.stringify(listed)}`);
      assert.equal(listed[0].artifactType, spdxType);
      const sbom = (await readBack(apiRelease, digest, 'api')).find((r) => r.descriptor.digest === listed[0].digest);
      assert.ok(sbom, 'the SBOM is in the unfiltered list too');
      assert.equal(sbom.manifest.subject?.digest, digest);
      assert.equal(sbom.descriptor.annotations?.['vnd.container-release.platform'], 'linux/amd64');
      const spdx = JSON.parse(sbom.content.toString('utf8')) as {
        spdxVersion: string;
        files: { fileName: string; checksums: { algorithm: string; checksumValue: string }[] }[];
      };
      assert.equal(spdx.spdxVersion, 'SPDX-2.3');
      const busybox = spdx.files.find((f) => f.fileName.replace(/^\.\//, '/') === '/bin/busybox');
      assert.ok(busybox, `the SBOM lists /bin/busybox: ${spdx.files.map((f) => f.fileName).join(', ')}`);
      const expected = createHash('sha1')
        .update(readFileSync(path.join(lab.baseDir, 'amd64', 'busybox')))
        .digest('hex');
      assert.equal(busybox.checksums[0].checksumValue, expected, "the amd64 image's busybox");
    });

    it('a 429 on an evidence referrer push is retried, and the release completes', async () => {
      const pushed = pushImage(fabrikam, apiStaging, 'throttled-evidence');
      const fault = await control.addFault({
        host: fabrikam,
        method: 'PUT',
        path: `^/v2/${apiRelease}/manifests/sha256:(?!${pushed.slice('sha256:'.length)})`,
        kind: '429',
        times: 1,
        retryAfter: 1,
      });
      const mark = await control.auditMark();
      let throttled: TaskRun;
      try {
        throttled = await promoteRun({
          image: `${fabrikam}/${apiStaging}@${pushed}`,
          releaseRepository: apiRelease,
          releaseTags: 'throttled-evidence',
        });
      } finally {
        await control.removeFault(fault).catch(() => undefined);
      }
      assert.equal(throttled.result, 'Succeeded', explain(throttled));
      const entries = toRelease(await control.audit(mark), apiRelease);
      const refused = entries.find((e) => e.status === 429);
      assert.ok(refused, 'the 429 was served');
      assert.ok(
        entries.some((e) => e.seq > refused.seq && e.method === 'PUT' && e.path === refused.path && e.status === 201),
        'the same referrer was pushed again',
      );
      assert.equal(await releaseHead('throttled-evidence', apiRelease), pushed);
      assertScanEvidence(await readBack(apiRelease, pushed, 'api'), pushed);
    });
  });

  it('is refused on a registry that quarantines (contoso), before trivy, and nothing is copied', async () => {
    const digest = pushImage(contoso, staging, 'quarantined');
    const run = await promoteRun({ image: `${contoso}/${staging}@${digest}` });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage ?? '',
      /release: promote needs a registry without quarantine, but .* is Quarantined.*Use release: quarantine/,
    );
    assert.equal(run.outputs.policyResult, undefined, 'trivy did not run');
    assert.equal(await releaseHead(digest, release, contoso), undefined);
  });
});
