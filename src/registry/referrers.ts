// OCI 1.1 referrers (distribution-spec v1.1 "Listing Referrers", image-spec manifest `subject`): artifacts that refer
// to a manifest by its digest (signatures, SBOMs, scan reports). A registry with the referrers API indexes them itself
// and says so by answering a manifest PUT with `OCI-Subject`; on one without it, the client keeps an image index under
// the fallback tag `<alg>-<hex>` of the subject ("referrers tag schema"), which it reads and updates.
import type { FetchedManifest } from './client';
import { RegistryError } from './errors';
import { type Descriptor, type Index, type Manifest, MediaType } from './oci';

/** What this module needs from the registry client (src/registry/client.ts). */
export interface ReferrersRegistry {
  getManifest(repository: string, reference: string): Promise<FetchedManifest>;
  putManifest(
    repository: string,
    reference: string,
    mediaType: string,
    raw: Buffer,
  ): Promise<{ digest: string; subjectProcessed: boolean }>;
  getReferrers(repository: string, digest: string): Promise<Index | undefined>;
}

/** The fallback tag of a subject digest: `sha256:<hex>` -> `sha256-<hex>`. */
export function fallbackTag(digest: string): string {
  return digest.replace(':', '-');
}

/** The descriptor of a referrer as the referrers index lists it: its artifactType (or config type) and annotations. */
export function referrerDescriptor(manifest: FetchedManifest): Descriptor {
  const json = manifest.json as Manifest;
  const descriptor: Descriptor = {
    mediaType: manifest.mediaType || MediaType.ociManifest,
    digest: manifest.digest,
    size: manifest.raw.length,
  };
  const artifactType = json.artifactType ?? json.config?.mediaType;
  if (artifactType) descriptor.artifactType = artifactType;
  if (json.annotations && Object.keys(json.annotations).length > 0) descriptor.annotations = json.annotations;
  return descriptor;
}

/** Adds descriptors to a referrers index, replacing none (by digest) and keeping the order: pure. */
export function mergeReferrers(existing: readonly Descriptor[], added: readonly Descriptor[]): Descriptor[] {
  const merged = [...existing];
  for (const descriptor of added) if (!merged.some((d) => d.digest === descriptor.digest)) merged.push(descriptor);
  return merged;
}

export interface Referrers {
  /** `api`: the registry listed them; `tag`: read from the fallback tag (none there is an empty list). */
  source: 'api' | 'tag';
  descriptors: Descriptor[];
  /** `tag`: the digest of the fallback tag's index, when there is one. */
  index?: string;
}

/** The referrers of a digest: through the API where the registry has it, else from the fallback tag. */
export async function listReferrers(registry: ReferrersRegistry, repository: string, digest: string): Promise<Referrers> {
  const listed = await registry.getReferrers(repository, digest);
  if (listed) return { source: 'api', descriptors: listed.manifests };
  const fallback = await readFallbackIndex(registry, repository, digest);
  return { source: 'tag', descriptors: fallback?.manifests ?? [], ...(fallback ? { index: fallback.digest } : {}) };
}

async function readFallbackIndex(
  registry: ReferrersRegistry,
  repository: string,
  digest: string,
): Promise<(Index & { digest: string }) | undefined> {
  try {
    const fetched = await registry.getManifest(repository, fallbackTag(digest));
    const index = fetched.json as Index;
    return Array.isArray(index.manifests) ? { ...index, digest: fetched.digest } : undefined;
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return undefined;
    throw error;
  }
}

/**
 * Puts a referrer manifest (its blobs must be there) and makes it listed: nothing more where the registry processed
 * its subject, else its descriptor is merged into the subject's fallback tag index. Safe to repeat.
 */
export async function putReferrer(
  registry: ReferrersRegistry,
  repository: string,
  referrer: FetchedManifest,
  subject: string,
): Promise<'api' | 'tag'> {
  const { subjectProcessed } = await registry.putManifest(
    repository,
    referrer.digest,
    referrer.mediaType || MediaType.ociManifest,
    referrer.raw,
  );
  if (subjectProcessed) return 'api';
  const existing = await readFallbackIndex(registry, repository, subject);
  const manifests = mergeReferrers(existing?.manifests ?? [], [referrerDescriptor(referrer)]);
  if (existing && manifests.length === existing.manifests.length) return 'tag';
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  await registry.putManifest(repository, fallbackTag(subject), MediaType.ociIndex, Buffer.from(JSON.stringify(index)));
  return 'tag';
}
