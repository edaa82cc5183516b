// Starts a bundled task the way the Azure Pipelines agent does: `node dist/tasks/<Task>/<entry>.js` with inputs,
// service connections and variables in the environment, task.json defaults applied and $(macros) expanded in
// inputs, then reads the logging commands back from stdout and stderr into a structured result. Each rule follows
// microsoft/azure-pipelines-agent 42bde98 (TaskRunner.cs, Handlers/Handler.cs, Handlers/NodeHandler.cs,
// StepsRunner.cs, Worker.cs); the table with file references is in test/lab/README.md "The agent's contract".
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseVsoLine, type VsoCommand } from './vso';

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
  /**
   * Service connections by id; the id is what a connectedService input holds. As the agent does, only those an
   * input of a connectedService type names (comma-separated ids) are handed over, plus SystemVssConnection.
   */
  endpoints?: Record<string, Endpoint>;
  /** Secure files by id (what a secureFile input holds): SECUREFILE_NAME_<id> and SECUREFILE_TICKET_<id>. */
  secureFiles?: Record<string, { name: string; ticket: string }>;
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
  /** The step's result as the agent decides it (see agentResult); a run that reported nothing and exited 0 Succeeded. */
  result: AgentResult;
  resultMessage: string | undefined;
  outputs: Record<string, string>;
  variables: Record<string, { value: string; isOutput: boolean; isSecret: boolean }>;
  secrets: string[];
  issues: TaskIssue[];
  summaries: string[];
  attachments: { type: string; name: string; path: string }[];
  taskVariables: Record<string, string>;
  testResults: { type: string; files: string[] }[];
  /** The log as the agent shows it: every value its secret masker knows replaced by *** (see agentMasks). */
  masked: string;
  durationMs: number;
}

/** The agent's TaskResult names (Enum.TryParse, case-sensitive; task-lib's "Cancelled" is not one of them). */
/** A task run for an assertion message: its result, the end of its log and of its stderr. */
export function explainRun(run: TaskRun): string {
  return `result ${run.result}: ${run.resultMessage}\n--- log ---\n${run.stdout.slice(-6000)}\n${run.stderr.slice(-2000)}`;
}

export const agentResults = ['Succeeded', 'SucceededWithIssues', 'Failed', 'Canceled', 'Skipped', 'Abandoned'] as const;
export type AgentResult = (typeof agentResults)[number];

/** How the agent turns a variable or input name into an environment variable name (VarUtil.ConvertToEnvVariableFormat). */
export function envName(name: string): string {
  return name.replace(/[. ]/g, '_').toUpperCase();
}

interface TaskJson {
  inputs?: { name: string; type?: string; defaultValue?: string | boolean }[];
}

/** The task's task.json: the built one, or the source one before a build (they are the same file). */
export function readTaskJson(task: TaskName): TaskJson & { execution?: Record<string, unknown> } {
  const built = path.join(distTasks, task, 'task.json');
  return JSON.parse(readFileSync(existsSync(built) ? built : path.join(repoRoot, 'tasks', task, 'task.json'), 'utf8')) as TaskJson;
}

/**
 * The Node handler the agent picks among those a task.json declares (TaskRunner.GetHandlerData: lowest Priority;
 * TaskManager.cs: Node24 101, Node20_1 102, Node16 103, Node10 104, Node 105). NodeHandler falls back from Node24 to
 * Node20_1 where node24 cannot run (glibc too old, not executable). The lab runs `nodePath` (default: this process's
 * node) whichever is picked; the package test runs both.
 */
export function agentHandler(execution: Record<string, unknown>): string | undefined {
  const priority: Record<string, number> = { Node24: 101, Node20_1: 102, Node16: 103, Node10: 104, Node: 105 };
  return Object.keys(execution)
    .filter((name) => name in priority)
    .sort((a, b) => priority[a] - priority[b])[0];
}

/**
 * A filePath input as TaskRunner.TranslateFilePathInput makes it: a rooted path normalised, anything else (the empty
 * value too) joined to the repository's path and made absolute.
 */
export function translateFilePath(value: string, sourcesDirectory: string): string {
  return path.isAbsolute(value) ? path.resolve(value) : path.resolve(sourcesDirectory, value);
}

/** Endpoint authorization parameters the agent does not mask (MaskingUtil.IsEndpointAuthorizationParametersSecret). */
const unmaskedEndpointParameters = new Set(
  [
    'role',
    'scope',
    'tenantId',
    'issuedAt',
    'expiresAt',
    'audience',
    'authenticationType',
    'authorizationType',
    'accessTokenType',
    'accessTokenFetchingMethod',
    'useWindowsSecurity',
    'unsecured',
    'oAuthAccessTokenIsSupplied',
    'completeCallbackPayload',
    'acceptUntrustedCertificates',
  ].map((name) => name.toLowerCase()),
);

/**
 * What the agent's secret masker knows before the step starts (Worker.InitializeSecretMasker): each secret variable
 * (trimmed, quote-stripped, %-escaped and base64 variants), each endpoint authorization parameter but the listed
 * non-secret ones, and secure file tickets. Values set secret by the step itself are added by interpret.
 */
