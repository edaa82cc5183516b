// EnsureDocker's core: probe, then act only on what is missing. docker CLI, buildx plugin, an answering daemon and
// emulation for the platforms asked for; every install happens under one lock per agent, re-checked inside it.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { canExecute, ensureEmulation, binfmtState, BINFMT_DIR, type EmulationOutcome } from '../buildx/qemu';
import { listBuilderPlatforms } from '../buildx/builder';
import type { Logger } from '../log';
import { formatPlatform, type Platform } from '../platform/platform';
import type { Runner } from '../process/exec';
import { daemonAsker, dockerCliEnv, formatServerPlatform, serverPlatform } from './api';
import { howToStart, readStartContext, startDaemon, type StartedDaemon } from './daemon';
import { diagnoseDaemon, type Diagnosis, findEngine, formatDiagnosis, gatherDaemonFacts } from './diagnose';
import { describeEndpoint, dockerConfigDir, type DockerEndpoint, processEnvironment, resolveEndpoint } from './endpoint';
import { detectPrivilege, executePlan, type Privilege } from './executor';
import {
  type AptFacts,
  aptUpdate,
  type Candidates,
  chooseAfterCandidates,
  chooseSourceBeforeCandidates,
  type Component,
  DISTRIBUTION_QUERY_PACKAGES,
  distributionPlan,
  DOCKER_SOURCES_FILE,
  dockerRepositoryPlan,
  type InstallSource,
  parseAptPolicy,
  parseOsRelease,
  type PlanStep,
  qemuPlan,
} from './install-plan';
import { withLock } from './lock';
import { type DaemonAsker, type DaemonInfo, findOnPath, probeAll, probeBuildx, probeCli, type ToolProbe, type ToolProbes } from './probe';
import type { ToolCache } from '../tools/cache';
import { cacheBuildx, cacheStaticDocker, DEFAULT_STATIC_DOCKER_VERSION, type StaticSources } from './static';
import { satisfiesPin } from './version';

export interface EnsureOptions {
  installSource: InstallSource;
  /** x.y.z; pins the docker CLI/engine where the source allows it. */
  dockerVersion?: string;
  /** The buildx release the static source installs. */
  buildxVersion: string;
  startDaemon: 'auto' | 'never';
  emulatePlatforms: Platform[];
  dockerHost?: string;
  staticSources: Omit<StaticSources, 'arch'>;
  dockerRepositoryUrl: string;
}

export interface EnsureDeps {
  runner: Runner;
  logger: Logger;
  /** The task's own environment (process.env): an install into the tool cache prepends its PATH. */
  env: NodeJS.ProcessEnv;
  /** Agent.ToolsDirectory: the install lock lives here. */
  toolsDir: string;
  /** A directory of this step (dockerd's log and pid file, emulation probes). */
  tempDir: string;
  toolCache: () => Promise<ToolCache>;
  arch?: string;
  /** How the daemon is asked; by default the Engine API, or the CLI for ssh endpoints. */
  ask?: DaemonAsker;
  /** CLI and plugin probes the task started before it loaded anything else (see startToolProbes). */
  toolProbes?: ToolProbes;
  /** Called as soon as a daemon was started, so the post-job step can stop it even if a later check fails. */
  onDaemonStarted?: (started: StartedDaemon) => void;
  /** The user id the agent runs as; by default this process's (root installs directly, others need sudo). */
  uid?: number;
}

export interface EnsureResult {
  endpoint: DockerEndpoint;
  dockerVersion: string;
  buildxVersion: string;
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

function missingTools(cli: ToolProbe, buildx: ToolProbe, pin: string | undefined): Component[] {
  const missing: Component[] = [];
  if (!cli.version || (pin && !satisfiesPin(cli.version, pin))) missing.push('docker-cli');
  if (!buildx.version) missing.push('buildx');
  return missing;
}

function aptFacts(runnerArch: string): AptFacts {
  const os = parseOsRelease(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '');
  const dpkgArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' };
  return { os, dpkgArch: dpkgArch[runnerArch] ?? runnerArch, hasCaCertificates: existsSync('/etc/ssl/certs/ca-certificates.crt') };
}

const dockerRepositoryConfigured = () => existsSync(DOCKER_SOURCES_FILE) || existsSync('/etc/apt/sources.list.d/docker.list');

class Installer {
  constructor(
    private readonly options: EnsureOptions,
    private readonly deps: EnsureDeps,
    private readonly privilege: Privilege,
  ) {}

