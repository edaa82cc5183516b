// engine: acrTasks in-process: the context packed by docker's .dockerignore rules, the refusals (each naming its
// input), the Resource Manager client (nextLink kept on its host, ARM errors), and following a run (log by range,
// queue timeout, failure with the log tail, cancellation) against fakes.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { AcrTasksClient, type Run } from '../../src/acr-tasks/arm';
import { ArmError } from '../../src/azure/arm';
import { explainArm } from '../../src/acr-tasks/build';
import { acrPlatform, refuseUnsupported, type RequestedExtras, secretMountLine } from '../../src/acr-tasks/options';
import { followRun, RunError } from '../../src/acr-tasks/run';
import { packContext } from '../../src/acr-tasks/source';
import type { BuildRequest } from '../../src/buildx/command';
import type { HttpClient, HttpRequest, HttpResponse } from '../../src/http/client';
import { parsePax } from '../../src/image/tar';
import { InputError } from '../../src/inputs';
import { RecordingLogger } from '../../src/log';
import { parsePlatform } from '../../src/platform/platform';

/** The entries of a tar.gz: name (PAX path when given) and type flag. */
function entries(archive: Buffer): { name: string; type: string; size: number }[] {
  const tar = gunzipSync(archive);
  const out: { name: string; type: string; size: number }[] = [];
  let pax: Record<string, string> = {};
  for (let offset = 0; offset + 512 <= tar.length;) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156]);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      pax = parsePax(body);
      continue;
    }
    out.push({ name: pax.path ?? name, type, size });
    pax = {};
  }
  return out;
}

function response(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  const raw = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return {
    status,
    url: '',
    headers: new Headers(headers),
    body: raw,
    text: () => raw.toString('utf8'),
    json: <T>() => JSON.parse(raw.toString('utf8')) as T,
  };
}

