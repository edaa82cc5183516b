import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { engineImages } from '../../src/docker/cleanup';
import { EngineApiError, pingAndVersion, serverHeaderVersion } from '../../src/docker/engine-ping';
import { versionMemo } from '../../src/docker/version-memo';
import type { DockerEndpoint } from '../../src/docker/endpoint';

/** An Engine API stand-in on a unix socket in a temp dir; `answers` maps a path to status and body. */
async function daemon(
  answers: Record<string, [number, string]>,
  /** The version the daemon's `Server` header says on every answer, as dockerd's middleware sets it. */
  serverVersion?: () => string,
): Promise<{ endpoint: Extract<DockerEndpoint, { kind: 'unix' }>; paths: string[]; close(): void }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'engine-'));
  const socketPath = path.join(dir, 'docker.sock');
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    const [status, body] = answers[req.url ?? ''] ?? [404, '{"message":"page not found"}'];
    const headers: Record<string, string> = serverVersion ? { Server: `Docker/${serverVersion()} (linux)`, 'Api-Version': '1.45' } : {};
    res.writeHead(status, headers).end(body);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    endpoint: { kind: 'unix', host: `unix://${socketPath}`, socketPath, source: 'input' },
    paths,
    close: () => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('Engine API ping', () => {
  it('pings and reads the version, OS and architecture (asked at once)', async () => {
    const d = await daemon({
      '/_ping': [200, 'OK'],
      '/version': [200, JSON.stringify({ Version: '26.1.5+dfsg1', ApiVersion: '1.45', Os: 'linux', Arch: 'amd64' })],
    });
    try {
      assert.deepEqual(await pingAndVersion(d.endpoint, 5000), { version: '26.1.5+dfsg1', apiVersion: '1.45', os: 'linux', arch: 'amd64' });
      assert.deepEqual([...d.paths].sort(), ['/_ping', '/version']);
    } finally {
      d.close();
    }
  });

  it("remembers a local daemon's /version under its socket and the ping's Server header: asked again for a new version or socket", async () => {
    let version = '26.1.5+dfsg1';
    const versionBody = () => JSON.stringify({ Version: version, ApiVersion: '1.45', Os: 'linux', Arch: 'arm64' });
    const answers: Record<string, [number, string]> = { '/_ping': [200, 'OK'], '/version': [200, versionBody()] };
    const d = await daemon(answers, () => version);
    const tools = mkdtempSync(path.join(os.tmpdir(), 'engine-memo-'));
    try {
      const memo = () => versionMemo(tools);
      const expected = { version, apiVersion: '1.45', os: 'linux', arch: 'arm64' };
      assert.deepEqual(await pingAndVersion(d.endpoint, 5000, memo()), expected);
      assert.deepEqual(await pingAndVersion(d.endpoint, 5000, memo()), expected);
      assert.deepEqual(d.paths, ['/_ping', '/version', '/_ping'], 'the second job asked /version again');
      // Upgraded in place behind the same socket: the ping's Server header moves, so /version is asked again.
      version = '27.0.3';
      answers['/version'] = [200, versionBody()];
      assert.equal((await pingAndVersion(d.endpoint, 5000, memo())).version, '27.0.3');
      assert.deepEqual(d.paths.slice(3), ['/_ping', '/version']);
      // Without a memo (no tools directory) both are asked every time.
      await pingAndVersion(d.endpoint, 5000, versionMemo(undefined));
      assert.deepEqual(d.paths.slice(5).sort(), ['/_ping', '/version']);
    } finally {
      d.close();
      rmSync(tools, { recursive: true, force: true });
    }
  });

  it('reads the version from the Server header dockerd puts on every answer', () => {
    assert.equal(serverHeaderVersion('Docker/26.1.5+dfsg1 (linux)'), '26.1.5+dfsg1');
    assert.equal(serverHeaderVersion('nginx/1.25'), undefined);
    assert.equal(serverHeaderVersion(undefined), undefined);
  });

  it('asks /info for the variant of a 32-bit arm server', async () => {
    const d = await daemon({
      '/_ping': [200, 'OK'],
      '/version': [200, JSON.stringify({ Version: '27.3.1', Os: 'linux', Arch: 'arm' })],
      '/info': [200, JSON.stringify({ Architecture: 'armv7l' })],
    });
    try {
      assert.equal((await pingAndVersion(d.endpoint, 5000)).machine, 'armv7l');
    } finally {
      d.close();
    }
  });

  it("keeps the HTTP status of an answer that is not the daemon's, and refuses a server that is not docker", async () => {
    const d = await daemon({});
    try {
      await assert.rejects(
        pingAndVersion(d.endpoint, 5000),
        (e: Error & { statusCode?: number }) => e.statusCode === 404 && /\(HTTP code 404\) GET \/_ping/.test(e.message),
      );
    } finally {
      d.close();
    }
    const other = await daemon({ '/_ping': [200, 'pong'] });
    try {
      await assert.rejects(pingAndVersion(other.endpoint, 5000), /answered 'pong', not OK: not a Docker daemon/);
    } finally {
      other.close();
    }
  });

  it("keeps Node's error code when there is no socket", async () => {
    await assert.rejects(
      pingAndVersion(
        { kind: 'unix', host: 'unix:///nonexistent/docker.sock', socketPath: '/nonexistent/docker.sock', source: 'input' },
        5000,
      ),
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
    );
  });

  it('gives up after the timeout with ETIMEDOUT', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'engine-'));
    const socketPath = path.join(dir, 'docker.sock');
    const server = http.createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      await assert.rejects(
        pingAndVersion({ kind: 'unix', host: `unix://${socketPath}`, socketPath, source: 'input' }, 50),
        (e: NodeJS.ErrnoException) => e.code === 'ETIMEDOUT',
      );
    } finally {
      server.closeAllConnections();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Engine API image store (the post-job clean-up)', () => {
  /** Like daemon() above, keyed by method and URL, so a DELETE and a GET of one path answer differently. */
  async function imageDaemon(answers: Record<string, [number, string]>) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'engine-'));
    const socketPath = path.join(dir, 'docker.sock');
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      const key = `${req.method} ${req.url}`;
      requests.push(key);
      const [status, body] = answers[key] ?? [404, '{"message":"page not found"}'];
      res.writeHead(status).end(body);
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const endpoint: DockerEndpoint = { kind: 'unix', host: `unix://${socketPath}`, socketPath, source: 'input' };
    return { endpoint, requests, close: () => (server.close(), rmSync(dir, { recursive: true, force: true })) };
  }

  const label = 'com.example.built-by-job=job 1';
  const listPath = `/images/json?filters=${encodeURIComponent(JSON.stringify({ label: [label] }))}`;

  it('lists by label with the filter encoded, dropping <none>:<none>, and removes by name or reports it missing', async () => {
    const d = await imageDaemon({
      [`GET ${listPath}`]: [
        200,
        JSON.stringify([
          { Id: 'sha256:aa', RepoTags: ['app:1', '<none>:<none>'] },
          { Id: 'sha256:bb', RepoTags: null },
        ]),
      ],
      'DELETE /images/sha256%3Aaa?force=true': [200, '[{"Deleted":"sha256:aa"}]'],
      'DELETE /images/app%3A2?force=false': [404, '{"message":"No such image: app:2"}'],
    });
    try {
      const images = engineImages(d.endpoint as Extract<DockerEndpoint, { kind: 'unix' }>, 5000);
      assert.deepEqual(await images.listByLabel(label), [
        { id: 'sha256:aa', tags: ['app:1'] },
        { id: 'sha256:bb', tags: [] },
      ]);
      assert.equal(await images.remove('sha256:aa', true), 'removed');
      assert.equal(await images.remove('app:2', false), 'missing');
      assert.deepEqual(d.requests, [`GET ${listPath}`, 'DELETE /images/sha256%3Aaa?force=true', 'DELETE /images/app%3A2?force=false']);
    } finally {
      d.close();
    }
  });

  it("fails a refused removal with the daemon's message and status", async () => {
    const d = await imageDaemon({
      'DELETE /images/app%3A1?force=false': [409, '{"message":"conflict: unable to remove repository reference \\"app:1\\""}'],
    });
    try {
      const images = engineImages(d.endpoint as Extract<DockerEndpoint, { kind: 'unix' }>, 5000);
      await assert.rejects(images.remove('app:1', false), (error: EngineApiError) => {
        assert.equal(error.statusCode, 409);
        assert.match(
          error.message,
          /^\(HTTP code 409\) DELETE \/images\/app%3A1\?force=false: conflict: unable to remove repository reference "app:1"$/,
        );
        return true;
      });
    } finally {
      d.close();
    }
  });
});
