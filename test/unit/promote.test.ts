import { strict as assert } from 'node:assert';
import { RecordingLogger } from '../../src/log';
import type { FetchedManifest, ManifestHead } from '../../src/registry/client';
import { digestOf } from '../../src/registry/digest';
import { RegistryError } from '../../src/registry/errors';
import { type Index, MediaType } from '../../src/registry/oci';
import { fallbackTag, listReferrers } from '../../src/registry/referrers';
import { SARIF_TYPE, SPDX_TYPE, TRIVY_REPORT_TYPE, attachEvidence, sbomsOf, seeingQuarantinedTags } from '../../src/release/evidence';
import { type PromoteRegistry, promote, refusePromoteUnderQuarantine } from '../../src/release/promote';
import { reply } from './registry-fakes';

const notFound = () => new RegistryError({ method: 'GET', url: 'https://r/v2/x' }, reply(404, { errors: [{ code: 'MANIFEST_UNKNOWN' }] }));

/** An in-memory registry: repositories of blobs, manifests by digest and tags; referrers API on or off. */
class MemoryRegistry implements PromoteRegistry {
  blobs = new Map<string, Map<string, Buffer>>();
  manifests = new Map<string, Map<string, { raw: Buffer; mediaType: string }>>();
  tags = new Map<string, Map<string, string>>();
  calls: string[] = [];
  /** Throw once on a call whose description matches. */
  failOn?: RegExp;
  canMount = true;
  /** Like ACR with quarantine on: what putManifest stores is quarantined, and a quarantined manifest's tag reads 404. */
  quarantines = false;
  quarantined = new Set<string>();

  constructor(readonly referrersApi: boolean) {}

  private repo<T>(map: Map<string, Map<string, T>>, name: string): Map<string, T> {
    if (!map.has(name)) map.set(name, new Map());
    return map.get(name)!;
  }
  private note(call: string): void {
    this.calls.push(call);
    if (this.failOn?.test(call)) {
      this.failOn = undefined;
      throw new RegistryError({ method: 'PUT', url: 'https://r/v2/x' }, reply(503, { errors: [{ code: 'UNAVAILABLE' }] }));
    }
  }
  addBlob(repository: string, content: string): { mediaType: string; digest: string; size: number } {
    const bytes = Buffer.from(content);
    this.repo(this.blobs, repository).set(digestOf(bytes), bytes);
    return { mediaType: MediaType.ociLayerGzip, digest: digestOf(bytes), size: bytes.length };
  }
  addManifest(repository: string, json: object, tag?: string): { mediaType: string; digest: string; size: number } {
    const raw = Buffer.from(JSON.stringify(json));
    const mediaType = (json as { mediaType: string }).mediaType;
    this.repo(this.manifests, repository).set(digestOf(raw), { raw, mediaType });
    if (tag) this.repo(this.tags, repository).set(tag, digestOf(raw));
    return { mediaType, digest: digestOf(raw), size: raw.length };
  }

  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const digest = reference.startsWith('sha256:') ? reference : this.repo(this.tags, repository).get(reference);
    const found = digest ? this.repo(this.manifests, repository).get(digest) : undefined;
    if (!found || !digest || (digest !== reference && this.quarantined.has(digest))) throw notFound();
    return { digest, mediaType: found.mediaType, raw: found.raw, json: JSON.parse(found.raw.toString()) };
  }
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    try {
      const m = await this.getManifest(repository, reference);
      return { digest: m.digest, mediaType: m.mediaType, size: m.raw.length };
    } catch {
      return undefined;
    }
  }
  async putManifest(repository: string, reference: string, mediaType: string, raw: Buffer) {
    this.note(`put ${repository} ${reference}`);
    const digest = digestOf(raw);
    this.repo(this.manifests, repository).set(digest, { raw, mediaType });
    if (!reference.startsWith('sha256:')) this.repo(this.tags, repository).set(reference, digest);
    if (this.quarantines) this.quarantined.add(digest);
    return { digest, subjectProcessed: this.referrersApi && Boolean(JSON.parse(raw.toString()).subject) };
  }
  async getReferrers(repository: string, digest: string): Promise<Index | undefined> {
    if (!this.referrersApi) return undefined;
    const manifests = [...this.repo(this.manifests, repository).entries()]
      .filter(([, m]) => JSON.parse(m.raw.toString()).subject?.digest === digest)
      .map(([d, m]) => ({
        mediaType: m.mediaType,
        digest: d,
        size: m.raw.length,
        artifactType: JSON.parse(m.raw.toString()).artifactType,
      }));
    return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  }
  async hasBlob(repository: string, digest: string) {
    return this.repo(this.blobs, repository).has(digest);
  }
  async mountBlob(repository: string, digest: string, from: string) {
    this.note(`mount ${repository} ${digest}`);
    const bytes = this.repo(this.blobs, from).get(digest);
    if (!this.canMount || !bytes) return false;
    this.repo(this.blobs, repository).set(digest, bytes);
    return true;
  }
  async uploadBlob(repository: string, digest: string, bytes: Buffer) {
    this.note(`upload ${repository} ${digest}`);
    this.repo(this.blobs, repository).set(digest, bytes);
  }
  async getBlob(repository: string, digest: string) {
    const bytes = this.repo(this.blobs, repository).get(digest);
    if (!bytes) throw notFound();
    return bytes;
  }
}

