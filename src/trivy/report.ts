// trivy's JSON report, SchemaVersion 2 (aquasecurity/trivy pkg/types/report.go, vulnerability.go,
// misconfiguration.go, pkg/fanal/types/secret.go, license.go), and the checks that decide whether a file
// is a trivy report of the image we asked about. Every key is optional where trivy marks it omitempty.

export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Layer {
  Digest?: string;
  DiffID?: string;
  CreatedBy?: string;
}

export interface DetectedVulnerability {
  VulnerabilityID: string;
  VendorIDs?: string[];
  PkgID?: string;
  PkgName: string;
  PkgPath?: string;
  PkgIdentifier?: { PURL?: string; UID?: string };
  InstalledVersion?: string;
  FixedVersion?: string;
  /** fixed | affected | will_not_fix | fix_deferred | end_of_life | under_investigation | not_affected | unknown */
  Status?: string;
  Layer?: Layer;
  SeveritySource?: string;
  PrimaryURL?: string;
  Title?: string;
  Description?: string;
  Severity: string;
  CweIDs?: string[];
  VendorSeverity?: Record<string, number>;
  CVSS?: Record<string, { V2Vector?: string; V3Vector?: string; V2Score?: number; V3Score?: number }>;
  References?: string[];
  PublishedDate?: string;
  LastModifiedDate?: string;
}

export interface DetectedMisconfiguration {
  Type?: string;
  ID: string;
  AVDID?: string;
  Title?: string;
  Description?: string;
  Message?: string;
  Namespace?: string;
  Resolution?: string;
  Severity: string;
  PrimaryURL?: string;
  References?: string[];
  /** PASS | FAIL | EXCEPTION */
  Status: string;
  Layer?: Layer;
  CauseMetadata?: { Provider?: string; Service?: string; StartLine?: number; EndLine?: number };
}

export interface SecretFinding {
  RuleID: string;
  Category?: string;
  Severity: string;
  Title?: string;
  StartLine?: number;
  EndLine?: number;
  /** trivy redacts the secret itself (****) */
  Match?: string;
  Layer?: Layer;
}

export interface DetectedLicense {
  Severity: string;
  Category?: string;
  PkgName?: string;
  FilePath?: string;
  Name: string;
  Confidence?: number;
}

/** Findings an ignore file or VEX suppressed (present with --show-suppressed). */
export interface ModifiedFinding {
  Type: string;
  Status: string;
  Statement?: string;
  Source?: string;
  Finding?: unknown;
}

export interface Result {
  Target: string;
  /** os-pkgs | lang-pkgs | config | secret | license | license-file | custom */
  Class?: string;
  Type?: string;
  Packages?: unknown[];
  Vulnerabilities?: DetectedVulnerability[];
  MisconfSummary?: { Successes?: number; Failures?: number };
  Misconfigurations?: DetectedMisconfiguration[];
  Secrets?: SecretFinding[];
  Licenses?: DetectedLicense[];
  CustomResources?: unknown[];
  ExperimentalModifiedFindings?: ModifiedFinding[];
}

export interface Metadata {
  Size?: number;
  OS?: { Family?: string; Name?: string; EOSL?: boolean };
  ImageID?: string;
  DiffIDs?: string[];
  RepoTags?: string[];
  RepoDigests?: string[];
  Reference?: string;
  ImageConfig?: unknown;
  Layers?: unknown[];
}

export interface TrivyReport {
  SchemaVersion: number;
  Trivy?: { Version?: string };
  ReportID?: string;
  CreatedAt?: string;
  ArtifactID?: string;
  ArtifactName: string;
  /** container_image | filesystem | repository | vm | cyclonedx ... */
  ArtifactType: string;
  Metadata?: Metadata;
  /** Absent when trivy found nothing to report (omitempty). */
  Results?: Result[];
}

/** The report is not usable: not trivy's, damaged, or about another image. The scan result is then unknown. */
export class TrivyReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrivyReportError';
  }
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** JSON.parse of trivy's output, failing with the start of what trivy printed when it is not JSON. */
export function parseTrivyJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const start = text.trim().slice(0, 60).replace(/\s+/g, ' ');
    throw new TrivyReportError(`the output is not JSON (${(error as Error).message}); it starts with: ${start || '(empty)'}`);
  }
}

/**
 * Parses trivy's JSON output and checks its shape deeply enough that policy evaluation cannot be fooled by
 * a missing array or a finding without a severity: anything else is refused rather than read as "no findings".
 */
export function parseTrivyReport(text: string): TrivyReport {
  return checkTrivyReport(parseTrivyJson(text));
}

