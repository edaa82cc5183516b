// The result filters trivy applies after scanning (pkg/result/filter.go, ignore.go) for the flags the tasks pass:
// --ignore-unfixed, the ignore file (.trivyignore with exp: dates, or .trivyignore.yaml), --show-suppressed, plus
// the scanner selection (--scanners), which in trivy decides what gets produced. Every severity is kept (the tasks
// pass no --severity); an empty one becomes UNKNOWN, as in trivy.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { GoError, wrap } from './go';
import type { Logger } from './log';
import {
  type DetectedLicense,
  type DetectedMisconfiguration,
  type DetectedVulnerability,
  type ModifiedFinding,
  type Report,
  type Result,
  type SecretFinding,
  severityRank,
} from './types';

export interface IgnoreFinding {
  id: string;
  paths?: string[];
  purls?: string[];
  expiredAt?: Date;
  statement?: string;
}

export interface IgnoreConfig {
  filePath: string;
  vulnerabilities: IgnoreFinding[];
  misconfigurations: IgnoreFinding[];
  secrets: IgnoreFinding[];
  licenses: IgnoreFinding[];
}

export interface FilterOptions {
  ignoreUnfixed: boolean;
  showSuppressed: boolean;
  scanners: string[];
  ignore: IgnoreConfig;
}

export function emptyIgnoreConfig(filePath = ''): IgnoreConfig {
  return { filePath, vulnerabilities: [], misconfigurations: [], secrets: [], licenses: [] };
}

/** getIgnoredFindings: a missing file is fine; .yml/.yaml use the structured format. */
export function loadIgnoreFile(file: string, log: Logger, now: Date = new Date()): IgnoreConfig {
  if (!file || !existsSync(file)) return emptyIgnoreConfig(file);
  const extension = path.extname(file);
  let config: IgnoreConfig;
  try {
    config = extension === '.yml' || extension === '.yaml' ? parseIgnoreYaml(file) : parseIgnorePlain(file, log);
  } catch (error) {
    throw wrap(`${file} parse error`, error);
  }
  const keep = (findings: IgnoreFinding[]): IgnoreFinding[] =>
    findings.filter((finding) => !(finding.expiredAt && finding.expiredAt.getTime() < now.getTime()));
  return {
    filePath: file,
    vulnerabilities: keep(config.vulnerabilities),
    misconfigurations: keep(config.misconfigurations),
    secrets: keep(config.secrets),
    licenses: keep(config.licenses),
  };
}

function parseIgnorePlain(file: string, log: Logger): IgnoreConfig {
  const findings: IgnoreFinding[] = [];
  for (const rawLine of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let expiredAt: Date | undefined;
    const exp = fields.slice(1).find((field) => field.startsWith('exp:'));
    if (exp) {
      const text = exp.slice('exp:'.length);
      const parsed = /^\d{4}-\d{2}-\d{2}$/.test(text) ? new Date(`${text}T00:00:00Z`) : undefined;
      if (!parsed || Number.isNaN(parsed.getTime())) {
        log.warn('Error while parsing expiration date in .trivyignore file', {
          err: `parsing time ${JSON.stringify(text)} as "2006-01-02": cannot parse ${JSON.stringify(text)} as "2006"`,
        });
        continue;
      }
      expiredAt = parsed;
    }
    findings.push({ id: fields[0], expiredAt });
  }
  // IDs in .trivyignore are treated as IDs for all scanners (trivy: it is unclear which kind they are).
  return { filePath: file, vulnerabilities: findings, misconfigurations: findings, secrets: findings, licenses: findings };
}

interface YamlFinding {
  id?: unknown;
  paths?: unknown;
  purls?: unknown;
  expired_at?: unknown;
  statement?: unknown;
}

function parseIgnoreYaml(file: string): IgnoreConfig {
  let document: unknown;
  try {
    document = yaml.load(readFileSync(file, 'utf8'));
  } catch (error) {
    throw wrap('yaml decode error', error);
  }
  const root = (document ?? {}) as Record<string, unknown>;
  const section = (key: string): IgnoreFinding[] => {
    const items = root[key];
    if (items === undefined || items === null) return [];
    if (!Array.isArray(items)) throw new GoError(`yaml decode error: ${key} must be a list`);
    return items.map((item: YamlFinding) => {
      if (typeof item?.id !== 'string' || item.id === '') throw new GoError(`yaml decode error: every ${key} entry needs an id`);
      const expired = item.expired_at;
      let expiredAt: Date | undefined;
      if (expired instanceof Date) expiredAt = expired;
      else if (typeof expired === 'string') expiredAt = new Date(/^\d{4}-\d{2}-\d{2}$/.test(expired) ? `${expired}T00:00:00Z` : expired);
      return {
        id: item.id,
        paths: Array.isArray(item.paths) ? item.paths.map(String) : undefined,
        purls: Array.isArray(item.purls) ? item.purls.map(String) : undefined,
        expiredAt,
        statement: typeof item.statement === 'string' ? item.statement : undefined,
      };
    });
  };
  return {
    filePath: file,
    vulnerabilities: section('vulnerabilities'),
    misconfigurations: section('misconfigurations'),
    secrets: section('secrets'),
    licenses: section('licenses'),
  };
}

