// An in-memory registry repository for the tests of src/image/verify.ts and native.ts.
import { createHash } from 'node:crypto';
import type { ImageSource } from '../../src/image/verify';
import { MediaType, type Descriptor, type ImageConfig, type Index, type Manifest } from '../../src/registry/oci';
import { busybox, chunked, gzipTar, tar, type FixtureEntry } from './image-fixtures';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An in-memory registry repository: blobs and manifests by digest. */
export class MemorySource implements ImageSource {
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

  index(entries: Descriptor[], annotations?: Record<string, string>): string {
    return this.putManifest({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: entries,
      ...(annotations ? { annotations } : {}),
    });
  }
}

export function busyboxRoot(arch: 'amd64' | 'arm64'): FixtureEntry[] {
  return [
    { path: 'bin/busybox', content: busybox[arch]().subarray(0, 8192), mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', linkTarget: '/bin/busybox' },
    { path: 'bin/cat', type: 'symlink', linkTarget: 'busybox' },
  ];
}
