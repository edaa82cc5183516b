// What people read after a scan, built from the policy evaluation: the Summary tab's markdown, the JUnit file of
// the Tests tab (one failed test per violation, so the Tests tab agrees with the decision), the JSON report of a
// multi-platform image, and its SARIF. Pure string building: the task shell writes and uploads the files.
import { SEVERITIES, type Severity, type TrivyReport } from '../trivy/report';
import { type PolicyEvaluation, type SeverityCounts, describeFinding } from './policy';

export interface ScannedImage {
  digest: string;
  /** e.g. linux/amd64, or "image" for a single-platform image */
  label: string;
  report: TrivyReport;
  reportFile: string;
  evaluation: PolicyEvaluation;
}

export interface SummaryInput {
  reference: string;
  images: ScannedImage[];
  evaluation: PolicyEvaluation;
  threshold: readonly Severity[];
  decision: 'Passed' | 'Failed';
  /** What happened in the registry, in a sentence. */
  releaseNote: string;
  trivyVersion: string;
  resolvedFromTag?: string;
}

const MAX_SUMMARY_VIOLATIONS = 50;

export function summaryMarkdown(input: SummaryInput): string {
  const { evaluation } = input;
  const lines: string[] = [];
  const icon = input.decision === 'Passed' ? '✅' : '⛔';
  lines.push(`### ${icon} ${input.decision === 'Passed' ? 'Policy passed' : 'Policy failed'}: \`${escapeCode(input.reference)}\``);
  lines.push('');
  lines.push(`${escapeMarkdown(input.releaseNote)}`);
  lines.push('');
  if (input.resolvedFromTag)
    lines.push(`Tag \`${escapeCode(input.resolvedFromTag)}\` was resolved to this digest once, before scanning.`, '');
  lines.push(
    `Scanned with trivy ${escapeMarkdown(input.trivyVersion)}; policy: ${input.threshold.join(', ')} vulnerabilities and failed misconfigurations, and any secret, violate it.`,
  );
  lines.push('');
  lines.push('| Image | Digest | Result |', '|---|---|---|');
  for (const image of input.images) {
    lines.push(
      `| ${escapeCell(image.label)} | \`${image.digest}\` | ${image.evaluation.passed ? 'passed' : `${image.evaluation.violations.length} violation(s)`} |`,
    );
  }
  lines.push('');
  lines.push('| Severity | Vulnerabilities | Secrets | Misconfigurations |', '|---|---:|---:|---:|');
  for (const severity of SEVERITIES) {
    const c = evaluation.counts;
    lines.push(`| ${severity} | ${c.vulnerabilities[severity]} | ${c.secrets[severity]} | ${c.misconfigurations[severity]} |`);
  }
  const notes: string[] = [];
  if (evaluation.ignoredUnfixed > 0) notes.push(`${evaluation.ignoredUnfixed} unfixed vulnerabilities ignored (ignoreUnfixed)`);
  if (evaluation.suppressed > 0) notes.push(`${evaluation.suppressed} findings suppressed by the ignore file`);
  if (notes.length > 0) lines.push('', notes.join('; ') + '.');
  if (evaluation.violations.length > 0) {
    lines.push('', `#### Violations (${evaluation.violations.length})`, '');
    lines.push('| Severity | ID | Package | Installed | Fixed | Title |', '|---|---|---|---|---|---|');
    for (const v of evaluation.violations.slice(0, MAX_SUMMARY_VIOLATIONS)) {
      const id = v.primaryUrl && /^https?:\/\//i.test(v.primaryUrl) ? `[${escapeCell(v.id)}](${safeUrl(v.primaryUrl)})` : escapeCell(v.id);
      const pkg = v.kind === 'vulnerability' ? (v.packageName ?? '') : `${v.kind} in ${v.target}${v.line ? `:${v.line}` : ''}`;
      lines.push(
        `| ${v.severity} | ${id} | ${escapeCell(pkg)} | ${escapeCell(v.installedVersion ?? '')} | ${escapeCell(v.fixedVersion ?? '')} | ${escapeCell(v.title)} |`,
      );
    }
    if (evaluation.violations.length > MAX_SUMMARY_VIOLATIONS) {
      lines.push('', `… and ${evaluation.violations.length - MAX_SUMMARY_VIOLATIONS} more: see the Tests tab and the attached reports.`);
    }
  }
  return lines.join('\n') + '\n';
}

/**
 * JUnit XML for the Tests tab, which should agree with the decision: per scanned image a test suite holding the
 * policy test and one failed test per violation. Findings below the threshold are not tests (they would bury the
 * failures and cost the agent thousands of uploads); the policy test's output counts them, and the JSON and SARIF
 * reports list them.
 */
