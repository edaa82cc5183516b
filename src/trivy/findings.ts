// What the task reads of a trivy report, without reading all of it. A real report of 10,000 findings is some
// 40 MB of JSON (descriptions, CVSS, references, layers); JSON.parse of it alone costs more time and memory than
// the task's budget. So the report stays whole on disk as the evidence (published and attached), and the task
// reads two small things from it:
// - its head, the fields before `Results` (schema, artifact, metadata), by a scanner that stops at `Results`;
// - the findings, rendered by trivy itself from the same report with FINDINGS_TEMPLATE (`trivy convert --format
//   template`): only the fields the policy, the summary and the Tests tab read.
// Both are checked like a whole report (checkTrivyReport), so a damaged or foreign file is refused the same way.
import { closeSync, openSync, readSync } from 'node:fs';
import { type Result, type TrivyReport, TrivyReportError, checkTrivyReport, isObject, parseTrivyJson } from './report';

// Go text/template over trivy's types.Results (the template's dot). Every string goes through sprig's toJson, so
// the output is JSON whatever a finding holds. `{{if .X}}` leaves out a zero value the way the JSON report's
// omitempty does, so both sources give the policy the same objects.
const opt = (field: string) => `{{if .${field}}},"${field}":{{toJson .${field}}}{{end}}`;
const req = (field: string, first = false) => `${first ? '' : ','}"${field}":{{toJson .${field}}}`;
const list = (key: string, goField: string, fields: string) =>
  `,"${key}":[{{range $j, $f := .${goField}}}{{if $j}},{{end}}{${fields}}{{end}}]`;

export const FINDINGS_TEMPLATE =
  '{"Results":[{{range $i, $r := .}}{{if $i}},{{end}}{' +
  req('Target', true) +
  opt('Class') +
  opt('Type') +
  list(
    'Vulnerabilities',
    'Vulnerabilities',
    req('VulnerabilityID', true) +
      req('PkgName') +
      req('Severity') +
      opt('InstalledVersion') +
      opt('FixedVersion') +
      opt('Status') +
      opt('Title') +
      opt('PrimaryURL'),
  ) +
  list(
    'Misconfigurations',
    'Misconfigurations',
    req('ID', true) + req('Severity') + req('Status') + opt('Title') + opt('Message') + opt('PrimaryURL'),
  ) +
  list('Secrets', 'Secrets', req('RuleID', true) + req('Severity') + opt('Title') + opt('Category') + opt('StartLine')) +
  list('Licenses', 'Licenses', req('Name', true) + req('Severity') + opt('Category') + opt('PkgName') + opt('FilePath')) +
  list('ExperimentalModifiedFindings', 'ModifiedFindings', req('Type', true) + req('Status') + opt('Statement')) +
  '}{{end}}]}\n';

/** The head of a report file: every top-level field before `Results`, parsed; the findings are not read. */
export function readReportHead(file: string, chunkSize = 65_536): Omit<TrivyReport, 'Results'> {
  const fd = openSync(file, 'r');
  try {
    const scanner = new HeadScanner();
    const buffer = Buffer.alloc(chunkSize);
    const chunks: Buffer[] = [];
    for (;;) {
      const read = readSync(fd, buffer, 0, chunkSize, null);
      if (read === 0) break;
      const chunk = buffer.subarray(0, read);
      chunks.push(Buffer.from(chunk));
      const end = scanner.feed(chunk);
      if (end === undefined) continue;
      const head = Buffer.concat(chunks).subarray(0, end).toString('utf8');
      return parseHead(`${head.replace(/,\s*$/, '')}}`);
    }
    // No `Results` key: trivy left it out (omitempty), so the whole file is the head.
    const whole = parseHead(Buffer.concat(chunks).toString('utf8'));
    delete (whole as TrivyReport).Results;
    return whole;
  } finally {
    closeSync(fd);
  }
}

function parseHead(text: string): Omit<TrivyReport, 'Results'> {
  const value = parseTrivyJson(text);
  if (!isObject(value)) throw new TrivyReportError('the output is JSON but not an object, so it is not a trivy report.');
  return value as unknown as Omit<TrivyReport, 'Results'>;
}

/**
 * A resumable byte scanner over a JSON object that finds where its top-level key `Results` starts. Strings
 * (with escapes) and nesting are followed, so `"Results"` inside a value or a nested object is not taken for it.
 * Anything that is not a JSON object is left to JSON.parse of what was read to fail on.
 */
class HeadScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private expectKey = false;
  private key: number[] | undefined;
  private keyStart = 0;
  private offset = 0;

  /** The byte offset in the file where the `Results` key begins, once this chunk holds its end. */
  feed(chunk: Buffer): number | undefined {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (this.inString) {
        if (this.key) this.key.push(c);
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) {
          this.inString = false;
          if (this.key) {
            const name = Buffer.from(this.key.slice(0, -1)).toString('latin1');
            this.key = undefined;
            if (name === 'Results') return this.keyStart;
          }
        }
        continue;
      }
      switch (c) {
        case 0x22: // "
          this.inString = true;
          if (this.depth === 1 && this.expectKey) {
            this.key = [];
            this.keyStart = this.offset + i;
            this.expectKey = false;
          }
          break;
        case 0x7b: // {
        case 0x5b: // [
          this.depth++;
          if (this.depth === 1) this.expectKey = true;
          break;
        case 0x7d: // }
        case 0x5d: // ]
          this.depth--;
          break;
        case 0x2c: // ,
          if (this.depth === 1) this.expectKey = true;
          break;
      }
    }
    this.offset += chunk.length;
    return undefined;
  }
}

/** The findings FINDINGS_TEMPLATE rendered: trivy's Results with only the fields the task reads. */
export function parseFindings(text: string): Result[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const start = text.trim().slice(0, 60).replace(/\s+/g, ' ');
    throw new TrivyReportError(
      `trivy's rendered findings are not JSON (${(error as Error).message}); they start with: ${start || '(empty)'}`,
    );
  }
  if (!isObject(value) || !Array.isArray(value.Results)) throw new TrivyReportError("trivy's rendered findings have no Results list.");
  return value.Results.map((result: unknown) => {
    if (!isObject(result)) return result as Result; // refused by checkTrivyReport
    for (const key of ['Vulnerabilities', 'Misconfigurations', 'Secrets', 'Licenses', 'ExperimentalModifiedFindings']) {
      // omitempty: an empty list is no list, as in the JSON report
      if (Array.isArray(result[key]) && (result[key] as unknown[]).length === 0) delete result[key];
    }
    return result as unknown as Result;
  });
}

/** The report the policy reads: the file's head and trivy's rendered findings, checked like a whole report. */
export function reportFromParts(head: Omit<TrivyReport, 'Results'>, results: Result[]): TrivyReport {
  return checkTrivyReport({ ...head, ...(results.length > 0 ? { Results: results } : {}) });
}
