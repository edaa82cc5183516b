// Which failures of docker's registry commands are retried: a table of the CLI's real error lines, and the retry loop
// that asks the registry before repeating a step.
import * as assert from 'node:assert/strict';
import type { RunResult, Runner } from '../../src/process/exec';
import { CommandError } from '../../src/process/exec';
import { runRetried } from '../../src/process/retry-command';
import { errorLines, transientFailure } from '../../src/process/transient';

const digest = `sha256:${'a'.repeat(64)}`;

describe('transientFailure (the CLI error lines of docker and buildx)', () => {
  const table: [string, string | undefined][] = [
    // docker push
    ['received unexpected HTTP status: 503 Service Unavailable', 'a 5xx from the registry'],
    ['received unexpected HTTP status: 502 Bad Gateway', 'a 5xx from the registry'],
    ['error parsing HTTP 429 response body: toomanyrequests: too many requests', '429 (throttled)'],
    ['Put "https://contoso.azurecr.io/v2/web/blobs/uploads/7c1?digest=sha256%3Aab": EOF', undefined], // no error prefix: not an error line
    ['error: failed to do request: Put "https://contoso.azurecr.io/v2/web/blobs/uploads/7c1": EOF', 'a connection closed early (EOF)'],
    ['error: read tcp 127.0.0.1:51234->127.0.0.1:443: read: connection reset by peer', 'a reset connection'],
    [
      'failed commit on ref "manifest-sha256:d304": failed to do request: Put "https://fabrikam.azurecr.io/v2/web/manifests/4711": use of closed network connection',
      'a reset connection',
    ],
    [
      'failed commit on ref "manifest-sha256:d304": unexpected status from PUT request to https://fabrikam.azurecr.io/v2/web/manifests/4711: 503 Service Unavailable',
      'a 5xx from the registry',
    ],
    ['denied: requested access to the resource is denied', undefined],
    ['unauthorized: authentication required', undefined],
    ["name unknown: The repository with name 'web' does not exist", undefined],
    // docker login
    [
      'Error response from daemon: login attempt to https://contoso.azurecr.io/v2/ failed with status: 503 Service Unavailable',
      'a 5xx from the registry',
    ],
    ['Error response from daemon: Get "https://contoso.azurecr.io/v2/": unauthorized: authentication required', undefined],
    [
      'Error response from daemon: Get "https://contoso.azurecr.io/v2/": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)',
      'a network timeout',
    ],
    ['Error response from daemon: Get "https://contoso.azurecr.io/v2/": x509: certificate signed by unknown authority', undefined],
    // buildx build --push, imagetools create
    [
      'ERROR: failed to solve: failed to push contoso.azurecr.io/web:1: unexpected status from PUT request to https://contoso.azurecr.io/v2/web/manifests/1: 503 Service Unavailable',
      'a 5xx from the registry',
    ],
    [
      'ERROR: failed to solve: failed to do request: Head "https://contoso.azurecr.io/v2/web/blobs/sha256:ab": dial tcp: i/o timeout',
      'a network timeout',
    ],
    [
      'ERROR: failed to solve: process "/bin/sh -c curl https://example.test/ || exit 1" did not complete successfully: exit code: 1',
      undefined,
    ],
    ['ERROR: failed to solve: failed to push contoso.azurecr.io/web:1: unexpected status from PUT request: 403 Forbidden', undefined],
    [
      'ERROR: failed to copy: httpReadSeeker: failed open: unexpected status code https://contoso.azurecr.io/v2/web/manifests/sha256:ab: 500 Internal Server Error',
      'a 5xx from the registry',
    ],
    ['error: failed to write: unexpected EOF', 'a connection closed early (EOF)'],
    ['nothing went wrong here', undefined],
  ];
  for (const [line, expected] of table) {
    it(`${expected ?? 'final'}: ${line.slice(0, 90)}`, () => assert.equal(transientFailure(line), expected));
  }

  it('reads error lines only: a build step that printed a 503 or EOF in its own output is not a registry failure', () => {
    const output = [
      '#7 [2/3] RUN ./fetch.sh',
      '#7 0.412 HTTP/1.1 503 Service Unavailable',
      '#7 0.413 unexpected EOF',
      'ERROR: failed to solve: process "/bin/sh -c ./fetch.sh" did not complete successfully: exit code: 22',
    ].join('\n');
    assert.deepEqual(errorLines(output), [
      'ERROR: failed to solve: process "/bin/sh -c ./fetch.sh" did not complete successfully: exit code: 22',
    ]);
    assert.equal(transientFailure(output), undefined);
  });

  it('a refusal anywhere in the error lines makes the whole failure final', () => {
    assert.equal(
      transientFailure(
        'error: received unexpected HTTP status: 503 Service Unavailable\ndenied: requested access to the resource is denied',
      ),
      undefined,
    );
  });
});

