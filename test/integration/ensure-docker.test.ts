// EnsureDocker@1 on the lab machine itself, run exactly as the agent runs it: everything present, bad inputs,
// daemons that point nowhere or speak TLS with the wrong certificates, and the post-job cleanup of the images a job
// built. Nothing here stops, restarts or reconfigures the shared lab daemon.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { BUILT_BY_JOB_LABEL, recordBuiltImage } from '../../src/docker/built-images';
import { run } from '../../src/process/exec';
import { distTasks, repoRoot, runTask, type RunTaskOptions, type TaskRun } from '../helpers/task-runner';
import { node24 } from '../helpers/vsix';
import { makeBuildContext } from '../lab/base';
import { type Lab, labNodeEnv, readLab } from '../lab/lab';

function ensureBuilt(): void {
  if (!existsSync(path.join(distTasks, 'EnsureDocker', 'post.js'))) {
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', 'EnsureDocker', '--no-typecheck'], {
      stdio: 'inherit',
    });
  }
}

const visible = (r: TaskRun) =>
  r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('##vso[task.debug'))
    .join('\n');
const explain = (r: TaskRun) => `result ${r.result}: ${r.resultMessage}\n${visible(r)}\n${r.stderr}`;

function ensureDocker(lab: Lab, options: Omit<RunTaskOptions, 'task'>): Promise<TaskRun> {
  return runTask({ task: 'EnsureDocker', ...options, env: { ...labNodeEnv(lab), ...options.env } });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

describe('EnsureDocker on the lab machine', function () {
  this.timeout(300_000);
  let lab: Lab;
  before(() => {
    lab = readLab();
    ensureBuilt();
  });

  it('with everything present installs nothing and reports versions, the server platform and no started daemon', async () => {
    const run = await ensureDocker(lab, {});
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(run.outputs.installed, '');
    assert.equal(run.outputs.daemonStarted, 'false');
    assert.equal(run.outputs.serverPlatform, 'linux/amd64');
    assert.match(run.outputs.dockerVersion, /^\d+\.\d+\.\d+/);
    assert.match(run.outputs.buildxVersion, /^0\.\d+\.\d+/);
    assert.ok('composeVersion' in run.outputs, 'compose is probed and reported (empty when absent)');
    assert.equal(run.outputs.serverVersion.split('+')[0], lab.docker.serverVersion.split('+')[0]);
    assert.match(visible(run), /Everything was already there; nothing was installed\./);
    assert.deepEqual(JSON.parse(run.taskVariables.ensureDockerState), { reachable: true });
    assert.ok(!/apt-get|download/.test(visible(run)), 'nothing is installed or downloaded');
  });

  it('runs the same under the Node24 handler (main and post-job step)', async () => {
    const nodePath = node24();
    const main = await ensureDocker(lab, { nodePath });
    assert.equal(main.result, 'Succeeded', explain(main));
    assert.equal(main.outputs.installed, '');
    const post = await ensureDocker(lab, {
      nodePath,
      entry: 'post.js',
      taskVariables: main.taskVariables,
      variables: { 'System.JobId': randomUUID() },
    });
    assert.equal(post.result, 'Succeeded', explain(post));
    assert.match(visible(post), /This job left no images to remove\./);
  });

  it('exports the dockerHost input as DOCKER_HOST for the following steps', async () => {
    const run = await ensureDocker(lab, { inputs: { dockerHost: 'unix:///var/run/docker.sock' } });
    assert.equal(run.result, 'Succeeded', explain(run));
    assert.equal(run.variables.DOCKER_HOST?.value, 'unix:///var/run/docker.sock');
    assert.equal(run.variables.DOCKER_HOST?.isOutput, false);
  });

  it("follows DOCKER_CONTEXT to the context's endpoint, and names the context when it points nowhere", async () => {
    const config = mkdtempSync(path.join(os.tmpdir(), 'ensure-docker-config-'));
    try {
      const cli = (args: string[]) => execFileSync('docker', args, { env: { ...process.env, DOCKER_CONFIG: config }, stdio: 'ignore' });
      cli(['context', 'create', 'lab-engine', '--docker', 'host=unix:///var/run/docker.sock']);
      cli(['context', 'create', 'gone', '--docker', 'host=unix:///tmp/ensure-docker-gone.sock']);
      const good = await ensureDocker(lab, { env: { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'lab-engine' } });
      assert.equal(good.result, 'Succeeded', explain(good));
      assert.match(visible(good), /daemon .* at unix:\/\/\/var\/run\/docker\.sock \(docker context 'lab-engine' from DOCKER_CONTEXT\)/);
      cli(['context', 'use', 'gone']);
      const bad = await ensureDocker(lab, { env: { DOCKER_CONFIG: config }, inputs: { startDaemon: 'never' } });
      assert.equal(bad.result, 'Failed', explain(bad));
      assert.match(
        bad.resultMessage ?? '',
        /^There is no Docker socket at \/tmp\/ensure-docker-gone\.sock, the address set by docker context 'gone'/,
      );
    } finally {
      rmSync(config, { recursive: true, force: true });
    }
  });

  const badInputs: [Record<string, string>, RegExp][] = [
    [{ installSource: 'homebrew' }, /^Input 'installSource': 'homebrew' is not one of auto, dockerRepository, distribution, static\.$/],
    [{ dockerVersion: '27.x' }, /^Input 'dockerVersion': '27\.x' is not a version\. Write the full release number, for example 27\.3\.1/],
    [{ emulatePlatforms: 'linux/arm64,linux/amd65' }, /^Input 'emulatePlatforms': 'linux\/amd65' names an unknown architecture 'amd65'/],
    [
      { dockerHost: 'http://127.0.0.1:2375' },
      /^Input 'dockerHost': the scheme 'http' of 'http:\/\/127\.0\.0\.1:2375' is not supported on a Linux agent\. Use unix:\/\/, tcp:\/\/ or ssh:\/\//,
    ],
    [{ startDaemon: 'sometimes' }, /^Input 'startDaemon': 'sometimes' is not one of auto, never\.$/],
    [{ staticChecksums: 'abc123  docker-27.3.1.tgz' }, /^Input 'staticChecksums': 'abc123 {2}docker-27\.3\.1\.tgz' is not a checksum line/],
    [{ staticDockerBaseUrl: 'download.docker.com' }, /^Input 'staticDockerBaseUrl': 'download\.docker\.com' is not an http\(s\) URL\.$/],
    [{ buildxVersion: 'latest' }, /^Input 'buildxVersion': 'latest' is not a version/],
    // The post-job step's inputs, checked when the main step starts (not after the job, or never).
    [{ cleanup: 'everything' }, /^Input 'cleanup': 'everything' is not one of builtImages, prune, none\.$/],
    [{ pruneKeepStorage: 'ten gigs' }, /^Input 'pruneKeepStorage': 'ten gigs' is not a size\. Write it like 10GB/],
  ];
  for (const [inputs, message] of badInputs) {
    it(`fails on a bad ${Object.keys(inputs)[0]} with an error naming the input`, async () => {
      const run = await ensureDocker(lab, { inputs });
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage ?? '', message);
    });
  }

  it('diagnoses a DOCKER_HOST that points at a closed port', async () => {
    const port = await freePort();
    const run = await ensureDocker(lab, { env: { DOCKER_HOST: `tcp://127.0.0.1:${port}` } });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage ?? '',
      new RegExp(
        `^Nothing accepts connections at 127\\.0\\.0\\.1:${port}, the address set by DOCKER_HOST \\(tcp://127\\.0\\.0\\.1:${port}\\): it points nowhere\\.`,
      ),
    );
    assert.match(run.resultMessage ?? '', /Unset DOCKER_HOST/);
  });

  it('diagnoses a DOCKER_HOST socket path where nothing is, distinctly', async () => {
    const run = await ensureDocker(lab, {
      env: { DOCKER_HOST: 'unix:///tmp/ensure-docker-nowhere.sock' },
      inputs: { startDaemon: 'never' },
    });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage ?? '',
      /^There is no Docker socket at \/tmp\/ensure-docker-nowhere\.sock, the address set by DOCKER_HOST .*: it points nowhere\./,
    );
  });

  describe('a TLS daemon address with certificates that do not match', () => {
    let server: tls.Server;
    let plain: net.Server;
    let port: number;
    let plainPort: number;
    let certDir: string;
    before(async () => {
      // The daemon presents the lab's certificate; the client trusts another CA, as after a CA rotation.
      server = tls.createServer({ cert: readFileSync(lab.tls.certFile), key: readFileSync(lab.tls.keyFile) }, (socket) => socket.end());
      server.on('tlsClientError', () => undefined);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      // What dockerd with --tlsverify (Go's TLS server) answers to a plain-HTTP request.
      plain = net.createServer((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', () =>
          socket.end('HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nClient sent an HTTP request to an HTTPS server.\n'),
        );
      });
      await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
      plainPort = (plain.address() as net.AddressInfo).port;
      port = (server.address() as net.AddressInfo).port;
      certDir = mkdtempSync(path.join(os.tmpdir(), 'ensure-docker-certs-'));
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=other-ca',
          '-keyout',
          path.join(certDir, 'key.pem'),
          '-out',
          path.join(certDir, 'ca.pem'),
        ],
        { stdio: 'ignore' },
      );
      writeFileSync(path.join(certDir, 'cert.pem'), readFileSync(path.join(certDir, 'ca.pem')));
    });
    after(() => {
      server?.close();
      plain?.close();
      if (certDir) rmSync(certDir, { recursive: true, force: true });
    });

    it('says the TLS handshake failed, which certificates were used, and what they must be', async () => {
      const run = await ensureDocker(lab, {
        env: { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certDir },
      });
      assert.equal(run.result, 'Failed', explain(run));
      const message = run.resultMessage ?? '';
      assert.match(
        message,
        new RegExp(
          `^The TLS handshake with the daemon at 127\\.0\\.0\\.1:${port} set by DOCKER_HOST failed \\(TLS with verification, certificates from ${certDir}\\)`,
        ),
      );
      assert.match(message, /ca\.pem must be the CA that signed the daemon's certificate/);
    });

    it('tells plain HTTP to a TLS port apart: set DOCKER_TLS_VERIFY', async () => {
      const run = await ensureDocker(lab, { env: { DOCKER_HOST: `tcp://127.0.0.1:${plainPort}` } });
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(
        run.resultMessage ?? '',
        new RegExp(`^The daemon at 127\\.0\\.0\\.1:${plainPort} set by DOCKER_HOST speaks TLS, but the task connected without TLS\\.`),
      );
      assert.match(run.resultMessage ?? '', /DOCKER_TLS_VERIFY=1/);
    });
  });

  describe('post-job cleanup', () => {
    const jobId = randomUUID();
    const otherJob = randomUUID();
    const prefix = `lab-ensure-docker/cleanup-${jobId.slice(0, 8)}`;
    const images = {
      mineA: `${prefix}:a`,
      mineB: `${prefix}:b`,
      other: `${prefix}:other-job`,
      recorded: `${prefix}:recorded`,
      untouched: `${prefix}:untouched`,
    };
    let agentTemp: string;

    async function build(tag: string, label?: string): Promise<void> {
      const context = makeBuildContext({
        lab,
        dockerfile: `FROM scratch\nARG TARGETARCH\nCOPY \${TARGETARCH}/busybox /bin/busybox\nLABEL purpose=${tag.split(':')[1]}\n`,
      });
      try {
        const args = ['build', '-q', '-t', tag, ...(label ? ['--label', label] : []), context.dir];
        const result = await run('docker', args, { timeoutMs: 120_000 });
        assert.equal(result.exitCode, 0, result.stderr);
      } finally {
        context.remove();
      }
    }
    const exists = async (tag: string) => (await run('docker', ['image', 'inspect', tag])).exitCode === 0;

    before(async () => {
      await build(images.mineA, `${BUILT_BY_JOB_LABEL}=${jobId}`);
      await run('docker', ['tag', images.mineA, images.mineB]);
      await build(images.other, `${BUILT_BY_JOB_LABEL}=${otherJob}`);
      await build(images.recorded);
      await build(images.untouched);
      agentTemp = mkdtempSync(path.join(os.tmpdir(), 'agent-temp-cleanup-'));
      recordBuiltImage(agentTemp, images.recorded);
    });
    after(async () => {
      await run('docker', ['image', 'rm', '-f', ...Object.values(images)]);
      rmSync(agentTemp, { recursive: true, force: true });
    });

    it('removes exactly the images this job built (labelled or recorded) and leaves the rest', async () => {
      for (const tag of Object.values(images)) assert.ok(await exists(tag), `${tag} was built`);
      const post = await ensureDocker(lab, {
        entry: 'post.js',
        inputs: { cleanup: 'builtImages' },
        variables: { 'System.JobId': jobId, 'Agent.TempDirectory': agentTemp },
        taskVariables: { ensureDockerState: JSON.stringify({ reachable: true }) },
      });
      assert.equal(post.result, 'Succeeded', explain(post));
      assert.equal(post.issues.length, 0, JSON.stringify(post.issues));
      assert.match(visible(post), /Removed 2 image\(s\) this job built\./);
      assert.ok(!(await exists(images.mineA)) && !(await exists(images.mineB)), 'both tags of the labelled image are gone');
      assert.ok(!(await exists(images.recorded)), 'the recorded image is gone');
      assert.ok(await exists(images.other), "another job's image stays");
      assert.ok(await exists(images.untouched), 'an image nobody recorded stays');
    });

    it('does nothing with cleanup: none, and only warns when the daemon is gone', async () => {
      const none = await ensureDocker(lab, {
        entry: 'post.js',
        inputs: { cleanup: 'none' },
        variables: { 'System.JobId': otherJob },
        taskVariables: { ensureDockerState: JSON.stringify({ reachable: true }) },
      });
      assert.equal(none.result, 'Succeeded', explain(none));
      assert.ok(await exists(images.other));
      const gone = await ensureDocker(lab, {
        entry: 'post.js',
        variables: { 'System.JobId': otherJob },
        env: { DOCKER_HOST: 'unix:///tmp/ensure-docker-nowhere.sock' },
        taskVariables: { ensureDockerState: JSON.stringify({ reachable: true }) },
      });
      assert.equal(gone.result, 'Succeeded', explain(gone));
      assert.deepEqual(
        gone.issues.map((i) => i.type),
        ['warning'],
      );
      assert.match(gone.issues[0].message, /The daemon does not answer, so no image is cleaned up: connect ENOENT/);
      assert.ok(await exists(images.other));
    });
  });
});
