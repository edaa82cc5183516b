// Installs as plans: argv arrays and files with their contents, computed from facts about the machine and
// executed by one executor (executor.ts). Keeping them pure lets the unit tests pin every command and file,
// in particular for Docker's apt repository, which cannot be reached offline.

export type InstallSource = 'auto' | 'dockerRepository' | 'distribution' | 'static';
export const INSTALL_SOURCES: readonly InstallSource[] = ['auto', 'dockerRepository', 'distribution', 'static'];

/** What can be missing: the CLI, the buildx and compose plugins, the engine (dockerd + containerd), QEMU user emulation. */
export type Component = 'docker-cli' | 'buildx' | 'compose' | 'engine' | 'qemu';

export type PlanStep =
  | { kind: 'run'; argv: string[]; root: boolean; env?: Record<string, string>; why: string }
  /** `mode` is left alone when undefined (files under /proc cannot be chmod-ed). */
  | { kind: 'write'; path: string; content: string; mode?: number; root: boolean; why: string }
  | { kind: 'download'; url: string; path: string; mode: number; root: boolean; why: string };

export interface InstallPlan {
  source: Exclude<InstallSource, 'auto'>;
  components: Component[];
  steps: PlanStep[];
}

export interface OsRelease {
  id: string;
  idLike: string[];
  versionId?: string;
  versionCodename?: string;
  ubuntuCodename?: string;
  name?: string;
  prettyName?: string;
}

export function parseOsRelease(text: string): OsRelease {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) values[m[1]] = m[2].replace(/^(["'])(.*)\1$/, '$2');
  }
  return {
    id: (values.ID ?? 'linux').toLowerCase(),
    idLike: (values.ID_LIKE ?? '').toLowerCase().split(/\s+/).filter(Boolean),
    versionId: values.VERSION_ID || undefined,
    versionCodename: values.VERSION_CODENAME || undefined,
    ubuntuCodename: values.UBUNTU_CODENAME || undefined,
    name: values.NAME || undefined,
    prettyName: values.PRETTY_NAME || undefined,
  };
}

export type AptFamily = 'debian' | 'ubuntu';

/** Debian or Ubuntu (or a derivative that says so in ID_LIKE); undefined for everything else. */
export function aptFamily(os: OsRelease): AptFamily | undefined {
  if (os.id === 'ubuntu' || os.idLike.includes('ubuntu')) return 'ubuntu';
  if (os.id === 'debian' || os.idLike.includes('debian')) return 'debian';
  return undefined;
}

export const osName = (os: OsRelease) => os.prettyName ?? os.name ?? `${os.id} ${os.versionId ?? ''}`.trim();

// ---- apt commands ----

/** apt waits for a dpkg lock held by someone else (unattended-upgrades, another agent) instead of failing at once. */
const APT = ['apt-get', '-o', 'DPkg::Lock::Timeout=300'];
const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' };

export function aptUpdate(why = 'refresh the package lists'): PlanStep {
  return { kind: 'run', argv: [...APT, 'update'], root: true, env: APT_ENV, why };
}

export function aptInstall(packages: string[], why: string, allowDowngrades = false): PlanStep {
  const argv = [...APT, 'install', '-y', '--no-install-recommends', ...(allowDowngrades ? ['--allow-downgrades'] : []), ...packages];
  return { kind: 'run', argv, root: true, env: APT_ENV, why };
}

/** `apt-cache policy` output -> installed and candidate version per package (a package apt does not know is absent). */
export function parseAptPolicy(text: string): Record<string, { installed?: string; candidate?: string }> {
  const result: Record<string, { installed?: string; candidate?: string }> = {};
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const head = /^(\S+):$/.exec(line);
    if (head) {
      current = head[1].replace(/:[a-z0-9]+$/, '');
      result[current] = {};
      continue;
    }
    if (!current) continue;
    const field = /^\s+(Installed|Candidate):\s*(\S+)/.exec(line);
    if (!field) continue;
    const value = field[2] === '(none)' ? undefined : field[2];
    if (field[1] === 'Installed') result[current].installed = value;
    else result[current].candidate = value;
  }
  return result;
}

