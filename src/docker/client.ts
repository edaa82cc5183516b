// A dockerode client for a resolved endpoint. dockerode is loaded only when a daemon is actually asked something:
// loading it (ssh2, tar-fs, ...) costs about 100 ms, which the "everything is present" path overlaps with the
// CLI probes instead of paying up front.
import type Dockerode from 'dockerode';
import { Agent as HttpsAgent } from 'node:https';
import type { DockerEndpoint } from './endpoint';

export type DockerClient = Dockerode;

// docker-modem merges its defaults from DOCKER_HOST/DOCKER_CERT_PATH/DOCKER_TLS_VERIFY/DOCKER_CLIENT_TIMEOUT even
// when it is given explicit options (and throws when DOCKER_CERT_PATH lacks a file). The endpoint is already
// resolved from those variables, so they are hidden while the client is constructed (synchronously).
const MODEM_ENV = ['DOCKER_HOST', 'DOCKER_CERT_PATH', 'DOCKER_TLS_VERIFY', 'DOCKER_CLIENT_TIMEOUT', 'DOCKER_PATH_PREFIX'];

export async function createDockerClient(endpoint: DockerEndpoint, timeoutMs: number): Promise<DockerClient> {
  if (endpoint.kind === 'ssh') throw new Error(`BUG: ${endpoint.host} is reached through the docker CLI, not the API client`);
  const { default: Docker } = await import('dockerode');
  const options: Dockerode.DockerOptions =
    endpoint.kind === 'unix'
      ? { socketPath: endpoint.socketPath, host: undefined, port: undefined, protocol: 'http', timeout: timeoutMs }
      : {
          socketPath: undefined,
          host: endpoint.hostname,
          port: endpoint.port,
          protocol: endpoint.tls ? 'https' : 'http',
          ca: endpoint.tls?.ca,
          cert: endpoint.tls?.cert,
          key: endpoint.tls?.key,
          timeout: timeoutMs,
          ...(endpoint.tls && !endpoint.tls.verify ? { agent: new HttpsAgent({ rejectUnauthorized: false }) } : {}),
        };
  const saved = MODEM_ENV.map((name) => [name, process.env[name]] as const);
  for (const name of MODEM_ENV) delete process.env[name];
  try {
    return new Docker(options);
  } finally {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  }
}
