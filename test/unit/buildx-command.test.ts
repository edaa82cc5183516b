// The buildx argv as one table: each row is a request (changes over a base), a step, the builder's abilities, and the
// exact argv, environment and warnings expected. Modelled on build-push-action's context.test.ts.
import { strict as assert } from 'node:assert';
import { planBuild, pushedDigest } from '../../src/buildx/build';
import {
  buildCommand,
  imagetoolsCreateArgs,
  platformTag,
  type BuilderCapabilities,
  type BuildRequest,
  type BuildStep,
} from '../../src/buildx/command';
import { versionAtLeast } from '../../src/docker/version';
import { createRemoteBuilderArgs } from '../../src/buildx/remote-builder';
import { parsePlatform, parsePlatformList } from '../../src/platform/platform';

const base: BuildRequest = {
  registry: 'contoso.azurecr.io',
  repository: 'team/app',
  tags: ['4711'],
  dockerfile: '/src/Dockerfile',
  context: '/src',
  platforms: parsePlatformList('linux/amd64'),
  buildArgs: [],
  secrets: [],
  labels: new Map(),
  annotations: new Map(),
  push: true,
  cache: 'none',
  cacheRef: 'contoso.azurecr.io/team/app:buildcache',
  attestations: 'none',
  extraArguments: [],
};
const step: BuildStep = {
  platforms: base.platforms,
  tags: ['contoso.azurecr.io/team/app:4711'],
  push: true,
  exportCache: true,
  metadataFile: '/tmp/m.json',
};
/** A builder with its own BuildKit (docker-container, remote): it pushes itself. */
const full: BuilderCapabilities = {
  buildxVersion: '0.13.1',
  pushFromDaemon: false,
  multiPlatform: true,
  cacheExport: true,
  attestations: true,
  annotations: true,
};
/** The docker driver on the containerd image store. */
const dockerDriver: BuilderCapabilities = { ...full, pushFromDaemon: true };
/** The docker driver on the classic image store. */
const classic: BuilderCapabilities = {
  buildxVersion: '0.13.1',
  pushFromDaemon: true,
  multiPlatform: false,
  cacheExport: false,
  attestations: false,
  annotations: false,
};

const HEAD = ['buildx', 'build', '--progress', 'plain', '--file', '/src/Dockerfile'];
const NO_ATTEST = ['--provenance=false', '--sbom=false'];
const TAIL = ['--metadata-file', '/tmp/m.json', '--push', '/src'];
const NO_ATTEST_ENV = { BUILDX_NO_DEFAULT_ATTESTATIONS: '1' };

type Row = [string, Partial<BuildRequest>, Partial<BuildStep>, BuilderCapabilities, string[], Record<string, string>, RegExp[]];

