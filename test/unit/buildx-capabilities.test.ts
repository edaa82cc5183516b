import { strict as assert } from 'node:assert';
import { parseBuildxInspect as parseBuilderInspect } from '../../src/buildx/builder';
import {
  capabilitiesOf,
  hasAnnotationFlag,
  hasAttestationFlags,
  readBuildxVersion,
  unsupportedPlatformMessage,
  unsupportedPlatforms,
  usesContainerdImageStore,
} from '../../src/buildx/capabilities';
import { runsOnTargetPlatform } from '../../src/buildx/dockerfile';
import { builtImageDigest, cacheUse, pushedIndexDigest } from '../../src/buildx/metadata';
import { formatPlatform, parsePlatformList } from '../../src/platform/platform';

// As printed by buildx 0.13.1 against Docker 26 in the lab.
const dockerDriver = `Name:          default
Driver:        docker
Last Activity: 2026-11-29 08:49:34 +0000 UTC

Nodes:
Name:             default
Endpoint:         default
Status:           running
BuildKit version: v0.0.0+unknown
Platforms:        linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/amd64/v4, linux/386
Labels:
 org.mobyproject.buildkit.worker.moby.host-gateway-ip: <nil>
`;

const twoNodes = `Name:   multi
Driver: remote

Nodes:
Name:      multi0
Endpoint:  tcp://amd:1234
Status:    running
Platforms: linux/amd64*, linux/386

Name:      multi1
Endpoint:  tcp://arm:1234
Status:    running
Platforms: linux/arm64*, linux/arm/v7, linux/mips64
`;

describe('builder capabilities', () => {
  it('reads buildx inspect of the docker driver', () => {
    const info = parseBuilderInspect(dockerDriver);
    assert.equal(info.name, 'default');
    assert.equal(info.driver, 'docker');
    assert.equal(info.nodes.length, 1);
    assert.equal(info.nodes[0].status, 'running');
    assert.deepEqual(info.nodes[0].platforms.map(formatPlatform), [
      'linux/amd64',
      'linux/amd64/v2',
      'linux/amd64/v3',
      'linux/amd64/v4',
      'linux/386',
    ]);
  });

  it('reads several nodes, configured platforms (*) and platforms it does not know', () => {
    const info = parseBuilderInspect(twoNodes);
    assert.deepEqual(
      info.nodes.map((n) => [n.name, n.endpoint, n.platforms.map(formatPlatform)]),
      [
        ['multi0', 'tcp://amd:1234', ['linux/amd64', 'linux/386']],
        ['multi1', 'tcp://arm:1234', ['linux/arm64', 'linux/arm/v7', 'linux/mips64']],
      ],
    );
  });

  it('finds the platforms the builder cannot run and says how to fix it', () => {
    const info = parseBuilderInspect(dockerDriver);
    const missing = unsupportedPlatforms(parsePlatformList('linux/amd64,linux/arm64'), info);
    assert.deepEqual(missing.map(formatPlatform), ['linux/arm64']);
    const message = unsupportedPlatformMessage(missing, info);
    assert.match(message, /the builder 'default' \(docker driver\) cannot build linux\/arm64: it runs linux\/amd64, /);
    assert.match(message, /EnsureDocker first with emulatePlatforms: linux\/arm64/);
    assert.match(message, /native linux\/arm64 node/);
    assert.deepEqual(unsupportedPlatforms(parsePlatformList('linux/arm64/v8,linux/amd64'), parseBuilderInspect(twoNodes)), []);
  });

  it('reads buildx versions of distribution and upstream builds', () => {
    assert.equal(readBuildxVersion('github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3\n'), '0.13.1');
    assert.equal(readBuildxVersion('github.com/docker/buildx v0.17.1 257815a'), '0.17.1');
    assert.equal(readBuildxVersion('github.com/docker/buildx v0.9'), '0.9');
    assert.throws(() => readBuildxVersion('nonsense'), /cannot read the buildx version from 'nonsense'/);
  });

  it('gates the attestation flags on buildx 0.10 in one place', () => {
    assert.equal(hasAttestationFlags('0.9.1'), false);
    assert.equal(hasAttestationFlags('0.10'), true);
    assert.equal(hasAttestationFlags('0.10.0-rc1'), true);
    assert.equal(hasAttestationFlags('0.13.1+ds1'), true);
  });

  it('gates --annotation on buildx 0.12 in the same place', () => {
    assert.equal(hasAnnotationFlag('0.11.2'), false);
    assert.equal(hasAnnotationFlag('0.12.0'), true);
    assert.equal(hasAnnotationFlag('0.12.0-rc1'), true);
    assert.equal(hasAnnotationFlag('0.13.1+ds1'), true);
  });

  it('tells the containerd image store from the classic one', () => {
    assert.equal(usesContainerdImageStore('[["driver-type","io.containerd.snapshotter.v1"]]'), true);
    assert.equal(usesContainerdImageStore('[["Backing Filesystem","extfs"],["Supports d_type","true"]]'), false);
    assert.equal(usesContainerdImageStore('null'), false);
    assert.equal(usesContainerdImageStore('not json'), false);
  });

  it('limits only the docker driver on the classic image store', () => {
    const docker = parseBuilderInspect(dockerDriver);
    assert.deepEqual(capabilitiesOf(docker, '0.13.1', false), {
      buildxVersion: '0.13.1',
      pushFromDaemon: true,
      multiPlatform: false,
      cacheExport: false,
      attestations: false,
      annotations: false,
    });
    assert.equal(capabilitiesOf(parseBuilderInspect(twoNodes), '0.13.1', false).pushFromDaemon, false);
    assert.equal(capabilitiesOf(docker, '0.13.1', true).multiPlatform, true);
    assert.equal(capabilitiesOf(parseBuilderInspect(twoNodes), '0.13.1', false).multiPlatform, true);
  });
});

