// A TaskContext of fakes for the in-process tests of the task flows: an agent that writes down every output,
// summary, attachment, test result, secret and saved state, the task's own messages from its task.json, and
// the task's inputs read from a record with task.json's defaults.
import type { EnsureOptions } from '../../src/docker/ensure';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { format } from 'node:util';
import type { Agent, TaskContext } from '../../src/context';
import { type DeclaredInput, Inputs } from '../../src/inputs';
import { RecordingLogger } from '../../src/log';
import type { RunOptions, RunResult, Runner } from '../../src/process/exec';
import type { ToolCache } from '../../src/tools/cache';

const tasksDir = path.resolve(__dirname, '..', '..', 'tasks');

export function taskJson(task: string): { inputs: DeclaredInput[]; messages: Record<string, string> } {
  return JSON.parse(readFileSync(path.join(tasksDir, task, 'task.json'), 'utf8'));
}

/** The task's inputs as the pipeline gave them (a record), with the defaults of its task.json. */
export function taskInputs(task: string, values: Record<string, string>, workingDirectory: string): Inputs {
  return new Inputs(taskJson(task).inputs, (name) => values[name], workingDirectory);
}

export class FakeAgent implements Agent {
  readonly outputs = new Map<string, string>();
  readonly summaries: { name: string; markdown: string }[] = [];
  readonly attachments: { type: string; name: string; file: string }[] = [];
  readonly artifacts: { artifactName: string; file: string }[] = [];
  readonly testResults: { files: string[]; runTitle: string }[] = [];
  readonly secrets: string[] = [];
  readonly state = new Map<string, string>();
  readonly variables = new Map<string, string>();
  /** Variables the task set for later steps. */
  readonly exported = new Map<string, string>();
  private readonly messages: Record<string, string>;

  constructor(
    task: string,
    private readonly root: string,
  ) {
    this.messages = taskJson(task).messages;
  }
  loc(key: string, ...args: unknown[]): string {
    const message = this.messages[key];
    if (message === undefined) throw new Error(`no message '${key}' in task.json`);
    return format(message, ...args);
  }
  variable(name: string): string | undefined {
    return this.variables.get(name);
  }
  runUrl(): string | undefined {
    return 'https://dev.azure.com/contoso/shop/_build/results?buildId=7';
  }
  exportVariable(name: string, value: string): void {
    this.exported.set(name, value);
  }
  setOutput(name: string, value: string): void {
    this.outputs.set(name, value);
  }
  addAttachment(type: string, name: string, file: string): void {
    this.attachments.push({ type, name, file });
  }
  uploadArtifact(artifactName: string, file: string): void {
    this.artifacts.push({ artifactName, file });
  }
  uploadSummary(name: string, markdown: string): void {
    this.summaries.push({ name, markdown });
  }
  publishTestResults(_format: 'JUnit', files: string[], runTitle: string): void {
    this.testResults.push({ files, runTitle });
  }
  registerSecret(value: string | undefined): void {
    if (value) this.secrets.push(value);
  }
  saveState(name: string, value: string): void {
    this.state.set(name, value);
  }
  tempDir(prefix: string): string {
    return mkdtempSync(path.join(this.root, `${prefix}-`));
  }
  toolsDirectory(): string {
    return path.join(this.root, 'tools');
  }
}

export interface Call {
  file: string;
  args: string[];
  options?: RunOptions;
}

export type Answer = Partial<RunResult> | undefined;

/** A runner that answers through `answer` (exit 0 with no output when it returns nothing) and writes every call down. */
export function fakeRunner(answer: (call: Call) => Answer | Promise<Answer>): { runner: Runner; calls: Call[] } {
  const calls: Call[] = [];
  const runner: Runner = async (file, args, options) => {
    const call = { file, args: [...args], options };
    calls.push(call);
    const answered = (await answer(call)) ?? {};
    return { exitCode: 0, signal: null, stdout: '', stderr: '', timedOut: false, durationMs: 1, ...answered };
  };
  return { runner, calls };
}

export interface FakeContext extends TaskContext {
  agent: FakeAgent;
  logger: RecordingLogger;
  root: string;
}

export function fakeContext(task: string, runner: Runner, overrides: Partial<TaskContext> = {}): FakeContext {
  const root = mkdtempSync(path.join(os.tmpdir(), `${task.toLowerCase()}-`));
  const noToolCache = async (): Promise<ToolCache> => {
    throw new Error('this test installs nothing');
  };
  return {
    runner,
    env: { PATH: '/usr/bin:/bin', HOME: root },
    logger: new RecordingLogger(),
    agent: new FakeAgent(task, root),
    toolCache: noToolCache,
    workingDirectory: root,
    root,
    ...overrides,
  } as FakeContext;
}

/** EnsureDocker's inputs as parsed, static source, nothing to start: override what a case is about. */
export const ensureOptions = (over: Partial<EnsureOptions> = {}): EnsureOptions => ({
  installSource: 'static',
  buildxVersion: '0.21.2',
  compose: 'report',
  composeVersion: '2.39.2',
  startDaemon: 'never',
  emulatePlatforms: [],
  staticSources: {
    dockerBaseUrl: 'https://mirror.test/static/stable',
    buildxBaseUrl: 'https://mirror.test/buildx',
    composeBaseUrl: 'https://mirror.test/compose',
    checksumLines: [],
  },
  dockerRepositoryUrl: 'https://download.docker.com/linux',
  ...over,
});
