import { strict as assert } from 'node:assert';
import { checkExtraArguments, splitArguments } from '../../src/buildx/arguments';

describe('splitting the arguments input without a shell', () => {
  const cases: [string, string[]][] = [
    ['', []],
    ['   \n\t ', []],
    ['--no-cache --pull', ['--no-cache', '--pull']],
    ['--label "a=b c"', ['--label', 'a=b c']],
    ["--build-arg 'X=$HOME and $(whoami)'", ['--build-arg', 'X=$HOME and $(whoami)']],
    ['--build-arg X=$HOME', ['--build-arg', 'X=$HOME']],
    ['--label "say \\"hi\\" \\\\ \\$x"', ['--label', 'say "hi" \\ $x']],
    ['--label "keep \\n as is"', ['--label', 'keep \\n as is']],
    ['a\\ b c', ['a b', 'c']],
    ['"" \'\'', ['', '']],
    ['x"y"\'z\'', ['xyz']],
    ['--ulimit\nnofile=1024:1024\r\n--shm-size 2g', ['--ulimit', 'nofile=1024:1024', '--shm-size', '2g']],
    ['one \\\ntwo', ['one', 'two']],
    ['*.txt ; rm -rf / && echo `id`', ['*.txt', ';', 'rm', '-rf', '/', '&&', 'echo', '`id`']],
  ];
  for (const [text, words] of cases) {
    it(`splits ${JSON.stringify(text)}`, () => assert.deepEqual(splitArguments(text), words));
  }

  it('refuses unterminated quotes and a trailing backslash, saying where', () => {
    assert.throws(() => splitArguments('--label "a=b'), /double quote opened at character 9 is never closed/);
    assert.throws(() => splitArguments("--label 'a=b"), /single quote opened at character 9 is never closed/);
    assert.throws(() => splitArguments('--label a\\'), /lone backslash/);
  });
});

describe('what extra arguments may not do', () => {
  const allowed: [string, string[]][] = [
    ['plain options', ['--no-cache', '--pull', '--network', 'none']],
    ['options with = values', ['--shm-size=2g', '--ulimit=nofile=1024:1024']],
    ['options taking a value that looks like a word', ['--add-host', 'db:127.0.0.1', '--build-context', 'lib=../lib']],
    ['a secret given by file', ['--secret', 'id=x,src=/tmp/x']],
  ];
  for (const [name, words] of allowed) {
    it(`allows ${name}`, () => assert.deepEqual(checkExtraArguments(words, { cache: 'registry' }), words));
  }

  const refused: [string, string[], RegExp][] = [
    ['--push', ['--push'], /--push is set by the 'push' input/],
    ['--output', ['--output', 'type=local,dest=out'], /--output is set by the task/],
    ['-o', ['-o=type=tar'], /-o is set by the task/],
    ['--metadata-file', ['--metadata-file', '/tmp/x.json'], /--metadata-file is set by the task/],
    ['--platform', ['--platform=linux/arm64'], /--platform is set by the 'platforms' input/],
    ['-t', ['-t', 'other:tag'], /-t is set by the 'tags' input/],
    ['--file', ['--file', 'Other.Dockerfile'], /--file is set by the 'dockerfile' input/],
    ['--load', ['--load'], /--load is set by the task/],
    ['--builder', ['--builder', 'x'], /--builder is set by the 'builder' input/],
    ['--provenance', ['--provenance=true'], /--provenance is set by the 'attestations' input/],
    [
      '--cache-to while the cache input owns it',
      ['--cache-to', 'type=local,dest=/c'],
      /--cache-to is set by the 'cache' input; set cache to none/,
    ],
    ['a positional context', ['--no-cache', '.'], /'\.' is not an option; the build context comes from the 'buildContext' input/],
  ];
  for (const [name, words, reason] of refused) {
    it(`refuses ${name}`, () => assert.throws(() => checkExtraArguments(words, { cache: 'registry' }), reason));
  }

  it('allows the cache flags when the cache input is none', () => {
    assert.deepEqual(checkExtraArguments(['--cache-from', 'type=local,src=/c'], { cache: 'none' }), ['--cache-from', 'type=local,src=/c']);
  });

  it('names every problem at once', () => {
    assert.throws(
      () => checkExtraArguments(['--push', '--platform', 'linux/arm64', 'ctx'], { cache: 'none' }),
      /--push .*; --platform .*; 'ctx' is not an option/,
    );
  });
});
