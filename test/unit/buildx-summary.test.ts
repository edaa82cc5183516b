import { strict as assert } from 'node:assert';
import { buildSummary, describeProgram, formatBytes, formatDuration } from '../../src/buildx/summary';
import { parseElfHeader } from '../../src/image/elf';
import type { Verification } from '../../src/image/verify';
import { parsePlatform, parsePlatformList } from '../../src/platform/platform';
import { busybox } from './image-fixtures';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

const verification: Verification = {
  digest: digest('a'),
  kind: 'index',
  attestations: 0,
  problems: [],
  platforms: [
    {
      platform: parsePlatform('linux/amd64'),
      manifestDigest: digest('b'),
      configDigest: digest('c'),
      size: 1_070_489,
      layers: 3,
      program: {
        argv: ['/bin/sh', '-c', 'cat /built.txt'],
        files: [
          {
            path: '/bin/busybox',
            links: ['/bin/sh -> /bin/busybox'],
            kind: 'elf',
            elf: parseElfHeader(busybox.amd64().subarray(0, 1024)),
            role: 'command',
          },
        ],
        notes: [],
      },
    },
  ],
};

describe('the build summary', () => {
  it('names the pushed reference, tags, cache use, the proof and every platform with digest, size and program', () => {
    const markdown = buildSummary({
      imageName: 'contoso.azurecr.io/team/app',
      digest: digest('a'),
      tags: ['4711', 'latest'],
      platforms: parsePlatformList('linux/amd64'),
      mode: 'single',
      cache: { mode: 'registry', ref: 'contoso.azurecr.io/team/app:buildcache', use: { steps: 4, cached: 3 } },
      verification,
      buildMs: 83_000,
      pushMs: 2_000,
      verifyMs: 1_400,
    });
    assert.match(markdown, /^### contoso\.azurecr\.io\/team\/app for linux\/amd64$/m);
    assert.match(markdown, new RegExp(`\\| Image \\| \`contoso\\.azurecr\\.io/team/app@${digest('a')}\` \\|`));
    assert.match(markdown, /\| Tags \| `4711`, `latest` \|/);
    assert.match(markdown, /\| Cache \| registry \(`contoso\.azurecr\.io\/team\/app:buildcache`\): 3 of 4 steps from the cache \|/);
    assert.match(markdown, /\| Platform proof \| passed: the registry holds exactly linux\/amd64 \|/);
    assert.match(markdown, /\| Duration \| 1 min 23 s build, 2 s push, 1 s verification \|/);
    assert.match(
      markdown,
      new RegExp(`\\| linux/amd64 \\| \`${digest('b')}\` \\| 1\\.0 MiB \\| \`/bin/busybox\` \\(ELF amd64, static\\) \\|`),
    );
  });

  it('puts a failed proof in bold and escapes table characters', () => {
    const failed: Verification = { ...verification, problems: ['linux/amd64: the command /bin/sh | x is an ELF arm64 binary'] };
    const markdown = buildSummary({
      imageName: 'r/a',
      digest: digest('a'),
      tags: ['1'],
      platforms: parsePlatformList('linux/amd64'),
      mode: 'per-platform',
      cache: { mode: 'none', use: { steps: 2, cached: 0 } },
      verification: failed,
      buildMs: 1000,
    });
    assert.match(markdown, /\| Platform proof \| \*\*failed\*\*: linux\/amd64: the command \/bin\/sh \\\| x is an ELF arm64 binary \|/);
    assert.match(markdown, /\| Cache \| off \|/);
    assert.match(markdown, /one platform at a time, joined into one index/);
  });

  it('says when nothing was pushed or the proof was off', () => {
    const markdown = buildSummary({
      imageName: 'r/a',
      tags: ['1'],
      platforms: parsePlatformList('linux/arm64'),
      mode: 'single',
      cache: { mode: 'inline', use: { steps: 1, cached: 1 } },
      verifySkipped: 'off (verifyPlatforms: false)',
      buildMs: 500,
    });
    assert.match(markdown, /\| Image \| not pushed \|/);
    assert.match(markdown, /\| Platform proof \| off \(verifyPlatforms: false\) \|/);
    assert.doesNotMatch(markdown, /\| Platform \| Manifest/);
  });

  it('describes programs and formats sizes and durations', () => {
    assert.equal(describeProgram(undefined), 'not checked');
    assert.equal(describeProgram({ argv: undefined, files: [], notes: [] }), 'no Entrypoint/Cmd');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(250 * 1024 * 1024), '250 MiB');
    assert.equal(formatDuration(59_400), '59 s');
    assert.equal(formatDuration(61_000), '1 min 1 s');
  });
});
