// "Agent" containers for the scenarios that must not touch the shared lab engine: a Debian rootfs made with
// debootstrap from Debian's archive (no public registry is reachable), imported with `docker import`, with the
// host's node binary and the bundled task mounted, so a task runs inside exactly as on a containerized agent.
//
//   base        Debian trixie minbase + ca-certificates, apt lists emptied (a fresh agent): no docker at all.
//   engine      base + docker.io, docker-cli, docker-buildx (Debian's packages): an engine that is installed but not
//               running, for startDaemon (needs --privileged to run); and sudo with a user `agent` (uid 1000) that may
//               use it without a password, like a VM agent's service account.
//   azurelinux  an agent without apt (debootstrap makes only Debian): FROM scratch, the lab's static busybox and its
//               applet links (dpkg's left out), Azure Linux 3.0's /etc/os-release, the Node.js the agent runs with the
//               glibc it is linked against (what `ldd` lists, in /usr/lib as Azure Linux has it), coreutils' `install`
//               (Azure Linux and RHEL have coreutils; Debian's busybox has no install applet), CA roots where RHEL and
//               Azure Linux keep them, users root and agent. No apt, dpkg, sudo, docker, and no tar but busybox's.
// Images are cached by tag (the recipe revision is in the tag); building them takes a few minutes once (azurelinux:
// seconds).
import { spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLock } from '../../src/docker/lock';
import { run, type RunResult } from '../../src/process/exec';
import { agentEnvironment, agentMasks, distTasks, interpret, type RunTaskOptions, type TaskRun } from '../helpers/task-runner';
import { buildxPlugin, debootstrapCommand, debootstrapDir, labPath } from './engine';
import { labRoot } from './lab';
import { hostDebianArchive } from './setup/apt';
import { baseDir } from './setup/busybox';

export const AGENT_IMAGE = 'lab-agent/debian';
/** Bump a kind's revision when its recipe below changes, so that a stale cached image is not used. */
export const AGENT_RECIPE: Record<AgentImageKind, number> = { base: 1, engine: 2, azurelinux: 1 };
export const DEBIAN_SUITE = 'trixie';
/** Where Debian's docker-buildx puts the plugin: the lab's is mounted there where a scenario needs one. */
export const AGENT_BUILDX_PLUGIN = '/usr/libexec/docker/cli-plugins/docker-buildx';

/** The docker CLI a scenario mounts: the host's (a static 28 client on this kind of machine), else the lab engine's. */
function hostDockerCli(): string {
  for (const dir of labPath().split(path.delimiter)) {
    const file = path.join(dir, 'docker');
    if (dir && existsSync(file)) return file;
  }
  throw new Error("no docker CLI on PATH, not even the lab engine's: run `npm run lab:up`");
}

export type AgentImageKind = 'base' | 'engine' | 'azurelinux';

/** The non-Debian agent: busybox with Azure Linux 3.0's os-release. */
export const AZURELINUX_AGENT_IMAGE = 'lab-agent/azurelinux';

export const agentImageTag = (kind: AgentImageKind) =>
  kind === 'azurelinux'
    ? `${AZURELINUX_AGENT_IMAGE}:3.0-busybox-r${AGENT_RECIPE[kind]}`
    : `${AGENT_IMAGE}:${DEBIAN_SUITE}-${kind}-r${AGENT_RECIPE[kind]}`;

/** Azure Linux 3.0's /etc/os-release as the distribution ships it (no ID_LIKE). */
export const AZURELINUX_OS_RELEASE = [
  'NAME="Microsoft Azure Linux"',
  'VERSION="3.0.20250702"',
  'ID=azurelinux',
  'VERSION_ID="3.0"',
  'PRETTY_NAME="Microsoft Azure Linux 3.0"',
  'ANSI_COLOR="1;34"',
  'HOME_URL="https://aka.ms/azurelinux"',
  'BUG_REPORT_URL="https://aka.ms/azurelinux"',
  'SUPPORT_URL="https://aka.ms/azurelinux"',
  '',
].join('\n');

