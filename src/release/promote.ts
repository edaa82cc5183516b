// release: promote. Where quarantine is off or unusable, the scanned digest is copied from the staging repository to
// a release repository of the same registry: exactly that digest (never a tag, so a staging tag moved after the scan
// changes nothing), with every child of an index and every referrer (attestations, signatures, evidence), blobs
// mounted across repositories (no bytes travel), everything read back by digest, and only then the release tags.
// A run that stops half-way leaves untagged content, which the next run finds present and completes. Registry calls
// retry 429/5xx a bounded number of times (src/registry/client.ts); what still fails fails the run with nothing tagged.
import type { Logger } from '../log';
import type { FetchedManifest, ManifestHead } from '../registry/client';
import { type Descriptor, type Index, type Manifest, isIndex } from '../registry/oci';
import { type ReferrersRegistry, listReferrers, putReferrer } from '../registry/referrers';
import type { EvidenceSet } from './evidence';

/** What promotion needs from the registry client (src/registry/client.ts RegistryClient). */
export interface PromoteRegistry extends ReferrersRegistry {
  headManifest(repository: string, reference: string): Promise<ManifestHead | undefined>;
  hasBlob(repository: string, digest: string): Promise<boolean>;
  mountBlob(repository: string, digest: string, from: string): Promise<boolean>;
  uploadBlob(repository: string, digest: string, bytes: Buffer): Promise<void>;
  getBlob(repository: string, digest: string): Promise<Buffer>;
}

export interface PromoteRequest {
  registry: string;
  /** The staging repository the scanned digest is in. */
  from: string;
  /** The release repository. */
  to: string;
  /** The scanned digest. */
  digest: string;
  /** Applied after everything was read back. */
  tags: string[];
  /** Runs after the read-back and before the tags (the evidence referrers): a failure leaves nothing tagged. */
  beforeTags?: (subject: Descriptor, top: FetchedManifest) => Promise<EvidenceSet | undefined>;
}

export interface PromoteResult {
  /** registry/to@digest */
  reference: string;
  /** The release repository (to). */
  repository: string;
  digest: string;
  manifests: { copied: number; present: number };
  blobs: { mounted: number; uploaded: number; present: number };
  referrers: number;
  /** How the release repository lists referrers: its API, or the fallback tag index this run keeps. */
  referrersBy?: 'api' | 'tag';
  tags: string[];
  /** The evidence attached to the released digest (beforeTags), read back before the tags. */
  evidence?: EvidenceSet;
  /** The digest the release repository answered for the copy, from its bytes (the client hashes them); each tag was read back as it. */
  readBack?: string;
}

/** One manifest to copy, in order: children before their index, a subject before its referrers. */
interface Node {
  manifest: FetchedManifest;
  /** Set for a referrer: the digest it refers to. */
  subject?: string;
}

const MAX_NODES = 500;

/** Every manifest under a digest (children, referrers, referrers of referrers) in the order they must be copied. */
export async function collect(registry: PromoteRegistry, repository: string, digest: string): Promise<Node[]> {
  const nodes: Node[] = [];
  const seen = new Set<string>();
  const visit = async (current: string, subject?: string): Promise<void> => {
    if (seen.has(current)) return;
    seen.add(current);
    if (seen.size > MAX_NODES)
      throw new Error(`${repository}@${digest} has more than ${MAX_NODES} manifests and referrers; refusing to copy it.`);
    const manifest = await registry.getManifest(repository, current);
    if (isIndex(manifest.json, manifest.mediaType)) for (const child of (manifest.json as Index).manifests) await visit(child.digest);
    nodes.push({ manifest, subject });
    for (const referrer of (await listReferrers(registry, repository, current)).descriptors) await visit(referrer.digest, current);
  };
  await visit(digest);
  return nodes;
}

/** The blobs a manifest needs (config and layers; an index needs none). */
export function blobsOf(manifest: FetchedManifest): Descriptor[] {
  if (isIndex(manifest.json, manifest.mediaType)) return [];
  const json = manifest.json as Manifest;
  return [json.config, ...(json.layers ?? [])].filter((d): d is Descriptor => Boolean(d?.digest) && !d.urls?.length);
}

