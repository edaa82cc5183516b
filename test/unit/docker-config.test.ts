import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { userDockerConfigDir, withDockerConfig } from '../../src/docker/config';
import type { RunOptions, RunResult, Runner } from '../../src/process/exec';
import { ACR_TOKEN_USERNAME } from '../../src/registry/credentials';

interface Call {
  file: string;
  args: readonly string[];
  stdin: string;
  env: NodeJS.ProcessEnv;
  /** config.json as docker would have found it at the call. */
  config: string;
}

const result = (exitCode: number, stderr = ''): RunResult => ({
  exitCode,
  signal: null,
  stdout: '',
  stderr,
  timedOut: false,
  durationMs: 1,
});

/** Captures every docker call; `docker login` writes an auth entry (and a credsStore if asked) like docker does. */
function fakeDocker(options: { failLogin?: boolean; credsStore?: string } = {}): { runner: Runner; calls: Call[] } {
  const calls: Call[] = [];
  const runner: Runner = async (file, args, runOptions: RunOptions = {}) => {
    const env = runOptions.env ?? {};
    const configFile = path.join(env.DOCKER_CONFIG ?? '/nonexistent', 'config.json');
    calls.push({
      file,
      args,
      stdin: String(runOptions.stdin ?? ''),
      env,
      config: existsSync(configFile) ? readFileSync(configFile, 'utf8') : '',
    });
    if (args[0] === 'login') {
      if (options.failLogin) return result(1, 'Error response from daemon: Get "https://x/v2/": unauthorized: authentication required');
      const config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
      const server = args.at(-1)!.startsWith('--') ? 'https://index.docker.io/v1/' : args.at(-1)!;
      config.auths = { ...(config.auths as object), [server]: { auth: 'stored' } };
      if (options.credsStore) config.credsStore = options.credsStore;
      writeFileSync(configFile, JSON.stringify(config));
    }
    return result(0);
  };
  return { runner, calls };
}

