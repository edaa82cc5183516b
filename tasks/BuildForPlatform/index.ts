// BuildForPlatform@1: the task shell. Reads the inputs and the service connection, runs the flow of
// src/buildx/build-for-platform.ts in the agent's context, and reports its outcome.
import * as path from 'node:path';
// azure-pipelines-task-lib first: it writes the first log line as it loads, before the rest of the bundle runs.
import { pipelineContext, readRegistryConnection, runTask, TaskInputs } from '../../src/pipeline';
import { buildForPlatform, readBuildForPlatformInputs } from '../../src/buildx/build-for-platform';

void runTask(__dirname, async () => {
  const inputs = new TaskInputs(path.join(__dirname, 'task.json'));
  const context = pipelineContext();
  return buildForPlatform(readBuildForPlatformInputs(inputs, readRegistryConnection(inputs), context), context);
});