export async function promote(request: PromoteRequest, registry: PromoteRegistry, logger: Logger): Promise<PromoteResult> {
  const { from, to, digest } = request;
  if (from === to) throw new Error(`release: promote copies to another repository; releaseRepository is the staging repository ${from}.`);
  const nodes = await collect(registry, from, digest);
  const top = nodes.find((n) => n.manifest.digest === digest && !n.subject);
  if (!top) throw new Error(`${from}@${digest} was not read.`);
  const result: PromoteResult = {
    reference: `${request.registry}/${to}@${digest}`,
    repository: to,
    digest,
    manifests: { copied: 0, present: 0 },
    blobs: { mounted: 0, uploaded: 0, present: 0 },
    referrers: nodes.filter((n) => n.subject).length,
    tags: [],
  };
  const copiedBlobs = new Set<string>();
  for (const node of nodes) {
    for (const blob of blobsOf(node.manifest)) {
      if (copiedBlobs.has(blob.digest)) continue;
      copiedBlobs.add(blob.digest);
      if (await registry.hasBlob(to, blob.digest)) result.blobs.present++;
      else if (await registry.mountBlob(to, blob.digest, from)) result.blobs.mounted++;
      else {
        // The registry would not mount (another storage, or no pull on the source in the token): copy the bytes.
        logger.warn(`${request.registry} did not mount ${blob.digest} from ${from}; uploading it (${blob.size} bytes).`);
        await registry.uploadBlob(to, blob.digest, await registry.getBlob(from, blob.digest));
        result.blobs.uploaded++;
      }
    }
    const present = await registry.headManifest(to, node.manifest.digest);
    if (node.subject) {
      result.referrersBy = await putReferrer(registry, to, node.manifest, node.subject);
      result.manifests[present ? 'present' : 'copied']++;
    } else if (present?.digest === node.manifest.digest) {
      result.manifests.present++;
    } else {
      await registry.putManifest(to, node.manifest.digest, node.manifest.mediaType, node.manifest.raw);
      result.manifests.copied++;
    }
  }

  // Read back by digest (bytes verified against the digest by the client), blobs and referrers included.
  for (const node of nodes) {
    const copy = await registry.getManifest(to, node.manifest.digest);
    if (node === top) result.readBack = copy.digest;
  }
  for (const blob of copiedBlobs)
    if (!(await registry.hasBlob(to, blob))) throw new Error(`${request.registry}/${to} lacks ${blob} after the copy; nothing was tagged.`);
  const listed = new Set((await listReferrers(registry, to, digest)).descriptors.map((d) => d.digest));
  const missing = nodes.filter((n) => n.subject === digest && !listed.has(n.manifest.digest));
  if (missing.length > 0)
    throw new Error(
      `${result.reference} does not list its referrer(s) ${missing.map((n) => n.manifest.digest).join(', ')}; nothing was tagged.`,
    );
  logger.info(
    `Copied ${from}@${digest} to ${to}: ${nodes.length} manifest(s) (${result.manifests.copied} copied, ${result.manifests.present} already there; ` +
      `${result.referrers} referrer(s)), ${copiedBlobs.size} blob(s) (${result.blobs.mounted} mounted, ${result.blobs.uploaded} uploaded, ${result.blobs.present} already there); read back by digest.`,
  );

  const subject: Descriptor = { mediaType: top.manifest.mediaType, digest, size: top.manifest.raw.length };
  if (request.beforeTags) {
    const evidence = await request.beforeTags(subject, top.manifest);
    if (evidence) result.evidence = evidence;
  }

  for (const tag of request.tags) {
    await registry.putManifest(to, tag, top.manifest.mediaType, top.manifest.raw);
    const head = await registry.headManifest(to, tag);
    if (head?.digest !== digest) throw new Error(`${request.registry}/${to}:${tag} points to ${head?.digest ?? 'nothing'}, not ${digest}.`);
    result.tags.push(tag);
  }
  if (result.tags.length) logger.info(`Tagged ${result.reference} as ${result.tags.join(', ')}.`);
  return result;
}

/**
 * Promotion is for registries without a usable quarantine: on one that quarantines, the copy would be quarantined
 * too (a new push starts quarantined) and the staging digest stays blocked. Refused, with the way out.
 */
export function refusePromoteUnderQuarantine(reference: string, state: string | undefined): void {
  if (state === undefined || state === 'Passed') return;
  throw new Error(
    `release: promote needs a registry without quarantine, but ${reference} is ${state}: its copy would be quarantined too. ` +
      'Use release: quarantine on this registry (or turn its quarantine policy off).',
  );
}
