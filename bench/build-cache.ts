// Cold vs warm BuildForPlatform builds with `cache: registry`, on a Dockerfile with a slow RUN step. Each repetition
// builds a fresh context (a nonce busts every cache) into a fresh repository: cold = no local and no registry cache;
// then the private engine's build cache is pruned and the same context is built again: warm = only the registry cache
// (<registry>/<repository>:buildcache) can help. The task runs bundled, as the agent runs it, against the lab
// (fabrikam.azurecr.io through Entra ID, a private dockerd so pruning touches nobody else's cache).
// Target: warm build at most a quarter of cold.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { labConnection } from '../test/integration/signin-lab';
import { startPrivateDaemon } from '../test/integration/build-for-platform-daemon';
import { runTask, repoRoot, type TaskRun } from '../test/helpers/task-runner';
import { makeBuildContext } from '../test/lab/base';
import { labNodeEnv, readLab } from '../test/lab/lab';
import { report, summarise, type Row, type Summary } from './stats';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SLOW_SECONDS = Number(process.env.BENCH_SLOW_SECONDS ?? 10);
const registry = 'fabrikam.azurecr.io';

const dockerfile = (slow: number) =>
  [
    'FROM scratch',
    'ARG TARGETARCH',
    'COPY ${TARGETARCH}/busybox /bin/busybox',
    'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
    'COPY nonce.txt /nonce.txt',
    `RUN sleep ${slow} && echo "slow step done on $(uname -m)" > /slow.txt`,
    'CMD ["cat", "/slow.txt"]',
    '',
  ].join('\n');

/** "Built in 12.3 s; 2 of 4 steps from the cache." as the task logs it. */
function buildFigures(run: TaskRun): { buildMs: number; cached: number; steps: number } {
  const match = /Built in ([\d.]+) s; (\d+) of (\d+) steps from the cache\./.exec(run.log);
  if (run.result !== 'Succeeded' || !match) throw new Error(`the build did not succeed: ${run.resultMessage}\n${run.log.slice(-3000)}`);
  return { buildMs: Number(match[1]) * 1000, cached: Number(match[2]), steps: Number(match[3]) };
}

const seconds = (s: Summary) =>
  `${(s.median / 1000).toFixed(1)} s ±${(s.iqrHalf / 1000).toFixed(1)} (n=${s.runs}, ${(s.min / 1000).toFixed(1)}–${(s.max / 1000).toFixed(1)})`;

async function main(): Promise<void> {
  const lab = readLab();
  const connection = labConnection(lab, 'builder', 'ServicePrincipal', 'spnKey');
  const daemon = await startPrivateDaemon({ containerdImageStore: true });
  const samples = {
    coldBuild: [] as number[],
    warmBuild: [] as number[],
    coldTask: [] as number[],
    warmTask: [] as number[],
    warmCached: [] as string[],
  };
  try {
    for (let i = 0; i < RUNS; i++) {
      const context = makeBuildContext({
        lab,
        dockerfile: dockerfile(SLOW_SECONDS),
        files: { 'nonce.txt': randomBytes(16).toString('hex') },
      });
      const repository = `bench/build-cache-${randomBytes(4).toString('hex')}`;
      const build = (tag: string) =>
        runTask({
          task: 'BuildForPlatform',
          cwd: context.dir,
          inputs: { azureSubscription: connection.id, registry, repository, tags: tag, cache: 'registry', arguments: '--network none' },
          endpoints: {
            [connection.id]: {
              url: connection.url,
              scheme: connection.scheme,
              parameters: connection.parameters,
              data: connection.dataParameters,
            },
          },
          env: { ...labNodeEnv(lab), DOCKER_HOST: daemon.host },
        });
      try {
        daemon.pruneBuildCache();
        const cold = await build('cold');
        const coldFigures = buildFigures(cold);
        daemon.pruneBuildCache();
        const warm = await build('warm');
        const warmFigures = buildFigures(warm);
        samples.coldBuild.push(coldFigures.buildMs);
        samples.warmBuild.push(warmFigures.buildMs);
        samples.coldTask.push(cold.durationMs);
        samples.warmTask.push(warm.durationMs);
        samples.warmCached.push(`${warmFigures.cached}/${warmFigures.steps}`);
        console.log(
          `run ${i + 1}: cold build ${coldFigures.buildMs} ms (${coldFigures.cached}/${coldFigures.steps} cached), warm build ${warmFigures.buildMs} ms (${warmFigures.cached}/${warmFigures.steps} cached)`,
        );
      } finally {
        context.remove();
      }
    }
  } finally {
    await daemon.stop();
  }
  const coldBuild = summarise(samples.coldBuild);
  const warmBuild = summarise(samples.warmBuild);
  const ratio = warmBuild.median / coldBuild.median;
  const rows: Row[] = [
    { name: 'cold build', value: seconds(coldBuild), detail: `RUN sleep ${SLOW_SECONDS}, no cache anywhere` },
    {
      name: 'warm build',
      value: seconds(warmBuild),
      detail: `local cache pruned, registry cache only; steps cached: ${samples.warmCached.join(', ')}`,
    },
    { name: 'warm / cold', value: ratio.toFixed(2), detail: `target <= 0.25: ${ratio <= 0.25 ? 'met' : 'NOT met'}` },
    { name: 'cold task', value: seconds(summarise(samples.coldTask)), detail: 'whole step: sign-in, build, push, verification' },
    { name: 'warm task', value: seconds(summarise(samples.warmTask)) },
  ];
  report('build-cache', rows, {
    registry,
    slowSeconds: SLOW_SECONDS,
    samples,
    coldBuild,
    warmBuild,
    ratio,
    node: process.version,
    taskBundle: path.relative(repoRoot, path.join(repoRoot, 'dist', 'tasks', 'BuildForPlatform', 'index.js')),
    dockerfile: dockerfile(SLOW_SECONDS),
    docker: lab.docker,
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
