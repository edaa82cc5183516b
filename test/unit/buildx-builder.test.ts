import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { builderPlatforms, inspectArgs, listBuilderPlatforms, offers, parseBuildxInspect } from '../../src/buildx/builder';
import { formatPlatform, parsePlatform } from '../../src/platform/platform';
import type { RunResult, Runner } from '../../src/process/exec';

const fixture = (name: string) => readFileSync(path.join(__dirname, 'fixtures', 'buildx-inspect', name), 'utf8');
const names = (text: string) => builderPlatforms(parseBuildxInspect(text)).map(formatPlatform);

describe('buildx builder inspection', () => {
  it('reads the docker driver of Docker 26 (the lab): one node and its platforms', () => {
    const info = parseBuildxInspect(fixture('docker-driver-26.txt'));
    assert.equal(info.name, 'default');
    assert.equal(info.driver, 'docker');
    assert.equal(info.nodes.length, 1);
    assert.equal(info.nodes[0].status, 'running');
    assert.equal(info.nodes[0].buildkitVersion, 'v0.0.0+unknown');
    assert.deepEqual(names(fixture('docker-driver-26.txt')), [
      'linux/amd64',
      'linux/amd64/v2',
      'linux/amd64/v3',
      'linux/amd64/v4',
      'linux/arm64',
    ]);
  });

  it('joins the platforms of running nodes, drops the user marker and skips inactive nodes, labels and GC policies', () => {
    const info = parseBuildxInspect(fixture('docker-container-multinode.txt'));
    assert.equal(info.driver, 'docker-container');
    assert.deepEqual(
      info.nodes.map((n) => n.name),
      ['multiarch0', 'graviton', 'offline'],
    );
    assert.deepEqual(info.nodes[0].platformNames.slice(0, 1), ['linux/amd64*']);
    assert.equal(info.nodes[1].endpoint, 'tcp://arm-builder.internal:1234');
    assert.match(info.nodes[2].error ?? '', /no such host/);
    assert.deepEqual(names(fixture('docker-container-multinode.txt')), [
      'linux/amd64',
      'linux/amd64/v2',
      'linux/amd64/v3',
      'linux/386',
      'linux/arm64',
      'linux/arm/v7',
      'linux/arm/v6',
    ]);
  });

  it('reads older buildx output (Buildkit:, Flags:) and skips platforms it does not know', () => {
    const info = parseBuildxInspect(fixture('old-buildx-0.10.txt'));
    assert.equal(info.nodes[0].buildkitVersion, 'v0.11.6');
    assert.ok(info.nodes[0].platformNames.includes('linux/unknownarch'));
    const platforms = names(fixture('old-buildx-0.10.txt'));
    assert.ok(platforms.includes('linux/loong64'));
    assert.ok(!platforms.some((p) => p.includes('unknownarch')));
  });

  it('matches requested platforms in canonical form (arm64/v8 is arm64)', () => {
    const listed = builderPlatforms(parseBuildxInspect(fixture('docker-driver-26.txt')));
    assert.ok(offers(listed, parsePlatform('linux/arm64/v8')));
    assert.ok(!offers(listed, parsePlatform('linux/riscv64')));
  });

  it('asks `docker buildx inspect [--bootstrap] [name]` and fails with the last stderr line', async () => {
    assert.deepEqual(inspectArgs(), ['buildx', 'inspect']);
    assert.deepEqual(inspectArgs({ builder: 'multiarch', bootstrap: true }), ['buildx', 'inspect', '--bootstrap', 'multiarch']);
    const calls: string[][] = [];
    const answer = (stdout: string, exitCode = 0, stderr = ''): RunResult => ({
      exitCode,
      stdout,
      stderr,
      signal: null,
      timedOut: false,
      durationMs: 1,
    });
    const runner: Runner = async (file, args) => {
      calls.push([file, ...args]);
      return args.includes('nope') ? answer('', 1, 'ERROR: no builder "nope" found\n') : answer(fixture('docker-container-multinode.txt'));
    };
    assert.equal((await listBuilderPlatforms(runner, { builder: 'multiarch' })).length, 7);
    assert.deepEqual(calls[0], ['docker', 'buildx', 'inspect', 'multiarch']);
    await assert.rejects(listBuilderPlatforms(runner, { builder: 'nope' }), /no builder "nope" found/);
  });
});
