// The vulnerability DB lifecycle of trivy (pkg/db/db.go, pkg/commands/operation): <cache-dir>/db/metadata.json
// decides whether to download; the download is an OCI artifact pull of --db-repository (default: the lab's
// repository, fixed at packaging time) whose layer db.tar.gz holds trivy.db and metadata.json.
// The stand-in's trivy.db is a small JSON marker: it carries no vulnerability data (findings come from fixtures).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GoError, type GoTime, errorText, rfc3339NanoUTC, wrap } from './go';
import type { Logger } from './log';
import type { HttpSettings } from './net';
import { parseReference } from './reference';
import { RegistryClient } from './registry';
import { readTar } from './tar';

export const dbSchemaVersion = 2;
export const dbLayerMediaType = 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip';
export const dbConfigMediaType = 'application/vnd.aquasec.trivy.config.v1+json';
export const dbMarker = 'trivy-db lab stand-in';

export interface DbMetadata {
  Version: number;
  NextUpdate: string;
  UpdatedAt: string;
  DownloadedAt: string;
}

export function dbDir(cacheDir: string): string {
  return path.join(cacheDir, 'db');
}

export function readDbMetadata(cacheDir: string): DbMetadata | undefined {
  const file = path.join(dbDir(cacheDir), 'metadata.json');
  if (!existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as DbMetadata;
    return typeof parsed.Version === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export interface DbOptions {
  cacheDir: string;
  repositories: string[];
  skipUpdate: boolean;
  http: HttpSettings;
  log: Logger;
}

/** isNewDB: fresh until NextUpdate, and never re-downloaded within an hour of the last download. */
function isFresh(meta: DbMetadata, now: number): boolean {
  return now < Date.parse(meta.NextUpdate) || now - Date.parse(meta.DownloadedAt) < 3_600_000;
}

/** NeedsUpdate + Download; throws trivy's errors (the caller prefixes "init error: DB error: "). */
export async function ensureDb(options: DbOptions): Promise<void> {
  const meta = readDbMetadata(options.cacheDir);
  const log = options.log;
  if (!meta && options.skipUpdate) {
    log.error('The first run cannot skip downloading DB', undefined, 'vulndb');
    throw new GoError('--skip-db-update cannot be specified on the first run');
  }
  if (meta && (options.skipUpdate || isFresh(meta, Date.now()))) return checkDbFile(options.cacheDir);
  log.info('Need to update DB', undefined, 'vulndb');
  log.info('Downloading vulnerability DB...', undefined, 'vulndb');
  for (const repository of options.repositories) {
    log.info('Downloading artifact...', { repo: repository }, 'vulndb');
    try {
      await downloadArtifact(repository, options);
    } catch (error) {
      if (options.http.signal.aborted) throw wrap('failed to download vulnerability DB', wrap('OCI artifact error', error));
      log.error('Failed to download artifact', { repo: repository, err: errorText(error) }, 'vulndb');
      continue;
    }
    log.info('Artifact successfully downloaded', { repo: repository }, 'vulndb');
    const fresh = readDbMetadata(options.cacheDir);
    if (!fresh) throw new GoError('Failed to get DB metadata after the download');
    fresh.DownloadedAt = rfc3339NanoUTC({ ms: Date.now(), extraNanos: 0 });
    writeFileSync(path.join(dbDir(options.cacheDir), 'metadata.json'), JSON.stringify(fresh));
    return checkDbFile(options.cacheDir);
  }
  throw wrap(
    'failed to download vulnerability DB',
    wrap('OCI artifact error', wrap('failed to download vulnerability DB', new GoError('failed to download artifact from any source'))),
  );
}

function checkDbFile(cacheDir: string): void {
  const file = path.join(dbDir(cacheDir), 'trivy.db');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw wrap(
      'failed to open db',
      new GoError(`open ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : errorText(error)}`),
    );
  }
  if (!text.includes(dbMarker)) throw wrap('failed to open db', new GoError(`${file}: invalid database`));
}

async function downloadArtifact(repository: string, options: DbOptions): Promise<void> {
  const explicit = /[:@][^/]*$/.test(repository);
  const ref = parseReference(explicit ? repository : `${repository}:${dbSchemaVersion}`);
  const client = new RegistryClient(ref.registry, ref.repository, undefined, options.http);
  const manifestResult = await client.manifest(ref.digest ?? (ref.tag as string), repository);
  const manifest = JSON.parse(manifestResult.body.toString('utf8')) as {
    layers?: Array<{ mediaType?: string; digest: string; size?: number }>;
  };
  const layer = (manifest.layers ?? []).find((l) => l.mediaType === dbLayerMediaType);
  if (!layer) throw new GoError(`OCI artifact must be a single layer: no layer of media type ${dbLayerMediaType}`);
  const blob = await client.blob(layer.digest);
  let files;
  try {
    files = readTar(gunzipSync(blob));
  } catch (error) {
    throw wrap('unable to extract the DB layer', error);
  }
  const dir = dbDir(options.cacheDir);
  mkdirSync(dir, { recursive: true });
  for (const name of ['trivy.db', 'metadata.json']) {
    const entry = files.find((f) => f.name === name);
    if (!entry) throw new GoError(`the DB layer has no ${name}`);
    // Write then rename, so a concurrent reader never sees half a file.
    const target = path.join(dir, name);
    writeFileSync(`${target}.tmp`, entry.data);
    renameSync(`${target}.tmp`, target);
  }
}

/** Builds the artifact's files (for the lab's release server and for tests). */
export function dbLayerFiles(updatedAt: GoTime, nextUpdate: GoTime): Array<{ name: string; data: Buffer }> {
  const metadata: DbMetadata = {
    Version: dbSchemaVersion,
    NextUpdate: rfc3339NanoUTC(nextUpdate),
    UpdatedAt: rfc3339NanoUTC(updatedAt),
    DownloadedAt: '0001-01-01T00:00:00Z',
  };
  const db = {
    kind: dbMarker,
    schemaVersion: dbSchemaVersion,
    note: 'No vulnerability data: findings come from the report fixtures named by image labels.',
  };
  return [
    { name: 'trivy.db', data: Buffer.from(`${JSON.stringify(db)}\n`) },
    { name: 'metadata.json', data: Buffer.from(JSON.stringify(metadata)) },
  ];
}
