// A build as the Build REST API would show it to the Container release tab: the timeline of a job and its steps, and
// the containerRelease.v1 attachments the tasks wrote. The demo (examples/demo.ts) records one when DEMO_BUILD_RECORDS
// names a directory; the tab's browser test serves it from the lab's tab host (server.ts).
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TaskRun } from '../../helpers/task-runner';

/** TimelineRecordState and TaskResult as the REST API sends them with enumsAsNumbers. */
export const STATE = { pending: 0, inProgress: 1, completed: 2 } as const;
export const RESULT = { succeeded: 0, succeededWithIssues: 1, failed: 2 } as const;

export interface TimelineRecord {
  id: string;
  parentId: string | null;
  type: 'Stage' | 'Phase' | 'Job' | 'Task';
  name: string;
  order: number;
  startTime: string | null;
  finishTime: string | null;
  state: number;
  result: number | null;
  task?: { id: string; name: string };
}

export interface HostedAttachment {
  timelineId: string;
  recordId: string;
  type: string;
  name: string;
  body: Buffer;
}

export interface HostedBuild {
  id: number;
  project: string;
  timelineId: string;
  timeline: TimelineRecord[];
  attachments: HostedAttachment[];
}

const taskResult = (run: TaskRun): number =>
  run.result === 'Failed' ? RESULT.failed : run.result === 'SucceededWithIssues' ? RESULT.succeededWithIssues : RESULT.succeeded;

/** Records a job's steps as the agent's timeline does, with the attachments each step wrote. */
export class BuildRecorder {
  readonly timelineId = randomUUID();
  private readonly job: TimelineRecord;
  private readonly steps: { record: TimelineRecord; attachments: TaskRun['attachments'] }[] = [];

  constructor(
    readonly buildId: number,
    jobName: string,
  ) {
    this.job = {
      id: randomUUID(),
      parentId: null,
      type: 'Job',
      name: jobName,
      order: 1,
      startTime: new Date().toISOString(),
      finishTime: null,
      state: STATE.inProgress,
      result: null,
    };
  }

  /** One step that ran: its name, task id, times and result, and the attachments it wrote. */
  step(name: string, task: { id: string; name: string }, run: TaskRun, started: Date): void {
    this.steps.push({
      record: {
        id: randomUUID(),
        parentId: this.job.id,
        type: 'Task',
        name,
        order: this.steps.length + 1,
        startTime: started.toISOString(),
        finishTime: new Date(started.getTime() + run.durationMs).toISOString(),
        state: STATE.completed,
        result: taskResult(run),
        task,
      },
      attachments: run.attachments,
    });
  }

  /** Writes build.json and a copy of each attachment (the agent's temp directory is emptied after the job). */
  save(dir: string): void {
    mkdirSync(dir, { recursive: true });
    const failed = this.steps.some((s) => s.record.result === RESULT.failed);
    const job = {
      ...this.job,
      finishTime: new Date().toISOString(),
      state: STATE.completed,
      result: failed ? RESULT.failed : RESULT.succeeded,
    };
    const attachments = this.steps.flatMap(({ record, attachments: files }) =>
      files.map((a) => {
        const file = `${record.order}-${a.name}`;
        copyFileSync(a.path, path.join(dir, file));
        return { recordId: record.id, type: a.type, name: a.name, file };
      }),
    );
    const build = { buildId: this.buildId, timelineId: this.timelineId, timeline: [job, ...this.steps.map((s) => s.record)], attachments };
    writeFileSync(path.join(dir, 'build.json'), JSON.stringify(build, null, 2));
  }
}

/** A build saved by BuildRecorder, with only the attachments of the given type (all when none is given). */
export function readSavedBuild(dir: string, project: string, type?: string): HostedBuild {
  const saved = JSON.parse(readFileSync(path.join(dir, 'build.json'), 'utf8')) as {
    buildId: number;
    timelineId: string;
    timeline: TimelineRecord[];
    attachments: { recordId: string; type: string; name: string; file: string }[];
  };
  return {
    id: saved.buildId,
    project,
    timelineId: saved.timelineId,
    timeline: saved.timeline,
    attachments: saved.attachments
      .filter((a) => !type || a.type === type)
      .map((a) => ({
        timelineId: saved.timelineId,
        recordId: a.recordId,
        type: a.type,
        name: a.name,
        body: readFileSync(path.join(dir, a.file)),
      })),
  };
}
