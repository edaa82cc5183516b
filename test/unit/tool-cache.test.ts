import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadVerified, extractTarGz, findChecksum, parseChecksums, sha256File } from '../../src/tools/cache';

const a = 'a'.repeat(64);
const B = 'B'.repeat(64);

describe('tool cache: checksums and verified downloads (docker static, buildx, trivy)', () => {
  const rows: [string, string | string[], { sha256: string; name: string }[]][] = [
    ['sha256sum text mode', `${a}  x86_64/docker-27.3.1.tgz`, [{ sha256: a, name: 'x86_64/docker-27.3.1.tgz' }]],
    [
      'sha256sum binary mode, upper case hex',
      `${B} *buildx-v0.21.2.linux-amd64`,
      [{ sha256: B.toLowerCase(), name: 'buildx-v0.21.2.linux-amd64' }],
    ],
    ['a ./ prefix', `${a}  ./trivy_0.74.0_Linux-64bit.tar.gz`, [{ sha256: a, name: 'trivy_0.74.0_Linux-64bit.tar.gz' }]],
    [
      "goreleaser's checksums.txt with garbage and comments",
      `${a}  trivy_0.74.0_Linux-64bit.tar.gz\n# comment\ngarbage\n\n${B}  trivy_0.74.0_Linux-ARM64.tar.gz\r\n`,
      [
        { sha256: a, name: 'trivy_0.74.0_Linux-64bit.tar.gz' },
        { sha256: B.toLowerCase(), name: 'trivy_0.74.0_Linux-ARM64.tar.gz' },
      ],
    ],
    ['a short hash', 'abc  docker.tgz', []],
    ['lines given one by one', [`${a}  f`, '# no'], [{ sha256: a, name: 'f' }]],
  ];
  for (const [name, text, expected] of rows) {
    it(`parses ${name}`, () => assert.deepEqual(parseChecksums(text), expected));
  }

  it('finds the checksum of the first name that has one (a path under the base URL before a file name)', () => {
    const entries = parseChecksums([`${a}  x86_64/docker-27.3.1.tgz`, `${B}  docker-27.3.1.tgz`]);
    assert.equal(findChecksum(entries, 'x86_64/docker-27.3.1.tgz', 'docker-27.3.1.tgz'), a);
    assert.equal(findChecksum(entries, 'aarch64/docker-27.3.1.tgz', 'docker-27.3.1.tgz'), B.toLowerCase());
    assert.equal(findChecksum(entries, 'aarch64/docker-27.3.1.tgz'), undefined);
  });

  describe('downloadVerified', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'verified-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const cache = (content: string) => ({
      download: async () => {
        const file = path.join(dir, 'download');
        writeFileSync(file, content);
        return file;
      },
    });
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');

    it('keeps a download whose sha256 matches', async () => {
      const verified = await downloadVerified(cache('tool'), 'https://mirror.test/tool', sha('tool'), () => new Error('refused'));
      assert.equal(verified.sha256, sha('tool'));
      assert.equal(await sha256File(verified.file), sha('tool'));
    });

    it("deletes a download whose sha256 differs and throws the caller's error with the actual sha256", async () => {
      await assert.rejects(
        downloadVerified(cache('tampered'), 'https://mirror.test/tool', sha('tool'), (actual) => new Error(`refused: ${actual}`)),
        new RegExp(`^Error: refused: ${sha('tampered')}$`),
      );
      assert.equal(existsSync(path.join(dir, 'download')), false);
    });
  });
});

