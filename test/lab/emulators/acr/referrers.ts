// The OCI 1.1 referrers API of the emulated registry (distribution-spec v1.1: "Listing Referrers" and "Pushing Manifests
// with Subject"), which ACR serves and the lab's backing registry (CNCF distribution 2.8) does not. Switched per
// registry by the policy's `referrersApi` (and, lab only, `referrersApiScope`): off, the request goes to the backing
// registry, whose 404 is what a registry without the API answers, so clients fall back to the `<alg>-<hex>` tag.
//
// The list is derived on every request from what the registry holds: each manifest the emulator saw pushed to the
// repository (its records) is read from the backing registry, and kept when its `subject` is the digest asked for.
// Nothing is stored beside the registry, so a deleted manifest drops out, a restart loses nothing, and switching the
// API on later lists the referrers pushed before (the spec's "Enabling the Referrers API": those listed under a
// fallback tag MUST be listed, all others MAY). Written from the spec, apart from src/registry/referrers.ts, so the
// tests do not check the product against itself.
import type { IncomingHttpHeaders } from 'node:http';
import type { Exchange } from '../http';
import { isDigest } from './context';
import { acrError, registryHeaders } from './errors';
import { type Backing, backingGet, manifestMediaTypes } from './proxy';
import type { RegistryPolicy } from './store';

const ociIndex = 'application/vnd.oci.image.index.v1+json';
const ociManifest = 'application/vnd.oci.image.manifest.v1+json';

export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Whether the registry answers the referrers API (and OCI-Subject) for this repository. */
export function referrersApiServes(policy: RegistryPolicy, repository: string): boolean {
  return Boolean(policy.referrersApi) && (!policy.referrersApiScope || repository.startsWith(policy.referrersApiScope));
}

interface ManifestWithSubject {
  mediaType?: string;
  artifactType?: string;
  config?: { mediaType?: string };
  manifests?: unknown[];
  subject?: { digest?: string };
  annotations?: Record<string, string>;
}

/** The subject digest of an OCI image manifest or index (the only types with a subject), else undefined. */
export function subjectOf(raw: Buffer, contentType: string | undefined): string | undefined {
  const manifest = parse(raw);
  const mediaType = manifest?.mediaType ?? contentType;
  if (mediaType !== ociManifest && mediaType !== ociIndex) return undefined;
  const digest = manifest?.subject?.digest;
  return typeof digest === 'string' && isDigest(digest) ? digest : undefined;
}

/**
 * The descriptor the referrers list holds for a manifest: its media type, digest and size, its `artifactType` (an
 * image manifest without one: its config's media type; an index without one: none) and all its annotations.
 */
export function referrerDescriptor(raw: Buffer, contentType: string | undefined, digest: string): ReferrerDescriptor {
  const manifest = parse(raw) ?? {};
  const mediaType = manifest.mediaType ?? contentType ?? ociManifest;
  const descriptor: ReferrerDescriptor = { mediaType, digest, size: raw.length };
  const artifactType = manifest.artifactType || (mediaType === ociManifest ? manifest.config?.mediaType : undefined);
  if (artifactType) descriptor.artifactType = artifactType;
  if (manifest.annotations && Object.keys(manifest.annotations).length > 0) descriptor.annotations = manifest.annotations;
  return descriptor;
}

/** A manifest of the backing registry by digest: its bytes and content type, or undefined when it is not there. */
export async function backingManifest(
  backing: Backing,
  repository: string,
  digest: string,
): Promise<{ raw: Buffer; contentType?: string } | undefined> {
  const answer = await backingGet(backing, `/v2/${repository}/manifests/${digest}`, { Accept: manifestMediaTypes.join(', ') });
  if (answer.status !== 200) return undefined;
  return { raw: answer.body, contentType: header(answer.headers, 'content-type') };
}

/**
 * GET /v2/<name>/referrers/<digest>[?artifactType=]: an image index of the repository's manifests whose subject is
 * `digest`, in push order; with `artifactType`, only those of that type and `OCI-Filters-Applied: artifactType`.
 * 200 with an empty list when there are none (the API never answers 404); 400 for a malformed digest.
 */
export async function serveReferrers(
  exchange: Exchange,
  backing: Backing,
  repository: string,
  digest: string,
  candidates: readonly string[],
): Promise<void> {
  const { req, res, url } = exchange;
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return acrError(res, 405, 'UNSUPPORTED', `The operation is unsupported: ${req.method} of the referrers API.`);
  if (!isDigest(digest)) return acrError(res, 400, 'DIGEST_INVALID', 'provided digest did not match uploaded content', { Digest: digest });
  const artifactType = url.searchParams.get('artifactType') ?? undefined;
  const found = await Promise.all(
    candidates.map(async (candidate) => {
      const manifest = await backingManifest(backing, repository, candidate);
      if (!manifest || subjectOf(manifest.raw, manifest.contentType) !== digest) return undefined;
      return referrerDescriptor(manifest.raw, manifest.contentType, candidate);
    }),
  );
  const manifests = found.filter((d): d is ReferrerDescriptor => d !== undefined && (!artifactType || d.artifactType === artifactType));
  const text = JSON.stringify({ schemaVersion: 2, mediaType: ociIndex, manifests });
  const headers: Record<string, string | string[]> = {
    ...registryHeaders,
    'Content-Type': ociIndex,
    'Content-Length': String(Buffer.byteLength(text)),
  };
  if (artifactType) headers['OCI-Filters-Applied'] = 'artifactType';
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : text);
}

function parse(raw: Buffer): ManifestWithSubject | undefined {
  try {
    const value = JSON.parse(raw.toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null ? (value as ManifestWithSubject) : undefined;
  } catch {
    return undefined;
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
