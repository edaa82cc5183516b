// Why a daemon does not answer, and what to do about it. The classification is pure (facts in, diagnosis out)
// so every case has a unit test; gatherDaemonFacts() in daemon-facts.ts collects the facts from this machine.
import { DEFAULT_SOCKET, type DockerEndpoint, describeEndpoint } from './endpoint';
import type { DaemonFailure } from './probe';

export type DaemonProblem =
  | 'no-socket'
  | 'not-running'
  | 'not-a-socket'
  | 'permission-denied'
  | 'refused'
  | 'unreachable'
  | 'tls'
  | 'not-docker'
  | 'timeout'
  | 'unknown';

export interface SocketFacts {
  exists: boolean;
  isSocket?: boolean;
  isDirectory?: boolean;
  uid?: number;
  gid?: number;
  mode?: number;
}

export interface DaemonFacts {
  endpoint: DockerEndpoint;
  failure: DaemonFailure;
  /** For unix endpoints: what is at the socket path. */
  socket?: SocketFacts;
  user: { uid: number; gid: number; groups: number[]; name?: string };
  /** An installed dockerd, when there is one. */
  engine?: string;
  inContainer: boolean;
  /** Group names by id (from /etc/group), to name the socket's group. */
  groupNames: Record<number, string>;
}

export interface Diagnosis {
  problem: DaemonProblem;
  summary: string;
  fixes: string[];
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
]);

export const SOCKET_MOUNT_WARNING =
  "Mounting the host socket means builds run on the host's daemon and share its image store and build cache with everything else on the host, and anything that can reach the socket can get root on the host (a read-only mount does not change that).";

