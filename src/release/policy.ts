// The team's policy over trivy's JSON report, evaluated here rather than by trivy's exit code so that the
// counts, the decision and the list of violations come from one place (as the official trivy task does).
//
// Rules (documented for users in the task's help):
// - vulnerabilities at a severity of `threshold` violate the policy;
// - misconfigurations with Status FAIL at a severity of `threshold` violate it (PASS/EXCEPTION are not findings);
// - secrets always violate it, whatever their severity: a leaked credential is never acceptable in an image;
// - licenses are counted and listed, never a violation (trivy's license severities rate license categories);
// - UNKNOWN (trivy's "not rated yet", and any severity string trivy does not define) violates only when
//   UNKNOWN is part of `threshold`; it is counted under UNKNOWN either way.
// - ignoreUnfixed drops vulnerabilities without a fixed version (trivy does the same with --ignore-unfixed; doing
//   it here again keeps the decision right even for a report produced without the flag).
import { SEVERITIES, normalizeSeverity, type Severity, type TrivyReport } from '../trivy/report';

export type FindingKind = 'vulnerability' | 'misconfiguration' | 'secret' | 'license';

export interface Finding {
  kind: FindingKind;
  /** CVE/GHSA id, misconfiguration id, secret rule id or license name */
  id: string;
  severity: Severity;
  /** Severity as the report wrote it, when it is not one of trivy's five. */
  reportedSeverity?: string;
  title: string;
  target: string;
  packageName?: string;
  installedVersion?: string;
  fixedVersion?: string;
  status?: string;
  /** Where a secret was found (line numbers only; the secret itself is never copied). */
  line?: number;
  primaryUrl?: string;
}

export type SeverityCounts = Record<Severity, number>;

export interface PolicyOptions {
  /** Severities whose vulnerabilities and failed misconfigurations violate the policy. */
  threshold: readonly Severity[];
  ignoreUnfixed: boolean;
}

export interface PolicyEvaluation {
  passed: boolean;
  /** Every finding counted, in the order of the report. */
  findings: Finding[];
  /** The findings that break the policy, most severe first. */
  violations: Finding[];
  counts: {
    vulnerabilities: SeverityCounts;
    misconfigurations: SeverityCounts;
    secrets: SeverityCounts;
    licenses: SeverityCounts;
    /** vulnerabilities + failed misconfigurations + secrets (licenses are not risk findings). */
    total: SeverityCounts;
  };
  /** Vulnerabilities dropped because they have no fix and ignoreUnfixed is on. */
  ignoredUnfixed: number;
  /** Findings the ignore file (or VEX) suppressed, as trivy reports them with --show-suppressed. */
  suppressed: number;
  /** Severities in the report that trivy does not define, counted as UNKNOWN. */
  unrecognizedSeverities: string[];
}

export function emptyCounts(): SeverityCounts {
  return { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0 };
}

/** Reads a severity list (`CRITICAL,HIGH`); an unknown word is an error that lists the valid ones. */
export function parseSeverityList(items: readonly string[]): Severity[] {
  const result: Severity[] = [];
  for (const item of items) {
    const upper = item.trim().toUpperCase();
    if (!(SEVERITIES as readonly string[]).includes(upper)) {
      throw new Error(`'${item.trim()}' is not a trivy severity. Use a comma-separated list of ${SEVERITIES.join(', ')}.`);
    }
    if (!result.includes(upper as Severity)) result.push(upper as Severity);
  }
  if (result.length === 0) throw new Error(`give at least one severity (${SEVERITIES.join(', ')}).`);
  return result;
}

/** Severities more severe than one in the list but missing from it: almost always a mistake worth a warning. */
export function thresholdGaps(threshold: readonly Severity[]): Severity[] {
  const ranked = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
  const lowest = Math.min(...threshold.filter((s) => s !== 'UNKNOWN').map((s) => ranked.indexOf(s as (typeof ranked)[number])));
  if (!Number.isFinite(lowest)) return [];
  return ranked.slice(lowest).filter((s) => !threshold.includes(s));
}

export function severityRank(severity: Severity): number {
  return SEVERITIES.length - SEVERITIES.indexOf(severity);
}

