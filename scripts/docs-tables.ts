// Keeps the input and output tables of overview.md in step with each task.json: the text between
// <!-- task-table:<Task> --> and <!-- /task-table:<Task> --> is generated, everything else is written by hand.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

interface TaskInput {
  name: string;
  label: string;
  type: string;
  defaultValue?: string | boolean;
  required?: boolean;
  helpMarkDown?: string;
  options?: Record<string, string>;
}
interface TaskJson {
  name: string;
  version: { Major: number };
  inputs?: TaskInput[];
  outputVariables?: { name: string; description?: string }[];
}

const cell = (text: string) => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();

function inputType(input: TaskInput): string {
  if (input.type.startsWith('connectedService:')) return `service connection (${input.type.slice('connectedService:'.length)})`;
  if (input.options)
    return Object.keys(input.options)
      .map((o) => `\`${o}\``)
      .join(' or ');
  return input.type;
}

export function renderTaskTable(task: TaskJson): string {
  const lines = [
    `**Inputs of \`${task.name}@${task.version.Major}\`**`,
    '',
    '| Input | Type | Default | Description |',
    '|---|---|---|---|',
  ];
  for (const input of task.inputs ?? []) {
    const fallback =
      input.defaultValue === undefined || input.defaultValue === '' ? (input.required ? '(required)' : '') : `\`${input.defaultValue}\``;
    lines.push(`| \`${input.name}\` | ${cell(inputType(input))} | ${cell(fallback)} | ${cell(input.helpMarkDown ?? input.label)} |`);
  }
  lines.push('', `**Outputs of \`${task.name}@${task.version.Major}\`**`, '', '| Output | Description |', '|---|---|');
  for (const output of task.outputVariables ?? []) lines.push(`| \`${output.name}\` | ${cell(output.description ?? '')} |`);
  return lines.join('\n');
}

/** The document with every generated section replaced by what the task.json files say now. */
export function renderOverview(document: string, tasksDir: string): string {
  return document.replace(
    /(<!-- task-table:([A-Za-z0-9]+) -->)[\s\S]*?(<!-- \/task-table:\2 -->)/g,
    (_whole, open: string, task: string, close: string) => {
      const taskJson = JSON.parse(readFileSync(path.join(tasksDir, task, 'task.json'), 'utf8')) as TaskJson;
      return `${open}\n${renderTaskTable(taskJson)}\n${close}`;
    },
  );
}
