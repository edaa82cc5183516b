// Parsers for what a user writes into BuildForPlatform's inputs. Each throws an Error that says what is wrong and how
// to write it; the task shell adds the input's name (TaskInputs.parse). Pure: no processes, no agent.
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { validateRepository, validateTag } from '../registry/reference';

export interface BuildArg {
  name: string;
  value: string;
}

export type BuildSecret = { id: string; kind: 'env'; variable: string } | { id: string; kind: 'file'; path: string };

export type CacheMode = 'registry' | 'inline' | 'none';
export type Attestations = 'none' | 'provenance' | 'provenance+sbom';

export const CACHE_MODES: readonly CacheMode[] = ['registry', 'inline', 'none'];
export const ATTESTATIONS: readonly Attestations[] = ['none', 'provenance', 'provenance+sbom'];
export type ProvenanceMode = 'min' | 'max';
export const PROVENANCE_MODES: readonly ProvenanceMode[] = ['min', 'max'];

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SECRET_ID = /^[A-Za-z0-9_.-]+$/;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._\-/]*$/;
const STAGE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** KEY=VALUE per line; the value may contain '=' and spaces, the key is an identifier. */
export function parseBuildArgs(lines: readonly string[]): BuildArg[] {
  return lines.map((line) => {
    const eq = line.indexOf('=');
    if (eq === -1) throw new Error(`'${line}' has no '='. Write each build argument as KEY=VALUE on its own line.`);
    const name = line.slice(0, eq).trim();
    if (!NAME.test(name)) throw new Error(`'${name}' is not a build argument name (letters, digits and '_', not starting with a digit).`);
    return { name, value: line.slice(eq + 1) };
  });
}

/**
 * `id=env:NAME` or `id=file:path` per line. An env secret must be set in the step's environment (map a secret
 * variable with `env:`), a file secret must exist; the value itself never leaves the machine's environment or file.
 */
export function parseSecrets(lines: readonly string[], env: NodeJS.ProcessEnv, cwd: string): BuildSecret[] {
  const ids = new Set<string>();
  return lines.map((line) => {
    const match = /^([^=]+)=(env|file):(.+)$/.exec(line);
    if (!match)
      throw new Error(`'${line}' is not a secret. Write id=env:VARIABLE or id=file:path, for example npmrc=file:$(npmrc.secureFilePath).`);
    const id = match[1].trim();
    const source = match[3].trim();
    if (!SECRET_ID.test(id)) throw new Error(`'${id}' is not a secret id (letters, digits, '_', '.' and '-').`);
    if (ids.has(id)) throw new Error(`the secret id '${id}' is given twice.`);
    ids.add(id);
    if (match[2] === 'env') {
      if (!NAME.test(source)) throw new Error(`'${source}' is not an environment variable name.`);
      if (env[source] === undefined) {
        throw new Error(
          `the secret '${id}' reads the environment variable ${source}, which is not set. Map it on the step: env: { ${source}: $(yourSecretVariable) }.`,
        );
      }
      return { id, kind: 'env', variable: source };
    }
    const file = path.resolve(cwd, source);
    if (!existsSync(file) || !statSync(file).isFile())
      throw new Error(`the secret '${id}' reads the file ${source}, which does not exist (looked at ${file}).`);
    return { id, kind: 'file', path: file };
  });
}

/** key=value per line, in order; a later line wins over an earlier one with the same key. */
export function parseLabels(lines: readonly string[]): Map<string, string> {
  const labels = new Map<string, string>();
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`'${line}' is not a label. Write each label as key=value on its own line.`);
    const key = line.slice(0, eq).trim();
    if (!LABEL_KEY.test(key)) throw new Error(`'${key}' is not a label key (letters, digits, '.', '-', '_' and '/').`);
    labels.set(key, line.slice(eq + 1));
  }
  return labels;
}