export function agentMasks(options: Pick<RunTaskOptions, 'secretVariables' | 'endpoints' | 'secureFiles'>): string[] {
  const masks: string[] = [];
  const add = (value: string) => {
    for (const variant of [value, value.trim(), value.replace(/^(['"])(.*)\1$/s, '$2')]) if (variant.trim()) masks.push(variant);
  };
  for (const value of Object.values(options.secretVariables ?? {})) {
    if (!value.trim()) continue;
    const base64 = Buffer.from(value, 'utf8').toString('base64');
    for (const variant of [value, base64]) {
      add(variant);
      add(variant.replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A'));
      add(variant.replace(/\r/g, '%0D').replace(/\n/g, '%0A'));
    }
  }
  for (const endpoint of Object.values(options.endpoints ?? {})) {
    for (const [key, value] of Object.entries(endpoint.parameters))
      if (value && !unmaskedEndpointParameters.has(key.toLowerCase())) add(value);
  }
  for (const file of Object.values(options.secureFiles ?? {})) if (file.ticket) add(file.ticket);
  return [...new Set(masks)];
}

/** The log with every mask replaced by ***, longest first (the agent's masker replaces overlapping values as one). */
export function maskLog(log: string, masks: readonly string[]): string {
  let masked = log;
  for (const value of [...masks].sort((a, b) => b.length - a.length)) if (value) masked = masked.split(value).join('***');
  return masked;
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
  // Handler.AddVariablesToEnvironment: public variables by formatted name (agent.jobstatus also as named), their
  // names in VSTS_PUBLIC_VARIABLES; secret ones as SECRET_<name>, their names in VSTS_SECRET_VARIABLES
  for (const [name, value] of Object.entries(variables)) {
    if (name.toLowerCase() === 'agent.jobstatus') env[name] = value;
    env[envName(name)] = value;
  }
  env.VSTS_PUBLIC_VARIABLES = JSON.stringify(Object.keys(variables));
  for (const [name, value] of Object.entries(options.secretVariables ?? {})) env[`SECRET_${envName(name)}`] = value;
  env.VSTS_SECRET_VARIABLES = JSON.stringify(Object.keys(options.secretVariables ?? {}));

  // TaskRunner: every declared input with its default, then the step's inputs, both trimmed; $(macros) expanded from
  // public and secret variables (unknown ones left); filePath inputs made absolute under the repository
  const taskJson = readTaskJson(options.task);
  const declared = taskJson.inputs ?? [];
  for (const name of Object.keys(options.inputs ?? {})) {
    // the agent passes undeclared inputs on too; this guard catches a misspelt input in a test
    if (!declared.some((i) => i.name === name)) throw new Error(`${options.task} declares no input '${name}'`);
  }
  const allVariables = { ...variables, ...options.secretVariables };
  const sourcesDirectory = variables['Build.SourcesDirectory'] ?? variables['System.DefaultWorkingDirectory'];
  const inputs: Record<string, string> = {};
  for (const input of declared) {
    const given = options.inputs?.[input.name];
    let value = expandMacros((given !== undefined ? String(given) : String(input.defaultValue ?? '')).trim(), allVariables);
    if (input.type === 'filePath') value = translateFilePath(value, sourcesDirectory);
    inputs[input.name] = value;
    env[`INPUT_${envName(input.name)}`] = value;
  }

  // Handler.AddEndpointsToEnvironment: the connections the inputs name, and SystemVssConnection
  const accessToken = options.secretVariables?.['System.AccessToken'] ?? variables['System.AccessToken'];
  if (accessToken) {
    env.ENDPOINT_URL_SYSTEMVSSCONNECTION = variables['System.CollectionUri'];
    env.ENDPOINT_AUTH_SYSTEMVSSCONNECTION = JSON.stringify({ parameters: { AccessToken: accessToken }, scheme: 'OAuth' });
    env.ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION = 'OAuth';
    env.ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN = accessToken;
  }
  const named = (type: (t: string) => boolean) =>
    new Set(
      declared
        .filter((input) => type(input.type ?? ''))
        .flatMap((input) => inputs[input.name].split(','))
        .map((id) => id.trim().toLowerCase())
        .filter(Boolean),
    );
  const connectionIds = named((t) => t.toLowerCase().startsWith('connectedservice:'));
  for (const [id, endpoint] of Object.entries(options.endpoints ?? {})) {
    if (!connectionIds.has(id.toLowerCase())) continue;
    env[`ENDPOINT_URL_${id}`] = endpoint.url ?? '';
    env[`ENDPOINT_AUTH_${id}`] = JSON.stringify({ parameters: endpoint.parameters, scheme: endpoint.scheme });
    env[`ENDPOINT_AUTH_SCHEME_${id}`] = endpoint.scheme;
    for (const [key, value] of Object.entries(endpoint.parameters)) env[`ENDPOINT_AUTH_PARAMETER_${id}_${envName(key)}`] = value;
    env[`ENDPOINT_DATA_${id}`] = JSON.stringify(endpoint.data ?? {});
    for (const [key, value] of Object.entries(endpoint.data ?? {})) env[`ENDPOINT_DATA_${id}_${envName(key)}`] = value;
  }
  // Handler.AddSecureFilesToEnvironment
  const secureFileIds = named((t) => t.toLowerCase() === 'securefile');
  for (const [id, file] of Object.entries(options.secureFiles ?? {})) {
    if (!secureFileIds.has(id.toLowerCase())) continue;
    env[`SECUREFILE_NAME_${id}`] = file.name;
    env[`SECUREFILE_TICKET_${id}`] = file.ticket;
  }
  // Handler.AddTaskVariablesToEnvironment: what the main step set with task.settaskvariable, for its post-job step
  for (const [name, value] of Object.entries(options.taskVariables ?? {})) env[`VSTS_TASKVARIABLE_${envName(name)}`] = value;
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** TaskResultUtil.MergeTaskResults: the worse result wins; once Canceled, Skipped or Abandoned it stays. */
export function mergeResults(current: AgentResult | undefined, coming: AgentResult): AgentResult {
  if (current === undefined) return coming;
  const rank = (result: AgentResult) => agentResults.indexOf(result);
  if (rank(current) > rank('Failed')) return current;
  return rank(coming) >= rank(current) ? coming : current;
}

/**
 * The result the agent gives the step (StepsRunner.RunStepAsync): the task.complete results merged (an unknown result
 * name fails the command, which fails the step); a non-zero exit is an exception that makes the step Failed whatever
 * task.complete said; a step that reported nothing and exited 0 Succeeded.
 */
export function agentResult(completions: readonly string[], exitCode: number | null): AgentResult {
  let result: AgentResult | undefined;
  let commandResult: AgentResult | undefined;
  for (const text of completions) {
    const named = agentResults.find((name) => name === text) ?? (/^\d+$/.test(text) ? agentResults[Number(text)] : undefined);
    if (named) result = mergeResults(result, named);
    else commandResult = mergeResults(commandResult, 'Failed');
  }
  if (exitCode !== 0) result = 'Failed';
  if (commandResult) result = mergeResults(result, commandResult);
  return result ?? 'Succeeded';
}

/**
 * Reads a finished step as the agent does. `lines` is the output in the order it arrived, both streams (the agent
 * processes logging commands on stdout and stderr alike: NodeHandler.OnDataReceived); without it, stdout then stderr.
 * `masks` are the values the agent's masker knew before the step (agentMasks).
 */
export function interpret(
  stdout: string,
  stderr: string,
  exitCode: number | null,
  durationMs: number,
  extras: { lines?: string[]; masks?: string[] } = {},
): TaskRun {
  const lines = extras.lines ?? [...stdout.split(/\r?\n/), ...stderr.split(/\r?\n/)];
  const commands = lines.map(parseVsoLine).filter((c): c is VsoCommand => c !== undefined);
  const run: TaskRun = {
    exitCode,
    stdout,
    stderr,
    log: `${stdout}\n${stderr}`,
    commands,
    result: 'Succeeded',
    resultMessage: undefined,
    outputs: {},
    variables: {},
    secrets: [],
    issues: [],
    summaries: [],
    attachments: [],
    taskVariables: {},
    testResults: [],
    masked: '',
    durationMs,
  };
  const completions: string[] = [];
  for (const c of commands) {
    const p = c.properties;
    switch (c.command) {
      case 'task.setvariable': {
        if (!p.variable) break;
        const isOutput = p.isoutput?.toLowerCase() === 'true';
        const isSecret = p.issecret?.toLowerCase() === 'true';
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
        completions.push(p.result ?? '');
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
        run.testResults.push({ type: p.type, files: (p.resultfiles ?? c.message).split(',').filter(Boolean) });
        break;
    }
  }
  run.result = agentResult(completions, exitCode);
  run.masked = maskLog(run.log, [...(extras.masks ?? []), ...run.secrets]);
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
    const ordered: string[] = [];
    const lines = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
      const parts = (pending[stream] + chunk.toString('utf8')).split(/\r?\n/);
      pending[stream] = parts.pop() ?? '';
      for (const line of parts) {
        ordered.push(line);
        options.onLine?.(line, stream);
      }
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
      for (const stream of ['stdout', 'stderr'] as const) {
        if (!pending[stream]) continue;
        ordered.push(pending[stream]);
        options.onLine?.(pending[stream], stream);
      }
      const [stdout, stderr] = [Buffer.concat(out).toString('utf8'), Buffer.concat(err).toString('utf8')];
      resolve(interpret(stdout, stderr, code, Date.now() - started, { lines: ordered, masks: agentMasks(options) }));
    });
  });
}

/** Every secret value that appears anywhere in the captured output, for "nothing leaked" assertions. */
export function leakedSecrets(run: Pick<TaskRun, 'log'>, secrets: readonly (string | undefined)[]): string[] {
  return secrets.filter((s): s is string => !!s && s.length >= 6 && run.log.includes(s));
}
