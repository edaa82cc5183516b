import { strict as assert } from 'node:assert';
import { ImageFilesystem } from '../../src/image/filesystem';
import { checkProgram, envProgram, parseShebang, shellScriptProgram, type RunConfig } from '../../src/image/program';
import { parsePlatform } from '../../src/platform/platform';
import { busybox, chunked, craftedElf, tar, type FixtureEntry } from './image-fixtures';

const amd64 = parsePlatform('linux/amd64');
const arm64 = parsePlatform('linux/arm64');

async function image(...layers: FixtureEntry[][]): Promise<ImageFilesystem> {
  const fs = new ImageFilesystem();
  for (const layer of layers) await fs.applyLayerTar(chunked(tar(layer), 4096));
  return fs;
}

/** A busybox root like the lab's base: /bin/busybox plus applet links. */
function busyboxLayer(arch: 'amd64' | 'arm64'): FixtureEntry[] {
  return [
    { path: 'bin/busybox', content: busybox[arch]().subarray(0, 4096), mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', linkTarget: '/bin/busybox' },
    { path: 'bin/cat', type: 'symlink', linkTarget: '/bin/busybox' },
    { path: 'usr/bin/env', type: 'symlink', linkTarget: '/bin/busybox' },
  ];
}

const dynamicAmd64 = craftedElf({ bits: 64, endianness: 'little', machine: 62, interpreter: '/lib64/ld-linux-x86-64.so.2' });
const loaderAmd64 = craftedElf({ bits: 64, endianness: 'little', machine: 62 });
const dynamicArm64 = craftedElf({ bits: 64, endianness: 'little', machine: 183, interpreter: '/lib/ld-linux-aarch64.so.1' });

/** The seed: a venv made on an arm64 Mac copied into an image whose metadata says amd64. */
function seedLayers(pythonArch: 'amd64' | 'arm64'): FixtureEntry[][] {
  return [
    [
      ...busyboxLayer('amd64'),
      { path: 'lib64/ld-linux-x86-64.so.2', content: loaderAmd64, mode: 0o755 },
      { path: 'usr/local/bin/python3.12', content: pythonArch === 'amd64' ? dynamicAmd64 : dynamicArm64, mode: 0o755 },
      { path: 'usr/local/bin/python3', type: 'symlink', linkTarget: 'python3.12' },
    ],
    [
      { path: 'app/.venv/bin/python', type: 'symlink', linkTarget: '/usr/local/bin/python3' },
      { path: 'app/.venv/bin/uvicorn', content: '#!/app/.venv/bin/python\nimport uvicorn\n', mode: 0o755 },
      { path: 'app/main.py', content: 'app = None\n' },
    ],
  ];
}

describe('the program an image starts', () => {
  it('refuses the seed: /app/.venv/bin/python links to an arm64 binary in a linux/amd64 image', async () => {
    const fs = await image(...seedLayers('arm64'));
    const check = checkProgram(fs, { Entrypoint: ['/app/.venv/bin/python'], Cmd: ['main.py'] }, amd64);
    assert.match(
      check.problem ?? '',
      /entrypoint \/app\/\.venv\/bin\/python .*\/usr\/local\/bin\/python3\.12\) is an ELF 64-bit arm64 binary, but the image is linux\/amd64/,
    );
    assert.match(check.problem ?? '', /exec format error/);
  });

  it('finds the same through PATH, a #! script and the symlinked interpreter', async () => {
    const fs = await image(...seedLayers('arm64'));
    const config: RunConfig = { Env: ['PATH=/app/.venv/bin:/usr/local/bin:/usr/bin:/bin'], Cmd: ['uvicorn', 'main:app'] };
    const check = checkProgram(fs, config, amd64);
    assert.match(
      check.problem ?? '',
      /interpreter of \/app\/\.venv\/bin\/uvicorn \/app\/\.venv\/bin\/python .* is an ELF 64-bit arm64 binary/,
    );
    assert.deepEqual(
      check.files.map((f) => [f.path, f.kind]),
      [
        ['/app/.venv/bin/uvicorn', 'script'],
        ['/usr/local/bin/python3.12', 'elf'],
      ],
    );
  });

  it('passes the same image when the venv python is amd64, and checks its dynamic loader', async () => {
    const fs = await image(...seedLayers('amd64'));
    const check = checkProgram(fs, { Env: ['PATH=/app/.venv/bin:/usr/bin:/bin'], Cmd: ['uvicorn', 'main:app'] }, amd64);
    assert.equal(check.problem, undefined);
    assert.deepEqual(
      check.files.map((f) => [f.path, f.role]),
      [
        ['/app/.venv/bin/uvicorn', 'command'],
        ['/usr/local/bin/python3.12', 'interpreter of /app/.venv/bin/uvicorn'],
        ['/lib64/ld-linux-x86-64.so.2', 'dynamic loader of /usr/local/bin/python3.12'],
      ],
    );
    assert.ok(check.notes.some((n) => /dynamically linked/.test(n)));
  });

  it('follows `#!/usr/bin/env python3` to the python that PATH finds', async () => {
    const fs = await image(...seedLayers('arm64'), [{ path: 'app/serve', content: '#!/usr/bin/env python3\nprint(1)\n', mode: 0o755 }]);
    const check = checkProgram(fs, { Entrypoint: ['./serve'], WorkingDir: '/app', Env: ['PATH=/usr/local/bin:/bin'] }, amd64);
    assert.match(check.problem ?? '', /program that \/usr\/bin\/env starts for \/app\/serve python3 .* is an ELF 64-bit arm64 binary/);
  });

  it('passes a static busybox image with a shell-form command, and says what it checked', async () => {
    const fs = await image(busyboxLayer('arm64'));
    const check = checkProgram(fs, { Cmd: ['/bin/sh', '-c', 'cat /built.txt'], Env: ['PATH=/bin'] }, arm64);
    assert.equal(check.problem, undefined);
    assert.deepEqual(check.files[0].links, ['/bin/sh -> /bin/busybox']);
    assert.ok(check.notes.includes('/bin/busybox: statically linked'));
  });

  it('checks the program a plain `sh -c` script starts', async () => {
    const fs = await image(busyboxLayer('amd64'), [{ path: 'app/server', content: busybox.arm64().subarray(0, 2048), mode: 0o755 }]);
    const check = checkProgram(fs, { Cmd: ['/bin/sh', '-c', 'exec /app/server --port 80'] }, amd64);
    assert.match(check.problem ?? '', /the program the shell command starts \/app\/server is an ELF 64-bit arm64 binary/);
  });

  it('notes a shell script it cannot follow instead of failing', async () => {
    const fs = await image(busyboxLayer('amd64'));
    const check = checkProgram(fs, { Cmd: ['/bin/sh', '-c', 'if true; then $APP; fi'] }, amd64);
    assert.equal(check.problem, undefined);
    assert.ok(check.notes.some((n) => /not a plain command/.test(n)));
  });

  it('refuses the arm64 busybox in an amd64 image, naming both architectures', async () => {
    const fs = await image(busyboxLayer('arm64'));
    const check = checkProgram(fs, { Cmd: ['/bin/sh', '-c', 'true'] }, amd64);
    assert.match(
      check.problem ?? '',
      /the command \/bin\/sh \(\/bin\/sh -> \/bin\/busybox, \/bin\/busybox\) is an ELF 64-bit arm64 binary, but the image is linux\/amd64 \(it needs amd64\)/,
    );
  });

  it('refuses a script without #! (exec format error) and a file that is not executable', async () => {
    const fs = await image(busyboxLayer('amd64'), [
      { path: 'run.sh', content: 'echo hi\n', mode: 0o755 },
      { path: 'data.bin', content: 'x', mode: 0o644 },
    ]);
    assert.match(checkProgram(fs, { Cmd: ['/run.sh'] }, amd64).problem ?? '', /neither an ELF binary nor a script with a #! line/);
    assert.match(checkProgram(fs, { Cmd: ['/data.bin'] }, amd64).problem ?? '', /not executable \(mode 644\)/);
  });

  it('refuses a program that is missing, with the places it looked', async () => {
    const fs = await image(busyboxLayer('amd64'));
    assert.match(
      checkProgram(fs, { Cmd: ['gunicorn'], Env: ['PATH=/usr/local/bin:/bin'] }, amd64).problem ?? '',
      /'gunicorn' is not an executable file on the image's PATH \(looked in \/usr\/local\/bin\/gunicorn, \/bin\/gunicorn\)/,
    );
    assert.match(
      checkProgram(fs, { Entrypoint: ['/app/.venv/bin/python'] }, amd64).problem ?? '',
      /\/app\/\.venv\/bin\/python does not exist in the image: \/app is missing/,
    );
  });

  it('refuses a dynamically linked program whose loader the image lacks', async () => {
    const fs = await image(busyboxLayer('amd64'), [{ path: 'app/server', content: dynamicAmd64, mode: 0o755 }]);
    assert.match(
      checkProgram(fs, { Entrypoint: ['/app/server'] }, amd64).problem ?? '',
      /loader \/lib64\/ld-linux-x86-64\.so\.2, which the image does not have/,
    );
  });

  it("uses docker's default PATH when the image sets none", async () => {
    const fs = await image(busyboxLayer('amd64'));
    assert.equal(checkProgram(fs, { Cmd: ['cat', '/etc/hostname'] }, amd64).problem, undefined);
  });

  it('says so when the image has no Entrypoint and no Cmd', async () => {
    const fs = await image(busyboxLayer('amd64'));
    const check = checkProgram(fs, { Entrypoint: null, Cmd: null }, amd64);
    assert.equal(check.problem, undefined);
    assert.equal(check.argv, undefined);
    assert.match(check.notes[0], /neither Entrypoint nor Cmd/);
  });
});

describe('#! lines, env and shell scripts', () => {
  const shebangs: [string, ReturnType<typeof parseShebang>][] = [
    ['#!/bin/sh\n', { interpreter: '/bin/sh' }],
    ['#! /usr/bin/env python3\n', { interpreter: '/usr/bin/env', argument: 'python3' }],
    ['#!/usr/bin/env -S python3 -u\r\n', { interpreter: '/usr/bin/env', argument: '-S python3 -u' }],
    ['#!/bin/bash -e\nset -x', { interpreter: '/bin/bash', argument: '-e' }],
    ['echo no shebang', undefined],
    ['#!\n', undefined],
  ];
  for (const [text, expected] of shebangs) {
    it(`parses ${JSON.stringify(text)}`, () => assert.deepEqual(parseShebang(Buffer.from(text)), expected));
  }

  it('finds the program env starts', () => {
    assert.equal(envProgram('python3'), 'python3');
    assert.equal(envProgram('-S python3 -u'), 'python3');
    assert.equal(envProgram('-S PYTHONUNBUFFERED=1 python3'), 'python3');
    assert.equal(envProgram(undefined), undefined);
  });

  it('takes the first word of plain shell commands only', () => {
    assert.equal(shellScriptProgram('exec uvicorn main:app'), 'uvicorn');
    assert.equal(shellScriptProgram('PORT=80 ./server'), './server');
    assert.equal(shellScriptProgram('$APP --flag'), undefined);
    assert.equal(shellScriptProgram('(cd /app && run)'), undefined);
  });
});
