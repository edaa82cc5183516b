// Image references parsed like go-containerregistry's name.ParseReference (weak validation, trivy's default):
// "[registry/]repo[:tag][@sha256:...]", Docker Hub as the default registry with its implicit "library/".
import { GoError } from './go';

export interface Reference {
  /** e.g. contoso.azurecr.io or index.docker.io */
  registry: string;
  /** e.g. team/app or library/alpine */
  repository: string;
  /** set for tag references (defaults to "latest" when neither tag nor digest is given) */
  tag?: string;
  /** set for digest references */
  digest?: string;
  /** what the user wrote */
  original: string;
}

const defaultRegistry = 'index.docker.io';
const repositoryChars = /^[a-z0-9_\-./]+$/;
const tagPattern = /^[A-Za-z0-9_.-]{1,128}$/;
const digestPattern = /^sha256:[a-f0-9]{64}$/;

function parseRepository(name: string, original: string): { registry: string; repository: string } {
  const fail = (): never => {
    throw new GoError(`could not parse reference: ${original}`);
  };
  if (name === '') fail();
  let registry = '';
  let repository = name;
  const slash = name.indexOf('/');
  if (slash > 0) {
    const first = name.slice(0, slash);
    if (first.includes('.') || first.includes(':')) {
      registry = first;
      repository = name.slice(slash + 1);
    }
  }
  if (repository.length < 2 || repository.length > 255 || !repositoryChars.test(repository)) fail();
  if (registry === '' || registry === 'docker.io') registry = defaultRegistry;
  if (registry === defaultRegistry && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository };
}

function parseTag(name: string, original: string): { registry: string; repository: string; tag?: string } {
  let base = name;
  let tag: string | undefined;
  const colon = name.lastIndexOf(':');
  if (colon >= 0 && !name.slice(colon + 1).includes('/')) {
    base = name.slice(0, colon);
    tag = name.slice(colon + 1);
    if (!tagPattern.test(tag)) throw new GoError(`could not parse reference: ${original}`);
  }
  return { ...parseRepository(base, original), tag };
}

export function parseReference(text: string): Reference {
  const at = text.split('@');
  if (at.length > 2) throw new GoError(`could not parse reference: ${text}`);
  if (at.length === 2) {
    if (!digestPattern.test(at[1])) throw new GoError(`could not parse reference: ${text}`);
    const { registry, repository } = parseTag(at[0], text);
    return { registry, repository, digest: at[1], original: text };
  }
  const parsed = parseTag(text, text);
  return { ...parsed, tag: parsed.tag ?? 'latest', original: text };
}

/** Repository.Name(): registry/repository */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Reference.Name(): fully qualified, with the tag or the digest. */
export function referenceName(ref: Reference): string {
  return ref.digest ? `${repositoryName(ref)}@${ref.digest}` : `${repositoryName(ref)}:${ref.tag}`;
}

/** name.Registry.Scheme(): plain HTTP is allowed for localhost and loopback addresses (the lab has nothing else). */
export function registryAllowsHttp(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || /^127\./.test(host) || host === '[::1]';
}
