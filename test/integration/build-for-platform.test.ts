// BuildForPlatform@1 end to end against the lab: the bundled task run as the agent runs it, signing in to the ACR
// emulators through Entra ID, building with the lab's real docker/buildx/QEMU, pushing to the real registry behind
// them, and proving the platforms. Every run is watched for secrets in its output and in any process argument.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ArgvWatch } from '../helpers/argv-watch';
import { distTasks, leakedSecrets, repoRoot, type TaskRun } from '../helpers/task-runner';
import { labSecrets, labServiceConnection, runLabTask, type LabServiceConnection } from '../lab/agent';
import { makeBuildContext, type BuildContext } from '../lab/base';
import { LabControl } from '../lab/client';
import { backingDigest, readLab, type Lab } from '../lab/lab';
import { ensureSbomGenerator } from '../lab/sbom-generator';
import type { Index, Manifest } from '../../src/registry/oci';
import { startPrivateDaemon, type PrivateDaemon } from './build-for-platform-daemon';

const contoso = 'contoso.azurecr.io';
const fabrikam = 'fabrikam.azurecr.io';
const appDir = path.join(repoRoot, 'examples', 'app');

interface Watched {
  run: TaskRun;
  commandLines: string[];
}

function uniqueRepository(name: string): string {
  return `it-bfp/${name}-${randomBytes(4).toString('hex')}`;
}

/** The examples/app context plus the lab's busybox for both architectures. */
function appContext(lab: Lab, extra: Record<string, string> = {}): BuildContext {
  const files: Record<string, string | Buffer> = { 'www/index.html': readFileSync(path.join(appDir, 'www', 'index.html')), ...extra };
  for (const name of ['Dockerfile.prebuilt-venv']) files[name] = readFileSync(path.join(appDir, name));
  return makeBuildContext({ lab, dockerfile: readFileSync(path.join(appDir, 'Dockerfile'), 'utf8'), files });
}

