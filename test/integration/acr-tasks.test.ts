// BuildForPlatform@1 with engine: acrTasks, end to end against the lab: the bundled task runs in an agent container
// with no docker at all (test/lab/agent-image.ts, base image), signs in through Entra ID with the pipeline's AzureRM
// connection, speaks Resource Manager to the ACR Tasks emulator (test/lab/emulators/acr-tasks.ts, on a port of this
// file's own), uploads the context behind a SAS URL, and the emulator's runs build with the lab's real engine (QEMU for
// arm64) and push to the ACR emulator. The platforms are proven as on the buildx path, and ScanAndRelease takes the
// digest. Each failure mode has its own test: TasksOperationsNotAllowed, a run stuck queued, a failed run, a
// cancelled pipeline, and what ACR Tasks cannot carry.
import { strict as assert } from 'node:assert';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentEnvironment, distTasks, interpret, leakedSecrets, repoRoot, type TaskRun } from '../helpers/task-runner';
import { labSecrets, labServiceConnection, labTaskOptions, runLabTask, type LabServiceConnection } from '../lab/agent';
import { AgentContainer, agentImageTag, ensureAgentImage } from '../lab/agent-image';
import { LabControl } from '../lab/client';
import { busyboxBase, makeBuildContext, type BuildContext } from '../lab/base';
import { readLab, type Lab } from '../lab/lab';
import { startAcrTasksServer, type AcrTasksServer } from '../lab/emulators/acr-tasks-server';

const contoso = 'contoso.azurecr.io';
const appDir = path.join(repoRoot, 'examples', 'app');

interface LabRunRecord {
  runId: string;
  status: string;
  request: { platform: { os: string; architecture: string }; imageNames: string[]; dockerFilePath: string; arguments: unknown[] };
}

const visible = (r: TaskRun) =>
  r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('##vso[task.debug'))
    .join('\n');
const explain = (r: TaskRun) => `result ${r.result}: ${r.resultMessage}\n${visible(r).slice(-6000)}\n${r.stderr.slice(-2000)}`;
const uniqueRepository = (name: string) => `it-acr-tasks/${name}-${randomBytes(4).toString('hex')}`;

