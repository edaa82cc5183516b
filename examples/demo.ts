// npm run demo (scripts/demo.mjs installs, builds and brings the lab up, then runs this): the three bundled tasks run
// one after the other against the lab, the way the agent runs a job of examples/azure-pipelines.yml, on the sample
// app in examples/app. Each step's result is checked against what it should have done; the process exits non-zero
// when any check failed. Also run on its own: `npx tsx examples/demo.ts` (the lab must be up, the tasks built).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run as runProcess } from '../src/process/exec';
import { distTasks, leakedSecrets, repoRoot, type TaskName, type TaskRun } from '../test/helpers/task-runner';
import { parseVsoLine } from '../test/helpers/vso';
import {
  type LabServiceConnection,
  type LabTaskOptions,
  labJobVariables,
  labSecrets,
  labServiceConnectionNamed,
  runLabTask,
} from '../test/lab/agent';
import { type BuildContext, makeBuildContext } from '../test/lab/base';
import { type AcrTasksServer, startAcrTasksServer } from '../test/lab/emulators/acr-tasks-server';
import { labPath } from '../test/lab/engine';
import { BuildRecorder } from '../test/lab/tab-host/build-records';
import { LabControl } from '../test/lab/client';
import { backingDigest, type Lab, labRoot, readLab } from '../test/lab/lab';
import { qemuState, setQemu, withQemuOff } from '../test/lab/qemu';
import { AgentLog, type TaskHeader } from './demo/agent-log';
import { Expectations } from './demo/expectations';
import { formatFindings, formatTable, shortDigest } from './demo/table';

// The lab's engine runs from .lab/engine/bin: docker here and the tasks this starts find it as the tests do.
process.env.PATH = labPath(process.env.PATH);

const registry = 'contoso.azurecr.io';
const appDir = path.join(repoRoot, 'examples', 'app');
/**
 * The agent's tool cache, kept between runs (trivy is installed once, its DB cached): the second run is fast. It is
 * named after the lab's trivy release, so a stand-in rebuilt under the same version is installed afresh instead of an
 * older build being found in the cache.
 */
function demoToolsDirectory(): string {
  const releases = path.join(labRoot, 'releases', 'aquasecurity', 'trivy', 'releases', 'download');
  const hash = createHash('sha256');
  for (const version of readdirSync(releases).sort()) {
    for (const file of readdirSync(path.join(releases, version)).filter((f) => f.endsWith('_checksums.txt'))) {
      hash.update(readFileSync(path.join(releases, version, file)));
    }
  }
  return path.join(os.tmpdir(), 'container-release-demo', `tools-${hash.digest('hex').slice(0, 12)}`);
}

/** One job of the pipeline: its variables (outputs of earlier steps included), temp directory and every step's run. */
interface Job {
  lab: Lab;
  log: AgentLog;
  expect: Expectations;
  control: LabControl;
  context: BuildContext;
  buildId: string;
  variables: Record<string, string>;
  runs: TaskRun[];
  /** The job's timeline and attachments, as the Container release tab reads them (saved when DEMO_BUILD_RECORDS is set). */
  recorder: BuildRecorder;
}

/** What the closing table shows for one image. */
interface Shipped {
  repository: string;
  digest?: string;
  platformsProven: string;
  findings: string;
  quarantine: string;
}

function taskHeader(task: TaskName): TaskHeader {
  return JSON.parse(readFileSync(path.join(distTasks, task, 'task.json'), 'utf8')) as TaskHeader;
}

function taskId(task: TaskName): string {
  return (JSON.parse(readFileSync(path.join(distTasks, task, 'task.json'), 'utf8')) as { id: string }).id;
}

/** examples/app as a build context, with the lab's static busybox for amd64 and arm64 beside the Dockerfiles. */
function appBuildContext(lab: Lab): BuildContext {
  const files: Record<string, Buffer> = {};
  for (const relative of readdirSync(appDir, { recursive: true }) as string[]) {
    const file = path.join(appDir, relative);
    if (statSync(file).isFile() && relative !== 'Dockerfile' && relative !== 'README.md') files[relative] = readFileSync(file);
  }
  return makeBuildContext({ lab, dockerfile: readFileSync(path.join(appDir, 'Dockerfile'), 'utf8'), files });
}

/**
 * Runs one step as the agent does: the header, the task's output as the agent shows it, the footer. Like the agent,
 * it makes the variables a step sets available to the later ones (`$(name)`, outputs as `$(step.name)`).
 */
