// The JUnit XML trivy's contrib/junit.tpl produces (Go text/template output reproduced byte for byte,
// whitespace included): per result one suite of vulnerabilities and one of misconfigurations.
import type { Result } from './types';

/** encoding/xml EscapeText (trivy's escapeXML template function). */
export function escapeXml(text: string): string {
  let out = '';
  for (const c of text) {
    switch (c) {
      case '"':
        out += '&#34;';
        break;
      case "'":
        out += '&#39;';
        break;
      case '&':
        out += '&amp;';
        break;
      case '<':
        out += '&lt;';
        break;
      case '>':
        out += '&gt;';
        break;
      case '\t':
        out += '&#x9;';
        break;
      case '\n':
        out += '&#xA;';
        break;
      case '\r':
        out += '&#xD;';
        break;
      default: {
        const code = c.codePointAt(0) ?? 0;
        const valid = code === 0x09 || code === 0x0a || code === 0x0d || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || code >= 0x10000;
        out += valid ? c : '\uFFFD';
      }
    }
  }
  return out;
}

function properties(result: Result): string {
  if ((result.Type ?? '') === '') return '';
  return `\n        <properties>\n            <property name="type" value="${result.Type}"></property>\n        </properties>`;
}

export function writeJunit(results: readonly Result[] | undefined): string {
  let out = '<?xml version="1.0" ?>\n<testsuites name="trivy">';
  for (const result of results ?? []) {
    const vulns = result.Vulnerabilities ?? [];
    out += `\n    <testsuite tests="${vulns.length}" failures="${vulns.length}" name="${result.Target}" errors="0" skipped="0" time="">`;
    out += properties(result);
    for (const vuln of vulns) {
      out += `\n        <testcase classname="${vuln.PkgName}-${vuln.InstalledVersion}" name="[${vuln.Severity}] ${vuln.VulnerabilityID}" time="">`;
      out += `\n            <failure message="${escapeXml(vuln.Title ?? '')}" type="description">${escapeXml(vuln.Description ?? '')}</failure>`;
      out += '\n        </testcase>';
    }
    out += '\n    </testsuite>';

    const summary = result.MisconfSummary;
    if (summary) {
      const tests = (summary.Successes ?? 0) + (summary.Failures ?? 0);
      out += `\n    <testsuite tests="${tests}" failures="${summary.Failures ?? 0}" name="${result.Target}" errors="0" skipped="${summary.Exceptions ?? 0}" time="">`;
    } else {
      out += `\n    <testsuite tests="0" failures="0" name="${result.Target}" errors="0" skipped="0" time="">`;
    }
    out += properties(result);
    for (const misconf of result.Misconfigurations ?? []) {
      out += `\n        <testcase classname="${misconf.Type ?? ''}" name="[${misconf.Severity}] ${misconf.ID}" time="">`;
      if (misconf.Status === 'FAIL') {
        out += `\n            <failure message="${escapeXml(misconf.Title ?? '')}" type="description">${escapeXml(misconf.Description ?? '')}</failure>`;
      }
      out += '\n        </testcase>';
    }
    out += '\n    </testsuite>';
  }
  return `${out}\n</testsuites>\n`;
}