const rows: Row[] = [
  [
    'the defaults',
    {},
    {},
    full,
    [...HEAD, '--platform', 'linux/amd64', '--tag', 'contoso.azurecr.io/team/app:4711', ...NO_ATTEST, ...TAIL],
    NO_ATTEST_ENV,
    [],
  ],
  [
    'several platforms and tags, a builder and a target',
    { platforms: parsePlatformList('linux/amd64,linux/arm64,linux/arm/v7'), builder: 'multi', target: 'runtime' },
    {
      platforms: parsePlatformList('linux/amd64,linux/arm64,linux/arm/v7'),
      tags: ['contoso.azurecr.io/team/app:1', 'contoso.azurecr.io/team/app:latest'],
    },
    full,
    [
      'buildx',
      'build',
      '--builder',
      'multi',
      '--progress',
      'plain',
      '--file',
      '/src/Dockerfile',
      '--platform',
      'linux/amd64,linux/arm64,linux/arm/v7',
      '--tag',
      'contoso.azurecr.io/team/app:1',
      '--tag',
      'contoso.azurecr.io/team/app:latest',
      '--target',
      'runtime',
      ...NO_ATTEST,
      ...TAIL,
    ],
    NO_ATTEST_ENV,
    [],
  ],
  [
    'build args, secrets from env and file, labels in order',
    {
      buildArgs: [
        { name: 'VERSION', value: '1.2 beta' },
        { name: 'EMPTY', value: '' },
      ],
      secrets: [
        { id: 'npm', kind: 'env', variable: 'NPM_TOKEN' },
        { id: 'pip', kind: 'file', path: '/agent/_temp/pip.conf' },
      ],
      labels: new Map([
        ['org.opencontainers.image.source', 'https://example/repo'],
        ['team', 'shop=core'],
      ]),
    },
    {},
    full,
    [
      ...HEAD,
      '--platform',
      'linux/amd64',
      '--tag',
      'contoso.azurecr.io/team/app:4711',
      '--build-arg',
      'VERSION=1.2 beta',
      '--build-arg',
      'EMPTY=',
      '--secret',
      'id=npm,env=NPM_TOKEN',
      '--secret',
      'id=pip,src=/agent/_temp/pip.conf',
      '--label',
      'org.opencontainers.image.source=https://example/repo',
      '--label',
      'team=shop=core',
      ...NO_ATTEST,
      ...TAIL,
    ],
    NO_ATTEST_ENV,
    [],
  ],
  [
    'the registry cache, imported and exported (mode=max)',
    { cache: 'registry' },
    {},
    full,
    [
      ...HEAD,
      '--platform',
      'linux/amd64',
      '--tag',
      'contoso.azurecr.io/team/app:4711',
      '--cache-from',
      'type=registry,ref=contoso.azurecr.io/team/app:buildcache',
      '--cache-to',
      'type=registry,ref=contoso.azurecr.io/team/app:buildcache,mode=max',
      ...NO_ATTEST,
      ...TAIL,
    ],
    NO_ATTEST_ENV,
    [],
  ],
  [
    'the registry cache on a build that pushes nothing: imported only',
    { cache: 'registry', push: false },
    { push: false, exportCache: false },
    full,
    [
      ...HEAD,
      '--platform',
      'linux/amd64',
      '--tag',
      'contoso.azurecr.io/team/app:4711',
      '--cache-from',
      'type=registry,ref=contoso.azurecr.io/team/app:buildcache',
      ...NO_ATTEST,
      '--metadata-file',
      '/tmp/m.json',
      '/src',
    ],
    NO_ATTEST_ENV,
    [],
  ],
  [
    'the registry cache on a builder that cannot export it: inline instead, with a warning',
    { cache: 'registry' },
    {},
    classic,
    [
      ...HEAD,
      '--platform',
      'linux/amd64',
      '--tag',
      'contoso.azurecr.io/team/app:4711',
      '--cache-from',
      'type=registry,ref=contoso.azurecr.io/team/app:buildcache',
      '--cache-to',
      'type=inline',
      ...NO_ATTEST,
      ...TAIL,
    ],
    NO_ATTEST_ENV,
    [/cannot export a registry cache/],
  ],
  [
    'the inline cache, read from every tag',
    { cache: 'inline', tags: ['4711', 'latest'] },
    {},
    full,
    [
      ...HEAD,
      '--platform',
      'linux/amd64',
      '--tag',
      'contoso.azurecr.io/team/app:4711',
      '--cache-from',
      'type=registry,ref=contoso.azurecr.io/team/app:4711',
      '--cache-from',
      'type=registry,ref=contoso.azurecr.io/team/app:latest',
      '--cache-to',
      'type=inline',
      ...NO_ATTEST,
      ...TAIL,
    ],
    NO_ATTEST_ENV,
    [],
  ],
  [
    'provenance',
    { attestations: 'provenance' },
    {},
    full,
    [...HEAD, '--platform', 'linux/amd64', '--tag', 'contoso.azurecr.io/team/app:4711', '--attest', 'type=provenance,mode=min', ...TAIL],
    {},
    [],
  ],
  [
    'provenance and SBOM',
    { attestations: 'provenance+sbom' },
    {},
    full,
    [
      ...HEAD,
      '--platform',
      'linux/amd64',
      '--tag',
      'contoso.azurecr.io/team/app:4711',
      '--attest',
      'type=provenance,mode=min',
      '--attest',
      'type=sbom',
      ...TAIL,
    ],
    {},
    [],
  ],
  [
    'provenance mode=max and an SBOM generator of ones own',
    { attestations: 'provenance+sbom', provenanceMode: 'max', sbomGenerator: 'contoso.azurecr.io/mirror/buildkit-syft-scanner:stable-1' },
    {},
    full,
    [
      ...HEAD,
      '--platform',
      'linux/amd64',
      '--tag',
      'contoso.azurecr.io/team/app:4711',
      '--attest',
      'type=provenance,mode=max',
      '--attest',
      'type=sbom,generator=contoso.azurecr.io/mirror/buildkit-syft-scanner:stable-1',
      ...TAIL,
    ],
    {},
    [],
  ],
  [
    'attestations on a builder that cannot attach them: dropped with a warning',
    { attestations: 'provenance' },
    {},
    classic,
    [...HEAD, '--platform', 'linux/amd64', '--tag', 'contoso.azurecr.io/team/app:4711', ...NO_ATTEST, ...TAIL],
    NO_ATTEST_ENV,
    [/cannot attach attestations; 'provenance' was dropped/],
  ],
  [
    'attestations with a buildx older than 0.10: dropped with a warning',
    { attestations: 'provenance+sbom' },
    {},
    { ...full, buildxVersion: '0.9.1' },
    [...HEAD, '--platform', 'linux/amd64', '--tag', 'contoso.azurecr.io/team/app:4711', ...TAIL],
    {},
    [/buildx 0\.9\.1 cannot attach attestations/],
  ],
  [
    'no attestations with a buildx older than 0.10: only the environment switch',
    {},
    {},
    { ...full, buildxVersion: '0.9.1' },
    [...HEAD, '--platform', 'linux/amd64', '--tag', 'contoso.azurecr.io/team/app:4711', ...TAIL],
    NO_ATTEST_ENV,
    [],
  ],
  [
    "extra arguments go after the task's own, the context last",
    { extraArguments: ['--network', 'none', '--no-cache'] },
    {},
    full,
    [
      ...HEAD,
      '--platform',
      'linux/amd64',
      '--tag',
      'contoso.azurecr.io/team/app:4711',
      ...NO_ATTEST,
      '--metadata-file',
      '/tmp/m.json',
      '--push',
      '--network',
      'none',
      '--no-cache',
      '/src',
    ],
    NO_ATTEST_ENV,
    [],
  ],
];

