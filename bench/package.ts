// The .vsix size and each task's cold start (process start to its first log line) beside bare `node -e ''`,
// under the agent's Node 20 and Node 24. Budgets (issue 13): each task's first log line <= bare node + 50 ms on
// both, the .vsix <= 1024 KiB.
import { spawn } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { currentVsix, node24, unpack } from '../test/helpers/vsix';
import { STARTUP_BUDGET_MS, VSIX_BUDGET_KIB } from './budgets';
import { fmtMs, measure, report, type Row } from './stats';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);

/** Milliseconds from spawn to the first byte on stdout (or to exit, for a program that prints nothing). */
function firstOutput(node: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(node, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve(Number(process.hrtime.bigint() - started) / 1e6);
    };
    // Only the start is measured: the task is stopped at its first line, before it acts on anything.
    child.stdout.once('data', () => {
      finish();
      child.kill('SIGKILL');
    });
    child.on('exit', finish);
    child.on('error', reject);
  });
}

async function main() {
  const vsix = currentVsix();
  const root = unpack(vsix);
  const temp = mkdtempSync(path.join(os.tmpdir(), 'bench-agent-'));
  // No inputs but two safety ones: a task that found no daemon must not start one (EnsureDocker's startDaemon
  // defaults to auto) and leave it running after the measurement.
  const env = {
    PATH: process.env.PATH,
    AGENT_TEMPDIRECTORY: temp,
    AGENT_TOOLSDIRECTORY: temp,
    HOME: temp,
    INPUT_STARTDAEMON: 'never',
    INPUT_CLEANUP: 'none',
  };
  const kib = statSync(vsix).size / 1024;
  const rows: Row[] = [
    {
      name: 'vsix size',
      value: `${kib.toFixed(0)} KiB`,
      detail: `target <= ${VSIX_BUDGET_KIB} KiB: ${kib <= VSIX_BUDGET_KIB ? 'met' : 'NOT met'}`,
    },
  ];
  const data: Record<string, unknown> = { vsixBytes: statSync(vsix).size };
  for (const [label, node] of [
    ['node20', process.execPath],
    ['node24', node24()],
  ] as const) {
    const bare = await measure(RUNS, () => firstOutput(node, ['-e', ''], env));
    rows.push({ name: `${label} bare node -e ''`, value: fmtMs(bare) });
    data[`${label}.bare`] = bare;
    for (const task of ['EnsureDocker', 'BuildForPlatform', 'ScanAndRelease']) {
      const entry = path.join(root, 'tasks', task, 'index.js');
      try {
        statSync(entry);
      } catch {
        continue;
      }
      const cold = await measure(RUNS, () => firstOutput(node, [entry], env));
      const over = cold.median - bare.median;
      rows.push({
        name: `${label} ${task} first log line`,
        value: fmtMs(cold),
        detail: `${over >= 0 ? '+' : ''}${over.toFixed(0)} ms over bare node, target <= +${STARTUP_BUDGET_MS} ms: ${over <= STARTUP_BUDGET_MS ? 'met' : 'NOT met'}`,
      });
      data[`${label}.${task}`] = cold;
    }
  }
  report('package', rows, data);
}

void main();