describe('job-local DOCKER_CONFIG', () => {
  let home: string;
  let parent: string;
  let userDir: string;
  beforeEach(() => {
    home = mkdtempSync(path.join(os.tmpdir(), 'home-'));
    parent = mkdtempSync(path.join(os.tmpdir(), 'steptemp-'));
    userDir = path.join(home, '.docker');
    for (const entry of ['buildx/instances', 'contexts/meta', 'cli-plugins']) mkdirSync(path.join(userDir, entry), { recursive: true });
    writeFileSync(path.join(userDir, 'buildx', 'instances', 'mybuilder'), '{"Name":"mybuilder"}');
    writeFileSync(
      path.join(userDir, 'config.json'),
      JSON.stringify({
        auths: { 'contoso.azurecr.io': { auth: 'USER-SECRET' } },
        credsStore: 'desktop',
        currentContext: 'remote',
        proxies: { default: { httpProxy: 'http://proxy:3128' } },
      }),
    );
  });
  afterEach(() => {
    rmSync(home, { recursive: true, force: true });
    rmSync(parent, { recursive: true, force: true });
  });

  const logins = [
    { registry: 'contoso.azurecr.io', username: ACR_TOKEN_USERNAME, password: 'REFRESH-TOKEN-SECRET' },
    { registry: 'docker.io', username: 'me', password: 'HUB-SECRET' },
  ];

  it('logs in per registry with the password on stdin only, in a private directory that is removed afterwards', async () => {
    const { runner, calls } = fakeDocker();
    const userConfigBefore = readFileSync(path.join(userDir, 'config.json'), 'utf8');
    let seen = '';
    const answer = await withDockerConfig(
      logins,
      async ({ DOCKER_CONFIG }) => {
        seen = DOCKER_CONFIG;
        assert.equal(path.dirname(DOCKER_CONFIG), parent);
        assert.equal(statSync(DOCKER_CONFIG).mode & 0o777, 0o700);
        const config = JSON.parse(readFileSync(path.join(DOCKER_CONFIG, 'config.json'), 'utf8')) as Record<string, unknown>;
        assert.equal(config.currentContext, 'remote');
        assert.deepEqual(config.proxies, { default: { httpProxy: 'http://proxy:3128' } });
        assert.equal(config.credsStore, undefined, "the user's credential store is not carried");
        assert.deepEqual(
          Object.keys(config.auths as object),
          ['contoso.azurecr.io', 'https://index.docker.io/v1/'],
          "only this job's logins",
        );
        for (const entry of ['buildx', 'contexts', 'cli-plugins'])
          assert.equal(readlinkSync(path.join(DOCKER_CONFIG, entry)), path.join(userDir, entry));
        assert.ok(existsSync(path.join(DOCKER_CONFIG, 'buildx', 'instances', 'mybuilder')), "the user's builders are visible");
        return 42;
      },
      { runner, parentDir: parent, env: { HOME: home, PATH: '/usr/bin' } },
    );
    assert.equal(answer, 42);
    assert.deepEqual(
      calls.map((c) => [c.file, ...c.args]),
      [
        ['docker', 'login', '--username', ACR_TOKEN_USERNAME, '--password-stdin', 'contoso.azurecr.io'],
        ['docker', 'login', '--username', 'me', '--password-stdin'],
      ],
    );
    assert.deepEqual(
      calls.map((c) => c.stdin),
      ['REFRESH-TOKEN-SECRET', 'HUB-SECRET'],
    );
    for (const call of calls) {
      assert.equal(call.env.DOCKER_CONFIG, seen);
      for (const secret of ['REFRESH-TOKEN-SECRET', 'HUB-SECRET']) assert.ok(!call.args.join(' ').includes(secret), 'no secret in argv');
    }
    assert.ok(!existsSync(seen), 'removed');
    assert.equal(readFileSync(path.join(userDir, 'config.json'), 'utf8'), userConfigBefore, "the user's config is untouched");
    assert.ok(existsSync(path.join(userDir, 'buildx', 'instances', 'mybuilder')), 'removing the links kept what they point to');
  });

  it('removes the directory when the body fails, and when a login fails', async () => {
    const { runner } = fakeDocker();
    let dir = '';
    await assert.rejects(
      withDockerConfig(
        logins,
        async ({ DOCKER_CONFIG }) => {
          dir = DOCKER_CONFIG;
          throw new Error('build failed');
        },
        { runner, parentDir: parent, env: { HOME: home } },
      ),
      /build failed/,
    );
    assert.ok(dir && !existsSync(dir));

    const failing = fakeDocker({ failLogin: true });
    let ran = false;
    await assert.rejects(
      withDockerConfig(logins, async () => void (ran = true), { runner: failing.runner, parentDir: parent, env: { HOME: home } }),
      /docker login --username failed with exit code 1: Error response from daemon: .*unauthorized/,
    );
    assert.equal(ran, false);
    assert.equal(failing.calls.length, 1);
    assert.ok(!failing.calls[0].args.includes('REFRESH-TOKEN-SECRET'));
    assert.deepEqual(readdir(parent), []);
  });

  it('logs out again when docker put the logins in a credential store', async () => {
    const { runner, calls } = fakeDocker({ credsStore: 'secretservice' });
    await withDockerConfig(logins, async () => undefined, { runner, parentDir: parent, env: { HOME: home } });
    assert.deepEqual(
      calls.map((c) => c.args.join(' ')).filter((a) => a.startsWith('logout')),
      ['logout contoso.azurecr.io', 'logout'],
    );
  });

  it("follows $DOCKER_CONFIG to find the user's builders, and works with none", async () => {
    assert.equal(userDockerConfigDir({ DOCKER_CONFIG: '/x/y', HOME: home }), '/x/y');
    assert.equal(userDockerConfigDir({ HOME: home }), userDir);
    const { runner } = fakeDocker();
    const empty = mkdtempSync(path.join(os.tmpdir(), 'emptyhome-'));
    try {
      await withDockerConfig(
        [],
        async ({ DOCKER_CONFIG }) => {
          assert.deepEqual(readdir(DOCKER_CONFIG), ['config.json']);
          assert.equal(readFileSync(path.join(DOCKER_CONFIG, 'config.json'), 'utf8').trim(), '{}');
        },
        { runner, parentDir: parent, env: { DOCKER_CONFIG: path.join(empty, 'nothing') } },
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

const readdir = (dir: string): string[] => readdirSync(dir);
