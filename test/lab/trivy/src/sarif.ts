// SARIF 2.1.0 the way trivy writes it (pkg/report/sarif.go with owenrumney/go-sarif): one rule per finding id
// (the last occurrence fills the rule), level by severity, locations from finding lines,
// run properties for container images. Field order follows go-sarif's structs; map keys are sorted like Go's.
// No originalUriBaseIds: trivy's current golden output (integration/testdata/alpine-310.sarif.golden) has none.
import { goMarshalIndent } from './go';
import { parseReference } from './reference';
import type { DetectedVulnerability, Report } from './types';

interface Region {
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
}

interface SarifLocation {
  physicalLocation: { artifactLocation: { uri: string; uriBaseId: string }; region: Region };
  message: { text: string };
}

interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: string;
  message: { text: string };
  locations: SarifLocation[];
}

interface SarifRule {
  id: string;
  name: string;
  shortDescription: { text: string };
  fullDescription: { text: string };
  defaultConfiguration: { level: string };
  helpUri?: string;
  help: { text: string; markdown: string };
  properties: Record<string, unknown>;
}

interface Finding {
  title: 'vulnerability' | 'misconfiguration' | 'secret';
  id: string;
  severity: string;
  score: string;
  cvss?: Record<string, unknown>;
  url: string;
  resourceClass: string;
  artifactLocation: string;
  locationMessage: string;
  lines: Array<{ start: number; end: number }>;
  shortDescription: string;
  fullDescription: string;
  helpText: string;
  helpMarkdown: string;
  message: string;
}

const builtinRulesUrl = 'https://github.com/aquasecurity/trivy/blob/main/pkg/fanal/secret/builtin-rules.go';

