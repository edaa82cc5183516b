import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  buildxAsset,
  cacheBuildx,
  cacheCompose,
  cacheStaticDocker,
  composeAsset,
  ChecksumError,
  dockerStaticAsset,
  invalidChecksumLines,
  type StaticSources,
} from '../../src/docker/static';
import type { ToolCache } from '../../src/tools/cache';
import { RecordingLogger } from '../../src/log';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const sources = (checksumLines: string[] = [], arch = 'x64'): StaticSources => ({
  dockerBaseUrl: 'https://mirror.contoso.com/docker/static/stable/',
  buildxBaseUrl: 'https://mirror.contoso.com/buildx/releases/download',
  composeBaseUrl: 'https://mirror.contoso.com/compose/releases/download',
  checksumLines,
  arch,
});

/** A tool cache over a temp dir whose "server" is a map of URL -> content. */
function fakeCache(server: Record<string, string>) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'toolcache-'));
  const downloads: string[] = [];
  const cached = new Map<string, string>();
  let n = 0;
  const cache: ToolCache = {
    find: (tool, version, arch) => cached.get(`${tool}/${version}/${arch}`),
    download: async (url) => {
      downloads.push(url);
      if (!(url in server)) throw new Error('Unexpected HTTP response: 404');
      const file = path.join(root, `dl-${++n}`);
      writeFileSync(file, server[url]);
      return file;
    },
    extract: async (file) => {
      const dir = path.join(root, `x-${++n}`);
      mkdirSync(path.join(dir, 'docker'), { recursive: true });
      writeFileSync(path.join(dir, 'docker', 'docker'), readFileSync(file));
      return dir;
    },
    cacheDir: async (dir, tool, version, arch) => {
      const target = path.join(root, tool, version, arch);
      cpSync(dir, target, { recursive: true });
      cached.set(`${tool}/${version}/${arch}`, target);
      return target;
    },
    cacheFile: async (file, target, tool, version, arch) => {
      const dir = path.join(root, tool, version, arch);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, target), readFileSync(file));
      cached.set(`${tool}/${version}/${arch}`, dir);
      return dir;
    },
    prependPath: () => undefined,
  };
  return { cache, downloads };
}

