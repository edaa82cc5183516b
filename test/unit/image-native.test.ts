import { strict as assert } from 'node:assert';
import { ImageFilesystem } from '../../src/image/filesystem';
import { applicationDirectories, checkNativeFiles } from '../../src/image/native';
import type { ImageConfig } from '../../src/registry/oci';
import { RecordingLogger } from '../../src/log';
import { parsePlatform } from '../../src/platform/platform';
import { busybox, chunked, craftedElf, tar, type FixtureEntry } from './image-fixtures';
import { MemorySource, busyboxRoot } from './image-sources';
import { verifyImage } from '../../src/image/verify';

const amd64 = parsePlatform('linux/amd64');
const so = (machine: number) => Buffer.concat([craftedElf({ bits: 64, endianness: 'little', machine }), Buffer.alloc(512)]);
const ARM64 = 183;
const X86_64 = 62;
const site = 'app/.venv/lib/python3.12/site-packages';

/** The field report's image: amd64 busybox as the image's own python, a .venv pointing at it, native modules below. */
function venvImage(modules: FixtureEntry[]): FixtureEntry[][] {
  return [
    busyboxRoot('amd64'),
    [
      { path: 'usr/local/bin/python3.12', content: busybox.amd64(), mode: 0o755 },
      { path: 'app/.venv/bin/python', type: 'symlink', linkTarget: '/usr/local/bin/python3.12' },
      { path: 'app/.venv/bin/uvicorn', content: '#!/app/.venv/bin/python\nimport uvicorn\n', mode: 0o755 },
      { path: 'app/main.py', content: 'app = None\n' },
      ...modules,
    ],
  ];
}
const venvConfig: NonNullable<ImageConfig['config']> = {
  WorkingDir: '/app',
  Env: ['PATH=/app/.venv/bin:/usr/local/bin:/bin'],
  Cmd: ['uvicorn', 'main:app'],
};

describe('the directories the application runs from', () => {
  const cases: [string, NonNullable<ImageConfig['config']>, string[]][] = [
    ['a venv under WORKDIR folds into WORKDIR', venvConfig, ['/app']],
    [
      'VIRTUAL_ENV, PYTHONPATH, a PATH entry and an absolute entrypoint',
      {
        WorkingDir: '/srv/app',
        Env: ['PATH=/opt/venv/bin:/usr/local/bin:/usr/bin', 'VIRTUAL_ENV=/opt/venv', 'PYTHONPATH=/srv/lib:vendor'],
        Entrypoint: ['/opt/tool/bin/run'],
      },
      ['/opt/tool', '/opt/venv', '/srv/app', '/srv/lib'],
    ],
    ['none for the system directories alone', { Cmd: ['httpd', '-f'], WorkingDir: '/' }, []],
    ['none for a WORKDIR that is the system', { WorkingDir: '/usr/local', Entrypoint: ['/usr/bin/python3'] }, []],
    ['a relative PATH entry from WORKDIR', { WorkingDir: '/w', Env: ['PATH=../tools/bin:/bin'] }, ['/tools', '/w']],
  ];
  for (const [name, config, dirs] of cases) it(name, () => assert.deepEqual(applicationDirectories(config), dirs));
});

describe('every ELF file under the application directories', () => {
  const logger = new RecordingLogger();

  async function verify(layers: FixtureEntry[][], config: NonNullable<ImageConfig['config']> = venvConfig, checkNativeFiles?: boolean) {
    const source = new MemorySource();
    const image = source.image({ architecture: 'amd64', layers, config });
    return verifyImage({ source, digest: image.digest, requested: [amd64], checkPrograms: true, checkNativeFiles, logger });
  }

  it('refuses an amd64 image whose own python is right but whose .venv carries an arm64 .so (not executable), naming it', async () => {
    const result = await verify(
      venvImage([
        { path: `${site}/fast/_speedups.cpython-312-aarch64-linux-gnu.so`, content: so(ARM64), mode: 0o644 },
        { path: `${site}/ok/_ok.so`, content: so(X86_64), mode: 0o644 },
      ]),
    );
    assert.equal(result.problems.length, 1, result.problems.join('\n'));
    assert.match(
      result.problems[0],
      /^linux\/amd64: 1 of the 2 ELF files under \/app is built for another machine than linux\/amd64 .*: \/app\/\.venv\/lib\/python3\.12\/site-packages\/fast\/_speedups\.cpython-312-aarch64-linux-gnu\.so \(ELF 64-bit arm64\)$/,
    );
    assert.equal(result.platforms[0].program?.problem, undefined, 'the entrypoint chain itself is right');
    assert.equal(result.platforms[0].native?.files, 4, 'uvicorn, main.py and the two modules');
  });

  it('names the first 5 wrong files in path order and counts the rest', async () => {
    const modules = Array.from({ length: 7 }, (_, i) => ({ path: `${site}/m${i}/_m.so`, content: so(ARM64), mode: 0o755 }));
    const result = await verify(venvImage(modules.reverse()));
    const [problem] = result.problems;
    assert.match(problem, /7 of the 7 ELF files under \/app are built for another machine/);
    assert.deepEqual(
      [...problem.matchAll(/site-packages\/(m\d)\/_m\.so/g)].map((m) => m[1]),
      ['m0', 'm1', 'm2', 'm3', 'm4'],
    );
    assert.match(problem, /, and 2 more$/);
  });

  it('passes when every native module fits, and when a later layer deleted the foreign one', async () => {
    const fits = await verify(venvImage([{ path: `${site}/ok/_ok.so`, content: so(X86_64) }]));
    assert.deepEqual(fits.problems, []);
    assert.equal(fits.platforms[0].native?.elfFiles, 1, 'the python behind the entrypoint is judged by the program check');

    const layers = venvImage([{ path: `${site}/fast/_speedups.so`, content: so(ARM64) }]);
    layers.push([{ path: `${site}/fast/.wh._speedups.so` }]);
    assert.deepEqual((await verify(layers)).problems, []);
  });

  it('looks only under the application directories, and not at all when asked not to', async () => {
    const elsewhere = venvImage([{ path: 'opt/other/_x.so', content: so(ARM64) }]);
    assert.deepEqual((await verify(elsewhere)).problems, []);
    const off = await verify(venvImage([{ path: `${site}/fast/_speedups.so`, content: so(ARM64) }]), venvConfig, false);
    assert.deepEqual(off.problems, []);
    assert.equal(off.platforms[0].native, undefined);
  });

  it('stops after a bound of files and says so', async () => {
    const fs = new ImageFilesystem({ headsUnder: ['/app'] });
    const entries: FixtureEntry[] = Array.from({ length: 10 }, (_, i) => ({ path: `app/f${i}.so`, content: so(ARM64) }));
    await fs.applyLayerTar(chunked(tar(entries)));
    const bounded = checkNativeFiles(fs, ['/app'], amd64, { maxFiles: 4 });
    assert.equal(bounded.files, 4);
    assert.equal(bounded.wrong.length, 4);
    assert.match(bounded.notes[0], /stopped after 4 files under \/app; the files past them were not checked/);
    assert.equal(checkNativeFiles(fs, ['/app'], amd64).wrong.length, 10);
  });
});
