// The stand-in's `--format template`: the Go text/template subset the tasks' template uses, and Go's failures
// for what it does not know.
import { strict as assert } from 'node:assert';
import { renderTemplate } from '../lab/trivy/src/template';

const results = [
  {
    Target: 'img (alpine 3.10)',
    Class: 'os-pkgs',
    Vulnerabilities: [
      { VulnerabilityID: 'CVE-1', PkgName: 'a<b>', Severity: 'HIGH', FixedVersion: '1.2' },
      { VulnerabilityID: 'CVE-2', PkgName: 'c', Severity: 'LOW' },
    ],
    ExperimentalModifiedFindings: [{ Type: 'vulnerability', Status: 'ignored', Statement: 's', Source: '.trivyignore' }],
  },
  { Target: 'app/secret.txt', Class: 'secret', Secrets: [{ RuleID: 'r', Severity: 'CRITICAL', StartLine: 3 }] },
];

describe('lab trivy stand-in: --format template', () => {
  it('renders range with index and element, if/else, field chains, toJson and len', () => {
    const template =
      '{{range $i, $r := .}}{{if $i}};{{end}}{{$r.Target}}:{{len .Vulnerabilities}}' +
      '{{range .Vulnerabilities}} {{toJson .PkgName}}{{if .FixedVersion}}={{.FixedVersion}}{{else}}=none{{end}}{{end}}' +
      '{{range .ModifiedFindings}} ignored {{.Statement}}{{end}}{{range $s := .Secrets}} line {{$s.StartLine}}{{end}}{{end}}';
    assert.equal(
      renderTemplate(template, results),
      'img (alpine 3.10):2 "a\\u003cb\\u003e"=1.2 "c"=none ignored s;app/secret.txt:0 line 3',
    );
  });

  it('gives a field the report leaves out its Go zero value, and trims around {{- and -}}', () => {
    assert.equal(
      renderTemplate('{{range .}}{{toJson .Type}}|{{toJson .Licenses}}|{{ len .Secrets }}  {{- end}}', results),
      '""|null|0""|null|1',
    );
    assert.equal(renderTemplate('{{range .}}{{range .Secrets}}{{toJson .EndLine}} {{toJson .Title}}{{end}}{{end}}', results), '0 ""');
    assert.equal(renderTemplate('a {{- range .}}{{end -}} b', undefined), 'ab');
  });

  it('fails like Go on an undefined function, an unknown field, a stray end and an unclosed block', () => {
    assert.throws(
      () => renderTemplate('{{escapeHTML .}}', results),
      /error parsing template: template: output template:1: function "escapeHTML" not defined/,
    );
    assert.throws(
      () => renderTemplate('{{range .}}{{.Nope}}{{end}}', results),
      /failed to write with template: .*executing "output template" at <.Nope>: can't evaluate field Nope in type types.Result/,
    );
    assert.throws(() => renderTemplate('{{end}}', results), /unexpected \{\{end\}\}/);
    assert.throws(() => renderTemplate('{{range .}}', results), /unexpected EOF/);
    assert.throws(
      () => renderTemplate('{{.Target}}', results),
      /can't evaluate field Target in type \[\]types.Result|can't evaluate field Target/,
    );
  });

  it('refuses what it does not emulate rather than guess', () => {
    assert.throws(() => renderTemplate('{{with .}}{{end}}', results), /not emulated/);
    assert.throws(() => renderTemplate('{{ .Target | printf "%q" }}', results), /not emulated/);
  });
});
