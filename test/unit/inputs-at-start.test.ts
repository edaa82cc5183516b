// The kind of bad input that slips through: one the start of a task never reads (a post-job step's, or one read only
// on some path) is checked late or never. Every input task.json declares must be read by the reader that runs before
// anything else; this fails for any input a reader leaves out, whatever it is.
import { strict as assert } from 'node:assert';
import { rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { readBuildForPlatformInputs } from '../../src/buildx/build-for-platform';
import { Inputs } from '../../src/inputs';
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
});
