// ScanAndRelease@1: the task shell. Reads the inputs and the service connection, runs the flow of
// src/release/scan-and-release-task.ts in the agent's context, and reports its outcome.
import * as path from 'node:path';
import { pipelineContext, readRegistryConnection, runTask, TaskInputs } from '../../src/pipeline';
import { readScanAndReleaseInputs, scanAndReleaseTask } from '../../src/release/scan-and-release-task';

void runTask(__dirname, async () => {
  const inputs = new TaskInputs(path.join(__dirname, 'task.json'));
  const context = pipelineContext();
  return scanAndReleaseTask(
    readScanAndReleaseInputs(inputs, () => readRegistryConnection(inputs), context),
    context,
  );
});
