// EnsureDocker's post-job step: remove the images this job built (or also prune the build cache), and stop a
// daemon the main step started. It only warns; a cleanup problem never fails a job that did its work.
import * as path from 'node:path';
import { dockerCliEnv } from '../../src/docker/api';
import { readBuiltImageRecords } from '../../src/docker/built-images';
import { engineImages, pruneBuildCache, removeBuiltImages } from '../../src/docker/cleanup';
import { pingAndVersion } from '../../src/docker/engine-ping';
import { stopDaemon } from '../../src/docker/daemon';
import { processEnvironment, resolveEndpoint } from '../../src/docker/endpoint';
import { run } from '../../src/process/exec';
import { loc, pipelineLogger as log, readState, runPostJob, TaskInputs, variable } from '../../src/pipeline';
import { type EnsureDockerState, STATE_NAME } from '../../src/docker/ensure-docker-task';
import { readCleanup } from './inputs';

void runPostJob(__dirname, async () => {
  const saved = readState(STATE_NAME);
  if (!saved) {
    console.log(loc('PostSkipped'));
    return;
  }
  const state = JSON.parse(saved) as EnsureDockerState;
  try {
    const { mode, keepStorageBytes } = readCleanup(new TaskInputs(path.join(__dirname, 'task.json')));
    if (mode === 'none' || !state.reachable) return;
    const endpoint = resolveEndpoint(processEnvironment(), state.dockerHost);
    if (endpoint.kind === 'ssh') {
      log.warn(`Cleaning up over ${endpoint.host} is not supported; images are left in place.`);
      return;
    }
    try {
      await pingAndVersion(endpoint, 60_000);
    } catch (error) {
      log.warn(loc('PostDaemonUnreachable', (error as Error).message));
      return;
    }
    const jobId = variable('System.JobId');
    const tempDir = variable('Agent.TempDirectory');
    const records = tempDir ? readBuiltImageRecords(tempDir) : [];
    if (!jobId) log.warn('System.JobId is not set, so images are found only through the record file.');
    const report = await removeBuiltImages(engineImages(endpoint, 60_000), jobId ?? '', records, log);
    console.log(report.removed.length ? loc('PostRemoved', report.removed.length) : loc('PostNothingBuilt'));
    if (mode === 'prune' && keepStorageBytes !== undefined) await pruneBuildCache(run, keepStorageBytes, dockerCliEnv(endpoint), log);
  } finally {
    if (state.daemon) await stopDaemon(state.daemon, log);
  }
});
