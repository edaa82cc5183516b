// A readable approximation of trivy's default "table" format (summary table, then one table per target).
// Not byte-exact: the tasks under test read json/sarif/template output, never the table.
import type { Report, Result } from './types';

function box(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)) + 2);
  const line = (left: string, mid: string, right: string): string => `${left}${widths.map((w) => '─'.repeat(w)).join(mid)}${right}`;
  const row = (cells: string[]): string => `│${cells.map((c, i) => ` ${c.padEnd(widths[i] - 1)}`).join('│')}│`;
  return [line('┌', '┬', '┐'), row(header), line('├', '┼', '┤'), ...rows.map(row), line('└', '┴', '┘')].join('\n');
}

function count(result: Result, kind: 'vuln' | 'secret' | 'misconfig'): string {
  if (kind === 'vuln') return result.Class === 'os-pkgs' || result.Class === 'lang-pkgs' ? String(result.Vulnerabilities?.length ?? 0) : '-';
  if (kind === 'secret') return result.Class === 'secret' ? String(result.Secrets?.length ?? 0) : '-';
  return result.Class === 'config' ? String(result.Misconfigurations?.length ?? 0) : '-';
}

function totals(severities: string[]): string {
  const names = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
  return `Total: ${severities.length} (${names.map((n) => `${n}: ${severities.filter((s) => s === n).length}`).join(', ')})`;
}

export function writeTable(report: Report): string {
  const results = report.Results ?? [];
  const out: string[] = ['', 'Report Summary', ''];
  out.push(
    box(
      ['Target', 'Type', 'Vulnerabilities', 'Secrets', 'Misconfigurations'],
      results.map((r) => [r.Target, r.Type ?? r.Class ?? '', count(r, 'vuln'), count(r, 'secret'), count(r, 'misconfig')]),
    ),
  );
  out.push("Legend:\n- '-': Not scanned\n- '0': Clean (no security findings detected)\n");
  for (const result of results) {
    const vulns = result.Vulnerabilities ?? [];
    const secrets = result.Secrets ?? [];
    const misconfs = result.Misconfigurations ?? [];
    if (vulns.length + secrets.length + misconfs.length === 0) continue;
    out.push('', result.Target, '='.repeat(result.Target.length));
    if (vulns.length > 0) {
      out.push(totals(vulns.map((v) => v.Severity)), '');
      out.push(
        box(
          ['Library', 'Vulnerability', 'Severity', 'Status', 'Installed Version', 'Fixed Version', 'Title'],
          vulns.map((v) => [v.PkgName, v.VulnerabilityID, v.Severity, v.Status ?? '', v.InstalledVersion, v.FixedVersion ?? '', v.Title ?? '']),
        ),
      );
    }
    if (misconfs.length > 0) {
      out.push(totals(misconfs.map((m) => m.Severity)), '');
      out.push(box(['ID', 'Severity', 'Title', 'Message'], misconfs.map((m) => [m.ID, m.Severity, m.Title ?? '', m.Message ?? ''])));
    }
    if (secrets.length > 0) {
      out.push(totals(secrets.map((s) => s.Severity)), '');
      out.push(box(['Rule', 'Severity', 'Title', 'Lines'], secrets.map((s) => [s.RuleID, s.Severity, s.Title ?? '', `${s.StartLine ?? ''}-${s.EndLine ?? ''}`])));
    }
  }
  return `${out.join('\n')}\n`;
}
