// The platform proof against an image whose programs belong to another OS than the one it claims: a "windows/amd64"
// image built on a Linux builder holds Linux ELF files; a "linux/amd64" image may start a Windows or macOS program.
import { strict as assert } from 'node:assert';
import { programOs } from '../../src/image/elf';
import { ImageFilesystem } from '../../src/image/filesystem';
import { checkForeignOsImage, checkProgram, programsOfAnotherOs } from '../../src/image/program';
import { parsePlatform } from '../../src/platform/platform';
import { busybox, chunked, craftedElf, tar, type FixtureEntry } from './image-fixtures';

async function image(layer: FixtureEntry[]): Promise<ImageFilesystem> {
  const fs = new ImageFilesystem();
  await fs.applyLayerTar(chunked(tar(layer), 4096));
  return fs;
}

const pe = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(126)]);
const machO = Buffer.concat([Buffer.from([0xcf, 0xfa, 0xed, 0xfe]), Buffer.alloc(60)]);
const freebsdElf = (() => {
  const elf = craftedElf({ bits: 64, endianness: 'little', machine: 62 });
  elf[7] = 9; // ELFOSABI_FREEBSD
  return elf;
})();

describe('programs of another OS', () => {
  it('tells the OS of a program from its first bytes', () => {
    assert.equal(programOs(busybox.amd64().subarray(0, 64)), 'linux');
    assert.equal(programOs(freebsdElf), 'freebsd');
    assert.equal(programOs(pe), 'windows');
    assert.equal(programOs(machO), 'darwin');
    assert.equal(programOs(Buffer.from('#!/bin/sh\n')), undefined);
    assert.equal(programOs(undefined), undefined);
  });

  it('a windows image holding Linux programs fails, naming the files and the count', async () => {
    const fs = await image([
      { path: 'bin/busybox', content: busybox.amd64().subarray(0, 4096), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkTarget: '/bin/busybox' },
      { path: 'app/a', content: craftedElf({ bits: 64, endianness: 'little', machine: 62 }), mode: 0o755 },
      { path: 'app/b', content: craftedElf({ bits: 64, endianness: 'little', machine: 62 }), mode: 0o755 },
      { path: 'app/c', content: craftedElf({ bits: 64, endianness: 'little', machine: 62 }), mode: 0o755 },
      { path: 'Files/app.exe', content: pe, mode: 0o755 },
    ]);
    const check = checkForeignOsImage(fs, { Entrypoint: ['/bin/busybox'] }, parsePlatform('windows/amd64'));
    assert.match(
      check.problem ?? '',
      /^the image says windows\/amd64, but its programs are linux programs: \/app\/a \(linux\), \/app\/b \(linux\), \/app\/c \(linux\) and 1 more\. windows cannot run them\./,
    );
    assert.deepEqual(
      programsOfAnotherOs(fs, 'windows').map((f) => f.path),
      ['/app/a', '/app/b', '/app/c', '/bin/busybox'],
    );
  });

  it('a windows image of Windows programs passes, with a note', async () => {
    const fs = await image([{ path: 'Files/app.exe', content: pe, mode: 0o755 }]);
    const check = checkForeignOsImage(fs, { Entrypoint: ['C:\\app.exe'] }, parsePlatform('windows/amd64'));
    assert.equal(check.problem, undefined);
    assert.match(check.notes.join(' '), /no program of another system was found/);
  });

  for (const [what, content, os] of [
    ['a Windows PE', pe, 'windows'],
    ['a macOS Mach-O', machO, 'darwin'],
    ['a FreeBSD ELF', freebsdElf, 'freebsd'],
  ] as const) {
    it(`a linux image whose entrypoint is ${what} program fails naming that OS`, async () => {
      const fs = await image([{ path: 'app', content, mode: 0o755 }]);
      const check = checkProgram(fs, { Entrypoint: ['/app'] }, parsePlatform('linux/amd64'));
      assert.equal(
        check.problem,
        `the entrypoint /app is a ${os} program, but the image says linux/amd64: linux cannot run it ('exec format error')`,
      );
    });
  }
});
