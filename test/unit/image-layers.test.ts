import { strict as assert } from 'node:assert';
import { ImageFilesystem, isNotFound, resolvePath, type FsNode } from '../../src/image/filesystem';
import { normalizeArchivePath, parsePax, readTar, type TarEntry } from '../../src/image/tar';
import { chunked, tar, type FixtureEntry } from './image-fixtures';

async function entriesOf(archive: Buffer, headBytes = 0): Promise<{ entry: TarEntry; head?: string }[]> {
  const seen: { entry: TarEntry; head?: string }[] = [];
  await readTar(chunked(archive, 97), {
    entry: (entry) => {
      seen.push({ entry });
      return headBytes;
    },
    head: (_entry, head) => {
      seen[seen.length - 1].head = head.toString('utf8');
    },
  });
  return seen;
}

async function filesystem(...layers: FixtureEntry[][]): Promise<ImageFilesystem> {
  const fs = new ImageFilesystem();
  for (const layer of layers) await fs.applyLayerTar(chunked(tar(layer)));
  return fs;
}

function kindAt(fs: ImageFilesystem, p: string): FsNode['kind'] | undefined {
  return fs.node(p)?.kind;
}

describe('tar reader', () => {
  it('reads files, directories, symlinks and hard links with their modes and sizes, in order', async () => {
    const seen = await entriesOf(
      tar([
        { path: './usr/', type: 'directory' },
        { path: './usr/bin/tool', content: 'hello', mode: 0o755 },
        { path: 'usr/bin/alias', type: 'symlink', linkTarget: 'tool' },
        { path: 'usr/bin/copy', type: 'hardlink', linkTarget: 'usr/bin/tool' },
        { path: 'dev/fifo', type: 'fifo' },
      ]),
      3,
    );
    assert.deepEqual(
      seen.map((s) => [s.entry.path, s.entry.type, s.entry.mode.toString(8), s.entry.size, s.entry.linkTarget, s.head]),
      [
        ['usr', 'directory', '755', 0, undefined, undefined],
        ['usr/bin/tool', 'file', '755', 5, undefined, 'hel'],
        ['usr/bin/alias', 'symlink', '644', 0, 'tool', undefined],
        ['usr/bin/copy', 'hardlink', '644', 0, 'usr/bin/tool', undefined],
        ['dev/fifo', 'other', '644', 0, undefined, undefined],
      ],
    );
  });

  const longPath = `app/${'very-long-directory-name/'.repeat(6)}bin/python3`;
  for (const how of ['prefix', 'gnu', 'pax'] as const) {
    it(`reads a path longer than 100 bytes carried by ${how === 'prefix' ? 'the ustar prefix' : how === 'gnu' ? 'a GNU L record' : 'a PAX record'}`, async () => {
      const seen = await entriesOf(
        tar([
          { path: longPath, content: 'x', longName: how },
          { path: 'after', content: 'y' },
        ]),
        1,
      );
      assert.deepEqual(
        seen.map((s) => [s.entry.path, s.head]),
        [
          [longPath, 'x'],
          ['after', 'y'],
        ],
      );
    });
  }

  it('reads a PAX linkpath for a long symlink target', async () => {
    const target = `/opt/${'x'.repeat(120)}/python`;
    const [first] = await entriesOf(tar([{ path: 'usr/bin/python', type: 'symlink', linkTarget: target, longName: 'pax' }]));
    assert.equal(first.entry.linkTarget, target);
  });

  it('skips the data of files it was not asked about, across chunk boundaries', async () => {
    const big = Buffer.alloc(5000, 0x61);
    const seen = await entriesOf(
      tar([
        { path: 'big', content: big },
        { path: 'small', content: 'ok' },
      ]),
      0,
    );
    assert.deepEqual(
      seen.map((s) => [s.entry.path, s.entry.size]),
      [
        ['big', 5000],
        ['small', 2],
      ],
    );
  });

  it('refuses a corrupt header and a stream cut inside an entry', async () => {
    const archive = tar([{ path: 'a', content: 'hello' }]);
    const corrupt = Buffer.from(archive);
    corrupt[0] = 0x41;
    await assert.rejects(entriesOf(corrupt), /checksum mismatch/);
    await assert.rejects(entriesOf(archive.subarray(0, 512 + 100)), /ends/);
  });

  it('parses PAX records and normalises archive paths', () => {
    assert.deepEqual(parsePax(Buffer.from('18 path=a/b/c.txt\n20 linkpath=/x/y/zz\n')), { path: 'a/b/c.txt', linkpath: '/x/y/zz' });
    assert.equal(normalizeArchivePath('./a//b/./c/'), 'a/b/c');
    assert.equal(normalizeArchivePath('/'), '');
  });
});

