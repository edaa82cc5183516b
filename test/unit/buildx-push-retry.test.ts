// The build's registry steps under transient failures (a fake docker and a fake registry): repeated within the bound,
// and never repeated when the registry already holds their result.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, type RegistryLookup } from '../../src/buildx/build';
import type { BuilderCapabilities, BuildRequest } from '../../src/buildx/command';
import type { Logger } from '../../src/log';
import type { RunResult, Runner } from '../../src/process/exec';
import { parsePlatformList } from '../../src/platform/platform';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const name = 'contoso.azurecr.io/team/app';

const request = (platforms: string): BuildRequest => ({
  registry: 'contoso.azurecr.io',
  repository: 'team/app',
  tags: ['4711'],
  dockerfile: '/src/Dockerfile',
  context: '/src',
  platforms: parsePlatformList(platforms),
  buildArgs: [],
  secrets: [],
  labels: new Map(),
  annotations: new Map(),
  push: true,
  cache: 'none',
  cacheRef: `${name}:buildcache`,
  attestations: 'none',
  extraArguments: [],
});
const full: BuilderCapabilities = {
  buildxVersion: '0.13.1',
  pushFromDaemon: false,
  multiPlatform: true,
  cacheExport: true,
  attestations: true,
  annotations: true,
};
const dockerDriver: BuilderCapabilities = { ...full, pushFromDaemon: true };
const classic: BuilderCapabilities = {
  buildxVersion: '0.13.1',
  pushFromDaemon: true,
  multiPlatform: false,
  cacheExport: false,
  attestations: false,
  annotations: false,
};

const ok = (stdout = '', stderr = ''): RunResult => ({ exitCode: 0, signal: null, stdout, stderr, timedOut: false, durationMs: 1 });
const failed = (stderr: string): RunResult => ({ ...ok('', stderr), exitCode: 1 });
const quiet: Logger = { info: () => undefined, warn: () => undefined, debug: () => undefined, group: async (_t, body) => body() };

/** A docker that writes the metadata file of each build and answers each command from a script of results. */
function fakeDocker(script: (args: readonly string[], call: number) => RunResult): { runner: Runner; calls: string[] } {
  const calls: string[] = [];
  const runner: Runner = async (_file, args) => {
    calls.push(args.slice(0, 3).join(' '));
    const result = script(args, calls.length);
    const metadata = args.indexOf('--metadata-file');
    if (metadata !== -1 && result.exitCode === 0) {
      const platform = args[args.indexOf('--platform') + 1];
      writeFileSync(args[metadata + 1], JSON.stringify({ 'containerimage.digest': platform === 'linux/arm64' ? d('b') : d('a') }));
    }
    return result;
  };
  return { runner, calls };
}

function registry(tags: Record<string, string>, indexes: Record<string, string[]> = {}): RegistryLookup & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    tagDigest: async (reference) => {
      asked.push(reference);
      return tags[reference];
    },
    indexChildren: async (reference) => indexes[reference],
  };
}

describe('buildImage: registry steps under transient failures', () => {
  let workDir: string;
  beforeEach(() => (workDir = mkdtempSync(path.join(os.tmpdir(), 'push-retry-'))));
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));
  const context = (runner: Runner, lookup?: RegistryLookup) => ({
    runner,
    env: {},
    logger: quiet,
    workDir,
    registry: lookup,
    sleep: async () => undefined,
  });
  const reset = failed('error: read tcp 127.0.0.1:5->127.0.0.1:443: read: connection reset by peer');

  it('docker push: repeats after a reset when the registry does not hold the image, and takes the digest of the push', async () => {
    const docker = fakeDocker((args, call) => (args[0] === 'push' ? (call === 2 ? reset : ok(`4711: digest: ${d('a')} size: 528`)) : ok()));
    const result = await buildImage(request('linux/amd64'), dockerDriver, context(docker.runner, registry({})));
    assert.deepEqual(docker.calls, [
      'buildx build --progress',
      'push contoso.azurecr.io/team/app:4711',
      'push contoso.azurecr.io/team/app:4711',
    ]);
    assert.equal(result.digest, d('a'));
  });

  it('docker push: a lost answer is not pushed again when the tag holds what was built', async () => {
    const docker = fakeDocker((args) =>
      args[0] === 'push' ? failed('error: failed to do request: Put "https://x/v2/team/app/manifests/4711": EOF') : ok(),
    );
    const lookup = registry({ [`${name}:4711`]: d('a') });
    const result = await buildImage(request('linux/amd64'), dockerDriver, context(docker.runner, lookup));
    assert.deepEqual(
      docker.calls.filter((c) => c.startsWith('push')),
      ['push contoso.azurecr.io/team/app:4711'],
      'pushed once',
    );
    assert.equal(result.digest, d('a'));
    assert.deepEqual(lookup.asked, [`${name}:4711`]);
  });

  it('buildx build --push: not built again when every tag holds the manifest BuildKit said it pushed; the metadata names it', async () => {
    const progress = `#12 pushing manifest for ${name}:4711@${d('c')} 0.1s done\nERROR: failed to solve: failed to do request: Head "https://x/v2/": EOF`;
    const docker = fakeDocker(() => failed(progress));
    const result = await buildImage(request('linux/amd64'), full, context(docker.runner, registry({ [`${name}:4711`]: d('c') })));
    assert.equal(docker.calls.length, 1, 'built and pushed once');
    assert.equal(result.digest, d('c'), 'the digest the registry holds, written into the metadata file');
    assert.equal(JSON.parse(readFileSync(result.metadataFile, 'utf8'))['containerimage.digest'], d('c'));
  });

  it('buildx build --push: a refusal is final, not retried', async () => {
    const docker = fakeDocker(() => failed('ERROR: failed to solve: failed to push: unexpected status from PUT request: 403 Forbidden'));
    await assert.rejects(buildImage(request('linux/amd64'), full, context(docker.runner, registry({}))), /403 Forbidden/);
    assert.equal(docker.calls.length, 1);
  });

  it('imagetools create: a lost answer is not repeated when every tag holds one index over exactly the platform images', async () => {
    let pushes = 0;
    const docker = fakeDocker((args) => {
      if (args[0] === 'push') return ok(`x: digest: ${++pushes === 1 ? d('a') : d('b')} size: 528`);
      if (args[1] === 'imagetools') return failed('error: failed to do request: Put "https://x/v2/team/app/manifests/4711": EOF');
      return ok();
    });
    const lookup = registry({ [`${name}:4711`]: d('e') }, { [`${name}@${d('e')}`]: [d('b'), d('a')] });
    const result = await buildImage(request('linux/amd64,linux/arm64'), classic, context(docker.runner, lookup));
    assert.equal(docker.calls.filter((c) => c.startsWith('buildx imagetools')).length, 1);
    assert.equal(result.digest, d('e'));
  });

  it('imagetools create: repeated when the tag holds another index (an earlier run), and the second answer counts', async () => {
    let creates = 0;
    const docker = fakeDocker((args) => {
      if (args[0] === 'push') return ok(`x: digest: ${d('a')} size: 528`);
      if (args[1] === 'imagetools') return ++creates === 1 ? reset : ok('', `pushing ${d('f')} to ${name}:4711`);
      return ok();
    });
    const lookup = registry({ [`${name}:4711`]: d('9') }, { [`${name}@${d('9')}`]: [d('7'), d('8')] });
    const result = await buildImage(request('linux/amd64,linux/arm64'), classic, context(docker.runner, lookup));
    assert.equal(creates, 2);
    assert.equal(result.digest, d('f'));
  });
});
