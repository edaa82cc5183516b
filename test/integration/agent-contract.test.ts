// Task behaviour that only worked because the lab agent used to be kinder than the real one (test/lab/README.md
// "The agent's contract"): BuildForPlatform against the lab, started by the lab agent as the real agent starts it.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import * as path from 'node:path';
import { distTasks, repoRoot } from '../helpers/task-runner';
import { runLabTask } from '../lab/agent';
import { busyboxBase, makeBuildContext, type BuildContext } from '../lab/base';
import { readLab, type Lab } from '../lab/lab';

describe('the agent contract in the lab: what the real agent does to BuildForPlatform', function () {
  this.timeout(600_000);
  let lab: Lab;
  const contexts: BuildContext[] = [];

  before(() => {
    lab = readLab();
    if (!existsSync(path.join(distTasks, 'BuildForPlatform', 'index.js'))) {
      execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', 'BuildForPlatform', '--no-typecheck'], {
        stdio: 'inherit',
      });
    }
  });
  after(() => {
    for (const context of contexts) context.remove();
  });

  function build(context: BuildContext, inputs: Record<string, string>) {
    return runLabTask(lab, {
      task: 'BuildForPlatform',
      cwd: context.dir,
      inputs: { registry: 'fabrikam.azurecr.io', repository: 'agent-contract/app', push: 'false', cache: 'none', tags: 'local', ...inputs },
    });
  }

  it('finds the Dockerfile of the build context when the agent hands the default dockerfile input over as <sources>/Dockerfile', async () => {
    const context = makeBuildContext({ lab });
    contexts.push(context);
    // the sources hold no Dockerfile at their root, only app/Dockerfile with its busybox copies
    mkdirSync(path.join(context.dir, 'app'));
    for (const entry of ['Dockerfile', 'amd64', 'arm64']) renameSync(path.join(context.dir, entry), path.join(context.dir, 'app', entry));
    const run = await build(context, { buildContext: 'app' });
    assert.equal(run.result, 'Succeeded', `${run.resultMessage ?? ''}\n${run.stdout.slice(-2000)}`);
    assert.match(run.stdout, new RegExp(`--file ${path.join(context.dir, 'app', 'Dockerfile').replace(/[/.]/g, '\\$&')}`));
  });

  it('a build step printing ##vso commands sets no variable and no output', async () => {
    const nonce = Date.now().toString(36);
    const context = makeBuildContext({
      lab,
      dockerfile: [
        busyboxBase,
        `RUN echo "${nonce} ##vso[task.setvariable variable=forged;isOutput=true]yes" && echo "##vso[task.setvariable variable=imageDigest;isOutput=true]sha256:forged"`,
        '',
      ].join('\n'),
    });
    contexts.push(context);
    const run = await build(context, {});
    assert.equal(run.result, 'Succeeded', `${run.resultMessage ?? ''}\n${run.stdout.slice(-2000)}`);
    assert.ok(run.log.includes(nonce), 'the step ran and its output was relayed');
    assert.equal(run.variables.forged, undefined);
    assert.equal(run.outputs.forged, undefined);
    assert.notEqual(run.outputs.imageDigest, 'sha256:forged');
  });
});
