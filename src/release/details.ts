// quarantineDetails as Azure/acr docs/preview/quarantine/quarantine-details/schema.json describes it:
// {scanner, state, link, result: {version, summary: [{severity: Critical|High|Medium|Low|None, count}] (<= 5),
// description (<= 1024)}} with no other keys. ACR takes it as a JSON *string* inside the PATCH body.
//
// Choices: summary lists Critical, High, Medium and Low always (a 0 says "looked, found none"); trivy's UNKNOWN
// is left out of `summary` because the schema's `None` means "rated, no severity", not "not rated yet"; the
// UNKNOWN count, secrets, failed misconfigurations and the violations are told in `description`.
// result.version is the version of this summary's layout ("Scan Summary Version" in the schema).
import type { QuarantineDetails } from '../acr/client';
import type { PolicyEvaluation } from './policy';

export const SUMMARY_VERSION = '1.0';
const DESCRIPTION_MAX = 1024;

export interface DetailsInput {
  trivyVersion: string;
  decision: 'Passed' | 'Failed';
  evaluation: PolicyEvaluation;
  /** Where people read the results (this run's results page unless the pipeline gives another). */
  link?: string;
  /** e.g. "linux/amd64, linux/arm64" for an index */
  scope?: string;
  /**
   * The details of an evidence referrer this task attached (and releases with the image): the scanned reference it
   * is the evidence of. The summary is that scan's.
   */
  evidenceOf?: string;
}

export function buildQuarantineDetails(input: DetailsInput): QuarantineDetails {
  const total = input.evaluation.counts.total;
  const details: QuarantineDetails = {
    scanner: `trivy ${input.trivyVersion}`,
    state: input.evidenceOf
      ? `evidence of a ${input.decision === 'Passed' ? 'passed' : 'failed'} scan`
      : input.decision === 'Passed'
        ? 'scan passed'
        : 'scan failed',
    result: {
      version: SUMMARY_VERSION,
      summary: [
        { severity: 'Critical', count: total.CRITICAL },
        { severity: 'High', count: total.HIGH },
        { severity: 'Medium', count: total.MEDIUM },
        { severity: 'Low', count: total.LOW },
      ],
      description: describe(input),
    },
  };
  if (input.link) details.link = input.link;
  return details;
}

function describe(input: DetailsInput): string {
  const { evaluation } = input;
  const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  const parts = [
    ...(input.evidenceOf
      ? [
          `Evidence of this task's trivy scan of ${input.evidenceOf}: a report attached to it as an OCI referrer (or the fallback tag index listing them).`,
        ]
      : []),
    input.decision === 'Passed' ? 'Policy passed.' : `Policy failed: ${evaluation.violations.length} violation(s).`,
    `${sum(evaluation.counts.vulnerabilities)} vulnerabilities, ${sum(evaluation.counts.secrets)} secrets, ${sum(evaluation.counts.misconfigurations)} failed misconfigurations, ${evaluation.counts.total.UNKNOWN} of unknown severity.`,
  ];
  if (input.scope) parts.push(`Scanned: ${input.scope}.`);
  if (evaluation.violations.length > 0) {
    parts.push(`Violations: ${evaluation.violations.map((v) => `${v.id}${v.packageName ? ` (${v.packageName})` : ''}`).join(', ')}`);
  }
  return truncate(parts.join(' '), DESCRIPTION_MAX);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The string ACR stores. */
export function serializeDetails(details: QuarantineDetails): string {
  return JSON.stringify(details);
}
