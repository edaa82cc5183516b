// BuildForPlatform's flow in-process: every input check, then sign-in, builder, build, push and the platform proof
// with a fake docker (the runner) and a fake registry (the HTTP seams). What matters on each failure: nothing is
// handed on to deploy (no imageReference output) and, for a failed build, nothing is pushed.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { RegistryConnection } from '../../src/acr/signin';
import type { ServiceConnection } from '../../src/pipeline/connections';
import { buildForPlatform, readBuildForPlatformInputs } from '../../src/buildx/build-for-platform';
import type { HttpRequest } from '../../src/http/client';
import { InputError } from '../../src/inputs';
import { MediaType } from '../../src/registry/oci';
import { type Call, type FakeContext, fakeContext, fakeRunner, taskInputs } from './task-context-fakes';
import { fakeHttp, fakeStream, reply } from './registry-fakes';

const REGISTRY = 'contoso.azurecr.io';
const REPO = 'team/app';
const good = { registry: REGISTRY, repository: REPO, tags: '4711' };
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const INSPECT = [
  'Name:   ci',
  'Driver: docker-container',
  '',
  'Nodes:',
  'Name:      ci0',
  'Endpoint:  unix:///var/run/docker.sock',
  'Status:    running',
  'Platforms: linux/amd64*, linux/arm64',
  '',
].join('\n');

/** A 64-bit little-endian ELF header for a machine (62 x86-64, 183 AArch64): all the platform proof reads. */
function elf(machine: number): Buffer {
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(header);
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(machine, 18);
  header.writeUInt32LE(1, 20);
  header.writeUInt16LE(64, 52);
  header.writeUInt16LE(56, 54);
  return header;
}

/** An uncompressed tar with one executable file (ustar header, content, end of archive). */
function tarWith(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000755\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const padded = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  content.copy(padded);
  return Buffer.concat([header, padded, Buffer.alloc(1024)]);
}

/** A registry holding one image manifest whose config says `architecture` and whose /app is an ELF for `machine`. */
function registryWithImage(architecture: string, machine: number) {
  const layer = tarWith('app', elf(machine));
  const config = Buffer.from(
    JSON.stringify({ architecture, os: 'linux', config: { Entrypoint: ['/app'] }, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MediaType.ociLayerTar, digest: sha256(layer), size: layer.length }],
    }),
  );
  const blobs = new Map([
    [sha256(config), config],
    [sha256(layer), layer],
  ]);
  const digest = sha256(manifest);
  const served = (request: HttpRequest) => {
    if (request.url.endsWith(`/manifests/${digest}`))
      return reply(200, manifest, { 'content-type': MediaType.ociManifest, 'docker-content-digest': digest });
    const blob = blobs.get(request.url.slice(request.url.lastIndexOf('/') + 1));
    return blob ? reply(200, blob) : reply(404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] });
  };
  return { digest, ...fakeHttp(served), stream: fakeStream(served).stream };
}

/** docker as buildx with a docker-container builder: the build pushes itself and names its digest in the metadata file. */
function fakeDocker(options: { digest?: string; buildFails?: boolean } = {}) {
  return fakeRunner((call: Call) => {
    const [first, second] = call.args;
    if (first === 'buildx' && second === 'version') return { stdout: 'github.com/docker/buildx v0.17.1 abc123\n' };
    if (first === 'buildx' && second === 'inspect') return { stdout: INSPECT };
    if (first === 'buildx' && second === 'build') {
      if (options.buildFails)
        return { exitCode: 1, stderr: 'ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3\n' };
      const metadataFile = call.args[call.args.indexOf('--metadata-file') + 1];
      writeFileSync(metadataFile, JSON.stringify({ 'containerimage.digest': options.digest ?? `sha256:${'d'.repeat(64)}` }));
      return {};
    }
    return {};
  });
}

const dockerRegistryConnection = (registry = REGISTRY): RegistryConnection => {
  const docker: ServiceConnection = {
    id: 'c1',
    url: `https://${registry}`,
    scheme: 'UsernamePassword',
    parameters: { username: 'builder', password: 'p4ssw0rd-secret' },
    data: () => undefined,
  };
  return { kind: 'dockerRegistry', docker };
};