describe('static binaries', () => {
  it("builds Docker's and buildx's download URLs per architecture", () => {
    assert.deepEqual(dockerStaticAsset(sources(), '27.3.1'), {
      url: 'https://mirror.contoso.com/docker/static/stable/x86_64/docker-27.3.1.tgz',
      relativePath: 'x86_64/docker-27.3.1.tgz',
      fileName: 'docker-27.3.1.tgz',
    });
    assert.equal(
      dockerStaticAsset(sources([], 'arm64'), '27.3.1').url,
      'https://mirror.contoso.com/docker/static/stable/aarch64/docker-27.3.1.tgz',
    );
    const bx = buildxAsset(sources([], 'arm64'), '0.21.2');
    assert.equal(bx.url, 'https://mirror.contoso.com/buildx/releases/download/v0.21.2/buildx-v0.21.2.linux-arm64');
    assert.equal(bx.checksumsUrl, 'https://mirror.contoso.com/buildx/releases/download/v0.21.2/checksums.txt');
    assert.throws(() => dockerStaticAsset(sources([], 'mips'), '27.3.1'), /no static binaries for the mips architecture/);
  });

  it('takes staticChecksums lines in sha256sum format and names the first that is not', () => {
    const a = 'a'.repeat(64);
    assert.deepEqual(invalidChecksumLines(['# ok', `${a}  f`, 'abc  docker.tgz']), ['abc  docker.tgz']);
  });

  it('refuses a docker archive without a trusted checksum and downloads nothing', async () => {
    const { cache, downloads } = fakeCache({});
    await assert.rejects(
      cacheStaticDocker('27.3.1', sources(), cache, new RecordingLogger()),
      /publishes no checksum for https:\/\/mirror\.contoso\.com\/docker\/static\/stable\/x86_64\/docker-27\.3\.1\.tgz.*`<sha256> {2}x86_64\/docker-27\.3\.1\.tgz`/s,
    );
    assert.deepEqual(downloads, []);
  });

  it('installs a docker archive whose checksum matches the staticChecksums line, and reuses the cache afterwards', async () => {
    const url = 'https://mirror.contoso.com/docker/static/stable/x86_64/docker-27.3.1.tgz';
    const { cache, downloads } = fakeCache({ [url]: 'genuine' });
    const s = sources([`${sha('genuine')}  x86_64/docker-27.3.1.tgz`]);
    const first = await cacheStaticDocker('27.3.1', s, cache, new RecordingLogger());
    assert.equal(first.fromCache, false);
    assert.equal(readFileSync(path.join(first.dir, 'docker'), 'utf8'), 'genuine');
    const second = await cacheStaticDocker('27.3.1', s, cache, new RecordingLogger());
    assert.deepEqual(second, { dir: first.dir, fromCache: true });
    assert.equal(downloads.length, 1);
  });

  it('refuses a tampered archive, deletes it and installs nothing', async () => {
    const url = 'https://mirror.contoso.com/docker/static/stable/x86_64/docker-27.3.1.tgz';
    const { cache } = fakeCache({ [url]: 'tampered' });
    const error = await cacheStaticDocker('27.3.1', sources([`${sha('genuine')}  docker-27.3.1.tgz`]), cache, new RecordingLogger()).catch(
      (e) => e,
    );
    assert.ok(error instanceof ChecksumError);
    assert.match(error.message, new RegExp(`its sha256 is ${sha('tampered')}, but the staticChecksums input says ${sha('genuine')}`));
    assert.equal(cache.find('docker-static', '27.3.1', 'x64'), undefined);
  });

  it("verifies buildx against its release's checksums.txt", async () => {
    const base = 'https://mirror.contoso.com/buildx/releases/download/v0.21.2';
    const { cache, downloads } = fakeCache({
      [`${base}/checksums.txt`]: `${sha('bx')} *buildx-v0.21.2.linux-amd64\n${sha('other')} *buildx-v0.21.2.linux-arm64\n`,
      [`${base}/buildx-v0.21.2.linux-amd64`]: 'bx',
    });
    const { file, fromCache } = await cacheBuildx('0.21.2', sources(), cache, new RecordingLogger());
    assert.equal(fromCache, false);
    assert.equal(readFileSync(file, 'utf8'), 'bx');
    assert.deepEqual(downloads, [`${base}/checksums.txt`, `${base}/buildx-v0.21.2.linux-amd64`]);
  });

  it('refuses a tampered buildx binary served beside a genuine checksums.txt', async () => {
    const base = 'https://mirror.contoso.com/buildx/releases/download/v0.21.2';
    const { cache } = fakeCache({
      [`${base}/checksums.txt`]: `${sha('bx')} *buildx-v0.21.2.linux-amd64\n`,
      [`${base}/buildx-v0.21.2.linux-amd64`]: 'bx+malware',
    });
    await assert.rejects(
      cacheBuildx('0.21.2', sources(), cache, new RecordingLogger()),
      (e: Error) => e instanceof ChecksumError && /checksums\.txt says/.test(e.message),
    );
  });

  it('lets a staticChecksums line for buildx win over checksums.txt (which is then not fetched)', async () => {
    const base = 'https://mirror.contoso.com/buildx/releases/download/v0.21.2';
    const { cache, downloads } = fakeCache({ [`${base}/buildx-v0.21.2.linux-amd64`]: 'bx' });
    await cacheBuildx('0.21.2', sources([`${sha('bx')}  buildx-v0.21.2.linux-amd64`]), cache, new RecordingLogger());
    assert.deepEqual(downloads, [`${base}/buildx-v0.21.2.linux-amd64`]);
  });

  it('says which version was not found on the server', async () => {
    const { cache } = fakeCache({});
    await assert.rejects(
      cacheBuildx('0.99.0', sources(), cache, new RecordingLogger()),
      /could not download .*v0\.99\.0\/checksums\.txt.*404/,
    );
  });

  it('verifies compose against the .sha256 its release publishes beside the binary, and finds it in the cache next time', async () => {
    const base = 'https://mirror.contoso.com/compose/releases/download/v2.39.2';
    const { cache, downloads } = fakeCache({
      [`${base}/docker-compose-linux-x86_64.sha256`]: `${sha('compose')} *docker-compose-linux-x86_64\n`,
      [`${base}/docker-compose-linux-x86_64`]: 'compose',
    });
    const first = await cacheCompose('2.39.2', sources(), cache, new RecordingLogger());
    assert.equal(path.basename(first.file), 'docker-compose');
    assert.equal(readFileSync(first.file, 'utf8'), 'compose');
    const second = await cacheCompose('2.39.2', sources(), cache, new RecordingLogger());
    assert.deepEqual(second, { file: first.file, fromCache: true });
    assert.deepEqual(downloads, [`${base}/docker-compose-linux-x86_64.sha256`, `${base}/docker-compose-linux-x86_64`]);
  });

  it('refuses a tampered compose binary, and lets a staticChecksums line win', async () => {
    const base = 'https://mirror.contoso.com/compose/releases/download/v2.39.2';
    const { cache } = fakeCache({
      [`${base}/docker-compose-linux-x86_64.sha256`]: `${sha('compose')} *docker-compose-linux-x86_64\n`,
      [`${base}/docker-compose-linux-x86_64`]: 'compose+malware',
    });
    await assert.rejects(
      cacheCompose('2.39.2', sources(), cache, new RecordingLogger()),
      (e: Error) => e instanceof ChecksumError && /docker-compose-linux-x86_64\.sha256 says/.test(e.message),
    );
    assert.equal(cache.find('docker-compose', '2.39.2', 'x64'), undefined, 'nothing cached');
    const pinned = await cacheCompose(
      '2.39.2',
      sources([`${sha('compose+malware')}  docker-compose-linux-x86_64`]),
      cache,
      new RecordingLogger(),
    );
    assert.equal(readFileSync(pinned.file, 'utf8'), 'compose+malware', 'the line the pipeline owner reviewed wins');
  });

  it("names compose's assets after uname -m", () => {
    assert.equal(
      composeAsset(sources([], 'arm64'), '2.39.2').url,
      'https://mirror.contoso.com/compose/releases/download/v2.39.2/docker-compose-linux-aarch64',
    );
    assert.throws(() => composeAsset(sources([], 'mips'), '2.39.2'), /compose publishes no release binary for the mips architecture/);
  });
});