async function sh(
  file: string,
  args: string[],
  options: { timeoutMs?: number; say?: (l: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  const result = await run(file, args, {
    timeoutMs: options.timeoutMs ?? 30 * 60_000,
    env: options.env,
    onLine: options.say ? (l) => options.say!(`  ${l}`) : undefined,
  });
  // debootstrap says why it failed on stdout
  const said = result.stderr.trim() || result.stdout.trim();
  if (result.exitCode !== 0)
    throw new Error(`${file} ${args.slice(0, 3).join(' ')} failed (${result.exitCode}): ${said.split('\n').slice(-5).join(' | ')}`);
  return result;
}

async function imageExists(tag: string): Promise<boolean> {
  return (await run('docker', ['image', 'inspect', '--format', '{{.Id}}', tag])).exitCode === 0;
}

/** tar -C dir -c . | docker import --change ... - tag */
function importRootfs(dir: string, tag: string, shell = '/bin/bash'): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', dir, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const imp = spawn('docker', ['import', '--change', `CMD ["${shell}"]`, '--change', 'ENV LANG=C.UTF-8', '-', tag], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    tar.stdout.pipe(imp.stdin);
    let err = '';
    tar.stderr.on('data', (c) => (err += c));
    imp.stderr.on('data', (c) => (err += c));
    imp.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker import failed (${code}): ${err.slice(-500)}`))));
    tar.on('error', reject);
    imp.on('error', reject);
  });
}

async function buildBase(tag: string, say: (l: string) => void): Promise<void> {
  // debootstrap as the lab unpacked it (never installed on the host), from the mirror the host's apt uses
  const mirror = hostDebianArchive().uri;
  const root = mkdtempSync(path.join(labRoot, 'agent-rootfs-'));
  try {
    say(`debootstrap ${DEBIAN_SUITE} (minbase) from ${mirror}: a few minutes`);
    await sh(debootstrapCommand, ['--variant=minbase', '--include=ca-certificates', DEBIAN_SUITE, root, mirror], {
      timeoutMs: 30 * 60_000,
      env: { ...process.env, DEBOOTSTRAP_DIR: debootstrapDir },
    });
    // A fresh agent: no package lists, no cached packages (the task must run apt-get update itself).
    await sh('sh', ['-c', `rm -rf ${root}/var/lib/apt/lists/* ${root}/var/cache/apt/archives/*.deb`]);
    say(`docker import ${tag}`);
    await importRootfs(root, tag);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function buildEngine(tag: string, say: (l: string) => void): Promise<void> {
  const base = await ensureAgentImage('base', say);
  const name = `lab-agent-build-${process.pid}`;
  const script = [
    'set -e',
    // no init system in a container: keep the packages' maintainer scripts from starting the daemon
    "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d",
    'apt-get update',
    'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io docker-cli docker-buildx iptables sudo',
    'useradd --uid 1000 --create-home --shell /bin/bash agent',
    "echo 'agent ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/agent && chmod 0440 /etc/sudoers.d/agent",
    'rm -f /usr/sbin/policy-rc.d',
    'rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb',
  ].join('\n');
  await run('docker', ['rm', '-f', name]);
  say(`installing docker.io, docker-cli, docker-buildx into ${tag} (apt, network host)`);
  try {
    await sh('docker', ['run', '--name', name, '--network', 'host', base, 'sh', '-c', script], { timeoutMs: 30 * 60_000 });
    await sh('docker', ['commit', '--change', 'CMD ["/bin/bash"]', name, tag]);
  } finally {
    await run('docker', ['rm', '-f', name]);
  }
}

/** The files `ldd` says a dynamically linked program loads (its libraries and the loader), as absolute paths. */
async function sharedLibraries(program: string): Promise<string[]> {
  const { stdout } = await sh('ldd', [program]);
  const files: string[] = [];
  for (const line of stdout.split('\n')) {
    // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`; not the vdso
    const m = /^\s*(?:\S+\s+=>\s+)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m) files.push(m[1]);
    else if (/=>\s+not found/.test(line)) throw new Error(`ldd ${program}: ${line.trim()}`);
  }
  return files;
}

/**
 * An Azure Linux 3.0 agent as far as the tasks can tell: merged /usr (/bin, /sbin, /lib and /lib64 link into /usr),
 * busybox for the commands, glibc for node. Built from files on this machine in seconds, no network.
 */
async function buildAzureLinux(tag: string, say: (l: string) => void): Promise<void> {
  const busybox = path.join(baseDir, 'amd64', 'busybox');
  if (process.arch !== 'x64') throw new Error(`the azurelinux agent image is made for amd64 hosts; this one is ${process.arch}`);
  if (!existsSync(busybox)) throw new Error(`no static busybox at ${busybox}: run \`npm run lab:up\``);
  const root = mkdtempSync(path.join(labRoot, 'agent-rootfs-'));
  try {
    chmodSync(root, 0o755);
    const dir = (p: string, mode = 0o755) => {
      mkdirSync(path.join(root, p), { recursive: true });
      chmodSync(path.join(root, p), mode);
    };
    const file = (p: string, content: string | Buffer, mode = 0o644) => {
      mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      writeFileSync(path.join(root, p), content, { mode });
      chmodSync(path.join(root, p), mode);
    };
    const copy = (from: string, to: string, mode = 0o755) => {
      mkdirSync(path.dirname(path.join(root, to)), { recursive: true });
      copyFileSync(realpathSync(from), path.join(root, to));
      chmodSync(path.join(root, to), mode);
    };
    for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/local/bin', 'usr/local/lib', 'etc', 'run', 'var/lib', 'var/log']) dir(d);
    for (const d of ['proc', 'sys', 'dev', 'home', 'opt']) dir(d);
    dir('tmp', 0o1777);
    dir('var/tmp', 0o1777);
    dir('root', 0o700);
    // merged /usr, as Azure Linux 3.0 has it (its 64-bit libraries are in /usr/lib)
    for (const [link, target] of [
      ['bin', 'usr/bin'],
      ['sbin', 'usr/sbin'],
      ['lib', 'usr/lib'],
      ['lib64', 'usr/lib'],
      ['var/run', '../run'],
    ])
      symlinkSync(target, path.join(root, link));

    say('busybox and its applet links (not dpkg, dpkg-deb)');
    copy(busybox, 'usr/bin/busybox');
    const applets = (await sh(busybox, ['--list-full'])).stdout.split('\n').filter(Boolean);
    for (const applet of applets) {
      const name = path.basename(applet);
      if (name === 'busybox' || name === 'dpkg' || name === 'dpkg-deb') continue;
      const where = applet.startsWith('sbin/') || applet.startsWith('usr/sbin/') ? 'usr/sbin' : 'usr/bin';
      const link = path.join(root, where, name);
      if (!existsSync(link)) symlinkSync('/usr/bin/busybox', link);
    }

    // node at the path the tasks are started with, and coreutils' install (the plugin installer's command), with
    // the shared libraries and the loader they were linked against: what a glibc distribution has in /usr/lib
    say(`${process.execPath} and install, with what ldd lists`);
    const programs: [string, string][] = [
      [process.execPath, process.execPath],
      ['/usr/bin/install', '/usr/bin/install'],
    ];
    const libraries = new Set<string>();
    for (const [from, to] of programs) {
      copy(from, to.replace(/^\/(bin|sbin)\//, '/usr/$1/'));
      for (const lib of await sharedLibraries(from)) libraries.add(lib);
    }
    for (const lib of libraries) copy(lib, path.join('usr/lib', path.basename(lib)));
    file('etc/ld.so.conf', '/usr/lib\n');
    await sh('ldconfig', ['-r', root]);

    file('etc/os-release', AZURELINUX_OS_RELEASE);
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/home/agent:/bin/sh\n');
    file('etc/group', 'root:x:0:\nagent:x:1000:\n');
    file('etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
    dir('home/agent');
    // Mozilla's roots as ca-certificates ships them, where RHEL and Azure Linux keep the bundle (the lab CA comes,
    // as on the Debian agents, through NODE_EXTRA_CA_CERTS when a task runs)
    const mozilla = '/usr/share/ca-certificates/mozilla';
    const roots = readdirSync(mozilla)
      .filter((f) => f.endsWith('.crt'))
      .sort()
      .map((f) => readFileSync(path.join(mozilla, f), 'utf8').trimEnd())
      .join('\n');
    file('etc/pki/tls/certs/ca-bundle.crt', `${roots}\n`);
    dir('etc/ssl');
    symlinkSync('../pki/tls/certs', path.join(root, 'etc/ssl/certs'));
    await sh('chown', ['-R', '1000:1000', path.join(root, 'home/agent')]);

    // the root must work before it becomes an image: node runs, and the applets do
    const check = await sh('chroot', [root, process.execPath, '-e', 'console.log(process.versions.node)']);
    say(`node ${check.stdout.trim()} runs in the root`);
    say(`docker import ${tag}`);
    await importRootfs(root, tag, '/bin/sh');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The agent image of that kind, built when it is not in the image store yet. */
export async function ensureAgentImage(
  kind: AgentImageKind,
  say: (line: string) => void = (l) => console.log(`agent-image: ${l}`),
): Promise<string> {
  const tag = agentImageTag(kind);
  if (await imageExists(tag)) return tag;
  mkdirSync(labRoot, { recursive: true });
  await withLock(
    path.join(labRoot, `agent-image-${kind}.lock`),
    async () => {
      if (await imageExists(tag)) return;
      const started = Date.now();
      if (kind === 'base') await buildBase(tag, say);
      else if (kind === 'engine') await buildEngine(tag, say);
      else await buildAzureLinux(tag, say);
      say(`${tag} built in ${Math.round((Date.now() - started) / 1000)} s`);
    },
    { timeoutMs: 40 * 60_000, onWait: (owner) => say(`waiting for ${owner} to build ${tag}`) },
  );
  return tag;
}

export interface AgentContainerOptions {
  image: string;
  /** Needed only where a daemon must start inside. */
  privileged?: boolean;
  /** host: the container reaches Debian's archive and the lab's loopback services. */
  network?: 'host' | 'bridge' | 'none';
  /** Mount the host's docker CLI at /usr/local/bin/docker. */
  dockerCli?: boolean;
  /** Mount the lab's buildx plugin where Debian's docker-buildx puts it. */
  buildxPlugin?: boolean;
  /** Mount the lab daemon's socket at /var/run/docker.sock. */
  dockerSocket?: boolean;
  groupAdd?: string[];
  /** Extra `-v` specs. */
  volumes?: string[];
  tmpfs?: string[];
}

/** A long-running container that tasks are exec-ed into, one `node` process per step, like an agent's job container. */
export class AgentContainer {
  private constructor(
    readonly id: string,
    /** Host directory mounted at the same path: the agent's temp and tools directories, and HOME for other users. */
    readonly root: string,
  ) {}

  static async start(options: AgentContainerOptions): Promise<AgentContainer> {
    const root = mkdtempSync(path.join(os.tmpdir(), 'lab-agent-'));
    for (const dir of ['tools', 'home']) mkdirSync(path.join(root, dir));
    for (const dir of [root, path.join(root, 'tools'), path.join(root, 'home')]) chmodSync(dir, 0o1777);
    const same = (p: string, mode = 'ro') => ['-v', `${p}:${p}:${mode}`];
    const args = ['run', '-d', '--rm', '--init', '--label', 'container-release-lab=agent'];
    if (options.privileged) args.push('--privileged');
    args.push('--network', options.network ?? 'none');
    if (options.network === 'host') args.push('--add-host', 'releases.lab.test:127.0.0.1');
    args.push(...same(process.execPath), ...same(path.join(distTasks)), ...same(root, 'rw'));
    // The lab CA, readable by any user of the container (.lab/ca is root's only).
    const ca = path.join(labRoot, 'ca', 'ca.crt');
    if (existsSync(ca)) {
      copyFileSync(ca, path.join(root, 'lab-ca.crt'));
      chmodSync(path.join(root, 'lab-ca.crt'), 0o644);
    }
    if (options.dockerCli) args.push('-v', `${hostDockerCli()}:/usr/local/bin/docker:ro`);
    if (options.buildxPlugin) args.push('-v', `${buildxPlugin}:${AGENT_BUILDX_PLUGIN}:ro`);
    if (options.dockerSocket) args.push('-v', '/var/run/docker.sock:/var/run/docker.sock');
    for (const g of options.groupAdd ?? []) args.push('--group-add', g);
    for (const v of options.volumes ?? []) args.push('-v', v);
    for (const t of options.tmpfs ?? []) args.push('--tmpfs', t);
    args.push(options.image, 'sleep', 'infinity');
    const result = await sh('docker', args);
    return new AgentContainer(result.stdout.trim(), root);
  }

  async exec(argv: string[], options: { user?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
    const args = ['exec', '-i'];
    if (options.user) args.push('-u', options.user);
    for (const [k, v] of Object.entries(options.env ?? {})) args.push('-e', `${k}=${v}`);
    return run('docker', [...args, this.id, ...argv], { timeoutMs: 20 * 60_000 });
  }

  /**
   * Runs a bundled task step inside, as the agent would: same environment as test/helpers/task-runner builds,
   * Agent.TempDirectory and Agent.ToolsDirectory under this container's root (the tools directory is kept across
   * steps and jobs, like an agent's tool cache).
   */
  async runTask(options: RunTaskOptions & { user?: string }): Promise<TaskRun> {
    const temp = mkdtempSync(path.join(this.root, 'temp-'));
    chmodSync(temp, 0o1777);
    const env = agentEnvironment(
      { ...options, variables: { 'Agent.ToolsDirectory': path.join(this.root, 'tools'), ...options.variables } },
      temp,
    );
    if (options.user && options.user !== 'root' && options.user !== '0') env.HOME = path.join(this.root, 'home');
    // the lab CA by any path to it (a worktree's .lab is a link to the main checkout's)
    if (env.NODE_EXTRA_CA_CERTS?.endsWith(path.join('.lab', 'ca', 'ca.crt'))) env.NODE_EXTRA_CA_CERTS = path.join(this.root, 'lab-ca.crt');
    // The values never travel as arguments of `docker exec` (any user sees a process's arguments): one-line values go
    // through a 0600 --env-file, multi-line ones (PEM keys) through docker's own environment named by `-e NAME`.
    // docker's own DOCKER_* stay the host's, so a DOCKER_HOST under test does not redirect the exec itself.
    const args = ['exec', '-i', '-w', options.cwd ?? '/'];
    if (options.user) args.push('-u', options.user);
    const envFile = path.join(temp, '.task-env');
    const lines: string[] = [];
    const cliEnv: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) continue;
      if (!/[\r\n]/.test(v)) lines.push(`${k}=${v}`);
      else if (k.startsWith('DOCKER_')) throw new Error(`${k} holds a line break; docker exec cannot pass it`);
      else {
        cliEnv[k] = v;
        args.push('-e', k);
      }
    }
    writeFileSync(envFile, `${lines.join('\n')}\n`, { mode: 0o600 });
    args.push('--env-file', envFile, this.id, process.execPath, path.join(distTasks, options.task, options.entry ?? 'index.js'));
    const started = Date.now();
    try {
      const result = await run('docker', args, { env: cliEnv, timeoutMs: options.timeoutMs ?? 20 * 60_000 });
      return interpret(result.stdout, result.stderr, result.exitCode, Date.now() - started, { masks: agentMasks(options) });
    } finally {
      rmSync(envFile, { force: true });
    }
  }

  async remove(): Promise<void> {
    await run('docker', ['rm', '-f', this.id]);
    rmSync(this.root, { recursive: true, force: true });
  }
}
