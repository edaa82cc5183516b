import { strict as assert } from 'node:assert';
import {
  compareVersions,
  coreVersion,
  parseBuildxVersion,
  parseDockerCliVersion,
  parseVersionPin,
  satisfiesPin,
} from '../../src/docker/version';

describe('docker and buildx versions', () => {
  const cli: [string, string | undefined][] = [
    ['Docker version 28.2.2, build e6534b4', '28.2.2'],
    ['Docker version 26.1.5+dfsg1, build a72d7cd\n', '26.1.5+dfsg1'],
    ['Docker version 20.10.24+dfsg1, build 297e128', '20.10.24+dfsg1'],
    ['podman version 4.3.1', undefined],
  ];
  for (const [text, version] of cli) it(`reads ${JSON.stringify(text.trim())}`, () => assert.equal(parseDockerCliVersion(text), version));

  const buildx: [string, string | undefined][] = [
    ['github.com/docker/buildx v0.21.2 1360a9e8d25a2c3d03c2776d53ae62e6ff0a843d', '0.21.2'],
    ['github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3', '0.13.1+ds1'],
    ['github.com/docker/buildx v0.17.1-desktop.1 257815a6fb95d1b8a0b1d6d2d7ab1b2c2f3d7e1c', '0.17.1-desktop.1'],
    ["docker: 'buildx' is not a docker command.", undefined],
  ];
  for (const [text, version] of buildx) it(`reads ${JSON.stringify(text)}`, () => assert.equal(parseBuildxVersion(text), version));

  it('compares the release part only', () => {
    assert.equal(coreVersion('26.1.5+dfsg1'), '26.1.5');
    assert.ok(compareVersions('0.13.1+ds1', '0.12') > 0);
    assert.ok(compareVersions('27.3.1', '27.10.0') < 0);
    assert.equal(compareVersions('v0.21.2', '0.21.2'), 0);
  });

  it('takes full release numbers as pins and refuses the rest with the fix', () => {
    assert.equal(parseVersionPin('27.3.1'), '27.3.1');
    assert.equal(parseVersionPin('v27.3.1'), '27.3.1');
    assert.equal(parseVersionPin(''), undefined);
    assert.equal(parseVersionPin(undefined), undefined);
    for (const bad of ['27', '27.3', 'latest', '27.3.x', '>=27.0.0']) assert.throws(() => parseVersionPin(bad), /not a version.*27\.3\.1/);
  });

  it('says whether a distribution build satisfies a pin', () => {
    assert.ok(satisfiesPin('26.1.5+dfsg1', '26.1.5'));
    assert.ok(!satisfiesPin('26.1.4', '26.1.5'));
  });
});
