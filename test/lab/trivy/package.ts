// Packaging of the trivy stand-in: one self-contained JS file (esbuild, node shebang, fixtures embedded),
// release tarballs laid out like trivy's goreleaser archives, a goreleaser checksums file, and the
// vulnerability DB as an OCI artifact in the registry layout a static server can answer
// (GET /v2/<repo>/manifests/<tag>, GET /v2/<repo>/blobs/<digest>).
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { type DbMetadata, dbConfigMediaType, dbLayerFiles, dbLayerMediaType } from './src/db';
import type { GoTime } from './src/go';
import { fixtureTexts } from './src/fixtures-data';
import { parseReference } from './src/reference';
import { createTar, readTar } from './src/tar';

export const standInDir = __dirname;

/** Write then rename: whoever reads the release server meanwhile sees the old file or the new one, never half. */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, data);
  renameSync(temporary, file);
}

export interface BundleOptions {
  outFile: string;
  /** the version `trivy --version` reports */
  version: string;
  /** the default --db-repository (the lab's, from lab.json trivy.dbRepository) */
  dbRepository: string;
}

/** Builds the `trivy` executable: a single JS file that runs with node and no node_modules. */
export async function bundleStandIn(options: BundleOptions): Promise<void> {
  const fixtures = fixtureTexts();
  const embedFixtures: esbuild.Plugin = {
    name: 'embed-trivy-fixtures',
    setup(build) {
      build.onResolve({ filter: /^\.\/fixtures-data$/ }, () => ({ path: 'fixtures-data', namespace: 'lab-trivy-fixtures' }));
      build.onLoad({ filter: /.*/, namespace: 'lab-trivy-fixtures' }, () => ({
        loader: 'js',
        contents: `const texts = ${JSON.stringify(fixtures)};\nexport const fixtureDir = "(embedded)";\nexport function fixtureTexts() { return texts; }\n`,
      }));
    },
  };
  mkdirSync(path.dirname(options.outFile), { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(standInDir, 'src', 'cli.ts')],
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    outfile: options.outFile,
    banner: { js: '#!/usr/bin/env node' },
    define: { __LAB_TRIVY_BUILD__: JSON.stringify({ version: options.version, dbRepository: options.dbRepository }) },
    plugins: [embedFixtures],
    legalComments: 'none',
    logLevel: 'silent',
  });
  chmodSync(options.outFile, 0o755);
}

/** Release asset names, as goreleaser names trivy's. */
export function tarballName(version: string, arch: '64bit' | 'ARM64'): string {
  return `trivy_${version}_Linux-${arch}.tar.gz`;
}

export function checksumsName(version: string): string {
  return `trivy_${version}_checksums.txt`;
}

// Fixed timestamps keep the archives byte-identical from one build to the next.
const archiveMtime = 1_767_225_600; // 2026-01-01T00:00:00Z

/** Like trivy's tarball, no top directory: the executable, README.md and LICENSE (trivy's contrib/ templates are left out: nothing uses them). */
export function releaseTarball(executable: Buffer): Buffer {
  const file = (name: string): Buffer => readFileSync(path.join(standInDir, name));
  const tar = createTar(
    [
      { name: 'LICENSE', data: file('package/LICENSE') },
      { name: 'README.md', data: file('package/README.md') },
      { name: 'trivy', data: executable, mode: 0o755 },
    ],
    archiveMtime,
  );
  return gzipSync(tar, { level: 9 });
}

