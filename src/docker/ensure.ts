// EnsureDocker's core: probe, then act only on what is missing. docker CLI, buildx plugin, an answering daemon and
// emulation for the platforms asked for; every install happens under one lock per agent, re-checked inside it.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { canExecute, ensureEmulation, binfmtState, BINFMT_DIR, type EmulationOutcome } from '../buildx/qemu';
import { listBuilderPlatforms } from '../buildx/builder';
import type { TaskContext } from '../context';
import { formatPlatform, type Platform } from '../platform/platform';
import { daemonAsker, dockerCliEnv, formatServerPlatform, serverPlatform } from './api';
import { howToStart, readStartFacts, startDaemon, type StartedDaemon } from './daemon';
import { findEngine, gatherDaemonFacts } from './daemon-facts';
import { diagnoseDaemon, type Diagnosis, formatDiagnosis } from './diagnose';
import { describeEndpoint, type DockerEndpoint, type EndpointEnvironment, processEnvironment, resolveEndpoint } from './endpoint';
import { detectPrivilege, type Privilege } from './executor';
import { type Component, type InstallSource, qemuPlan } from './install-plan';
import { withLock } from './lock';
import {
  type DaemonAsker,
  type DaemonFailure,
  type DaemonInfo,
  findOnPath,
  probeAll,
  probeBuildx,
  probeCli,
  probeCompose,
  type ToolProbe,
  type ToolProbes,
} from './probe';
import type { StaticSources } from './static';
import { Installer } from './installer';
import { satisfiesPin } from './version';

export interface EnsureOptions {
  installSource: InstallSource;
  /** x.y.z; pins the docker CLI/engine where the source allows it. */
  dockerVersion?: string;
  /** The buildx release the static source installs. */
  buildxVersion: string;
  /** report: probe compose and output its version; install: also install it when missing (or only v1). */
  compose: ComposeChoice;
  /** The compose release the static source installs. */
  composeVersion: string;
  startDaemon: 'auto' | 'never';
  emulatePlatforms: Platform[];
  dockerHost?: string;
  staticSources: Omit<StaticSources, 'arch'>;
  dockerRepositoryUrl: string;
}

/** The task's runner, logger, env (an install into the tool cache prepends its PATH) and tool cache, and what EnsureDocker needs beyond them. */
export type EnsureContext = Pick<TaskContext, 'runner' | 'logger' | 'env' | 'toolCache'> & {
  /** Agent.ToolsDirectory: the install lock lives here. */
  toolsDir: string;
  /** A directory of this step (dockerd's log and pid file, emulation probes). */
  tempDir: string;
  arch?: string;
  /** How the daemon is asked; by default the Engine API, or the CLI for ssh endpoints. */
  ask?: DaemonAsker;
  /** CLI and plugin probes the task started while the rest of its bundle loaded (see startToolProbes). */
  toolProbes?: ToolProbes;
  /** Called as soon as a daemon was started, so the post-job step can stop it even if a later check fails. */
  onDaemonStarted?: (started: StartedDaemon) => void;
  /** The user id the agent runs as; by default this process's (root installs directly, others need sudo). */
  uid?: number;
};

export interface EnsureResult {
  endpoint: DockerEndpoint;
  dockerVersion: string;
  buildxVersion: string;
  /** Compose v2's version, empty when it is not there. */
  composeVersion: string;
  server: DaemonInfo;
  serverPlatform: string;
  installed: Component[];
  daemonStarted?: StartedDaemon;
  emulation: EmulationOutcome[];
}

export const LOCK_FILE = 'ensure-docker.lock';

function describeTool(name: string, probe: ToolProbe): string {
  if (probe.version) return `${name} ${probe.version} (${probe.path})`;
  return probe.path ? `${name} unusable: ${probe.problem}` : `${name} not found`;
}

export type ComposeChoice = 'report' | 'install';
export const COMPOSE_CHOICES: readonly ComposeChoice[] = ['report', 'install'];

/** The tools as probed; compose only when it was asked for. */
type Tools = { cli: ToolProbe; buildx: ToolProbe; compose: ToolProbe };

function missingTools({ cli, buildx, compose }: Tools, options: Pick<EnsureOptions, 'dockerVersion' | 'compose'>): Component[] {
  const missing: Component[] = [];
  const pin = options.dockerVersion;
  if (!cli.version || (pin && !satisfiesPin(cli.version, pin))) missing.push('docker-cli');
  if (!buildx.version) missing.push('buildx');
  if (options.compose === 'install' && !compose.version) missing.push('compose');
  return missing;
}

async function probeTools(runner: EnsureContext['runner'], environment: EndpointEnvironment): Promise<Tools> {
  const [cli, buildx, compose] = await Promise.all([
    probeCli(runner, environment),
    probeBuildx(runner, environment),
    probeCompose(runner, environment),
  ]);
  return { cli, buildx, compose };
}