  private get arch() {
    return this.deps.arch ?? process.arch;
  }

  execute(steps: PlanStep[], what: string) {
    return executePlan(steps, what, {
      runner: this.deps.runner,
      logger: this.deps.logger,
      privilege: this.privilege,
      env: this.deps.env,
      download: async (url) => (await this.deps.toolCache()).download(url),
    });
  }

  private async candidates(): Promise<Candidates> {
    const result = await this.deps.runner('apt-cache', ['policy', ...DISTRIBUTION_QUERY_PACKAGES], { env: this.deps.env, timeoutMs: 60_000 });
    const policy = parseAptPolicy(result.stdout);
    return Object.fromEntries(DISTRIBUTION_QUERY_PACKAGES.map((p) => [p, policy[p]?.candidate]));
  }

  /** Installs the components; returns the source that was used. */
  async install(components: Component[]): Promise<string> {
    const { logger: log } = this.deps;
    const pin = this.options.dockerVersion;
    const hasApt = !!findOnPath('apt-get', this.deps.env.PATH);
    const first = chooseSourceBeforeCandidates(this.options.installSource, { hasApt, canBeRoot: this.privilege !== 'none', dockerRepositoryConfigured: dockerRepositoryConfigured() });
    let source = first.source;
    let reason = first.reason;
    let candidates: Candidates | undefined;
    if (source === 'auto' || (source === 'distribution' && this.privilege !== 'none')) {
      if (!hasApt) throw new Error('installSource distribution needs apt, and this agent has none. Use installSource static.');
      await this.execute([aptUpdate()], 'Reading the package lists');
      candidates = await this.candidates();
      if (source === 'auto') ({ source, reason } = chooseAfterCandidates(components, candidates, pin));
    }
    log.info(`Installing ${components.join(', ')} from ${source} (${reason})`);
    const what = `Installing ${components.join(', ')}`;
    switch (source) {
      case 'dockerRepository': {
        if (!hasApt) throw new Error("installSource dockerRepository needs apt (Debian or Ubuntu), and this agent has none. Use installSource static.");
        const plan = dockerRepositoryPlan(aptFacts(this.arch), components, { pin, repositoryUrl: this.options.dockerRepositoryUrl, alreadyConfigured: dockerRepositoryConfigured() });
        await this.execute(plan.steps, what);
        break;
      }
      case 'distribution': {
        // Without root the lists cannot be refreshed; the plan is then shown with the packages modern releases use.
        const offered = candidates ?? Object.fromEntries(DISTRIBUTION_QUERY_PACKAGES.map((p) => [p, 'any']));
        const plan = distributionPlan(aptFacts(this.arch), components, offered, { pin, listsRefreshed: !!candidates });
        await this.execute(plan.steps, what);
        break;
      }
      case 'static':
        await this.installStatic(components);
        break;
      default:
        throw new Error(`BUG: no install source chosen for ${components.join(', ')}`);
    }
    return source;
  }

