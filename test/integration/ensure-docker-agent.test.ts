// EnsureDocker@1 inside "agent" containers (test/lab/agent-image.ts): the scenarios that would disturb the shared lab
// engine if played on the host. Docker or buildx missing, a socket that is missing or not ours, an engine that is
// installed but stopped (and started by the task, then stopped by its post-job step), installs from the distribution
// and from static binaries served by the lab (and tampered ones refused), and emulation without binfmt_misc.
// An agent without apt (Azure Linux 3.0 on busybox) takes the static source and sees what QEMU the kernel has.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { distTasks, repoRoot, type RunTaskOptions, type TaskRun } from '../helpers/task-runner';
import { AgentContainer, type AgentContainerOptions, agentImageTag, ensureAgentImage } from '../lab/agent-image';
import { LabControl } from '../lab/client';
import { type Lab, labNodeEnv, readLab } from '../lab/lab';
import { type ComposeReleases, readComposeReleases } from '../lab/releases/compose';
import { type DockerReleases, readDockerReleases } from '../lab/releases/docker';
import { baseDir } from '../lab/setup/busybox';

const visible = (r: TaskRun) =>
  r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('##vso[task.debug'))
    .join('\n');
const explain = (r: TaskRun) => `result ${r.result}: ${r.resultMessage}\n${visible(r)}\n${r.stderr}`;