async function registryManifest(
  lab: Lab,
  repository: string,
  digest: string,
): Promise<{ mediaType?: string; manifests?: { platform?: { os: string; architecture: string } }[] }> {
  const response = await fetch(`http://${lab.backingRegistry}/v2/${repository}/manifests/${digest}`, {
    headers: {
      Accept:
        'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  assert.equal(response.status, 200);
  return (await response.json()) as { mediaType?: string };
}

/** A manifest (by digest) or a blob, as JSON, from the backing registry (behind the emulators, no quarantine there). */
async function backingJson(lab: Lab, repository: string, digest: string, kind: 'manifests' | 'blobs' = 'manifests'): Promise<unknown> {
  const response = await fetch(`http://${lab.backingRegistry}/v2/${repository}/${kind}/${digest}`, {
    headers: { Accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(response.status, 200, `${kind} ${digest}`);
  return response.json();
}

describe('BuildForPlatform@1 (lab)', function () {
  this.timeout(600_000);
  let lab: Lab;
  const control = new LabControl();
  const contexts: BuildContext[] = [];

  before(function () {
    lab = readLab();
    if (!existsSync(path.join(distTasks, 'BuildForPlatform', 'index.js'))) {
      execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', 'BuildForPlatform', '--no-typecheck'], {
        stdio: 'inherit',
      });
    }
  });
  after(() => {
    for (const context of contexts) context.remove();
    // The docker driver leaves what it built in the shared daemon's image store (on an agent, EnsureDocker's post-job
    // step removes it by its job label); here the tests' own images go.
    for (const registry of [contoso, fabrikam]) {
      const listed = spawnSync(
        'docker',
        ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', '--filter', `reference=${registry}/it-bfp/*`],
        { encoding: 'utf8' },
      );
      const references = listed.stdout.split('\n').filter((r) => r && !r.endsWith(':<none>'));
      if (references.length) spawnSync('docker', ['image', 'rm', '--force', ...references]);
    }
  });

  function context(extra: Record<string, string> = {}): BuildContext {
    const made = appContext(lab, extra);
    contexts.push(made);
    return made;
  }

  async function build(options: {
    context: BuildContext;
    inputs: Record<string, string>;
    connection?: LabServiceConnection;
    connectionKind?: 'azureSubscription' | 'dockerRegistryServiceConnection';
    env?: Record<string, string>;
    variables?: Record<string, string>;
  }): Promise<Watched> {
    const watch = new ArgvWatch().start();
    try {
      const run = await runLabTask(lab, {
        task: 'BuildForPlatform',
        cwd: options.context.dir,
        inputs: options.inputs,
        connections: options.connection ? { [options.connectionKind ?? 'azureSubscription']: options.connection } : {},
        env: options.env,
        variables: options.variables,
      });
      return { run, commandLines: watch.stop() };
    } finally {
      watch.stop();
    }
  }

  function assertNoLeak({ run, commandLines }: Watched): void {
    // The tokens the task obtained are registered with task.setsecret (that line carries them by design; the agent
    // masks them everywhere else): nothing else may print them, or the lab's own secrets.
    const secrets = [...labSecrets(lab), ...run.secrets];
    assert.ok(run.secrets.length > 0 || !/Sign in to .* with /.test(run.log), 'the tokens of a sign-in were registered as secrets');
    const printed = {
      log: run.log
        .split('\n')
        .filter((line) => !line.startsWith('##vso[task.setsecret]'))
        .join('\n'),
    };
    assert.deepEqual(leakedSecrets(printed, secrets), [], 'no secret in the captured output');
    assert.deepEqual(ArgvWatch.offending(commandLines, secrets), [], 'no secret in a process argument');
    assert.ok(!commandLines.some((line) => /docker login .*(-p|--password)( |=)/.test(line)), 'no docker login -p');
  }

  function assertSucceeded(run: TaskRun): void {
    assert.equal(run.result, 'Succeeded', `${run.resultMessage}\n${run.log.slice(-4000)}`);
  }

  // ACR with quarantine shows a new image only to identities with AcrQuarantineReader/Writer. The lab's `pipeline`
  // identity is the recommended build identity (AcrPush + AcrQuarantineReader); a push-only one has its own test below.
  describe('on contoso, with a build identity that may read what it pushed', () => {
    for (const [scheme, authenticationType] of [
      ['ServicePrincipal', 'spnKey'],
      ['WorkloadIdentityFederation', undefined],
    ] as const) {
      it(`pushes the default linux/amd64 build to ${contoso} through Entra ID -> ACR (${scheme}), outputs naming the digest the registry holds`, async () => {
        const repository = uniqueRepository('default');
        const watched = await build({
          context: context(),
          inputs: { registry: contoso, repository },
          connection: labServiceConnection(lab, 'pipeline', scheme, authenticationType),
        });
        const { run } = watched;
        assertSucceeded(run);
        assertNoLeak(watched);
        assert.ok(
          watched.commandLines.some((l) =>
            l.includes('login --username 00000000-0000-0000-0000-000000000000 --password-stdin contoso.azurecr.io'),
          ),
          'docker login with the zero GUID through stdin',
        );

        const held = await backingDigest(lab, repository, '4711');
        assert.ok(held, 'the registry holds the default tag $(Build.BuildId)');
        assert.equal(run.outputs.imageDigest, held);
        assert.equal(run.outputs.imageReference, `${contoso}/${repository}@${held}`);
        assert.equal(run.outputs.imageTags, '4711');
        assert.equal(run.outputs.platforms, 'linux/amd64');
        const metadata = JSON.parse(readFileSync(run.outputs.metadataFile, 'utf8')) as Record<string, string>;
        assert.equal(metadata['containerimage.digest'], held);
        const manifest = await registryManifest(lab, repository, held);
        assert.match(
          manifest.mediaType ?? '',
          /manifest\.v\d\+json$|image\.manifest/,
          'attestations none: a plain image manifest, not an index',
        );

        assert.match(run.log, /##\[group\]Sign in to contoso\.azurecr\.io/);
        assert.match(run.log, /##\[group\]Build/);
        assert.match(run.log, /##\[group\]Push/);
        assert.match(run.log, /##\[group\]Verify/);
        assert.match(
          run.log,
          /command: \/bin\/httpd -> busybox => \/bin\/busybox is ELF 64-bit amd64|command: .*\/bin\/busybox is ELF 64-bit amd64/,
        );
        assert.equal(run.summaries.length, 1);
        const summary = readFileSync(run.summaries[0], 'utf8');
        assert.match(summary, new RegExp(`${held}`));
        assert.match(summary, /\| linux\/amd64 \| `sha256:[a-f0-9]{64}` \| \d/);
        assert.match(summary, /Platform proof \| passed/);
      });
    }
  });

  // The rest push to fabrikam.azurecr.io (no quarantine), so the proof reads back what a push-only identity pushed.

  it('pushes linux/amd64,linux/arm64 as one index, and each platform runs (arm64 under QEMU)', async () => {
    const repository = uniqueRepository('multi');
    const watched = await build({
      context: context(),
      inputs: { registry: fabrikam, repository, platforms: 'linux/amd64,linux/arm64', tags: '4711\nlatest' },
      connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnCertificate'),
    });
    const { run } = watched;
    assertSucceeded(run);
    assertNoLeak(watched);
    const digest = run.outputs.imageDigest;
    assert.equal(await backingDigest(lab, repository, '4711'), digest);
    assert.equal(await backingDigest(lab, repository, 'latest'), digest);
    const index = await registryManifest(lab, repository, digest);
    assert.deepEqual((index.manifests ?? []).map((m) => `${m.platform?.os}/${m.platform?.architecture}`).sort(), [
      'linux/amd64',
      'linux/arm64',
    ]);
    assert.equal(run.outputs.platforms, 'linux/amd64,linux/arm64');
    for (const [platform, machine] of [
      ['linux/amd64', 'x86_64'],
      ['linux/arm64', 'aarch64'],
    ]) {
      const image = `${lab.backingRegistry}/${repository}@${digest}`;
      const result = spawnSync('docker', ['run', '--rm', '--platform', platform, image, 'cat', '/built.txt'], {
        encoding: 'utf8',
        timeout: 180_000,
      });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout.trim(), `built on ${machine}`);
    }
    spawnSync('docker', ['image', 'rm', '--force', `${lab.backingRegistry}/${repository}@${digest}`]);
  });

  describe('OCI annotations on what is pushed', () => {
    const revision = 'feedface'.repeat(5);
    const variables = {
      'Build.Repository.Uri': 'https://build-user@dev.azure.lab.test/contoso/shop/_git/shop',
      'Build.SourceVersion': revision,
    };
    const userAnnotations = 'org.opencontainers.image.description=Shop front end, built = tested\ncom.contoso.team=checkout';
    const expected = {
      'org.opencontainers.image.source': 'https://dev.azure.lab.test/contoso/shop/_git/shop',
      'org.opencontainers.image.revision': revision,
      'org.opencontainers.image.version': '4711',
      'org.opencontainers.image.description': 'Shop front end, built = tested',
      'com.contoso.team': 'checkout',
    };
    let started = 0;
    beforeEach(() => (started = Date.now()));
    /** The annotations but created, which must be the time of this build (RFC 3339). */
    const annotated = (annotations: Record<string, string> | undefined) => {
      const { 'org.opencontainers.image.created': created, ...rest } = annotations ?? {};
      assert.match(created ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'created: RFC 3339');
      assert.ok(Date.parse(created) >= started, `created ${created} is this build's`);
      return rest;
    };

    it("annotates the pushed index and each platform's manifest (run variables + the user's), proves it, and promote releases it unchanged", async () => {
      const repository = uniqueRepository('annotated');
      const watched = await build({
        context: context(),
        inputs: { registry: fabrikam, repository, platforms: 'linux/amd64,linux/arm64', annotations: userAnnotations },
        connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
        variables,
      });
      assertSucceeded(watched.run);
      assertNoLeak(watched);
      assert.match(
        watched.run.log,
        /Verified fabrikam\.azurecr\.io\/it-bfp\/annotated-[0-9a-f]+@sha256:[0-9a-f]{64}: linux\/amd64, linux\/arm64/,
      );
      const digest = watched.run.outputs.imageDigest;
      const index = (await backingJson(lab, repository, digest)) as Index;
      assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
      assert.deepEqual(annotated(index.annotations), expected);
      for (const child of index.manifests) {
        const manifest = (await backingJson(lab, repository, child.digest)) as Manifest;
        assert.deepEqual(annotated(manifest.annotations), expected, `the ${child.platform?.architecture} manifest`);
      }

      const release = `${repository}-release`;
      const scan = await runLabTask(lab, {
        task: 'ScanAndRelease',
        inputs: {
          image: watched.run.outputs.imageReference,
          trivyDownloadBaseUrl: lab.trivy.downloadBaseUrl,
          trivyVersion: lab.trivy.version,
          release: 'promote',
          releaseRepository: release,
          releaseTags: '1.0',
        },
        connections: { azureSubscription: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey') },
        timeoutMs: 300_000,
      });
      assertSucceeded(scan);
      assert.equal(scan.outputs.releasedImage, `${fabrikam}/${release}@${digest}`);
      assert.equal(await backingDigest(lab, release, '1.0'), digest, 'the release tag holds the scanned digest');
      assert.deepEqual(annotated(((await backingJson(lab, release, digest)) as Index).annotations), expected);
    });

    it('annotates the one image manifest of a single-platform build (no index without attestations)', async () => {
      const repository = uniqueRepository('annotated-one');
      const watched = await build({
        context: context(),
        inputs: { registry: fabrikam, repository, annotations: userAnnotations },
        connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
        variables,
      });
      assertSucceeded(watched.run);
      const manifest = (await backingJson(lab, repository, watched.run.outputs.imageDigest)) as Manifest;
      assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      assert.deepEqual(annotated(manifest.annotations), expected);
      assert.match(watched.run.log, /Platform proof|Verified/);
    });
  });

  it('refuses an arm64 program behind /app/.venv/bin/python in a linux/amd64 image, naming the file and both architectures; passes with verifyPlatforms false', async () => {
    const repository = uniqueRepository('venv');
    const ctx = context();
    const connection = labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey');
    const refused = await build({
      context: ctx,
      inputs: { registry: fabrikam, repository, dockerfile: 'Dockerfile.prebuilt-venv' },
      connection,
    });
    assert.equal(refused.run.result, 'Failed', refused.run.log.slice(-3000));
    const message = refused.run.resultMessage ?? '';
    assert.match(
      message,
      /linux\/amd64: the interpreter of \/app\/\.venv\/bin\/uvicorn \/app\/\.venv\/bin\/python \(\/app\/\.venv\/bin\/python -> \/usr\/local\/bin\/python3\.12, \/usr\/local\/bin\/python3\.12\) is an ELF 64-bit arm64 binary, but the image is linux\/amd64 \(it needs amd64\)/,
    );
    assert.match(message, /exec format error/);
    assert.equal(refused.run.outputs.imageReference, undefined, 'no reference to deploy is handed on');
    assert.match(readFileSync(refused.run.summaries[0], 'utf8'), /Platform proof \| \*\*failed\*\*/);
    assertNoLeak(refused);

    const allowed = await build({
      context: ctx,
      inputs: { registry: fabrikam, repository, dockerfile: 'Dockerfile.prebuilt-venv', verifyPlatforms: 'false' },
      connection,
    });
    assertSucceeded(allowed.run);
    assert.doesNotMatch(allowed.run.log, /##\[group\]Verify/);
    assert.equal(allowed.run.outputs.imageDigest, await backingDigest(lab, repository, '4711'));
  });

  it('refuses a linux/amd64 image whose own python is right but whose .venv site-packages carry an arm64 .so, naming the file', async () => {
    const repository = uniqueRepository('venv-so');
    const site = '/app/.venv/lib/python3.12/site-packages';
    const dockerfile = [
      'FROM scratch',
      'COPY amd64/busybox /bin/busybox',
      'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
      'COPY amd64/busybox /usr/local/bin/python3.12',
      `COPY --chmod=644 arm64/busybox ${site}/fast/_speedups.cpython-312-aarch64-linux-gnu.so`,
      `COPY --chmod=644 amd64/busybox ${site}/ok/_ok.cpython-312-x86_64-linux-gnu.so`,
      'RUN mkdir -p /app/.venv/bin && ln -s /usr/local/bin/python3.12 /app/.venv/bin/python \\',
      " && printf '#!/app/.venv/bin/python\\nimport uvicorn\\n' > /app/.venv/bin/uvicorn && chmod +x /app/.venv/bin/uvicorn",
      'ENV PATH=/app/.venv/bin:/usr/local/bin:/bin',
      'WORKDIR /app',
      'CMD ["uvicorn", "main:app"]',
      '',
    ].join('\n');
    const ctx = makeBuildContext({ lab, dockerfile });
    contexts.push(ctx);
    const refused = await build({
      context: ctx,
      inputs: { registry: fabrikam, repository },
      connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
    });
    assert.equal(refused.run.result, 'Failed', refused.run.log.slice(-3000));
    assert.match(
      refused.run.resultMessage ?? '',
      /linux\/amd64: 1 of the 2 ELF files under \/app is built for another machine than linux\/amd64 .*: \/app\/\.venv\/lib\/python3\.12\/site-packages\/fast\/_speedups\.cpython-312-aarch64-linux-gnu\.so \(ELF 64-bit arm64\)/,
    );
    assert.doesNotMatch(refused.run.resultMessage ?? '', /the interpreter of/, 'the entrypoint chain itself is right');
    assert.match(refused.run.log, /native files under \/app: 2 ELF of \d+ files read, 1 for another machine/);
    assert.equal(refused.run.outputs.imageReference, undefined);
  });

  it('hands secrets to RUN --mount=type=secret only, from the environment and from a file, never into the log or argv', async () => {
    const repository = uniqueRepository('secrets');
    const npmToken = `npm-${randomBytes(12).toString('hex')}`;
    const pipSecret = `pip-${randomBytes(12).toString('hex')}`;
    const secretDir = mkdtempSync(path.join(os.tmpdir(), 'bfp-secret-'));
    const pipFile = path.join(secretDir, 'pip.conf');
    writeFileSync(pipFile, pipSecret);
    const ctx = makeBuildContext({
      lab,
      dockerfile: [
        'FROM scratch',
        'ARG TARGETARCH',
        'COPY ${TARGETARCH}/busybox /bin/busybox',
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        // BuildKit keys its cache without the secrets' values: a fresh file keeps an earlier run's step from being reused.
        'COPY nonce.txt /nonce.txt',
        // Only digests of the secrets reach the image: enough to prove they arrived.
        'RUN --mount=type=secret,id=npm,required=true --mount=type=secret,id=pip,required=true sha256sum /run/secrets/npm /run/secrets/pip | cut -d" " -f1 > /secrets.sha',
        'CMD ["cat", "/secrets.sha"]',
        '',
      ].join('\n'),
      files: { 'nonce.txt': randomBytes(8).toString('hex') },
    });
    contexts.push(ctx);
    try {
      const watched = await build({
        context: ctx,
        inputs: { registry: fabrikam, repository, secrets: `npm=env:NPM_TOKEN\npip=file:${pipFile}` },
        connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
        env: { NPM_TOKEN: npmToken },
      });
      assertSucceeded(watched.run);
      assertNoLeak(watched);
      assert.ok(
        watched.commandLines.some((l) => l.includes('--secret id=npm,env=NPM_TOKEN --secret id=pip,src=')),
        'buildx got the secrets by reference',
      );
      for (const value of [npmToken, pipSecret]) {
        assert.ok(
          !watched.run.log.split('\n').some((l) => l.includes(value) && !l.startsWith('##vso[task.setsecret]')),
          'secret value in the log',
        );
        assert.deepEqual(ArgvWatch.offending(watched.commandLines, [value]), [], 'secret value in a process argument');
      }
      const image = `${lab.backingRegistry}/${repository}@${watched.run.outputs.imageDigest}`;
      const shown = spawnSync('docker', ['run', '--rm', image], { encoding: 'utf8', timeout: 120_000 });
      const sha = (text: string) => createHash('sha256').update(text).digest('hex');
      assert.equal(shown.stdout.trim(), `${sha(npmToken)}\n${sha(pipSecret)}`);
      spawnSync('docker', ['image', 'rm', '--force', image]);
    } finally {
      rmSync(secretDir, { recursive: true, force: true });
    }
  });

  it('attaches a provenance attestation when asked, and the proof sets it aside', async () => {
    const repository = uniqueRepository('provenance');
    const watched = await build({
      context: context(),
      inputs: { registry: fabrikam, repository, attestations: 'provenance' },
      connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
    });
    assertSucceeded(watched.run);
    const index = await registryManifest(lab, repository, watched.run.outputs.imageDigest);
    const kinds = (index.manifests ?? []).map((m) => `${m.platform?.os}/${m.platform?.architecture}`).sort();
    assert.deepEqual(kinds, ['linux/amd64', 'unknown/unknown']);
    assert.match(
      readFileSync(watched.run.summaries[0], 'utf8'),
      /passed: the registry holds exactly linux\/amd64 \(\+1 attestation manifests\)/,
    );
    // mode=min by default: the provenance names the sources, not the build steps
    const attestation = (index.manifests ?? []).find((m) => m.platform?.os === 'unknown') as { digest: string };
    const manifest = (await backingJson(lab, repository, attestation.digest)) as Manifest;
    const provenance = (await backingJson(lab, repository, manifest.layers[0].digest, 'blobs')) as { predicate: { buildConfig?: unknown } };
    assert.equal(provenance.predicate.buildConfig, undefined);
  });

  it('attaches provenance (mode=max) and an SBOM per platform listing the image files, in the pushed index; the proof sets them aside', async () => {
    const repository = uniqueRepository('sbom');
    const generator = await ensureSbomGenerator(lab);
    const watched = await build({
      context: context(),
      inputs: {
        registry: fabrikam,
        repository,
        platforms: 'linux/amd64,linux/arm64',
        attestations: 'provenance+sbom',
        provenanceMode: 'max',
        sbomGenerator: generator,
      },
      connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
    });
    assertSucceeded(watched.run);
    assertNoLeak(watched);
    assert.match(watched.run.log, /--attest type=provenance,mode=max --attest type=sbom,generator=127\.0\.0\.1:5000\/lab\/sbom-generator:/);
    assert.match(
      readFileSync(watched.run.summaries[0], 'utf8'),
      /passed: the registry holds exactly linux\/amd64, linux\/arm64 \(\+2 attestation manifests\)/,
    );

    const index = (await backingJson(lab, repository, watched.run.outputs.imageDigest)) as Index;
    const images = index.manifests.filter((m) => m.platform?.os === 'linux');
    const attestations = index.manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest');
    assert.equal(images.length, 2);
    assert.equal(attestations.length, 2);
    for (const image of images) {
      const architecture = image.platform?.architecture as 'amd64' | 'arm64';
      const attestation = attestations.find((a) => a.annotations?.['vnd.docker.reference.digest'] === image.digest);
      assert.ok(attestation, `an attestation manifest refers to the ${architecture} image`);
      assert.deepEqual(attestation.platform, { os: 'unknown', architecture: 'unknown' });
      const manifest = (await backingJson(lab, repository, attestation.digest)) as Manifest;
      const layer = (type: string) => {
        const found = manifest.layers.find((l) => l.annotations?.['in-toto.io/predicate-type'] === type);
        assert.ok(found, `${architecture}: an in-toto layer of ${type}`);
        assert.equal(found.mediaType, 'application/vnd.in-toto+json');
        return found;
      };
      const sbom = (await backingJson(lab, repository, layer('https://spdx.dev/Document').digest, 'blobs')) as {
        subject: { digest: { sha256: string } }[];
        predicate: { spdxVersion: string; files: { fileName: string; checksums: { checksumValue: string }[] }[] };
      };
      assert.equal(sbom.predicate.spdxVersion, 'SPDX-2.3');
      const files = new Map(sbom.predicate.files.map((f) => [f.fileName.replace(/^\.\//, '/'), f.checksums[0].checksumValue]));
      for (const file of ['/bin/busybox', '/built.txt', '/www/index.html'])
        assert.ok(files.has(file), `${architecture}: the SBOM lists ${file}`);
      const busybox = createHash('sha1')
        .update(readFileSync(path.join(lab.baseDir, architecture, 'busybox')))
        .digest('hex');
      assert.equal(files.get('/bin/busybox'), busybox, `${architecture}: the SBOM's busybox is the ${architecture} one`);
      assert.deepEqual(
        sbom.subject.map((s) => `sha256:${s.digest.sha256}`),
        [image.digest],
        'the SBOM is about this platform image',
      );
      const provenance = (await backingJson(lab, repository, layer('https://slsa.dev/provenance/v0.2').digest, 'blobs')) as {
        predicate: { buildConfig?: { llbDefinition?: unknown[] } };
      };
      assert.ok((provenance.predicate.buildConfig?.llbDefinition ?? []).length > 0, 'mode=max records the build steps');
    }
  });

  it('signs in with a Docker registry connection (the ACR admin user), taking the registry from the connection', async () => {
    const repository = uniqueRepository('admin');
    const admin = lab.registries[fabrikam].admin;
    const connection: LabServiceConnection = {
      id: 'docker-admin',
      name: 'docker-admin',
      endpoint: {
        url: `https://${fabrikam}`,
        scheme: 'UsernamePassword',
        parameters: { registry: `https://${fabrikam}`, username: admin.username, password: admin.password, email: '' },
        data: {},
      },
    };
    const watched = await build({
      context: context(),
      inputs: { registry: '', repository },
      connection,
      connectionKind: 'dockerRegistryServiceConnection',
    });
    assertSucceeded(watched.run);
    assertNoLeak(watched);
    assert.ok(watched.run.secrets.includes(admin.password), 'the password was registered as a secret');
    assert.ok(watched.commandLines.some((l) => l.includes(`login --username ${admin.username} --password-stdin ${fabrikam}`)));
    assert.equal(watched.run.outputs.imageReference, `${fabrikam}/${repository}@${await backingDigest(lab, repository, '4711')}`);
  });

  it('pushes nothing when the build fails', async () => {
    const repository = uniqueRepository('broken');
    const broken = makeBuildContext({
      lab,
      dockerfile: 'FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "exit 3"]\n',
    });
    contexts.push(broken);
    const watched = await build({
      context: broken,
      inputs: { registry: fabrikam, repository, cache: 'registry' },
      connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
    });
    assert.equal(watched.run.result, 'Failed');
    assert.match(watched.run.resultMessage ?? '', /docker buildx build failed with exit code 1: ERROR: .*exit code: 3/);
    assert.equal(await backingDigest(lab, repository, '4711'), undefined, 'no image');
    assert.equal(await backingDigest(lab, repository, 'buildcache'), undefined, 'no cache');
    assertNoLeak(watched);
  });

  it('refuses a platform the builder cannot run before building, with the fix', async () => {
    const watched = await build({
      context: context(),
      inputs: { registry: fabrikam, repository: uniqueRepository('s390x'), platforms: 'linux/amd64,linux/s390x' },
    });
    assert.equal(watched.run.result, 'Failed');
    assert.match(
      watched.run.resultMessage ?? '',
      /cannot build linux\/s390x: it runs linux\/amd64, .*EnsureDocker first with emulatePlatforms: linux\/s390x .*native linux\/s390x node/,
    );
    assert.doesNotMatch(watched.run.log, /^##\[group\]Build$/m);
  });

  it('retries 429 and 5xx from the registry on the token exchange and the verification, within a bound', async () => {
    const repository = uniqueRepository('faults');
    await control.clearFaults();
    try {
      await control.addFault({ host: fabrikam, method: 'POST', path: '^/oauth2/exchange', kind: '429', times: 1, retryAfter: 1 });
      await control.addFault({ host: fabrikam, method: 'GET', path: `^/v2/${repository}/manifests/sha256:`, kind: '503', times: 2 });
      const watched = await build({
        context: context(),
        inputs: { registry: fabrikam, repository },
        connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
      });
      assertSucceeded(watched.run);
      assert.match(watched.run.log, /429/);
      assert.match(watched.run.log, /503 from fabrikam\.azurecr\.io; trying again/);
      assertNoLeak(watched);
    } finally {
      await control.clearFaults();
    }

    await control.addFault({ host: fabrikam, method: 'GET', path: `^/v2/${repository}/manifests/sha256:`, kind: '503', times: -1 });
    try {
      const watched = await build({
        context: context(),
        inputs: { registry: fabrikam, repository, tags: 'again' },
        connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
      });
      assert.equal(watched.run.result, 'Failed');
      assert.match(watched.run.resultMessage ?? '', /answered 503/);
    } finally {
      await control.clearFaults();
    }
  });

  it('with quarantine hiding new images from a push-only identity: pushes, then fails the proof naming the role to assign', async () => {
    const repository = uniqueRepository('hidden');
    const watched = await build({
      context: context(),
      inputs: { registry: contoso, repository },
      connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'),
    });
    assert.equal(watched.run.result, 'Failed');
    assert.match(
      watched.run.resultMessage ?? '',
      /contoso\.azurecr\.io does not show contoso\.azurecr\.io\/it-bfp\/hidden-[0-9a-f]+@sha256:[0-9a-f]{64}, which this job just pushed, .*AcrQuarantineReader/,
    );
    assert.ok(await backingDigest(lab, repository, '4711'), 'docker push went through quarantine');
    assertNoLeak(watched);
  });

  it('with a managed identity holding AcrPush and AcrQuarantineWriter, proves the platforms under quarantine', async () => {
    const repository = uniqueRepository('managed');
    const watched = await build({
      context: context(),
      inputs: { registry: contoso, repository },
      connection: labServiceConnection(lab, 'managed', 'ManagedServiceIdentity'),
    });
    assertSucceeded(watched.run);
    assertNoLeak(watched);
    assert.equal(watched.run.outputs.imageDigest, await backingDigest(lab, repository, '4711'));
    assert.equal((await control.quarantineRecord(contoso, repository, watched.run.outputs.imageDigest))?.quarantineState, 'Quarantined');
  });

  describe('on a private docker engine', () => {
    let daemon: PrivateDaemon | undefined;
    afterEach(async () => {
      await daemon?.stop();
      daemon = undefined;
    });

    it('reuses the registry cache on a second build of an unchanged context, with the local build cache gone', async () => {
      daemon = await startPrivateDaemon({ containerdImageStore: true });
      const repository = uniqueRepository('cache');
      const ctx = context({ 'nonce.txt': randomBytes(8).toString('hex') });
      writeFileSync(
        path.join(ctx.dir, 'Dockerfile'),
        readFileSync(path.join(ctx.dir, 'Dockerfile'), 'utf8').replace('RUN echo', 'COPY nonce.txt /nonce.txt\nRUN echo'),
      );
      const inputs = { registry: fabrikam, repository, cache: 'registry', arguments: '--network none' };
      const connection = labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey');
      const cold = await build({ context: ctx, inputs, connection, env: { DOCKER_HOST: daemon.host } });
      assertSucceeded(cold.run);
      assert.ok(await backingDigest(lab, repository, 'buildcache'), 'the cache image was pushed');
      daemon.pruneBuildCache();

      const warm = await build({ context: ctx, inputs: { ...inputs, tags: 'warm' }, connection, env: { DOCKER_HOST: daemon.host } });
      assertSucceeded(warm.run);
      assertNoLeak(warm);
      assert.match(warm.run.log, /importing cache manifest from fabrikam\.azurecr\.io\/it-bfp\/cache-[0-9a-f]+:buildcache/);
      assert.match(warm.run.log, /#\d+ \[\d\/\d\] RUN echo "built on \$\(uname -m\)" > \/built\.txt\n#\d+ CACHED/);
      const summary = readFileSync(warm.run.summaries[0], 'utf8');
      const use = /registry \(`[^`]+`\): (\d+) of (\d+) steps from the cache/.exec(summary);
      assert.ok(use, summary);
      assert.equal(use[1], use[2], 'every step came from the registry cache');
      assert.ok(Number(use[2]) >= 3);
      const onPrivate = spawnSync('docker', ['image', 'ls', '--format', '{{.Tag}}', '--filter', `reference=${fabrikam}/${repository}`], {
        encoding: 'utf8',
        env: { ...process.env, DOCKER_HOST: daemon.host },
      });
      assert.deepEqual(onPrivate.stdout.split('\n').filter(Boolean).sort(), ['4711', 'warm'], 'both builds ran on the private engine');
      const coldUse = /(\d+) of (\d+) steps from the cache/.exec(readFileSync(cold.run.summaries[0], 'utf8'));
      assert.ok(coldUse && Number(coldUse[1]) < Number(coldUse[2]), 'the first build did run steps');
    });

    it('on contoso (quarantine on): the second build imports the quarantined cache by digest and is fully cached, releasing nothing', async () => {
      daemon = await startPrivateDaemon({ containerdImageStore: true });
      const repository = uniqueRepository('qcache');
      const ctx = context({ 'nonce.txt': randomBytes(8).toString('hex') });
      writeFileSync(
        path.join(ctx.dir, 'Dockerfile'),
        readFileSync(path.join(ctx.dir, 'Dockerfile'), 'utf8').replace('RUN echo', 'COPY nonce.txt /nonce.txt\nRUN echo'),
      );
      const inputs = { registry: contoso, repository, cache: 'registry', arguments: '--network none' };
      const connection = labServiceConnection(lab, 'pipeline', 'ServicePrincipal', 'spnKey'); // AcrPush + AcrQuarantineReader
      const mark = await control.auditMark();
      const cold = await build({ context: ctx, inputs, connection, env: { DOCKER_HOST: daemon.host } });
      assertSucceeded(cold.run);
      const cacheDigest = await backingDigest(lab, repository, 'buildcache');
      assert.ok(cacheDigest, 'the cache image was pushed');
      assert.equal((await control.quarantineRecord(contoso, repository, cacheDigest))?.quarantineState, 'Quarantined');
      assert.match(
        cold.run.log,
        /The cache image contoso\.azurecr\.io\/it-bfp\/qcache-[0-9a-f]+:buildcache is in quarantine; the next build imports it by digest/,
      );
      daemon.pruneBuildCache();

      const warm = await build({ context: ctx, inputs: { ...inputs, tags: 'warm' }, connection, env: { DOCKER_HOST: daemon.host } });
      assertSucceeded(warm.run);
      assertNoLeak(warm);
      assert.match(warm.run.log, /is in quarantine \(quarantineState [^)]+\), so its tag does not resolve; importing it by digest/);
      assert.ok(
        warm.run.log.includes(`--cache-from type=registry,ref=${contoso}/${repository}@${cacheDigest}`),
        'BuildKit reads the cache by digest',
      );
      assert.match(warm.run.log, /#\d+ \[\d\/\d\] RUN echo "built on \$\(uname -m\)" > \/built\.txt\n#\d+ CACHED/);
      const use = /Built in [\d.]+ s; (\d+) of (\d+) steps from the cache\./.exec(warm.run.log);
      assert.ok(use, warm.run.log.slice(-3000));
      assert.equal(use[1], use[2], 'every step came from the quarantined registry cache');
      assert.ok(Number(use[2]) >= 3);
      const patches = (await control.audit(mark)).filter((e) => e.method === 'PATCH' && e.path.includes(repository));
      assert.deepEqual(patches, [], 'nothing was released from quarantine');
      assert.equal((await control.quarantineRecord(contoso, repository, cacheDigest))?.quarantineState, 'Quarantined');
    });

    it('on contoso without AcrQuarantineReader: warns that the pushed cache cannot be read, naming the role', async () => {
      daemon = await startPrivateDaemon({ containerdImageStore: true });
      const repository = uniqueRepository('qcache-hidden');
      const watched = await build({
        context: context(),
        inputs: { registry: contoso, repository, cache: 'registry', verifyPlatforms: 'false', arguments: '--network none' },
        connection: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey'), // AcrPush only
        env: { DOCKER_HOST: daemon.host },
      });
      assertSucceeded(watched.run);
      assert.ok(await backingDigest(lab, repository, 'buildcache'), 'the cache image was pushed');
      assert.match(
        watched.run.log,
        /##vso\[task\.issue type=warning[^\]]*\]The build cache this build pushed to contoso\.azurecr\.io\/it-bfp\/qcache-hidden-[0-9a-f]+:buildcache is hidden by contoso\.azurecr\.io's quarantine .* Fix: give the build's identity AcrQuarantineReader on contoso\.azurecr\.io/,
      );
    });

    it('builds each platform and joins them with imagetools create when the image store cannot hold several platforms', async () => {
      daemon = await startPrivateDaemon({ containerdImageStore: false });
      const repository = uniqueRepository('classic');
      const watched = await build({
        context: context(),
        inputs: { registry: fabrikam, repository, platforms: 'linux/amd64,linux/arm64', arguments: '--network none' },
        connection: labServiceConnection(lab, 'builder', 'WorkloadIdentityFederation'),
        env: { DOCKER_HOST: daemon.host },
      });
      assertSucceeded(watched.run);
      assertNoLeak(watched);
      assert.match(watched.run.log, /building linux\/amd64, linux\/arm64 one by one, then joining them into one index/);
      assert.match(
        watched.run.log,
        /buildx imagetools create --progress plain --tag fabrikam\.azurecr\.io\/it-bfp\/classic-[0-9a-f]+:4711 /,
      );
      const digest = watched.run.outputs.imageDigest;
      assert.equal(await backingDigest(lab, repository, '4711'), digest);
      const index = await registryManifest(lab, repository, digest);
      assert.deepEqual((index.manifests ?? []).map((m) => m.platform?.architecture).sort(), ['amd64', 'arm64']);
      assert.ok(await backingDigest(lab, repository, '4711-linux-arm64'), 'the per-platform image keeps its platform tag');
      const metadata = JSON.parse(readFileSync(watched.run.outputs.metadataFile, 'utf8')) as {
        'containerimage.digest': string;
        platforms: unknown[];
      };
      assert.equal(metadata['containerimage.digest'], digest);
      assert.equal(metadata.platforms.length, 2);
    });
  });
});
