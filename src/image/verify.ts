// The platform proof after a push: read what the registry holds under the pushed digest, demand exactly the platforms
// asked for (attestation manifests set aside), each config agreeing with its index entry, and then, per platform,
// that the program the image starts is built for that platform (see program.ts).
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import type { Logger } from '../log';
import { formatPlatform, normalizePlatform, samePlatform, type Platform } from '../platform/platform';
import {
  MediaType,
  imageManifests,
  isAttestationManifest,
  isIndex,
  type Descriptor,
  type ImageConfig,
  type Index,
  type Manifest,
} from '../registry/oci';
import { ImageFilesystem } from './filesystem';
import { applicationDirectories, checkNativeFiles, type NativeFilesCheck } from './native';
import { checkForeignOsImage, checkProgram, type ProgramCheck } from './program';

/** What the proof needs from a registry, for one repository; the task adapts the registry client to it. */
export interface ImageSource {
  /** A manifest or index by digest, retrying the brief "manifest unknown" right after a push. */
  manifest(digest: string): Promise<{ mediaType?: string; manifest: Index | Manifest }>;
  /** A small blob (an image config) by digest, checked against it. */
  blob(digest: string): Promise<Buffer>;
  /** A layer as a stream of its stored (compressed) bytes, checked against its digest by the end of the stream. */
  openBlob(digest: string): Promise<AsyncIterable<Buffer>>;
}

export interface PlatformReport {
  platform: Platform;
  manifestDigest: string;
  configDigest: string;
  /** Config plus compressed layers, as stored in the registry. */
  size: number;
  layers: number;
  /** Undefined when the program check was not asked for. */
  program?: ProgramCheck;
  /** Every ELF file under the application's directories; undefined when not checked. */
  native?: NativeFilesCheck;
}

export interface Verification {
  digest: string;
  kind: 'index' | 'manifest';
  platforms: PlatformReport[];
  /** Every reason the image does not hold what was asked for; empty when it does. */
  problems: string[];
  /** Attestation manifests found and set aside. */
  attestations: number;
  /** The OCI annotations of the pushed index (or manifest), as the registry holds them. */
  annotations?: Record<string, string>;
}

export interface VerifyOptions {
  source: ImageSource;
  digest: string;
  requested: readonly Platform[];
  /** Also read the layers and check the program that starts (the ELF check). */
  checkPrograms: boolean;
  /** With checkPrograms: also every ELF file under the application's directories (native.ts). Default true. */
  checkNativeFiles?: boolean;
  logger: Logger;
}

function platformOfConfig(config: ImageConfig): Platform {
  return normalizePlatform({ os: config.os, architecture: config.architecture, variant: config.variant });
}

function manifestSize(manifest: Manifest): number {
  return manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
}

