import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLock } from '../../src/docker/lock';
import { sleep } from '../../src/util/retry';

describe('install lock', () => {
  const file = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'lock-')), 'tools', 'ensure-docker.lock');

  it('lets one job in at a time and the other waits', async () => {
    const lock = file();
    const events: string[] = [];
    const job = (name: string) =>
      withLock(
        lock,
        async () => {
          events.push(`${name} in`);
          await sleep(30);
          events.push(`${name} out`);
        },
        { pollMs: 5, onWait: () => events.push(`${name} waits`) },
      );
    await Promise.all([job('a'), job('b')]);
    assert.deepEqual(events, ['a in', 'b waits', 'a out', 'b in', 'b out']);
    assert.ok(!existsSync(lock), 'released');
  });

  it('releases the lock when the work fails', async () => {
    const lock = file();
    await assert.rejects(
      withLock(lock, async () => Promise.reject(new Error('apt failed'))),
      /apt failed/,
    );
    assert.ok(!existsSync(lock));
  });

  it('takes over a lock whose owner died, and one older than any install', async () => {
    const lock = file();
    await withLock(lock, async () => undefined);
    writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), since: Date.now() }));
    assert.equal(await withLock(lock, async () => 'took over', { timeoutMs: 1000, pollMs: 5 }), 'took over');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: 'another-agent', since: Date.now() - 2 * 3600_000 }));
    assert.equal(await withLock(lock, async () => 'stale', { timeoutMs: 1000, pollMs: 5 }), 'stale');
  });

  it('gives up after the timeout, naming the owner', async () => {
    const lock = file();
    await withLock(lock, async () => undefined);
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), since: Date.now() }));
    await assert.rejects(
      withLock(lock, async () => undefined, { timeoutMs: 30, pollMs: 5 }),
      new RegExp(`held the install lock .* \\(pid ${process.pid} on ${os.hostname()}\\)`),
    );
  });
});