export function junitXml(images: readonly ScannedImage[], threshold: readonly Severity[]): string {
  const parts: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const failures = images.reduce((n, i) => n + i.evaluation.violations.length, 0);
  const tests = images.reduce((n, i) => n + i.evaluation.violations.length + 1, 0);
  parts.push(`<testsuites name="trivy" tests="${tests}" failures="${failures + images.filter((i) => !i.evaluation.passed).length}">`);
  for (const image of images) {
    const { evaluation } = image;
    const violations = evaluation.violations.length;
    const suite = `trivy ${image.label} ${image.digest}`;
    parts.push(`  <testsuite name="${xml(suite)}" tests="${violations + 1}" failures="${violations + (evaluation.passed ? 0 : 1)}">`);
    const policyName = `policy: no ${threshold.join('/')} findings and no secrets`;
    const below = evaluation.findings.length - violations;
    const counts = SEVERITIES.map((s) => `${s} ${evaluation.counts.total[s]}`).join(', ');
    const output = `<system-out>${xml(`${evaluation.findings.length} findings (${counts}); ${below} below the policy threshold, listed in the JSON and SARIF reports.`)}</system-out>`;
    const failure = evaluation.passed ? '' : `<failure message="${xml(`${violations} violation(s)`)}"/>`;
    parts.push(`    <testcase classname="${xml(image.label)}" name="${xml(policyName)}">${failure}${output}</testcase>`);
    for (const finding of evaluation.violations) {
      const name = `[${finding.severity}] ${finding.id}${finding.packageName ? ` ${finding.packageName} ${finding.installedVersion ?? ''}`.trimEnd() : ''}`;
      parts.push(
        `    <testcase classname="${xml(`${image.label} ${finding.target}`)}" name="${xml(name)}"><failure message="${xml(finding.title)}" type="${finding.kind}">${xml(describeFinding(finding))}</failure></testcase>`,
      );
    }
    parts.push('  </testsuite>');
  }
  parts.push('</testsuites>');
  return parts.join('\n') + '\n';
}

/**
 * One trivy-format report for an index: the platform reports' results in one list, each Target prefixed with its
 * platform, so a tool that reads trivy JSON sees every finding once per platform. Give it the whole reports (the
 * files), not the findings the policy read.
 */
export function mergeReports(reference: string, images: readonly ScannedImage[]): TrivyReport {
  const first = images[0]?.report;
  return {
    SchemaVersion: 2,
    Trivy: first?.Trivy,
    CreatedAt: first?.CreatedAt,
    ArtifactName: reference,
    ArtifactType: 'container_image',
    Metadata: { RepoDigests: [reference] },
    Results: images.flatMap((image) => (image.report.Results ?? []).map((r) => ({ ...r, Target: `[${image.label}] ${r.Target}` }))),
  };
}

interface SarifLog {
  version: string;
  $schema?: string;
  runs: unknown[];
}

/** SARIF allows several runs in one log: one per platform image. */
export function mergeSarif(logs: readonly string[]): string {
  if (logs.length === 1) return logs[0];
  const parsed = logs.map((text) => JSON.parse(text) as SarifLog);
  return JSON.stringify(
    { version: parsed[0]?.version ?? '2.1.0', $schema: parsed[0]?.$schema, runs: parsed.flatMap((log) => log.runs ?? []) },
    null,
    2,
  );
}

/** The vulnerabilityCounts output: vulnerabilities per severity, e.g. {"CRITICAL":1,"HIGH":0,...}. */
export function countsJson(counts: SeverityCounts): string {
  return JSON.stringify(counts);
}

// XML 1.0 allows tab, LF, CR and everything from U+0020 on (surrogates aside); the rest is dropped.
// One pass with a lookup: a JUnit file of 10,000 findings escapes some 50,000 strings.
// eslint-disable-next-line no-control-regex
const XML_SPECIAL = /[&<>"'\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;
const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function xml(text: string): string {
  return text.replace(XML_SPECIAL, (c) => XML_ENTITIES[c] ?? '');
}

/** A report is input from outside: a link target must not close the markdown link or the table cell. */
function safeUrl(url: string): string {
  return url.replace(/[()\s|<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function escapeCell(text: string): string {
  return escapeMarkdown(text).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function escapeMarkdown(text: string): string {
  return text.replace(/[<>]/g, (c) => (c === '<' ? '&lt;' : '&gt;'));
}

function escapeCode(text: string): string {
  return text.replace(/`/g, "'");
}