/** One run of ensureDocker: the resolved endpoint, how the daemon is asked, and the privilege, detected once when first needed. */
interface EnsureRun {
  options: EnsureOptions;
  context: EnsureContext;
  environment: EndpointEnvironment;
  endpoint: DockerEndpoint;
  ask: DaemonAsker;
  privilege: () => Promise<Privilege>;
}

/** How the daemon that did not answer will be started; decided before anything is installed so that an unfixable daemon fails first. */
interface DaemonStartPlan {
  diagnosis: Diagnosis;
  how: 'background' | 'systemd';
  endpoint: Extract<DockerEndpoint, { kind: 'unix' }>;
  needsEngine: boolean;
}

export async function ensureDocker(options: EnsureOptions, context: EnsureContext): Promise<EnsureResult> {
  const run = startRun(options, context);
  const probe = await probeAndLog(run);
  const absentTools = missingTools(probe, options);
  const startPlan = probe.daemon.ok ? undefined : await planDaemonStart(run, probe.daemon.failure, absentTools);
  const missing = [...absentTools, ...(startPlan?.needsEngine ? (['engine'] as const) : [])];
  const tools = missing.length ? await installMissing(run, missing) : { ...probe, installed: [] };
  const daemon = startPlan
    ? await startPlannedDaemon(run, startPlan)
    : probe.daemon.ok
      ? { info: probe.daemon.info, started: undefined }
      : undefined;
  if (!daemon) throw new Error('BUG: no daemon information after the checks');
  const server = daemon.info;
  const emulation = options.emulatePlatforms.length ? await ensurePlatforms(run, server) : [];
  const qemu: Component[] = emulation.some((e) => e.how === 'installed') ? ['qemu'] : [];
  return {
    endpoint: run.endpoint,
    dockerVersion: tools.cli.version ?? '',
    buildxVersion: tools.buildx.version ?? '',
    composeVersion: tools.compose.version ?? '',
    server,
    serverPlatform: formatServerPlatform(server),
    installed: [...tools.installed, ...qemu],
    daemonStarted: daemon.started,
    emulation,
  };
}

function startRun(options: EnsureOptions, context: EnsureContext): EnsureRun {
  const environment = processEnvironment(context.env);
  const endpoint = resolveEndpoint(environment, options.dockerHost);
  let detected: Promise<Privilege> | undefined;
  return {
    options,
    context,
    environment,
    endpoint,
    ask: context.ask ?? daemonAsker(endpoint, context.runner, context.env),
    privilege: () => (detected ??= detectPrivilege(context.runner, context.env, context.uid)),
  };
}

async function probeAndLog({ context, environment, endpoint, ask }: EnsureRun) {
  const probe = await probeAll(context.runner, environment, endpoint, ask, context.toolProbes);
  const { logger } = context;
  logger.info(describeTool('docker', probe.cli));
  logger.info(describeTool('buildx', probe.buildx));
  logger.info(describeTool('compose', probe.compose));
  logger.info(
    probe.daemon.ok
      ? `daemon ${probe.daemon.info.version} ${formatServerPlatform(probe.daemon.info)} at ${describeEndpoint(endpoint)}`
      : `daemon at ${describeEndpoint(endpoint)} does not answer`,
  );
  return probe;
}

/**
 * Why the task may not start a daemon that does not answer, as the error that ends it; undefined when it may.
 * Only a local unix socket is startable: one with no socket yet, or one whose daemon is not running and installed.
 */
export function daemonStartRefusal(
  diagnosis: Diagnosis,
  endpoint: DockerEndpoint,
  engineInstalled: boolean,
  startDaemon: EnsureOptions['startDaemon'],
  missing: readonly Component[],
): string | undefined {
  const startable = endpoint.kind === 'unix' && (diagnosis.problem === 'not-running' ? engineInstalled : diagnosis.problem === 'no-socket');
  if (startDaemon === 'auto' && startable) return undefined;
  const also = missing.length ? `\n(Also missing: ${missing.join(', ')}.)` : '';
  return `${formatDiagnosis(diagnosis)}${startDaemon === 'never' && startable ? '\n  (startDaemon is never, so the task does not start one.)' : ''}${also}`;
}

async function planDaemonStart(run: EnsureRun, failure: DaemonFailure, missing: readonly Component[]): Promise<DaemonStartPlan> {
  const { endpoint, context } = run;
  const facts = gatherDaemonFacts(endpoint, failure, context.env);
  const diagnosis = diagnoseDaemon(facts);
  const refusal = daemonStartRefusal(diagnosis, endpoint, !!facts.engine, run.options.startDaemon, missing);
  if (refusal !== undefined) throw new Error(refusal);
  const decision = howToStart(readStartFacts(await run.privilege(), facts.inContainer), endpoint);
  if ('refused' in decision) throw new Error(`${formatDiagnosis(diagnosis)}\n  startDaemon: auto cannot start it: ${decision.refused}`);
  if (endpoint.kind !== 'unix') throw new Error('BUG: only a unix socket daemon is started');
  context.logger.info(
    `${diagnosis.summary} The task will ${facts.engine ? 'start it' : 'install an engine and start it'} (startDaemon: auto).`,
  );
  return { diagnosis, how: decision.how, endpoint, needsEngine: !facts.engine };
}

