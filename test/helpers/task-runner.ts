// Starts a bundled task the way the Azure Pipelines agent does: `node dist/tasks/<Task>/<entry>.js` with inputs,
// service connections and variables in the environment, task.json defaults applied and $(macros) expanded in
// inputs, then reads the logging commands back from stdout into a structured result.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseVsoCommands, type VsoCommand } from './vso';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const distTasks = path.join(repoRoot, 'dist', 'tasks');

export type TaskName = 'EnsureDocker' | 'BuildForPlatform' | 'ScanAndRelease';

export interface Endpoint {
  url?: string;
  scheme: string;
  parameters: Record<string, string>;
  data?: Record<string, string>;
}

export interface RunTaskOptions {
  task: TaskName;
  entry?: 'index.js' | 'post.js';
  inputs?: Record<string, string | boolean | number | undefined>;
  /** Service connections by id; the id is what a connectedService input holds. */
  endpoints?: Record<string, Endpoint>;
  /** Pipeline variables by their dotted name (Build.BuildId); they also expand $(Build.BuildId) in inputs. */
  variables?: Record<string, string>;
  secretVariables?: Record<string, string>;
  /** Task variables from the main step, handed to the post-job step as the agent does. */
  taskVariables?: Record<string, string>;
  /** Extra process environment (NODE_EXTRA_CA_CERTS, DOCKER_HOST, PATH ...). */
  env?: Record<string, string | undefined>;
  nodePath?: string;
  cwd?: string;
  timeoutMs?: number;
  /** Stream the task's output to this process's stdout as it runs. */
  echo?: boolean;
  /** Called with every complete line the task prints, as it prints it (the demo renders the agent's log from these). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface TaskIssue {
  type: string;
  message: string;
}

export interface TaskRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Everything the task printed, unmasked: what a secret must never appear in. */
  log: string;
  commands: VsoCommand[];
  result: 'Succeeded' | 'SucceededWithIssues' | 'Failed' | 'Cancelled' | 'Skipped' | undefined;
  resultMessage: string | undefined;
  outputs: Record<string, string>;
  variables: Record<string, { value: string; isOutput: boolean; isSecret: boolean }>;
  secrets: string[];
  issues: TaskIssue[];
  summaries: string[];
  attachments: { type: string; name: string; path: string }[];
  taskVariables: Record<string, string>;
  testResults: { type: string; files: string[] }[];
  durationMs: number;
}

/** How the agent turns a variable or input name into an environment variable name. */
export function envName(name: string): string {
  return name.replace(/[.\s]/g, '_').toUpperCase();
}

interface TaskJson {
  inputs?: { name: string; defaultValue?: string | boolean }[];
}

export function expandMacros(value: string, variables: Record<string, string>): string {
  const lookup = new Map(Object.entries(variables).map(([k, v]) => [k.toLowerCase(), v]));
  // The agent leaves a macro it cannot resolve as it is.
  return value.replace(/\$\(([^()]+)\)/g, (whole, name: string) => lookup.get(name.trim().toLowerCase()) ?? whole);
}

let sessionToolsDir: string | undefined;
/** One tools directory per test session, like one agent's tool cache shared by its jobs. */
export function sharedToolsDirectory(): string {
  if (!sessionToolsDir) {
    const given = process.env.TEST_AGENT_TOOLSDIRECTORY;
    const dir = given ?? mkdtempSync(path.join(os.tmpdir(), 'agent-tools-'));
    if (!given) process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    sessionToolsDir = dir;
  }
  return sessionToolsDir;
}

export function agentEnvironment(options: RunTaskOptions, tempDir: string): NodeJS.ProcessEnv {
  const variables: Record<string, string> = {
    'Agent.TempDirectory': tempDir,
    'Agent.ToolsDirectory': sharedToolsDirectory(),
    'Agent.Version': '4.266.2',
    'Agent.OS': 'Linux',
    'Agent.OSArchitecture': os.arch() === 'arm64' ? 'ARM64' : 'X64',
    'Agent.Name': 'lab-agent',
    'Agent.JobStatus': 'Succeeded',
    'Build.BuildId': '4711',
    'Build.BuildNumber': '20261129.1',
    'Build.SourcesDirectory': options.cwd ?? repoRoot,
    'Build.Repository.Uri': 'https://dev.azure.lab.test/contoso/shop/_git/shop',
    'Build.SourceVersion': '0123456789abcdef0123456789abcdef01234567',
    'System.DefaultWorkingDirectory': options.cwd ?? repoRoot,
    'System.CollectionUri': 'https://dev.azure.lab.test/contoso/',
    'System.TeamFoundationCollectionUri': 'https://dev.azure.lab.test/contoso/',
    'System.TeamProject': 'shop',
    'System.TeamProjectId': '00000000-0000-0000-0000-0000000000aa',
    'System.PlanId': '00000000-0000-0000-0000-0000000000bb',
    'System.JobId': '00000000-0000-0000-0000-0000000000cc',
    'System.HostType': 'build',
    'System.Debug': 'false',
    ...options.variables,
  };
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C.UTF-8',
    ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}),
  };
  for (const [name, value] of Object.entries(variables)) env[envName(name)] = value;
  for (const [name, value] of Object.entries(options.secretVariables ?? {})) env[`SECRET_${envName(name)}`] = value;

  const taskJson = JSON.parse(readFileSync(path.join(distTasks, options.task, 'task.json'), 'utf8')) as TaskJson;
  const allVariables = { ...variables, ...options.secretVariables };
  for (const input of taskJson.inputs ?? []) {
    const given = options.inputs?.[input.name];
    const value = given !== undefined ? String(given) : input.defaultValue !== undefined ? String(input.defaultValue) : undefined;
    if (value !== undefined) env[`INPUT_${envName(input.name)}`] = expandMacros(value, allVariables);
  }
  for (const name of Object.keys(options.inputs ?? {})) {
    if (!(taskJson.inputs ?? []).some((i) => i.name === name)) throw new Error(`${options.task} declares no input '${name}'`);
  }

  const accessToken = options.secretVariables?.['System.AccessToken'] ?? variables['System.AccessToken'];
  if (accessToken) {
    env.ENDPOINT_URL_SYSTEMVSSCONNECTION = variables['System.CollectionUri'];
    env.ENDPOINT_AUTH_SYSTEMVSSCONNECTION = JSON.stringify({ parameters: { AccessToken: accessToken }, scheme: 'OAuth' });
    env.ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION = 'OAuth';
    env.ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN = accessToken;
  }
  for (const [id, endpoint] of Object.entries(options.endpoints ?? {})) {
    if (endpoint.url !== undefined) env[`ENDPOINT_URL_${id}`] = endpoint.url;
    env[`ENDPOINT_AUTH_${id}`] = JSON.stringify({ parameters: endpoint.parameters, scheme: endpoint.scheme });
    env[`ENDPOINT_AUTH_SCHEME_${id}`] = endpoint.scheme;
    for (const [key, value] of Object.entries(endpoint.parameters)) env[`ENDPOINT_AUTH_PARAMETER_${id}_${key.toUpperCase()}`] = value;
    for (const [key, value] of Object.entries(endpoint.data ?? {})) env[`ENDPOINT_DATA_${id}_${key.toUpperCase()}`] = value;
  }
  for (const [name, value] of Object.entries(options.taskVariables ?? {})) env[`VSTS_TASKVARIABLE_${envName(name)}`] = value;
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