async function step(job: Job, options: LabTaskOptions & { name?: string; displayName: string }): Promise<TaskRun> {
  const { name, displayName, ...taskOptions } = options;
  const title = options.entry === 'post.js' ? `Post-job: ${displayName}` : displayName;
  job.log.startStep(title, taskHeader(options.task));
  const started = new Date();
  const run = await runLabTask(job.lab, {
    cwd: job.context.dir,
    timeoutMs: 600_000,
    ...taskOptions,
    variables: { ...job.variables, ...taskOptions.variables },
    onLine: (line) => job.log.taskLine(line),
  });
  job.log.finishStep(title);
  job.runs.push(run);
  job.recorder.step(title, { id: taskId(options.task), name: options.task }, run, started);
  for (const [variable, { value, isOutput, isSecret }] of Object.entries(run.variables)) {
    if (isSecret) continue;
    job.variables[isOutput && name ? `${name}.${variable}` : variable] = value;
  }
  return run;
}

/** The quarantine state as the registry (the ACR emulator) records it, not as a task reported it. */
async function quarantineState(job: Job, repository: string, digest: string): Promise<string> {
  return (await job.control.quarantineRecord(registry, repository, digest))?.quarantineState ?? 'no record';
}

function note(job: Job, text: string): void {
  job.log.print();
  job.log.print(`── ${text}`);
}

async function ensureDocker(job: Job): Promise<TaskRun> {
  const run = await step(job, {
    task: 'EnsureDocker',
    name: 'docker',
    displayName: 'Docker, buildx and a reachable daemon',
    inputs: { emulatePlatforms: 'linux/arm64', cleanup: 'builtImages' },
  });
  const { expect } = job;
  expect.equal('EnsureDocker succeeded', run.result, 'Succeeded');
  expect.equal('it installed nothing (everything was there)', run.outputs.installed, '');
  expect.equal('it started no daemon', run.outputs.daemonStarted, 'false');
  expect.match(
    'it reports the docker and buildx versions',
    `${run.outputs.dockerVersion} ${run.outputs.buildxVersion}`,
    /^\d+\.\d+\.\d+\S* \d+\.\d+\.\d+/,
  );
  expect.equal('linux/arm64 programs can run here (QEMU enabled)', qemuState('linux/arm64'), 'enabled');
  expect.check('it left state for its post-job step', Object.keys(run.taskVariables).length > 0);
  return run;
}

async function build(
  job: Job,
  options: { name: string; repository: string; platforms: string; labels?: string; dockerfile?: string; note: string; engine?: 'acrTasks' },
  connection: LabServiceConnection,
): Promise<TaskRun> {
  return step(job, {
    task: 'BuildForPlatform',
    name: options.name,
    displayName: `Build ${options.repository} for ${options.platforms}${options.note}`,
    inputs: {
      ...(options.engine ? { engine: options.engine } : {}),
      registry,
      repository: options.repository,
      platforms: options.platforms,
      labels: options.labels ?? '',
      dockerfile: options.dockerfile ?? 'Dockerfile',
      buildContext: '.',
    },
    connections: { azureSubscription: connection },
  });
}

/** A build that should have pushed the image under quarantine and proven its platforms. */
async function checkPushed(job: Job, run: TaskRun, repository: string, platforms: string): Promise<string | undefined> {
  const { expect } = job;
  expect.equal(`BuildForPlatform succeeded for ${repository}`, run.result, 'Succeeded');
  const digest = run.outputs.imageDigest;
  if (!expect.match('it outputs the digest', digest, /^sha256:[0-9a-f]{64}$/)) return undefined;
  expect.equal('imageReference names that digest', run.outputs.imageReference, `${registry}/${repository}@${digest}`);
  expect.equal('the platforms proven are the ones asked for', run.outputs.platforms, platforms);
  expect.equal('the registry holds that digest under the tag', await backingDigest(job.lab, repository, job.buildId), digest);
  expect.equal('the registry keeps it in quarantine (read back)', await quarantineState(job, repository, digest), 'Quarantined');
  return digest;
}

async function scanAndRelease(
  job: Job,
  buildStep: string,
  repository: string,
  connection: LabServiceConnection,
): Promise<TaskRun | undefined> {
  const image = job.variables[`${buildStep}.imageReference`];
  if (!image) {
    job.expect.skipped(`ScanAndRelease of ${repository}`, `the build step left no ${buildStep}.imageReference`);
    return undefined;
  }
  return step(job, {
    task: 'ScanAndRelease',
    name: `${buildStep}Scan`,
    displayName: `Scan ${repository} and release it`,
    inputs: {
      image: `$(${buildStep}.imageReference)`,
      severityThreshold: 'CRITICAL,HIGH',
      release: 'quarantine',
      trivyVersion: job.lab.trivy.version,
      trivyDownloadBaseUrl: job.lab.trivy.downloadBaseUrl,
    },
    connections: { azureSubscription: connection },
  });
}

