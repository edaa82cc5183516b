// EnsureDocker@1: docker, buildx, a daemon that answers and emulation for the platforms asked for, installing only
// what is missing. The task shell: inputs in, core call, outputs and post-job state out.
// azure-pipelines-task-lib first: it writes the first log line as it loads; then the tool probes start, and run
// while the rest of the bundle loads.
import {
  exportVariable,
  loc,
  pipelineLogger,
  runTask,
  saveState,
  setOutput,
  stepTempDir,
  TaskInputs,
  toolsDirectory,
} from '../../src/pipeline';
import { toolProbes } from './early-probes';
import * as path from 'node:path';
import { ensureDocker } from '../../src/docker/ensure';
import { toolLibCache } from '../../src/tools/cache';
import { run } from '../../src/process/exec';
import { postJobState, readEnsureOptions, STATE_NAME } from './inputs';

void runTask(__dirname, async () => {
  const inputs = new TaskInputs(path.join(__dirname, 'task.json'));
  const options = readEnsureOptions(inputs);
  const state = postJobState(options.dockerHost, (value) => saveState(STATE_NAME, value));
  const result = await ensureDocker(options, {
    runner: run,
    logger: pipelineLogger,
    env: process.env,
    toolsDir: toolsDirectory(),
    tempDir: stepTempDir('ensure-docker'),
    toolCache: toolLibCache,
    toolProbes,
    // Saved at once: a check that fails after the start must not leave the daemon running past the job.
    onDaemonStarted: state.daemonStarted,
  });
  state.checksPassed(result.daemonStarted);
  if (options.dockerHost) {
    // Later steps (BuildForPlatform, scripts) talk to the same daemon.
    exportVariable('DOCKER_HOST', options.dockerHost);
    console.log(loc('DockerHostExported', options.dockerHost));
  }
  setOutput('dockerVersion', result.dockerVersion);
  setOutput('buildxVersion', result.buildxVersion);
  setOutput('serverVersion', result.server.version);
  setOutput('serverPlatform', result.serverPlatform);
  setOutput('installed', result.installed.join(','));
  setOutput('daemonStarted', String(!!result.daemonStarted));
  if (result.daemonStarted?.pid) console.log(loc('DaemonStarted', result.daemonStarted.pid, result.daemonStarted.logFile));
  console.log(result.installed.length ? loc('Installed', result.installed.join(', ')) : loc('NothingInstalled'));
  console.log(loc('Ready', result.dockerVersion, result.buildxVersion, result.server.version, result.serverPlatform, result.endpoint.host));
});