describe('tool cache: unpacking a .tar.gz in-process (no tar program on the agent needed)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'unpack-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  /** A .tar.gz of the tree under dir/src made by GNU tar, as Docker's and trivy's releases are. */
  const archiveOf = (...extra: string[]) => {
    const file = path.join(dir, 'a.tar.gz');
    execFileSync('tar', ['-C', path.join(dir, 'src'), '-czf', file, ...extra, '.']);
    return file;
  };
  const unpacked = async (archive: string) => {
    const out = path.join(dir, 'out');
    mkdirSync(out);
    await extractTarGz(archive, out);
    return out;
  };
  const mode = (file: string) => (lstatSync(file).mode & 0o7777).toString(8);

  it("Docker's static archive layout: files with their modes, a large one intact; links and directories as made", async () => {
    const src = path.join(dir, 'src');
    mkdirSync(path.join(src, 'docker', 'sub'), { recursive: true });
    const big = randomBytes(3 * 1024 * 1024 + 77); // spans many gunzip chunks and tar blocks
    writeFileSync(path.join(src, 'docker', 'dockerd'), big);
    chmodSync(path.join(src, 'docker', 'dockerd'), 0o755);
    writeFileSync(path.join(src, 'docker', 'README'), 'read me\n');
    chmodSync(path.join(src, 'docker', 'README'), 0o644);
    writeFileSync(path.join(src, 'docker', 'empty'), '');
    writeFileSync(path.join(src, 'docker', 'suid'), '#!/bin/sh\n');
    chmodSync(path.join(src, 'docker', 'suid'), 0o4755);
    chmodSync(path.join(src, 'docker', 'sub'), 0o750);
    symlinkSync('dockerd', path.join(src, 'docker', 'dockerd-link'));
    linkSync(path.join(src, 'docker', 'README'), path.join(src, 'docker', 'sub', 'README.hard'));
    const long = `${'x'.repeat(120)}/${'y'.repeat(120)}`; // a GNU long name
    mkdirSync(path.join(src, 'docker', 'x'.repeat(120)));
    writeFileSync(path.join(src, 'docker', long), 'long');

    const out = await unpacked(archiveOf());
    const d = path.join(out, 'docker');
    assert.ok(readFileSync(path.join(d, 'dockerd')).equals(big));
    assert.equal(mode(path.join(d, 'dockerd')), '755');
    assert.equal(mode(path.join(d, 'README')), '644');
    assert.equal(readFileSync(path.join(d, 'empty'), 'utf8'), '');
    assert.equal(mode(path.join(d, 'suid')), '755', 'never setuid');
    assert.equal(mode(path.join(d, 'sub')), '750');
    assert.equal(readlinkSync(path.join(d, 'dockerd-link')), 'dockerd');
    assert.equal(lstatSync(path.join(d, 'sub', 'README.hard')).ino, lstatSync(path.join(d, 'README')).ino);
    assert.equal(readFileSync(path.join(d, long), 'utf8'), 'long');
  });

  it('refuses a member with .. in its path, and one written through a symbolic link; nothing lands outside', async () => {
    const outside = path.join(dir, 'outside');
    mkdirSync(outside);
    mkdirSync(path.join(dir, 'src', 'a'), { recursive: true });
    writeFileSync(path.join(dir, 'src', 'a', 'evil'), 'x');
    const dotdot = path.join(dir, 'dotdot.tar.gz');
    execFileSync('tar', ['-C', path.join(dir, 'src', 'a'), '-czPf', dotdot, '--transform', 's,^,../,', 'evil']);
    await assert.rejects(unpacked(dotdot), /Refused to unpack dotdot\.tar\.gz: its member "\.\.\/evil" has a `\.\.` in its path/);
    rmSync(path.join(dir, 'out'), { recursive: true });

    // a symlink `a` to the outside, then a member a/evil: made in order, a/evil would land outside
    const linkDir = path.join(dir, 'links');
    mkdirSync(linkDir);
    symlinkSync(outside, path.join(linkDir, 'a'));
    const through = path.join(dir, 'through.tar');
    execFileSync('tar', ['-C', linkDir, '-cf', through, 'a']);
    execFileSync('tar', ['-C', path.join(dir, 'src'), '-rf', through, 'a/evil']);
    execFileSync('gzip', [through]);
    await assert.rejects(unpacked(`${through}.gz`), /Refused to unpack through\.tar\.gz: its member "a" cannot be made a symbolic link/);
    assert.deepEqual(readdirSync(outside), [], 'nothing was written outside');
  });

  it('a file that is not gzip fails with the reason', async () => {
    const file = path.join(dir, 'not.tgz');
    writeFileSync(file, 'not a gzip stream at all');
    await assert.rejects(unpacked(file), /incorrect header check/);
  });
});
