// prepare(lab) of test/lab/releases/trivy.ts against a throwaway lab layout: the release assets, their
// checksums, the tampered copy, the DB artifact, and that a second run rebuilds nothing.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { prepare, releaseDirs } from '../lab/releases/trivy';
import { readDbMetadataFromArtifact } from '../lab/trivy/package';
import { isolatedEnv, tempDir } from '../lab/trivy/testkit';

const version = '0.74.0';

function makeLab(dbRepository = 'releases.lab.test/aquasec/trivy-db:2') {
  const root = tempDir('lab-trivy-root-');
  return {
    root,
    releasesDir: path.join(root, 'releases'),
    releasesBaseUrl: 'https://releases.lab.test',
    trivy: {
      version,
      downloadBaseUrl: 'https://releases.lab.test/aquasecurity/trivy/releases/download',
      tamperedDownloadBaseUrl: 'https://releases.lab.test/tampered/aquasecurity/trivy/releases/download',
      dbRepository,
    },
  };
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function checksums(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path.join(dir, `trivy_${version}_checksums.txt`), 'utf8')
    .trim()
    .split('\n')) {
    const match = /^([a-f0-9]{64}) {2}(\S+)$/.exec(line);
    assert.ok(match, `goreleaser checksum line: ${line}`);
    out[match[2]] = match[1];
  }
  return out;
}

function extract(tarball: string): string {
  const dir = tempDir('lab-trivy-extract-');
  const result = spawnSync('tar', ['-xzf', tarball, '-C', dir], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return dir;
}

describe('lab trivy stand-in: release assets (releases/trivy.ts prepare)', function () {
  this.timeout(60_000);
  const lab = makeLab();
  const dirs = releaseDirs(lab);
  const tarball = path.join(dirs.genuine, `trivy_${version}_Linux-64bit.tar.gz`);

  before(async () => {
    await prepare(lab);
  });

  it('lays the assets out like GitHub releases, with a goreleaser checksums file that matches', () => {
    assert.equal(dirs.genuine, path.join(lab.releasesDir, 'aquasecurity', 'trivy', 'releases', 'download', `v${version}`));
    const sums = checksums(dirs.genuine);
    assert.deepEqual(Object.keys(sums), [`trivy_${version}_Linux-64bit.tar.gz`, `trivy_${version}_Linux-ARM64.tar.gz`]);
    for (const [name, sum] of Object.entries(sums)) assert.equal(sha256(path.join(dirs.genuine, name)), sum, name);
  });

  it('packs trivy, README.md and LICENSE; the executable runs without node_modules', () => {
    const listing = spawnSync('tar', ['-tvzf', tarball], { encoding: 'utf8' }).stdout;
    assert.deepEqual(
      listing
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/).pop()),
      ['LICENSE', 'README.md', 'trivy'],
    );
    assert.match(listing, /^-rwxr-xr-x root\/root .* trivy$/m);
    const dir = extract(tarball);
    assert.equal(readFileSync(path.join(dir, 'trivy'), 'utf8').split('\n')[0], '#!/usr/bin/env node');
    const run = spawnSync(path.join(dir, 'trivy'), ['--version'], { encoding: 'utf8', cwd: dir, env: isolatedEnv() });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, `Version: ${version}\n`);
  });

  it("bakes the lab's DB repository in as the default --db-repository", () => {
    const dir = extract(tarball);
    const run = spawnSync(
      path.join(dir, 'trivy'),
      ['image', '--download-db-only', '--no-progress', '--timeout', '2s', '--cache-dir', path.join(dir, 'cache')],
      {
        encoding: 'utf8',
        env: isolatedEnv(),
      },
    );
    assert.match(run.stderr, /\[vulndb\] Downloading artifact\.\.\.\trepo="releases\.lab\.test\/aquasec\/trivy-db:2"/);
  });

  it('serves a tampered 64bit tarball whose checksum entry does not match, and whose trivy gives itself away', () => {
    const sums = checksums(dirs.tampered);
    assert.deepEqual(sums, checksums(dirs.genuine), 'the tampered release carries the genuine checksums file');
    const tampered = path.join(dirs.tampered, `trivy_${version}_Linux-64bit.tar.gz`);
    assert.notEqual(sha256(tampered), sums[`trivy_${version}_Linux-64bit.tar.gz`]);
    assert.equal(sha256(path.join(dirs.tampered, `trivy_${version}_Linux-ARM64.tar.gz`)), sums[`trivy_${version}_Linux-ARM64.tar.gz`]);
    const run = spawnSync(path.join(extract(tampered), 'trivy'), ['--version'], { encoding: 'utf8' });
    assert.equal(run.status, 99);
    assert.match(run.stderr, /TAMPERED/);
  });

  it('publishes a fresh DB artifact the stand-in can download from the release server', async () => {
    const meta = readDbMetadataFromArtifact(lab.releasesDir, lab.trivy.dbRepository);
    assert.ok(meta);
    assert.equal(meta.Version, 2);
    assert.ok(Date.parse(meta.NextUpdate) > Date.now() + 3_600_000);
    // a plain static server over releasesDir, as releases.lab.test is
    const server = http.createServer((request, response) => {
      const file = path.join(lab.releasesDir, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname));
      if (existsSync(file) && statSync(file).isFile()) response.end(readFileSync(file));
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const dir = extract(tarball);
      // Asynchronous on purpose: spawnSync would block the event loop this server answers on.
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const args = [
          'image',
          '--download-db-only',
          '--db-repository',
          `127.0.0.1:${port}/aquasec/trivy-db:2`,
          '--cache-dir',
          path.join(dir, 'cache'),
        ];
        const child = spawn(path.join(dir, 'trivy'), args, { env: isolatedEnv() });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        child.on('close', (code) => resolve({ code, stderr }));
      });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /Artifact successfully downloaded/);
      assert.ok(existsSync(path.join(dir, 'cache', 'db', 'trivy.db')));
    } finally {
      server.close();
    }
  });

  it('is idempotent: a second prepare rebuilds nothing, a changed setting rebuilds', async () => {
    const before = statSync(tarball).mtimeMs;
    const stamp = readFileSync(path.join(lab.root, 'cache', 'trivy-release.json'), 'utf8');
    await prepare(lab);
    assert.equal(statSync(tarball).mtimeMs, before);
    assert.equal(readFileSync(path.join(lab.root, 'cache', 'trivy-release.json'), 'utf8'), stamp);
    const changed = { ...lab, trivy: { ...lab.trivy, dbRepository: 'releases.lab.test/mirror/trivy-db:2' } };
    await prepare(changed);
    assert.notEqual(readFileSync(path.join(lab.root, 'cache', 'trivy-release.json'), 'utf8'), stamp);
    assert.ok(readDbMetadataFromArtifact(lab.releasesDir, 'releases.lab.test/mirror/trivy-db:2'));
  });

  it('refuses a DB repository the release server cannot serve', async () => {
    await assert.rejects(prepare(makeLab('ghcr.io/aquasecurity/trivy-db:2')), /is not on the release server releases\.lab\.test/);
  });
});
