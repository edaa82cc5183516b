// Types mirroring the OCI image spec (image-index.md, manifest.md, descriptor.md, config.md) and the
// Docker v2 equivalents that registries still serve; only the fields this project reads or checks.

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** BuildKit's in-toto attestation layers (provenance, SBOM). */
  inToto: 'application/vnd.in-toto+json',
} as const;

export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
export const IMAGE_MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
/** What a client accepts when it asks for a manifest of any kind. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [...INDEX_MEDIA_TYPES, ...IMAGE_MANIFEST_MEDIA_TYPES];

/** Annotation BuildKit puts on an attestation manifest's index entry, and the value it uses. */
export const REFERENCE_TYPE_ANNOTATION = 'vnd.docker.reference.type';
export const REFERENCE_DIGEST_ANNOTATION = 'vnd.docker.reference.digest';
export const ATTESTATION_REFERENCE_TYPE = 'attestation-manifest';

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  artifactType?: string;
  /** Only on the entries of an index. */
  platform?: Platform;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
    /** Docker's config carries the shell form's shell here. */
    Shell?: string[];
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }[];
}

/** True for an image index / manifest list, by its media type (field or Content-Type) or its shape. */
export function isIndex(manifest: Index | Manifest, mediaType?: string): manifest is Index {
  const type = mediaType ?? manifest.mediaType;
  if (type && INDEX_MEDIA_TYPES.includes(type)) return true;
  if (type && IMAGE_MANIFEST_MEDIA_TYPES.includes(type)) return false;
  return Array.isArray((manifest as Index).manifests);
}

/**
 * True for the entries BuildKit adds to an index for provenance/SBOM attestations: annotated
 * `vnd.docker.reference.type: attestation-manifest`, and given the platform unknown/unknown.
 */
export function isAttestationManifest(descriptor: Descriptor): boolean {
  if (descriptor.annotations?.[REFERENCE_TYPE_ANNOTATION] === ATTESTATION_REFERENCE_TYPE) return true;
  return descriptor.platform?.os === 'unknown' && descriptor.platform?.architecture === 'unknown';
}

/** The index entries that are images (attestation manifests set aside). */
export function imageManifests(index: Index): Descriptor[] {
  return index.manifests.filter((descriptor) => !isAttestationManifest(descriptor));
}
