// Installing the docker CLI, the engine and buildx from the source the installSource input chooses (the distribution,
// Docker's apt repository or checksum-verified static binaries), and running root steps with the agent's privilege.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { EnsureContext, EnsureOptions } from './ensure';
import { dockerConfigDir, processEnvironment } from './endpoint';
import { executePlan, type Privilege } from './executor';
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
  MODERN_CANDIDATES,
  parseAptPolicy,
  parseOsRelease,
  type PlanStep,
} from './install-plan';
import { findOnPath } from './probe';
import { cacheBuildx, cacheCompose, cacheStaticDocker, DEFAULT_STATIC_DOCKER_VERSION, type StaticSources } from './static';

function aptFacts(runnerArch: string): AptFacts {
  const os = parseOsRelease(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '');
  const dpkgArch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'armhf',
    ppc64: 'ppc64el',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return { os, dpkgArch: dpkgArch[runnerArch] ?? runnerArch, hasCaCertificates: existsSync('/etc/ssl/certs/ca-certificates.crt') };
}

const dockerRepositoryConfigured = () => existsSync(DOCKER_SOURCES_FILE) || existsSync('/etc/apt/sources.list.d/docker.list');

/** Installs components from the source installSource chooses, and runs the root steps of emulation, with the agent's privilege. */
export class Installer {
  constructor(
    private readonly options: EnsureOptions,
    private readonly context: Pick<EnsureContext, 'runner' | 'logger' | 'env' | 'toolCache' | 'arch'>,
    private readonly privilege: Privilege,
  ) {}

  private get arch() {
    return this.context.arch ?? process.arch;
  }

  execute(steps: PlanStep[], what: string) {
    return executePlan(steps, what, {
      runner: this.context.runner,
      logger: this.context.logger,
      privilege: this.privilege,
      env: this.context.env,
      download: async (url) => (await this.context.toolCache()).download(url),
    });
  }

  private async candidates(): Promise<Candidates> {
    const result = await this.context.runner('apt-cache', ['policy', ...DISTRIBUTION_QUERY_PACKAGES], {
      env: this.context.env,
      timeoutMs: 60_000,
    });
    const policy = parseAptPolicy(result.stdout);
    return Object.fromEntries(DISTRIBUTION_QUERY_PACKAGES.map((p) => [p, policy[p]?.candidate]));
  }

  /** Installs the components; returns the source that was used. */
  async install(components: Component[]): Promise<string> {
    const { logger } = this.context;
    const pin = this.options.dockerVersion;
    const hasApt = !!findOnPath('apt-get', this.context.env.PATH);
    const first = chooseSourceBeforeCandidates(this.options.installSource, {
      hasApt,
      canBeRoot: this.privilege !== 'none',
      dockerRepositoryConfigured: dockerRepositoryConfigured(),
    });
    let source = first.source;
    let reason = first.reason;
    // Before anything runs or is shown: a user without root would otherwise be handed apt commands to run as root.
    if (!hasApt && source === 'distribution')
      throw new Error('installSource distribution needs apt, and this agent has none. Use installSource static.');
    if (!hasApt && source === 'dockerRepository')
      throw new Error('installSource dockerRepository needs apt (Debian or Ubuntu), and this agent has none. Use installSource static.');
    let candidates: Candidates | undefined;
    if (source === 'auto' || (source === 'distribution' && this.privilege !== 'none')) {
      await this.execute([aptUpdate()], 'Reading the package lists');
      candidates = await this.candidates();
      if (source === 'auto') ({ source, reason } = chooseAfterCandidates(components, candidates, pin));
    }
    logger.info(`Installing ${components.join(', ')} from ${source} (${reason})`);
    const what = `Installing ${components.join(', ')}`;
    switch (source) {
      case 'dockerRepository': {
        const plan = dockerRepositoryPlan(aptFacts(this.arch), components, {
          pin,
          repositoryUrl: this.options.dockerRepositoryUrl,
          alreadyConfigured: dockerRepositoryConfigured(),
        });
        await this.execute(plan.steps, what);
        break;
      }
      case 'distribution': {
        // Without root the lists cannot be refreshed; the plan is then shown with the packages modern releases use.
        const offered = candidates ?? MODERN_CANDIDATES;
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
    const cache = await this.context.toolCache();
    const sources: StaticSources = { ...this.options.staticSources, arch: this.arch };
    if (components.includes('docker-cli') || components.includes('engine')) {
      const version = this.options.dockerVersion ?? DEFAULT_STATIC_DOCKER_VERSION;
      const { dir } = await cacheStaticDocker(version, sources, cache, this.context.logger);
      // This step and every later step of the job find docker, dockerd, containerd and runc here first.
      cache.prependPath(dir);
      if (!this.context.env.PATH?.split(path.delimiter).includes(dir))
        this.context.env.PATH = `${dir}${path.delimiter}${this.context.env.PATH ?? ''}`;
    }
    if (components.includes('buildx')) {
      const { file } = await cacheBuildx(this.options.buildxVersion, sources, cache, this.context.logger);
      await this.installPlugin(file, 'docker-buildx');
    }
    if (components.includes('compose')) {
      const { file } = await cacheCompose(this.options.composeVersion, sources, cache, this.context.logger);
      await this.installPlugin(file, 'docker-compose');
    }
  }

  /** A CLI plugin from the tool cache where the docker CLI finds it. */
  private async installPlugin(file: string, name: 'docker-buildx' | 'docker-compose'): Promise<void> {
    // System-wide where we may (later steps may point DOCKER_CONFIG elsewhere), else the user's plugin directory.
    const systemWide = this.privilege !== 'none';
    const target = systemWide
      ? `/usr/local/lib/docker/cli-plugins/${name}`
      : path.join(dockerConfigDir(processEnvironment(this.context.env)), 'cli-plugins', name);
    const what = name.replace(/^docker-/, '');
    await this.execute(
      [
        {
          kind: 'run',
          argv: ['install', '-D', '-m', '0755', file, target],
          root: systemWide,
          why: `install ${what} as a docker CLI plugin`,
        },
      ],
      `Installing ${what}`,
    );
  }
}
