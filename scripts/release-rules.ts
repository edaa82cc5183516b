// The versioning rule of the package, as pure functions: the agent caches a task by its version, so a task whose
// shipped files changed must carry a new version, and a package that carries a new task version must itself be a
// new extension version.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

export interface TaskVersion {
  Major: number;
  Minor: number;
  Patch: number;
}

export interface PackagedState {
  extensionVersion: string;
  tasks: Record<string, { version: string; contentHash: string }>;
}

export const formatVersion = (v: TaskVersion): string => `${v.Major}.${v.Minor}.${v.Patch}`;

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** A hash of everything a task ships, its own version number left out so that a bump alone does not count as a change. */
export function taskContentHash(taskDir: string): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(taskDir).sort()) {
    const file = path.join(taskDir, name);
    if (!statSync(file).isFile()) continue;
    let content: Buffer | string = readFileSync(file);
    if (name === 'task.json') {
      const json = JSON.parse(content.toString('utf8')) as { version?: unknown };
      delete json.version;
      content = JSON.stringify(json);
    }
    hash.update(name).update('\0').update(content).update('\0');
  }
  return hash.digest('hex');
}

/** Every reason this package may not be published, given what was packaged last time. */
export function versionProblems(previous: PackagedState | undefined, current: PackagedState): string[] {
  if (!previous) return [];
  const problems: string[] = [];
  let anyTaskChanged = false;
  for (const [task, now] of Object.entries(current.tasks)) {
    const before = previous.tasks[task];
    if (!before) {
      anyTaskChanged = true;
      continue;
    }
    const order = compareVersions(now.version, before.version);
    if (order < 0) problems.push(`${task}: version ${now.version} is lower than the ${before.version} packaged before.`);
    if (order !== 0 || now.contentHash !== before.contentHash) anyTaskChanged = true;
    if (order === 0 && now.contentHash !== before.contentHash) {
      problems.push(
        `${task} changed since it was packaged as ${before.version}, but its version did not move: ` +
          `raise "Patch" (or Minor) in tasks/${task}/task.json, or agents that cached ${before.version} keep running the old code.`,
      );
    }
  }
  const extensionOrder = compareVersions(current.extensionVersion, previous.extensionVersion);
  if (extensionOrder < 0) problems.push(`The extension version ${current.extensionVersion} is lower than ${previous.extensionVersion}.`);
  if (anyTaskChanged && extensionOrder === 0) {
    problems.push(`Tasks changed but the extension version is still ${current.extensionVersion}: raise "version" in package.json.`);
  }
  return problems;
}
