import { strict as assert } from 'node:assert';
import { verifyImage } from '../../src/image/verify';
import { RecordingLogger } from '../../src/log';
import { parsePlatformList } from '../../src/platform/platform';
import { MediaType, type Descriptor, type Manifest } from '../../src/registry/oci';
import { busybox } from './image-fixtures';
import { MemorySource, busyboxRoot } from './image-sources';

const attestation = (subject: string): Descriptor => ({
  mediaType: MediaType.ociManifest,
  digest: `sha256:${'a'.repeat(64)}`,
  size: 100,
  platform: { os: 'unknown', architecture: 'unknown' },
  annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': subject },
});

describe('verifying a pushed image', () => {
  const logger = new RecordingLogger();

  it('accepts an index with exactly the requested platforms, setting attestation manifests aside', async () => {
    const source = new MemorySource();
    const amd = source.image({ architecture: 'amd64', layers: [busyboxRoot('amd64')] });
    const arm = source.image({ architecture: 'arm64', variant: 'v8', layers: [busyboxRoot('arm64')] });
    const digest = source.index([amd, arm, attestation(amd.digest), attestation(arm.digest)]);
    const result = await verifyImage({
      source,
      digest,
      requested: parsePlatformList('linux/amd64,linux/arm64'),
      checkPrograms: true,
      logger,
    });
    assert.deepEqual(result.problems, []);
    assert.equal(result.kind, 'index');
    assert.equal(result.attestations, 2);
    assert.deepEqual(
      result.platforms.map((p) => [p.platform.architecture, p.manifestDigest, p.layers, p.program?.files.at(-1)?.path]),
      [
        ['amd64', amd.digest, 1, '/bin/busybox'],
        ['arm64', arm.digest, 1, '/bin/busybox'],
      ],
    );
    assert.ok(result.platforms.every((p) => p.size > 0));
  });

  it("reads back the index's OCI annotations (none when it has none)", async () => {
    const source = new MemorySource();
    const amd = source.image({ architecture: 'amd64', layers: [busyboxRoot('amd64')] });
    const annotations = { 'org.opencontainers.image.revision': 'abc123', 'com.contoso.team': 'shop' };
    const annotated = await verifyImage({
      source,
      digest: source.index([amd], annotations),
      requested: parsePlatformList('linux/amd64'),
      checkPrograms: false,
      logger,
    });
    assert.deepEqual(annotated.annotations, annotations);
    const plain = await verifyImage({
      source,
      digest: source.index([amd]),
      requested: parsePlatformList('linux/amd64'),
      checkPrograms: false,
      logger,
    });
    assert.equal(plain.annotations, undefined);
  });

  it('names a missing and an extra platform', async () => {
    const source = new MemorySource();
    const amd = source.image({ architecture: 'amd64', layers: [busyboxRoot('amd64')] });
    const s390 = source.image({ architecture: 's390x', layers: [] });
    const digest = source.index([amd, s390]);
    const result = await verifyImage({
      source,
      digest,
      requested: parsePlatformList('linux/amd64,linux/arm64'),
      checkPrograms: false,
      logger,
    });
    assert.deepEqual(result.problems, ['the index lacks linux/arm64', 'the index holds linux/s390x, which was not asked for']);
  });

  it('refuses an index entry whose config says another architecture', async () => {
    const source = new MemorySource();
    const lying = source.image({ architecture: 'arm64', layers: [busyboxRoot('arm64')] });
    const digest = source.index([{ ...lying, platform: { os: 'linux', architecture: 'amd64' } }]);
    const result = await verifyImage({ source, digest, requested: parsePlatformList('linux/amd64'), checkPrograms: false, logger });
    assert.equal(result.problems.length, 1);
    assert.match(result.problems[0], /linux\/amd64: the index entry says linux\/amd64 but its config says linux\/arm64/);
  });

  it('refuses a single-platform manifest whose program is built for another machine (the seed case)', async () => {
    const source = new MemorySource();
    const image = source.image({
      architecture: 'amd64',
      layers: [busyboxRoot('amd64'), [{ path: 'app/server', content: busybox.arm64().subarray(0, 4096), mode: 0o755 }]],
      config: { Entrypoint: ['/app/server'] },
    });
    const result = await verifyImage({
      source,
      digest: image.digest,
      requested: parsePlatformList('linux/amd64'),
      checkPrograms: true,
      logger,
    });
    assert.equal(result.kind, 'manifest');
    assert.equal(result.problems.length, 1);
    assert.match(
      result.problems[0],
      /^linux\/amd64: the entrypoint \/app\/server is an ELF 64-bit arm64 binary, but the image is linux\/amd64/,
    );
    assert.equal(source.layerReads.length, 2);
  });

  it('passes that image when the program check is off, reading no layer', async () => {
    const source = new MemorySource();
    const image = source.image({
      architecture: 'amd64',
      layers: [[{ path: 'app/server', content: busybox.arm64().subarray(0, 4096), mode: 0o755 }]],
      config: { Entrypoint: ['/app/server'] },
    });
    const result = await verifyImage({
      source,
      digest: image.digest,
      requested: parsePlatformList('linux/amd64'),
      checkPrograms: false,
      logger,
    });
    assert.deepEqual(result.problems, []);
    assert.equal(source.layerReads.length, 0);
  });

  it('refuses a single manifest when several platforms were asked for, or another one', async () => {
    const source = new MemorySource();
    const image = source.image({ architecture: 'arm64', layers: [busyboxRoot('arm64')], gzip: false });
    const two = await verifyImage({
      source,
      digest: image.digest,
      requested: parsePlatformList('linux/amd64,linux/arm64'),
      checkPrograms: false,
      logger,
    });
    assert.match(two.problems.join('\n'), /single-platform image manifest, but 2 platforms were asked for/);
    const other = await verifyImage({
      source,
      digest: image.digest,
      requested: parsePlatformList('linux/amd64'),
      checkPrograms: true,
      logger,
    });
    assert.match(other.problems.join('\n'), /the image is linux\/arm64, but linux\/amd64 was asked for/);
  });

  it('notes a layer kind it cannot read instead of guessing', async () => {
    const source = new MemorySource();
    const image = source.image({ architecture: 'amd64', layers: [busyboxRoot('amd64')] });
    const manifest = (await source.manifest(image.digest)).manifest as Manifest;
    manifest.layers.push({ mediaType: 'application/vnd.example.unknown', digest: `sha256:${'b'.repeat(64)}`, size: 1 });
    const digest = source.putManifest(manifest);
    const result = await verifyImage({ source, digest, requested: parsePlatformList('linux/amd64'), checkPrograms: true, logger });
    assert.deepEqual(result.problems, []);
    assert.ok(result.platforms[0].program?.notes.some((n) => /layer 2 \(application\/vnd\.example\.unknown\) could not be read/.test(n)));
  });
});
