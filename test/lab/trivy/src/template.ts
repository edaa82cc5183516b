// `--format template`: trivy renders a Go text/template over the report's Results (pkg/report/template.go:
// `Template.Execute(output, report.Results)`, with sprig's functions and a few of trivy's own). The stand-in
// implements the subset the tasks' template uses (src/trivy/findings.ts): text, {{if}}/{{else}}/{{end}},
// {{range $i, $x := ...}}, `.Field` chains on the dot and on variables, and the functions toJson and len, with
// `{{-`/`-}}` trimming. Fields are Go's (trivy's struct field names, e.g. ModifiedFindings for the JSON key
// ExperimentalModifiedFindings), typed, so a field a report leaves out has its Go zero value and an unknown field
// fails like Go's "can't evaluate field". Anything else (other functions, pipes, literals, comments, with,
// define) fails: an undefined function like Go's parser, the rest with a "not emulated" error, so the tasks cannot
// start relying on template features nobody checked.
import { readFileSync } from 'node:fs';
import { GoError, goValue } from './go';

const NAME = 'output template';

/** string, int, float, bool, any (an interface or a struct not emulated), []T, or a struct of STRUCTS. */
type GoType = string;
interface Field {
  type: GoType;
  /** The JSON key when it is not the field's name. */
  json?: string;
}

const s = (...names: string[]): Record<string, Field> => Object.fromEntries(names.map((n) => [n, { type: 'string' }]));
const STRUCTS: Record<string, Record<string, Field>> = {
  'types.Result': {
    ...s('Target', 'Class', 'Type'),
    Packages: { type: '[]any' },
    Vulnerabilities: { type: '[]types.DetectedVulnerability' },
    MisconfSummary: { type: 'any' },
    Misconfigurations: { type: '[]types.DetectedMisconfiguration' },
    Secrets: { type: '[]types.SecretFinding' },
    Licenses: { type: '[]types.DetectedLicense' },
    CustomResources: { type: '[]any' },
    ModifiedFindings: { type: '[]types.ModifiedFinding', json: 'ExperimentalModifiedFindings' },
  },
  'types.DetectedVulnerability': {
    ...s('VulnerabilityID', 'PkgID', 'PkgName', 'PkgPath', 'InstalledVersion', 'FixedVersion', 'Status', 'SeveritySource', 'PrimaryURL'),
    // the embedded types.Vulnerability's fields are promoted
    ...s('Title', 'Description', 'Severity', 'PublishedDate', 'LastModifiedDate'),
    VendorIDs: { type: '[]string' },
    CweIDs: { type: '[]string' },
    References: { type: '[]string' },
    PkgIdentifier: { type: 'any' },
    Layer: { type: 'any' },
    DataSource: { type: 'any' },
    VendorSeverity: { type: 'any' },
    CVSS: { type: 'any' },
  },
  'types.DetectedMisconfiguration': {
    ...s('Type', 'ID', 'AVDID', 'Title', 'Description', 'Message', 'Namespace', 'Query', 'Resolution', 'Severity', 'PrimaryURL', 'Status'),
    References: { type: '[]string' },
    Layer: { type: 'any' },
    CauseMetadata: { type: 'any' },
  },
  'types.SecretFinding': {
    ...s('RuleID', 'Category', 'Severity', 'Title', 'Match'),
    StartLine: { type: 'int' },
    EndLine: { type: 'int' },
    Code: { type: 'any' },
    Layer: { type: 'any' },
  },
  'types.DetectedLicense': { ...s('Severity', 'Category', 'PkgName', 'FilePath', 'Name', 'Text', 'Link'), Confidence: { type: 'float' } },
  'types.ModifiedFinding': { ...s('Type', 'Status', 'Statement', 'Source'), Finding: { type: 'any' } },
};

/** A value with its Go type; undefined value = the type's zero value (a nil slice, "", 0). */
interface Value {
  type: GoType;
  value: unknown;
}

// ---- parse ----