export function evaluatePolicy(report: TrivyReport, options: PolicyOptions): PolicyEvaluation {
  const threshold = new Set(options.threshold);
  const findings: Finding[] = [];
  const unrecognized = new Set<string>();
  let ignoredUnfixed = 0;
  let suppressed = 0;

  const severityOf = (raw: string): { severity: Severity; reportedSeverity?: string } => {
    const severity = normalizeSeverity(raw);
    if (severity === 'UNKNOWN' && raw.toUpperCase() !== 'UNKNOWN') {
      unrecognized.add(raw);
      return { severity, reportedSeverity: raw };
    }
    return { severity };
  };

  for (const result of report.Results ?? []) {
    suppressed += result.ExperimentalModifiedFindings?.length ?? 0;
    for (const v of result.Vulnerabilities ?? []) {
      if (options.ignoreUnfixed && !v.FixedVersion) {
        ignoredUnfixed++;
        continue;
      }
      findings.push({
        kind: 'vulnerability',
        id: v.VulnerabilityID,
        ...severityOf(v.Severity),
        title: v.Title ?? '',
        target: result.Target,
        packageName: v.PkgName,
        installedVersion: v.InstalledVersion,
        fixedVersion: v.FixedVersion || undefined,
        status: v.Status,
        primaryUrl: v.PrimaryURL,
      });
    }
    for (const m of result.Misconfigurations ?? []) {
      if (m.Status !== 'FAIL') continue;
      findings.push({
        kind: 'misconfiguration',
        id: m.ID,
        ...severityOf(m.Severity),
        title: m.Title ?? m.Message ?? '',
        target: result.Target,
        status: m.Status,
        primaryUrl: m.PrimaryURL,
      });
    }
    for (const s of result.Secrets ?? []) {
      findings.push({
        kind: 'secret',
        id: s.RuleID,
        ...severityOf(s.Severity),
        title: s.Title ?? s.Category ?? '',
        target: result.Target,
        line: s.StartLine,
      });
    }
    for (const l of result.Licenses ?? []) {
      findings.push({
        kind: 'license',
        id: l.Name,
        ...severityOf(l.Severity),
        title: l.Category ?? '',
        target: l.FilePath || result.Target,
        packageName: l.PkgName,
      });
    }
  }

  const violates = (f: Finding) =>
    f.kind === 'secret' || ((f.kind === 'vulnerability' || f.kind === 'misconfiguration') && threshold.has(f.severity));
  const violations = sortBySeverity(findings.filter(violates));
  return {
    passed: violations.length === 0,
    findings,
    violations,
    counts: countFindings(findings),
    ignoredUnfixed,
    suppressed,
    unrecognizedSeverities: [...unrecognized],
  };
}

export function countFindings(findings: readonly Finding[]): PolicyEvaluation['counts'] {
  const counts = {
    vulnerabilities: emptyCounts(),
    misconfigurations: emptyCounts(),
    secrets: emptyCounts(),
    licenses: emptyCounts(),
    total: emptyCounts(),
  };
  const bucket: Record<FindingKind, SeverityCounts> = {
    vulnerability: counts.vulnerabilities,
    misconfiguration: counts.misconfigurations,
    secret: counts.secrets,
    license: counts.licenses,
  };
  for (const f of findings) {
    bucket[f.kind][f.severity]++;
    if (f.kind !== 'license') counts.total[f.severity]++;
  }
  return counts;
}

export function sortBySeverity<T extends Finding>(findings: readonly T[]): T[] {
  return [...findings].sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      a.id.localeCompare(b.id) ||
      (a.packageName ?? '').localeCompare(b.packageName ?? ''),
  );
}

/** The same finding in several platform images of one index is one finding of the index. */
export function findingKey(f: Finding): string {
  return [f.kind, f.id, f.packageName ?? '', f.installedVersion ?? '', f.kind === 'vulnerability' ? '' : f.target, f.line ?? ''].join('|');
}

/** The evaluation of an image index: the union of its platform images' findings, each counted once. */
export function combineEvaluations(evaluations: readonly PolicyEvaluation[]): PolicyEvaluation {
  const unique = <T extends Finding>(list: T[]) => [...new Map(list.map((f) => [findingKey(f), f])).values()];
  const findings = unique(evaluations.flatMap((e) => e.findings));
  const violations = sortBySeverity(unique(evaluations.flatMap((e) => e.violations)));
  return {
    passed: evaluations.every((e) => e.passed),
    findings,
    violations,
    counts: countFindings(findings),
    ignoredUnfixed: evaluations.reduce((n, e) => n + e.ignoredUnfixed, 0),
    suppressed: evaluations.reduce((n, e) => n + e.suppressed, 0),
    unrecognizedSeverities: [...new Set(evaluations.flatMap((e) => e.unrecognizedSeverities))],
  };
}

/** One line per finding for the log: ID, package, installed, fixed, severity, title. */
export function describeFinding(f: Finding): string {
  const severity = f.reportedSeverity ? `${f.severity} (reported as '${f.reportedSeverity}')` : f.severity;
  switch (f.kind) {
    case 'vulnerability':
      return `${severity.padEnd(8)} ${f.id}  ${f.packageName} ${f.installedVersion ?? '?'} -> ${f.fixedVersion ?? 'no fix'}  ${f.title}`.trimEnd();
    case 'misconfiguration':
      return `${severity.padEnd(8)} ${f.id}  misconfiguration in ${f.target}  ${f.title}`.trimEnd();
    case 'secret':
      return `${severity.padEnd(8)} ${f.id}  secret in ${f.target}${f.line ? ` line ${f.line}` : ''}  ${f.title}`.trimEnd();
    case 'license':
      return `${severity.padEnd(8)} ${f.id}  license of ${f.packageName ?? f.target}  ${f.title}`.trimEnd();
  }
}