describe('ACR Tasks', () => {
  describe('packContext: the context as docker would send it', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'acr-tasks-context-'));
      const files: Record<string, string> = {
        Dockerfile: 'FROM scratch\n',
        'app/main.js': 'main',
        'app/test/spec.js': 'spec',
        'docs/a.md': 'a',
        'README.md': 'readme',
        'notes.md': 'notes',
        'logs/a.log': 'a',
        'logs/keep.log': 'keep',
        'deep/er/x.tmp': 'x',
        'node_modules/pkg/index.js': 'pkg',
        [`long/${'d'.repeat(90)}/${'f'.repeat(60)}.txt`]: 'long name',
      };
      for (const [name, content] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
        writeFileSync(path.join(dir, name), content);
      }
      symlinkSync('app/main.js', path.join(dir, 'link.js'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("follows docker's rules: root-anchored names, *, **, exceptions, directories; Dockerfile and .dockerignore always sent", () => {
      writeFileSync(
        path.join(dir, '.dockerignore'),
        [
          '# comment',
          'node_modules',
          '*.md',
          '!README.md',
          'logs/*',
          '!logs/keep.log',
          '**/*.tmp',
          'app/test',
          'Dockerfile',
          '.dockerignore',
        ].join('\n'),
      );
      const packed = packContext(dir, path.join(dir, 'Dockerfile'));
      const names = entries(packed.archive)
        .filter((e) => e.type !== '5')
        .map((e) => e.name)
        .sort();
      assert.deepEqual(names, [
        '.dockerignore',
        'Dockerfile',
        'README.md',
        'app/main.js',
        // docs/a.md stays: `*.md` matches at the root only, as in docker
        'docs/a.md',
        'link.js',
        'logs/keep.log',
        `long/${'d'.repeat(90)}/${'f'.repeat(60)}.txt`,
      ]);
      assert.equal(packed.dockerfilePath, 'Dockerfile');
      assert.equal(packed.ignoreFile, '.dockerignore');
      assert.ok(packed.ignored >= 5, `ignored ${packed.ignored}`);
      assert.equal(entries(packed.archive).find((e) => e.name === 'link.js')?.type, '2', 'a symlink stays a symlink');
    });

    it('prefers <Dockerfile>.dockerignore beside the Dockerfile, and sends everything without one', () => {
      writeFileSync(path.join(dir, '.dockerignore'), 'app\n');
      mkdirSync(path.join(dir, 'build'));
      writeFileSync(path.join(dir, 'build', 'Dockerfile'), 'FROM scratch\n');
      writeFileSync(path.join(dir, 'build', 'Dockerfile.dockerignore'), 'docs\n');
      const names = entries(packContext(dir, path.join(dir, 'build', 'Dockerfile')).archive).map((e) => e.name);
      assert.ok(names.includes('app/main.js') && !names.some((n) => n.startsWith('docs/')), names.join(' '));
      rmSync(path.join(dir, '.dockerignore'));
      rmSync(path.join(dir, 'build', 'Dockerfile.dockerignore'));
      const all = entries(packContext(dir, path.join(dir, 'Dockerfile')).archive).map((e) => e.name);
      assert.ok(all.includes('node_modules/pkg/index.js') && all.includes('notes.md'));
    });

    it('refuses a Dockerfile outside the context, naming the input', () => {
      const outside = mkdtempSync(path.join(os.tmpdir(), 'acr-tasks-dockerfile-'));
      writeFileSync(path.join(outside, 'Dockerfile'), 'FROM scratch\n');
      try {
        assert.throws(
          () => packContext(dir, path.join(outside, 'Dockerfile')),
          (error: unknown) => error instanceof InputError && /^Input 'dockerfile': .* is outside the build context/.test(error.message),
        );
      } finally {
        rmSync(outside, { recursive: true, force: true });
      }
    });
  });

  describe('what engine: acrTasks refuses, naming the input', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'acr-tasks-refuse-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const dockerfile = (text: string) => {
      const file = path.join(dir, `Dockerfile-${Math.random().toString(36).slice(2)}`);
      writeFileSync(file, text);
      return file;
    };
    const request = (changes: Partial<BuildRequest> = {}): BuildRequest => ({
      registry: 'contoso.azurecr.io',
      repository: 'web',
      tags: ['1'],
      dockerfile: dockerfile('FROM scratch\nRUN --mount=type=cache,target=/c true\n'),
      context: dir,
      platforms: [parsePlatform('linux/amd64')],
      buildArgs: [],
      secrets: [],
      labels: new Map(),
      annotations: new Map(),
      push: true,
      cache: 'none',
      cacheRef: '',
      attestations: 'none',
      extraArguments: [],
      ...changes,
    });
    const extras: RequestedExtras = {
      userLabels: 0,
      cacheGiven: 'auto',
      cacheRefGiven: false,
      builder: { kind: 'default' },
      extraArguments: [],
    };
    const rows: [string, Partial<BuildRequest>, Partial<RequestedExtras>, RegExp][] = [
      [
        'build secrets',
        { secrets: [{ id: 'npm', kind: 'env', variable: 'NPM' }] },
        {},
        /^Input 'secrets': engine: acrTasks cannot pass build secrets/,
      ],
      [
        'a secret mount in the Dockerfile',
        { dockerfile: dockerfile('FROM scratch\nRUN --mount=type=secret,id=npm \\\n  cat /run/secrets/npm\n') },
        {},
        /^Input 'dockerfile': engine: acrTasks cannot serve `RUN --mount=type=secret,id=npm/,
      ],
      [
        'an ssh mount',
        { dockerfile: dockerfile('FROM scratch\nRUN --mount=type=ssh git clone x\n') },
        {},
        /^Input 'dockerfile': .*type=ssh/,
      ],
      ['labels', {}, { userLabels: 1 }, /^Input 'labels': engine: acrTasks cannot add labels/],
      ['a registry cache', {}, { cacheGiven: 'registry' }, /^Input 'cache': engine: acrTasks cannot import or export a registry cache/],
      ['an inline cache', {}, { cacheGiven: 'inline' }, /^Input 'cache': .*inline/],
      ['a cache image', {}, { cacheRefGiven: true }, /^Input 'cacheRef':/],
      ['a builder', {}, { builder: { kind: 'named', name: 'ci' } }, /^Input 'builder':/],
      ['buildx arguments', {}, { extraArguments: ['--network', 'none'] }, /^Input 'arguments':/],
      ['attestations', { attestations: 'provenance' }, {}, /^Input 'attestations':/],
      [
        'a platform ACR Tasks does not build',
        { platforms: [parsePlatform('linux/s390x')] },
        {},
        /^Input 'platforms': ACR Tasks cannot build linux\/s390x/,
      ],
    ];
    for (const [name, changes, extra, message] of rows) {
      it(`refuses ${name}`, () => {
        assert.throws(
          () => refuseUnsupported(request(changes), { ...extras, ...extra }),
          (error: unknown) => error instanceof InputError && message.test(error.message),
        );
      });
    }
    it('takes what a quick run carries: build args, a target, cache none or auto, a cache mount, arm64 and arm/v7', () => {
      refuseUnsupported(
        request({
          buildArgs: [{ name: 'A', value: '1' }],
          target: 'final',
          platforms: [parsePlatform('linux/arm64'), parsePlatform('linux/arm/v7')],
        }),
        extras,
      );
      refuseUnsupported(request(), { ...extras, cacheGiven: 'none' });
      assert.equal(secretMountLine(request().dockerfile), undefined);
      assert.deepEqual(acrPlatform(parsePlatform('linux/arm/v7')), { os: 'Linux', architecture: 'arm', variant: 'v7' });
      assert.deepEqual(acrPlatform(parsePlatform('windows/amd64')), { os: 'Windows', architecture: 'amd64' });
    });
  });

  describe('ArmClient', () => {
    const registries = (value: unknown[], nextLink?: string) => ({ value, ...(nextLink ? { nextLink } : {}) });
    const registry = (name: string) => ({
      id: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/${name}`,
      name,
      properties: { loginServer: `${name}.azurecr.io` },
    });
    const client = (http: HttpClient) =>
      new AcrTasksClient({
        baseUrl: 'https://management.azure.com/',
        subscriptionId: 's',
        token: async () => 'arm-token',
        http,
        sleep: async () => undefined,
      });

    it('finds the registry by login server across pages, on the Resource Manager host only, with the bearer token', async () => {
      const seen: HttpRequest[] = [];
      const arm = client(async (request) => {
        seen.push(request);
        if (!request.url.includes('skip'))
          return response(200, registries([registry('other')], 'https://management.azure.com/next?skip=1'));
        return response(200, registries([registry('contoso')]));
      });
      const found = await arm.findRegistry('Contoso.azurecr.io');
      assert.equal(found?.name, 'contoso');
      assert.equal(seen.length, 2);
      assert.match(
        seen[0].url,
        /^https:\/\/management\.azure\.com\/subscriptions\/s\/providers\/Microsoft\.ContainerRegistry\/registries\?api-version=/,
      );
      assert.equal(seen[0].headers?.Authorization, 'Bearer arm-token');

      const elsewhere = client(async () => response(200, registries([registry('other')], 'https://evil.example/next')));
      await assert.rejects(elsewhere.findRegistry('contoso.azurecr.io'), /nextLink on another host \(evil\.example\)/);
    });

    it("reads ARM's error body, retries throttling but never scheduleRun, and explains TasksOperationsNotAllowed", async () => {
      let calls = 0;
      const throttled = client(async () =>
        ++calls === 1
          ? response(429, { error: { code: 'TooManyRequests', message: 'slow down' } }, { 'retry-after': '0' })
          : response(200, { properties: { runId: 'r1', status: 'Queued' } }),
      );
      assert.equal((await throttled.getRun('/r', 'r1')).status, 'Queued');
      assert.equal(calls, 2);

      calls = 0;
      const refusing = client(async () => {
        calls++;
        return response(400, {
          error: { code: 'TasksOperationsNotAllowed', message: 'ACR Tasks requests for the registry x are not permitted.' },
        });
      });
      const error = await refusing.scheduleRun('/r', {} as never).catch((e: unknown) => e);
      assert.ok(error instanceof ArmError && error.code === 'TasksOperationsNotAllowed', String(error));
      assert.equal(calls, 1, 'scheduleRun is sent once');
      assert.match(
        String((explainArm(error, 'x.azurecr.io') as Error).message),
        /Free and trial subscriptions cannot run ACR Tasks.*engine: buildx/,
      );
      const forbidden = new ArmError({ method: 'POST', url: 'https://m/x' }, 403, 'AuthorizationFailed', 'no');
      assert.match((explainArm(forbidden, 'x.azurecr.io') as Error).message, /Container Registry Tasks Contributor/);
    });
  });

  describe('followRun', () => {
    /** A run that goes through the given statuses, one per poll, with its log growing by the given chunks. */
    function fakeRun(statuses: Run['status'][], logChunks: string[], runErrorMessage?: string) {
      let poll = 0;
      const cancelled: string[] = [];
      const ranges: string[] = [];
      const log = () => logChunks.slice(0, Math.min(poll, logChunks.length)).join('');
      const arm = {
        getRun: async (_registry: string, runId: string): Promise<Run> => {
          const status = cancelled.length ? 'Canceled' : statuses[Math.min(poll, statuses.length - 1)];
          poll++;
          return { runId, status, ...(runErrorMessage ? { runErrorMessage } : {}) };
        },
        listLogSasUrl: async () => 'https://blob.example/logs/r1/rawtext.log?sig=secret',
        cancelRun: async (_registry: string, runId: string) => void cancelled.push(runId),
      } as unknown as AcrTasksClient;
      const http: HttpClient = async (request) => {
        const from = Number(/bytes=(\d+)-/.exec(request.headers?.Range ?? '')?.[1] ?? 0);
        ranges.push(request.headers?.Range ?? '');
        const content = Buffer.from(log());
        return from >= content.length ? response(416, '') : response(206, content.subarray(from).toString('utf8'));
      };
      return { arm, http, cancelled, ranges };
    }
    const base = { registryId: '/r', runId: 'r1', queueTimeoutMs: 60_000, queueTimeoutInput: 'acrTasksQueueTimeout', pollMs: 1 };

    it('streams the log as it grows, line by line, reading from where it stopped', async () => {
      const fake = fakeRun(['Queued', 'Running', 'Running', 'Succeeded'], ['Step 1/2\nSte', 'p 2/2\n', 'done']);
      const logger = new RecordingLogger();
      const run = await followRun({ ...base, arm: fake.arm, http: fake.http, logger, prefix: '[linux/arm64] ' });
      assert.equal(run.status, 'Succeeded');
      assert.deepEqual(
        logger.lines.filter((l) => l.level === 'info').map((l) => l.message),
        ['[linux/arm64] Step 1/2', '[linux/arm64] Step 2/2', '[linux/arm64] done'],
      );
      assert.ok(fake.ranges.includes('bytes=0-') && fake.ranges.some((r) => r !== 'bytes=0-'), fake.ranges.join(' '));
    });

    it('fails a failed run with its error and the last lines of its log', async () => {
      const lines = Array.from({ length: 30 }, (_, i) => `line ${i}\n`).join('');
      const fake = fakeRun(['Running', 'Failed'], [lines], 'failed during run, err: exit status 1');
      const error = await followRun({ ...base, arm: fake.arm, http: fake.http, logger: new RecordingLogger() }).catch((e: unknown) => e);
      assert.ok(error instanceof RunError && error.reason === 'failed', String(error));
      assert.match(
        error.message,
        /^ACR run r1 ended Failed: failed during run, err: exit status 1\.\nLast lines of its log:\nline 10\n[\s\S]*line 29$/,
      );
      assert.doesNotMatch(error.message, /line 9\n/);
    });

    it('cancels a run queued past the timeout, naming the input', async () => {
      const fake = fakeRun(['Queued'], []);
      let now = 0;
      const error = await followRun({
        ...base,
        queueTimeoutMs: 3000,
        arm: fake.arm,
        http: fake.http,
        logger: new RecordingLogger(),
        now: () => (now += 1000),
      }).catch((e: unknown) => e);
      assert.ok(error instanceof RunError && error.reason === 'queueTimeout', String(error));
      assert.match(error.message, /still waiting for an agent \(Queued\) after 3 s, so it was cancelled.*'acrTasksQueueTimeout'/);
      assert.deepEqual(fake.cancelled, ['r1']);
    });

    it('cancels the run when the pipeline is cancelled', async () => {
      const fake = fakeRun(['Running'], ['building\n']);
      const aborter = new AbortController();
      const following = followRun({
        ...base,
        pollMs: 5,
        arm: fake.arm,
        http: fake.http,
        logger: new RecordingLogger(),
        signal: aborter.signal,
      });
      setTimeout(() => aborter.abort('The pipeline was cancelled'), 20);
      const error = await following.catch((e: unknown) => e);
      assert.ok(error instanceof RunError && error.reason === 'cancelled', String(error));
      assert.match(error.message, /^The pipeline was cancelled; ACR run r1 was cancelled too\./);
      assert.deepEqual(fake.cancelled, ['r1']);
    });
  });
});
