// A push through a registry that fails for a moment: the ACR emulator in front of the lab's registry (its fault table,
// on loopback) answers one manifest PUT with 503 and resets the connection of the next. BuildForPlatform must ride
// both out within its bound, push the manifest once, and output the digest the registry holds.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot, explainRun } from '../helpers/task-runner';
import { labServiceConnection, runLabTask } from '../lab/agent';
import { type BuildContext, makeBuildContext } from '../lab/base';
import { LabControl } from '../lab/client';
import { backingDigest, type Lab, readLab } from '../lab/lab';

const fabrikam = 'fabrikam.azurecr.io';
const appDir = path.join(repoRoot, 'examples', 'app');

const explain = explainRun;

describe('BuildForPlatform@1 through registry faults (lab)', function () {
  this.timeout(600_000);
  let lab: Lab;
  const control = new LabControl();
  const contexts: BuildContext[] = [];
  const faults: string[] = [];

  before(() => {
    lab = readLab();
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', 'BuildForPlatform', '--no-typecheck'], {
      stdio: 'pipe',
    });
  });
  after(async () => {
    for (const id of faults) await control.removeFault(id).catch(() => undefined);
    for (const context of contexts) context.remove();
    const listed = spawnSync(
      'docker',
      ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', '--filter', `reference=${fabrikam}/it-faults/*`],
      {
        encoding: 'utf8',
      },
    );
    const references = listed.stdout.split('\n').filter((r) => r && !r.endsWith(':<none>'));
    if (references.length) spawnSync('docker', ['image', 'rm', '--force', ...references]);
  });

  it('survives a 503 and a reset connection on the manifest PUT, pushes once, and outputs the digest the registry holds', async () => {
    const repository = `it-faults/push-${randomBytes(4).toString('hex')}`;
    const context = makeBuildContext({
      lab,
      dockerfile: readFileSync(path.join(appDir, 'Dockerfile'), 'utf8'),
      files: { 'www/index.html': readFileSync(path.join(appDir, 'www', 'index.html')) },
    });
    contexts.push(context);
    const manifests = `^/v2/${repository}/manifests/4711$`; // the image's tag (the cache manifest is another)
    // the first matching fault is taken first: a 503, then a reset, then the registry answers
    faults.push(await control.addFault({ host: fabrikam, method: 'PUT', path: manifests, kind: '503', times: 1 }));
    faults.push(await control.addFault({ host: fabrikam, method: 'PUT', path: manifests, kind: 'reset', times: 1 }));
    const mark = await control.auditMark();

    const run = await runLabTask(lab, {
      task: 'BuildForPlatform',
      cwd: context.dir,
      inputs: { registry: fabrikam, repository },
      connections: { azureSubscription: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey') },
    });
    assert.equal(run.result, 'Succeeded', explain(run));

    const puts = (await control.audit(mark)).filter((e) => e.host === fabrikam && e.method === 'PUT' && new RegExp(manifests).test(e.path));
    assert.deepEqual(
      puts.map((e) => e.fault ?? e.status),
      ['503', 'reset', 201],
      `the manifest PUTs: ${JSON.stringify(puts)}`,
    );
    assert.equal(puts.filter((e) => e.status >= 200 && e.status < 300).length, 1, 'the manifest was stored once');
    assert.match(run.stdout, /failed \(a 5xx from the registry\); trying again in [\d.]+ s \(attempt 2 of 4\)/);
    assert.match(
      run.stdout,
      /failed \((a reset connection|a connection closed early \(EOF\))\); trying again in [\d.]+ s \(attempt 3 of 4\)/,
    );

    const held = await backingDigest(lab, repository, '4711');
    assert.ok(held, 'the registry holds the tag');
    assert.equal(run.outputs.imageDigest, held, 'the output digest is the one the registry holds');
    assert.match(run.log, /Platform proof|is ELF 64-bit amd64/);
  });

  it('fails closed, naming the failure, when the registry keeps answering 503', async () => {
    const repository = `it-faults/down-${randomBytes(4).toString('hex')}`;
    const context = makeBuildContext({
      lab,
      dockerfile: readFileSync(path.join(appDir, 'Dockerfile'), 'utf8'),
      files: { 'www/index.html': readFileSync(path.join(appDir, 'www', 'index.html')) },
    });
    contexts.push(context);
    const manifests = `^/v2/${repository}/manifests/4711$`; // the image's tag (the cache manifest is another)
    faults.push(await control.addFault({ host: fabrikam, method: 'PUT', path: manifests, kind: '503', times: -1 }));
    const mark = await control.auditMark();
    const run = await runLabTask(lab, {
      task: 'BuildForPlatform',
      cwd: context.dir,
      inputs: { registry: fabrikam, repository },
      connections: { azureSubscription: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey') },
    });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage ?? '', /503/);
    const puts = (await control.audit(mark)).filter((e) => e.host === fabrikam && e.method === 'PUT' && new RegExp(manifests).test(e.path));
    assert.equal(puts.length, 4, 'tried within its bound of 4');
    assert.match(run.stdout, /failed 4 times \(a 5xx from the registry\); giving up/);
    assert.equal(await backingDigest(lab, repository, '4711'), undefined, 'nothing tagged');
    assert.equal(run.outputs.imageDigest, undefined);
  });
});
