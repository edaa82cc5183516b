// EnsureDocker@1: docker, buildx, a daemon that answers and emulation for the platforms asked for, installing only
// what is missing. The task shell: reads the inputs, runs the flow of src/docker/ensure-docker-task.ts in the agent's
// context. azure-pipelines-task-lib first: it writes the first log line as it loads; then the tool probes start, and
// run while the rest of the bundle loads.
import { pipelineContext, runTask, TaskInputs } from '../../src/pipeline';
import { toolProbes } from './early-probes';
import * as path from 'node:path';
import { ensureDockerTask } from '../../src/docker/ensure-docker-task';
import { readEnsureOptions } from './inputs';

void runTask(__dirname, async () => {
  const inputs = new TaskInputs(path.join(__dirname, 'task.json'));
  await ensureDockerTask(readEnsureOptions(inputs), { ...pipelineContext(), toolProbes });
});