describe('image filesystem across layers', () => {
  it('lets a later layer replace a file and keeps the head of executables only', async () => {
    const fs = await filesystem(
      [
        { path: 'bin/tool', content: 'old', mode: 0o755 },
        { path: 'etc/data', content: 'not executable' },
      ],
      [{ path: 'bin/tool', content: 'new', mode: 0o755 }],
    );
    const tool = fs.node('/bin/tool');
    assert.equal(tool?.kind === 'file' && tool.head?.toString(), 'new');
    const data = fs.node('/etc/data');
    assert.equal(data?.kind === 'file' && data.head, undefined);
  });

  it('removes a whited-out file and a whited-out directory with everything below it', async () => {
    const fs = await filesystem(
      [
        { path: 'app/run', content: 'x', mode: 0o755 },
        { path: 'app/keep', content: 'y' },
        { path: 'opt/venv/bin/python', content: 'z', mode: 0o755 },
      ],
      [
        { path: 'app/.wh.run', content: '' },
        { path: 'opt/.wh.venv', content: '' },
      ],
    );
    assert.equal(kindAt(fs, '/app/run'), undefined);
    assert.equal(kindAt(fs, '/app/keep'), 'file');
    assert.equal(kindAt(fs, '/opt/venv'), undefined);
    assert.equal(kindAt(fs, '/opt/venv/bin/python'), undefined);
  });

  it('empties an opaque directory of lower layers but keeps what the same layer adds, whatever the entry order', async () => {
    const fs = await filesystem(
      [
        { path: 'app/old', content: 'x' },
        { path: 'app/sub/old', content: 'x' },
      ],
      [
        { path: 'app/sub/new', content: 'n' }, // before the marker: must survive it
        { path: 'app/.wh..wh..opq', content: '' },
        { path: 'app/new', content: 'n' },
      ],
    );
    assert.equal(kindAt(fs, '/app/old'), undefined);
    assert.equal(kindAt(fs, '/app/sub/old'), undefined);
    assert.equal(kindAt(fs, '/app/sub/new'), 'file');
    assert.equal(kindAt(fs, '/app/new'), 'file');
  });

  it('re-adding a whited-out path in a later layer brings it back', async () => {
    const fs = await filesystem(
      [{ path: 'bin/sh', content: 'a', mode: 0o755 }],
      [{ path: 'bin/.wh.sh', content: '' }],
      [{ path: 'bin/sh', content: 'b', mode: 0o755 }],
    );
    const sh = fs.node('/bin/sh');
    assert.equal(sh?.kind === 'file' && sh.head?.toString(), 'b');
  });

  it('replaces a directory by a symlink (merged /usr) and a file by a directory', async () => {
    const fs = await filesystem(
      [
        { path: 'bin/ls', content: 'x', mode: 0o755 },
        { path: 'data', content: 'file first' },
      ],
      [
        { path: 'bin', type: 'symlink', linkTarget: 'usr/bin' },
        { path: 'usr/bin/ls', content: 'y', mode: 0o755 },
        { path: 'data', type: 'directory' },
      ],
    );
    assert.equal(kindAt(fs, '/bin'), 'symlink');
    assert.equal(kindAt(fs, '/data'), 'dir');
    const r = resolvePath(fs, '/bin/ls');
    assert.ok(!isNotFound(r));
    assert.equal(r.path, '/usr/bin/ls');
  });

  it('shares the content of a hard link with its target', async () => {
    const fs = await filesystem([
      { path: 'usr/bin/python3.12', content: '\x7fELF-ish', mode: 0o755 },
      { path: 'usr/bin/python3', type: 'hardlink', linkTarget: 'usr/bin/python3.12', mode: 0o755 },
    ]);
    const node = fs.node('/usr/bin/python3');
    assert.equal(node?.kind === 'file' && node.head?.toString(), '\x7fELF-ish');
  });
});

describe('path resolution in an image', () => {
  let fs: ImageFilesystem;
  before(async () => {
    fs = await filesystem(
      [
        { path: 'usr/bin/python3.12', content: 'py', mode: 0o755 },
        { path: 'usr/bin/python3', type: 'symlink', linkTarget: 'python3.12' },
        { path: 'usr/local/bin/python', type: 'symlink', linkTarget: '/usr/bin/python3' },
        { path: 'lib64', type: 'symlink', linkTarget: 'usr/lib64' },
        { path: 'usr/lib64/ld.so', content: 'ld', mode: 0o755 },
        { path: 'loop/a', type: 'symlink', linkTarget: 'b' },
        { path: 'loop/b', type: 'symlink', linkTarget: 'a' },
        { path: 'etc/passwd', content: 'root' },
      ],
      [
        { path: 'app/.venv/bin/python', type: 'symlink', linkTarget: '../../../usr/local/bin/python' },
        { path: 'app/.venv/bin/python3', type: 'symlink', linkTarget: '/../../usr/bin/python3' },
      ],
    );
  });

  const cases: [string, string, string][] = [
    ['an absolute symlink', '/usr/local/bin/python', '/usr/bin/python3.12'],
    ['a relative symlink', '/usr/bin/python3', '/usr/bin/python3.12'],
    ['a chain of relative and absolute links across layers', '/app/.venv/bin/python', '/usr/bin/python3.12'],
    ['".." above the root, which stays at the root', '/app/.venv/bin/python3', '/usr/bin/python3.12'],
    ['an intermediate directory link', '/lib64/ld.so', '/usr/lib64/ld.so'],
    ['a path relative to a working directory', 'bin/python3', '/usr/bin/python3.12'],
  ];
  for (const [name, input, expected] of cases) {
    it(`follows ${name}`, () => {
      const r = resolvePath(fs, input, '/usr');
      assert.ok(!isNotFound(r), JSON.stringify(r));
      assert.equal(r.path, expected);
    });
  }

  it('records the links it followed', () => {
    const r = resolvePath(fs, '/app/.venv/bin/python');
    assert.ok(!isNotFound(r));
    assert.deepEqual(r.links, [
      '/app/.venv/bin/python -> ../../../usr/local/bin/python',
      '/usr/local/bin/python -> /usr/bin/python3',
      '/usr/bin/python3 -> python3.12',
    ]);
  });

  it('reports a missing file, a file used as a directory and a symlink loop', () => {
    assert.deepEqual(resolvePath(fs, '/usr/bin/python2'), { missing: '/usr/bin/python2', links: [], reason: 'missing' });
    const notDir = resolvePath(fs, '/etc/passwd/x');
    assert.ok(isNotFound(notDir) && notDir.reason === 'not-a-directory');
    const loop = resolvePath(fs, '/loop/a');
    assert.ok(isNotFound(loop) && loop.reason === 'loop');
  });
});
