import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { envName, expandMacros, interpret, leakedSecrets } from '../helpers/task-runner';
import { parseVsoLine } from '../helpers/vso';

// Real lines, printed by azure-pipelines-task-lib itself in a child process, so the parser is checked against the
// library's escaping rather than against our idea of it.
function taskLibPrints(script: string): string {
  const prelude = "const tl = require('azure-pipelines-task-lib/task');";
  // task-lib writes its vault key (.taskkey) into the agent's temp directory: one of this test's own
  const temp = mkdtempSync(path.join(os.tmpdir(), 'task-lib-'));
  try {
    return execFileSync(process.execPath, ['-e', prelude + script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, AGENT_TEMPDIRECTORY: temp },
    });
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

describe('task runner: logging commands', () => {
  it('reads output variables, secrets and escaped values as task-lib writes them', () => {
    const stdout = taskLibPrints(`
      tl.setVariable('imageDigest', 'sha256:abc;def]100%', false, true);
      tl.setVariable('token', 'p4ss;word', true, false);
      tl.setSecret('s3cr3t-value');
      tl.setResult(tl.TaskResult.SucceededWithIssues, 'line one\\nline two');
    `);
    const run = interpret(stdout, '', 0, 1);
    assert.equal(run.outputs.imageDigest, 'sha256:abc;def]100%');
    assert.deepEqual(run.variables.token, { value: 'p4ss;word', isOutput: false, isSecret: true });
    assert.ok(run.secrets.includes('s3cr3t-value'));
    assert.ok(run.secrets.includes('p4ss;word'));
    assert.equal(run.result, 'SucceededWithIssues');
    assert.equal(run.resultMessage, 'line one\nline two');
    assert.ok(run.issues.some((i) => i.type === 'warning' && i.message === 'line one\nline two'));
  });

  it('reads issues, summaries, attachments, task variables and test results', () => {
    const stdout = taskLibPrints(`
      tl.warning('careful');
      tl.error('broken');
      tl.uploadSummary('/tmp/summary.md');
      tl.addAttachment('trivy-json', 'report.json', '/tmp/report.json');
      tl.setTaskVariable('startedDaemon', '1234');
      new tl.TestPublisher('JUnit').publish(['/tmp/a.xml', '/tmp/b.xml'], 'false', '', '', 'Scan', 'true');
      tl.setResult(tl.TaskResult.Failed, 'it failed');
    `);
    const run = interpret(stdout, '', 1, 1);
    assert.deepEqual(
      run.issues.map((i) => `${i.type}:${i.message}`),
      ['warning:careful', 'error:broken', 'error:it failed'],
    );
    assert.deepEqual(run.summaries, ['/tmp/summary.md']);
    assert.deepEqual(run.attachments, [{ type: 'trivy-json', name: 'report.json', path: '/tmp/report.json' }]);
    assert.equal(run.taskVariables.startedDaemon, '1234');
    assert.deepEqual(run.testResults, [{ type: 'JUnit', files: ['/tmp/a.xml', '/tmp/b.xml'] }]);
    assert.equal(run.result, 'Failed');
  });

  it('treats a non-zero exit without a result as failed, like the agent', () => {
    assert.equal(interpret('plain output\n', 'boom', 3, 1).result, 'Failed');
    assert.equal(interpret('plain output\n', '', 0, 1).result, 'Succeeded', 'the agent succeeds a step that said nothing and exited 0');
  });

  it('finds commands that do not start the line and ignores broken ones', () => {
    assert.equal(parseVsoLine('prefix ##vso[task.setsecret]abc')?.message, 'abc');
    assert.equal(parseVsoLine('##vso[task.setsecret abc'), undefined);
    assert.equal(parseVsoLine('no command here'), undefined);
  });
});

describe('task runner: agent environment', () => {
  it('names variables as the agent does', () => {
    assert.equal(envName('Build.BuildId'), 'BUILD_BUILDID');
    assert.equal(envName('dockerHost'), 'DOCKERHOST');
    assert.equal(envName('My Var.x'), 'MY_VAR_X');
  });

  it('expands macros case-insensitively and leaves unknown ones', () => {
    assert.equal(
      expandMacros('$(Build.BuildId)-$(build.sourceversion)-$(Nope)', { 'Build.BuildId': '7', 'Build.SourceVersion': 'abc' }),
      '7-abc-$(Nope)',
    );
  });

  it('reports secrets that leaked into the log', () => {
    assert.deepEqual(leakedSecrets({ log: 'token=abcdef123 ok' }, ['abcdef123', 'notthere', undefined]), ['abcdef123']);
  });
});