const ANNOTATED = {
  annotations: new Map([
    ['org.opencontainers.image.revision', 'abc'],
    ['com.contoso.team', 'shop, core'],
  ]),
  annotationsGiven: true,
};
const OCI_OUTPUT = ['--output', 'type=image,oci-mediatypes=true'];
const ON_MANIFEST = [
  '--annotation',
  'manifest:org.opencontainers.image.revision=abc',
  '--annotation',
  'manifest:com.contoso.team=shop, core',
];
const ON_INDEX = ['--annotation', 'index:org.opencontainers.image.revision=abc', '--annotation', 'index:com.contoso.team=shop, core'];
const ONE = ['--platform', 'linux/amd64', '--tag', 'contoso.azurecr.io/team/app:4711'];

rows.push(
  [
    'annotations on one platform without attestations: on its manifest (BuildKit refuses index annotations there), OCI media types',
    ANNOTATED,
    {},
    full,
    [...HEAD, ...ONE, ...NO_ATTEST, ...OCI_OUTPUT, ...ON_MANIFEST, ...TAIL],
    NO_ATTEST_ENV,
    [],
  ],
  [
    'annotations on several platforms built into the daemon (docker driver, containerd store): on the index and each manifest',
    { ...ANNOTATED, platforms: parsePlatformList('linux/amd64,linux/arm64') },
    { platforms: parsePlatformList('linux/amd64,linux/arm64'), push: false },
    dockerDriver,
    [
      ...HEAD,
      '--platform',
      'linux/amd64,linux/arm64',
      '--tag',
      'contoso.azurecr.io/team/app:4711',
      ...NO_ATTEST,
      ...OCI_OUTPUT,
      ...ON_INDEX,
      ...ON_MANIFEST,
      '--metadata-file',
      '/tmp/m.json',
      '/src',
    ],
    NO_ATTEST_ENV,
    [],
  ],
  [
    'annotations on one platform with provenance: BuildKit makes an index, so on the index and the manifest',
    { ...ANNOTATED, attestations: 'provenance' },
    {},
    full,
    [...HEAD, ...ONE, '--attest', 'type=provenance,mode=min', ...OCI_OUTPUT, ...ON_INDEX, ...ON_MANIFEST, ...TAIL],
    {},
    [],
  ],
  [
    'annotations given on the classic image store: dropped with a warning naming them and the fix',
    ANNOTATED,
    {},
    classic,
    [...HEAD, ...ONE, ...NO_ATTEST, ...TAIL],
    NO_ATTEST_ENV,
    [
      /pushes Docker manifests, which carry no annotations\. Turn on the containerd image store.*the annotations \(org\.opencontainers\.image\.revision, com\.contoso\.team\) were not added/,
    ],
  ],
  [
    "only the pipeline's default annotations on the classic image store: left out without a warning",
    { ...ANNOTATED, annotationsGiven: false },
    {},
    classic,
    [...HEAD, ...ONE, ...NO_ATTEST, ...TAIL],
    NO_ATTEST_ENV,
    [],
  ],
  [
    'annotations with a buildx older than 0.12: dropped with a warning',
    ANNOTATED,
    {},
    { ...full, buildxVersion: '0.11.2' },
    [...HEAD, ...ONE, ...NO_ATTEST, ...TAIL],
    NO_ATTEST_ENV,
    [/buildx 0\.11\.2 cannot add annotations \(0\.12 or later can\)/],
  ],
  [
    'annotations when nothing is pushed: no flags, the build stays as it was',
    { ...ANNOTATED, push: false },
    { push: false, exportCache: false },
    full,
    [...HEAD, ...ONE, ...NO_ATTEST, '--metadata-file', '/tmp/m.json', '/src'],
    NO_ATTEST_ENV,
    [],
  ],
);