type Term = { kind: 'field'; base: 'dot' | string; fields: string[]; text: string };
interface Pipeline {
  fn?: 'toJson' | 'len';
  args: Term[];
  text: string;
  line: number;
  column: number;
}
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline }
  | { kind: 'if'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { kind: 'range'; vars: string[]; pipe: Pipeline; body: Node[]; else: Node[] };

const parseError = (line: number, message: string) => new GoError(`template: ${NAME}:${line}: ${message}`);
const notEmulated = (what: string) =>
  new GoError(`lab stand-in: ${what} is not emulated in --template (text, if, else, range, end, toJson, len)`);

interface Action {
  text: string;
  line: number;
  column: number;
}

function lex(source: string): Array<string | Action> {
  const items: Array<string | Action> = [];
  let at = 0;
  let trimNext = false;
  while (at <= source.length) {
    const open = source.indexOf('{{', at);
    let text = source.slice(at, open === -1 ? undefined : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open === -1) {
      if (text) items.push(text);
      break;
    }
    let start = open + 2;
    if (/^-\s/.test(source.slice(start, start + 2))) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    if (text) items.push(text);
    const close = source.indexOf('}}', start);
    const line = source.slice(0, open).split('\n').length;
    if (close === -1) throw parseError(line, 'unclosed action');
    let inner = source.slice(start, close);
    trimNext = /\s-$/.test(inner);
    if (trimNext) inner = inner.slice(0, -1);
    items.push({ text: inner.trim(), line, column: open - source.lastIndexOf('\n', open) - 1 });
    at = close + 2;
  }
  return items;
}

function parsePipeline(action: Action, text: string): Pipeline {
  if (text === '') throw parseError(action.line, 'missing value for command');
  if (/[|"'`()]/.test(text) || text.startsWith('/*')) throw notEmulated(`'{{${action.text}}}'`);
  const words = text.split(/\s+/);
  const term = (word: string): Term => {
    const match = /^(\.|\$[A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$|^(\.[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)$/.exec(
      word,
    );
    if (!match) {
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(word)) throw parseError(action.line, `function "${word}" not defined`);
      throw notEmulated(`'${word}'`);
    }
    if (match[3]) return { kind: 'field', base: 'dot', fields: match[3].slice(1).split('.'), text: word };
    const base = match[1] === '.' ? 'dot' : match[1];
    return { kind: 'field', base, fields: match[2] ? match[2].slice(1).split('.') : [], text: word };
  };
  const [first, ...rest] = words;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(first)) {
    if (first !== 'toJson' && first !== 'len') {
      if (
        ['true', 'false', 'nil'].includes(first) ||
        /^(and|or|not|eq|ne|lt|le|gt|ge|print|printf|println|index|slice|html|js|urlquery|call)$/.test(first)
      )
        throw notEmulated(`'${first}'`);
      throw parseError(action.line, `function "${first}" not defined`);
    }
    if (rest.length !== 1)
      throw new GoError(`template: ${NAME}:${action.line}:${action.column}: wrong number of args for ${first}: want 1 got ${rest.length}`);
    return { fn: first, args: rest.map(term), text, line: action.line, column: action.column };
  }
  if (rest.length > 0) throw parseError(action.line, `can't give argument to non-function ${first}`);
  return { args: [term(first)], text, line: action.line, column: action.column };
}

export function parseTemplate(source: string): Node[] {
  const items = lex(source);
  let index = 0;
  const lastLine = source.split('\n').length;
  const parseList = (inside: 'if' | 'range' | undefined): { nodes: Node[]; end: 'end' | 'else' | 'eof' } => {
    const nodes: Node[] = [];
    while (index < items.length) {
      const item = items[index++];
      if (typeof item === 'string') {
        nodes.push({ kind: 'text', text: item });
        continue;
      }
      const [keyword, ...rest] = item.text.split(/\s+/);
      const body = rest.join(' ');
      if (keyword === 'end' || keyword === 'else') {
        if (!inside) throw parseError(item.line, `unexpected {{${keyword}}}`);
        if (body) throw notEmulated(`'{{${item.text}}}'`);
        return { nodes, end: keyword };
      }
      if (keyword === 'if') {
        const pipe = parsePipeline(item, body);
        const then = parseList('if');
        const otherwise = then.end === 'else' ? parseList('if') : { nodes: [], end: 'end' as const };
        if (otherwise.end !== 'end') throw parseError(item.line, 'expected end; found {{else}}');
        nodes.push({ kind: 'if', pipe, then: then.nodes, else: otherwise.nodes });
      } else if (keyword === 'range') {
        const declaration = /^(\$[A-Za-z0-9_]*)(?:\s*,\s*(\$[A-Za-z0-9_]*))?\s*:=\s*(.*)$/.exec(body);
        const vars = declaration ? [declaration[1], declaration[2]].filter((v): v is string => v !== undefined) : [];
        const pipe = parsePipeline(item, declaration ? declaration[3] : body);
        const loop = parseList('range');
        const otherwise = loop.end === 'else' ? parseList('range') : { nodes: [], end: 'end' as const };
        if (otherwise.end !== 'end') throw parseError(item.line, 'expected end; found {{else}}');
        nodes.push({ kind: 'range', vars, pipe, body: loop.nodes, else: otherwise.nodes });
      } else if (['with', 'define', 'template', 'block', 'break', 'continue'].includes(keyword)) {
        throw notEmulated(`{{${keyword}}}`);
      } else {
        nodes.push({ kind: 'action', pipe: parsePipeline(item, item.text) });
      }
    }
    if (inside) throw parseError(lastLine, 'unexpected EOF');
    return { nodes, end: 'eof' };
  };
  return parseList(undefined).nodes;
}

// ---- execute ----

function execError(pipe: Pipeline, at: string, message: string): GoError {
  return new GoError(`template: ${NAME}:${pipe.line}:${pipe.column}: executing "${NAME}" at <${at}>: ${message}`);
}

function field(pipe: Pipeline, term: Term, of: Value, name: string): Value {
  const struct = STRUCTS[of.type];
  if (!struct) {
    if (of.type === 'any' && (of.value === undefined || of.value === null))
      throw execError(pipe, term.text, `nil pointer evaluating interface {}.${name}`);
    throw execError(pipe, term.text, `can't evaluate field ${name} in type ${of.type === 'any' ? 'interface {}' : of.type}`);
  }
  const spec = struct[name];
  if (!spec) throw execError(pipe, term.text, `can't evaluate field ${name} in type ${of.type}`);
  const record = (of.value ?? {}) as Record<string, unknown>;
  const value = record[spec.json ?? name];
  return { type: spec.type, value: value === null ? undefined : value };
}

function zero(type: GoType): unknown {
  if (type === 'string') return '';
  if (type === 'int' || type === 'float') return 0;
  if (type === 'bool') return false;
  return undefined; // nil slice, nil interface; a struct value is never absent here
}

function valueOf(v: Value): unknown {
  return v.value === undefined ? zero(v.type) : v.value;
}

function truth(v: Value): boolean {
  const value = valueOf(v);
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'string') return value !== '';
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'boolean') return value;
  return true;
}

/** sprig's toJson: json.Marshal, as Go writes it (compact, <>& escaped). */
function toJson(v: Value): string {
  const value = valueOf(v);
  if (value === undefined) return 'null';
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** fmt's %v of a value an action prints. */
function print(v: Value): string {
  const value = valueOf(v);
  if (value === undefined) return v.type.startsWith('[]') ? '[]' : '<no value>';
  return typeof value === 'string' ? value : goValue(value);
}

type Scope = Map<string, Value>;

function evaluate(pipe: Pipeline, dot: Value, scopes: Scope[]): Value {
  const resolve = (term: Term): Value => {
    let current: Value;
    if (term.base === 'dot') current = dot;
    else {
      const found = [...scopes].reverse().find((scope) => scope.has(term.base));
      if (!found) throw new GoError(`template: ${NAME}:${pipe.line}: undefined variable "${term.base}"`);
      current = found.get(term.base)!;
    }
    for (const name of term.fields) current = field(pipe, term, current, name);
    return current;
  };
  const [arg] = pipe.args.map(resolve);
  if (pipe.fn === 'toJson') return { type: 'string', value: toJson(arg) };
  if (pipe.fn === 'len') {
    const value = valueOf(arg);
    if (value === undefined && arg.type.startsWith('[]')) return { type: 'int', value: 0 };
    if (Array.isArray(value) || typeof value === 'string') return { type: 'int', value: value.length };
    throw execError(pipe, `len ${pipe.args[0].text}`, `error calling len: len of type ${arg.type === 'any' ? 'interface {}' : arg.type}`);
  }
  return arg;
}

function run(nodes: Node[], dot: Value, scopes: Scope[], out: string[]): void {
  for (const node of nodes) {
    switch (node.kind) {
      case 'text':
        out.push(node.text);
        break;
      case 'action':
        out.push(print(evaluate(node.pipe, dot, scopes)));
        break;
      case 'if':
        run(truth(evaluate(node.pipe, dot, scopes)) ? node.then : node.else, dot, [...scopes, new Map()], out);
        break;
      case 'range': {
        const list = evaluate(node.pipe, dot, scopes);
        const value = valueOf(list);
        if (value !== undefined && !Array.isArray(value))
          throw execError(node.pipe, node.pipe.text, `range can't iterate over ${print(list)}`);
        const items = (value ?? []) as unknown[];
        if (items.length === 0) {
          run(node.else, dot, [...scopes, new Map()], out);
          break;
        }
        const elementType = list.type.startsWith('[]') ? list.type.slice(2) : 'any';
        items.forEach((item, i) => {
          const element: Value = { type: elementType, value: item === null ? undefined : item };
          const scope: Scope = new Map();
          if (node.vars.length === 1) scope.set(node.vars[0], element);
          if (node.vars.length === 2) {
            scope.set(node.vars[0], { type: 'int', value: i });
            scope.set(node.vars[1], element);
          }
          run(node.body, element, [...scopes, scope], out);
        });
        break;
      }
    }
  }
}

/** `--template`: the text itself, or `@file` read from that file (trivy's NewTemplateWriter). */
export function loadTemplate(flag: string): string {
  if (!flag.startsWith('@')) return flag;
  const file = flag.slice(1);
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new GoError(`error retrieving template from path: open ${file}: no such file or directory`);
  }
}

/** Renders the template over the report's Results, as trivy's TemplateWriter does. */
export function renderTemplate(source: string, results: unknown[] | undefined): string {
  let nodes: Node[];
  try {
    nodes = parseTemplate(source);
  } catch (error) {
    throw new GoError(`error parsing template: ${(error as Error).message}`);
  }
  const dot: Value = { type: '[]types.Result', value: results };
  const out: string[] = [];
  try {
    run(nodes, dot, [new Map([['$', dot]])], out);
  } catch (error) {
    throw new GoError(`failed to write with template: ${(error as Error).message}`);
  }
  return out.join('');
}
