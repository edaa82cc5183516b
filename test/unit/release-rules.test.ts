import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareVersions, taskContentHash, versionProblems, type PackagedState } from '../../scripts/release-rules';

const packaged: PackagedState = {
  extensionVersion: '1.2.0',
  tasks: { EnsureDocker: { version: '1.0.3', contentHash: 'a' }, ScanAndRelease: { version: '1.1.0', contentHash: 'b' } },
};
const now = (patch: Partial<PackagedState> & { tasks?: PackagedState['tasks'] }): PackagedState => ({
  ...structuredClone(packaged),
  ...patch,
});

describe('the versioning rule of npm run package', () => {
  it('accepts a first package and an unchanged one', () => {
    assert.deepEqual(versionProblems(undefined, packaged), []);
    assert.deepEqual(versionProblems(packaged, now({})), []);
  });

  it('refuses a task whose shipped files changed without a version bump, naming the file to edit', () => {
    const current = now({ extensionVersion: '1.2.1' });
    current.tasks.EnsureDocker.contentHash = 'changed';
    const problems = versionProblems(packaged, current);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /EnsureDocker changed since it was packaged as 1\.0\.3.*tasks\/EnsureDocker\/task\.json/);
  });

  it('accepts the same change once the task and the extension moved', () => {
    const current = now({ extensionVersion: '1.2.1' });
    current.tasks.EnsureDocker = { version: '1.0.4', contentHash: 'changed' };
    assert.deepEqual(versionProblems(packaged, current), []);
  });

  it('refuses a changed task inside an extension that kept its version', () => {
    const current = now({});
    current.tasks.EnsureDocker = { version: '1.0.4', contentHash: 'changed' };
    assert.match(versionProblems(packaged, current).join('\n'), /extension version is still 1\.2\.0/);
  });

  it('refuses versions that go backwards', () => {
    const current = now({ extensionVersion: '1.1.9' });
    current.tasks.ScanAndRelease = { version: '1.0.9', contentHash: 'b' };
    const problems = versionProblems(packaged, current).join('\n');
    assert.match(problems, /ScanAndRelease: version 1\.0\.9 is lower than the 1\.1\.0/);
    assert.match(problems, /extension version 1\.1\.9 is lower than 1\.2\.0/);
  });

  it('counts a new task as a change of the extension', () => {
    const current = now({});
    current.tasks.BuildForPlatform = { version: '1.0.0', contentHash: 'c' };
    assert.match(versionProblems(packaged, current).join('\n'), /extension version is still/);
  });

  it('compares versions numerically', () => {
    assert.ok(compareVersions('1.10.0', '1.9.9') > 0);
    assert.equal(compareVersions('1.0.0', '1.0.0'), 0);
  });

  it('hashes what a task ships, leaving its own version number out', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'task-'));
    mkdirSync(path.join(dir, 'nested'));
    const write = (version: number, code: string) => {
      writeFileSync(path.join(dir, 'task.json'), JSON.stringify({ name: 'T', version: { Major: 1, Minor: 0, Patch: version } }));
      writeFileSync(path.join(dir, 'index.js'), code);
    };
    write(1, 'a()');
    const first = taskContentHash(dir);
    write(2, 'a()');
    assert.equal(taskContentHash(dir), first, 'a bump alone is no change');
    write(2, 'b()');
    assert.notEqual(taskContentHash(dir), first, 'a code change is one');
  });
});
