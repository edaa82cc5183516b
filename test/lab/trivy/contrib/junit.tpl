{{- /* lab-stand-in-template: junit
This is the lab's stand-in for trivy's contrib/junit.tpl. The stand-in does not execute Go templates:
`--format template --template @<path to this file>` makes it write the JUnit XML that trivy's own
contrib/junit.tpl produces (one <testsuite> of vulnerabilities and one of misconfigurations per result).
*/ -}}