describe('BuildForPlatform@1 engine: acrTasks (lab)', function () {
  this.timeout(900_000);
  let lab: Lab;
  let server: AcrTasksServer;
  let agent: AgentContainer;
  const contexts: BuildContext[] = [];

  before(async function () {
    this.timeout(3_600_000);
    lab = readLab();
    for (const task of ['BuildForPlatform', 'ScanAndRelease']) {
      execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', task, '--no-typecheck'], { stdio: 'pipe' });
    }
    server = await startAcrTasksServer();
    await ensureAgentImage('base');
    agent = await AgentContainer.start({ image: agentImageTag('base'), network: 'host' });
    // the lab's names, as the host resolves them (docker gives a host-network container an /etc/hosts of its own)
    const names = lab.tls?.names ?? [];
    await agent.exec(['sh', '-c', `printf '127.0.0.1 %s\\n' ${names.join(' ')} >> /etc/hosts`]);
  });
  after(async () => {
    await agent?.remove();
    await server?.close();
    for (const context of contexts) context.remove();
  });

  /** The lab's AzureRM connection of an identity, whose Resource Manager URL is this file's ACR Tasks emulator. */
  function connection(
    identity: 'pipeline' | 'builder' = 'pipeline',
    scheme: 'WorkloadIdentityFederation' | 'ServicePrincipal' = 'WorkloadIdentityFederation',
  ): LabServiceConnection {
    const base = labServiceConnection(lab, identity, scheme, scheme === 'ServicePrincipal' ? 'spnKey' : undefined);
    return { ...base, endpoint: { ...base.endpoint, url: server.url } };
  }

  /** A build context inside the agent container's shared directory (the agent sees it at the same path). */
  function context(dockerfile: string, files: Record<string, string | Buffer> = {}): BuildContext {
    const made = makeBuildContext({ lab, dockerfile, files });
    const inside = mkdtempSync(path.join(agent.root, 'context-'));
    execFileSync('cp', ['-a', `${made.dir}/.`, inside]);
    made.remove();
    chmodSync(inside, 0o755);
    const result = {
      dir: inside,
      dockerfile: path.join(inside, 'Dockerfile'),
      remove: () => rmSync(inside, { recursive: true, force: true }),
    };
    contexts.push(result);
    return result;
  }

  function build(
    inputs: Record<string, string>,
    options: { connection?: LabServiceConnection; variables?: Record<string, string> } = {},
  ): Promise<TaskRun> {
    const task = labTaskOptions(lab, {
      task: 'BuildForPlatform',
      inputs: { engine: 'acrTasks', registry: contoso, tags: '1.0.0', ...inputs },
      connections: { azureSubscription: options.connection ?? connection() },
      variables: options.variables,
      timeoutMs: 600_000,
      // the sources directory is the context, as on an agent that checked the app out: filePath inputs resolve there
      cwd: inputs.buildContext,
    });
    // the lab CA as the agent container holds it (the lab's own path is root's only, and may be behind a symlink)
    return agent.runTask({ ...task, env: { ...task.env, NODE_EXTRA_CA_CERTS: path.join(agent.root, 'lab-ca.crt') } });
  }

  const runsOf = (repository: string) =>
    (server.emulator.listRuns(contoso) as LabRunRecord[]).filter((run) =>
      run.request.imageNames.some((name) => name.startsWith(`${repository}:`)),
    );

  /** A context whose .dockerignore leaves out secrets and node_modules but keeps one file back in by an exception. */
  function ignoringContext(): BuildContext {
    const dockerfile = [
      busyboxBase,
      'COPY . /ctx/',
      // the build fails unless the context arrived exactly as .dockerignore says
      'RUN test ! -e /ctx/secret.env && test ! -e /ctx/node_modules && test ! -e /ctx/logs/build.log && test -e /ctx/logs/keep.log && test -e /ctx/www/index.html',
      'RUN echo "built on $(uname -m)" > /built.txt',
      'CMD ["/bin/sh", "-c", "cat /built.txt"]',
      '',
    ].join('\n');
    return context(dockerfile, {
      '.dockerignore': ['# docker rules', 'secret.env', 'node_modules', 'logs/*', '!logs/keep.log', ''].join('\n'),
      'secret.env': 'TOKEN=not-for-the-image',
      'node_modules/big/index.js': 'x'.repeat(100_000),
      'logs/build.log': 'noise',
      'logs/keep.log': 'kept by an exception',
      'www/index.html': '<h1>hello</h1>',
    });
  }

  it('builds linux/amd64 with no docker on the agent, honours .dockerignore, proves the platform, and ScanAndRelease takes the digest', async () => {
    assert.notEqual(
      (await agent.exec(['sh', '-c', 'command -v docker || echo none'])).stdout.trim().endsWith('docker'),
      true,
      'the agent has no docker',
    );
    const repository = uniqueRepository('amd64');
    const ctx = ignoringContext();
    const run = await build({ repository, buildContext: ctx.dir, platforms: 'linux/amd64' });
    assert.equal(run.result, 'Succeeded', explain(run));
    const digest = run.outputs.imageDigest;
    assert.match(digest ?? '', /^sha256:[0-9a-f]{64}$/, explain(run));
    assert.equal(run.outputs.imageReference, `${contoso}/${repository}@${digest}`);
    assert.equal(run.outputs.platforms, 'linux/amd64');
    assert.match(visible(run), /entries left out by \.dockerignore/);
    assert.match(visible(run), /linux\/amd64: manifest sha256:/, 'the platform proof ran');
    assert.match(visible(run), /is ELF 64-bit amd64/);
    const runs = runsOf(repository);
    assert.equal(runs.length, 1);
    assert.equal(runs[0].status, 'Succeeded');
    assert.deepEqual(runs[0].request.platform, { os: 'Linux', architecture: 'amd64' });
    assert.deepEqual(leakedSecrets(run, labSecrets(lab)), []);
    const metadata = JSON.parse(readFileSync(run.outputs.metadataFile!, 'utf8')) as Record<string, unknown>;
    assert.equal(metadata['containerimage.digest'], digest);

    const scan = await runLabTask(lab, {
      task: 'ScanAndRelease',
      inputs: {
        image: run.outputs.imageReference,
        trivyDownloadBaseUrl: lab.trivy.downloadBaseUrl,
        trivyVersion: lab.trivy.version,
      },
      connections: { azureSubscription: labServiceConnection(lab, 'scanner', 'ServicePrincipal', 'spnKey') },
      timeoutMs: 300_000,
    });
    assert.equal(scan.result, 'Succeeded', explain(scan));
    assert.equal((await new LabControl().quarantineRecord(contoso, repository, digest!))?.quarantineState, 'Passed', 'released by digest');
  });

  it('builds linux/amd64,linux/arm64 as two runs joined into one index, each platform proven', async () => {
    const repository = uniqueRepository('multi');
    const ctx = ignoringContext();
    const run = await build({ repository, buildContext: ctx.dir, platforms: 'linux/amd64,linux/arm64' });
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(run.outputs.platforms, 'linux/amd64,linux/arm64');
    assert.match(visible(run), /\[linux\/arm64\] /, 'the arm64 run streamed its log');
    assert.match(visible(run), /linux\/arm64: manifest sha256:.*\n.*is ELF 64-bit arm64/);
    assert.match(visible(run), /linux\/amd64: manifest sha256:/);
    const runs = runsOf(repository);
    assert.deepEqual(runs.map((r) => r.request.platform.architecture).sort(), ['amd64', 'arm64']);
    const response = await fetch(`http://${lab.backingRegistry}/v2/${repository}/manifests/1.0.0`, {
      headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
    });
    const index = (await response.json()) as {
      mediaType: string;
      manifests: { platform: { architecture: string } }[];
      annotations?: Record<string, string>;
    };
    assert.equal(index.annotations?.['org.opencontainers.image.version'], '1.0.0', 'the pipeline labels annotate the index');
    assert.match(index.annotations?.['org.opencontainers.image.created'] ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(
      index.manifests.map((m) => m.platform.architecture),
      ['amd64', 'arm64'],
    );
    assert.equal(response.headers.get('docker-content-digest'), run.outputs.imageDigest);
  });

  it("annotates the index it joins; one platform with the user's annotations is joined into an index of one, proven", async () => {
    const repository = uniqueRepository('annotated');
    const ctx = ignoringContext();
    const revision = 'c0ffee00'.repeat(5);
    const run = await build(
      {
        repository,
        buildContext: ctx.dir,
        platforms: 'linux/amd64',
        annotations: 'org.opencontainers.image.description=Shop front end\ncom.contoso.team=checkout',
      },
      { variables: { 'Build.SourceVersion': revision } },
    );
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.match(visible(run), /linux\/amd64: manifest sha256:/, 'the platform proof ran');
    const response = await fetch(`http://${lab.backingRegistry}/v2/${repository}/manifests/1.0.0`, {
      headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
    });
    assert.equal(response.headers.get('docker-content-digest'), run.outputs.imageDigest, 'the output names the index');
    const index = (await response.json()) as { mediaType: string; manifests: unknown[]; annotations?: Record<string, string> };
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(index.manifests.length, 1);
    const { 'org.opencontainers.image.created': created, ...rest } = index.annotations ?? {};
    assert.match(created ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(rest, {
      'org.opencontainers.image.source': 'https://dev.azure.lab.test/contoso/shop/_git/shop',
      'org.opencontainers.image.revision': revision,
      'org.opencontainers.image.version': '1.0.0',
      'org.opencontainers.image.description': 'Shop front end',
      'com.contoso.team': 'checkout',
    });
    const platformTag = await fetch(`http://${lab.backingRegistry}/v2/${repository}/manifests/1.0.0-linux-amd64`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    });
    assert.equal(platformTag.status, 200, "the run's image under its platform tag, as for several platforms");
  });

  it('refuses the wrong-architecture .venv image exactly as the buildx path does', async () => {
    const repository = uniqueRepository('venv');
    const files: Record<string, string | Buffer> = { 'www/index.html': readFileSync(path.join(appDir, 'www', 'index.html')) };
    const ctx = context(readFileSync(path.join(appDir, 'Dockerfile.prebuilt-venv'), 'utf8'), files);
    const run = await build({ repository, buildContext: ctx.dir, platforms: 'linux/amd64' });
    assert.equal(run.result, 'Failed', explain(run));
    // the same words as the buildx path's test (build-for-platform.test.ts): one proof for both engines
    assert.match(
      run.resultMessage ?? '',
      /linux\/amd64: the interpreter of \/app\/\.venv\/bin\/uvicorn \/app\/\.venv\/bin\/python \(\/app\/\.venv\/bin\/python -> \/usr\/local\/bin\/python3\.12, \/usr\/local\/bin\/python3\.12\) is an ELF 64-bit arm64 binary, but the image is linux\/amd64 \(it needs amd64\)/,
    );
    assert.match(run.resultMessage ?? '', /exec format error/);
    assert.match(readFileSync(run.summaries[0], 'utf8'), /Platform proof \| \*\*failed\*\*/);
    assert.equal(run.outputs.imageReference, undefined, 'nothing handed on to deploy');
  });

  it('says TasksOperationsNotAllowed plainly: free and trial subscriptions cannot run ACR Tasks', async () => {
    const repository = uniqueRepository('not-allowed');
    server.emulator.setBehaviour(contoso, { tasksAllowed: false });
    try {
      const run = await build({ repository, buildContext: context(`${busyboxBase}\n`).dir });
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage ?? '', /TasksOperationsNotAllowed/);
      assert.match(run.resultMessage ?? '', /Free and trial subscriptions cannot run ACR Tasks.*engine: buildx/);
      assert.equal(runsOf(repository).length, 0);
    } finally {
      server.emulator.setBehaviour(contoso, { tasksAllowed: true });
    }
  });

  it('cancels a run stuck waiting for an agent past acrTasksQueueTimeout', async () => {
    const repository = uniqueRepository('queued');
    server.emulator.setBehaviour(contoso, { queueMs: -1 });
    try {
      const run = await build({ repository, buildContext: context(`${busyboxBase}\n`).dir, acrTasksQueueTimeout: '3' });
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage ?? '', /still waiting for an agent \(Queued\) after 3 s, so it was cancelled.*acrTasksQueueTimeout/);
      const runs = runsOf(repository);
      assert.equal(runs.length, 1);
      assert.equal(runs[0].status, 'Canceled');
    } finally {
      server.emulator.setBehaviour(contoso, { queueMs: 0 });
    }
  });

  it('fails a failed run with the last lines of its log', async () => {
    const repository = uniqueRepository('failing');
    const ctx = context(`${busyboxBase}\nRUN echo "compiler says: missing-semicolon-4711" && exit 3\n`);
    const run = await build({ repository, buildContext: ctx.dir });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(run.resultMessage ?? '', /ACR run \S+ ended Failed: failed during run, err: exit status 1/);
    assert.match(run.resultMessage ?? '', /Last lines of its log:[\s\S]*missing-semicolon-4711/);
    assert.equal(run.outputs.imageDigest, undefined);
    assert.equal(runsOf(repository)[0].status, 'Failed');
  });

  it('cancels the run in ACR when the pipeline is cancelled (SIGINT)', async () => {
    const repository = uniqueRepository('cancelled');
    server.emulator.setBehaviour(contoso, { queueMs: -1 });
    let child: ChildProcess | undefined;
    try {
      const dir = context(`${busyboxBase}\n`).dir;
      const options = labTaskOptions(lab, {
        task: 'BuildForPlatform',
        inputs: { engine: 'acrTasks', registry: contoso, repository, tags: '1.0.0', buildContext: dir },
        connections: { azureSubscription: connection() },
        cwd: dir,
      });
      const temp = mkdtempSync(path.join(os.tmpdir(), 'acr-tasks-cancel-'));
      mkdirSync(temp, { recursive: true });
      const env = agentEnvironment(options, temp);
      const run = await new Promise<TaskRun>((resolve, reject) => {
        child = spawn(process.execPath, [path.join(distTasks, 'BuildForPlatform', 'index.js')], { env, cwd: dir });
        let out = '';
        let err = '';
        let signalled = false;
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          if (!signalled && /run \S+ \(Queued\)/.test(out)) {
            signalled = true;
            setTimeout(() => child!.kill('SIGINT'), 500);
          }
        });
        child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
        child.on('error', reject);
        child.on('close', (code) => resolve(interpret(out, err, code, 0)));
      });
      rmSync(temp, { recursive: true, force: true });
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage ?? '', /The pipeline was cancelled; ACR run \S+ was cancelled too/);
      assert.equal(runsOf(repository)[0]?.status, 'Canceled');
    } finally {
      child?.kill('SIGKILL');
      server.emulator.setBehaviour(contoso, { queueMs: 0 });
    }
  });

  it('refuses what ACR Tasks cannot carry, naming the input, before anything is uploaded', async () => {
    const repository = uniqueRepository('refused');
    const secrets = await build({ repository, buildContext: context(`${busyboxBase}\n`).dir, secrets: 'npm=env:HOME' });
    assert.equal(secrets.result, 'Failed', explain(secrets));
    assert.match(secrets.resultMessage ?? '', /^Input 'secrets': engine: acrTasks cannot pass build secrets/);
    const mount = context(`${busyboxBase}\nRUN --mount=type=secret,id=npm cat /run/secrets/npm\n`);
    const mounted = await build({ repository, buildContext: mount.dir });
    assert.equal(mounted.result, 'Failed', explain(mounted));
    assert.match(mounted.resultMessage ?? '', /^Input 'dockerfile': engine: acrTasks cannot serve `RUN --mount=type=secret/);
    const labels = await build({ repository, buildContext: context(`${busyboxBase}\n`).dir, labels: 'team=web' });
    assert.match(labels.resultMessage ?? '', /^Input 'labels': engine: acrTasks cannot add labels/);
    assert.equal(runsOf(repository).length, 0, 'no run was scheduled');
  });
});
