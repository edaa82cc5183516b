import { strict as assert } from 'node:assert';
import { formatPlatform, parsePlatform, parsePlatformList, platformOfMachine, samePlatform } from '../../src/platform/platform';

describe('platforms', () => {
  const valid: [string, string][] = [
    ['linux/amd64', 'linux/amd64'],
    [' Linux/AMD64 ', 'linux/amd64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/v6', 'linux/arm/v6'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/riscv64', 'linux/riscv64'],
  ];
  for (const [input, canonical] of valid) {
    it(`reads ${JSON.stringify(input)} as ${canonical}`, () => assert.equal(formatPlatform(parsePlatform(input)), canonical));
  }

  const invalid: [string, RegExp][] = [
    ['linux/amd65', /unknown architecture 'amd65'/],
    ['amd64', /not a platform.*os\/architecture/],
    ['', /empty platform/],
    ['linux/', /not a platform/],
    ['linux/amd64/v8/x', /not a platform/],
    ['plan9/amd64', /unknown operating system 'plan9'/],
    ['linux/arm64/x9', /unknown variant 'x9'/],
  ];
  for (const [input, reason] of invalid) {
    it(`refuses ${JSON.stringify(input)}`, () => assert.throws(() => parsePlatform(input), reason));
  }

  it('reads lists separated by commas or lines and refuses duplicates and empty entries', () => {
    assert.deepEqual(parsePlatformList('linux/amd64,linux/arm64').map(formatPlatform), ['linux/amd64', 'linux/arm64']);
    assert.deepEqual(parsePlatformList('linux/amd64\nlinux/arm/v7').map(formatPlatform), ['linux/amd64', 'linux/arm/v7']);
    assert.throws(() => parsePlatformList('linux/arm64,linux/arm64/v8'), /linux\/arm64 is listed twice/);
    assert.throws(() => parsePlatformList('linux/amd64,,linux/arm64'), /empty platform/);
    assert.throws(() => parsePlatformList(''), /no platform/);
  });

  it('compares platforms the way registries report them', () => {
    assert.ok(samePlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' }));
    assert.ok(!samePlatform({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm' }));
  });

  it('names the machine it runs on', () => {
    assert.equal(formatPlatform(platformOfMachine('x64')), 'linux/amd64');
    assert.equal(formatPlatform(platformOfMachine('aarch64')), 'linux/arm64');
    assert.throws(() => platformOfMachine('vax'), /unknown machine/);
  });
});