export async function verifyImage(options: VerifyOptions): Promise<Verification> {
  const { source, digest, requested, logger } = options;
  const top = await source.manifest(digest);
  const problems: string[] = [];
  const platforms: PlatformReport[] = [];
  const entries: { descriptor?: Descriptor; platform?: Platform; digest: string }[] = [];
  let attestations = 0;

  if (isIndex(top.manifest, top.mediaType)) {
    const index = top.manifest;
    attestations = index.manifests.filter(isAttestationManifest).length;
    for (const descriptor of imageManifests(index)) {
      if (!descriptor.platform) {
        problems.push(`index entry ${descriptor.digest} has no platform`);
        continue;
      }
      entries.push({ descriptor, platform: normalizePlatform(descriptor.platform), digest: descriptor.digest });
    }
    const found = entries.map((e) => e.platform as Platform);
    const missing = requested.filter((r) => !found.some((f) => samePlatform(f, r)));
    const extra = found.filter((f) => !requested.some((r) => samePlatform(f, r)));
    if (missing.length) problems.push(`the index lacks ${missing.map(formatPlatform).join(', ')}`);
    if (extra.length) problems.push(`the index holds ${extra.map(formatPlatform).join(', ')}, which was not asked for`);
    const counted = new Map<string, number>();
    for (const f of found) counted.set(formatPlatform(f), (counted.get(formatPlatform(f)) ?? 0) + 1);
    for (const [name, n] of counted) if (n > 1) problems.push(`the index holds ${name} ${n} times`);
  } else {
    entries.push({ digest });
    if (requested.length !== 1) {
      problems.push(
        `the registry holds a single-platform image manifest, but ${requested.length} platforms were asked for (${requested.map(formatPlatform).join(', ')})`,
      );
    }
  }

  for (const entry of entries) {
    const manifestDoc = entry.descriptor ? await source.manifest(entry.digest) : top;
    if (isIndex(manifestDoc.manifest, manifestDoc.mediaType)) {
      problems.push(`${entry.digest} is a nested index; expected an image manifest`);
      continue;
    }
    const manifest = manifestDoc.manifest;
    const config = JSON.parse((await source.blob(manifest.config.digest)).toString('utf8')) as ImageConfig;
    const configPlatform = platformOfConfig(config);
    const platform = entry.platform ?? configPlatform;
    if (entry.platform && !samePlatform(entry.platform, configPlatform)) {
      problems.push(
        `${formatPlatform(entry.platform)}: the index entry says ${formatPlatform(entry.platform)} but its config says ${formatPlatform(configPlatform)} (manifest ${entry.digest})`,
      );
    }
    if (!entry.descriptor && requested.length === 1 && !samePlatform(configPlatform, requested[0])) {
      problems.push(`the image is ${formatPlatform(configPlatform)}, but ${formatPlatform(requested[0])} was asked for`);
    }
    const report: PlatformReport = {
      platform,
      manifestDigest: entry.digest,
      configDigest: manifest.config.digest,
      size: manifestSize(manifest),
      layers: manifest.layers.length,
    };
    if (options.checkPrograms) {
      const linux = platform.os === 'linux';
      const dirs = options.checkNativeFiles === false || !linux ? [] : applicationDirectories(config.config ?? {});
      const fs = await readFilesystem(source, manifest, logger, dirs);
      // An image claiming another OS than linux is checked for programs of another system (ELF in a windows image).
      const check = linux ? checkProgram : checkForeignOsImage;
      report.program = check(fs.filesystem, config.config ?? {}, platform);
      report.program.notes.push(...fs.notes);
      if (report.program.problem) problems.push(`${formatPlatform(platform)}: ${report.program.problem}`);
      if (dirs.length > 0) {
        report.native = checkNativeFiles(fs.filesystem, dirs, platform, { skip: new Set(report.program.files.map((f) => f.path)) });
        if (report.native.problem) problems.push(`${formatPlatform(platform)}: ${report.native.problem}`);
      }
    }
    platforms.push(report);
  }
  return {
    digest,
    kind: entries[0]?.descriptor || isIndex(top.manifest, top.mediaType) ? 'index' : 'manifest',
    platforms,
    problems,
    attestations,
    ...(top.manifest.annotations && Object.keys(top.manifest.annotations).length ? { annotations: { ...top.manifest.annotations } } : {}),
  };
}

type Decompressor = () => NodeJS.ReadWriteStream;

/** How a layer media type is unpacked; undefined for kinds we cannot read (their files are then unknown). */
export function decompressorFor(mediaType: string): Decompressor | 'none' | undefined {
  if (mediaType === MediaType.ociLayerGzip || mediaType === MediaType.dockerLayerGzip) return () => zlib.createGunzip();
  if (mediaType === MediaType.ociLayerTar || mediaType === 'application/vnd.docker.image.rootfs.diff.tar') return 'none';
  if (mediaType === MediaType.ociLayerZstd) {
    // Node 22.15+ (the Node24 handler) reads zstd; Node 20 does not.
    const zstd = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;
    return zstd ? () => zstd() : undefined;
  }
  return undefined;
}

/** Streams every layer of a manifest into an ImageFilesystem; notes say which layers could not be read. */
export async function readFilesystem(
  source: ImageSource,
  manifest: Manifest,
  logger: Logger,
  headsUnder: readonly string[] = [],
): Promise<{ filesystem: ImageFilesystem; notes: string[] }> {
  const filesystem = new ImageFilesystem({ headsUnder });
  const notes: string[] = [];
  for (const [i, layer] of manifest.layers.entries()) {
    const unpack = decompressorFor(layer.mediaType);
    if (!unpack) {
      filesystem.beginLayer();
      notes.push(`layer ${i + 1} (${layer.mediaType}) could not be read here; files it adds or removes were not seen`);
      continue;
    }
    logger.debug(`reading layer ${i + 1}/${manifest.layers.length} ${layer.digest} (${layer.size} bytes)`);
    const stored = Readable.from(await source.openBlob(layer.digest), { objectMode: false });
    const tar = unpack === 'none' ? stored : stored.pipe(unpack());
    if (unpack !== 'none') stored.on('error', (error) => (tar as NodeJS.ReadWriteStream & { destroy(e: Error): void }).destroy(error));
    await filesystem.applyLayerTar(tar as AsyncIterable<Buffer>);
  }
  return { filesystem, notes };
}
