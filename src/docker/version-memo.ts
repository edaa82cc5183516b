// The versions the tool probes read, remembered per agent in Agent.ToolsDirectory, keyed by the executable's identity
// (device, inode, size, modification and change times) on this host and architecture. An unchanged file prints the
// same version, so a job after the first need not run docker, buildx and compose just to read it: on an agent that has
// everything, those three runs were most of the task's time. Any change to the file (replaced, upgraded, chmod-ed)
// changes its ctime, so it is run again. Only a version a run printed is remembered, never a failure. The daemon's
// /version answer is kept the same way, under its socket file (engine-ping.ts).
import { type Stats, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

interface MemoEntry {
  /** The file's identity and the host it was run on, as one string. */
  identity: string;
  version: string;
}

type Memo = Record<string, MemoEntry>;

export interface VersionMemo {
  /** The version remembered for this file run with these arguments, when the file is unchanged. */
  recall(file: string, args: readonly string[]): string | undefined;
  remember(file: string, args: readonly string[], version: string): void;
}

const key = (file: string, args: readonly string[]) => [file, ...args].join('\0');

export function fileIdentity(stats: Pick<Stats, 'dev' | 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>, host: string): string {
  return [host, stats.dev, stats.ino, stats.size, stats.mtimeMs, stats.ctimeMs].join(':');
}

function identityOf(file: string): string | undefined {
  try {
    // A shared tools directory may serve agents of other hosts or architectures: their runs prove nothing here.
    return fileIdentity(statSync(file), `${os.hostname()}/${process.arch}`);
  } catch {
    return undefined;
  }
}

/** The memo file of an agent, or one that remembers nothing when the agent gives no tools directory. */
export function versionMemo(toolsDirectory: string | undefined): VersionMemo {
  if (!toolsDirectory) return { recall: () => undefined, remember: () => undefined };
  const file = path.join(toolsDirectory, 'container-release', 'tool-versions.json');
  let memo: Memo | undefined;
  const load = (): Memo => {
    if (memo) return memo;
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      memo = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Memo) : {};
    } catch {
      memo = {};
    }
    return memo;
  };
  return {
    recall(tool, args) {
      const entry = load()[key(tool, args)];
      if (!entry || typeof entry.version !== 'string') return undefined;
      return entry.identity === identityOf(tool) ? entry.version : undefined;
    },
    remember(tool, args, version) {
      const identity = identityOf(tool);
      if (!identity) return;
      // Read again just before writing: the other probes of this run write the same file.
      memo = undefined;
      const next = { ...load(), [key(tool, args)]: { identity, version } };
      memo = next;
      try {
        mkdirSync(path.dirname(file), { recursive: true });
        const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
        writeFileSync(temp, JSON.stringify(next));
        renameSync(temp, file); // atomic: a concurrent job reads the old memo or the new one, never half of one
      } catch {
        // A memo that cannot be written only costs the next job the runs this one made.
      }
    },
  };
}