describe('buildx build argv', () => {
  for (const [name, changes, stepChanges, capabilities, args, env, warnings] of rows) {
    it(name, () => {
      const command = buildCommand({ ...base, ...changes }, { ...step, ...stepChanges }, capabilities);
      assert.deepEqual(command.args, args);
      assert.deepEqual(command.env, env);
      assert.equal(command.warnings.length, warnings.length, command.warnings.join('\n'));
      warnings.forEach((w, i) => assert.match(command.warnings[i], w));
    });
  }

  it('never carries a secret value, only its source', () => {
    process.env.TEST_SECRET_VALUE = 'hunter2-very-secret';
    const command = buildCommand({ ...base, secrets: [{ id: 's', kind: 'env', variable: 'TEST_SECRET_VALUE' }] }, step, full);
    assert.ok(!command.args.join(' ').includes('hunter2'));
    delete process.env.TEST_SECRET_VALUE;
  });
});

describe('build plans', () => {
  const two = { ...base, platforms: parsePlatformList('linux/amd64,linux/arm64'), tags: ['4711', 'latest'], cache: 'registry' as const };
  const refs = ['contoso.azurecr.io/team/app:4711', 'contoso.azurecr.io/team/app:latest'];

  it('lets a builder with its own BuildKit build and push all platforms in one step', () => {
    const plan = planBuild(two, full, '/w');
    assert.equal(plan.mode, 'single');
    assert.deepEqual(plan.build, [
      { platforms: two.platforms, tags: refs, push: true, exportCache: true, metadataFile: '/w/metadata-build.json' },
    ]);
    assert.deepEqual(plan.dockerPush, []);
  });

  it('builds all platforms into the daemon on the docker driver, then pushes every tag with docker push', () => {
    const plan = planBuild(two, dockerDriver, '/w');
    assert.equal(plan.mode, 'single');
    assert.deepEqual(plan.build, [
      { platforms: two.platforms, tags: refs, push: false, exportCache: true, metadataFile: '/w/metadata-build.json' },
    ]);
    assert.deepEqual(plan.dockerPush, refs);
    assert.deepEqual(plan.indexTags, []);
  });

  it('builds every platform under a platform tag, pushes them, then joins them, on the classic image store', () => {
    const plan = planBuild(two, classic, '/w');
    assert.equal(plan.mode, 'per-platform');
    assert.deepEqual(
      plan.build.map((s) => [s.platforms.map((p) => p.architecture), s.tags, s.push, s.metadataFile]),
      [
        [['amd64'], ['contoso.azurecr.io/team/app:4711-linux-amd64'], false, '/w/metadata-build-linux-amd64.json'],
        [['arm64'], ['contoso.azurecr.io/team/app:4711-linux-arm64'], false, '/w/metadata-build-linux-arm64.json'],
      ],
    );
    assert.deepEqual(plan.dockerPush, ['contoso.azurecr.io/team/app:4711-linux-amd64', 'contoso.azurecr.io/team/app:4711-linux-arm64']);
    assert.deepEqual(plan.indexTags, refs);
  });

  it('needs no join for one platform, even on the classic image store', () => {
    const plan = planBuild(base, classic, '/w');
    assert.equal(plan.mode, 'single');
    assert.deepEqual(plan.dockerPush, ['contoso.azurecr.io/team/app:4711']);
  });

  it('pushes nothing at all when push is false', () => {
    for (const capabilities of [full, dockerDriver, classic]) {
      const plan = planBuild({ ...two, push: false }, capabilities, '/w');
      assert.ok(plan.build.every((s) => !s.push && !s.exportCache));
      assert.deepEqual(plan.dockerPush, []);
      assert.deepEqual(plan.indexTags, []);
    }
  });

  it('reads the digest docker push reports', () => {
    assert.equal(
      pushedDigest(`ea7cf67cd328: Mounted from bfp/smoke\n1: digest: sha256:${'d'.repeat(64)} size: 683\n`),
      `sha256:${'d'.repeat(64)}`,
    );
    assert.equal(pushedDigest('denied: requested access to the resource is denied'), undefined);
  });

  it('makes platform tags that stay within 128 characters', () => {
    assert.equal(platformTag('1.2.3', parsePlatform('linux/arm/v7')), '1.2.3-linux-arm-v7');
    const long = platformTag('x'.repeat(128), parsePlatform('linux/arm64'));
    assert.equal(long.length, 128);
    assert.ok(long.endsWith('-linux-arm64'));
  });

  it('joins per-platform images with imagetools create under every tag', () => {
    assert.deepEqual(imagetoolsCreateArgs({ builder: 'b', tags: ['r/a:1', 'r/a:latest'], sources: ['r/a@sha256:1', 'r/a@sha256:2'] }), [
      'buildx',
      'imagetools',
      'create',
      '--builder',
      'b',
      '--progress',
      'plain',
      '--tag',
      'r/a:1',
      '--tag',
      'r/a:latest',
      'r/a@sha256:1',
      'r/a@sha256:2',
    ]);
  });

  it('compares versions numerically', () => {
    assert.equal(versionAtLeast('0.13.1', '0.10'), true);
    assert.equal(versionAtLeast('0.9.1', '0.10'), false);
    assert.equal(versionAtLeast('0.10.0-rc1', '0.10'), true);
    assert.equal(versionAtLeast('1.0', '0.10'), true);
  });
});

describe('a BuildKit endpoint as the builder', () => {
  it('becomes a temporary remote builder', () => {
    assert.deepEqual(createRemoteBuilderArgs('buildforplatform-1a2b', 'tcp://buildkitd:1234'), [
      'buildx',
      'create',
      '--name',
      'buildforplatform-1a2b',
      '--driver',
      'remote',
      'tcp://buildkitd:1234',
    ]);
  });
});
