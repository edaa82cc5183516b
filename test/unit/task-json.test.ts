import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot, sourceTargetExists, taskJsonProblems, visibleRuleInputs, type TaskJson } from '../helpers/task-json-rules';

const tasksDir = path.join(repoRoot, 'tasks');
const taskFolders = readdirSync(tasksDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(tasksDir, d.name, 'task.json')))
  .map((d) => d.name);
const read = (folder: string): TaskJson => JSON.parse(readFileSync(path.join(tasksDir, folder, 'task.json'), 'utf8'));

const good: TaskJson = {
  id: '9b2f3c1e-4d5a-4b6c-8d7e-0f1a2b3c4d5e',
  name: 'Sample',
  friendlyName: 'Sample',
  version: { Major: 1, Minor: 0, Patch: 0 },
  minimumAgentVersion: '4.248.0',
  demands: ['Agent.OS -equals Linux'],
  instanceNameFormat: 'Sample',
  groups: [{ name: 'advanced', displayName: 'Advanced' }],
  inputs: [
    { name: 'mode', type: 'pickList', label: 'Mode', defaultValue: 'a', options: { a: 'A', b: 'B' }, helpMarkDown: 'How.' },
    { name: 'extra', type: 'string', label: 'Extra', helpMarkDown: 'More.', groupName: 'advanced', visibleRule: 'mode = b' },
  ],
  outputVariables: [{ name: 'result', description: 'The result.' }],
  execution: { Node20_1: { target: 'index.js' }, Node24: { target: 'index.js' } },
};

describe('task.json rules', () => {
  it('accept a task that meets them', () => {
    assert.deepEqual(
      taskJsonProblems(good, () => true),
      [],
    );
  });

  const broken: [string, (t: TaskJson) => void, RegExp][] = [
    ['a non-GUID id', (t) => (t.id = 'not-a-guid'), /id is not a GUID/],
    ['a GUID tfx rejects', (t) => (t.id = '11111111-2222-3333-4444-555555555555'), /tfx: id is not a GUID/],
    ['a name with spaces', (t) => (t.name = 'My Task'), /name is not alphanumeric/],
    ['a friendlyName over 40 characters', (t) => (t.friendlyName = 'x'.repeat(41)), /friendlyName/],
    ['no Node24 handler', (t) => (t.execution = { Node20_1: { target: 'index.js' } }), /Node20_1 and Node24/],
    ['an end-of-life handler', (t) => (t.execution = { ...t.execution, Node16: { target: 'index.js' } }), /end of life/],
    ['an input without help', (t) => delete t.inputs![1].helpMarkDown, /helpMarkDown is missing/],
    ['an unknown input property', (t) => Object.assign(t.inputs![0], { colour: 'red' }), /schema: .*additional properties/],
    ['a default outside the options', (t) => (t.inputs![0].defaultValue = 'z'), /not one of its options/],
    ['a visibleRule on an unknown input', (t) => (t.inputs![1].visibleRule = 'moed = b'), /unknown input moed/],
    ['an undeclared group', (t) => (t.inputs![1].groupName = 'missing'), /group missing is not declared/],
    ['an output without description', (t) => delete t.outputVariables![0].description, /description is missing/],
    [
      'no Linux demand (a Windows or macOS agent would pick the task up)',
      (t) => delete t.demands,
      /demands must include 'Agent\.OS -equals Linux'/,
    ],
    ['an old minimumAgentVersion', (t) => (t.minimumAgentVersion = '2.144.0'), /minimumAgentVersion/],
  ];
  for (const [what, breakIt, expected] of broken) {
    it(`reject ${what}`, () => {
      const task = structuredClone(good);
      breakIt(task);
      const problems = taskJsonProblems(task, () => true);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `expected ${expected} in ${JSON.stringify(problems)}`,
      );
    });
  }

  it('reject a handler target that does not exist', () => {
    assert.ok(taskJsonProblems(good, () => false).some((p) => /target index.js does not exist/.test(p)));
  });

  it('read the inputs a visibleRule names', () => {
    assert.deepEqual(visibleRuleInputs('release = quarantine && allowTag = true || a != b'), ['release', 'allowTag', 'a']);
  });
});

describe('the tasks of this extension', () => {
  it('exist', () => assert.ok(taskFolders.length > 0, 'no task folder with a task.json under tasks/'));

  for (const folder of taskFolders) {
    it(`${folder}/task.json meets every rule`, () => {
      assert.deepEqual(taskJsonProblems(read(folder), sourceTargetExists(path.join(tasksDir, folder))), []);
    });
    it(`${folder} is named after its folder and has an icon`, () => {
      assert.equal(read(folder).name, folder);
      assert.ok(existsSync(path.join(tasksDir, folder, 'icon.png')));
    });
  }

  it('have distinct ids', () => {
    const ids = taskFolders.map((f) => read(f).id);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('are contributed to the extension only with their folder shipped', () => {
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'vss-extension.json'), 'utf8'));
    const tasks = manifest.contributions.filter((c: { type: string }) => c.type !== 'ms.vss-build-web.build-results-tab');
    for (const contribution of tasks) {
      assert.equal(contribution.type, 'ms.vss-distributed-task.task');
      assert.deepEqual(contribution.targets, ['ms.vss-distributed-task.tasks']);
      const folder: string = contribution.properties.name;
      assert.ok(existsSync(path.join(repoRoot, folder, 'task.json')), `${folder} has no task.json`);
      assert.ok(
        manifest.files.some((f: { path: string }) => f.path === folder),
        `${folder} is not in files`,
      );
    }
    for (const file of manifest.files) assert.ok(!/node_modules|\.ts$|^src/.test(file.path), `${file.path} must not ship`);
  });

  it('the Container release tab shows on the build results page of builds that ran one of them', () => {
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'vss-extension.json'), 'utf8'));
    const tabs = manifest.contributions.filter((c: { type: string }) => c.type === 'ms.vss-build-web.build-results-tab');
    assert.equal(tabs.length, 1);
    assert.deepEqual(tabs[0].targets, ['ms.vss-build-web.build-results-view']);
    assert.deepEqual([...tabs[0].properties.supportsTasks].sort(), taskFolders.map((f) => read(f).id).sort());
    assert.equal(tabs[0].properties.uri, 'tab/index.html');
    assert.ok(existsSync(path.join(repoRoot, 'tab', 'index.html')));
    assert.ok(manifest.files.some((f: { path: string; addressable?: boolean }) => f.path === 'tab' && f.addressable));
  });
});