  private async installStatic(components: Component[]): Promise<void> {
    const cache = await this.deps.toolCache();
    const sources: StaticSources = { ...this.options.staticSources, arch: this.arch };
    if (components.includes('docker-cli') || components.includes('engine')) {
      const version = this.options.dockerVersion ?? DEFAULT_STATIC_DOCKER_VERSION;
      const { dir } = await cacheStaticDocker(version, sources, cache, this.deps.logger);
      // This step and every later step of the job find docker, dockerd, containerd and runc here first.
      cache.prependPath(dir);
      if (!this.deps.env.PATH?.split(path.delimiter).includes(dir)) this.deps.env.PATH = `${dir}${path.delimiter}${this.deps.env.PATH ?? ''}`;
    }
    if (components.includes('buildx')) {
      const { file } = await cacheBuildx(this.options.buildxVersion, sources, cache, this.deps.logger);
      // System-wide where we may (later steps may point DOCKER_CONFIG elsewhere), else the user's plugin directory.
      const systemWide = this.privilege !== 'none';
      const target = systemWide ? '/usr/local/lib/docker/cli-plugins/docker-buildx' : path.join(dockerConfigDir(processEnvironment(this.deps.env)), 'cli-plugins', 'docker-buildx');
      await this.execute([{ kind: 'run', argv: ['install', '-D', '-m', '0755', file, target], root: systemWide, why: 'install buildx as a docker CLI plugin' }], 'Installing buildx');
    }
  }
}

export async function ensureDocker(options: EnsureOptions, deps: EnsureDeps): Promise<EnsureResult> {
  const { logger: log, runner, env } = deps;
  const environment = processEnvironment(env);
  const endpoint = resolveEndpoint(environment, options.dockerHost);
  const ask = deps.ask ?? daemonAsker(endpoint, runner, env);

  const probe = await probeAll(runner, environment, endpoint, ask, deps.toolProbes);
  log.info(describeTool('docker', probe.cli));
  log.info(describeTool('buildx', probe.buildx));
  log.info(probe.daemon.ok ? `daemon ${probe.daemon.info.version} ${formatServerPlatform(probe.daemon.info)} at ${describeEndpoint(endpoint)}` : `daemon at ${describeEndpoint(endpoint)} does not answer`);

  let cli = probe.cli;
  let buildx = probe.buildx;
  let server = probe.daemon.ok ? probe.daemon.info : undefined;
  let missing = missingTools(cli, buildx, options.dockerVersion);
  let privilege: Privilege | undefined;
  const getPrivilege = async () => (privilege ??= await detectPrivilege(runner, env, deps.uid));

  // What the daemon needs, decided before anything is installed so that an unfixable daemon fails first.
  let startHow: 'background' | 'systemd' | undefined;
  let diagnosis: Diagnosis | undefined;
  if (!probe.daemon.ok) {
    const facts = gatherDaemonFacts(endpoint, probe.daemon.failure, env);
    diagnosis = diagnoseDaemon(facts);
    const startable = endpoint.kind === 'unix' && (diagnosis.problem === 'not-running' ? !!facts.engine : diagnosis.problem === 'no-socket');
    if (options.startDaemon === 'never' || !startable) {
      const also = missing.length ? `\n(Also missing: ${missing.join(', ')}.)` : '';
      throw new Error(`${formatDiagnosis(diagnosis)}${options.startDaemon === 'never' && startable ? '\n  (startDaemon is never, so the task does not start one.)' : ''}${also}`);
    }
    const decision = howToStart(readStartContext(await getPrivilege(), facts.inContainer), endpoint);
    if ('refused' in decision) throw new Error(`${formatDiagnosis(diagnosis)}\n  startDaemon: auto cannot start it: ${decision.refused}`);
    startHow = decision.how;
    if (!facts.engine) missing.push('engine');
    log.info(`${diagnosis.summary} The task will ${facts.engine ? 'start it' : 'install an engine and start it'} (startDaemon: auto).`);
  }

  const installed: Component[] = [];
  if (missing.length) {
    const installer = new Installer(options, deps, await getPrivilege());
    await log.group(`Install ${missing.join(', ')}`, () =>
      withLock(
        path.join(deps.toolsDir, LOCK_FILE),
        async () => {
          // Another job on this agent may have installed them while we waited for the lock.
          const [c, b] = await Promise.all([probeCli(runner, environment), probeBuildx(runner, environment)]);
          const still = [...missingTools(c, b, options.dockerVersion), ...(missing.includes('engine') && !findEngine(env.PATH) ? (['engine'] as const) : [])];
          if (!still.length) {
            log.info('Another job installed them meanwhile; nothing to do.');
            return;
          }
          await installer.install(still);
          installed.push(...still);
        },
        { onWait: (owner) => log.info(`Waiting for another install on this agent to finish (${owner})`) },
      ),
    );
    [cli, buildx] = await Promise.all([probeCli(runner, environment), probeBuildx(runner, environment)]);
    missing = missingTools(cli, buildx, options.dockerVersion);
    if (missing.length) throw new Error(`After installing, still missing: ${[describeTool('docker', cli), describeTool('buildx', buildx)].join('; ')}`);
    log.info(`Installed ${installed.join(', ') || 'nothing'}: docker ${cli.version}, buildx ${buildx.version}`);
  }

  let daemonStarted: StartedDaemon | undefined;
  if (!server && startHow && endpoint.kind === 'unix') {
    const dockerd = findEngine(env.PATH);
    if (!dockerd) throw new Error(`${diagnosis ? formatDiagnosis(diagnosis) : ''}\n  No dockerd was found after installing the engine.`);
    const how = startHow;
    const result = await log.group(`Start dockerd`, () =>
      startDaemon(how, dockerd, endpoint, { runner, logger: log, ask, privilege: privilege ?? 'none', env, stateDir: deps.tempDir }),
    );
    daemonStarted = result.started;
    deps.onDaemonStarted?.(daemonStarted);
    server = result.info;
    log.info(`dockerd ${server.version} answers on ${endpoint.host}`);
  }
  if (!server) throw new Error('BUG: no daemon information after the checks');

  let emulation: EmulationOutcome[] = [];
  if (options.emulatePlatforms.length) {
    const priv = await getPrivilege();
    const installer = new Installer(options, deps, priv);
    const cliEnv = dockerCliEnv(endpoint, env);
    const hasApt = !!findOnPath('apt-get', env.PATH);
    emulation = await log.group(`Emulation for ${options.emulatePlatforms.map(formatPlatform).join(', ')}`, () =>
      ensureEmulation(options.emulatePlatforms, {
        logger: log,
        server: serverPlatform(server!),
        daemonIsLocal: endpoint.kind === 'unix',
        daemonAddress: describeEndpoint(endpoint),
        builderPlatforms: () => listBuilderPlatforms(runner, { env: cliEnv }),
        canExecute: (p) => canExecute(runner, p, deps.tempDir),
        binfmtState: (entry) => binfmtState(entry),
        mountBinfmt: () => installer.execute([{ kind: 'run', argv: ['mount', '-t', 'binfmt_misc', 'binfmt_misc', BINFMT_DIR], root: true, why: 'mount binfmt_misc' }], 'Mounting binfmt_misc'),
        enableEntry: (entry) => installer.execute([{ kind: 'write', path: `${BINFMT_DIR}/${entry}`, content: '1', root: true, why: `switch ${entry} on` }], `Switching ${entry} on`),
        installQemu: hasApt
          ? () => withLock(path.join(deps.toolsDir, LOCK_FILE), () => installer.execute(qemuPlan(), 'Installing QEMU'), { onWait: (o) => log.info(`Waiting for another install (${o})`) })
          : undefined,
        registerEntry: (entry) => installer.execute([{ kind: 'run', argv: ['update-binfmts', '--enable', entry], root: true, why: `register ${entry}` }], `Registering ${entry}`),
        qemuInstalled: (entry) => existsSync(`/usr/bin/${entry}-static`) || existsSync(`/usr/libexec/qemu-binfmt/${entry.replace(/^qemu-/, '')}-binfmt-P`),
      }),
    );
    if (emulation.some((e) => e.how === 'installed')) installed.push('qemu');
    for (const e of emulation) log.info(`${e.platform}: ${e.how}`);
  }

  return {
    endpoint,
    dockerVersion: cli.version ?? '',
    buildxVersion: buildx.version ?? '',
    server,
    serverPlatform: formatServerPlatform(server),
    installed,
    daemonStarted,
    emulation,
  };
}

