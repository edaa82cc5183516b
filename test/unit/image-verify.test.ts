import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { verifyImage, type ImageSource } from '../../src/image/verify';
import { RecordingLogger } from '../../src/log';
import { parsePlatformList } from '../../src/platform/platform';
import { MediaType, type Descriptor, type ImageConfig, type Index, type Manifest } from '../../src/registry/oci';
import { busybox, chunked, gzipTar, tar, type FixtureEntry } from './image-fixtures';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An in-memory registry repository: blobs and manifests by digest. */
class MemorySource implements ImageSource {
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, Buffer>();
  readonly layerReads: string[] = [];
  put(data: Buffer): { digest: string; size: number } {
    const digest = digestOf(data);
    this.blobs.set(digest, data);
    return { digest, size: data.length };
  }
  putManifest(doc: object): string {
    const bytes = Buffer.from(JSON.stringify(doc));
    const digest = digestOf(bytes);
    this.manifests.set(digest, bytes);
    return digest;
  }
  async manifest(digest: string) {
    const bytes = this.manifests.get(digest);
    if (!bytes) throw new Error(`manifest unknown ${digest}`);
    const manifest = JSON.parse(bytes.toString()) as Index | Manifest;
    return { mediaType: manifest.mediaType, manifest };
  }
  async blob(digest: string) {
    const b = this.blobs.get(digest);
    if (!b) throw new Error(`blob unknown ${digest}`);
    return b;
  }
  async openBlob(digest: string) {
    this.layerReads.push(digest);
    return chunked(await this.blob(digest), 1000);
  }

  /** Pushes one image manifest; returns its descriptor for an index. */
  image(options: {
    os?: string;
    architecture: string;
    variant?: string;
    layers: FixtureEntry[][];
    config?: ImageConfig['config'];
    gzip?: boolean;
  }): Descriptor {
    const layerDescriptors = options.layers.map((entries) => {
      const data = options.gzip === false ? tar(entries) : gzipTar(entries);
      const { digest, size } = this.put(data);
      return { mediaType: options.gzip === false ? MediaType.ociLayerTar : MediaType.ociLayerGzip, digest, size };
    });
    const config: ImageConfig = {
      architecture: options.architecture,
      os: options.os ?? 'linux',
      ...(options.variant ? { variant: options.variant } : {}),
      config: options.config ?? { Cmd: ['/bin/sh', '-c', 'cat /built.txt'], Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [] },
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDescriptor = { mediaType: MediaType.ociConfig, digest: this.put(configBytes).digest, size: configBytes.length };
    const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: layerDescriptors };
    const digest = this.putManifest(manifest);
    return {
      mediaType: MediaType.ociManifest,
      digest,
      size: Buffer.byteLength(JSON.stringify(manifest)),
      platform: { os: config.os, architecture: options.architecture, ...(options.variant ? { variant: options.variant } : {}) },
    };
  }

  index(entries: Descriptor[]): string {
    return this.putManifest({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: entries });
  }
}

function busyboxRoot(arch: 'amd64' | 'arm64'): FixtureEntry[] {
  return [
    { path: 'bin/busybox', content: busybox[arch]().subarray(0, 8192), mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', linkTarget: '/bin/busybox' },
    { path: 'bin/cat', type: 'symlink', linkTarget: 'busybox' },
  ];
}

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
