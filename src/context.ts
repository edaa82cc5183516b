// The one context a task's flow runs in: how it starts programs, its environment, where it logs, and what the agent
// offers (outputs, attachments, the Summary tab, test results, secrets, saved state, the task's messages). The task
// shells build it from azure-pipelines-task-lib (src/pipeline/task.ts); unit tests build it from fakes.
import type { HttpClient } from './http/client';
import type { AgentNetwork } from './http/proxy';
import type { Logger } from './log';
import type { Runner } from './process/exec';
import type { StreamHttpClient } from './registry/transport';
import type { ToolCache } from './tools/cache';

/** How a task ends: a thrown error also fails it, with the error's message. */
export type Outcome = { result: 'succeeded' } | { result: 'succeededWithIssues' | 'failed'; message: string };

/** What the agent offers a task, each as one small function. */
export interface Agent {
  /** A message of the task's task.json `messages`, formatted with its arguments. */
  loc(key: string, ...args: unknown[]): string;
  /** A pipeline variable (Build.SourceVersion, System.JobId, ...). */
  variable(name: string): string | undefined;
  /** This run's results page, when the task runs in a pipeline run. */
  runUrl(): string | undefined;
  /** Sets a job variable that later steps see in their environment (DOCKER_HOST). */
  exportVariable(name: string, value: string): void;
  /** Sets an output variable declared in task.json. */
  setOutput(name: string, value: string): void;
  addAttachment(type: string, name: string, file: string): void;
  /** Adds a markdown section to the run's Summary tab. */
  uploadSummary(name: string, markdown: string): void;
  /** Uploads a file into a pipeline artifact of this run (artifact.upload), e.g. CodeAnalysisLogs for the Scans tab. */
  uploadArtifact(artifactName: string, file: string): void;
  publishTestResults(format: 'JUnit', files: string[], runTitle: string): void;
  /** Masks a value in the pipeline log. */
  registerSecret(value: string | undefined): void;
  /** State handed from a task's main step to its post-job step. */
  saveState(name: string, value: string): void;
  /** A fresh directory of this step, emptied by the agent after the job. */
  tempDir(prefix: string): string;
  /** Agent.ToolsDirectory: the tool cache and caches that outlive the job. */
  toolsDirectory(): string;
}

export interface TaskContext {
  runner: Runner;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  agent: Agent;
  /** The agent's tool cache, loaded only when a tool must be installed or found. */
  toolCache: () => Promise<ToolCache>;
  /** Relative input paths are resolved against this directory. */
  workingDirectory: string;
  /** HTTP to registries and identity providers; fetch unless a test hands in a fake. */
  http?: HttpClient;
  /** Streaming HTTP for blobs; fetch unless a test hands in a fake. */
  stream?: StreamHttpClient;
  /** The agent's proxy and certificates, when it has any (`http` and `stream` then go through them). */
  network?: AgentNetwork;
}
