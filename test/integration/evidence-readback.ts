// The evidence a ScanAndRelease run attached, read back as a client of the registry reads it (for promote.test.ts and
// quarantine-evidence.test.ts): the referrers of a digest through the referrers API or the `sha256-<hex>` fallback tag
// index, then each referrer's manifest and its one layer, as one lab identity; and the checks of the trivy report and
// the SARIF among them.
import { strict as assert } from 'node:assert';
import { acrCall, identityRefreshToken, ociIndexType, ociManifestType } from '../lab/emulators/testkit';
import type { AppIdentityName, Lab, RegistryName } from '../lab/lab';

export const trivyReportType = 'application/vnd.aquasec.trivy.report.v1+json';
export const sarifType = 'application/sarif+json';
// Every manifest type, docker's too: without them the lab's registry (distribution 2.8) would answer a schema 1 conversion.
export const manifestAccept = [
  ociIndexType,
  ociManifestType,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Who reads: a registry of the lab and one of its identities. */
export interface Reader {
  lab: Lab;
  registry: RegistryName;
  identity: AppIdentityName;
}

/** A GET of the registry API (`/v2/<repository>/<pathAndQuery>`) as the reader. */
export async function registryGet(reader: Reader, repository: string, pathAndQuery: string, accept = manifestAccept) {
  const { lab, registry, identity } = reader;
  return acrCall(lab, registry, await identityRefreshToken(lab, registry, identity), `/v2/${repository}/${pathAndQuery}`, {
    headers: { Accept: accept },
  });
}

export interface ReadEvidence {
  descriptor: { digest: string; artifactType?: string; annotations?: Record<string, string> };
  manifest: { artifactType?: string; subject?: { digest: string }; layers: { mediaType: string; digest: string }[] };
  content: Buffer;
}

/** The referrers of `subject` in `repository` as the reader sees them; each listed one must be pullable. */
export async function readReferrers(reader: Reader, repository: string, subject: string, via: 'api' | 'tag'): Promise<ReadEvidence[]> {
  const listing = await registryGet(
    reader,
    repository,
    via === 'api' ? `referrers/${subject}` : `manifests/${subject.replace(':', '-')}`,
    ociIndexType,
  );
  assert.equal(
    listing.status,
    200,
    `${via === 'api' ? 'referrers API' : 'fallback tag'} as ${reader.identity}: ${listing.status} ${listing.text}`,
  );
  assert.equal(listing.headers['content-type'], ociIndexType);
  const read: ReadEvidence[] = [];
  for (const descriptor of listing.json<{ manifests: ReadEvidence['descriptor'][] }>().manifests) {
    const manifest = await registryGet(reader, repository, `manifests/${descriptor.digest}`, ociManifestType);
    assert.equal(manifest.status, 200, `the referrer ${descriptor.digest} as ${reader.identity}: ${manifest.status} ${manifest.text}`);
    const json = manifest.json<ReadEvidence['manifest']>();
    const blob = await registryGet(reader, repository, `blobs/${json.layers[0].digest}`, '*/*');
    assert.equal(blob.status, 200);
    read.push({ descriptor, manifest: json, content: blob.body });
  }
  return read;
}

/** The trivy report and the SARIF among the referrers: one of each, its own artifactType, the subject, what it holds. */
export function assertScanEvidence(read: ReadEvidence[], subject: string): ReadEvidence[] {
  return [trivyReportType, sarifType].map((type) => {
    const found = read.filter((r) => r.descriptor.artifactType === type);
    assert.equal(found.length, 1, `one ${type} referrer: ${JSON.stringify(read.map((r) => r.descriptor))}`);
    const [evidence] = found;
    assert.equal(evidence.manifest.artifactType, type);
    assert.equal(evidence.manifest.subject?.digest, subject, `the ${type} referrer's subject is the released digest`);
    assert.equal(evidence.manifest.layers[0].mediaType, type);
    const json = JSON.parse(evidence.content.toString('utf8')) as { SchemaVersion?: number; version?: string; runs?: unknown[] };
    if (type === trivyReportType) assert.equal(json.SchemaVersion, 2, 'a trivy JSON report');
    else assert.ok(json.version === '2.1.0' && Array.isArray(json.runs), 'a SARIF 2.1.0 log');
    return evidence;
  });
}