/** The two builds of the sample app and what their scan must decide. */
interface Variant {
  name: string;
  repository: string;
  platforms: string;
  labels?: string;
  note: string;
  verdict: 'released' | 'rejected';
  /** Built in Azure by ACR Tasks, with no docker on the agent (the lab's ACR Tasks emulator). */
  engine?: 'acrTasks';
}

const variants: Variant[] = [
  // The lab's trivy reports the findings of the fixture an image names in this label: debian-buster has a CRITICAL one.
  {
    name: 'webLegacy',
    repository: 'demo/web-legacy',
    platforms: 'linux/amd64',
    labels: 'lab.trivy.report=debian-buster',
    note: ' (an old base: CRITICAL findings)',
    verdict: 'rejected',
  },
  { name: 'web', repository: 'demo/web', platforms: 'linux/amd64,linux/arm64', note: '', verdict: 'released' },
  // The same app with engine: acrTasks: no docker needed on the agent; one ACR run per platform, joined into one index.
  {
    name: 'webAcrTasks',
    repository: 'demo/web-acr-tasks',
    platforms: 'linux/amd64,linux/arm64',
    note: ' in Azure with ACR Tasks (no docker on the agent)',
    verdict: 'released',
    engine: 'acrTasks',
  },
];

/** A scan that should have released the image (Passed) or rejected it (Failed, the step failing on the policy). */
async function checkScanned(job: Job, run: TaskRun | undefined, variant: Variant, digest: string | undefined): Promise<Shipped> {
  const shipped: Shipped = {
    repository: `${variant.repository}:${job.buildId}`,
    digest,
    platformsProven: variant.platforms.replace(/,/g, ', '),
    findings: 'not scanned',
    quarantine: 'not scanned',
  };
  if (!run) return shipped;
  const { expect } = job;
  const released = variant.verdict === 'released';
  const state = released ? 'Passed' : 'Failed';
  expect.equal(
    `ScanAndRelease of ${variant.repository}: ${released ? 'released' : 'rejected: the step fails on the policy violation, as it should'}`,
    run.result,
    released ? 'Succeeded' : 'Failed',
  );
  expect.equal(`quarantineState output is ${state}`, run.outputs.quarantineState, state);
  expect.equal(`policyResult output is ${released ? 'passed' : 'failed'}`, run.outputs.policyResult, released ? 'passed' : 'failed');
  const counts = run.outputs.vulnerabilityCounts ? (JSON.parse(run.outputs.vulnerabilityCounts) as Record<string, number>) : undefined;
  expect.check('vulnerabilityCounts output is present', counts !== undefined);
  if (released)
    expect.check(
      'trivy found no CRITICAL or HIGH vulnerability',
      (counts?.CRITICAL ?? 0) + (counts?.HIGH ?? 0) === 0,
      JSON.stringify(counts),
    );
  else expect.check('trivy found a CRITICAL vulnerability', (counts?.CRITICAL ?? 0) > 0, JSON.stringify(counts));
  shipped.findings = formatFindings(run.outputs.vulnerabilityCounts);
  if (digest) {
    shipped.quarantine = await quarantineState(job, variant.repository, digest);
    expect.equal(`the registry shows it ${state} (read back)`, shipped.quarantine, state);
  }
  return shipped;
}