/** The upstream part of a Debian version: `5:27.3.1-1~debian.12~bookworm` -> `27.3.1`, `26.1.5+dfsg1-9+b1` -> `26.1.5`. */
export function upstreamVersion(debianVersion: string): string | undefined {
  return /^(?:\d+:)?(\d+\.\d+(?:\.\d+)?)/.exec(debianVersion)?.[1];
}

// ---- Docker's apt repository ----

export const DOCKER_REPOSITORY_URL = 'https://download.docker.com/linux';
export const DOCKER_KEYRING = '/etc/apt/keyrings/docker.asc';
export const DOCKER_SOURCES_FILE = '/etc/apt/sources.list.d/docker.sources';

export interface AptFacts {
  os: OsRelease;
  /** `dpkg --print-architecture`: amd64, arm64, armhf, ppc64le, s390x. */
  dpkgArch: string;
  /** /etc/ssl/certs/ca-certificates.crt exists, so apt can fetch over https. */
  hasCaCertificates: boolean;
}

export function dockerRepositorySuite(os: OsRelease): string | undefined {
  return aptFamily(os) === 'ubuntu' ? (os.ubuntuCodename ?? os.versionCodename) : os.versionCodename;
}

/** The deb822 sources entry Docker's install guide writes today (one file, signed-by the downloaded key). */
export function dockerSourcesEntry(facts: AptFacts, repositoryUrl: string = DOCKER_REPOSITORY_URL): string {
  const family = aptFamily(facts.os);
  const suite = dockerRepositorySuite(facts.os);
  if (!family || !suite)
    throw new Error(
      `Docker's apt repository has packages for Debian and Ubuntu releases; ${osName(facts.os)} is neither (or names no codename).`,
    );
  return [
    'Types: deb',
    `URIs: ${repositoryUrl.replace(/\/+$/, '')}/${family}`,
    `Suites: ${suite}`,
    'Components: stable',
    `Architectures: ${facts.dpkgArch}`,
    `Signed-By: ${DOCKER_KEYRING}`,
    '',
  ].join('\n');
}

/** The version string Docker's packages carry: 5:27.3.1-1~debian.12~bookworm, 5:27.3.1-1~ubuntu.24.04~noble. */
export function dockerRepositoryVersion(os: OsRelease, pin: string): string {
  const family = aptFamily(os);
  const suite = dockerRepositorySuite(os);
  if (!family || !suite || !os.versionId)
    throw new Error(`cannot form Docker's package version for ${osName(os)}: it needs Debian or Ubuntu with VERSION_ID and a codename.`);
  return `5:${pin}-1~${family}.${os.versionId}~${suite}`;
}

const REPOSITORY_PACKAGES: Record<Exclude<Component, 'qemu'>, string[]> = {
  // the set Docker's guide installs for an engine
  engine: ['docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin'],
  'docker-cli': ['docker-ce-cli'],
  buildx: ['docker-buildx-plugin'],
  compose: ['docker-compose-plugin'],
};

export function dockerRepositoryPlan(
  facts: AptFacts,
  components: Component[],
  options: { pin?: string; repositoryUrl?: string; alreadyConfigured?: boolean } = {},
): InstallPlan {
  const family = aptFamily(facts.os);
  if (!family)
    throw new Error(
      `Docker's apt repository has packages for Debian and Ubuntu; this agent runs ${osName(facts.os)}. Use installSource static.`,
    );
  const wanted = components.filter((c): c is Exclude<Component, 'qemu'> => c !== 'qemu');
  const packages = [...new Set(wanted.flatMap((c) => REPOSITORY_PACKAGES[c]))];
  const pinned = options.pin ? dockerRepositoryVersion(facts.os, options.pin) : undefined;
  const withPins = packages.map((p) => (pinned && (p === 'docker-ce' || p === 'docker-ce-cli') ? `${p}=${pinned}` : p));
  const repositoryUrl = options.repositoryUrl ?? DOCKER_REPOSITORY_URL;
  const steps: PlanStep[] = [];
  if (!options.alreadyConfigured) {
    if (!facts.hasCaCertificates) {
      steps.push(aptUpdate(), aptInstall(['ca-certificates'], 'apt needs CA certificates to fetch from Docker over https'));
    }
    steps.push(
      {
        kind: 'run',
        argv: ['install', '-m', '0755', '-d', '/etc/apt/keyrings'],
        root: true,
        why: 'the directory for third-party apt keys',
      },
      {
        kind: 'download',
        url: `${repositoryUrl.replace(/\/+$/, '')}/${family}/gpg`,
        path: DOCKER_KEYRING,
        mode: 0o644,
        root: true,
        why: "Docker's apt signing key",
      },
      {
        kind: 'write',
        path: DOCKER_SOURCES_FILE,
        content: dockerSourcesEntry(facts, repositoryUrl),
        mode: 0o644,
        root: true,
        why: "Docker's apt repository",
      },
    );
  }
  steps.push(aptUpdate(), aptInstall(withPins, `install ${packages.join(', ')} from Docker's repository`, !!pinned));
  return { source: 'dockerRepository', components: wanted, steps };
}