export function interpret(stdout: string, stderr: string, exitCode: number | null, durationMs: number): TaskRun {
  const commands = parseVsoCommands(stdout);
  const run: TaskRun = {
    exitCode,
    stdout,
    stderr,
    log: `${stdout}\n${stderr}`,
    commands,
    result: undefined,
    resultMessage: undefined,
    outputs: {},
    variables: {},
    secrets: [],
    issues: [],
    summaries: [],
    attachments: [],
    taskVariables: {},
    testResults: [],
    durationMs,
  };
  for (const c of commands) {
    const p = c.properties;
    switch (c.command) {
      case 'task.setvariable': {
        const isOutput = p.isOutput?.toLowerCase() === 'true' || p.isoutput?.toLowerCase() === 'true';
        const isSecret = p.issecret?.toLowerCase() === 'true' || p.isSecret?.toLowerCase() === 'true';
        run.variables[p.variable] = { value: c.message, isOutput, isSecret };
        if (isOutput) run.outputs[p.variable] = c.message;
        if (isSecret) run.secrets.push(c.message);
        break;
      }
      case 'task.setsecret':
        run.secrets.push(c.message);
        break;
      case 'task.issue':
      case 'task.logissue':
        run.issues.push({ type: p.type ?? 'error', message: c.message });
        break;
      case 'task.complete':
        run.result = p.result as TaskRun['result'];
        run.resultMessage = c.message;
        break;
      case 'task.uploadsummary':
        run.summaries.push(c.message);
        break;
      case 'task.addattachment':
        run.attachments.push({ type: p.type, name: p.name, path: c.message });
        break;
      case 'task.settaskvariable':
        run.taskVariables[p.variable] = c.message;
        break;
      case 'results.publish':
        run.testResults.push({ type: p.type, files: (p.resultFiles ?? c.message).split(',').filter(Boolean) });
        break;
    }
  }
  // The agent fails a step whose process exits non-zero even when it reported nothing.
  if (run.result === undefined && exitCode !== 0) run.result = 'Failed';
  return run;
}

let sessionTempDir: string | undefined;
/**
 * Every run's Agent.TempDirectory lives under one directory of this test process, removed when the process exits
 * (the agent empties its temp directory after each job; a test still reads the summaries and reports until then).
 */
function newAgentTempDir(task: string): string {
  if (!sessionTempDir) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-session-'));
    sessionTempDir = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const dir = mkdtempSync(path.join(sessionTempDir, `${task}-`));
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function runTask(options: RunTaskOptions): Promise<TaskRun> {
  const tempDir = newAgentTempDir(options.task);
  const env = agentEnvironment(options, tempDir);
  const entry = path.join(distTasks, options.task, options.entry ?? 'index.js');
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(options.nodePath ?? process.execPath, [entry], { cwd: options.cwd ?? repoRoot, env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const pending = { stdout: '', stderr: '' };
    const lines = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
      if (!options.onLine) return;
      const parts = (pending[stream] + chunk.toString('utf8')).split(/\r?\n/);
      pending[stream] = parts.pop() ?? '';
      for (const line of parts) options.onLine(line, stream);
    };
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      lines('stdout', c);
      if (options.echo) process.stdout.write(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      err.push(c);
      lines('stderr', c);
      if (options.echo) process.stderr.write(c);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      for (const stream of ['stdout', 'stderr'] as const) if (pending[stream]) options.onLine?.(pending[stream], stream);
      resolve(interpret(Buffer.concat(out).toString('utf8'), Buffer.concat(err).toString('utf8'), code, Date.now() - started));
    });
  });
}

/** Every secret value that appears anywhere in the captured output, for "nothing leaked" assertions. */
export function leakedSecrets(run: Pick<TaskRun, 'log'>, secrets: readonly (string | undefined)[]): string[] {
  return secrets.filter((s): s is string => !!s && s.length >= 6 && run.log.includes(s));
}
