// `npm run demo`'s pipeline (examples/demo.ts) run as a process against the lab, as a newcomer runs it: it must end
// with exit 0 and the table of what it shipped, agree with what the registry holds, and print no secret. Also: it
// exits non-zero when a step does not do what it should, and its agent-log rendering masks and hides as the agent does.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { run, type RunResult } from '../../src/process/exec';
import { AgentLog } from '../../examples/demo/agent-log';
import { distTasks, leakedSecrets, repoRoot } from '../helpers/task-runner';
import { labSecrets } from '../lab/agent';
import { LabControl } from '../lab/client';
import { backingDigest, type Lab, readLab } from '../lab/lab';

const contoso = 'contoso.azurecr.io';

function runDemo(): Promise<RunResult> {
  return run(process.execPath, ['--require', 'tsx/cjs', path.join(repoRoot, 'examples', 'demo.ts')], { cwd: repoRoot, timeoutMs: 600_000 });
}

const tail = (result: RunResult) => `exit ${result.exitCode}\n${result.stdout.slice(-6000)}\n${result.stderr.slice(-2000)}`;

describe('npm run demo (examples/demo.ts against the lab)', function () {
  this.timeout(900_000);
  let lab: Lab;
  const control = new LabControl();

  before(() => {
    lab = readLab();
    // The demo runs the bundles in dist/ (npm test and npm run demo build them first).
    const missing = ['EnsureDocker', 'BuildForPlatform', 'ScanAndRelease'].some(
      (task) => !existsSync(path.join(distTasks, task, 'index.js')),
    );
    if (missing) execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--no-typecheck'], { stdio: 'pipe' });
  });

  describe('a run', () => {
    let result: RunResult;
    let output: string;
    let table: string[];
    let buildId: string;

    before(async () => {
      result = await runDemo();
      output = `${result.stdout}\n${result.stderr}`;
      const lines = result.stdout.split('\n');
      const header = lines.findIndex((line) => /^image\s+digest\s+platforms proven\s+findings\s+quarantine$/.test(line));
      table = header === -1 ? [] : lines.slice(header, header + 6);
      buildId = /Container Release demo, build (\d+)/.exec(result.stdout)?.[1] ?? '';
    });

    it('exits 0 and says every step did what it should', () => {
      assert.equal(result.exitCode, 0, tail(result));
      assert.match(result.stdout, /^Every step did what it should \([\d.]+ s\)\.$/m);
      assert.doesNotMatch(result.stdout, /✘/);
    });

    it('ends with the table: the released images (buildx and ACR Tasks), the rejected one and the refused one', () => {
      assert.equal(table.length, 6, tail(result));
      assert.match(
        table[2],
        new RegExp(`^demo/web-legacy:${buildId}\\s+sha256:[0-9a-f]{12}\\s+linux/amd64\\s+CRITICAL [1-9]\\d*(, [A-Z]+ \\d+)*\\s+Failed$`),
      );
      assert.match(table[3], new RegExp(`^demo/web:${buildId}\\s+sha256:[0-9a-f]{12}\\s+linux/amd64, linux/arm64\\s+none\\s+Passed$`));
      // the docker-free build beside the buildx one: the same app, proven for the same platforms, released the same way
      assert.match(
        table[4],
        new RegExp(`^demo/web-acr-tasks:${buildId}\\s+sha256:[0-9a-f]{12}\\s+linux/amd64, linux/arm64\\s+none\\s+Passed$`),
      );
      assert.match(
        table[5],
        new RegExp(
          `^demo/api:${buildId}\\s+sha256:[0-9a-f]{12}\\s+refused: /app/\\.venv/bin/python is arm64 in a linux/amd64 image\\s+not scanned\\s+Quarantined$`,
        ),
      );
    });

    it('the table agrees with what the registry holds and its quarantine states', async () => {
      const expected: [string, string][] = [
        ['demo/web-legacy', 'Failed'],
        ['demo/web', 'Passed'],
        ['demo/web-acr-tasks', 'Passed'],
        ['demo/api', 'Quarantined'],
      ];
      for (const [index, [repository, state]] of expected.entries()) {
        const digest = await backingDigest(lab, repository, buildId);
        assert.ok(digest, `${repository}:${buildId} is in the registry`);
        assert.ok(table[index + 2].includes(digest.slice(0, 'sha256:'.length + 12)), `the table shows ${digest} for ${repository}`);
        assert.equal((await control.quarantineRecord(contoso, repository, digest))?.quarantineState, state, repository);
      }
    });

    it('prints the log as the agent shows it: steps, groups, issues; no logging command', () => {
      const starts = result.stdout.match(/^##\[section\]Starting: .+$/gm) ?? [];
      const finishes = result.stdout.match(/^##\[section\]Finishing: .+$/gm) ?? [];
      assert.equal(starts.length, 9, starts.join('\n'));
      assert.deepEqual(
        finishes.map((line) => line.replace('Finishing', 'Starting')),
        starts,
      );
      assert.ok(starts.includes('##[section]Starting: Post-job: Docker, buildx and a reachable daemon'));
      assert.match(result.stdout, /^##\[group\]Sign in to contoso\.azurecr\.io$/m);
      assert.ok(
        starts.includes(
          '##[section]Starting: Build demo/web-acr-tasks for linux/amd64,linux/arm64 in Azure with ACR Tasks (no docker on the agent)',
        ),
      );
      assert.match(result.stdout, /^##\[group\]Build in ACR Tasks$/m);
      assert.match(result.stdout, /^##\[endgroup\]$/m);
      assert.match(
        result.stdout,
        /^##\[error\]Policy violated by 1 finding\(s\): contoso\.azurecr\.io\/demo\/web-legacy@sha256:[0-9a-f]{64} is set to Failed/m,
      );
      assert.match(
        result.stdout,
        /^##\[error\]The pushed image contoso\.azurecr\.io\/demo\/api@sha256:[0-9a-f]{64} does not run on the platforms asked for/m,
      );
      assert.doesNotMatch(output, /##vso\[/);
    });

    it('replays the field report: the same image ends in exec format error on a node without emulation', () => {
      assert.match(result.stdout, /^exec \/app\/\.venv\/bin\/uvicorn: exec format error$/m);
    });

    it('prints no secret of the lab', () => {
      assert.deepEqual(leakedSecrets({ log: output }, labSecrets(lab)).length, 0);
      assert.match(result.stdout, /no secret in what the tasks printed \(\d+ secrets checked\)/);
    });
  });

  it('exits non-zero, naming the expectation, when a step does not do what it should (the rejection is never written)', async function () {
    // Faults are shared by everyone using the lab; another test's reset() may remove this one during the run.
    this.retries(2);
    const fault = await control.addFault({
      host: contoso,
      method: 'PATCH',
      path: '^/acr/v1/demo/web-legacy/_manifests/',
      kind: '500',
      times: -1,
    });
    let faultSurvived = true;
    try {
      const failed = await runDemo();
      faultSurvived = (await control.faults()).some((f) => f.id === fault);
      assert.ok(faultSurvived, 'the injected fault was removed by another lab user during the run; trying again');
      assert.equal(failed.exitCode, 1, tail(failed));
      assert.match(failed.stdout, /^##\[error\]\d+ expectation\(s\) failed/m);
      assert.match(failed.stdout, /^ {2}✘ quarantineState output is Failed/m);
      assert.match(failed.stdout, /^ {2}✘ the registry shows it Failed \(read back\) \(expected "Failed", got "Quarantined"\)$/m);
      // The rest of the job still ran: the clean image was released, and the table was printed.
      assert.match(failed.stdout, /^demo\/web:\d+\s+sha256:[0-9a-f]{12}\s+linux\/amd64, linux\/arm64\s+none\s+Passed$/m);
    } finally {
      if (faultSurvived) await control.removeFault(fault).catch(() => undefined);
    }
  });
});

describe('the demo shows the log as the agent does (examples/demo/agent-log.ts)', () => {
  function render(secrets: string[], lines: string[]): string[] {
    const written: string[] = [];
    const log = new AgentLog((text) => written.push(text), secrets);
    for (const line of lines) log.taskLine(line);
    assert.deepEqual(log.printed, written.join('').split('\n').slice(0, -1), 'printed is what was written');
    return log.printed;
  }

  it('masks the job secrets from the start and a registered secret from then on, in every line', () => {
    const printed = render(
      ['job-secret-1234'],
      [
        'token job-secret-1234 here',
        'tok-9876-abcdef before registration',
        '##vso[task.setsecret]tok-9876-abcdef',
        'after: tok-9876-abcdef and again tok-9876-abcdef',
        '##vso[task.setvariable variable=password;issecret=true;]var-secret-5555',
        '##vso[task.logissue type=error]failed with var-secret-5555',
      ],
    );
    assert.deepEqual(printed, [
      'token *** here',
      'tok-9876-abcdef before registration',
      'after: *** and again ***',
      '##[error]failed with ***',
    ]);
  });

  it('masks a multi-line secret line by line, the longer secret first', () => {
    const printed = render(
      ['abcd-1234', 'xxabcd-1234yy', '-----BEGIN KEY-----\nAAAABBBBCCCC\nDDDDEEEEFFFF\n-----END KEY-----'],
      ['xxabcd-1234yy', 'abcd-1234', 'key AAAABBBBCCCC DDDDEEEEFFFF'],
    );
    assert.deepEqual(printed, ['***', '***', 'key *** ***']);
  });

  it('shows issues as ##[warning]/##[error], keeps ##[group] lines and hides every other logging command', () => {
    const printed = render(
      [],
      [
        '##[group]Build',
        '##vso[task.debug]debug detail',
        '##vso[task.setvariable variable=imageDigest;isOutput=true;]sha256:abc',
        '##vso[task.issue type=warning;]careful%0Asecond line',
        '##vso[task.complete result=Failed;]done',
        '##vso[task.uploadsummary]/tmp/summary.md',
        '##[endgroup]',
      ],
    );
    assert.deepEqual(printed, ['##[group]Build', '##[warning]careful', 'second line', '##[endgroup]']);
  });

  it('frames a step as the agent does', () => {
    const written: string[] = [];
    const log = new AgentLog((text) => written.push(text));
    log.startStep('Build web', {
      friendlyName: 'Build for platform',
      description: 'Builds.',
      version: { Major: 1, Minor: 2, Patch: 3 },
      author: 'Us',
    });
    log.finishStep('Build web');
    assert.equal(written[0], '##[section]Starting: Build web\n');
    assert.ok(written.includes('Version      : 1.2.3\n'));
    assert.equal(written.at(-1), '##[section]Finishing: Build web\n');
  });
});
