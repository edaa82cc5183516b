// What buildx writes to --metadata-file, and what its plain progress says about the cache.
import { readFileSync } from 'node:fs';
import { isDigest } from '../registry/reference';

export interface BuildMetadata {
  'containerimage.digest'?: string;
  'containerimage.config.digest'?: string;
  'containerimage.descriptor'?: { mediaType: string; digest: string; size: number };
  'image.name'?: string;
  'buildx.build.ref'?: string;
  [key: string]: unknown;
}

export function readMetadata(file: string): BuildMetadata {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`buildx wrote no metadata file (${file}); it may be too old (--metadata-file needs buildx 0.6 or later).`);
  }
  const parsed = JSON.parse(text || 'null') as BuildMetadata | null;
  return parsed ?? {};
}

/** The pushed image's digest: an index digest for several platforms (or with attestations), else a manifest's. */
export function builtImageDigest(metadata: BuildMetadata): string {
  const digest = metadata['containerimage.digest'] ?? metadata['containerimage.descriptor']?.digest;
  if (!digest || !isDigest(digest))
    throw new Error('buildx reported no image digest in its metadata file, so what was pushed cannot be named.');
  return digest;
}

export interface CacheUse {
  /** Build steps (Dockerfile instructions) buildx ran or took from the cache. */
  steps: number;
  cached: number;
}

/**
 * Counts the Dockerfile steps in `--progress plain` output: a vertex named `[stage n/m] INSTRUCTION` and whether it
 * ended `CACHED`. Steps that appear once per platform count once per platform, as BuildKit runs them.
 */
export function cacheUse(progress: string): CacheUse {
  const steps = new Set<string>();
  const cached = new Set<string>();
  for (const line of progress.split(/\r?\n/)) {
    const step = /^#(\d+) \[[^\]]*\d+\/\d+\] /.exec(line);
    if (step) steps.add(step[1]);
    const hit = /^#(\d+) CACHED\s*$/.exec(line);
    if (hit) cached.add(hit[1]);
  }
  return { steps: steps.size, cached: [...cached].filter((v) => steps.has(v)).length };
}

/** `imagetools create --progress plain` prints `pushing sha256:<digest> to <ref>`. */
export function pushedIndexDigest(output: string): string | undefined {
  const match = /pushing (sha256:[a-f0-9]{64}) to /.exec(output);
  return match?.[1];
}