/** staging/app: an index of two platform images and an attestation manifest, and a signature referring to the index. */
function stagedImage(registry: MemoryRegistry) {
  const image = (arch: string) =>
    registry.addManifest('staging/app', {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { ...registry.addBlob('staging/app', `config ${arch}`), mediaType: MediaType.ociConfig },
      layers: [registry.addBlob('staging/app', `layer ${arch}`), registry.addBlob('staging/app', 'shared layer')],
    });
  const amd64 = { ...image('amd64'), platform: { os: 'linux', architecture: 'amd64' } };
  const arm64 = { ...image('arm64'), platform: { os: 'linux', architecture: 'arm64' } };
  const attestation = {
    ...image('attestation'),
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64.digest },
  };
  const index = registry.addManifest(
    'staging/app',
    { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [amd64, arm64, attestation] },
    'build-1',
  );
  const signature = registry.addManifest('staging/app', {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: 'application/vnd.cncf.notary.signature',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: registry.addBlob('staging/app', '{}').digest, size: 2 },
    layers: [registry.addBlob('staging/app', 'signature bytes')],
    subject: { mediaType: MediaType.ociIndex, digest: index.digest, size: index.size },
  });
  if (!registry.referrersApi) {
    registry.addManifest(
      'staging/app',
      {
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [{ ...signature, artifactType: 'application/vnd.cncf.notary.signature' }],
      },
      fallbackTag(index.digest),
    );
  }
  return { index, amd64, arm64, attestation, signature };
}

const request = (digest: string, tags = ['1.0', 'latest']) => ({
  registry: 'fabrikam.azurecr.io',
  from: 'staging/app',
  to: 'app',
  digest,
  tags,
});