/** doublestar-style glob: ** crosses directories, * and ? do not. */
export function globMatch(pattern: string, subject: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`).test(subject);
}

function matchPaths(finding: IgnoreFinding, candidates: Array<string | undefined>): boolean {
  if (!finding.paths || finding.paths.length === 0) return true;
  return finding.paths.some((pattern) =>
    candidates.some((candidate) => candidate !== undefined && candidate !== '' && globMatch(pattern, candidate)),
  );
}

function matchPurls(finding: IgnoreFinding, purl: string | undefined): boolean {
  if (!finding.purls || finding.purls.length === 0) return true;
  if (!purl) return false;
  const withoutQualifiers = purl.split('?')[0];
  return finding.purls.some((candidate) => candidate === purl || candidate === withoutQualifiers);
}

function findIgnore(
  findings: IgnoreFinding[],
  ids: Array<string | undefined>,
  paths: Array<string | undefined>,
  purl?: string,
): IgnoreFinding | undefined {
  return findings.find((finding) => ids.includes(finding.id) && matchPaths(finding, paths) && matchPurls(finding, purl));
}

/** BySeverity (pkg/types/vulnerability.go): package, installed version, higher severity first, id, path. */
export function compareBySeverity(a: DetectedVulnerability, b: DetectedVulnerability): number {
  const text = (x: string | undefined, y: string | undefined): number => ((x ?? '') < (y ?? '') ? -1 : (x ?? '') > (y ?? '') ? 1 : 0);
  return (
    text(a.PkgName, b.PkgName) ||
    text(a.InstalledVersion, b.InstalledVersion) ||
    severityRank(b.Severity) - severityRank(a.Severity) ||
    text(a.VulnerabilityID, b.VulnerabilityID) ||
    text(a.PkgPath, b.PkgPath)
  );
}

/** Which scanner produces a result of each class. */
const scannerOfClass: Record<string, string> = {
  'os-pkgs': 'vuln',
  'lang-pkgs': 'vuln',
  config: 'misconfig',
  secret: 'secret',
  license: 'license',
  'license-file': 'license',
};

/** Filters a report in place, the order trivy uses (status, ignore file, then dedupe and sort). */
export function filterReport(report: Report, options: FilterOptions): void {
  if (!report.Results) return;
  const results = report.Results.filter((result) => {
    const scanner = scannerOfClass[result.Class ?? ''];
    return scanner === undefined || options.scanners.includes(scanner);
  });
  for (const result of results) filterResult(result, options);
  report.Results = results.length > 0 ? results : undefined; // omitempty
}

export function filterResult(result: Result, options: FilterOptions): void {
  const modified: ModifiedFinding[] = [];
  const note = (type: ModifiedFinding['Type'], finding: unknown, statement: string | undefined): void => {
    modified.push({ Type: type, Status: 'ignored', Statement: statement ?? '', Source: options.ignore.filePath, Finding: finding });
  };

  if (result.Vulnerabilities) {
    const unique = new Map<string, DetectedVulnerability>();
    for (const original of result.Vulnerabilities) {
      const vuln = { ...original, Severity: original.Severity || 'UNKNOWN' };
      // --ignore-unfixed ignores every status but "fixed" (an empty status is "unknown").
      if (options.ignoreUnfixed && vuln.Status !== 'fixed') continue;
      const ignored = findIgnore(
        options.ignore.vulnerabilities,
        [vuln.VulnerabilityID, ...(vuln.VendorIDs ?? [])],
        [result.Target, vuln.PkgPath],
        vuln.PkgIdentifier?.PURL,
      );
      if (ignored) {
        note('vulnerability', vuln, ignored.statement);
        continue;
      }
      const key = `${vuln.VulnerabilityID}/${vuln.PkgName}/${vuln.InstalledVersion}/${vuln.PkgPath ?? ''}`;
      const old = unique.get(key);
      // The same vulnerability must always be picked (trivy's shouldOverwrite).
      if (old && !((old.FixedVersion ?? '') < (vuln.FixedVersion ?? ''))) continue;
      unique.set(key, vuln);
    }
    const kept = [...unique.values()].sort(compareBySeverity);
    result.Vulnerabilities = kept.length > 0 ? kept : undefined;
  }

  if (result.Misconfigurations) {
    // Fixtures list failures only; an ignored failure counts as an exception in the summary, as in trivy.
    const summary = { Successes: 0, Failures: 0, Exceptions: 0, ...result.MisconfSummary };
    const kept: DetectedMisconfiguration[] = [];
    for (const misconf of result.Misconfigurations) {
      const ignored = findIgnore(options.ignore.misconfigurations, [misconf.ID, misconf.AVDID], [result.Target]);
      if (ignored && misconf.Status === 'FAIL') {
        summary.Failures--;
        summary.Exceptions++;
        note('misconfiguration', misconf, ignored.statement);
      } else if (misconf.Status === 'FAIL') {
        kept.push(misconf); // without --include-non-failures only failures are listed
      }
    }
    const counted = Object.entries(summary).filter(([, count]) => count > 0);
    result.MisconfSummary = counted.length > 0 ? Object.fromEntries(counted) : undefined;
    result.Misconfigurations = kept.length > 0 ? kept : undefined;
  }

  if (result.Secrets) {
    const kept: SecretFinding[] = [];
    for (const secret of result.Secrets) {
      const ignored = findIgnore(options.ignore.secrets, [secret.RuleID], [result.Target]);
      if (ignored) {
        note('secret', secret, ignored.statement);
        continue;
      }
      kept.push(secret);
    }
    result.Secrets = kept.length > 0 ? kept : undefined;
  }

  if (result.Licenses) {
    const kept: DetectedLicense[] = [];
    for (const license of result.Licenses) {
      const ignored = findIgnore(options.ignore.licenses, [license.Name], [license.FilePath]);
      if (ignored) {
        note('license', license, ignored.statement);
        continue;
      }
      kept.push(license);
    }
    result.Licenses = kept.length > 0 ? kept : undefined;
  }

  if (options.showSuppressed && modified.length > 0) result.ExperimentalModifiedFindings = modified;
}
