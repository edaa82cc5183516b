// A BuildKit endpoint given as the `builder` input becomes a temporary buildx builder of this step (remote driver),
// removed afterwards also when the build fails, so nothing of the job is left in the agent's buildx state.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log';
import { runChecked, type Runner } from '../process/exec';

export function createRemoteBuilderArgs(name: string, endpoint: string): string[] {
  return ['buildx', 'create', '--name', name, '--driver', 'remote', endpoint];
}

export async function withRemoteBuilder<T>(
  endpoint: string,
  options: { runner: Runner; env: NodeJS.ProcessEnv; logger: Logger; docker?: string },
  body: (name: string) => Promise<T>,
): Promise<T> {
  const docker = options.docker ?? 'docker';
  const name = `buildforplatform-${randomBytes(4).toString('hex')}`;
  options.logger.info(`Creating the temporary builder ${name} for ${endpoint}`);
  await runChecked(options.runner, docker, createRemoteBuilderArgs(name, endpoint), { env: options.env, timeoutMs: 120_000 });
  try {
    return await body(name);
  } finally {
    const removed = await options.runner(docker, ['buildx', 'rm', name], { env: options.env, timeoutMs: 120_000 }).catch(() => undefined);
    if (removed?.exitCode !== 0)
      options.logger.warn(`The temporary builder ${name} could not be removed; remove it with 'docker buildx rm ${name}'.`);
  }
}
