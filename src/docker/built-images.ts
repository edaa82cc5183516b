// Which images "this job built": the contract between BuildForPlatform (which records them) and EnsureDocker's
// post-job cleanup (which removes them), so that a host whose daemon is shared by every job (the mounted socket)
// does not fill up with images.
//
// The contract:
//   1. Every image BuildForPlatform builds carries the label  com.azure.pipelines.jobid=<System.JobId>
//      (`--label com.azure.pipelines.jobid=$(System.JobId)` on `docker buildx build`; see buildLabelArgs()).
//      System.JobId is unique per job run, so the label also makes the image's configuration (and so its ID)
//      unique to the job: another job's identical build is a different image and is never removed by this one.
//   2. A step that leaves an image in the local store without that label (e.g. a `docker tag` of a built image,
//      or a script's own `docker build`) may append its reference, one per line, to
//      $(Agent.TempDirectory)/container-release-built-images.txt (recordBuiltImage()).
//   The post-job step removes every local image with this job's label (all its tags), then untags each recorded
//   reference (an image is deleted when its last tag goes). Base images pulled by a build carry no such label and
//   are left alone. Agent.TempDirectory is per job, so the record never mixes jobs.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export const BUILT_BY_JOB_LABEL = 'com.azure.pipelines.jobid';
export const BUILT_IMAGES_FILE = 'container-release-built-images.txt';

export function builtImagesFile(agentTempDirectory: string): string {
  return path.join(agentTempDirectory, BUILT_IMAGES_FILE);
}

/** The build arguments that mark an image as built by a job. */
export function buildLabelArgs(jobId: string): string[] {
  return ['--label', `${BUILT_BY_JOB_LABEL}=${jobId}`];
}

/** Records an image reference (name:tag, name@digest or image ID) for the post-job cleanup. */
export function recordBuiltImage(agentTempDirectory: string, reference: string): void {
  const ref = reference.trim();
  if (!ref || /\s/.test(ref)) throw new Error(`'${reference}' is not an image reference`);
  appendFileSync(builtImagesFile(agentTempDirectory), `${ref}\n`);
}

export function readBuiltImageRecords(agentTempDirectory: string): string[] {
  const file = builtImagesFile(agentTempDirectory);
  if (!existsSync(file)) return [];
  return [
    ...new Set(
      readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#')),
    ),
  ];
}
