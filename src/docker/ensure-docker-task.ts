// EnsureDocker's whole flow as the task runs it: docker, buildx, a daemon and emulation (src/docker/ensure.ts), then
// what the agent keeps of it: the post-job state, DOCKER_HOST for later steps, the outputs and the closing lines.
import type { TaskContext } from '../context';
import type { StartedDaemon } from './daemon';
import { ensureDocker, type EnsureContext, type EnsureOptions } from './ensure';

/** What the main step hands to the post-job step. */
export interface EnsureDockerState {
  /** The dockerHost input, when one was given (the post step talks to the same daemon). */
  dockerHost?: string;
  /**
   * The main step ended with every check passed and the daemon answering. False while a daemon this step started is
   * only recorded: when a later check fails, the post step stops that daemon but removes no image through it.
   */
  reachable: boolean;
  daemon?: StartedDaemon;
}

export const STATE_NAME = 'ensureDockerState';

/** The post-job state as the main step learns it: a started daemon at once (so it never outlives the job), then reachable at the end. */
export function postJobState(dockerHost: string | undefined, save: (state: string) => void) {
  const write = (state: EnsureDockerState) => save(JSON.stringify(state));
  return {
    daemonStarted: (daemon: StartedDaemon) => write({ dockerHost, reachable: false, daemon }),
    checksPassed: (daemon: StartedDaemon | undefined) => write({ dockerHost, reachable: true, daemon }),
  };
}

export type EnsureDockerTaskContext = TaskContext & Pick<EnsureContext, 'toolProbes' | 'uid' | 'ask' | 'arch'>;

export async function ensureDockerTask(options: EnsureOptions, context: EnsureDockerTaskContext): Promise<void> {
  const { agent } = context;
  const state = postJobState(options.dockerHost, (value) => agent.saveState(STATE_NAME, value));
  const result = await ensureDocker(options, {
    ...context,
    toolsDir: agent.toolsDirectory(),
    tempDir: agent.tempDir('ensure-docker'),
    // Saved at once: a check that fails after the start must not leave the daemon running past the job.
    onDaemonStarted: state.daemonStarted,
  });
  state.checksPassed(result.daemonStarted);
  if (options.dockerHost) {
    // Later steps (BuildForPlatform, scripts) talk to the same daemon.
    agent.exportVariable('DOCKER_HOST', options.dockerHost);
    console.log(agent.loc('DockerHostExported', options.dockerHost));
  }
  agent.setOutput('dockerVersion', result.dockerVersion);
  agent.setOutput('buildxVersion', result.buildxVersion);
  agent.setOutput('composeVersion', result.composeVersion);
  agent.setOutput('serverVersion', result.server.version);
  agent.setOutput('serverPlatform', result.serverPlatform);
  agent.setOutput('installed', result.installed.join(','));
  agent.setOutput('daemonStarted', String(!!result.daemonStarted));
  if (result.daemonStarted?.pid) console.log(agent.loc('DaemonStarted', result.daemonStarted.pid, result.daemonStarted.logFile));
  console.log(result.installed.length ? agent.loc('Installed', result.installed.join(', ')) : agent.loc('NothingInstalled'));
  const { dockerVersion, buildxVersion, server, serverPlatform, endpoint } = result;
  console.log(agent.loc('Ready', dockerVersion, buildxVersion, server.version, serverPlatform, endpoint.host));
}
