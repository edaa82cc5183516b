// The evidence behind a release, attached to the released digest as OCI 1.1 referrers (image-spec artifact manifests
// with a `subject`): the trivy JSON report and the SARIF, each with its own artifactType, and the SPDX SBOM of each
// platform when the build attached one (BuildKit's in-toto attestation). Pushed through the referrers API where the
// registry answers OCI-Subject, else listed under the `sha256-<hex>` fallback tag (src/registry/referrers.ts); read
// back before anything is released (promote: before the release tags; quarantine: before the referrers and then the
// image are set Passed, src/release/scan-and-release.ts).
import type { Logger } from '../log';
import type { FetchedManifest } from '../registry/client';
import { digestOf } from '../registry/digest';
import { RegistryError } from '../registry/errors';
import { type Descriptor, type Index, type Manifest, MediaType, isAttestationManifest, isIndex } from '../registry/oci';
import { isDigest } from '../registry/reference';
import { type ReferrersRegistry, fallbackTag, listReferrers, putReferrer } from '../registry/referrers';

/** trivy registers no media type for its JSON report; this one names it (vendor tree, as OCI asks). */
export const TRIVY_REPORT_TYPE = 'application/vnd.aquasec.trivy.report.v1+json';
export const SARIF_TYPE = 'application/sarif+json';
export const SPDX_TYPE = 'application/spdx+json';
const EMPTY_CONFIG = Buffer.from('{}');
const EMPTY_TYPE = 'application/vnd.oci.empty.v1+json';
const SPDX_PREDICATE = 'https://spdx.dev/Document';

export interface EvidenceRegistry extends ReferrersRegistry {
  hasBlob(repository: string, digest: string): Promise<boolean>;
  uploadBlob(repository: string, digest: string, bytes: Buffer): Promise<void>;
  getBlob(repository: string, digest: string): Promise<Buffer>;
}

export interface EvidenceFile {
  artifactType: string;
  /** The file's name, for `org.opencontainers.image.title`. */
  title: string;
  bytes: Buffer;
  annotations?: Record<string, string>;
}

export interface AttachedEvidence {
  artifactType: string;
  digest: string;
  by: 'api' | 'tag';
  /** The file's name (`org.opencontainers.image.title`). */
  title: string;
}

/** What attachEvidence pushed and read back: the referrers of `subject`, and the fallback tag index listing them. */
export interface EvidenceSet {
  /** registry-less: repository@digest is the subject's place. */
  repository: string;
  subject: string;
  /** `api`: the registry lists them (referrers API); `tag`: the `sha256-<hex>` fallback tag index does. */
  by: 'api' | 'tag';
  referrers: AttachedEvidence[];
  /** by `tag`: the digest of the fallback tag index as read back (a manifest too: quarantined like the referrers). */
  fallbackIndex?: { tag: string; digest: string };
}

/** The artifact manifest of one evidence file referring to `subject` (pure: same file, same digest). */
export function evidenceManifest(file: EvidenceFile, subject: Descriptor): Buffer {
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: file.artifactType,
    config: { mediaType: EMPTY_TYPE, digest: digestOf(EMPTY_CONFIG), size: EMPTY_CONFIG.length },
    layers: [
      {
        mediaType: file.artifactType,
        digest: digestOf(file.bytes),
        size: file.bytes.length,
        annotations: { 'org.opencontainers.image.title': file.title },
      },
    ],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(file.annotations && Object.keys(file.annotations).length ? { annotations: file.annotations } : {}),
  };
  return Buffer.from(JSON.stringify(manifest));
}

/**
 * Pushes each file as a referrer of `subject` in `repository`, then reads the list back; throws when one is missing.
 * Safe to repeat: the same file is the same referrer (digest), listed once.
 */
