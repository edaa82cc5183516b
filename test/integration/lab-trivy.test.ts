// The trivy stand-in as a task would meet it in the lab: installed from https://releases.lab.test (checksum
// verified), its DB downloaded from the release server, scanning images that buildx pushed to the ACR emulator
// (quarantine on) with each identity's own ACR credentials, and images on the plain loopback registry.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { busyboxBase, makeBuildContext } from '../lab/base';
import { type AuditEntry, LabControl } from '../lab/client';
import { nullGuid } from '../lab/emulators/acr/auth';
import { DockerClient, acrCall, identityRefreshToken, labRequest, uniqueRepository } from '../lab/emulators/testkit';
import { type AppIdentityName, type Lab, labNodeEnv, readLab } from '../lab/lab';
import { prepare } from '../lab/releases/trivy';
import { run as runProcess } from '../../src/process/exec';
import type { Report } from '../lab/trivy/src/types';
import { isolatedEnv } from '../lab/trivy/testkit';

const contoso = 'contoso.azurecr.io';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function fatal(run: Run): string {
  const at = run.stderr.indexOf('\tFATAL\t');
  assert.ok(at >= 0, `expected a FATAL line, got:\n${run.stderr}`);
  return run.stderr.slice(at);
}

describe('lab trivy stand-in against the running lab', function () {
  this.timeout(600_000);
  let lab: Lab;
  let trivy: string;
  let cacheDir: string;
  const work = mkdtempSync(path.join(os.tmpdir(), 'lab-trivy-it-'));
  const control = new LabControl();
  const refresh: Partial<Record<AppIdentityName, string>> = {};
  const docker = new DockerClient();

  /** Runs the installed stand-in with one identity's ACR refresh token (the null-GUID username ACR documents). */
  const scanAs = (identity: AppIdentityName | undefined, args: string[]): Promise<Run> => {
    const credentials = identity ? { TRIVY_USERNAME: nullGuid, TRIVY_PASSWORD: refresh[identity] } : {};
    return trivyRun(
      ['image', '--cache-dir', cacheDir, '--image-src', 'remote', '--no-progress', ...args],
      isolatedEnv({ ...labNodeEnv(lab), ...credentials }),
    );
  };

  const trivyRun = async (args: string[], env: NodeJS.ProcessEnv): Promise<Run> => {
    const result = await runProcess(trivy, args, { env });
    return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  };

  before(async () => {
    lab = readLab();
    await prepare(lab); // idempotent: makes sure the served assets are built from the current sources
    for (const identity of ['builder', 'scanner', 'qreader', 'puller', 'nobody'] as const)
      refresh[identity] = await identityRefreshToken(lab, contoso, identity);
    cacheDir = path.join(work, 'cache');
  });

  after(() => {
    docker.remove();
    rmSync(work, { recursive: true, force: true });
  });

  describe('installation from the release server', () => {
    it('serves trivy_<ver>_Linux-64bit.tar.gz whose sha256 matches trivy_<ver>_checksums.txt, and a tampered copy that does not', async () => {
      const { version, downloadBaseUrl, tamperedDownloadBaseUrl } = lab.trivy;
      const name = `trivy_${version}_Linux-64bit.tar.gz`;
      const fetchAsset = async (base: string, file: string): Promise<Buffer> => {
        const answer = await labRequest(lab, `${base}/v${version}/${file}`);
        assert.equal(answer.status, 200, `${base}/v${version}/${file}`);
        return answer.body;
      };
      const expected = (sums: Buffer): string => {
        const line = sums
          .toString('utf8')
          .split('\n')
          .find((l) => l.endsWith(`  ${name}`));
        assert.ok(line, `${name} is listed in the checksums file`);
        return line.split('  ')[0];
      };
      const tarball = await fetchAsset(downloadBaseUrl, name);
      assert.equal(
        createHash('sha256').update(tarball).digest('hex'),
        expected(await fetchAsset(downloadBaseUrl, `trivy_${version}_checksums.txt`)),
      );
      const tampered = await fetchAsset(tamperedDownloadBaseUrl, name);
      assert.notEqual(
        createHash('sha256').update(tampered).digest('hex'),
        expected(await fetchAsset(tamperedDownloadBaseUrl, `trivy_${version}_checksums.txt`)),
      );

      const dir = path.join(work, 'install');
      spawnSync('mkdir', ['-p', dir]);
      writeFileSync(path.join(work, name), tarball);
      const untar = spawnSync('tar', ['-xzf', path.join(work, name), '-C', dir], { encoding: 'utf8' });
      assert.equal(untar.status, 0, untar.stderr);
      trivy = path.join(dir, 'trivy');
      const run = spawnSync(trivy, ['--version'], { encoding: 'utf8', env: isolatedEnv() });
      assert.equal(run.stdout, `Version: ${version}\n`);
    });
  });

  describe('ACR with the quarantine policy on', () => {
    let repository: string;
    let digest: string;
    let ref: string;
    let stagedRepository: string;

    before(function () {
      if (!trivy) this.skip();
      // A multi-platform busybox image built with buildx, then copied to contoso by the builder identity through
      // the ACR token flow (buildx imagetools). A direct `buildx build --push` to contoso fails with the docker
      // driver: after BuildKit's push the daemon pushes again and reads the tag back, which quarantine hides.
      repository = uniqueRepository('trivy');
      stagedRepository = `lab-trivy/staged-${Date.now().toString(36)}`;
      const staged = `${lab.backingRegistry}/${stagedRepository}:1.0`;
      const context = makeBuildContext({ lab, dockerfile: `${busyboxBase}\nCMD ["/bin/sh"]\n` });
      try {
        const metadata = path.join(work, 'metadata.json');
        const build = docker.run([
          'buildx',
          'build',
          '--platform',
          'linux/amd64,linux/arm64',
          '--label',
          'lab.trivy.report=debian-buster',
          '--push',
          '-t',
          staged,
          '--metadata-file',
          metadata,
          context.dir,
        ]);
        assert.equal(build.code, 0, build.stderr);
        digest = (JSON.parse(readFileSync(metadata, 'utf8')) as Record<string, string>)['containerimage.digest'];
        assert.match(digest, /^sha256:[a-f0-9]{64}$/);
      } finally {
        context.remove();
      }
      const login = docker.login(contoso, nullGuid, refresh.builder as string);
      assert.equal(login.code, 0, login.stderr);
      const copy = docker.run(['buildx', 'imagetools', 'create', '-t', `${contoso}/${repository}:1.0`, staged]);
      assert.equal(copy.code, 0, copy.stderr);
      ref = `${contoso}/${repository}@${digest}`;
    });

    it('downloads its DB from the release server on first use', async () => {
      const run = await scanAs('qreader', ['--download-db-only']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /\[vulndb\] Artifact successfully downloaded\trepo="releases\.lab\.test\/aquasec\/trivy-db:2"/);
    });

    it("the quarantine reader scans the pushed digest: the real manifest, config and digest, the fixture's findings", async () => {
      const mark = await control.auditMark();
      const run = await scanAs('qreader', ['-f', 'json', '--exit-code', '2', ref]);
      assert.equal(run.code, 2, run.stderr);
      const report = JSON.parse(run.stdout) as Report;
      assert.equal(report.ArtifactName, ref);
      assert.deepEqual(report.Metadata?.RepoDigests, [ref], 'the index digest the builder pushed');
      assert.equal((report.Metadata?.ImageConfig as { architecture: string }).architecture, 'amd64');
      assert.equal(report.Results?.[0].Target, `${ref} (debian 10.1)`);
      // (the audit log is shared with whatever else runs against the lab: look at this repository only)
      const seen: AuditEntry[] = (await control.audit(mark)).filter(
        (e) => e.host === contoso && (e.path.includes(repository) || (e.query.scope ?? '').includes(repository)),
      );
      const lines = seen.map((e) => `${e.method} ${e.path} ${e.status} ${e.identity ?? '-'}`);
      assert.ok(
        seen.some((e) => e.path === '/oauth2/token' && e.status === 200 && e.query.scope === `repository:${repository}:pull`),
        lines.join('\n'),
      );
      assert.ok(lines.includes(`GET /v2/${repository}/manifests/${digest} 200 qreader`), lines.join('\n'));
      assert.ok(
        seen.some((e) => e.path.startsWith(`/v2/${repository}/blobs/sha256:`) && e.status === 200),
        lines.join('\n'),
      );

      const arm64 = await scanAs('qreader', ['-f', 'json', '--platform', 'linux/arm64', ref]);
      assert.equal(arm64.code, 0, arm64.stderr);
      assert.equal(((JSON.parse(arm64.stdout) as Report).Metadata?.ImageConfig as { architecture: string }).architecture, 'arm64');
    });

    it('an AcrPull identity cannot read the quarantined digest: exit 1, the reference named', async () => {
      const run = await scanAs('puller', ['-f', 'json', ref]);
      assert.equal(run.code, 1);
      assert.equal(run.stdout, '');
      const message = fatal(run);
      assert.ok(message.includes(`unable to find the specified image "${ref}" in ["remote"]`), message);
      assert.match(message, /The operation is disallowed\./);
    });

    it('by tag the quarantined image does not exist for an AcrPull identity', async () => {
      const run = await scanAs('puller', [`${contoso}/${repository}:1.0`]);
      assert.equal(run.code, 1);
      assert.match(fatal(run), /MANIFEST_UNKNOWN|NAME_UNKNOWN/);
    });

    it('an identity without roles fails UNAUTHORIZED after trying every credential', async () => {
      const run = await scanAs('nobody', [ref]);
      assert.equal(run.code, 1);
      assert.match(
        fatal(run),
        /in \["remote"\]: 2 errors occurred:\n\t\* remote error: GET https:\/\/contoso\.azurecr\.io\/.*UNAUTHORIZED/,
      );
    });

    it('a transient 503 on the manifest is retried, as go-containerregistry does', async () => {
      const mark = await control.auditMark();
      await control.addFault({ host: contoso, method: 'GET', path: `^/v2/${repository}/manifests/`, kind: '503', times: 1 });
      try {
        const run = await scanAs('qreader', ['-q', '-f', 'json', ref]);
        assert.equal(run.code, 0, run.stderr);
      } finally {
        await control.clearFaults();
      }
      const manifestHits = (await control.audit(mark)).filter(
        (e) => e.host === contoso && e.path === `/v2/${repository}/manifests/${digest}`,
      );
      assert.deepEqual(
        manifestHits.map((e) => e.status),
        [503, 200],
      );
    });

    it('with the default --image-src an image the local docker has is scanned without asking the registry', async () => {
      // What trivy does too (docker, containerd, podman, then remote): a task must pass --image-src remote
      // for the scan to prove the identity can read the quarantined image.
      const local = `${contoso}/${repository}:local-${Date.now().toString(36)}`;
      assert.equal(docker.run(['pull', '-q', `${lab.backingRegistry}/${stagedRepository}:1.0`]).code, 0);
      assert.equal(docker.run(['tag', `${lab.backingRegistry}/${stagedRepository}:1.0`, local]).code, 0);
      try {
        const mark = await control.auditMark();
        const run = await trivyRun(
          ['image', '--cache-dir', cacheDir, '-q', '-f', 'json', local],
          isolatedEnv({ ...labNodeEnv(lab), TRIVY_USERNAME: nullGuid, TRIVY_PASSWORD: refresh.nobody }),
        );
        assert.equal(run.code, 0, run.stderr);
        assert.equal((JSON.parse(run.stdout) as Report).Metadata?.OS?.Family, 'debian');
        // (the audit log is shared with whatever else runs against the lab: look at this repository only)
        const ours = (await control.audit(mark)).filter(
          (e) => e.host === contoso && (e.path.includes(repository) || (e.query.scope ?? '').includes(repository)),
        );
        assert.deepEqual(ours, [], 'no request for this repository reached the registry');
      } finally {
        docker.run(['rmi', local]);
      }
    });

    it('once the scanner marks the index and its platform manifests Passed, the AcrPull identity scans it too', async () => {
      // The emulator quarantines every manifest of an index separately, so the release marks each of them.
      const index = await labRequest(lab, `http://${lab.backingRegistry}/v2/${stagedRepository}/manifests/${digest}`, {
        headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
      });
      assert.equal(index.status, 200, index.text);
      const children = (index.json<{ manifests: Array<{ digest: string }> }>().manifests ?? []).map((m) => m.digest);
      for (const manifest of [digest, ...children]) {
        const patch = await acrCall(lab, contoso, refresh.scanner as string, `/acr/v1/${repository}/_manifests/${manifest}`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            quarantineState: 'Passed',
            quarantineDetails: JSON.stringify({ scanner: 'trivy', state: 'scan passed' }),
          }),
        });
        assert.equal(patch.status, 200, patch.text);
      }
      const run = await scanAs('puller', ['-q', '-f', 'json', ref]);
      assert.equal(run.code, 0, run.stderr);
    });
  });

  describe('the plain loopback registry (no token flow)', () => {
    it('scans a labelled image pushed to 127.0.0.1:5000 over plain HTTP', async function () {
      if (!trivy) this.skip();
      const ref = `${lab.backingRegistry}/lab-trivy/${Date.now().toString(36)}:secrets`;
      const context = makeBuildContext({ lab, dockerfile: `${busyboxBase}\nLABEL lab.trivy.report=secrets\n` });
      try {
        const build = spawnSync('docker', ['buildx', 'build', '--platform', 'linux/amd64', '--push', '-t', ref, context.dir], {
          encoding: 'utf8',
        });
        assert.equal(build.status, 0, build.stderr);
      } finally {
        context.remove();
      }
      const run = await scanAs(undefined, ['-f', 'json', '--exit-code', '4', ref]);
      assert.equal(run.code, 4, run.stderr);
      const report = JSON.parse(run.stdout) as Report;
      assert.deepEqual(
        report.Results?.map((r) => [r.Class, r.Secrets?.length]),
        [['secret', 2]],
      );
      assert.match(
        report.Metadata?.RepoDigests?.[0] ?? '',
        new RegExp(`^${lab.backingRegistry.replace(/\./g, '\\.')}/lab-trivy/[a-z0-9]+@sha256:[a-f0-9]{64}$`),
      );
    });
  });
});