/** The checks of parseTrivyReport on a value already parsed (a whole report, or a head with rendered findings). */
export function checkTrivyReport(value: unknown): TrivyReport {
  if (!isObject(value)) throw new TrivyReportError('the output is JSON but not an object, so it is not a trivy report.');
  if (value.SchemaVersion !== 2) {
    throw new TrivyReportError(
      `SchemaVersion is ${JSON.stringify(value.SchemaVersion)}, expected 2: not a trivy JSON report this task understands.`,
    );
  }
  if (typeof value.ArtifactName !== 'string' || value.ArtifactName === '') throw new TrivyReportError('the report has no ArtifactName.');
  if (typeof value.ArtifactType !== 'string') throw new TrivyReportError('the report has no ArtifactType.');
  if (value.Results !== undefined && value.Results !== null) {
    if (!Array.isArray(value.Results)) throw new TrivyReportError('Results is not an array.');
    value.Results.forEach((result, index) => checkResult(result, `Results[${index}]`));
  }
  if (value.Metadata !== undefined && value.Metadata !== null) {
    if (!isObject(value.Metadata)) throw new TrivyReportError('Metadata is not an object.');
    const digests = value.Metadata.RepoDigests;
    if (digests !== undefined && digests !== null && !(Array.isArray(digests) && digests.every((d) => typeof d === 'string'))) {
      throw new TrivyReportError('Metadata.RepoDigests is not a list of strings.');
    }
  }
  const report = value as unknown as TrivyReport;
  if (report.Results === null) delete report.Results;
  return report;
}

function checkResult(result: unknown, where: string): void {
  if (!isObject(result)) throw new TrivyReportError(`${where} is not an object.`);
  if (typeof result.Target !== 'string') throw new TrivyReportError(`${where} has no Target.`);
  const lists: [string, string[]][] = [
    ['Vulnerabilities', ['VulnerabilityID', 'PkgName', 'Severity']],
    ['Misconfigurations', ['ID', 'Severity', 'Status']],
    ['Secrets', ['RuleID', 'Severity']],
    ['Licenses', ['Name', 'Severity']],
  ];
  for (const [key, required] of lists) {
    const list = result[key];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new TrivyReportError(`${where}.${key} is not an array.`);
    list.forEach((item, i) => {
      if (!isObject(item)) throw new TrivyReportError(`${where}.${key}[${i}] is not an object.`);
      for (const field of required) {
        if (typeof item[field] !== 'string') throw new TrivyReportError(`${where}.${key}[${i}] has no ${field}.`);
      }
    });
  }
}

export interface ExpectedArtifact {
  /** Login server, e.g. contoso.azurecr.io. */
  registry: string;
  /** Repository inside the registry, e.g. team/app. */
  repository: string;
  /** The digest we asked trivy to scan. */
  digest: string;
}

/**
 * Fails unless the report is about exactly the requested digest: the ArtifactName must name it, and every
 * RepoDigests entry of that repository must carry it (trivy lists the digest it pulled there). A report of a
 * container image is required; a scan of something else says nothing about the image.
 */
export function assertReportIsFor(report: TrivyReport, expected: ExpectedArtifact): void {
  if (!DIGEST.test(expected.digest)) throw new Error(`BUG: '${expected.digest}' is not a sha256 digest`);
  const wanted = `${expected.registry}/${expected.repository}@${expected.digest}`.toLowerCase();
  if (report.ArtifactType !== 'container_image') {
    throw new TrivyReportError(`the report is about a ${report.ArtifactType || 'unknown artifact'}, not a container image.`);
  }
  const artifactDigest = referenceDigest(report.ArtifactName);
  if (artifactDigest !== expected.digest) {
    throw new TrivyReportError(
      `the report is about '${report.ArtifactName}', not the requested ${wanted}${artifactDigest ? ` (digest ${artifactDigest})` : ''}.`,
    );
  }
  if (!sameRepository(report.ArtifactName, expected)) {
    throw new TrivyReportError(`the report is about '${report.ArtifactName}', another repository than the requested ${wanted}.`);
  }
  const repoDigests = report.Metadata?.RepoDigests ?? [];
  if (repoDigests.length > 0) {
    const mismatched = repoDigests.filter((entry) => sameRepository(entry, expected) && referenceDigest(entry) !== expected.digest);
    const matched = repoDigests.some((entry) => sameRepository(entry, expected) && referenceDigest(entry) === expected.digest);
    if (!matched || mismatched.length > 0) {
      throw new TrivyReportError(
        `Metadata.RepoDigests (${repoDigests.join(', ')}) does not confirm the requested digest ${expected.digest}.`,
      );
    }
  }
}

function referenceDigest(reference: string): string | undefined {
  const at = reference.lastIndexOf('@');
  return at === -1 ? undefined : reference.slice(at + 1).toLowerCase();
}

function sameRepository(reference: string, expected: ExpectedArtifact): boolean {
  const at = reference.lastIndexOf('@');
  const name = (at === -1 ? reference : reference.slice(0, at)).toLowerCase();
  return name === `${expected.registry}/${expected.repository}`.toLowerCase();
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A severity as trivy writes it; anything else (an empty or unheard-of value) counts as UNKNOWN. */
export function normalizeSeverity(value: string | undefined): Severity {
  const upper = (value ?? '').toUpperCase();
  return (SEVERITIES as readonly string[]).includes(upper) ? (upper as Severity) : 'UNKNOWN';
}
