// Image references as the OCI distribution spec and docker's reference grammar write them:
//   [registry/]repository[:tag][@digest]
// The rules are spelled out in every error so that a user can fix the input without looking them up.

export interface ImageReference {
  /** Login server, host[:port], e.g. contoso.azurecr.io or 127.0.0.1:5000. */
  registry: string;
  /** Path components separated by '/', e.g. team/app. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`. When both are given, the digest is what the registry is asked for. */
  digest?: string;
}

export class InvalidReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidReferenceError';
  }
}

export const PATH_COMPONENT_RULE = 'lower-case letters and digits, separated by a single ".", one or two "_", or any number of "-"';
export const TAG_RULE = 'up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"';
export const DIGEST_RULE = 'sha256: followed by 64 lower-case hex digits';

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\]$/;
const PORT = /^[0-9]{1,5}$/;
/** The distribution spec bounds the whole repository name (not the registry) to 255 characters. */
const MAX_REPOSITORY_LENGTH = 255;

/** Throws InvalidReferenceError unless `name` is a repository the distribution spec allows. */
export function validateRepository(name: string): string {
  if (!name) throw new InvalidReferenceError('The repository is empty; write it as path components such as team/app.');
  if (name.length > MAX_REPOSITORY_LENGTH) {
    throw new InvalidReferenceError(
      `The repository '${name.slice(0, 40)}…' is ${name.length} characters long; at most ${MAX_REPOSITORY_LENGTH} are allowed.`,
    );
  }
  for (const component of name.split('/')) {
    if (!component)
      throw new InvalidReferenceError(`The repository '${name}' has an empty path component (a leading, trailing or double '/').`);
    if (!PATH_COMPONENT.test(component)) {
      const hint = component !== component.toLowerCase() ? ` (write it in lower case: '${name.toLowerCase()}')` : '';
      throw new InvalidReferenceError(
        `The repository '${name}' is not valid: the path component '${component}' must be ${PATH_COMPONENT_RULE}${hint}.`,
      );
    }
  }
  return name;
}

/** Throws InvalidReferenceError unless `tag` is a tag the distribution spec allows. */
export function validateTag(tag: string): string {
  if (!tag) throw new InvalidReferenceError(`The tag is empty; a tag is ${TAG_RULE}.`);
  if (!TAG.test(tag)) throw new InvalidReferenceError(`The tag '${tag}' is not valid: a tag is ${TAG_RULE}.`);
  return tag;
}

/** Throws InvalidReferenceError unless `digest` is a sha256 digest. */
export function validateDigest(digest: string): string {
  if (DIGEST.test(digest)) return digest;
  if (ANY_DIGEST.test(digest) && !digest.startsWith('sha256:')) {
    throw new InvalidReferenceError(`The digest '${digest}' uses an algorithm this task does not support; a digest is ${DIGEST_RULE}.`);
  }
  throw new InvalidReferenceError(`The digest '${digest}' is not valid: a digest is ${DIGEST_RULE}.`);
}

export function isDigest(text: string): boolean {
  return DIGEST.test(text);
}

/** Why `name` is not a login server (host[:port], no scheme, no path), or undefined when it is one. */
export function loginServerProblem(name: string): string | undefined {
  if (!name) return 'it is empty';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(name))
    return `it has a scheme; write '${name.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '')}'`;
  if (name.includes('/')) return `it has a path; the login server is only '${name.split('/')[0]}'`;
  if (/\s/.test(name)) return 'it contains white space';
  let host = name;
  const portMatch = /^(.*):([^:\]]*)$/.exec(name);
  if (portMatch && !IPV6_HOST.test(name)) {
    host = portMatch[1];
    if (!PORT.test(portMatch[2]) || Number(portMatch[2]) > 65535) return `'${portMatch[2]}' is not a port number`;
  }
  if (IPV6_HOST.test(host)) return undefined;
  if (!host.split('.').every((component) => DOMAIN_COMPONENT.test(component))) {
    return 'a host name is made of letters, digits and inner "-", separated by "."';
  }
  return undefined;
}

/** True for host[:port] with no scheme and no path, e.g. contoso.azurecr.io or 127.0.0.1:5000. */
export function isLoginServer(name: string): boolean {
  return loginServerProblem(name) === undefined;
}

/** Throws InvalidReferenceError unless `name` is a login server; the message says how to write it. */
export function validateLoginServer(name: string): string {
  const problem = loginServerProblem(name);
  if (problem)
    throw new InvalidReferenceError(`'${name}' is not a registry login server (host[:port], e.g. contoso.azurecr.io): ${problem}.`);
  return name;
}

export interface ParseOptions {
  /**
   * Registry assumed when the text names none (docker's rule: the first component is a registry only when it
   * contains '.' or ':' or is 'localhost'). Without it such a reference is refused.
   */
  defaultRegistry?: string;
}

/** Parses `[registry/]repository[:tag][@digest]`; errors name the part that is wrong and its rule. */
export function parseImageReference(text: string, options: ParseOptions = {}): ImageReference {
  const input = text.trim();
  if (!input)
    throw new InvalidReferenceError(
      'The image reference is empty; write it as <registry>/<repository>@sha256:<digest> or <registry>/<repository>:<tag>.',
    );
  if (/\s/.test(input)) throw new InvalidReferenceError(`The image reference '${input}' contains white space.`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) {
    throw new InvalidReferenceError(
      `The image reference '${input}' has a URL scheme; write it without one, e.g. contoso.azurecr.io/app:1.`,
    );
  }

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = validateDigest(rest.slice(at + 1));
    rest = rest.slice(0, at);
  }

  let registry: string | undefined;
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      registry = validateLoginServer(first);
      rest = rest.slice(slash + 1);
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1) {
    tag = validateTag(rest.slice(colon + 1));
    rest = rest.slice(0, colon);
  }

  if (!registry) {
    if (!options.defaultRegistry) {
      throw new InvalidReferenceError(
        `The image reference '${input}' names no registry; write it as <registry>/<repository>, e.g. contoso.azurecr.io/${rest || 'app'}.`,
      );
    }
    registry = options.defaultRegistry;
    if (isDockerHub(registry) && !rest.includes('/')) rest = `library/${rest}`;
  }
  return { registry, repository: validateRepository(rest), ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

export function isDockerHub(registry: string): boolean {
  return DOCKER_HUB_NAMES.has(registry.toLowerCase());
}