describe('does a Dockerfile run anything on the target platform', () => {
  const cases: [string, string, boolean][] = [
    ['a RUN in a plain stage', 'FROM alpine\nRUN apk add curl\n', true],
    ['no RUN at all', 'FROM scratch\nCOPY app /app\n', false],
    [
      'RUN only in a $BUILDPLATFORM stage',
      'FROM --platform=$BUILDPLATFORM golang AS build\nRUN go build\nFROM scratch\nCOPY --from=build /app /app\n',
      false,
    ],
    [
      'RUN in a stage built FROM a $BUILDPLATFORM stage',
      'FROM --platform=${BUILDPLATFORM} golang AS build\nFROM build AS test\nRUN go test\n',
      false,
    ],
    [
      'RUN in the final stage after cross-compiling',
      'FROM --platform=$BUILDPLATFORM golang AS build\nRUN go build\nFROM alpine\nRUN adduser app\n',
      true,
    ],
    ['RUN in a $TARGETPLATFORM stage', 'FROM --platform=$TARGETPLATFORM alpine\nRUN true\n', true],
    [
      'continued lines and comments',
      '# syntax=docker/dockerfile:1\nFROM \\\n  --platform=$BUILDPLATFORM golang AS b\n# RUN not this\nRUN \\\n  go build\n',
      false,
    ],
    ['an empty file', '', true],
  ];
  for (const [name, text, expected] of cases) {
    it(`${expected ? 'yes' : 'no'}: ${name}`, () => assert.equal(runsOnTargetPlatform(text), expected));
  }
});

describe('buildx metadata and progress', () => {
  it('takes the digest from the metadata file', () => {
    assert.equal(builtImageDigest({ 'containerimage.digest': `sha256:${'a'.repeat(64)}` }), `sha256:${'a'.repeat(64)}`);
    assert.equal(
      builtImageDigest({ 'containerimage.descriptor': { mediaType: 'x', digest: `sha256:${'b'.repeat(64)}`, size: 1 } }),
      `sha256:${'b'.repeat(64)}`,
    );
    assert.throws(() => builtImageDigest({}), /no image digest/);
  });

  it('counts cached steps in plain progress', () => {
    const progress = [
      '#1 [internal] load build definition from Dockerfile',
      '#5 [2/4] COPY amd64/busybox /bin/busybox',
      '#5 CACHED',
      '#6 [3/4] RUN ["/bin/busybox", "--install", "-s", "/bin"]',
      '#6 CACHED',
      '#7 [4/4] RUN sleep 5',
      '#7 DONE 5.1s',
      '#8 exporting to image',
      '#8 CACHED',
    ].join('\n');
    assert.deepEqual(cacheUse(progress), { steps: 3, cached: 2 });
    assert.deepEqual(cacheUse(''), { steps: 0, cached: 0 });
  });

  it('reads the digest imagetools create pushed', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    assert.equal(pushedIndexDigest(`#1 [internal] pushing r/a:1\n#1 0.000 pushing ${digest} to r/a:1\n#1 DONE 0.0s`), digest);
    assert.equal(pushedIndexDigest('nothing'), undefined);
  });
});
