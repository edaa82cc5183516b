// A buildx failure whose cause is an input or a missing connection, told in the task's words: the input behind it and
// the fix, not only buildx's last line. Pure: the build's error and what the step was given in, an error out.
import { InputError } from '../inputs';
import { CommandError } from '../process/exec';

export interface FailureContext {
  /** The words of the `arguments` input, as handed to buildx. */
  extraArguments: readonly string[];
  registry: string;
  /** A service connection was given (the step signed in). */
  signedIn: boolean;
}

/** `unknown flag: --foo`, `unknown shorthand flag: 'x' in -x` (cobra's words). */
function unknownFlag(output: string): string | undefined {
  const long = /unknown flag: (--[^\s=]+)/.exec(output);
  if (long) return long[1];
  const short = /unknown shorthand flag: '(.)' in (-\S+)/.exec(output);
  return short ? `-${short[1]}` : undefined;
}

/** The registry that answered 401 to an anonymous token request (`GET request to https://<host>/oauth2/token...: 401`). */
function anonymousTokenRefused(output: string): { host?: string } | undefined {
  if (!/failed to fetch anonymous token/i.test(output) && !/\b401 Unauthorized\b/.test(output)) return undefined;
  const host = /(?:GET|POST) request to https?:\/\/([^/\s:]+)/.exec(output)?.[1];
  return { host };
}

/** The error to show for a failed build: one naming the input or connection behind it, else the error as it was. */
export function explainBuildFailure(error: unknown, context: FailureContext): unknown {
  if (!(error instanceof CommandError)) return error;
  const output = `${error.result.stderr}\n${error.result.stdout}`;
  const flag = unknownFlag(output);
  if (flag && context.extraArguments.some((word) => word === flag || word.startsWith(`${flag}=`))) {
    return new InputError(
      'arguments',
      `buildx does not know the option ${flag} (it said: unknown flag: ${flag}). ` +
        `Fix: remove ${flag} from 'arguments', or check its spelling against \`docker buildx build --help\` of the buildx on the agent (EnsureDocker's buildxVersion output).`,
    );
  }
  const refused = !context.signedIn && anonymousTokenRefused(output);
  if (refused) {
    const host = refused.host ?? context.registry;
    const which = host === context.registry ? `${host}, the registry this step pushes to,` : `${host}, a registry the build reads from,`;
    return new InputError(
      'azureSubscription',
      `${which} refused an anonymous sign-in (401 Unauthorized: buildx said "failed to fetch anonymous token"), and the step has no service connection. ` +
        `Fix: set azureSubscription to an Azure Resource Manager service connection whose identity has AcrPush on ${host} ` +
        `(AcrPull for a registry the build only reads from), or dockerRegistryServiceConnection to a Docker registry connection for it.`,
    );
  }
  return error;
}