/** What an installer that skips checksum verification would end up running. */
export function tamperedExecutable(): Buffer {
  return Buffer.from(
    '#!/usr/bin/env node\n' +
      '// Tampered lab release asset: its sha256 does not match trivy_<version>_checksums.txt.\n' +
      "process.stderr.write('lab: TAMPERED trivy executed - the installer skipped checksum verification\\n');\n" +
      'process.exit(99);\n',
  );
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** goreleaser's checksums file: "<sha256>  <name>" lines sorted by name. */
export function checksumsFile(assets: Record<string, Buffer>): string {
  return Object.keys(assets)
    .sort()
    .map((name) => `${sha256Hex(assets[name])}  ${name}\n`)
    .join('');
}

export interface DbArtifactOptions {
  /** root the static server serves (lab.releasesDir) */
  root: string;
  /** e.g. releases.lab.test/aquasec/trivy-db:2 */
  repository: string;
  updatedAt: GoTime;
  nextUpdate: GoTime;
}

/** Writes the DB artifact where GET /v2/<repo>/manifests/<tag> and /v2/<repo>/blobs/<digest> find it. */
export function writeDbArtifact(options: DbArtifactOptions): { manifestFile: string; manifestDigest: string } {
  const { dir: repoDir, tag } = dbRepoDir(options.root, options.repository);
  const blobsDir = path.join(repoDir, 'blobs');
  const manifestsDir = path.join(repoDir, 'manifests');
  mkdirSync(blobsDir, { recursive: true });
  mkdirSync(manifestsDir, { recursive: true });
  const layer = gzipSync(createTar(dbLayerFiles(options.updatedAt, options.nextUpdate), Math.floor(options.updatedAt.ms / 1000)));
  const config = Buffer.from('{}');
  const blob = (data: Buffer): { digest: string; size: number } => {
    const digest = `sha256:${sha256Hex(data)}`;
    writeFileAtomic(path.join(blobsDir, digest), data);
    return { digest, size: data.length };
  };
  const layerBlob = blob(layer);
  const configBlob = blob(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.aquasec.trivy.config.v1+json',
      config: { mediaType: dbConfigMediaType, ...configBlob },
      layers: [{ mediaType: dbLayerMediaType, ...layerBlob, annotations: { 'org.opencontainers.image.title': 'db.tar.gz' } }],
      annotations: { 'org.opencontainers.image.created': new Date(options.updatedAt.ms).toISOString().replace(/\.\d+Z$/, 'Z') },
    }),
  );
  const manifestDigest = `sha256:${sha256Hex(manifest)}`;
  writeFileAtomic(path.join(blobsDir, manifestDigest), manifest);
  const manifestFile = path.join(manifestsDir, tag);
  writeFileAtomic(manifestFile, manifest);
  return { manifestFile, manifestDigest };
}

function dbRepoDir(root: string, repository: string): { dir: string; tag: string } {
  const ref = parseReference(/[:@][^/]*$/.test(repository) ? repository : `${repository}:2`);
  return { dir: path.join(root, 'v2', ...ref.repository.split('/')), tag: ref.tag ?? (ref.digest as string) };
}

/** The metadata.json inside the DB artifact currently served, if there is one. */
export function readDbMetadataFromArtifact(root: string, repository: string): DbMetadata | undefined {
  const { dir, tag } = dbRepoDir(root, repository);
  try {
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifests', tag), 'utf8')) as {
      layers?: Array<{ mediaType: string; digest: string }>;
    };
    const layer = manifest.layers?.find((l) => l.mediaType === dbLayerMediaType);
    if (!layer) return undefined;
    const files = readTar(gunzipSync(readFileSync(path.join(dir, 'blobs', layer.digest))));
    const metadata = files.find((f) => f.name === 'metadata.json');
    return metadata ? (JSON.parse(metadata.data.toString('utf8')) as DbMetadata) : undefined;
  } catch {
    return undefined;
  }
}

/** A hash over everything that ends up in the packaged stand-in, to rebuild only when something changed. */
export function standInSourceHash(extra: string[]): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir).sort()) {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) walk(full);
      else hash.update(`${path.relative(standInDir, full)}\0`).update(readFileSync(full));
    }
  };
  for (const dir of ['src', 'fixtures', 'package']) walk(path.join(standInDir, dir));
  hash.update(readFileSync(__filename));
  hash.update(esbuild.version);
  for (const item of extra) hash.update(`\0${item}`);
  return hash.digest('hex');
}