// ---- the distribution's own packages ----

export type Candidates = Record<string, string | undefined>;

/** Packages the distribution must offer for a component; `undefined` when the release has none. */
export function distributionPackages(component: Exclude<Component, 'qemu'>, candidates: Candidates): string[] | undefined {
  const has = (p: string) => !!candidates[p];
  switch (component) {
    case 'engine':
      if (!has('docker.io')) return undefined;
      return has('docker-cli') ? ['docker.io', 'docker-cli'] : ['docker.io'];
    case 'docker-cli':
      // Debian 13+ split the CLI into docker-cli; older releases ship it inside docker.io.
      if (has('docker-cli')) return ['docker-cli'];
      return has('docker.io') ? ['docker.io'] : undefined;
    case 'buildx':
      return has('docker-buildx') ? ['docker-buildx'] : undefined;
    case 'compose':
      // Debian 13's docker-compose is compose v2, the CLI plugin; Debian 12's (1.29) is the old Python program,
      // which `docker compose` does not run.
      return isComposeV2Package(candidates['docker-compose']) ? ['docker-compose'] : undefined;
  }
}

/** A docker-compose package version of compose v2 (`2.26.1-4`), not v1 (`1.29.2-3`). */
export function isComposeV2Package(debianVersion: string | undefined): boolean {
  const major = Number(/^(?:\d+:)?(\d+)\./.exec(debianVersion ?? '')?.[1] ?? 0);
  return major >= 2;
}

export class UnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnavailableError';
  }
}

export const DISTRIBUTION_QUERY_PACKAGES = ['docker.io', 'docker-cli', 'docker-buildx', 'docker-compose'];

/** What a modern release (Debian 13) offers, for showing a plan when the lists cannot be read (no root). */
export const MODERN_CANDIDATES: Candidates = { 'docker.io': 'any', 'docker-cli': 'any', 'docker-buildx': 'any', 'docker-compose': '2' };

/** The package a component needs, as the error names it when the distribution has none. */
const WANTED_PACKAGE: Record<Exclude<Component, 'qemu'>, string> = {
  engine: 'docker.io',
  'docker-cli': 'docker-cli or docker.io',
  buildx: 'docker-buildx',
  compose: 'docker-compose v2',
};
const WHY_NONE: Partial<Record<Exclude<Component, 'qemu'>, string>> = {
  buildx: ' (Debian 12 and older ship none)',
  compose: " (Debian 12's docker-compose is v1, which `docker compose` does not run)",
};

