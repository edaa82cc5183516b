// Following one ACR run to its end: polled through Resource Manager, its log streamed into the pipeline log as it
// grows (the log blob read by range from where the last read stopped), cancelled in ACR when it waits for an agent
// longer than allowed or when the pipeline is cancelled, and a failure reported with the last lines of its log.
import type { HttpClient } from '../http/client';
import type { Logger } from '../log';
import type { AcrTasksClient, Run, RunStatus } from './arm';
import { readBlobFrom } from './blob';

const TERMINAL: ReadonlySet<RunStatus> = new Set(['Succeeded', 'Failed', 'Canceled', 'Error', 'Timeout']);
/** Lines of a failed run's log the error message carries. */
export const LOG_TAIL_LINES = 20;

export interface FollowOptions {
  arm: AcrTasksClient;
  registryId: string;
  runId: string;
  /** Put before each log line when several runs stream at once, e.g. `[linux/arm64] `. */
  prefix?: string;
  logger: Logger;
  http?: HttpClient;
  /** How long the run may wait for an agent (status Queued) before it is cancelled. */
  queueTimeoutMs: number;
  /** The input that sets queueTimeoutMs, named in the error. */
  queueTimeoutInput: string;
  pollMs?: number;
  /** Aborted when the pipeline is cancelled: the run is cancelled in ACR, then the follow throws. */
  signal?: AbortSignal;
  now?: () => number;
}

/** A run that ended other than Succeeded, or was cancelled by us. */
export class RunError extends Error {
  constructor(
    message: string,
    readonly run: Run | undefined,
    readonly logTail: string[],
    readonly reason: 'failed' | 'queueTimeout' | 'cancelled',
  ) {
    super(message);
    this.name = 'RunError';
  }
}

export async function followRun(options: FollowOptions): Promise<Run> {
  const { arm, registryId, runId, logger, signal } = options;
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 2000;
  const prefix = options.prefix ?? '';
  const started = now();
  const tail: string[] = [];
  let logUrl: string | undefined;
  let offset = 0;
  let partial = '';

  const emit = (line: string) => {
    logger.info(`${prefix}${line}`);
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
  };
  const readLog = async (final: boolean) => {
    if (!logUrl) {
      try {
        logUrl = await arm.listLogSasUrl(registryId, runId);
      } catch (error) {
        logger.debug(`run ${runId}: no log link yet (${(error as Error).message})`);
        return;
      }
    }
    const chunk = await readBlobFrom(logUrl, offset, options.http).catch((error: Error) => {
      logger.debug(`run ${runId}: log read failed (${error.message}); trying again at the next poll`);
      return Buffer.alloc(0);
    });
    offset += chunk.length;
    const lines = (partial + chunk.toString('utf8')).split(/\r?\n/);
    partial = lines.pop() ?? '';
    for (const line of lines) emit(line);
    if (final && partial) {
      emit(partial);
      partial = '';
    }
  };
  const cancel = async (why: string) => {
    logger.warn(`${why}: cancelling ACR run ${runId}.`);
    await arm.cancelRun(registryId, runId).catch((error: Error) => logger.warn(`Cancelling run ${runId} failed: ${error.message}`));
  };

  for (;;) {
    if (signal?.aborted) {
      const why = typeof signal.reason === 'string' ? signal.reason : 'The pipeline was cancelled';
      await cancel(why);
      throw new RunError(`${why}; ACR run ${runId} was cancelled too.`, undefined, tail, 'cancelled');
    }
    const run = await arm.getRun(registryId, runId);
    if (run.status !== 'Queued') await readLog(false);
    if (TERMINAL.has(run.status)) {
      await readLog(true);
      if (run.status === 'Succeeded') return run;
      const said = run.runErrorMessage ? `: ${run.runErrorMessage}` : '';
      const lastLines = tail.length ? `\nLast lines of its log:\n${tail.join('\n')}` : '';
      throw new RunError(`ACR run ${runId} ended ${run.status}${said}.${lastLines}`, run, tail, 'failed');
    }
    if (run.status === 'Queued' && now() - started > options.queueTimeoutMs) {
      await cancel(`Run ${runId} waited for an agent longer than ${Math.round(options.queueTimeoutMs / 1000)} s`);
      throw new RunError(
        `ACR run ${runId} was still waiting for an agent (Queued) after ${Math.round(options.queueTimeoutMs / 1000)} s, so it was cancelled. ` +
          `ACR Tasks may be busy in this region; try again later, raise the input '${options.queueTimeoutInput}', or use engine: buildx.`,
        run,
        tail,
        'queueTimeout',
      );
    }
    await pause(pollMs, signal);
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
