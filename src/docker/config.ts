// A DOCKER_CONFIG of this job only: docker logins land in a temporary directory that is removed afterwards
// (also on failure), never in the user's ~/.docker, while buildx builders, contexts and CLI plugins of the
// user stay visible through links.
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TaskContext } from '../context';
import type { Logger } from '../log';
import { type Runner, run } from '../process/exec';
import { runRetried } from '../process/retry-command';
import type { RegistryCredentials } from '../registry/credentials';
import { isDockerHub } from '../registry/reference';

/**
 * The task's runner (default run), env (default process.env; docker runs with it, and DOCKER_CONFIG/HOME are read
 * from it) and logger, and where the temporary directory goes.
 */
export type DockerConfigContext = Partial<Pick<TaskContext, 'runner' | 'env' | 'logger'>> & {
  /** The docker CLI to run (default `docker` on PATH). */
  docker?: string;
  /** Where the temporary directory goes; the task passes its step temp dir (default: the system temp dir). */
  parentDir?: string;
  /** Waits between tries of a docker login that failed for a transient reason (tests pass a fake). */
  sleep?: (ms: number) => Promise<void>;
};

export interface DockerConfigEnv {
  DOCKER_CONFIG: string;
}

/** What is linked from the user's docker config directory, so builders and plugins are still found. */
const SHARED_ENTRIES = ['buildx', 'contexts', 'cli-plugins'];
/** Keys of the user's config.json carried over: the current context and settings that are not credentials. */
const CARRIED_KEYS = ['currentContext', 'proxies', 'cliPluginsExtraDirs'];

/** The docker config directory docker itself would use: $DOCKER_CONFIG, else ~/.docker. */
export function userDockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), '.docker');
}

export async function withDockerConfig<T>(
  logins: RegistryCredentials[],
  body: (env: DockerConfigEnv) => Promise<T>,
  context: DockerConfigContext = {},
): Promise<T> {
  const runner = context.runner ?? run;
  const docker = context.docker ?? 'docker';
  const baseEnv = context.env ?? process.env;
  const parent = context.parentDir ?? os.tmpdir();
  await fs.mkdir(parent, { recursive: true });
  const dir = await fs.mkdtemp(path.join(parent, 'docker-config-'));
  await fs.chmod(dir, 0o700);
  const env = { ...baseEnv, DOCKER_CONFIG: dir };
  const loggedIn: string[] = [];
  try {
    await shareUserConfig(userDockerConfigDir(baseEnv), dir);
    for (const login of logins) {
      const server = loginServerArgument(login.registry);
      context.logger?.info(`docker login ${login.registry} as ${login.username}`);
      // The password goes through stdin only: argv is visible to every process on the machine.
      // a registry that answers 5xx or drops the connection for a moment is tried again; a refusal is not
      await runRetried(
        runner,
        docker,
        ['login', '--username', login.username, '--password-stdin', ...(server ? [server] : [])],
        { env, stdin: login.password, timeoutMs: 120_000 },
        { what: `docker login ${login.registry}`, logger: context.logger, sleep: context.sleep },
      );
      loggedIn.push(server ?? '');
    }
    return await body({ DOCKER_CONFIG: dir });
  } finally {
    await logOutOfCredentialStores(dir, loggedIn, runner, docker, env, context.logger);
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** docker login takes no server for Docker Hub; everything else by its login server. */
function loginServerArgument(registry: string): string | undefined {
  return isDockerHub(registry) ? undefined : registry;
}

async function shareUserConfig(userDir: string, dir: string): Promise<void> {
  for (const entry of SHARED_ENTRIES) {
    const source = path.join(userDir, entry);
    if (existsSync(source)) await fs.symlink(source, path.join(dir, entry), 'dir');
  }
  const config: Record<string, unknown> = {};
  try {
    const user = JSON.parse(await fs.readFile(path.join(userDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const key of CARRIED_KEYS) if (user[key] !== undefined) config[key] = user[key];
  } catch {
    // no user config, or not JSON: start empty as docker would
  }
  await fs.writeFile(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

/**
 * docker detects a credential helper (pass, secretservice) on its own and then stores logins there, outside
 * our directory. When config.json names one after the logins, log out so nothing stays behind.
 */
async function logOutOfCredentialStores(
  dir: string,
  servers: string[],
  runner: Runner,
  docker: string,
  env: NodeJS.ProcessEnv,
  logger?: Logger,
): Promise<void> {
  if (servers.length === 0) return;
  let config: { credsStore?: string; credHelpers?: Record<string, string> };
  try {
    config = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8')) as typeof config;
  } catch {
    return;
  }
  if (!config.credsStore && !config.credHelpers) return;
  for (const server of servers) {
    const result = await runner(docker, ['logout', ...(server ? [server] : [])], { env, timeoutMs: 60_000 }).catch((error: Error) => ({
      exitCode: -1,
      stderr: error.message,
    }));
    if (result.exitCode !== 0)
      logger?.warn(
        `docker logout ${server || 'docker.io'} failed; a credential may remain in the ${config.credsStore ?? 'configured'} credential store.`,
      );
  }
}
