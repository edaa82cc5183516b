// Reads the build's timeline and its containerRelease.v1 attachments through the Build REST client. Azure DevOps Server
// can answer 404 for an attachment type it does not know: that means "no records", not an error.
import type { BuildRestClient } from 'azure-devops-extension-api/Build';
import { RECORD_TYPE } from '../src/release-record/record';
import { attachmentIds, parseRecord, type LoadedRecord, type TimelineEntry } from './model';

export interface Loaded {
  timeline: TimelineEntry[];
  records: LoadedRecord[];
  /** Records that could not be read, in words (shown, never thrown). */
  problems: string[];
}

const status = (error: unknown): number | undefined => (error as { status?: number } | undefined)?.status;

export async function loadRecords(client: BuildRestClient, project: string, buildId: number): Promise<Loaded> {
  const [timeline, attachments] = await Promise.all([
    client.getBuildTimeline(project, buildId).catch((error: unknown) => {
      if (status(error) === 404) return undefined;
      throw error;
    }),
    client.getAttachments(project, buildId, RECORD_TYPE).catch((error: unknown) => {
      if (status(error) === 404) return [];
      throw error;
    }),
  ]);
  const problems: string[] = [];
  const records = await Promise.all(
    (attachments ?? []).map(async (attachment): Promise<LoadedRecord | undefined> => {
      const ids = attachmentIds(attachment._links?.self?.href ?? '');
      if (!ids) {
        problems.push(`${attachment.name}: no timeline record in its link`);
        return undefined;
      }
      try {
        const body = await client.getAttachment(project, buildId, ids.timelineId, ids.recordId, RECORD_TYPE, attachment.name);
        const record = parseRecord(new TextDecoder().decode(body));
        if (!record) problems.push(`${attachment.name}: not a ${RECORD_TYPE} record`);
        return record ? { ...ids, name: attachment.name, record } : undefined;
      } catch (error) {
        if (status(error) === 404) return undefined;
        problems.push(`${attachment.name}: ${(error as Error).message}`);
        return undefined;
      }
    }),
  );
  return { timeline: (timeline?.records ?? []) as TimelineEntry[], records: records.filter((r): r is LoadedRecord => !!r), problems };
}