function isTlsFailure(failure: DaemonFailure): boolean {
  if (failure.code && (TLS_CODES.has(failure.code) || failure.code.startsWith('ERR_SSL_') || failure.code.startsWith('ERR_TLS_')))
    return true;
  return /certificate|x509|tls|ssl|handshake/i.test(failure.message) && !/^\(HTTP code/.test(failure.message);
}

function plainHttpToTls(failure: DaemonFailure): boolean {
  return failure.statusCode === 400 && /HTTP request to an HTTPS server/i.test(failure.message);
}

function octal(mode: number | undefined): string {
  return mode === undefined ? '?' : (mode & 0o777).toString(8).padStart(3, '0');
}

function groupLabel(facts: DaemonFacts, gid: number | undefined): string {
  if (gid === undefined) return 'an unknown group';
  const name = facts.groupNames[gid];
  return name ? `group ${name} (gid ${gid})` : `gid ${gid}`;
}

function where(endpoint: DockerEndpoint): string {
  return endpoint.source === 'default'
    ? ''
    : ` set by ${endpoint.source === 'input' ? 'the dockerHost input' : endpoint.source === 'DOCKER_HOST' ? 'DOCKER_HOST' : `docker context '${endpoint.context}'`}`;
}

function noSocket(facts: DaemonFacts, socketPath: string): Diagnosis {
  const { endpoint } = facts;
  if (endpoint.source !== 'default' && socketPath !== DEFAULT_SOCKET) {
    return {
      problem: 'no-socket',
      summary: `There is no Docker socket at ${socketPath}, the address${where(endpoint)} (${endpoint.host}): it points nowhere.`,
      fixes: [
        `Point ${endpoint.source === 'input' ? 'dockerHost' : 'DOCKER_HOST'} at a running daemon's socket, or remove it to use ${DEFAULT_SOCKET}.`,
        ...(facts.engine
          ? [`dockerd is installed here (${facts.engine}); with startDaemon: auto the task starts it on ${socketPath}.`]
          : []),
      ],
    };
  }
  const fixes: string[] = [];
  if (facts.inContainer) {
    fixes.push(
      `This agent runs in a container. To use the host's engine, mount its socket: \`docker run -v ${DEFAULT_SOCKET}:${DEFAULT_SOCKET} ...\` (compose: \`volumes: ["${DEFAULT_SOCKET}:${DEFAULT_SOCKET}"]\`). ${SOCKET_MOUNT_WARNING}`,
      'Or run an engine inside the agent container (docker-in-docker, needs a privileged container): with startDaemon: auto the task installs and starts one when it runs as root.',
    );
  } else {
    fixes.push(
      'Install Docker Engine on this agent (startDaemon: auto installs and starts it when the agent runs as root or has sudo), or point dockerHost / DOCKER_HOST at a daemon elsewhere.',
    );
  }
  return {
    problem: 'no-socket',
    summary: `There is no Docker socket at ${socketPath} and no Docker engine is installed here${facts.inContainer ? ' (inside a container)' : ''}.`,
    fixes,
  };
}

function notRunning(facts: DaemonFacts, socketPath: string, stale: boolean): Diagnosis {
  const what = stale
    ? `the socket ${socketPath} exists but nothing listens on it (a daemon that stopped or crashed leaves it behind)`
    : `there is no socket at ${socketPath}`;
  return {
    problem: 'not-running',
    summary: `Docker Engine is installed (${facts.engine}) but not running: ${what}.`,
    fixes: [
      'Set startDaemon: auto to let the task start it (it must run as root; in a container the container must be privileged).',
      "Or start it yourself: `sudo systemctl start docker` where systemd runs, otherwise `sudo dockerd > /var/log/dockerd.log 2>&1 &` (a container's `service docker start` often reports success although dockerd exits right away: read its log).",
    ],
  };
}

function permissionDenied(facts: DaemonFacts, socketPath: string): Diagnosis {
  const { socket, user } = facts;
  const owner = `owned by uid ${socket?.uid ?? '?'} and ${groupLabel(facts, socket?.gid)}, mode ${octal(socket?.mode)}`;
  const groups = user.groups.length ? user.groups.join(',') : 'none';
  const who = `${user.name ? `${user.name} ` : ''}(uid ${user.uid}, groups ${groups})`;
  const fixes: string[] = [];
  const gid = socket?.gid;
  if (facts.inContainer && gid !== undefined) {
    fixes.push(
      `In a container the socket keeps the host's group id ${gid}, which the container's user does not have. Start the agent container with \`--group-add ${gid}\` (compose: \`group_add: ["${gid}"]\`), or give the container's docker group gid ${gid}.`,
    );
  }
  if (gid !== undefined && facts.groupNames[gid] && gid !== 0) {
    fixes.push(
      `Add the agent's user to the ${facts.groupNames[gid]} group: \`sudo usermod -aG ${facts.groupNames[gid]} ${user.name ?? '<agent user>'}\`, then restart the agent (group membership is read when a process starts).`,
    );
  } else if (!facts.inContainer) {
    fixes.push(
      'Run the agent as a user in the group that owns the socket (usually docker: `sudo usermod -aG docker <agent user>`, then restart the agent).',
    );
  }
  fixes.push(
    "Membership of the socket's group is equivalent to root on the machine that runs the daemon; grant it only to agents you trust with that.",
  );
  return { problem: 'permission-denied', summary: `Permission denied on the Docker socket ${socketPath} (${owner}) for ${who}.`, fixes };
}

export function diagnoseDaemon(facts: DaemonFacts): Diagnosis {
  const { endpoint, failure } = facts;
  const code = failure.code;

  if (failure.code === 'ETIMEDOUT' && endpoint.kind !== 'tcp') {
    return {
      problem: 'timeout',
      summary: `The daemon at ${describeEndpoint(endpoint)} accepted the connection but did not answer: ${failure.message}.`,
      fixes: ["It may be starting or overloaded; look at its log (`journalctl -u docker` or dockerd's log file) and retry."],
    };
  }

  if (endpoint.kind === 'unix') {
    const socketPath = endpoint.socketPath;
    if (code === 'EACCES' || code === 'EPERM') return permissionDenied(facts, socketPath);
    if (facts.socket?.exists && facts.socket.isSocket === false) {
      const dir = facts.socket.isDirectory;
      return {
        problem: 'not-a-socket',
        summary: `${socketPath} exists but is ${dir ? 'a directory' : 'not a socket'}, so no daemon can be reached there.`,
        fixes: [
          dir
            ? `A bind mount of a host path that does not exist creates an empty directory: the host has no socket at that path. Mount the path where the host's daemon listens (usually ${DEFAULT_SOCKET}) or start the engine on the host first.`
            : `Remove or move ${socketPath} and point dockerHost / DOCKER_HOST at the daemon's socket.`,
        ],
      };
    }
    if (code === 'ENOENT' || facts.socket?.exists === false) {
      return facts.engine && (endpoint.source === 'default' || socketPath === DEFAULT_SOCKET)
        ? notRunning(facts, socketPath, false)
        : noSocket(facts, socketPath);
    }
    if (code === 'ECONNREFUSED') {
      if (facts.engine) return notRunning(facts, socketPath, true);
      return {
        problem: 'not-running',
        summary: `The socket ${socketPath} exists but nothing listens on it, and no Docker engine is installed here${facts.inContainer ? ' (inside a container)' : ''}.`,
        fixes: [
          facts.inContainer
            ? `If the socket is mounted from the host, the host's daemon is stopped: start it there (\`sudo systemctl start docker\`). ${SOCKET_MOUNT_WARNING}`
            : 'The daemon that created it has stopped: start it again, or point dockerHost / DOCKER_HOST at a running one.',
        ],
      };
    }
  }

  if (endpoint.kind === 'tcp') {
    const address = `${endpoint.hostname}:${endpoint.port}`;
    const set = where(endpoint) || ' (the default)';
    if (plainHttpToTls(failure)) {
      return {
        problem: 'tls',
        summary: `The daemon at ${address}${set} speaks TLS, but the task connected without TLS.`,
        fixes: [
          'Set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to a directory with ca.pem, cert.pem and key.pem (as variables of the job), or use a docker context that carries them.',
        ],
      };
    }
    if (isTlsFailure(failure)) {
      const tls = endpoint.tls;
      const files = tls
        ? (
            [
              ['ca.pem', tls.ca],
              ['cert.pem', tls.cert],
              ['key.pem', tls.key],
            ] as const
          )
            .filter(([, pem]) => !pem)
            .map(([file]) => file)
        : [];
      const used = tls
        ? `TLS ${tls.verify ? 'with' : 'without'} verification, certificates from ${tls.dir ?? '?'}${files.length ? ` (missing: ${files.join(', ')})` : ''}`
        : 'TLS without client certificates';
      return {
        problem: 'tls',
        summary: `The TLS handshake with the daemon at ${address}${set} failed (${used}): ${failure.message}${code ? ` [${code}]` : ''}.`,
        fixes: [
          "ca.pem must be the CA that signed the daemon's certificate, and the daemon's certificate must name the host you connect to (its DNS name or IP in subjectAltName).",
          'cert.pem and key.pem must be a client certificate signed by the CA the daemon trusts (dockerd --tlscacert); the daemon refuses clients without one when started with --tlsverify.',
          'Fix DOCKER_CERT_PATH (or the context\'s TLS files: `docker context export`/`docker context update --docker "host=...,ca=...,cert=...,key=..."`).',
        ],
      };
    }
    if (code === 'ECONNREFUSED') {
      return {
        problem: 'refused',
        summary: `Nothing accepts connections at ${address}, the address${set} (${endpoint.host}): it points nowhere.`,
        fixes: [
          `Check the address: a daemon listens on TCP only when started with \`-H tcp://0.0.0.0:${endpoint.tls ? 2376 : 2375}\` (or "hosts" in daemon.json).`,
          endpoint.source === 'DOCKER_HOST' ? 'Unset DOCKER_HOST to use the local socket.' : 'Remove the setting to use the local socket.',
        ],
      };
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT') {
      return {
        problem: code === 'ETIMEDOUT' ? 'timeout' : 'unreachable',
        summary: `The daemon address${set} (${endpoint.host}) cannot be reached: ${failure.message}.`,
        fixes: ['Check the host name and the network path (firewall, VPN) from the agent to that host and port.'],
      };
    }
    if (failure.statusCode !== undefined) {
      return {
        problem: 'not-docker',
        summary: `Something answered at ${address}${set}, but not as a Docker daemon: ${failure.message}.`,
        fixes: ['Check the port: the Engine API answers GET /_ping with OK.'],
      };
    }
  }

  if (endpoint.kind === 'ssh' && /permission denied/i.test(failure.message)) {
    return {
      problem: 'permission-denied',
      summary: `The daemon at ${describeEndpoint(endpoint)} refused access: ${failure.message}.`,
      fixes: ["Check the ssh user's key and that the remote user may use the Docker socket (member of the docker group)."],
    };
  }

  return {
    problem: 'unknown',
    summary: `The daemon at ${describeEndpoint(endpoint)} did not answer: ${failure.message}${code ? ` [${code}]` : ''}.`,
    fixes: ["Run `docker version` on the agent as the agent's user to see what the CLI says."],
  };
}

export function formatDiagnosis(diagnosis: Diagnosis): string {
  return [diagnosis.summary, ...diagnosis.fixes.map((f) => `  Fix: ${f}`)].join('\n');
}