export function distributionPlan(
  facts: AptFacts,
  components: Component[],
  candidates: Candidates,
  options: { pin?: string; listsRefreshed?: boolean } = {},
): InstallPlan {
  const wanted = components.filter((c): c is Exclude<Component, 'qemu'> => c !== 'qemu');
  const packages: string[] = [];
  for (const component of wanted) {
    const found = distributionPackages(component, candidates);
    if (!found) {
      throw new UnavailableError(
        `${osName(facts.os)} has no ${WANTED_PACKAGE[component]} package in its configured archives${WHY_NONE[component] ?? ''}. Use installSource dockerRepository or static.`,
      );
    }
    packages.push(...found);
  }
  if (options.pin) {
    for (const p of packages.filter((p) => p === 'docker.io' || p === 'docker-cli')) {
      const candidate = candidates[p] ?? '';
      if (upstreamVersion(candidate) !== options.pin) {
        throw new UnavailableError(
          `${osName(facts.os)} offers ${p} ${candidate}, not ${options.pin}: the distribution's packages cannot be pinned to another release. Use installSource dockerRepository or static for dockerVersion ${options.pin}.`,
        );
      }
    }
  }
  const unique = [...new Set(packages)];
  const steps = [
    ...(options.listsRefreshed ? [] : [aptUpdate()]),
    aptInstall(unique, `install ${unique.join(', ')} from ${osName(facts.os)}`),
  ];
  return { source: 'distribution', components: wanted, steps };
}

/** QEMU user emulation from the distribution (static binaries + binfmt registration helpers); no image is pulled. */
export function qemuPlan(options: { listsRefreshed?: boolean } = {}): PlanStep[] {
  return [
    ...(options.listsRefreshed ? [] : [aptUpdate()]),
    aptInstall(['qemu-user-static', 'binfmt-support'], 'QEMU user emulation and its binfmt_misc registrations'),
  ];
}

// ---- which source `auto` takes ----

export interface SourceFacts {
  hasApt: boolean;
  /** Root, or passwordless sudo. */
  canBeRoot: boolean;
  dockerRepositoryConfigured: boolean;
}

/**
 * auto: Docker's repository where the machine already uses it; otherwise the distribution where it has every
 * package (decided after its lists are read, see chooseAfterCandidates); static where apt or root is not available.
 */
export function chooseSourceBeforeCandidates(requested: InstallSource, facts: SourceFacts): { source: InstallSource; reason: string } {
  if (requested !== 'auto') return { source: requested, reason: 'as asked' };
  if (!facts.hasApt) return { source: 'static', reason: 'this agent has no apt' };
  if (!facts.canBeRoot)
    return { source: 'static', reason: 'the agent is neither root nor has passwordless sudo, and static binaries need neither' };
  if (facts.dockerRepositoryConfigured) return { source: 'dockerRepository', reason: "Docker's apt repository is already configured here" };
  return { source: 'auto', reason: 'the distribution decides once its lists are read' };
}

export function chooseAfterCandidates(
  components: Component[],
  candidates: Candidates,
  pin: string | undefined,
): { source: 'distribution' | 'static'; reason: string } {
  const wanted = components.filter((c): c is Exclude<Component, 'qemu'> => c !== 'qemu');
  const lacking = wanted.filter((c) => !distributionPackages(c, candidates));
  if (lacking.length) return { source: 'static', reason: `the distribution has no package for ${lacking.join(', ')}` };
  if (pin) {
    const cli = candidates['docker-cli'] ?? candidates['docker.io'];
    if (!cli || upstreamVersion(cli) !== pin)
      return { source: 'static', reason: `the distribution offers ${cli ?? 'no docker'}, not the pinned ${pin}` };
  }
  return { source: 'distribution', reason: 'the distribution has every package' };
}

// ---- showing a plan to a human ----

function quote(arg: string): string {
  return /^[A-Za-z0-9_./:=+@%,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The plan as shell lines a user can paste (what to run when the task may not become root itself). */
export function planAsShell(steps: PlanStep[], sudo: boolean): string[] {
  const prefix = (root: boolean) => (root && sudo ? 'sudo ' : '');
  return steps.map((step) => {
    if (step.kind === 'run') {
      const env = Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${quote(v)} `);
      const envPart = env.length ? (step.root && sudo ? `env ${env.join('')}` : env.join('')) : '';
      return `${prefix(step.root)}${envPart}${step.argv.map(quote).join(' ')}`;
    }
    if (step.kind === 'download')
      return `${prefix(step.root)}curl -fsSL ${quote(step.url)} -o ${quote(step.path)} && ${prefix(step.root)}chmod ${step.mode.toString(8)} ${quote(step.path)}`;
    return `${prefix(step.root)}tee ${quote(step.path)} > /dev/null <<'EOF'\n${step.content.replace(/\n$/, '')}\nEOF`;
  });
}