/**
 * An OCI annotation key: reverse-domain notation (image-spec annotations.md), a lower-case domain of two or more
 * labels, then more dot-separated parts that may hold capitals, digits, '_' and '-' (com.example.myKey,
 * org.opencontainers.image.base.digest). No '=', ':' or white space: buildx reads `--annotation <where>:<key>=<value>`.
 */
const ANNOTATION_KEY = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(\.[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?)+$/;

/**
 * key=value per line, in order; a later line wins over an earlier one with the same key. An empty value (`key=`)
 * leaves the key out, so a line can drop one of the task's defaults (pipelineAnnotations).
 */
export function parseAnnotations(lines: readonly string[]): Map<string, string> {
  const annotations = new Map<string, string>();
  for (const line of lines) {
    if (/\$\(/.test(line)) throw new Error(`'${line}' holds a pipeline variable the agent did not expand; is the variable defined?`);
    const eq = line.indexOf('=');
    if (eq <= 0)
      throw new Error(
        `'${line}' is not an annotation. Write each one as key=value on its own line, e.g. org.opencontainers.image.description=Shop front end.`,
      );
    const key = line.slice(0, eq).trim();
    const where = /^(index|manifest|manifest-descriptor|index-descriptor)(\[[^\]]*\])?:/.exec(key);
    if (where)
      throw new Error(
        `'${key}' names where the annotation goes (${where[0]}); write the key alone (${key.slice(where[0].length)}): the task puts each annotation on the pushed index and on every image manifest.`,
      );
    if (!ANNOTATION_KEY.test(key))
      throw new Error(
        `'${key}' is not an annotation key. Use reverse-domain notation, e.g. com.contoso.team or org.opencontainers.image.description: lower-case domain parts, then letters, digits, '_' and '-' between dots; no '=', ':' or spaces.`,
      );
    annotations.set(key, line.slice(eq + 1).trim());
  }
  return annotations;
}

/**
 * The annotations of what is pushed: the image's `org.opencontainers.image.*` labels (the pipeline's source, revision,
 * created and version, and any the user set), then the user's annotations over them; an empty user value removes a key.
 */
export function pipelineAnnotations(labels: ReadonlyMap<string, string>, user: ReadonlyMap<string, string>): Map<string, string> {
  const annotations = new Map([...labels].filter(([key]) => key.startsWith('org.opencontainers.image.')));
  for (const [key, value] of user) {
    if (value === '') annotations.delete(key);
    else annotations.set(key, value);
  }
  return annotations;
}

export function parseTags(items: readonly string[]): string[] {
  if (items.length === 0) throw new Error('no tag was given. Give at least one, for example $(Build.BuildId).');
  const tags: string[] = [];
  for (const item of items) {
    if (/\$\(/.test(item)) throw new Error(`'${item}' holds a pipeline variable the agent did not expand; is the variable defined?`);
    validateTag(item);
    if (!tags.includes(item)) tags.push(item);
  }
  return tags;
}

export function parseRepository(value: string): string {
  if (/^[a-z0-9.-]+\.[a-z]{2,}\//i.test(value)) {
    throw new Error(
      `'${value}' starts with a registry; put the registry into 'registry' and only the path (${value.replace(/^[^/]+\//, '')}) here.`,
    );
  }
  if (value.includes(':') || value.includes('@')) throw new Error(`'${value}' holds a tag or digest; give tags in the 'tags' input.`);
  return validateRepository(value);
}

export function parseTarget(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!STAGE.test(value)) throw new Error(`'${value}' is not a build stage name (letters, digits, '_', '.' and '-').`);
  return value;
}

/** A cache reference <registry>/<repository>:<tag>; the default is <registry>/<repository>:buildcache. */
export function parseCacheRef(value: string | undefined, registry: string, repository: string): string {
  if (!value) return `${registry}/${repository}:buildcache`;
  const match = /^([^/]+)\/(.+):([^:/]+)$/.exec(value);
  if (!match) throw new Error(`'${value}' is not an image reference with a tag, e.g. ${registry}/${repository}:buildcache.`);
  validateRepository(match[2]);
  validateTag(match[3]);
  return value;
}

/** An SBOM generator image reference (registry/repository[:tag][@digest]); empty for BuildKit's default. */
export function parseSbomGenerator(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (
    !/^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/.test(
      value,
    )
  )
    throw new Error(
      `'${value}' is not an image reference with its registry, e.g. contoso.azurecr.io/mirror/buildkit-syft-scanner:stable-1 (leave it empty for docker/buildkit-syft-scanner).`,
    );
  return value;
}

/**
 * The Dockerfile: a relative path is looked for in the working directory, then in the build context (so the
 * default 'Dockerfile' finds <context>/Dockerfile as `docker build` does).
 */
/**
 * The Dockerfile: under the working directory, else under the build context. The agent makes a filePath input
 * absolute under the repository before the task sees it (TaskRunner.TranslateFilePathInput), so `Dockerfile` arrives
 * as `<sources>/Dockerfile` and an empty value as `<sources>` itself: such a path is also looked for under the context,
 * as the relative value would be, and the bare directory means the default `Dockerfile`.
 */
export function resolveDockerfile(value: string, workingDirectory: string, context: string): string {
  let relative = path.isAbsolute(value) ? path.relative(workingDirectory, value) : value;
  if (relative === '') relative = 'Dockerfile';
  const underWorkingDirectory = !relative.startsWith('..') && !path.isAbsolute(relative);
  const candidates = underWorkingDirectory
    ? [path.resolve(workingDirectory, relative), path.resolve(context, relative)]
    : [path.resolve(workingDirectory, value)];
  for (const candidate of candidates) if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  throw new Error(`'${value}' was not found (looked at ${[...new Set(candidates)].join(' and ')}).`);
}

export function resolveContext(value: string, workingDirectory: string): string {
  if (/^(https?|git):\/\/|^git@/.test(value))
    throw new Error(`'${value}' is a remote context; check the sources out and give their directory.`);
  const dir = path.resolve(workingDirectory, value);
  if (!existsSync(dir)) throw new Error(`the directory '${value}' does not exist (looked at ${dir}).`);
  if (!statSync(dir).isDirectory()) throw new Error(`'${value}' is not a directory (looked at ${dir}).`);
  return dir;
}

/** A named builder, or a BuildKit endpoint the task makes a temporary remote builder for. */
export type BuilderChoice = { kind: 'default' } | { kind: 'named'; name: string } | { kind: 'endpoint'; endpoint: string };

export function parseBuilder(value: string | undefined): BuilderChoice {
  if (!value) return { kind: 'default' };
  if (/^(tcp|unix|ssh|docker-container|kube-pod|npipe):\/\//.test(value)) return { kind: 'endpoint', endpoint: value };
  if (/:\/\//.test(value))
    throw new Error(`'${value}' is not a BuildKit endpoint buildx knows (tcp://, unix://, ssh://, docker-container://, kube-pod://).`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(value)) throw new Error(`'${value}' is not a builder name.`);
  return { kind: 'named', name: value };
}

/**
 * The OCI labels a pipeline run knows (image-spec annotations.md), given the run's variables. Empty values are left
 * out; user labels override these.
 */
export function pipelineLabels(vars: {
  repositoryUri?: string;
  sourceVersion?: string;
  version?: string;
  created: Date;
}): Map<string, string> {
  const labels = new Map<string, string>();
  if (vars.repositoryUri) labels.set('org.opencontainers.image.source', vars.repositoryUri);
  if (vars.sourceVersion) labels.set('org.opencontainers.image.revision', vars.sourceVersion);
  labels.set('org.opencontainers.image.created', vars.created.toISOString());
  if (vars.version) labels.set('org.opencontainers.image.version', vars.version);
  return labels;
}

/** Azure Repos URLs carry the user name (https://org@dev.azure.com/...); a label must not. */
export function publicRepositoryUri(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  try {
    const url = new URL(uri);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return uri;
  }
}