describe('BuildForPlatform flow (in-process, fakes)', () => {
  let context: FakeContext;
  let docker: ReturnType<typeof fakeDocker>;
  const setUp = (d = fakeDocker(), overrides: Parameters<typeof fakeContext>[2] = {}) => {
    docker = d;
    context = fakeContext('BuildForPlatform', d.runner, overrides);
    writeFileSync(path.join(context.root, 'Dockerfile'), 'FROM scratch\nCOPY app /app\n');
    return context;
  };
  afterEach(() => rmSync(context.root, { recursive: true, force: true }));
  const read = (values: Record<string, string>, connection?: RegistryConnection) =>
    readBuildForPlatformInputs(taskInputs('BuildForPlatform', { ...good, ...values }, context.root), connection, context);
  const pushed = () => docker.calls.filter((c) => c.args[1] === 'build' && c.args.includes('--push'));

  describe('input checks: the error names the input and the fix, and nothing runs', () => {
    const rows: [string, Record<string, string>, RegExp][] = [
      ['a misspelt architecture', { platforms: 'linux/amd65' }, /^Input 'platforms': 'linux\/amd65' names an unknown architecture 'amd65'/],
      ['an architecture without os', { platforms: 'amd64' }, /^Input 'platforms': 'amd64' is not a platform\. Write os\/architecture/],
      ['an empty platform entry', { platforms: 'linux/amd64,,linux/arm64' }, /^Input 'platforms': an empty platform was given/],
      ['a repository with capitals', { repository: 'Team/App' }, /^Input 'repository': .*write it in lower case: 'team\/app'/],
      [
        'a repository with a registry in it',
        { repository: 'contoso.azurecr.io/team/app' },
        /^Input 'repository': .*put the registry into 'registry'/,
      ],
      ['a tag the spec forbids', { tags: 'release 1' }, /^Input 'tags': The tag 'release 1' is not valid/],
      ['a tag starting with a dot', { tags: '4711\n.hidden' }, /^Input 'tags': The tag '\.hidden' is not valid/],
      ['a missing Dockerfile', { dockerfile: 'Missing.Dockerfile' }, /^Input 'dockerfile': 'Missing\.Dockerfile' was not found/],
      ['a missing context', { buildContext: 'no/such/dir' }, /^Input 'buildContext': the directory 'no\/such\/dir' does not exist/],
      ['a build arg without =', { buildArgs: 'VERSION=1\nDEBUG' }, /^Input 'buildArgs': 'DEBUG' has no '='/],
      ['an unknown cache', { cache: 'gha' }, /^Input 'cache': 'gha' is not one of auto, registry, inline, none/],
      ['unknown attestations', { attestations: 'sbom' }, /^Input 'attestations': 'sbom' is not one of none, provenance, provenance\+sbom/],
      ['an unknown provenance mode', { provenanceMode: 'full' }, /^Input 'provenanceMode': 'full' is not one of min, max/],
      [
        'an SBOM generator without its registry',
        { attestations: 'provenance+sbom', sbomGenerator: 'https://contoso.azurecr.io/syft' },
        /^Input 'sbomGenerator': 'https:\/\/contoso\.azurecr\.io\/syft' is not an image reference with its registry/,
      ],
      [
        'a registry URL',
        { registry: 'https://contoso.azurecr.io' },
        /^Input 'registry': .*not a registry login server.*it has a scheme; write 'contoso\.azurecr\.io'/,
      ],
      ['a registry with a path', { registry: 'contoso.azurecr.io/team' }, /^Input 'registry': .*it has a path/],
      ['no registry', { registry: '' }, /^Input 'registry': a login server is required/],
      [
        'a secret from an unset variable',
        { secrets: 'npm=env:NPM_TOKEN' },
        /^Input 'secrets': the secret 'npm' reads the environment variable NPM_TOKEN, which is not set/,
      ],
      ['a secret given as a value', { secrets: 'npm=s3cret' }, /^Input 'secrets': 'npm=s3cret' is not a secret/],
      [
        'arguments overriding the task',
        { arguments: '--push --platform linux/arm64' },
        /^Input 'arguments': --push is set by the 'push' input; --platform is set by the 'platforms' input/,
      ],
      [
        'arguments with an open quote',
        { arguments: '--label "a=b' },
        /^Input 'arguments': a double quote opened at character 9 is never closed/,
      ],
      ['a bad push value', { push: 'yes' }, /^Input 'push': 'yes' is not a boolean/],
      ['a bad verifyPlatforms value', { verifyPlatforms: 'maybe' }, /^Input 'verifyPlatforms': 'maybe' is not a boolean/],
      ['a label without =', { labels: 'team' }, /^Input 'labels': 'team' is not a label/],
      [
        'an annotation key that is not reverse-domain',
        { annotations: 'com.contoso.team=checkout\nteam=shop' },
        /^Input 'annotations': 'team' is not an annotation key\. Use reverse-domain notation, e\.g\. com\.contoso\.team/,
      ],
      [
        'an annotation that names where it goes',
        { annotations: 'index:com.contoso.team=checkout' },
        /^Input 'annotations': 'index:com\.contoso\.team' names where the annotation goes \(index:\); write the key alone/,
      ],
      [
        'a bad builder endpoint',
        { builder: 'http://buildkit:1234' },
        /^Input 'builder': 'http:\/\/buildkit:1234' is not a BuildKit endpoint/,
      ],
    ];
    for (const [name, values, message] of rows) {
      it(`refuses ${name}`, () => {
        setUp();
        assert.throws(
          () => read(values),
          (error: unknown) => error instanceof InputError && message.test(error.message),
        );
        assert.deepEqual(docker.calls, [], 'nothing runs before the inputs are checked');
      });
    }

    it('takes good values, masks an env secret and takes the registry from a docker-registry connection', () => {
      setUp(fakeDocker(), { env: { PATH: '/bin', NPM_TOKEN: 'x-secret-value' } });
      context.agent.variables.set('System.JobId', 'job-1');
      const parsed = read(
        {
          registry: '',
          platforms: 'linux/amd64,linux/arm64',
          tags: '4711\nlatest',
          buildArgs: 'A=1',
          secrets: 'npm=env:NPM_TOKEN',
          labels: 'team=shop',
        },
        dockerRegistryConnection(),
      );
      assert.equal(parsed.request.registry, REGISTRY);
      assert.deepEqual(parsed.request.tags, ['4711', 'latest']);
      assert.deepEqual(context.agent.secrets, ['x-secret-value']);
      assert.equal(parsed.request.labels.get('team'), 'shop');
      assert.equal(parsed.request.labels.get('org.opencontainers.image.version'), '4711');
      assert.ok([...parsed.request.labels.values()].includes('job-1'), 'the job label lets EnsureDocker clean up');
    });
  });

  it("annotates from the run's variables (source without the user name, revision, created, version), the user's over them", () => {
    setUp();
    context.agent.variables.set('Build.Repository.Uri', 'https://contoso@dev.azure.com/contoso/shop/_git/shop');
    context.agent.variables.set('Build.SourceVersion', 'abc123');
    const defaults = read({}).request;
    assert.deepEqual(
      [...defaults.annotations.keys()],
      [
        'org.opencontainers.image.source',
        'org.opencontainers.image.revision',
        'org.opencontainers.image.created',
        'org.opencontainers.image.version',
      ],
    );
    assert.equal(defaults.annotations.get('org.opencontainers.image.source'), 'https://dev.azure.com/contoso/shop/_git/shop');
    assert.equal(defaults.annotations.get('org.opencontainers.image.revision'), 'abc123');
    assert.match(defaults.annotations.get('org.opencontainers.image.created') ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(defaults.annotations.get('org.opencontainers.image.version'), '4711');
    assert.equal(defaults.annotationsGiven, false);
    const given = read({
      annotations: 'com.contoso.team=checkout\norg.opencontainers.image.version=2.0\norg.opencontainers.image.created=',
      labels: 'org.opencontainers.image.title=Shop',
    }).request;
    assert.deepEqual(Object.fromEntries(given.annotations), {
      'org.opencontainers.image.source': 'https://dev.azure.com/contoso/shop/_git/shop',
      'org.opencontainers.image.revision': 'abc123',
      'org.opencontainers.image.version': '2.0',
      'org.opencontainers.image.title': 'Shop',
      'com.contoso.team': 'checkout',
    });
    assert.equal(given.annotationsGiven, true);
  });

  it('puts the annotations on what buildx pushes (one platform: its manifest, OCI media types)', async () => {
    const registry = registryWithImage('amd64', 62);
    setUp(fakeDocker({ digest: registry.digest }), { http: registry.http, stream: registry.stream });
    context.agent.variables.set('Build.SourceVersion', 'abc123');
    const outcome = await buildForPlatform(read({ annotations: 'com.contoso.team=checkout' }), context);
    assert.deepEqual(outcome, { result: 'succeeded' });
    const [build] = pushed();
    const annotations = build.args.flatMap((arg, i) => (build.args[i - 1] === '--annotation' ? [arg] : []));
    assert.deepEqual(
      annotations.filter((a) => !a.includes('.created=')),
      [
        'manifest:org.opencontainers.image.revision=abc123',
        'manifest:org.opencontainers.image.version=4711',
        'manifest:com.contoso.team=checkout',
      ],
    );
    assert.equal(build.args[build.args.indexOf('--output') + 1], 'type=image,oci-mediatypes=true');
  });

  it("without a connection: builds and pushes with the builder's own access, proves amd64 and hands the digest on", async () => {
    const registry = registryWithImage('amd64', 62);
    setUp(fakeDocker({ digest: registry.digest }), { http: registry.http, stream: registry.stream });
    const outcome = await buildForPlatform(read({}), context);
    assert.deepEqual(outcome, { result: 'succeeded' });
    const log = context.logger.text();
    assert.match(log, /No service connection given: building and pushing with the builder's own access to contoso\.azurecr\.io\./);
    assert.match(log, /builder ci \(docker-container driver, buildx 0\.17\.1\): linux\/amd64, linux\/arm64/);
    assert.match(log, new RegExp(`Pushed ${REGISTRY}/${REPO}@${registry.digest}`));
    assert.match(log, /linux\/amd64: manifest sha256:[0-9a-f]{64}, 1 layers, \d+ bytes/);
    assert.match(log, /entrypoint: \/app is ELF 64-bit amd64|: \/app is ELF 64-bit amd64/);
    assert.match(log, new RegExp(`Verified ${REGISTRY}/${REPO}@${registry.digest}: linux/amd64`));
    assert.equal(context.agent.outputs.get('imageDigest'), registry.digest);
    assert.equal(context.agent.outputs.get('imageReference'), `${REGISTRY}/${REPO}@${registry.digest}`);
    assert.equal(context.agent.outputs.get('imageTags'), '4711');
    assert.equal(context.agent.outputs.get('platforms'), 'linux/amd64');
    assert.equal(context.agent.summaries.length, 1);
    assert.match(context.agent.summaries[0].markdown, /Platform proof \| passed/);
    assert.ok(!docker.calls.some((c) => c.args[0] === 'login'), 'no docker login without a connection');
    assert.ok(
      docker.calls.every((c) => c.options?.env?.DOCKER_CONFIG),
      "docker runs with the job's own DOCKER_CONFIG",
    );
  });

  it('refuses an image whose program is built for another machine: failed, no reference handed on, the summary says why', async () => {
    const registry = registryWithImage('amd64', 183);
    setUp(fakeDocker({ digest: registry.digest }), { http: registry.http, stream: registry.stream });
    const outcome = await buildForPlatform(read({}), context);
    assert.equal(outcome.result, 'failed');
    assert.match(
      outcome.result === 'failed' ? outcome.message : '',
      /^The pushed image contoso\.azurecr\.io\/team\/app@sha256:[0-9a-f]{64} does not run on the platforms asked for: linux\/amd64: .*arm64/,
    );
    assert.equal(context.agent.outputs.get('imageReference'), undefined);
    assert.equal(context.agent.outputs.get('imageDigest'), undefined);
    assert.match(context.agent.summaries[0].markdown, /Platform proof \| \*\*failed\*\*/);
  });

  it('a registry that hides what was just pushed: the error names the quarantine role and the way out', async () => {
    const denied = fakeHttp(() => reply(403, { errors: [{ code: 'DENIED', message: 'quarantined' }] }));
    setUp(fakeDocker(), { http: denied.http, stream: fakeStream(() => reply(403, '')).stream });
    await assert.rejects(
      buildForPlatform(read({}), context),
      /contoso\.azurecr\.io does not show contoso\.azurecr\.io\/team\/app@sha256:d{64}, which this job just pushed, .*AcrQuarantineReader.*verifyPlatforms: false/,
    );
    assert.equal(context.agent.outputs.get('imageReference'), undefined);
  });

  it('verifyPlatforms false: hands the digest on without reading the registry', async () => {
    const untouched = fakeHttp(() => {
      throw new Error('the registry must not be read');
    });
    setUp(fakeDocker(), { http: untouched.http });
    const outcome = await buildForPlatform(read({ verifyPlatforms: 'false' }), context);
    assert.deepEqual(outcome, { result: 'succeeded' });
    assert.equal(context.agent.outputs.get('imageDigest'), `sha256:${'d'.repeat(64)}`);
    assert.match(context.agent.summaries[0].markdown, /off \(verifyPlatforms: false\)/);
    assert.equal(untouched.requests.length, 0);
  });

  it('push false: builds, pushes nothing, sets no digest', async () => {
    setUp();
    const outcome = await buildForPlatform(read({ push: 'false' }), context);
    assert.deepEqual(outcome, { result: 'succeeded' });
    assert.equal(pushed().length, 0);
    assert.match(context.logger.text(), /push is false: the image was built but not pushed/);
    assert.equal(context.agent.outputs.get('imageDigest'), undefined);
    assert.equal(context.agent.outputs.get('platforms'), 'linux/amd64');
    assert.ok(context.agent.outputs.get('metadataFile'));
  });

  it("a failed build: the task fails with buildx's reason, nothing is pushed and no output is set", async () => {
    setUp(fakeDocker({ buildFails: true }));
    await assert.rejects(buildForPlatform(read({}), context), /docker buildx build failed with exit code 1: ERROR: .*exit code: 3/);
    assert.ok(!docker.calls.some((c) => c.args[0] === 'push' || c.args.includes('imagetools')));
    assert.equal(context.agent.outputs.size, 0);
    assert.equal(context.agent.summaries.length, 0);
  });

  it('a platform no node can run, with RUN instructions: refused before building, with the fix', async () => {
    setUp();
    writeFileSync(path.join(context.root, 'Dockerfile'), 'FROM alpine\nRUN apk add curl\n');
    await assert.rejects(
      buildForPlatform(read({ platforms: 'linux/s390x' }), context),
      /cannot build linux\/s390x: it runs linux\/amd64, linux\/arm64\. Fix: run EnsureDocker first with emulatePlatforms: linux\/s390x/,
    );
    assert.ok(!docker.calls.some((c) => c.args[1] === 'build'), 'nothing was built');
  });

  it('a platform no node can run, without RUN on the target platform: the build goes ahead and says why', async () => {
    setUp();
    await buildForPlatform(read({ platforms: 'linux/s390x', verifyPlatforms: 'false' }), context);
    assert.match(context.logger.text(), /The builder cannot run linux\/s390x, but every RUN instruction runs on the build platform/);
    assert.equal(pushed().length, 1);
  });

  it('a docker-registry connection: docker login through stdin, the password masked, never in argv', async () => {
    setUp();
    await buildForPlatform(read({ verifyPlatforms: 'false' }, dockerRegistryConnection()), context);
    const login = docker.calls.find((c) => c.args[0] === 'login');
    assert.deepEqual(login?.args, ['login', '--username', 'builder', '--password-stdin', REGISTRY]);
    assert.equal(login?.options?.stdin, 'p4ssw0rd-secret');
    assert.ok(docker.calls.every((c) => !c.args.join(' ').includes('p4ssw0rd-secret')));
    assert.ok(context.agent.secrets.includes('p4ssw0rd-secret'));
    assert.match(context.logger.text(), /Signing in to contoso\.azurecr\.io with Docker registry connection \(user name and password\)/);
  });

  it('a BuildKit endpoint: a temporary remote builder, removed after a failed build too', async () => {
    setUp(fakeDocker({ buildFails: true }));
    await assert.rejects(buildForPlatform(read({ builder: 'tcp://buildkit.internal:1234' }), context));
    const create = docker.calls.find((c) => c.args[1] === 'create');
    const name = create?.args[create.args.indexOf('--name') + 1];
    assert.deepEqual(create?.args.slice(-3), ['--driver', 'remote', 'tcp://buildkit.internal:1234']);
    assert.ok(
      docker.calls.some((c) => c.args.join(' ') === `buildx rm ${name}`),
      'the builder was removed',
    );
  });
});
