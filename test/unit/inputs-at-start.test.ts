// The kind of bad input that slips through: one the start of a task never reads (a post-job step's, or one read only
// on some path) is checked late or never. Every input task.json declares must be read by the reader that runs before
// anything else; this fails for any input a reader leaves out, whatever it is.
import { strict as assert } from 'node:assert';
import { rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { readBuildForPlatformInputs } from '../../src/buildx/build-for-platform';
import { InputError, Inputs } from '../../src/inputs';
import { readScanAndReleaseInputs } from '../../src/release/scan-and-release-task';
import { readEnsureOptions } from '../../tasks/EnsureDocker/inputs';
import { fakeContext, fakeRunner, taskJson } from './task-context-fakes';

/** Inputs that write down every name asked for. */
class RecordingInputs extends Inputs {
  readonly read = new Set<string>();
  override string(name: string): string | undefined {
    this.read.add(name);
    return super.string(name);
  }
}

const declared = (task: string) => taskJson(task).inputs.map((i: { name: string }) => i.name);

describe('every input is read when the task starts', () => {
  it('EnsureDocker: the post-job inputs (cleanup, pruneKeepStorage) included', () => {
    const inputs = new RecordingInputs(taskJson('EnsureDocker').inputs, () => undefined);
    readEnsureOptions(inputs);
    assert.deepEqual(
      declared('EnsureDocker').filter((n: string) => !inputs.read.has(n)),
      [],
    );
  });

  it('BuildForPlatform (the two connection inputs are read by readRegistryConnection)', () => {
    const context = fakeContext('BuildForPlatform', fakeRunner(() => undefined).runner);
    try {
      writeFileSync(path.join(context.root, 'Dockerfile'), 'FROM scratch\n');
      const values: Record<string, string> = { registry: 'contoso.azurecr.io', repository: 'team/app', tags: '1' };
      const inputs = new RecordingInputs(taskJson('BuildForPlatform').inputs, (n) => values[n], context.root);
      readBuildForPlatformInputs(inputs, undefined, context);
      const connections = ['azureSubscription', 'dockerRegistryServiceConnection'];
      assert.deepEqual(
        declared('BuildForPlatform').filter((n: string) => !inputs.read.has(n) && !connections.includes(n)),
        [],
      );
    } finally {
      rmSync(context.root, { recursive: true, force: true });
    }
  });

  describe('ScanAndRelease (the two connection inputs are read by readRegistryConnection, when signing in)', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const read = (values: Record<string, string>) => {
      const context = fakeContext('ScanAndRelease', fakeRunner(() => undefined).runner);
      try {
        const inputs = new RecordingInputs(taskJson('ScanAndRelease').inputs, (n) => values[n], context.root);
        readScanAndReleaseInputs(inputs, () => undefined, context);
        return inputs.read;
      } finally {
        rmSync(context.root, { recursive: true, force: true });
      }
    };
    const unread = (read: Set<string>) =>
      declared('ScanAndRelease').filter(
        (n: string) => !read.has(n) && !['azureSubscription', 'dockerRegistryServiceConnection'].includes(n),
      );

    for (const release of ['quarantine', 'gateOnly', 'promote'])
      it(`release: ${release}`, () => {
        const values: Record<string, string> = { image: `contoso.azurecr.io/staging/app@${digest}`, release };
        if (release === 'promote') Object.assign(values, { releaseRepository: 'release/app', releaseTags: '1.0' });
        assert.deepEqual(unread(read(values)), []);
      });

    it("promotion's inputs under another release mode fail at the start, naming the input and the fix", () => {
      for (const [name, value] of [
        ['releaseRepository', 'release/app'],
        ['releaseTags', '1.0'],
      ])
        assert.throws(
          () => read({ image: `contoso.azurecr.io/staging/app@${digest}`, release: 'quarantine', [name]: value }),
          (e: unknown) => e instanceof InputError && e.input === name && /release is 'quarantine'.*Set release: promote/.test(e.message),
        );
    });
  });
});
