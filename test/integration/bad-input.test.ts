// Bad input that slipped through, by kind, against the lab: a platform of another OS than the builder's (refused before
// anything is built), an image whose programs belong to another OS than it claims (the proof fails it), buildx's
// "unknown flag" and an anonymous 401 told with the input behind them, and agents the tasks cannot serve (Windows,
// macOS) refused at the first line.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { verifyImage, type ImageSource } from '../../src/image/verify';
import { RecordingLogger } from '../../src/log';
import { parsePlatform } from '../../src/platform/platform';
import { MediaType } from '../../src/registry/oci';
import { distTasks, repoRoot, type TaskName, type TaskRun } from '../helpers/task-runner';
import { runLabTask } from '../lab/agent';
import { makeBuildContext, type BuildContext } from '../lab/base';
import { backingDigest, readLab, type Lab } from '../lab/lab';
import { chunked, tar } from '../unit/image-fixtures';

const contoso = 'contoso.azurecr.io';
const fabrikam = 'fabrikam.azurecr.io';
const explain = (r: TaskRun) => `result ${r.result}: ${r.resultMessage}\n${r.stdout}\n${r.stderr}`;
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const unique = (name: string) => `it-bad-input/${name}-${randomBytes(4).toString('hex')}`;

describe('bad input that slipped through (lab)', function () {
  this.timeout(600_000);
  let lab: Lab;
  const contexts: BuildContext[] = [];

  before(() => {
    lab = readLab();
    for (const task of ['BuildForPlatform', 'EnsureDocker', 'ScanAndRelease'])
      if (!existsSync(path.join(distTasks, task, 'index.js')))
        execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', task, '--no-typecheck'], {
          stdio: 'inherit',
        });
  });
  after(() => {
    for (const context of contexts) context.remove();
  });

  const busyboxContext = () => {
    const made = makeBuildContext({
      lab,
      dockerfile: 'FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/busybox /bin/busybox\nENTRYPOINT ["/bin/busybox", "true"]\n',
    });
    contexts.push(made);
    return made;
  };
  const build = (inputs: Record<string, string>) =>
    runLabTask(lab, { task: 'BuildForPlatform', cwd: busyboxContext().dir, inputs: { tags: '4711', ...inputs } });

  it('refuses windows/amd64 on the Linux builder before anything is built, naming platforms and the fix', async () => {
    const repository = unique('windows');
    const run = await build({ registry: fabrikam, repository, platforms: 'linux/amd64,windows/amd64' });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage ?? '',
      /^Input 'platforms': the builder '\S+' \(docker driver\) builds linux images only, and cannot build windows\/amd64: .*Nothing was built\. Fix: remove windows\/amd64 from platforms/,
    );
    assert.doesNotMatch(run.stdout, /^##\[group\]Build$/m, 'no build started');
    assert.equal(await backingDigest(lab, repository, '4711'), undefined, 'nothing was pushed');
  });

  it("names the 'arguments' input when buildx does not know an option in it", async () => {
    const repository = unique('flag');
    const run = await build({ registry: fabrikam, repository, arguments: '--no-cache --frobnicate yes' });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage ?? '',
      /^Input 'arguments': buildx does not know the option --frobnicate \(it said: unknown flag: --frobnicate\)\. Fix: remove --frobnicate from 'arguments'/,
    );
    assert.equal(await backingDigest(lab, repository, '4711'), undefined);
  });

  it('names the connection inputs when a registry that needs a sign-in gets none (buildx: failed to fetch anonymous token: 401)', async () => {
    const repository = unique('anonymous');
    const run = await build({ registry: contoso, repository, cache: 'none' });
    assert.equal(run.result, 'Failed', explain(run));
    assert.match(
      run.resultMessage ?? '',
      /^Input 'azureSubscription': contoso\.azurecr\.io, the registry this step pushes to, refused an anonymous sign-in \(401 Unauthorized.*\), and the step has no service connection\. Fix: set azureSubscription to an Azure Resource Manager service connection .*or dockerRegistryServiceConnection/,
    );
    assert.equal(await backingDigest(lab, repository, '4711'), undefined);
  });

  it("the proof fails an image that says windows/amd64 but holds Linux programs (the lab registry's bytes)", async () => {
    // What a Linux builder made of `--platform windows/amd64` before the refusal above: busybox (ELF) under a windows label.
    const repository = unique('proof');
    const busybox = readFileSync(path.join(lab.baseDir, 'amd64', 'busybox'));
    const layer = gzipSync(tar([{ path: 'bin/busybox', content: busybox, mode: 0o755 }]));
    const config = Buffer.from(
      JSON.stringify({
        os: 'windows',
        architecture: 'amd64',
        config: { Entrypoint: ['/bin/busybox', 'true'] },
        rootfs: { type: 'layers', diff_ids: [sha256(tar([{ path: 'bin/busybox', content: busybox, mode: 0o755 }]))] },
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: sha256(config), size: config.length },
        layers: [{ mediaType: MediaType.ociLayerGzip, digest: sha256(layer), size: layer.length }],
      }),
    );
    const base = `http://${lab.backingRegistry}/v2/${repository}`;
    for (const blob of [layer, config]) {
      const started = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
      assert.equal(started.status, 202);
      const location = new URL(started.headers.get('location') ?? '', `http://${lab.backingRegistry}`);
      location.searchParams.set('digest', sha256(blob));
      assert.equal((await fetch(location, { method: 'PUT', body: blob })).status, 201);
    }
    const put = await fetch(`${base}/manifests/windows`, {
      method: 'PUT',
      body: manifest,
      headers: { 'Content-Type': MediaType.ociManifest },
    });
    assert.equal(put.status, 201);

    const get = async (kind: string, digest: string) => {
      const response = await fetch(`${base}/${kind}/${digest}`, { headers: { Accept: MediaType.ociManifest } });
      assert.equal(response.status, 200);
      return Buffer.from(await response.arrayBuffer());
    };
    const source: ImageSource = {
      manifest: async (digest) => ({ mediaType: MediaType.ociManifest, manifest: JSON.parse((await get('manifests', digest)).toString()) }),
      blob: (digest) => get('blobs', digest),
      openBlob: async (digest) => chunked(await get('blobs', digest), 65536),
    };
    const verification = await verifyImage({
      source,
      digest: sha256(manifest),
      requested: [parsePlatform('windows/amd64')],
      checkPrograms: true,
      logger: new RecordingLogger(),
    });
    assert.deepEqual(verification.problems, [
      'windows/amd64: the image says windows/amd64, but its programs are linux programs: /bin/busybox (linux). windows cannot run them. It was built for windows by a builder of another system; build it on a windows builder, or for the platform its programs are made for.',
    ]);
  });

  describe('agents the tasks cannot serve', () => {
    let preloadDir: string;
    before(() => {
      preloadDir = mkdtempSync(path.join(os.tmpdir(), 'agent-os-'));
    });
    after(() => rmSync(preloadDir, { recursive: true, force: true }));

    /** The bundled task under Node as it runs on another OS: process.platform says so, Agent.OS too. */
    const onOs = (task: TaskName, platform: string, agentOs: string) => {
      const preload = path.join(preloadDir, `${platform}.cjs`);
      writeFileSync(preload, `Object.defineProperty(process, 'platform', { value: ${JSON.stringify(platform)} });\n`);
      return runLabTask(lab, {
        task,
        inputs: {
          EnsureDocker: {},
          BuildForPlatform: { registry: fabrikam, repository: 'x/y' },
          ScanAndRelease: { image: `${fabrikam}/x/y@sha256:${'0'.repeat(64)}` },
        }[task],
        variables: { 'Agent.OS': agentOs },
        env: { NODE_OPTIONS: `--require ${preload}` },
      });
    };

    for (const task of ['EnsureDocker', 'BuildForPlatform', 'ScanAndRelease'] as const) {
      for (const [platform, agentOs, name] of [
        ['win32', 'Windows_NT', 'Windows'],
        ['darwin', 'Darwin', 'macOS'],
      ]) {
        it(`${task} on ${name}: fails at its first line naming the OS and the fix`, async () => {
          const run = await onOs(task, platform, agentOs);
          assert.equal(run.result, 'Failed', explain(run));
          assert.equal(
            run.resultMessage?.split('. ')[0],
            `${task} runs on Linux agents only, and this agent runs ${name} (Agent.OS ${agentOs}, Node.js platform ${platform})`,
          );
          assert.match(run.resultMessage ?? '', /Fix: run this job on a Linux agent/);
          assert.doesNotMatch(run.stdout, /##\[group\]/, 'nothing ran');
        });
      }
    }
  });
});