/** The field report's failure, replayed: refused by the platform proof, and what it would have done on a node. */
async function seedReplay(job: Job, pipelineWif: LabServiceConnection): Promise<Shipped> {
  const repository = 'demo/api';
  const { expect } = job;
  note(job, "The field report's failure: an arm64 virtualenv copied into a linux/amd64 image (examples/app/Dockerfile.prebuilt-venv)");
  const run = await build(
    job,
    {
      name: 'api',
      repository,
      platforms: 'linux/amd64',
      dockerfile: 'Dockerfile.prebuilt-venv',
      note: ' (prebuilt virtualenv, the field report)',
    },
    pipelineWif,
  );
  const message = run.resultMessage ?? '';
  expect.equal('BuildForPlatform refused it: the step failed', run.result, 'Failed');
  expect.match('the refusal names the file', message, /\/app\/\.venv\/bin\/python/);
  expect.match('the refusal names both architectures', message, /arm64.*amd64|amd64.*arm64/);
  expect.check('no imageReference was handed on to a release step', run.outputs.imageReference === undefined);
  const digest = await backingDigest(job.lab, repository, job.buildId);
  const state = digest ? await quarantineState(job, repository, digest) : 'not pushed';
  expect.check(
    'nothing was released: what was pushed stays quarantined (read back)',
    state === 'Quarantined' || state === 'not pushed',
    state,
  );

  note(job, 'Why that matters: the same image on a node that cannot run arm64 programs (QEMU for linux/arm64 off for a moment)');
  const reference = `${registry}/${repository}:${job.buildId}`;
  const argv = ['run', '--rm', '--pull', 'never', '--network', 'none', '--platform', 'linux/amd64', reference];
  job.log.print(`$ docker ${argv.join(' ')}`);
  const started = await withoutArm64Emulation(() => runProcess('docker', argv, { timeoutMs: 60_000 }));
  const errorLine = `${started.stderr}\n${started.stdout}`.split('\n').find((line) => /exec format error/.test(line));
  job.log.print(errorLine ?? `${started.stderr}${started.stdout}`.trim());
  expect.check('it fails to start with exec format error', started.exitCode !== 0 && errorLine !== undefined, `exit ${started.exitCode}`);

  return {
    repository: `${repository}:${job.buildId}`,
    digest,
    platformsProven: `refused: ${refusalReason(message)}`,
    findings: 'not scanned',
    quarantine: state,
  };
}

/**
 * Runs `action` with QEMU for linux/arm64 off (machine-wide: keep it short), and puts the state found back afterwards,
 * also when the demo is interrupted (Ctrl-C) inside that window.
 */
async function withoutArm64Emulation<T>(action: () => Promise<T>): Promise<T> {
  const platform = 'linux/arm64';
  const wasEnabled = qemuState(platform) === 'enabled';
  const interrupted = () => {
    if (wasEnabled) setQemu(platform, true);
    process.exit(130);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    return await withQemuOff(platform, action);
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
  }
}

/** The refusal in a few words: which program is of which architecture, in an image of which platform. */
function refusalReason(message: string): string {
  const proof = /(?:the interpreter of \S+ )?(\S+)(?: \([^)]*\))? is an ELF 64-bit (\S+) binary, but the image is (\S+)/.exec(message);
  if (proof) return `${proof[1]} is ${proof[2]} in a ${proof[3]} image`;
  return message.split(/(?<=\.)\s/)[0] || 'no reason given';
}

/** Nothing secret in what the tasks printed (besides the lines that register a secret) nor in what the demo printed. */
function checkNoLeak(job: Job): void {
  const secrets = [...labSecrets(job.lab), ...job.runs.flatMap((run) => run.secrets)];
  const registersSecret = (line: string) => {
    const command = parseVsoLine(line);
    return (
      command?.command === 'task.setsecret' ||
      (command?.command === 'task.setvariable' && /^true$/i.test(command.properties.issecret ?? ''))
    );
  };
  const raw = job.runs
    .map((run) =>
      run.log
        .split('\n')
        .filter((line) => !registersSecret(line))
        .join('\n'),
    )
    .join('\n');
  const inRaw = leakedSecrets({ log: raw }, secrets).length;
  const inPrinted = leakedSecrets({ log: job.log.printed.join('\n') }, secrets).length;
  job.expect.check(
    `no secret in what the tasks printed (${secrets.length} secrets checked)`,
    inRaw === 0,
    `${inRaw} secret value(s) found`,
  );
  job.expect.check('no secret in what this demo printed', inPrinted === 0, `${inPrinted} secret value(s) found`);
}