/** html.EscapeString */
export function htmlEscape(text: string): string {
  return text.replace(/[&'<>"]/g, (c) => ({ '&': '&amp;', "'": '&#39;', '<': '&lt;', '>': '&gt;', '"': '&#34;' })[c] as string);
}

export function sarifLevel(severity: string): string {
  switch (severity) {
    case 'CRITICAL':
    case 'HIGH':
      return 'error';
    case 'MEDIUM':
      return 'warning';
    case 'LOW':
    case 'UNKNOWN':
      return 'note';
    default:
      return 'none';
  }
}

function severityToScore(severity: string): string {
  switch (severity) {
    case 'CRITICAL':
      return '9.5';
    case 'HIGH':
      return '8.0';
    case 'MEDIUM':
      return '5.5';
    case 'LOW':
      return '2.0';
    default:
      return '0.0';
  }
}

function ruleName(resultClass: string | undefined): string {
  switch (resultClass) {
    case 'os-pkgs':
      return 'OsPackageVulnerability';
    case 'lang-pkgs':
      return 'LanguageSpecificPackageVulnerability';
    case 'config':
      return 'Misconfiguration';
    case 'secret':
      return 'Secret';
    default:
      return 'UnknownIssue';
  }
}

/** ToPathUri: drop a "(distro version)" suffix, reduce an image reference to its repository path. */
export function toPathUri(input: string): string {
  const match = /^(.+?)(?:\s*\((?:.*?)\).*?)?$/.exec(input);
  let value = match ? match[1] : input;
  try {
    value = parseReference(value).repository;
  } catch {
    // not a reference: keep the path
  }
  return value.replace(/\\/g, '/');
}

function vulnerabilityScore(vuln: DetectedVulnerability): { score: string; cvss?: Record<string, unknown> } {
  const cvss = vuln.SeveritySource ? vuln.CVSS?.[vuln.SeveritySource] : undefined;
  if (!cvss) return { score: severityToScore(vuln.Severity) };
  const props: Record<string, unknown> = {};
  if (cvss.V2Vector !== undefined || cvss.V2Score !== undefined) {
    props.cvssv2_score = cvss.V2Score ?? 0;
    props.cvssv2_vector = cvss.V2Vector ?? '';
  }
  if (cvss.V3Vector !== undefined || cvss.V3Score !== undefined) {
    props.cvssv3_baseScore = cvss.V3Score ?? 0;
    props.cvssv3_vector = cvss.V3Vector ?? '';
  }
  return { score: (cvss.V3Score ?? 0).toFixed(1), cvss: props };
}

function findings(report: Report): Finding[] {
  const out: Finding[] = [];
  for (const result of report.Results ?? []) {
    const target = toPathUri(result.Target);
    for (const vuln of result.Vulnerabilities ?? []) {
      const path = vuln.PkgPath ? toPathUri(vuln.PkgPath) : target;
      const description = vuln.Description ?? '';
      const fixed = vuln.FixedVersion ?? '';
      const url = vuln.PrimaryURL ?? '';
      const { score, cvss } = vulnerabilityScore(vuln);
      out.push({
        title: 'vulnerability',
        id: vuln.VulnerabilityID,
        severity: vuln.Severity,
        score,
        cvss,
        url,
        resourceClass: result.Class ?? '',
        artifactLocation: path,
        locationMessage: `${path}: ${vuln.PkgName}@${vuln.InstalledVersion}`,
        lines: [], // package locations come from Packages, which the fixtures (and --list-all-pkgs=false) leave out
        shortDescription: htmlEscape(vuln.Title ?? ''),
        fullDescription: htmlEscape(description === '' ? (vuln.Title ?? '') : description),
        helpText: `Vulnerability ${vuln.VulnerabilityID}\nSeverity: ${vuln.Severity}\nPackage: ${vuln.PkgName}\nFixed Version: ${fixed}\nLink: [${vuln.VulnerabilityID}](${url})\n${description}`,
        helpMarkdown: `**Vulnerability ${vuln.VulnerabilityID}**\n| Severity | Package | Fixed Version | Link |\n| --- | --- | --- | --- |\n|${vuln.Severity}|${vuln.PkgName}|${fixed}|[${vuln.VulnerabilityID}](${url})|\n\n${description}`,
        message: `Package: ${vuln.PkgName}\nInstalled Version: ${vuln.InstalledVersion}\nVulnerability ${vuln.VulnerabilityID}\nSeverity: ${vuln.Severity}\nFixed Version: ${fixed}\nLink: [${vuln.VulnerabilityID}](${url})`,
      });
    }
    for (const misconf of result.Misconfigurations ?? []) {
      const url = misconf.PrimaryURL ?? '';
      const type = misconf.Type ?? '';
      const title = misconf.Title ?? '';
      const message = misconf.Message ?? '';
      const description = misconf.Description ?? '';
      out.push({
        title: 'misconfiguration',
        id: misconf.ID,
        severity: misconf.Severity,
        score: severityToScore(misconf.Severity),
        url,
        resourceClass: result.Class ?? '',
        artifactLocation: target,
        locationMessage: target,
        lines: [{ start: misconf.CauseMetadata?.StartLine ?? 0, end: misconf.CauseMetadata?.EndLine ?? 0 }],
        shortDescription: htmlEscape(title),
        fullDescription: htmlEscape(description),
        helpText: `Misconfiguration ${misconf.ID}\nType: ${type}\nSeverity: ${misconf.Severity}\nCheck: ${title}\nMessage: ${message}\nLink: [${misconf.ID}](${url})\n${description}`,
        helpMarkdown: `**Misconfiguration ${misconf.ID}**\n| Type | Severity | Check | Message | Link |\n| --- | --- | --- | --- | --- |\n|${type}|${misconf.Severity}|${title}|${message}|[${misconf.ID}](${url})|\n\n${description}`,
        message: `Artifact: ${result.Target}\nType: ${result.Type ?? ''}\nVulnerability ${misconf.ID}\nSeverity: ${misconf.Severity}\nMessage: ${message}\nLink: [${misconf.ID}](${url})`,
      });
    }
    for (const secret of result.Secrets ?? []) {
      const title = secret.Title ?? '';
      const match = secret.Match ?? '';
      out.push({
        title: 'secret',
        id: secret.RuleID,
        severity: secret.Severity,
        score: severityToScore(secret.Severity),
        url: builtinRulesUrl,
        resourceClass: result.Class ?? '',
        artifactLocation: target,
        locationMessage: target,
        lines: [{ start: secret.StartLine ?? 0, end: secret.EndLine ?? 0 }],
        shortDescription: htmlEscape(title),
        fullDescription: htmlEscape(match),
        helpText: `Secret ${title}\nSeverity: ${secret.Severity}\nMatch: ${match}`,
        helpMarkdown: `**Secret ${title}**\n| Severity | Match |\n| --- | --- |\n|${secret.Severity}|${match}|`,
        message: `Artifact: ${result.Target}\nType: ${result.Type ?? ''}\nSecret ${title}\nSeverity: ${secret.Severity}\nMatch: ${match}`,
      });
    }
  }
  return out;
}

function sortedObject(entries: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function locations(finding: Finding): SarifLocation[] {
  const lines = finding.lines.length > 0 ? finding.lines : [{ start: 1, end: 1 }];
  return lines.map((line) => {
    const start = line.start === 0 && line.end === 0 ? 1 : line.start;
    const end = line.start === 0 && line.end === 0 ? 1 : line.end;
    return {
      physicalLocation: {
        artifactLocation: { uri: finding.artifactLocation, uriBaseId: 'ROOTPATH' },
        region: { startLine: start, startColumn: 1, endLine: end, endColumn: 1 },
      },
      message: { text: finding.locationMessage },
    };
  });
}

/** The SARIF document as an object (for tests) — writeSarif serialises it like Go does. */
export function buildSarif(report: Report, version: string): Record<string, unknown> {
  const rules: SarifRule[] = [];
  const ruleIndexes = new Map<string, number>();
  const results: SarifResult[] = [];
  for (const finding of findings(report)) {
    const existing = ruleIndexes.get(finding.id);
    const index = existing ?? rules.length;
    // go-sarif's AddRule returns the existing rule and every With* call overwrites it: the last occurrence
    // wins, except helpUri, which is only set when the finding has a URL.
    const helpUri = finding.url !== '' ? finding.url : existing !== undefined ? rules[existing].helpUri : undefined;
    rules[index] = {
      id: finding.id,
      name: ruleName(finding.resourceClass),
      shortDescription: { text: finding.shortDescription },
      fullDescription: { text: finding.fullDescription },
      defaultConfiguration: { level: sarifLevel(finding.severity) },
      ...(helpUri !== undefined ? { helpUri } : {}),
      help: { text: finding.helpText, markdown: finding.helpMarkdown },
      properties: sortedObject({
        ...(finding.cvss ?? {}),
        precision: 'very-high',
        'security-severity': finding.score,
        tags: [finding.title, 'security', finding.severity],
      }),
    };
    ruleIndexes.set(finding.id, index);
    results.push({
      ruleId: finding.id,
      ruleIndex: index,
      level: sarifLevel(finding.severity),
      message: { text: finding.message },
      locations: locations(finding),
    });
  }
  const run: Record<string, unknown> = {
    tool: {
      driver: {
        fullName: 'Trivy Vulnerability Scanner',
        informationUri: 'https://github.com/aquasecurity/trivy',
        name: 'Trivy',
        rules,
        version,
      },
    },
    results,
    columnKind: 'utf16CodeUnits',
  };
  if (report.ArtifactType === 'container_image') {
    run.properties = sortedObject({
      imageID: report.Metadata?.ImageID ?? '',
      imageName: report.ArtifactName,
      repoDigests: report.Metadata?.RepoDigests ?? null,
      repoTags: report.Metadata?.RepoTags ?? null,
    });
  }
  return {
    version: '2.1.0',
    $schema: 'https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json',
    runs: [run],
  };
}

/** go-sarif PrettyWrite: indented, no trailing newline. */
export function writeSarif(report: Report, version: string): string {
  return goMarshalIndent(buildSarif(report, version));
}