describe('release: promote (src/release/promote.ts)', () => {
  for (const referrersApi of [false, true]) {
    it(`copies the index, every child, the attestation and the referrer with mounts, then tags (${referrersApi ? 'referrers API' : 'fallback tag'})`, async () => {
      const registry = new MemoryRegistry(referrersApi);
      const staged = stagedImage(registry);
      const result = await promote(request(staged.index.digest), registry, new RecordingLogger());
      assert.deepEqual(result.manifests, { copied: 5, present: 0 });
      assert.deepEqual(result.blobs, { mounted: 9, uploaded: 0, present: 0 }, 'the shared layer is mounted once');
      assert.equal(result.referrers, 1);
      assert.equal(result.referrersBy, referrersApi ? 'api' : 'tag');
      assert.deepEqual(result.tags, ['1.0', 'latest']);
      assert.equal(result.readBack, staged.index.digest, 'the copy read back by digest, its bytes hashed');
      assert.equal(registry.tags.get('app')?.get('latest'), staged.index.digest);
      assert.equal(
        (await registry.getManifest('app', staged.index.digest)).raw.toString(),
        (await registry.getManifest('staging/app', staged.index.digest)).raw.toString(),
      );
      if (!referrersApi) {
        const fallback = (await registry.getManifest('app', fallbackTag(staged.index.digest))).json as Index;
        assert.deepEqual(
          fallback.manifests.map((m) => [m.digest, m.artifactType]),
          [[staged.signature.digest, 'application/vnd.cncf.notary.signature']],
        );
      }
      const firstTag = registry.calls.findIndex((c) => c.startsWith('put app 1.0'));
      const lastCopy = registry.calls.map((c) => /^(put app sha256|mount)/.test(c)).lastIndexOf(true);
      assert.ok(firstTag > lastCopy, 'tags come after every copy');
      assert.ok(!registry.calls.some((c) => c.startsWith('upload')), 'no blob is uploaded');

      registry.calls = [];
      const again = await promote(request(staged.index.digest), registry, new RecordingLogger());
      assert.deepEqual(again.blobs, { mounted: 0, uploaded: 0, present: 9 });
      assert.equal(again.manifests.copied, 0);
      assert.ok(!registry.calls.some((c) => c.startsWith('mount')), 'a re-run copies nothing');
    });
  }

  it('copies the digest, not the staging tag: a tag moved after the scan changes nothing', async () => {
    const registry = new MemoryRegistry(false);
    const staged = stagedImage(registry);
    const other = registry.addManifest('staging/app', { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [staged.arm64] });
    registry.tags.get('staging/app')?.set('build-1', other.digest);
    const result = await promote(request(staged.index.digest), registry, new RecordingLogger());
    assert.equal(result.digest, staged.index.digest);
    assert.equal(registry.tags.get('app')?.get('latest'), staged.index.digest);
    assert.equal(await registry.headManifest('app', other.digest), undefined);
  });

  it('an interrupted copy leaves no tag, and the next run completes it', async () => {
    const registry = new MemoryRegistry(false);
    const staged = stagedImage(registry);
    registry.failOn = new RegExp(`put app ${staged.index.digest}`);
    await assert.rejects(promote(request(staged.index.digest), registry, new RecordingLogger()), /503/);
    assert.equal(registry.tags.get('app')?.size ?? 0, 0, 'no tag on a partial copy');
    assert.ok(await registry.headManifest('app', staged.amd64.digest), 'the children were copied before it stopped');
    const result = await promote(request(staged.index.digest), registry, new RecordingLogger());
    assert.ok(result.manifests.present >= 3 && result.manifests.copied >= 1);
    assert.equal(registry.tags.get('app')?.get('1.0'), staged.index.digest);
  });

  it('uploads (and says so) only where the registry would not mount', async () => {
    const registry = new MemoryRegistry(false);
    registry.canMount = false;
    const staged = stagedImage(registry);
    const logger = new RecordingLogger();
    const result = await promote(request(staged.index.digest, []), registry, logger);
    assert.deepEqual(result.blobs, { mounted: 0, uploaded: 9, present: 0 });
    assert.ok(logger.lines.some((l) => l.level === 'warn' && /did not mount/.test(l.message)));
    assert.deepEqual(result.tags, []);
  });

  it('refuses the staging repository as the release repository, and a registry that quarantines', async () => {
    const registry = new MemoryRegistry(false);
    const staged = stagedImage(registry);
    await assert.rejects(
      promote({ ...request(staged.index.digest), to: 'staging/app' }, registry, new RecordingLogger()),
      /another repository/,
    );
    assert.throws(
      () => refusePromoteUnderQuarantine('r/app@sha256:1', 'Quarantined'),
      /needs a registry without quarantine.*release: quarantine/,
    );
    refusePromoteUnderQuarantine('r/app@sha256:1', 'Passed');
    refusePromoteUnderQuarantine('r/app@sha256:1', undefined);
  });

  for (const referrersApi of [false, true]) {
    it(`attaches the evidence as referrers with their artifactTypes and reads them back (${referrersApi ? 'referrers API' : 'fallback tag'})`, async () => {
      const registry = new MemoryRegistry(referrersApi);
      const staged = stagedImage(registry);
      const subject = { mediaType: MediaType.ociIndex, digest: staged.index.digest, size: staged.index.size };
      const files = [
        { artifactType: TRIVY_REPORT_TYPE, title: 'trivy-report.json', bytes: Buffer.from('{"SchemaVersion":2}') },
        { artifactType: SARIF_TYPE, title: 'trivy.sarif', bytes: Buffer.from('{"version":"2.1.0"}') },
      ];
      const set = await attachEvidence(registry, 'staging/app', subject, files, new RecordingLogger());
      const attached = set.referrers;
      assert.deepEqual(
        attached.map((a) => [a.artifactType, a.by, a.title]),
        files.map((f) => [f.artifactType, referrersApi ? 'api' : 'tag', f.title]),
      );
      assert.equal(set.by, referrersApi ? 'api' : 'tag');
      assert.equal(set.subject, staged.index.digest);
      const listing = await listReferrers(registry, 'staging/app', staged.index.digest);
      const listed = listing.descriptors;
      for (const a of attached) assert.ok(listed.some((d) => d.digest === a.digest && d.artifactType === a.artifactType));
      // the fallback tag index is a manifest too (quarantined on a registry that quarantines): named for the release
      assert.deepEqual(set.fallbackIndex, referrersApi ? undefined : { tag: fallbackTag(staged.index.digest), digest: listing.index });
      const report = (await registry.getManifest('staging/app', attached[0].digest)).json as { subject?: { digest: string } };
      assert.equal(report.subject?.digest, staged.index.digest);
      const again = await attachEvidence(registry, 'staging/app', subject, files, new RecordingLogger());
      assert.deepEqual(
        again.referrers.map((a) => a.digest),
        attached.map((a) => a.digest),
        'the same evidence is the same referrer',
      );
      assert.deepEqual(again.fallbackIndex, set.fallbackIndex, 'the same fallback tag index');
      assert.equal((await listReferrers(registry, 'staging/app', staged.index.digest)).descriptors.length, listed.length, 'no duplicate');
    });
  }

  it('on a registry that quarantines what is pushed (fallback tag hidden by tag), the index is read through the tag API', async () => {
    const files = [
      { artifactType: TRIVY_REPORT_TYPE, title: 'trivy-report.json', bytes: Buffer.from('{"SchemaVersion":2}') },
      { artifactType: SARIF_TYPE, title: 'trivy.sarif', bytes: Buffer.from('{"version":"2.1.0"}') },
    ];
    const setUp = () => {
      const registry = new MemoryRegistry(false);
      const staged = stagedImage(registry);
      registry.quarantines = true;
      const subject = { mediaType: MediaType.ociIndex, digest: staged.index.digest, size: staged.index.size };
      return { registry, subject };
    };
    // Read by its tag alone, the quarantined index is not there: the second file's push replaces it.
    const blind = setUp();
    await assert.rejects(
      attachEvidence(blind.registry, 'staging/app', blind.subject, files, new RecordingLogger()),
      /referrer sha256:[0-9a-f]{64} of sha256:[0-9a-f]{64} is not listed; nothing was released/,
    );
    const { registry, subject } = setUp();
    const asked: string[] = [];
    const seen = seeingQuarantinedTags(registry, async (repository, tag) => {
      asked.push(tag);
      const digest = registry.tags.get(repository)?.get(tag);
      if (!digest) throw new Error('404 tag unknown');
      return digest;
    });
    const set = await attachEvidence(seen, 'staging/app', subject, files, new RecordingLogger());
    const tag = fallbackTag(subject.digest);
    const index = registry.tags.get('staging/app')?.get(tag);
    assert.ok(index && registry.quarantined.has(index), 'the fallback tag index is quarantined');
    assert.deepEqual(set.fallbackIndex, { tag, digest: index });
    const listed = (JSON.parse(registry.manifests.get('staging/app')!.get(index)!.raw.toString()) as Index).manifests;
    assert.deepEqual(
      listed.map((d) => d.artifactType),
      ['application/vnd.cncf.notary.signature', TRIVY_REPORT_TYPE, SARIF_TYPE],
      'both listed, and the signature listed before kept',
    );
    assert.ok(asked.every((t) => t === tag));
    await assert.rejects(seen.getManifest('staging/app', 'no-such-tag'), (e: unknown) => e instanceof RegistryError && e.status === 404);
  });

  it('finds the SPDX SBOM of each platform in BuildKit attestation manifests', async () => {
    const registry = new MemoryRegistry(false);
    const statement = registry.addBlob(
      'app',
      JSON.stringify({ predicateType: 'https://spdx.dev/Document', predicate: { spdxVersion: 'SPDX-2.3' } }),
    );
    const image = registry.addManifest('app', {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: registry.addBlob('app', 'c'),
      layers: [],
    });
    const attestation = registry.addManifest('app', {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: registry.addBlob('app', 'c2'),
      layers: [
        {
          ...statement,
          mediaType: 'application/vnd.in-toto+json',
          annotations: { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' },
        },
      ],
    });
    registry.addManifest(
      'app',
      {
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          { ...image, platform: { os: 'linux', architecture: 'arm64' } },
          {
            ...attestation,
            platform: { os: 'unknown', architecture: 'unknown' },
            annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': image.digest },
          },
        ],
      },
      'v1',
    );
    const sboms = await sbomsOf(registry, 'app', await registry.getManifest('app', 'v1'));
    assert.equal(sboms.length, 1);
    assert.equal(sboms[0].artifactType, SPDX_TYPE);
    assert.equal(sboms[0].annotations?.['vnd.container-release.platform'], 'linux/arm64');
    assert.deepEqual(JSON.parse(sboms[0].bytes.toString()), { spdxVersion: 'SPDX-2.3' });
  });
});