export async function attachEvidence(
  registry: EvidenceRegistry,
  repository: string,
  subject: Descriptor,
  files: EvidenceFile[],
  logger: Logger,
): Promise<EvidenceSet> {
  const attached: AttachedEvidence[] = [];
  for (const file of files) {
    for (const blob of [EMPTY_CONFIG, file.bytes]) {
      const digest = digestOf(blob);
      if (!(await registry.hasBlob(repository, digest))) await registry.uploadBlob(repository, digest, blob);
    }
    const raw = evidenceManifest(file, subject);
    const manifest: FetchedManifest = {
      digest: digestOf(raw),
      mediaType: MediaType.ociManifest,
      raw,
      json: JSON.parse(raw.toString('utf8')),
    };
    const by = await putReferrer(registry, repository, manifest, subject.digest);
    attached.push({ artifactType: file.artifactType, digest: manifest.digest, by, title: file.title });
  }
  const listing = await listReferrers(registry, repository, subject.digest);
  for (const evidence of attached) {
    await registry.getManifest(repository, evidence.digest);
    if (!listing.descriptors.some((d) => d.digest === evidence.digest && d.artifactType === evidence.artifactType))
      throw new Error(`The ${evidence.artifactType} referrer ${evidence.digest} of ${subject.digest} is not listed; nothing was released.`);
  }
  const by = attached.some((a) => a.by === 'tag') ? 'tag' : 'api';
  if (attached.length)
    logger.info(
      `Evidence attached to ${subject.digest} (${by === 'api' ? 'referrers API' : `fallback tag ${fallbackTag(subject.digest)}`}), read back: ` +
        attached.map((a) => `${a.artifactType} ${a.digest}`).join(', '),
    );
  return {
    repository,
    subject: subject.digest,
    by,
    referrers: attached,
    ...(by === 'tag' && listing.index ? { fallbackIndex: { tag: fallbackTag(subject.digest), digest: listing.index } } : {}),
  };
}

/**
 * The registry as evidence sees it on a registry that quarantines: a manifest pushed there is quarantined, and a
 * quarantined manifest is hidden by tag (quarantine readers pull by digest), so the fallback tag index this task
 * pushed reads as 404 by its tag until it is released. `tagDigest` names a tag's digest anyway (ACR's
 * /acr/v1/<repo>/_tags/<tag>), and the index is read by that digest; without it, an update of the index would drop
 * what it listed. A tag the registry does not know keeps its first 404.
 */
export function seeingQuarantinedTags(
  registry: EvidenceRegistry,
  tagDigest: (repository: string, tag: string) => Promise<string>,
): EvidenceRegistry {
  return {
    getManifest: async (repository, reference) => {
      try {
        return await registry.getManifest(repository, reference);
      } catch (error) {
        if (isDigest(reference) || !(error instanceof RegistryError && error.status === 404)) throw error;
        const digest = await tagDigest(repository, reference).catch(() => undefined);
        if (!digest || !isDigest(digest)) throw error;
        return registry.getManifest(repository, digest);
      }
    },
    putManifest: (repository, reference, mediaType, raw) => registry.putManifest(repository, reference, mediaType, raw),
    getReferrers: (repository, digest) => registry.getReferrers(repository, digest),
    hasBlob: (repository, digest) => registry.hasBlob(repository, digest),
    uploadBlob: (repository, digest, bytes) => registry.uploadBlob(repository, digest, bytes),
    getBlob: (repository, digest) => registry.getBlob(repository, digest),
  };
}

/**
 * The SPDX SBOMs BuildKit attached to an index (an attestation manifest per platform, whose in-toto layers carry
 * `in-toto.io/predicate-type: https://spdx.dev/Document`): the predicate of each, with the platform it describes.
 */
export async function sbomsOf(registry: EvidenceRegistry, repository: string, index: FetchedManifest): Promise<EvidenceFile[]> {
  if (!isIndex(index.json, index.mediaType)) return [];
  const entries = (index.json as Index).manifests;
  const files: EvidenceFile[] = [];
  for (const attestation of entries.filter(isAttestationManifest)) {
    const described = entries.find((d) => d.digest === attestation.annotations?.['vnd.docker.reference.digest']);
    const platform = described?.platform
      ? [described.platform.os, described.platform.architecture, described.platform.variant].filter(Boolean).join('/')
      : 'unknown';
    const manifest = (await registry.getManifest(repository, attestation.digest)).json as Manifest;
    for (const layer of manifest.layers ?? []) {
      if (layer.annotations?.['in-toto.io/predicate-type'] !== SPDX_PREDICATE) continue;
      const statement = JSON.parse((await registry.getBlob(repository, layer.digest)).toString('utf8')) as { predicate?: unknown };
      if (!statement.predicate) continue;
      files.push({
        artifactType: SPDX_TYPE,
        title: `sbom-${platform.replace(/\//g, '-')}.spdx.json`,
        bytes: Buffer.from(JSON.stringify(statement.predicate)),
        annotations: { 'vnd.container-release.platform': platform },
      });
    }
  }
  return files;
}