function result(exitCode: number, stderr = '', stdout = ''): RunResult {
  return { exitCode, signal: null, stdout, stderr, timedOut: false, durationMs: 1 };
}

function scripted(...answers: RunResult[]): { runner: Runner; calls: number } {
  const state = { calls: 0, runner: (async () => answers[Math.min(state.calls++, answers.length - 1)]) as Runner };
  return state as unknown as { runner: Runner; calls: number };
}

describe('runRetried', () => {
  const noWait = async () => undefined;
  const reset = result(1, 'error: read tcp 127.0.0.1:5->127.0.0.1:443: read: connection reset by peer');
  const unavailable = result(1, 'received unexpected HTTP status: 503 Service Unavailable');

  it('survives one 503 and one reset, and says so', async () => {
    const runs = scripted(unavailable, reset, result(0, '', `1: digest: ${digest} size: 528`));
    const warnings: string[] = [];
    const logger = {
      info: () => undefined,
      debug: () => undefined,
      warn: (m: string) => warnings.push(m),
      group: async <T>(_: string, b: () => Promise<T>) => b(),
    };
    const retried = await runRetried(runs.runner, 'docker', ['push', 'x'], {}, { what: 'docker push x', logger, sleep: noWait });
    assert.equal(retried.kind, 'ran');
    assert.equal(retried.attempts, 3);
    assert.equal(runs.calls, 3);
    assert.match(warnings[0], /docker push x failed \(a 5xx from the registry\); trying again in .* \(attempt 2 of 4\)/);
    assert.match(warnings[1], /a reset connection/);
  });

  it('does not repeat a final failure', async () => {
    const runs = scripted(result(1, 'denied: requested access to the resource is denied'), result(0));
    await assert.rejects(runRetried(runs.runner, 'docker', ['push', 'x'], {}, { what: 'push', sleep: noWait }), CommandError);
    assert.equal(runs.calls, 1);
  });

  it('gives up after the bound with the last error', async () => {
    const runs = scripted(unavailable);
    await assert.rejects(runRetried(runs.runner, 'docker', ['push', 'x'], {}, { what: 'push', sleep: noWait }), /503 Service Unavailable/);
    assert.equal(runs.calls, 4);
  });

  it('asks the registry before repeating, and does not repeat a step that landed (a lost answer)', async () => {
    const runs = scripted(reset, result(0));
    const asked: string[] = [];
    const retried = await runRetried(
      runs.runner,
      'docker',
      ['push', 'x'],
      {},
      {
        what: 'push',
        sleep: noWait,
        landed: async (failure) => {
          asked.push(failure.stderr);
          return digest;
        },
      },
    );
    assert.deepEqual(retried.kind === 'landed' ? retried.value : undefined, digest);
    assert.equal(runs.calls, 1, 'pushed once');
    assert.equal(asked.length, 1);
  });

  it('repeats when the registry does not hold the result, or cannot be asked', async () => {
    for (const landed of [async () => undefined, async () => Promise.reject(new Error('registry down'))]) {
      const runs = scripted(reset, result(0));
      const retried = await runRetried(runs.runner, 'docker', ['push', 'x'], {}, { what: 'push', sleep: noWait, landed });
      assert.equal(retried.kind, 'ran');
      assert.equal(runs.calls, 2);
    }
  });

  it('never retries a command that was stopped for taking too long', async () => {
    const runs = scripted({ ...unavailable, timedOut: true }, result(0));
    await assert.rejects(runRetried(runs.runner, 'docker', ['push', 'x'], {}, { what: 'push', sleep: noWait }));
    assert.equal(runs.calls, 1);
  });
});