describe('EnsureDocker in agent containers', function () {
  this.timeout(900_000);
  let lab: Lab;
  let releases: DockerReleases;
  let compose: ComposeReleases;
  // Read once the lab is up (the root hook may start it): not when mocha loads this file.
  let socketGid: string;

  before(async function () {
    this.timeout(3_600_000);
    socketGid = String(statSync('/var/run/docker.sock').gid);
    lab = readLab();
    releases = readDockerReleases(lab);
    compose = readComposeReleases(lab);
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', 'EnsureDocker', '--no-typecheck'], {
      stdio: 'ignore',
    });
    assert.ok(existsSync(path.join(distTasks, 'EnsureDocker', 'post.js')));
    // Built once per machine (debootstrap from Debian's archive, a few minutes), then cached by tag.
    await ensureAgentImage('base');
    await ensureAgentImage('engine');
    await ensureAgentImage('azurelinux');
  });

  async function withAgent<T>(
    options: Omit<AgentContainerOptions, 'image'> & { image?: string },
    body: (agent: AgentContainer) => Promise<T>,
  ): Promise<T> {
    const agent = await AgentContainer.start({ image: agentImageTag('base'), ...options });
    try {
      return await body(agent);
    } finally {
      await agent.remove();
    }
  }

  const task = (agent: AgentContainer, options: Omit<RunTaskOptions, 'task'> & { user?: string }) =>
    agent.runTask({ task: 'EnsureDocker', ...options, env: { ...labNodeEnv(lab), ...options.env } });

  const staticInputs = () => ({
    installSource: 'static',
    staticDockerBaseUrl: releases.dockerStaticBaseUrl,
    staticBuildxBaseUrl: releases.buildxBaseUrl,
    buildxVersion: releases.buildxVersion,
  });

  describe('the daemon', () => {
    it('no socket in a container: explains the host socket mount and what it means, distinctly', () =>
      withAgent({ dockerCli: true, buildxPlugin: true }, async (agent) => {
        const run = await task(agent, { inputs: { startDaemon: 'never' } });
        assert.equal(run.result, 'Failed', explain(run));
        const message = run.resultMessage ?? '';
        assert.match(
          message,
          /^There is no Docker socket at \/var\/run\/docker\.sock and no Docker engine is installed here \(inside a container\)\./,
        );
        assert.match(message, /docker run -v \/var\/run\/docker\.sock:\/var\/run\/docker\.sock/);
        assert.match(message, /share its image store .* get root on the host/);

        const auto = await task(agent, {});
        assert.equal(auto.result, 'Failed', explain(auto));
        assert.match(auto.resultMessage ?? '', /startDaemon: auto cannot start it: this container is not privileged/);
      }));

    it("permission denied on the host's socket: the container user lacks the socket's group; --group-add fixes it", async () => {
      await withAgent({ dockerCli: true, buildxPlugin: true, dockerSocket: true }, async (agent) => {
        const run = await task(agent, { user: '1000:1000' });
        assert.equal(run.result, 'Failed', explain(run));
        const message = run.resultMessage ?? '';
        assert.match(
          message,
          /^Permission denied on the Docker socket \/var\/run\/docker\.sock \(owned by uid 0 and .*gid \d+.*, mode 660\) for .*\(uid 1000, groups 1000\)\./,
        );
        assert.match(message, new RegExp(`--group-add ${socketGid}`));
        assert.match(message, /equivalent to root/);
      });
      await withAgent({ dockerCli: true, buildxPlugin: true, dockerSocket: true, groupAdd: [socketGid] }, async (agent) => {
        const run = await task(agent, { user: '1000:1000' });
        assert.equal(run.result, 'Succeeded', explain(run));
        assert.equal(run.outputs.installed, '');
      });
    });

    it('an engine installed but stopped: diagnosed, started with startDaemon: auto, stopped by the post-job step', () =>
      withAgent(
        { image: agentImageTag('engine'), privileged: true, network: 'none', tmpfs: ['/var/lib/docker', '/var/lib/containerd'] },
        async (agent) => {
          const never = await task(agent, { inputs: { startDaemon: 'never' } });
          assert.equal(never.result, 'Failed', explain(never));
          assert.match(
            never.resultMessage ?? '',
            /^Docker Engine is installed \(\/usr\/sbin\/dockerd\) but not running: there is no socket at \/var\/run\/docker\.sock\./,
          );
          assert.match(never.resultMessage ?? '', /startDaemon is never/);

          const started = await task(agent, { inputs: { startDaemon: 'auto' } });
          assert.equal(started.result, 'Succeeded', explain(started));
          assert.equal(started.outputs.daemonStarted, 'true');
          assert.equal(started.outputs.installed, '');
          assert.match(started.outputs.serverVersion, /^26\./);
          const state = JSON.parse(started.taskVariables.ensureDockerState) as { daemon: { pid: number; how: string } };
          assert.equal(state.daemon.how, 'background');
          assert.ok(
            (await agent.exec(['docker', 'version', '--format', '{{.Server.Version}}'])).exitCode === 0,
            'the daemon answers the CLI after the step ended',
          );

          const post = await task(agent, {
            entry: 'post.js',
            inputs: { cleanup: 'prune', pruneKeepStorage: '1GB' },
            taskVariables: started.taskVariables,
          });
          assert.equal(post.result, 'Succeeded', explain(post));
          assert.equal(post.issues.length, 0, JSON.stringify(post.issues));
          assert.match(visible(post), /docker buildx prune --force --keep-storage 1073741824/);
          assert.match(visible(post), new RegExp(`Stopping dockerd \\(pid ${state.daemon.pid}\\) that this job started`));
          const after = await agent.exec(['docker', 'version']);
          assert.notEqual(after.exitCode, 0, 'the daemon is gone');
        },
      ));

    it('a daemon started before a later check failed is still stopped by the post-job step', () =>
      withAgent(
        { image: agentImageTag('engine'), privileged: true, network: 'none', tmpfs: ['/var/lib/docker', '/var/lib/containerd'] },
        async (agent) => {
          // riscv64 needs QEMU, which apt cannot fetch without a network: the step fails after dockerd started.
          const failed = await task(agent, { inputs: { startDaemon: 'auto', emulatePlatforms: 'linux/riscv64' } });
          assert.equal(failed.result, 'Failed', explain(failed));
          const state = JSON.parse(failed.taskVariables.ensureDockerState ?? '{}') as { daemon?: { pid: number } };
          assert.ok(state.daemon?.pid, `the started daemon was recorded: ${JSON.stringify(failed.taskVariables)}`);
          const post = await task(agent, { entry: 'post.js', taskVariables: failed.taskVariables });
          assert.equal(post.result, 'Succeeded', explain(post));
          assert.match(visible(post), new RegExp(`Stopping dockerd \\(pid ${state.daemon.pid}\\)`));
          assert.notEqual((await agent.exec(['docker', 'version'])).exitCode, 0, 'the daemon is gone');
        },
      ));
  });

  describe('installing buildx', () => {
    it('from the distribution: refused without root with the commands to run, installed as root (auto), nothing the second time', () =>
      withAgent({ dockerCli: true, dockerSocket: true, network: 'host', groupAdd: [socketGid] }, async (agent) => {
        const noRoot = await task(agent, { user: '1000:1000', inputs: { installSource: 'distribution' } });
        assert.equal(noRoot.result, 'Failed', explain(noRoot));
        assert.match(
          noRoot.resultMessage ?? '',
          /^Installing buildx needs root, but the agent runs as a user without passwordless sudo\. Run this once on the agent as root/,
        );
        assert.match(
          noRoot.resultMessage ?? '',
          /\n {2}DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update\n {2}DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker-buildx$/,
        );

        // auto reads the lists, finds docker-buildx in Debian 13 and takes the distribution
        const first = await task(agent, { inputs: { installSource: 'auto' } });
        assert.equal(first.result, 'Succeeded', explain(first));
        assert.equal(first.outputs.installed, 'buildx');
        assert.match(first.outputs.buildxVersion, /^0\.\d+\.\d+/);
        assert.match(visible(first), /Installing buildx from distribution \(the distribution has every package\)/);

        const second = await task(agent, { inputs: { installSource: 'distribution' } });
        assert.equal(second.result, 'Succeeded', explain(second));
        assert.equal(second.outputs.installed, '');
        assert.doesNotMatch(visible(second), /apt-get/);
      }));

    it('from static binaries served by the lab, verified against checksums.txt; a tampered binary is refused', () =>
      withAgent({ dockerCli: true, dockerSocket: true, network: 'host' }, async (agent) => {
        const tampered = await task(agent, { inputs: { ...staticInputs(), staticBuildxBaseUrl: releases.tamperedBuildxBaseUrl } });
        assert.equal(tampered.result, 'Failed', explain(tampered));
        const name = `buildx-v${releases.buildxVersion}.linux-amd64`;
        assert.match(
          tampered.resultMessage ?? '',
          new RegExp(
            `^Refused ${releases.tamperedBuildxBaseUrl.replace(/\./g, '\\.')}/v${releases.buildxVersion}/${name}: its sha256 is [0-9a-f]{64}, but .*checksums\\.txt says [0-9a-f]{64}\\. The download was deleted and nothing was installed\\.`,
          ),
        );
        assert.notEqual(
          (await agent.exec(['test', '-e', '/usr/local/lib/docker/cli-plugins/docker-buildx'])).exitCode,
          0,
          'no plugin was installed',
        );

        const genuine = await task(agent, { inputs: staticInputs() });
        assert.equal(genuine.result, 'Succeeded', explain(genuine));
        assert.equal(genuine.outputs.installed, 'buildx');
        assert.equal(genuine.outputs.buildxVersion.split('+')[0], releases.buildxVersion);
        assert.match(visible(genuine), /sha256 [0-9a-f]{64} matches https:\/\/releases\.lab\.test\/.*checksums\.txt/);
        assert.equal((await agent.exec(['test', '-x', '/usr/local/lib/docker/cli-plugins/docker-buildx'])).exitCode, 0);
      }));
  });

  it('as a user with passwordless sudo: installs buildx system-wide through sudo -n', () =>
    withAgent({ image: agentImageTag('engine'), dockerSocket: true, network: 'host', groupAdd: [socketGid] }, async (agent) => {
      assert.equal((await agent.exec(['rm', '/usr/libexec/docker/cli-plugins/docker-buildx'])).exitCode, 0);
      const run = await task(agent, { user: 'agent', inputs: staticInputs() });
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.equal(run.outputs.installed, 'buildx');
      assert.match(visible(run), /\$ sudo -n install -D -m 0755 \S+docker-buildx \/usr\/local\/lib\/docker\/cli-plugins\/docker-buildx/);
      const owner = await agent.exec(['stat', '-c', '%U', '/usr/local/lib/docker/cli-plugins/docker-buildx']);
      assert.equal(owner.stdout.trim(), 'root');
    }));

  it('two jobs that find buildx missing at once: one installs, the other waits and finds it installed', () =>
    withAgent({ dockerCli: true, dockerSocket: true, network: 'host' }, async (agent) => {
      const control = new LabControl();
      const mark = await control.auditMark();
      const [a, b] = await Promise.all([task(agent, { inputs: staticInputs() }), task(agent, { inputs: staticInputs() })]);
      for (const run of [a, b]) assert.equal(run.result, 'Succeeded', explain(run));
      assert.deepEqual([a.outputs.installed, b.outputs.installed].sort(), ['', 'buildx']);
      const waited = [a, b].find((r) => r.outputs.installed === '')!;
      assert.match(visible(waited), /Another job installed them meanwhile; nothing to do\./);
      const binaryGets = (await control.audit(mark)).filter((e) => e.host === 'releases.lab.test' && e.path.endsWith(`.linux-amd64`));
      assert.equal(binaryGets.length, 1, 'the binary was downloaded once');
    }));

  describe('installing docker and buildx from static binaries', () => {
    it('refuses a docker archive without a trusted checksum, and a tampered one', () =>
      withAgent({ dockerSocket: true, network: 'host' }, async (agent) => {
        const unpinned = await task(agent, { inputs: { ...staticInputs(), dockerVersion: releases.dockerVersion } });
        assert.equal(unpinned.result, 'Failed', explain(unpinned));
        assert.match(
          unpinned.resultMessage ?? '',
          new RegExp(`Docker publishes no checksum for .*docker-${releases.dockerVersion}\\.tgz, and staticChecksums has no line for it`),
        );

        const tampered = await task(agent, {
          inputs: {
            ...staticInputs(),
            dockerVersion: releases.dockerVersion,
            staticDockerBaseUrl: releases.tamperedDockerStaticBaseUrl,
            staticChecksums: releases.dockerChecksumLine,
          },
        });
        assert.equal(tampered.result, 'Failed', explain(tampered));
        assert.match(
          tampered.resultMessage ?? '',
          /^Refused https:\/\/releases\.lab\.test\/tampered\/.*docker-[\d.]+\.tgz: its sha256 is [0-9a-f]{64}, but the staticChecksums input says [0-9a-f]{64}/,
        );
        assert.deepEqual(
          readdirSync(path.join(agent.root, 'tools')).filter((d) => d === 'docker-static'),
          [],
          'nothing reached the tool cache',
        );
      }));

    it('installs both where neither is, and a second job on the agent takes docker from the tool cache', () =>
      withAgent({ dockerSocket: true, network: 'host' }, async (agent) => {
        const inputs = { ...staticInputs(), dockerVersion: releases.dockerVersion, staticChecksums: releases.dockerChecksumLine };
        const first = await task(agent, { inputs });
        assert.equal(first.result, 'Succeeded', explain(first));
        assert.equal(first.outputs.installed, 'docker-cli,buildx');
        assert.equal(first.outputs.dockerVersion.split('+')[0], releases.dockerVersion);
        assert.ok(
          first.commands.some((c) => c.command === 'task.prependpath' && /docker-static/.test(c.message)),
          'later steps get docker on PATH',
        );

        const control = new LabControl();
        const mark = await control.auditMark();
        const second = await task(agent, { inputs });
        assert.equal(second.result, 'Succeeded', explain(second));
        assert.match(visible(second), new RegExp(`docker ${releases.dockerVersion.replace(/\./g, '\\.')} found in the tool cache`));
        const downloads = (await control.audit(mark)).filter((e) => e.host === 'releases.lab.test');
        assert.deepEqual(downloads, [], 'the second job downloaded nothing');
      }));
  });

  describe('installing compose', () => {
    const composeInputs = () => ({
      ...staticInputs(),
      compose: 'install',
      composeVersion: compose.composeVersion,
      staticComposeBaseUrl: compose.composeBaseUrl,
    });

    it('from the static release verified against its .sha256; a tampered binary is refused; `docker compose` runs', () =>
      withAgent({ dockerCli: true, buildxPlugin: true, dockerSocket: true, network: 'host' }, async (agent) => {
        const report = await task(agent, { inputs: staticInputs() });
        assert.equal(report.result, 'Succeeded', explain(report));
        assert.equal(report.outputs.composeVersion, '', 'compose: report (the default) installs nothing');
        assert.match(visible(report), /^compose not found$/m);

        const tampered = await task(agent, { inputs: { ...composeInputs(), staticComposeBaseUrl: compose.tamperedComposeBaseUrl } });
        assert.equal(tampered.result, 'Failed', explain(tampered));
        assert.match(
          tampered.resultMessage ?? '',
          new RegExp(
            `^Refused ${compose.tamperedComposeBaseUrl.replace(/\./g, '\\.')}/v${compose.composeVersion}/docker-compose-linux-x86_64: its sha256 is [0-9a-f]{64}, but .*docker-compose-linux-x86_64\\.sha256 says [0-9a-f]{64}\\. The download was deleted and nothing was installed\\.`,
          ),
        );
        assert.notEqual((await agent.exec(['test', '-e', '/usr/local/lib/docker/cli-plugins/docker-compose'])).exitCode, 0);

        const genuine = await task(agent, { inputs: composeInputs() });
        assert.equal(genuine.result, 'Succeeded', explain(genuine));
        assert.equal(genuine.outputs.installed, 'compose');
        assert.equal(genuine.outputs.composeVersion.split('-')[0], compose.composeVersion, "the lab's binary is Debian's build: 2.26.1-4");
        assert.match(visible(genuine), /Installing compose from static \(as asked\)/);
        assert.match(visible(genuine), /sha256 [0-9a-f]{64} matches https:\/\/releases\.lab\.test\/.*docker-compose-linux-x86_64\.sha256/);
        const version = await agent.exec(['docker', 'compose', 'version']);
        assert.equal(version.exitCode, 0, version.stderr);
        assert.match(version.stdout, new RegExp(`Docker Compose version v?${compose.composeVersion.replace(/\./g, '\\.')}`));

        const again = await task(agent, { inputs: composeInputs() });
        assert.equal(again.outputs.installed, '');
        assert.equal(again.outputs.composeVersion, genuine.outputs.composeVersion);
      }));

    it("from Debian 13's docker-compose package (compose v2) with installSource auto", () =>
      withAgent({ dockerCli: true, buildxPlugin: true, dockerSocket: true, network: 'host' }, async (agent) => {
        const run = await task(agent, { inputs: { installSource: 'auto', compose: 'install' } });
        assert.equal(run.result, 'Succeeded', explain(run));
        assert.equal(run.outputs.installed, 'compose');
        assert.match(visible(run), /Installing compose from distribution \(the distribution has every package\)/);
        assert.match(visible(run), /apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker-compose/);
        assert.match(run.outputs.composeVersion, /^2\.\d+\.\d+/);
        const version = await agent.exec(['docker', 'compose', 'version']);
        assert.equal(version.exitCode, 0, version.stderr);
      }));
  });

  describe('emulation', () => {
    it('fails clearly where binfmt_misc cannot be mounted (unprivileged container), yet sees what the host kernel already emulates', () =>
      withAgent({ dockerCli: true, buildxPlugin: true, dockerSocket: true }, async (agent) => {
        const riscv = await task(agent, { inputs: { emulatePlatforms: 'linux/riscv64' } });
        assert.equal(riscv.result, 'Failed', explain(riscv));
        assert.match(
          riscv.resultMessage ?? '',
          /^QEMU emulation of linux\/riscv64 cannot be set up from this agent: \/proc\/sys\/fs\/binfmt_misc is not mounted here and mounting it failed \(.+\)\. This is what an unprivileged container looks like\./,
        );
        assert.match(riscv.resultMessage ?? '', /--privileged/);

        const arm = await task(agent, { inputs: { emulatePlatforms: 'linux/arm64' } });
        assert.equal(arm.result, 'Succeeded', explain(arm));
        assert.match(visible(arm), /linux\/arm64: ready/);
      }));
  });
  describe('an agent without apt: Azure Linux 3.0 on busybox', () => {
    const azureLinux = agentImageTag('azurelinux');
    const allStatic = () => ({
      ...staticInputs(),
      installSource: 'auto',
      dockerVersion: releases.dockerVersion,
      staticChecksums: releases.dockerChecksumLine,
      compose: 'install',
      composeVersion: compose.composeVersion,
      staticComposeBaseUrl: compose.composeBaseUrl,
    });
    /** The tool-cache directory the step put on PATH for later steps, and that PATH. */
    const laterPath = (run: TaskRun) => {
      const dir = run.commands.find((c) => c.command === 'task.prependpath' && /docker-static/.test(c.message))?.message;
      assert.ok(dir, `later steps get docker on PATH: ${JSON.stringify(run.commands.map((c) => c.command))}`);
      return `${dir}:/usr/local/bin:/usr/bin:/usr/sbin`;
    };

    it('the agent has no apt, dpkg, docker or tar but busybox’s', () =>
      withAgent({ image: azureLinux }, async (agent) => {
        // files on PATH, as the tasks look for commands (busybox's sh would name its dpkg applet without a link)
        const probe = await agent.exec([
          'sh',
          '-c',
          'for c in apt-get apt dpkg docker sudo; do for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin; do test -e $d/$c && echo $d/$c; done; done; readlink /usr/bin/tar; . /etc/os-release; echo $ID $VERSION_ID',
        ]);
        assert.equal(probe.stdout.trim(), '/usr/bin/busybox\nazurelinux 3.0', probe.stdout + probe.stderr);
      }));

    it('installSource auto takes the static source: docker, buildx and compose verified, then they work against the socket', () =>
      withAgent({ image: azureLinux, dockerSocket: true, network: 'host' }, async (agent) => {
        const control = new LabControl();
        const mark = await control.auditMark();
        const run = await task(agent, { inputs: allStatic() });
        assert.equal(run.result, 'Succeeded', explain(run));
        const out = visible(run);
        assert.match(out, /Installing docker-cli, buildx, compose from static \(this agent has no apt\)/);
        assert.equal(run.outputs.installed, 'docker-cli,buildx,compose');
        assert.doesNotMatch(out, /apt-get|dpkg/);
        // each download verified before it was unpacked or installed
        assert.match(out, /sha256 [0-9a-f]{64} matches the staticChecksums input/);
        assert.match(out, /sha256 [0-9a-f]{64} matches https:\/\/releases\.lab\.test\/.*checksums\.txt/);
        assert.match(out, /sha256 [0-9a-f]{64} matches https:\/\/releases\.lab\.test\/.*docker-compose-linux-x86_64\.sha256/);
        assert.equal(run.outputs.dockerVersion.split('+')[0], releases.dockerVersion);
        assert.equal(run.outputs.buildxVersion.split('+')[0], releases.buildxVersion);
        assert.equal(run.outputs.composeVersion.split('-')[0], compose.composeVersion);
        assert.match(run.outputs.serverVersion, /^26\./);
        const gets = (await control.audit(mark)).filter((e) => e.host === 'releases.lab.test').map((e) => e.path);
        assert.ok(
          gets.some((p) => p.endsWith(`/docker-${releases.dockerVersion}.tgz`)),
          gets.join(', '),
        );

        // the unpacked binaries keep their modes: what a later step runs from PATH
        const PATH = laterPath(run);
        const modes = await agent.exec(['sh', '-c', 'cd "${PATH%%:*}" && stat -c "%a %n" docker dockerd containerd runc'], {
          env: { PATH },
        });
        assert.equal(modes.stdout.trim(), '755 docker\n755 dockerd\n755 containerd\n755 runc', modes.stderr);
        const version = await agent.exec(['docker', 'version', '--format', '{{.Client.Version}} {{.Server.Version}}'], { env: { PATH } });
        assert.equal(version.exitCode, 0, version.stderr);
        assert.match(version.stdout.trim(), new RegExp(`^${releases.dockerVersion.replace(/\./g, '\\.')}\\S* 26\\.`));
        const composeVersion = await agent.exec(['docker', 'compose', 'version'], { env: { PATH } });
        assert.equal(composeVersion.exitCode, 0, composeVersion.stderr);

        // buildx builds through the socket: a context with the lab's busybox, the result kept in the cache only
        const context = path.join(agent.root, 'context');
        mkdirSync(context);
        copyFileSync(path.join(baseDir, 'amd64', 'busybox'), path.join(context, 'busybox'));
        writeFileSync(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "true"]\n');
        const build = await agent.exec(['docker', 'buildx', 'build', '--progress', 'plain', '--output', 'type=cacheonly', context], {
          env: { PATH },
        });
        assert.equal(build.exitCode, 0, build.stderr);
        assert.match(build.stderr, /RUN \["\/bin\/busybox", "true"\]/);

        // a later job on the agent (no PATH from this one): docker from the tool cache, the plugins where they are
        const mark2 = await control.auditMark();
        const again = await task(agent, { inputs: allStatic() });
        assert.equal(again.result, 'Succeeded', explain(again));
        assert.match(visible(again), new RegExp(`docker ${releases.dockerVersion.replace(/\./g, '\\.')} found in the tool cache`));
        assert.equal(again.outputs.installed, 'docker-cli', 'docker onto PATH again; buildx and compose are installed');
        assert.deepEqual(
          (await control.audit(mark2)).filter((e) => e.host === 'releases.lab.test'),
          [],
          'the later job downloaded nothing',
        );
      }));

    it('installSource distribution and dockerRepository fail at once: they need apt; use static', () =>
      withAgent({ image: azureLinux, dockerSocket: true, network: 'host', groupAdd: [socketGid] }, async (agent) => {
        const control = new LabControl();
        const mark = await control.auditMark();
        const cases: [string, string | undefined, RegExp][] = [
          ['distribution', undefined, /^installSource distribution needs apt, and this agent has none\. Use installSource static\./],
          ['distribution', '1000:1000', /^installSource distribution needs apt, and this agent has none\. Use installSource static\./],
          [
            'dockerRepository',
            undefined,
            /^installSource dockerRepository needs apt \(Debian or Ubuntu\), and this agent has none\. Use installSource static\./,
          ],
          [
            'dockerRepository',
            '1000:1000',
            /^installSource dockerRepository needs apt \(Debian or Ubuntu\), and this agent has none\. Use installSource static\./,
          ],
        ];
        for (const [installSource, user, expected] of cases) {
          const run = await task(agent, { user, inputs: { ...staticInputs(), installSource } });
          assert.equal(run.result, 'Failed', explain(run));
          assert.match(run.resultMessage ?? '', expected, `${installSource} as ${user ?? 'root'}: ${explain(run)}`);
          assert.doesNotMatch(visible(run), /\$ /, 'no command was run to install anything');
        }
        assert.deepEqual(
          (await control.audit(mark)).filter((e) => e.host === 'releases.lab.test'),
          [],
          'nothing was downloaded',
        );
        // The probes' version memo (src/docker/version-memo.ts) may be there; no tool is.
        assert.deepEqual(
          readdirSync(path.join(agent.root, 'tools')).filter((d) => d !== 'container-release'),
          [],
          'the tool cache is untouched',
        );
      }));

    describe('QEMU', () => {
      it('an emulator the kernel already has (the host registered qemu-aarch64) is used: linux/arm64 is ready', () =>
        withAgent({ image: azureLinux, dockerSocket: true, network: 'host' }, async (agent) => {
          const run = await task(agent, { inputs: { ...allStatic(), compose: 'report', emulatePlatforms: 'linux/arm64' } });
          assert.equal(run.result, 'Succeeded', explain(run));
          assert.match(visible(run), /linux\/arm64: ready/);
          assert.doesNotMatch(visible(run), /^\$ .*(apt-get|update-binfmts|mount)/m, 'nothing was installed, registered or mounted');
        }));

      it('a platform no emulator is registered for fails naming it: no apt to install QEMU, mount or not', async () => {
        await withAgent({ image: azureLinux, dockerSocket: true, network: 'host' }, async (agent) => {
          const run = await task(agent, { inputs: { ...allStatic(), compose: 'report', emulatePlatforms: 'linux/riscv64' } });
          assert.equal(run.result, 'Failed', explain(run));
          assert.match(
            run.resultMessage ?? '',
            /^QEMU emulation of linux\/riscv64 cannot be set up from this agent: \/proc\/sys\/fs\/binfmt_misc is not mounted here and mounting it failed/,
          );
        });
        // privileged: binfmt_misc is mounted (busybox's mount), the entry is not registered, and there is no apt
        await withAgent({ image: azureLinux, dockerSocket: true, network: 'host', privileged: true }, async (agent) => {
          const run = await task(agent, { inputs: { ...allStatic(), compose: 'report', emulatePlatforms: 'linux/riscv64' } });
          assert.equal(run.result, 'Failed', explain(run));
          assert.match(
            run.resultMessage ?? '',
            /^QEMU for linux\/riscv64 is not installed and this agent has no apt to install qemu-user-static; register it on the machine that runs the daemon/,
          );
          assert.match(visible(run), /^\$ mount -t binfmt_misc binfmt_misc \/proc\/sys\/fs\/binfmt_misc$/m);
          assert.doesNotMatch(visible(run), /^\$ .*(apt-get|update-binfmts)/m, 'nothing tried to install or register QEMU');
        });
      });
    });
  });
});
