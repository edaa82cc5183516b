// EnsureDocker on an agent that already has everything: the bundled task (node dist/tasks/EnsureDocker/index.js,
// started with the agent's environment) against its floor measured in the same run, interleaved:
//   floor = `node -e ''` + `docker version` + `docker buildx version`, one after the other
// (what any step that checks docker pays at least), and against the seed's unconditional
//   apt-get update && apt-get install -y docker.io docker-cli docker-buildx containerd
// (the seed pipeline's install step with Debian's packages, in an agent container that has them: Docker's own
// repository is not reachable here, and a benchmark never installs on this host).
// Targets: task <= 0.5x floor (issue 13), and >= 30x faster than the seed (issue 4). The task is measured as on any
// job after an agent's first (the tool versions remembered in Agent.ToolsDirectory, src/docker/version-memo.ts), and
// the first job, with nothing remembered, is printed beside it.
//
//   npx tsx bench/ensure-docker.ts             # table + .bench/ensure-docker.json
//   npx tsx bench/ensure-docker.ts --no-seed   # skip the apt part (it needs Debian's archive and takes a while)
//
// Other people's tests share the two cores; the load average at the start and end is recorded with the figures.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ENSURE_DOCKER_BUDGET } from './budgets';
import { agentEnvironment, distTasks, repoRoot } from '../test/helpers/task-runner';
import { agentImageTag } from '../test/lab/agent-image';
import { fmtMs, report, summarise } from './stats';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const SEED_RUNS = Number(process.env.BENCH_SEED_RUNS ?? 3);

function timed(file: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const started = performance.now();
  const result = spawnSync(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const elapsed = performance.now() - started;
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.status}: ${result.stderr?.slice(-300)}`);
  return elapsed;
}

function floorOnce(): number {
  return timed(process.execPath, ['-e', '']) + timed('docker', ['version']) + timed('docker', ['buildx', 'version']);
}

function taskOnce(entry: string, env: NodeJS.ProcessEnv): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, [entry], { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const elapsed = performance.now() - started;
  if (!/##vso\[task\.complete result=Succeeded;\]/.test(result.stdout) || !/nothing was installed/.test(result.stdout)) {
    throw new Error(`the task did not take the everything-present path:\n${result.stdout.slice(-1500)}\n${result.stderr}`);
  }
  return elapsed;
}

/**
 * The seed's step, never on this host (it would install or move the host's packages): in the lab's engine agent
 * image, which has Debian's docker.io, docker-cli, docker-buildx and containerd installed, with its package lists
 * emptied like a fresh agent's. The container's own start (about 0.3 s) is counted too.
 */
function seedOnce(image: string): number {
  const apt = 'apt-get -o DPkg::Lock::Timeout=300';
  const script = `${apt} update && DEBIAN_FRONTEND=noninteractive ${apt} install -y docker.io docker-cli docker-buildx containerd`;
  return timed('docker', ['run', '--rm', '--network', 'host', image, 'sh', '-c', script]);
}

function main(): void {
  const entry = path.join(distTasks, 'EnsureDocker', 'index.js');
  if (!existsSync(entry))
    spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', 'EnsureDocker', '--no-typecheck'], {
      stdio: 'inherit',
    });
  const temp = mkdtempSync(path.join(os.tmpdir(), 'bench-ensure-docker-'));
  const env = agentEnvironment(
    { task: 'EnsureDocker', inputs: { startDaemon: 'never' }, variables: { 'Agent.ToolsDirectory': path.join(temp, 'tools') } },
    temp,
  );
  const loadBefore = os.loadavg();

  // Warm the page cache for both sides, then interleave (alternating which goes first) so that load from other
  // processes falls on both alike.
  floorOnce();
  taskOnce(entry, env);
  const floor: number[] = [];
  const task: number[] = [];
  const firstJob: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (i % 2 === 0) {
      floor.push(floorOnce());
      task.push(taskOnce(entry, env));
    } else {
      task.push(taskOnce(entry, env));
      floor.push(floorOnce());
    }
    // The first job on an agent: no versions remembered yet in its tools directory, so docker, buildx and compose run.
    firstJob.push(taskOnce(entry, { ...env, AGENT_TOOLSDIRECTORY: mkdtempSync(path.join(temp, 'first-job-tools-')) }));
  }
  const seed: number[] = [];
  const seedImage = agentImageTag('engine');
  const seedPossible = spawnSync('docker', ['image', 'inspect', seedImage], { stdio: 'ignore' }).status === 0;
  if (!seedPossible) console.log(`seed not measured: ${seedImage} is not built yet (the integration tests build it)`);
  if (seedPossible && !process.argv.includes('--no-seed')) for (let i = 0; i < SEED_RUNS; i++) seed.push(seedOnce(seedImage));
  rmSync(temp, { recursive: true, force: true });

  const f = summarise(floor);
  const t = summarise(task);
  const first = summarise(firstJob);
  const ratio = t.median / f.median;
  const rows = [
    { name: "floor: node -e '' + docker version + docker buildx version", value: fmtMs(f) },
    { name: 'EnsureDocker, everything present (tool versions remembered by an earlier job)', value: fmtMs(t) },
    {
      name: 'task / floor (medians)',
      value: `${ratio.toFixed(2)}x`,
      detail: `target <= ${ENSURE_DOCKER_BUDGET}x: ${ratio <= ENSURE_DOCKER_BUDGET ? 'met' : 'NOT met'}`,
    },
    {
      name: "EnsureDocker, everything present, the agent's first job (tools run)",
      value: fmtMs(first),
      detail: `${(first.median / f.median).toFixed(2)}x the floor`,
    },
  ];
  const data: Record<string, unknown> = {
    floor: f,
    task: t,
    ratio,
    firstJob: first,
    samples: { floor, task, firstJob },
    loadAverage: { before: loadBefore, after: os.loadavg() },
    cpus: os.cpus().length,
  };
  if (seed.length) {
    const s = summarise(seed);
    const speedup = s.median / t.median;
    rows.push(
      { name: 'seed: apt-get update && apt-get install (already installed, in an agent container)', value: fmtMs(s) },
      {
        name: 'seed / task (medians)',
        value: `${speedup.toFixed(0)}x faster`,
        detail: `target >= 30x: ${speedup >= 30 ? 'met' : 'NOT met'}`,
      },
    );
    Object.assign(data, { seed: s, speedup, seedSamples: seed });
  }
  rows.push({
    name: 'load average (1 min) before / after',
    value: `${loadBefore[0].toFixed(2)} / ${os.loadavg()[0].toFixed(2)}`,
    detail: `${os.cpus().length} cores shared with other work`,
  });
  report('ensure-docker', rows, data);
}

main();
