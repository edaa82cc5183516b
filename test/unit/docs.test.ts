import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderOverview } from '../../scripts/docs-tables';

const root = path.resolve(__dirname, '..', '..');
const overview = readFileSync(path.join(root, 'overview.md'), 'utf8');
const manifest = JSON.parse(readFileSync(path.join(root, 'vss-extension.json'), 'utf8'));
const contributed: string[] = manifest.contributions
  .filter((c: { type: string }) => c.type === 'ms.vss-distributed-task.task')
  .map((c: { properties: { name: string } }) => path.basename(c.properties.name));

describe('overview.md (the Marketplace page)', () => {
  it('has not drifted from task.json (npm run docs regenerates it)', () => {
    assert.equal(overview, renderOverview(overview, path.join(root, 'tasks')));
  });

  for (const task of contributed) {
    it(`documents every input and output of ${task}`, () => {
      const taskJson = JSON.parse(readFileSync(path.join(root, 'tasks', task, 'task.json'), 'utf8'));
      assert.ok(overview.includes(`<!-- task-table:${task} -->`), `overview.md has no generated table for ${task}`);
      for (const input of taskJson.inputs ?? []) assert.ok(overview.includes(`| \`${input.name}\` |`), `input ${input.name} is missing`);
      for (const output of taskJson.outputVariables ?? [])
        assert.ok(overview.includes(`| \`${output.name}\` |`), `output ${output.name} is missing`);
    });
  }

  it('notices a task.json change that the page does not carry', () => {
    const tasks = mkdtempSync(path.join(os.tmpdir(), 'docs-'));
    mkdirSync(path.join(tasks, 'Sample'));
    const taskJson = {
      name: 'Sample',
      version: { Major: 1 },
      inputs: [{ name: 'first', label: 'First', type: 'string', helpMarkDown: 'One.' }],
    };
    writeFileSync(path.join(tasks, 'Sample', 'task.json'), JSON.stringify(taskJson));
    const page = renderOverview('intro\n<!-- task-table:Sample -->\nold\n<!-- /task-table:Sample -->\nend', tasks);
    assert.ok(page.includes('| `first` | string |  | One. |'), page);
    taskJson.inputs.push({ name: 'second', label: 'Second', type: 'string', helpMarkDown: 'Two.' });
    writeFileSync(path.join(tasks, 'Sample', 'task.json'), JSON.stringify(taskJson));
    assert.notEqual(renderOverview(page, tasks), page);
    assert.ok(existsSync(path.join(tasks, 'Sample')) && readdirSync(tasks).length === 1);
  });
});
