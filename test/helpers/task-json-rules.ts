// The rules a task.json must meet: azure-pipelines-task-lib's published schema (extended for the handlers and the
// outputVariables spelling it predates), the checks `tfx extension create` applies, and this project's own.
import Ajv, { type ErrorObject } from 'ajv';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { LINUX_DEMAND } from '../../src/platform/agent-os';

export const repoRoot = path.resolve(__dirname, '..', '..');

export interface TaskJson {
  id: string;
  name: string;
  friendlyName: string;
  version: { Major: number; Minor: number; Patch: number };
  minimumAgentVersion?: string;
  demands?: string[];
  instanceNameFormat?: string;
  groups?: { name: string; displayName: string; isExpanded?: boolean }[];
  inputs?: {
    name: string;
    type: string;
    label: string;
    defaultValue?: string | boolean;
    required?: boolean;
    helpMarkDown?: string;
    groupName?: string;
    visibleRule?: string;
    options?: Record<string, string>;
  }[];
  outputVariables?: { name: string; description?: string }[];
  execution?: Record<string, { target: string }>;
  postjobexecution?: Record<string, { target: string }>;
  messages?: Record<string, string>;
}

function extendedSchema(): object {
  const schema = JSON.parse(readFileSync(path.join(repoRoot, 'test', 'schema', 'tasks.schema.json'), 'utf8'));
  const handler = { $ref: '#/definitions/executionObject' };
  for (const stage of ['prejobexecution', 'execution', 'postjobexecution']) {
    Object.assign(schema.properties[stage].properties, { Node16: handler, Node20_1: handler, Node24: handler });
  }
  schema.properties.outputVariables = schema.properties.OutputVariables;
  delete schema.$schema;
  delete schema.id;
  return schema;
}

// The published schema escapes ':' in a pattern, which only non-unicode regular expressions accept.
const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
const validateSchema = ajv.compile(extendedSchema());

// validator.isUUID(str) as tfx calls it: versions 1 to 8, RFC variant.
const TFX_GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

export const MINIMUM_AGENT = '4.248.0';

/** Every rule the task.json at `taskDir` breaks; `targetsDir` is where handler targets must exist (source or dist). */
export function taskJsonProblems(task: TaskJson, targetExists: (target: string) => boolean): string[] {
  const problems: string[] = [];
  if (!validateSchema(task)) {
    problems.push(...(validateSchema.errors ?? []).map((e: ErrorObject) => `schema: ${e.instancePath || '/'} ${e.message}`));
  }
  if (!TFX_GUID.test(task.id ?? '')) problems.push('tfx: id is not a GUID');
  if (!/^[A-Za-z0-9-]+$/.test(task.name ?? '')) problems.push('tfx: name is not alphanumeric');
  if (!task.friendlyName || task.friendlyName.length > 40) problems.push('tfx: friendlyName must be 1 to 40 characters');
  if (!task.instanceNameFormat) problems.push('tfx: instanceNameFormat is required');
  for (const stage of ['execution', 'postjobexecution'] as const) {
    for (const [handler, { target }] of Object.entries(task[stage] ?? {})) {
      if (!targetExists(target)) problems.push(`tfx: ${stage}.${handler}.target ${target} does not exist`);
    }
  }
  const handlers = Object.keys(task.execution ?? {});
  if (!handlers.includes('Node20_1') || !handlers.includes('Node24')) problems.push('handlers: execution needs Node20_1 and Node24');
  if (handlers.some((h) => !['Node20_1', 'Node24'].includes(h)))
    problems.push('handlers: only Node20_1 and Node24 (older runners are end of life)');
  if (task.postjobexecution) {
    const post = Object.keys(task.postjobexecution);
    if (!post.includes('Node20_1') || !post.includes('Node24')) problems.push('handlers: postjobexecution needs Node20_1 and Node24');
  }
  if (!task.minimumAgentVersion || compare(task.minimumAgentVersion, MINIMUM_AGENT) < 0) {
    problems.push(`minimumAgentVersion must be at least ${MINIMUM_AGENT}`);
  }
  // A pool then picks a Linux agent (src/platform/agent-os.ts); the task's first line refuses any other.
  if (!(task.demands ?? []).includes(LINUX_DEMAND)) problems.push(`demands must include '${LINUX_DEMAND}'`);
  const inputNames = new Set((task.inputs ?? []).map((i) => i.name));
  const groupNames = new Set((task.groups ?? []).map((g) => g.name));
  for (const input of task.inputs ?? []) {
    if (!input.helpMarkDown?.trim()) problems.push(`input ${input.name}: helpMarkDown is missing`);
    if (input.groupName && !groupNames.has(input.groupName)) problems.push(`input ${input.name}: group ${input.groupName} is not declared`);
    if (input.type === 'pickList' || input.type === 'radio') {
      const options = Object.keys(input.options ?? {});
      if (!options.length) problems.push(`input ${input.name}: ${input.type} without options`);
      if (input.defaultValue !== undefined && !options.includes(String(input.defaultValue))) {
        problems.push(`input ${input.name}: default ${input.defaultValue} is not one of its options`);
      }
    }
    for (const referenced of visibleRuleInputs(input.visibleRule)) {
      if (!inputNames.has(referenced)) problems.push(`input ${input.name}: visibleRule names unknown input ${referenced}`);
    }
  }
  for (const output of task.outputVariables ?? []) {
    if (!output.description?.trim()) problems.push(`output ${output.name}: description is missing`);
  }
  return problems;
}

export function visibleRuleInputs(rule: string | undefined): string[] {
  if (!rule) return [];
  return rule
    .split(/&&|\|\|/)
    .map((clause) => clause.trim().match(/^([A-Za-z][A-Za-z0-9]*)\s*(=|!=|<|>|<=|>=|NotEndsWith|EndsWith|Contains|NotContains)/)?.[1])
    .filter((n): n is string => !!n);
}

function compare(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** A handler target `index.js` exists in the source tree when `index.ts` does (the build bundles one into the other). */
export function sourceTargetExists(taskDir: string): (target: string) => boolean {
  return (target) => existsSync(path.join(taskDir, target.replace(/\.js$/, '.ts')));
}
