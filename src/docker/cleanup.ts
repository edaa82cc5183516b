// The post-job cleanup: remove the images this job built (built-images.ts has the contract), optionally prune the
// build cache down to a size, and stop a daemon the main step started. It reports problems; it never throws
// for one image it could not remove.
import type { Logger } from '../log';
import { CommandError, type Runner } from '../process/exec';
import { BUILT_BY_JOB_LABEL } from './built-images';
import { type ApiEndpoint, engineRequest, expectOk } from './engine-ping';

export type CleanupMode = 'builtImages' | 'prune' | 'none';
export const CLEANUP_MODES: readonly CleanupMode[] = ['builtImages', 'prune', 'none'];

const UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
};

/** A size as docker's flags take it (binary units): 10GB, 512mb, 2g, 1073741824. Throws with the fix. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m?.[2].toLowerCase() ?? '';
  if (!m || !(unit in UNITS || unit === '')) throw new Error(`'${text}' is not a size. Write it like 10GB, 512MB or 2TB.`);
  return Math.round(Number(m[1]) * (UNITS[unit] ?? 1));
}

export interface LocalImage {
  id: string;
  tags: string[];
}

/** The image operations the cleanup needs; engineImages() is the real one, tests hand in a fake. */
export interface ImageStore {
  listByLabel(label: string): Promise<LocalImage[]>;
  /** Removes an image (force: with every tag) or untags a reference; 'missing' when there is nothing by that name. */
  remove(reference: string, force: boolean): Promise<'removed' | 'missing'>;
}

/** The daemon's image store through the Engine API (GET /images/json, DELETE /images/{name}). */
export function engineImages(endpoint: ApiEndpoint, timeoutMs: number): ImageStore {
  return {
    listByLabel: async (label) => {
      const path = `/images/json?filters=${encodeURIComponent(JSON.stringify({ label: [label] }))}`;
      const answer = await engineRequest(endpoint, 'GET', path, timeoutMs);
      expectOk(answer, path);
      const images = JSON.parse(answer.body) as { Id: string; RepoTags?: string[] | null }[];
      return images.map((i) => ({ id: i.Id, tags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>') }));
    },
    remove: async (reference, force) => {
      const path = `/images/${encodeURIComponent(reference)}?force=${force}`;
      const answer = await engineRequest(endpoint, 'DELETE', path, timeoutMs);
      if (answer.status === 404) return 'missing';
      expectOk(answer, path, 'DELETE');
      return 'removed';
    },
  };
}

export interface CleanupReport {
  removed: string[];
  failed: string[];
}

/** Removes every image labelled with this job's id, then untags every recorded reference. */
export async function removeBuiltImages(images: ImageStore, jobId: string, records: string[], log: Logger): Promise<CleanupReport> {
  const report: CleanupReport = { removed: [], failed: [] };
  const labelled = jobId ? await images.listByLabel(`${BUILT_BY_JOB_LABEL}=${jobId}`) : [];
  for (const image of labelled) {
    const name = image.tags.length ? image.tags.join(', ') : image.id;
    try {
      if ((await images.remove(image.id, true)) === 'removed') {
        report.removed.push(name);
        log.info(`removed ${name}`);
      }
    } catch (error) {
      report.failed.push(name);
      log.warn(`could not remove image ${name}: ${(error as Error).message}`);
    }
  }
  for (const reference of records) {
    try {
      if ((await images.remove(reference, false)) === 'removed') {
        report.removed.push(reference);
        log.info(`removed ${reference}`);
      } else {
        log.debug(`${reference} is already gone`);
      }
    } catch (error) {
      report.failed.push(reference);
      log.warn(`could not remove ${reference}: ${(error as Error).message}`);
    }
  }
  return report;
}

export function pruneArgs(keepStorageBytes: number): string[] {
  return ['buildx', 'prune', '--force', '--keep-storage', String(keepStorageBytes)];
}

/** Prunes the current builder's cache down to `keepStorageBytes` (BuildKit removes the least recently used first). */
export async function pruneBuildCache(runner: Runner, keepStorageBytes: number, env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  const args = pruneArgs(keepStorageBytes);
  log.info(`$ docker ${args.join(' ')}`);
  const result = await runner('docker', args, { env, timeoutMs: 10 * 60_000 });
  if (result.exitCode !== 0) throw new CommandError('docker', args, result);
  const total = /Total:\s*(.+)$/m.exec(result.stdout)?.[1];
  log.info(total ? `build cache pruned: ${total.trim()} reclaimed` : 'build cache pruned');
}
