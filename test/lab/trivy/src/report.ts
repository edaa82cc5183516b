// Turns the real image (manifest, config, digests) and the fixture named by its `lab.trivy.report` label into
// the report trivy would print for that image: the fixture's findings, the image's own identity.
import { randomBytes } from 'node:crypto';
import { GoError, type GoTime, rfc3339NanoUTC } from './go';
import { fixtureTexts } from './fixtures-data';
import type { ResolvedImage } from './image';
import { referenceName } from './reference';
import type { Layer, Metadata, Report, Result } from './types';

export const reportLabel = 'lab.trivy.report';
export const behaviourLabel = 'lab.trivy.behaviour';

let cache: Record<string, string> | undefined;

export function loadFixture(name: string): Report {
  cache ??= fixtureTexts();
  const text = cache[name];
  if (text === undefined) {
    throw new GoError(
      `lab stand-in: the image label ${reportLabel}=${name} names no fixture (known: ${Object.keys(cache).sort().join(', ')})`,
    );
  }
  return JSON.parse(text) as Report;
}

/** RFC 9562 UUIDv7, like trivy's ReportID. */
export function uuidV7(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  const time = BigInt(now);
  for (let i = 0; i < 6; i++) bytes[i] = Number((time >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Points a fixture finding's layer at the image layer in the same position (the fixture image had its own). */
function relayer(layer: Layer | undefined, fixtureDiffIds: string[], image: ResolvedImage): Layer | undefined {
  if (!layer || image.layers.length === 0) return layer;
  const position = layer.DiffID ? fixtureDiffIds.indexOf(layer.DiffID) : -1;
  const target = image.layers[Math.min(Math.max(position, 0), image.layers.length - 1)];
  const out: Layer = {};
  if (target.Digest) out.Digest = target.Digest;
  if (target.DiffID) out.DiffID = target.DiffID;
  return out;
}

function rewriteResult(result: Result, fixture: Report, image: ResolvedImage, artifactName: string): Result {
  const copy = JSON.parse(JSON.stringify(result)) as Result;
  if (copy.Target.startsWith(fixture.ArtifactName)) copy.Target = artifactName + copy.Target.slice(fixture.ArtifactName.length);
  const diffIds = fixture.Metadata?.DiffIDs ?? [];
  for (const vuln of copy.Vulnerabilities ?? []) vuln.Layer = relayer(vuln.Layer, diffIds, image);
  for (const misconf of copy.Misconfigurations ?? []) if (misconf.Layer) misconf.Layer = relayer(misconf.Layer, diffIds, image);
  for (const secret of copy.Secrets ?? []) if (secret.Layer) secret.Layer = relayer(secret.Layer, diffIds, image);
  return copy;
}

export interface BuildReportOptions {
  image: ResolvedImage;
  /** the reference exactly as given on the command line */
  artifactName: string;
  /** fixture base names from the label (empty: a clean image) */
  fixtures: string[];
  version: string;
  now: GoTime;
}

export function buildReport(options: BuildReportOptions): Report {
  const { image, artifactName } = options;
  const fixtures = options.fixtures.map(loadFixture);
  const os = fixtures.find((f) => f.Metadata?.OS)?.Metadata?.OS;
  const metadata: Metadata = {};
  if (image.size > 0) metadata.Size = image.size;
  if (os) metadata.OS = os;
  metadata.ImageID = image.imageId;
  if (image.diffIds.length > 0) metadata.DiffIDs = image.diffIds;
  if (image.repoTags.length > 0) metadata.RepoTags = image.repoTags;
  if (image.repoDigests.length > 0) metadata.RepoDigests = image.repoDigests;
  metadata.Reference = referenceName(image.reference);
  metadata.ImageConfig = image.config;
  if (image.layers.length > 0) metadata.Layers = image.layers;

  const results = fixtures.flatMap((fixture) => (fixture.Results ?? []).map((r) => rewriteResult(r, fixture, image, artifactName)));
  const report: Report = {
    SchemaVersion: 2,
    Trivy: { Version: options.version },
    ReportID: uuidV7(options.now.ms),
    CreatedAt: rfc3339NanoUTC(options.now),
    ArtifactID: image.imageId,
    ArtifactName: artifactName,
    ArtifactType: 'container_image',
    Metadata: metadata,
  };
  // Keys in the order Go marshals the Report struct; Results is omitempty: a clean image's report has none.
  if (results.length > 0) report.Results = results;
  return report;
}
