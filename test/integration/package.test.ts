// The .vsix as the Marketplace would get it: only bundled tasks inside, each of which starts under the agent's
// Node 20 and Node 24 from the unpacked package alone and prints text, not resource keys.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { currentVsix, node24, unpack } from '../helpers/vsix';

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full, base) : [path.relative(base, full)];
  });
}

describe('the packaged extension', function () {
  let root: string;
  let manifest: { contributions: { type: string; properties: { name: string } }[] };
  before(function () {
    this.timeout(300_000);
    root = unpack(currentVsix());
    manifest = JSON.parse(readFileSync(path.join(root, 'extension.vsomanifest'), 'utf8'));
  });

  it('carries only bundles, task.json, icons, the page, the Container release tab and the licence', () => {
    const files = listFiles(root);
    assert.ok(!files.some((f) => f.includes('node_modules')), 'node_modules in the package');
    assert.ok(!files.some((f) => f.endsWith('.ts') || f.endsWith('.map')), 'sources in the package');
    for (const f of files)
      assert.match(
        f,
        /^(extension\.vs(omanifest|ixmanifest)|\[Content_Types\]\.xml|overview\.md|LICENSE|images\/.*\.png|tasks\/[A-Za-z]+\/(task\.json|icon\.png|index\.js|post\.js)|tab\/(index\.html|tab\.js|tab\.css))$/,
      );
  });

  it('has every contributed task with one bundle that starts under Node 20 and Node 24, printing text', function () {
    this.timeout(300_000);
    const nodes: [string, string][] = [
      ['Node 20', process.execPath],
      ['Node 24', node24()],
    ];
    assert.match(
      spawnSync(process.execPath, ['--version'], { encoding: 'utf8' }).stdout,
      /^v20\./,
      "the suite itself must run on the agent's Node 20",
    );
    const tasks = manifest.contributions.filter((c) => c.type === 'ms.vss-distributed-task.task');
    assert.ok(tasks.length > 0, 'no task is contributed yet');
    for (const contribution of tasks) {
      const taskDir = path.join(root, contribution.properties.name);
      const taskJson = JSON.parse(readFileSync(path.join(taskDir, 'task.json'), 'utf8'));
      for (const stage of ['execution', 'postjobexecution']) {
        for (const handler of Object.values<{ target: string }>(taskJson[stage] ?? {})) {
          for (const [label, node] of nodes) {
            const temp = mkdtempSync(path.join(os.tmpdir(), 'agent-temp-'));
            // No inputs at all: a task must start, then fail cleanly on its first required input.
            const run = spawnSync(node, [path.join(taskDir, handler.target)], {
              cwd: temp,
              encoding: 'utf8',
              timeout: 60_000,
              // No inputs beyond two that keep a task from starting a daemon or removing images on this machine.
              env: {
                PATH: process.env.PATH,
                AGENT_TEMPDIRECTORY: temp,
                AGENT_TOOLSDIRECTORY: temp,
                HOME: temp,
                INPUT_STARTDAEMON: 'never',
                INPUT_CLEANUP: 'none',
              },
            });
            const out = `${run.stdout}\n${run.stderr}`;
            const where = `${contribution.properties.name}/${handler.target} under ${label}`;
            assert.doesNotMatch(out, /Cannot find module|SyntaxError|ReferenceError/, `${where} did not load:\n${out}`);
            assert.match(
              out,
              /##vso\[task\.complete result=(Failed|Succeeded|SucceededWithIssues);\]/,
              `${where} never reported a result:\n${out}`,
            );
            assert.doesNotMatch(out, /Can't find loc string/, `${where} printed a resource key instead of text:\n${out}`);
          }
        }
      }
    }
  });

  it('can be packaged as a private copy under another publisher and extension id', function () {
    this.timeout(120_000);
    execFileSync(
      process.execPath,
      [
        require.resolve('tsx/cli'),
        'scripts/package.ts',
        '--check',
        '--skip-build',
        '--publisher',
        'acme-internal',
        '--extension-id',
        'container-release-private',
      ],
      {
        cwd: path.resolve(__dirname, '..', '..'),
        encoding: 'utf8',
      },
    );
    const version = /-(\d+\.\d+\.\d+)\.vsix$/.exec(currentVsix())![1];
    const vsix = path.join(path.dirname(currentVsix()), `acme-internal.container-release-private-${version}.vsix`);
    const copy = unpack(vsix);
    const manifest = readFileSync(path.join(copy, 'extension.vsixmanifest'), 'utf8');
    assert.match(manifest, /Publisher="acme-internal"/);
    assert.match(manifest, /Id="container-release-private"/);
  });

  it('stays within the 3 MB budget', () => {
    assert.ok(statSync(currentVsix()).size <= 3 * 1024 * 1024);
    assert.ok(execFileSync('python3', ['-m', 'zipfile', '-l', currentVsix()], { encoding: 'utf8' }).includes('tasks/'));
  });
});