/** Installs what is missing under the agent's install lock, then probes again: the tools as they are now, and what this job installed. */
async function installMissing(run: EnsureRun, missing: Component[]): Promise<Tools & { installed: Component[] }> {
  const { options, context, environment } = run;
  const { logger, runner, env } = context;
  const installer = new Installer(options, context, await run.privilege());
  const installed = await logger.group(`Install ${missing.join(', ')}`, () =>
    withLock(
      path.join(context.toolsDir, LOCK_FILE),
      async (): Promise<Component[]> => {
        // Another job on this agent may have installed them while we waited for the lock.
        const still = [
          ...missingTools(await probeTools(runner, environment), options),
          ...(missing.includes('engine') && !findEngine(env.PATH) ? (['engine'] as const) : []),
        ];
        if (!still.length) {
          logger.info('Another job installed them meanwhile; nothing to do.');
          return [];
        }
        await installer.install(still);
        return still;
      },
      { onWait: (owner) => logger.info(`Waiting for another install on this agent to finish (${owner})`) },
    ),
  );
  const tools = await probeTools(runner, environment);
  const { cli, buildx, compose } = tools;
  if (missingTools(tools, options).length)
    throw new Error(
      `After installing, still missing: ${[describeTool('docker', cli), describeTool('buildx', buildx), describeTool('compose', compose)].join('; ')}`,
    );
  logger.info(
    `Installed ${installed.join(', ') || 'nothing'}: docker ${cli.version}, buildx ${buildx.version}${compose.version ? `, compose ${compose.version}` : ''}`,
  );
  return { ...tools, installed };
}

async function startPlannedDaemon(run: EnsureRun, plan: DaemonStartPlan): Promise<{ info: DaemonInfo; started: StartedDaemon }> {
  const { context, ask } = run;
  const { logger, runner, env } = context;
  const dockerd = findEngine(env.PATH);
  if (!dockerd) throw new Error(`${formatDiagnosis(plan.diagnosis)}\n  No dockerd was found after installing the engine.`);
  const privilege = await run.privilege();
  const result = await logger.group(`Start dockerd`, () =>
    startDaemon(plan.how, dockerd, plan.endpoint, { runner, logger, ask, privilege, env, stateDir: context.tempDir }),
  );
  context.onDaemonStarted?.(result.started);
  logger.info(`dockerd ${result.info.version} answers on ${plan.endpoint.host}`);
  return result;
}

async function ensurePlatforms(run: EnsureRun, server: DaemonInfo): Promise<EmulationOutcome[]> {
  const { options, context, endpoint } = run;
  const { logger, runner, env, tempDir, toolsDir } = context;
  const installer = new Installer(options, context, await run.privilege());
  const cliEnv = dockerCliEnv(endpoint, env);
  const hasApt = !!findOnPath('apt-get', env.PATH);
  const emulation = await logger.group(`Emulation for ${options.emulatePlatforms.map(formatPlatform).join(', ')}`, () =>
    ensureEmulation(options.emulatePlatforms, {
      logger,
      server: serverPlatform(server),
      daemonIsLocal: endpoint.kind === 'unix',
      daemonAddress: describeEndpoint(endpoint),
      builderPlatforms: () => listBuilderPlatforms(runner, { env: cliEnv }),
      canExecute: (p) => canExecute(runner, p, tempDir),
      binfmtState: (entry) => binfmtState(entry),
      mountBinfmt: () =>
        installer.execute(
          [{ kind: 'run', argv: ['mount', '-t', 'binfmt_misc', 'binfmt_misc', BINFMT_DIR], root: true, why: 'mount binfmt_misc' }],
          'Mounting binfmt_misc',
        ),
      enableEntry: (entry) =>
        installer.execute(
          [{ kind: 'write', path: `${BINFMT_DIR}/${entry}`, content: '1', root: true, why: `switch ${entry} on` }],
          `Switching ${entry} on`,
        ),
      installQemu: hasApt
        ? () =>
            withLock(path.join(toolsDir, LOCK_FILE), () => installer.execute(qemuPlan(), 'Installing QEMU'), {
              onWait: (o) => logger.info(`Waiting for another install (${o})`),
            })
        : undefined,
      registerEntry: (entry) =>
        installer.execute(
          [{ kind: 'run', argv: ['update-binfmts', '--enable', entry], root: true, why: `register ${entry}` }],
          `Registering ${entry}`,
        ),
      qemuInstalled: (entry) =>
        existsSync(`/usr/bin/${entry}-static`) || existsSync(`/usr/libexec/qemu-binfmt/${entry.replace(/^qemu-/, '')}-binfmt-P`),
    }),
  );
  for (const e of emulation) logger.info(`${e.platform}: ${e.how}`);
  return emulation;
}
