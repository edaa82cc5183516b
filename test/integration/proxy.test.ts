// The tasks on an enterprise agent: behind a real proxy (tinyproxy from Debian's package, on loopback, with Basic
// credentials and a filter), with the agent's CA instead of the lab's NODE_EXTRA_CA_CERTS. The agent hands the proxy
// over as it does (AGENT_PROXYURL, AGENT_PROXYUSERNAME, AGENT_PROXYPASSWORD, AGENT_PROXYBYPASSLIST, AGENT_CAINFO);
// the proxy's access log must show every host the task talks to, and a host the proxy refuses must fail the task
// with the proxy and the host named.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ArgvWatch } from '../helpers/argv-watch';
import { type TaskRun, leakedSecrets, repoRoot } from '../helpers/task-runner';
import { labSecrets, labServiceConnection, runLabTask } from '../lab/agent';
import { type BuildContext, makeBuildContext } from '../lab/base';
import { backingDigest, type Lab, readLab } from '../lab/lab';
import { withLabLock } from '../lab/setup/lock';
import { type LabProxy, accessLogSince, accessLogSize, agentProxyVariables, ensureLabProxy } from '../lab/setup/proxy';

const contoso = 'contoso.azurecr.io';
const appDir = path.join(repoRoot, 'examples', 'app');

function explain(run: TaskRun): string {
  return `result ${run.result}: ${run.resultMessage}\n--- log ---\n${run.stdout.slice(-5000)}\n${run.stderr.slice(-2000)}`;
}

