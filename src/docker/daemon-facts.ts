// The facts diagnoseDaemon classifies, gathered from this machine: what is at the socket path, who the agent
// runs as, whether an engine is installed, whether this is a container, and the names of groups.
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { DaemonFacts, SocketFacts } from './diagnose';
import type { DockerEndpoint } from './endpoint';
import { type DaemonFailure, findOnPath, isExecutableFile } from './probe';

export function socketFacts(socketPath: string): SocketFacts {
  try {
    const s = statSync(socketPath);
    return { exists: true, isSocket: s.isSocket(), isDirectory: s.isDirectory(), uid: s.uid, gid: s.gid, mode: s.mode };
  } catch (error) {
    // EACCES on a parent directory still means "something may be there"; only ENOENT means nothing is.
    return { exists: (error as NodeJS.ErrnoException).code !== 'ENOENT' };
  }
}

export function parseGroupFile(text: string): Record<number, string> {
  const groups: Record<number, string> = {};
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name && gid !== undefined && /^\d+$/.test(gid)) groups[Number(gid)] = name;
  }
  return groups;
}

/** Heuristics the container runtimes leave behind: docker's /.dockerenv, podman's /run/.containerenv, cgroup names. */
export function runsInContainer(): boolean {
  if (existsSync('/.dockerenv') || existsSync('/run/.containerenv')) return true;
  try {
    return /\/(docker|kubepods|containerd|libpod|lxc)[/-]/.test(readFileSync('/proc/1/cgroup', 'utf8'));
  } catch {
    return false;
  }
}

/** The places an engine lives: PATH (incl. a tool-cache install), and the sbin directories a user's PATH may lack. */
export function findEngine(pathValue: string | undefined): string | undefined {
  const extra = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin'].join(path.delimiter);
  return findOnPath('dockerd', `${pathValue ?? ''}${path.delimiter}${extra}`, isExecutableFile);
}

export function currentUser(): DaemonFacts['user'] {
  const uid = process.getuid?.() ?? -1;
  let name: string | undefined;
  try {
    name = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(uid))
      ?.split(':')[0];
  } catch {
    name = undefined;
  }
  return { uid, gid: process.getgid?.() ?? -1, groups: process.getgroups?.() ?? [], name: name ?? process.env.USER };
}

export function gatherDaemonFacts(endpoint: DockerEndpoint, failure: DaemonFailure, env: NodeJS.ProcessEnv = process.env): DaemonFacts {
  let groupNames: Record<number, string> = {};
  try {
    groupNames = parseGroupFile(readFileSync('/etc/group', 'utf8'));
  } catch {
    groupNames = {};
  }
  return {
    endpoint,
    failure,
    socket: endpoint.kind === 'unix' ? socketFacts(endpoint.socketPath) : undefined,
    user: currentUser(),
    engine: findEngine(env.PATH),
    inContainer: runsInContainer(),
    groupNames,
  };
}
