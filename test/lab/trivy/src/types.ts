// trivy's JSON report (SchemaVersion 2): pkg/types/report.go, vulnerability.go, misconfiguration.go and
// pkg/fanal/types/secret.go. Fields the stand-in does not touch pass through untouched.

export interface Layer {
  Size?: number;
  Digest?: string;
  DiffID?: string;
  [extra: string]: unknown;
}

export interface Cvss {
  V2Vector?: string;
  V3Vector?: string;
  V2Score?: number;
  V3Score?: number;
  [extra: string]: unknown;
}

export interface DetectedVulnerability {
  VulnerabilityID: string;
  VendorIDs?: string[];
  PkgID?: string;
  PkgName: string;
  PkgPath?: string;
  PkgIdentifier?: { PURL?: string; UID?: string; [extra: string]: unknown };
  InstalledVersion: string;
  FixedVersion?: string;
  Status?: string;
  Layer?: Layer;
  SeveritySource?: string;
  PrimaryURL?: string;
  Title?: string;
  Description?: string;
  Severity: string;
  CVSS?: Record<string, Cvss>;
  [extra: string]: unknown;
}

export interface DetectedMisconfiguration {
  Type?: string;
  ID: string;
  AVDID?: string;
  Title?: string;
  Description?: string;
  Message?: string;
  Severity: string;
  PrimaryURL?: string;
  Status: string;
  Layer?: Layer;
  CauseMetadata?: { StartLine?: number; EndLine?: number; [extra: string]: unknown };
  [extra: string]: unknown;
}

export interface SecretFinding {
  RuleID: string;
  Category?: string;
  Severity: string;
  Title?: string;
  StartLine?: number;
  EndLine?: number;
  Match?: string;
  Layer?: Layer;
  [extra: string]: unknown;
}

export interface DetectedLicense {
  Severity: string;
  Name: string;
  FilePath?: string;
  [extra: string]: unknown;
}

export interface MisconfSummary {
  Successes?: number;
  Failures?: number;
  Exceptions?: number;
}

export interface ModifiedFinding {
  Type: 'vulnerability' | 'misconfiguration' | 'secret' | 'license';
  Status: 'ignored';
  Statement: string;
  Source: string;
  Finding: unknown;
}

export interface Result {
  Target: string;
  Class?: string;
  Type?: string;
  Packages?: unknown[];
  Vulnerabilities?: DetectedVulnerability[];
  MisconfSummary?: MisconfSummary;
  Misconfigurations?: DetectedMisconfiguration[];
  Secrets?: SecretFinding[];
  Licenses?: DetectedLicense[];
  CustomResources?: unknown[];
  ExperimentalModifiedFindings?: ModifiedFinding[];
  [extra: string]: unknown;
}

export interface OsInfo {
  Family: string;
  Name: string;
  EOSL?: boolean;
}

export interface Metadata {
  Size?: number;
  OS?: OsInfo;
  ImageID?: string;
  DiffIDs?: string[];
  RepoTags?: string[];
  RepoDigests?: string[];
  Reference?: string;
  ImageConfig?: unknown;
  Layers?: Layer[];
  [extra: string]: unknown;
}

export interface Report {
  SchemaVersion: number;
  Trivy?: { Version: string };
  ReportID?: string;
  CreatedAt?: string;
  ArtifactID?: string;
  ArtifactName: string;
  ArtifactType: string;
  Metadata?: Metadata;
  Results?: Result[];
}

/** Severity order used by trivy-db (UNKNOWN lowest). */
export function severityRank(severity: string): number {
  const order = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
  const index = order.indexOf(severity);
  return index < 0 ? 0 : index;
}

/** types.Results.Failed(): any vulnerability, FAIL misconfiguration, secret or license left after filtering. */
export function resultsFailed(results: readonly Result[] | undefined): boolean {
  for (const result of results ?? []) {
    if ((result.Vulnerabilities?.length ?? 0) > 0) return true;
    if ((result.Misconfigurations ?? []).some((m) => m.Status === 'FAIL')) return true;
    if ((result.Secrets?.length ?? 0) > 0) return true;
    if ((result.Licenses?.length ?? 0) > 0) return true;
  }
  return false;
}