async function main(): Promise<number> {
  const started = Date.now();
  const lab = readLab();
  const missing = (['EnsureDocker', 'BuildForPlatform', 'ScanAndRelease'] as const).filter(
    (task) => !existsSync(path.join(distTasks, task, 'index.js')),
  );
  if (missing.length) throw new Error(`${missing.join(', ')} not built: run \`npm run build\` (or \`npm run demo\`, which builds first).`);
  const log = new AgentLog((text) => process.stdout.write(text), labSecrets(lab));
  const agentTemp = mkdtempSync(path.join(os.tmpdir(), 'container-release-demo-job-'));
  const toolsDirectory = demoToolsDirectory();
  mkdirSync(toolsDirectory, { recursive: true });
  const buildId = String(Math.floor(Date.now() / 1000));
  const job: Job = {
    lab,
    log,
    expect: new Expectations(log),
    control: new LabControl(lab.control),
    context: appBuildContext(lab),
    buildId,
    variables: {
      ...labJobVariables(lab),
      'Agent.TempDirectory': agentTemp,
      'Agent.ToolsDirectory': toolsDirectory,
      'Build.BuildId': buildId,
      'Build.BuildNumber': `demo.${buildId}`,
    },
    runs: [],
    recorder: new BuildRecorder(Number(buildId), 'Build and release'),
  };
  const pipelineWif = labServiceConnectionNamed(lab, 'pipeline-wif');
  const scannerWif = labServiceConnectionNamed(lab, 'scanner-wif');
  const shipped: Shipped[] = [];

  log.print(`Container Release demo, build ${buildId}: the three tasks as the agent runs them, against the lab.`);
  log.print(`Registry ${registry} (quarantine on). Build identity: service connection ${pipelineWif.name}; scanner: ${scannerWif.name}.`);
  log.print();
  let ensured: TaskRun | undefined;
  let acrTasks: AcrTasksServer | undefined;
  try {
    ensured = await ensureDocker(job);

    note(job, 'Build the sample app (examples/app) twice and push both to the registry, where they stay quarantined until scanned');
    const digests = new Map<Variant, string | undefined>();
    for (const variant of variants) {
      if (variant.engine === 'acrTasks') {
        note(
          job,
          'The same app built with no docker on the agent: engine acrTasks uploads the context and builds in Azure, one ACR run per platform',
        );
        acrTasks ??= await startAcrTasksServer();
      }
      // ACR Tasks through Resource Manager with the same AzureRM connection; in the lab its URL is the emulator's
      const connection =
        variant.engine === 'acrTasks' && acrTasks
          ? { ...pipelineWif, endpoint: { ...pipelineWif.endpoint, url: acrTasks.url } }
          : pipelineWif;
      const run = await build(job, variant, connection);
      digests.set(variant, await checkPushed(job, run, variant.repository, variant.platforms));
      if (variant.engine === 'acrTasks') {
        job.expect.match('each ACR run streamed its log into the step', run.stdout, /\[linux\/arm64\] [\s\S]*Run ID: \S+ was successful/);
        job.expect.check("the agent's docker built nothing for it", !run.stdout.includes('##[group]Builder'));
      }
    }
    note(
      job,
      'Scan each pushed digest: release the clean image; keep the vulnerable one quarantined (its step fails, as a policy violation should)',
    );
    for (const variant of variants) {
      const digest = digests.get(variant);
      const run = await scanAndRelease(job, variant.name, variant.repository, scannerWif);
      shipped.push(await checkScanned(job, run, variant, digest));
    }

    shipped.push(await seedReplay(job, pipelineWif));
  } catch (error) {
    log.print(`##[error]The demo stopped: ${(error as Error).stack ?? String(error)}`);
    job.expect.check('the demo ran to its end', false, (error as Error).message);
  } finally {
    // The agent runs post-job steps whatever happened before.
    if (ensured) {
      log.print();
      const post = await step(job, {
        task: 'EnsureDocker',
        entry: 'post.js',
        displayName: 'Docker, buildx and a reachable daemon',
        inputs: { emulatePlatforms: 'linux/arm64', cleanup: 'builtImages' },
        taskVariables: ensured.taskVariables,
      });
      job.expect.equal('the post-job step succeeded', post.result, 'Succeeded');
      job.expect.match(
        "it removed the images this job built from the agent's docker",
        job.log.mask(post.stdout),
        /Removed [1-9]\d* image\(s\) this job built/,
      );
      const left = await runProcess('docker', ['image', 'ls', '--quiet', '--filter', `reference=${registry}/demo/*:${buildId}`]);
      job.expect.equal('no image of this build is left in the local image store', left.stdout.trim(), '');
    }
    if (process.env.DEMO_BUILD_RECORDS) job.recorder.save(process.env.DEMO_BUILD_RECORDS);
    await acrTasks?.close();
    job.context.remove();
    rmSync(agentTemp, { recursive: true, force: true });
  }

  checkNoLeak(job);

  log.print();
  log.print(`What build ${buildId} shipped to ${registry} (quarantine state read back from the registry):`);
  const rows = shipped.map((s) => [s.repository, shortDigest(s.digest), s.platformsProven, s.findings, s.quarantine]);
  for (const line of formatTable(['image', 'digest', 'platforms proven', 'findings', 'quarantine'], rows)) log.print(line);
  log.print();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const failures = job.expect.failures;
  if (failures.length === 0) {
    log.print(`Every step did what it should (${seconds} s).`);
    return 0;
  }
  log.print(`##[error]${failures.length} expectation(s) failed (${seconds} s):`);
  for (const failure of failures) log.print(`  ✘ ${failure}`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Only reached before the job starts (the lab is not up, the tasks are not built): nothing secret is known yet.
    console.error(`##[error]${(error as Error).message}`);
    process.exit(1);
  },
);
