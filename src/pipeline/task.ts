import * as tl from 'azure-pipelines-task-lib/task';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Agent, Outcome, TaskContext } from '../context';
import { agentClients } from '../http/agent-client';
import { type AgentNetwork, childProxyEnv, describeProxy, proxySecrets } from '../http/proxy';
import { unsupportedAgentMessage } from '../platform/agent-os';
import type { Logger } from '../log';
import { run } from '../process/exec';
import { toolLibCache } from '../tools/cache';

export type { Outcome } from '../context';

/**
 * Text for the agent log that can never be a logging command: the agent acts on `##vso[` anywhere in any line of
 * stdout or stderr (Command.TryParse), so a build step or tool printing `##vso[task.setvariable ...]` would otherwise
 * set our outputs. A zero-width space after `##` keeps the line readable and inert.
 */
export function inertLogText(message: string): string {
  return message.replace(/##vso\[/gi, '##\u200bvso[');
}

/** Writes to the agent log: collapsible groups, warnings as issues, debug lines shown with system.debug. */
export const pipelineLogger: Logger = {
  info: (message) => console.log(inertLogText(message)),
  warn: (message) => tl.warning(message),
  debug: (message) => tl.debug(message),
  group: async (title, body) => {
    console.log(`##[group]${inertLogText(title)}`);
    try {
      return await body();
    } finally {
      console.log('##[endgroup]');
    }
  },
};

/**
 * Runs a task body the way every task here ends: resources loaded so tl.loc prints text, any thrown error becomes
 * a failed task whose message is the error's, never a stack trace, and the body may report issues without throwing.
 */
export async function runTask(taskDir: string, body: () => Promise<Outcome | void>): Promise<void> {
  tl.setResourcePath(path.join(taskDir, 'task.json'));
  // The first thing a task does: refuse an agent it cannot serve (Windows, macOS), naming its OS.
  const refusal = unsupportedAgentMessage(path.basename(taskDir), process.platform, variable('Agent.OS'));
  if (refusal) return tl.setResult(tl.TaskResult.Failed, refusal);
  try {
    const outcome = (await body()) ?? { result: 'succeeded' };
    if (outcome.result === 'succeeded') tl.setResult(tl.TaskResult.Succeeded, '');
    else if (outcome.result === 'succeededWithIssues') tl.setResult(tl.TaskResult.SucceededWithIssues, outcome.message);
    else tl.setResult(tl.TaskResult.Failed, outcome.message);
  } catch (error) {
    tl.debug(error instanceof Error && error.stack ? error.stack : String(error));
    tl.setResult(tl.TaskResult.Failed, error instanceof Error ? error.message : String(error));
  }
}

/** A post-job step only warns: cleaning up must never fail a job that did its work. */
export async function runPostJob(taskDir: string, body: () => Promise<void>): Promise<void> {
  tl.setResourcePath(path.join(taskDir, 'task.json'));
  // The main step refused this agent and left nothing to clean up.
  if (process.platform !== 'linux') return tl.setResult(tl.TaskResult.Skipped, '');
  try {
    await body();
    tl.setResult(tl.TaskResult.Succeeded, '');
  } catch (error) {
    tl.warning(error instanceof Error ? error.message : String(error));
    tl.setResult(tl.TaskResult.SucceededWithIssues, '');
  }
}

export const loc = (key: string, ...args: unknown[]): string => tl.loc(key, ...args);

/** Sets an output variable declared in task.json (usable as $(step.name) in YAML and by reference name in classic). */
export function setOutput(name: string, value: string): void {
  tl.setVariable(name, value, false, true);
}

/** Sets a job variable that later steps see in their environment (DOCKER_HOST for the steps after EnsureDocker). */
export function exportVariable(name: string, value: string): void {
  tl.setVariable(name, value);
}

/** Masks a value in the pipeline log. Multi-line values (PEM keys) are masked line by line. */
export function registerSecret(value: string | undefined): void {
  if (!value) return;
  for (const line of value.split(/\r?\n/)) if (line.trim().length >= 4) tl.setSecret(line.trim());
}

export function variable(name: string): string | undefined {
  return tl.getVariable(name) || undefined;
}

/** State handed from a task's main step to its post-job step. */
export function saveState(name: string, value: string): void {
  tl.setTaskVariable(name, value);
}

export function readState(name: string): string | undefined {
  return tl.getTaskVariable(name) || undefined;
}

/** A fresh directory of this step under Agent.TempDirectory (the agent empties it after the job). */
export function stepTempDir(prefix: string): string {
  const base = variable('Agent.TempDirectory') ?? os.tmpdir();
  return mkdtempSync(path.join(base, `${prefix}-`));
}

export function toolsDirectory(): string {
  return variable('Agent.ToolsDirectory') ?? path.join(os.tmpdir(), 'tools');
}

/** Adds a markdown section to the run's Summary tab. */
export function uploadSummary(name: string, markdown: string): string {
  const file = path.join(stepTempDir('summary'), `${name}.md`);
  writeFileSync(file, markdown);
  tl.uploadSummary(file);
  return file;
}

/** A file into the pipeline artifact `artifactName`, in a folder of the same name. */
export function uploadArtifact(artifactName: string, file: string): void {
  tl.uploadArtifact(artifactName, file, artifactName);
}

export function addAttachment(type: string, name: string, file: string): void {
  tl.addAttachment(type, name, file);
}

export function publishTestResults(format: 'JUnit', files: string[], runTitle: string): void {
  new tl.TestPublisher(format).publish(files, 'false', '', '', runTitle, 'true');
}

/** Where the agent runs us: lets a task tell a pipeline run from a developer running it by hand. */
export function runUrl(): string | undefined {
  const collection = variable('System.CollectionUri') ?? variable('System.TeamFoundationCollectionUri');
  const project = variable('System.TeamProject') ?? variable('System.TeamProjectId');
  const buildId = variable('Build.BuildId');
  if (!collection || !project || !buildId) return undefined;
  return `${collection.replace(/\/?$/, '/')}${encodeURIComponent(project)}/_build/results?buildId=${buildId}`;
}

/** What the agent offers, through azure-pipelines-task-lib. */
export const pipelineAgent: Agent = {
  loc,
  variable,
  runUrl,
  exportVariable,
  setOutput,
  addAttachment,
  uploadSummary,
  uploadArtifact,
  publishTestResults,
  registerSecret,
  saveState,
  tempDir: stepTempDir,
  toolsDirectory,
};

/**
 * The agent's proxy (Agent.ProxyUrl, credentials, bypass list) and certificates (Agent.CAInfo, client certificate), as
 * task-lib reads them; undefined when the agent has neither.
 */
export function agentNetwork(): AgentNetwork | undefined {
  const proxy = tl.getHttpProxyConfiguration();
  const cert = tl.getHttpCertConfiguration();
  if (!proxy && !cert) return undefined;
  return {
    ...(proxy
      ? {
          proxy: {
            url: proxy.proxyUrl,
            username: proxy.proxyUsername || undefined,
            password: proxy.proxyPassword || undefined,
            bypass: proxy.proxyBypassHosts ?? [],
          },
        }
      : {}),
    ...(cert
      ? {
          cert: {
            caFile: cert.caFile || undefined,
            certFile: cert.certFile || undefined,
            keyFile: cert.keyFile || undefined,
            archiveFile: cert.certArchiveFile || undefined,
            passphrase: cert.passphrase || undefined,
          },
        }
      : {}),
  };
}

/** The context a task's flow runs in on an agent. */
export function pipelineContext(): TaskContext {
  const network = agentNetwork();
  if (network) {
    for (const secret of proxySecrets(network)) registerSecret(secret);
    // docker, buildx, trivy and a daemon the task starts: the proxy and CA through their environment, never argv
    Object.assign(process.env, childProxyEnv(network, process.env, network.cert?.caFile));
    if (network.proxy) tl.debug(`The agent's proxy: ${describeProxy(network.proxy)} (bypass: ${network.proxy.bypass.join(' ') || 'none'})`);
  }
  return {
    runner: run,
    env: process.env,
    logger: pipelineLogger,
    agent: pipelineAgent,
    toolCache: toolLibCache,
    workingDirectory: process.cwd(),
    ...(network ? { network, ...agentClients(network) } : {}),
  };
}