describe('the tasks behind the agent proxy (tinyproxy)', function () {
  this.timeout(600_000);
  let lab: Lab;
  let proxy: LabProxy;
  let toolsRoot: string;
  const contexts: BuildContext[] = [];
  let pushed: { repository: string; digest: string } | undefined;

  before(async () => {
    lab = readLab();
    proxy = await withLabLock(() => ensureLabProxy());
    for (const task of ['BuildForPlatform', 'ScanAndRelease']) {
      execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', task, '--no-typecheck'], { stdio: 'pipe' });
    }
    toolsRoot = mkdtempSync(path.join(os.tmpdir(), 'proxy-it-'));
  });
  after(() => {
    for (const context of contexts) context.remove();
    if (toolsRoot) rmSync(toolsRoot, { recursive: true, force: true });
    const listed = spawnSync(
      'docker',
      ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', '--filter', `reference=${contoso}/it-proxy/*`],
      {
        encoding: 'utf8',
      },
    );
    const references = listed.stdout.split('\n').filter((r) => r && !r.endsWith(':<none>'));
    if (references.length) spawnSync('docker', ['image', 'rm', '--force', ...references]);
  });

  /** The agent behind a proxy: its proxy variables, its CA (Agent.CAInfo), and no NODE_EXTRA_CA_CERTS of the lab's. */
  const behind = (instance: LabProxy['proxy'], bypass: string[] = [], variables: Record<string, string> = {}) => {
    const agent = agentProxyVariables(proxy, instance, bypass);
    return {
      variables: { ...agent.variables, 'Agent.CAInfo': lab.caFile, ...variables },
      secretVariables: agent.secretVariables,
      env: { NODE_EXTRA_CA_CERTS: undefined },
    };
  };

  async function watched(body: () => Promise<TaskRun>): Promise<{ run: TaskRun; argv: string[] }> {
    const watch = new ArgvWatch().start();
    try {
      const run = await body();
      return { run, argv: watch.stop() };
    } finally {
      watch.stop();
    }
  }

  function appContext(): BuildContext {
    const files: Record<string, string | Buffer> = { 'www/index.html': readFileSync(path.join(appDir, 'www', 'index.html')) };
    const made = makeBuildContext({ lab, dockerfile: readFileSync(path.join(appDir, 'Dockerfile'), 'utf8'), files });
    contexts.push(made);
    return made;
  }

  /** Nothing printed, no process argument and no proxy log line holds the proxy's password (or a lab secret). */
  function assertNoLeak(run: TaskRun, argv: string[], proxyLog: string): void {
    const secrets = [proxy.password, Buffer.from(`${proxy.username}:${proxy.password}`).toString('base64'), ...labSecrets(lab)];
    // task-lib's getVariable writes every value it reads as a debug line, secret variables too (the agent masks
    // those, as it masks what task.setsecret names); anything else that prints the password is a leak
    const printed = run.log
      .split('\n')
      .filter((line) => !line.startsWith('##vso[task.setsecret]') && !line.startsWith('##vso[task.debug]Agent.ProxyPassword='))
      .join('\n');
    assert.deepEqual(leakedSecrets({ log: printed }, secrets), [], 'no secret in the output');
    // the machine is shared: other runs' processes are watched too, so only this proxy's own secrets are looked for
    assert.deepEqual(ArgvWatch.offending(argv, secrets.slice(0, 2)), [], 'the proxy password in no process argument');
    assert.ok(!proxyLog.includes(proxy.password), 'the password is not in the proxy log');
    assert.ok(run.secrets.includes(proxy.password), 'the password is registered as a secret');
  }

  it('BuildForPlatform (workload identity federation) reaches Azure DevOps, Entra ID and ACR through the proxy, with the agent CA', async () => {
    const repository = `it-proxy/build-${Date.now().toString(36)}`;
    const offset = accessLogSize(proxy.proxy);
    const { run, argv } = await watched(() =>
      runLabTask(lab, {
        task: 'BuildForPlatform',
        cwd: appContext().dir,
        inputs: { registry: contoso, repository },
        connections: { azureSubscription: labServiceConnection(lab, 'pipeline', 'WorkloadIdentityFederation') },
        ...behind(proxy.proxy),
      }),
    );
    assert.equal(run.result, 'Succeeded', explain(run));
    const log = accessLogSince(proxy.proxy, offset);
    assert.deepEqual(log.connected, [contoso, 'dev.azure.lab.test', 'login.lab.test'], log.text);
    assert.deepEqual(log.refused, []);
    assertNoLeak(run, argv, log.text);
    const held = await backingDigest(lab, repository, '4711');
    assert.equal(run.outputs.imageDigest, held);
    pushed = { repository, digest: held! };
  });

  it('ScanAndRelease downloads trivy and releases through the proxy, going direct to a bypassed host', async function () {
    if (!pushed) this.skip();
    const offset = accessLogSize(proxy.proxy);
    const { run, argv } = await watched(() =>
      runLabTask(lab, {
        task: 'ScanAndRelease',
        inputs: {
          image: `${contoso}/${pushed!.repository}@${pushed!.digest}`,
          trivyDownloadBaseUrl: lab.trivy.downloadBaseUrl,
          trivyVersion: lab.trivy.version,
        },
        connections: { azureSubscription: labServiceConnection(lab, 'scanner', 'ServicePrincipal', 'spnKey') },
        // a tool directory of its own: trivy is downloaded, not found in a cache
        ...behind(proxy.proxy, ['login\\.lab\\.test'], { 'Agent.ToolsDirectory': mkdtempSync(path.join(toolsRoot, 'tools-')) }),
        timeoutMs: 300_000,
      }),
    );
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(run.outputs.quarantineState, 'Passed');
    const log = accessLogSince(proxy.proxy, offset);
    // Entra ID (login.lab.test) is on the bypass list: asked directly
    assert.deepEqual(log.connected, [contoso, 'releases.lab.test'], log.text);
    assertNoLeak(run, argv, log.text);
  });

  it('fails naming the proxy and the host when the proxy refuses the registry, and pushes nothing', async () => {
    const repository = `it-proxy/refused-${Date.now().toString(36)}`;
    const offset = accessLogSize(proxy.strict);
    const run = await runLabTask(lab, {
      task: 'BuildForPlatform',
      cwd: appContext().dir,
      inputs: { registry: contoso, repository },
      connections: { azureSubscription: labServiceConnection(lab, 'pipeline', 'ServicePrincipal', 'spnKey') },
      ...behind(proxy.strict),
    });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage ?? '',
      /proxy http:\/\/127\.0\.0\.1:3129 refused the connection to contoso\.azurecr\.io:443 \(403 Filtered\)/,
    );
    assert.ok(!(run.resultMessage ?? '').includes(proxy.password));
    const log = accessLogSince(proxy.strict, offset);
    assert.deepEqual(log.refused, [contoso], log.text);
    assert.equal(await backingDigest(lab, repository, '4711'), undefined, 'nothing pushed');
  });
});
