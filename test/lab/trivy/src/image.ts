// Finding the image the way trivy does (pkg/fanal/image/image.go): try each --image-src in order
// (docker, containerd, podman, remote), collect every failure, and name the reference in the final error.
// The remote source really fetches the manifest (following an index to the platform) and the config blob,
// trying each credential like trivy's pkg/remote (401 -> next credential, anything else -> fail).
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineError, GoError, MultiError, goQuote, goQuoteList } from './go';
import type { HttpSettings } from './net';
import { type Reference, parseReference, referenceName, repositoryName } from './reference';
import { type Auth, RegistryClient, TransportError, sha256Digest } from './registry';
import type { Layer } from './types';

export interface ResolvedImage {
  reference: Reference;
  /** config digest (trivy's ImageID and ArtifactID) */
  imageId: string;
  repoTags: string[];
  repoDigests: string[];
  diffIds: string[];
  layers: Layer[];
  size: number;
  config: Record<string, unknown>;
  labels: Record<string, string>;
}

export interface Credentials {
  username: string;
  password: string;
}

export interface ImageOptions {
  sources: string[];
  platform?: { os: string; architecture: string; variant?: string };
  credentials: Credentials[];
  http: HttpSettings;
  env: NodeJS.ProcessEnv;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

interface Manifest {
  mediaType?: string;
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

const indexTypes = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

export function parsePlatform(text: string): { os: string; architecture: string; variant?: string } {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new GoError(`unable to parse platform: ${goQuote(text)}`);
  }
  return { os: parts[0], architecture: parts[1], variant: parts[2] };
}

/** Credentials in the order trivy tries them: flags/env pairs, then the docker config keychain (or anonymous). */
export function authAttempts(ref: Reference, options: Pick<ImageOptions, 'credentials' | 'env'>): Auth[] {
  return [...options.credentials, keychainAuth(ref.registry, options.env)];
}

/** authn.DefaultKeychain: $DOCKER_CONFIG/config.json or ~/.docker/config.json, "auth" entries (no credential helpers). */
export function keychainAuth(registry: string, env: NodeJS.ProcessEnv): Auth {
  const file = path.join(env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), '.docker'), 'config.json');
  let config: { auths?: Record<string, { auth?: string }> };
  try {
    config = JSON.parse(readFileSync(file, 'utf8')) as typeof config;
  } catch {
    return undefined;
  }
  for (const key of [registry, `https://${registry}`]) {
    const decoded = Buffer.from(config.auths?.[key]?.auth ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

function pickChild(index: Manifest, platform: { os: string; architecture: string; variant?: string }, name: string): Descriptor {
  const child = (index.manifests ?? []).find(
    (d) =>
      d.platform?.os === platform.os &&
      d.platform?.architecture === platform.architecture &&
      (!platform.variant || d.platform?.variant === platform.variant),
  );
  if (!child) {
    const wanted = [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
    throw new GoError(`no child with platform ${wanted} in index ${name}`);
  }
  return child;
}

async function fetchWithAuth(ref: Reference, auth: Auth, options: ImageOptions): Promise<ResolvedImage> {
  const client = new RegistryClient(ref.registry, ref.repository, auth, options.http);
  await client.ping();
  const name = referenceName(ref);
  const top = await client.manifest(ref.digest ?? (ref.tag as string), name);
  let manifestBody = top.body;
  let mediaType = top.mediaType;
  if (indexTypes.has(mediaType)) {
    const index = JSON.parse(top.body.toString('utf8')) as Manifest;
    const child = pickChild(index, options.platform ?? { os: 'linux', architecture: 'amd64' }, name);
    const fetched = await client.manifest(child.digest, `${repositoryName(ref)}@${child.digest}`);
    manifestBody = fetched.body;
    mediaType = fetched.mediaType;
  }
  const manifest = JSON.parse(manifestBody.toString('utf8')) as Manifest;
  if (!manifest.config?.digest) throw new GoError(`unsupported manifest media type ${goQuote(mediaType)} for ${name}`);
  const configBlob = await client.blob(manifest.config.digest);
  const config = JSON.parse(configBlob.toString('utf8')) as Record<string, unknown>;
  const rootfs = (config.rootfs ?? {}) as { diff_ids?: string[] };
  const diffIds = rootfs.diff_ids ?? [];
  const layers = (manifest.layers ?? []).map((layer, i) => ({ Size: layer.size ?? 0, Digest: layer.digest, DiffID: diffIds[i] }));
  const labels = (((config.config ?? {}) as { Labels?: Record<string, string> }).Labels ?? {}) as Record<string, string>;
  return {
    reference: ref,
    imageId: manifest.config.digest,
    repoTags: ref.digest ? [] : [`${repositoryName(ref)}:${ref.tag}`],
    // The digest of what the reference resolved to: the index for a multi-platform image (trivy's remoteImage.RepoDigests).
    repoDigests: [`${repositoryName(ref)}@${top.digest}`],
    diffIds,
    layers,
    size: layers.reduce((sum, layer) => sum + (layer.Size ?? 0), 0),
    config,
    labels,
  };
}

/** pkg/remote.Get: each credential in turn; a 401 moves on to the next one, any other failure ends the attempt. */
export async function fetchRemote(ref: Reference, options: ImageOptions): Promise<ResolvedImage> {
  let errors: MultiError | undefined;
  for (const auth of authAttempts(ref, options)) {
    try {
      return await fetchWithAuth(ref, auth, options);
    } catch (error) {
      if (error instanceof TransportError && error.status === 401) {
        errors = MultiError.append(errors, error);
        continue;
      }
      throw error;
    }
  }
  throw errors ?? new GoError('no authentication method succeeded');
}

interface DockerInspect {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Size?: number;
  Os?: string;
  Architecture?: string;
  Variant?: string;
  Created?: string;
  Config?: { Labels?: Record<string, string> | null; [key: string]: unknown };
  RootFS?: { Type?: string; Layers?: string[] };
}

function dockerSocket(options: ImageOptions): string {
  return (options.env.DOCKER_HOST || 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '');
}

/** The docker daemon source: the image as the local engine has it (no registry involved). */
async function fromDocker(imageName: string, ref: Reference, options: ImageOptions): Promise<ResolvedImage> {
  const socketPath = dockerSocket(options);
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = http.get(
      { socketPath, path: `/images/${encodeURIComponent(imageName)}/json`, signal: options.http.signal },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on('error', reject);
  }).catch((error: NodeJS.ErrnoException) => {
    if (options.http.signal.aborted) throw new GoError('context deadline exceeded', new DeadlineError());
    throw new GoError(
      `unable to inspect the image (${imageName}): Cannot connect to the Docker daemon at unix://${socketPath}. Is the docker daemon running?`,
      error,
    );
  });
  if (answer.status !== 200) {
    let message = answer.body.trim();
    try {
      message = (JSON.parse(answer.body) as { message?: string }).message ?? message;
    } catch {
      // plain text answer
    }
    throw new GoError(`unable to inspect the image (${imageName}): Error response from daemon: ${message}`);
  }
  const inspect = JSON.parse(answer.body) as DockerInspect;
  const diffIds = inspect.RootFS?.Layers ?? [];
  const config: Record<string, unknown> = {
    architecture: inspect.Architecture,
    created: inspect.Created,
    os: inspect.Os,
    rootfs: { type: inspect.RootFS?.Type ?? 'layers', diff_ids: diffIds },
    config: inspect.Config ?? {},
  };
  return {
    reference: ref,
    imageId: inspect.Id,
    repoTags: inspect.RepoTags ?? [],
    repoDigests: inspect.RepoDigests ?? [],
    diffIds,
    layers: diffIds.map((diffId) => ({ DiffID: diffId })),
    size: inspect.Size ?? 0,
    config,
    labels: inspect.Config?.Labels ?? {},
  };
}

/**
 * containerd and podman: the stand-in does not speak their APIs. Docker's own images live in containerd's "moby"
 * namespace, not trivy's "default", so "not found" is what trivy sees there too.
 */
function notThere(source: string, imageName: string): never {
  throw new GoError(`unable to get the image (${imageName}) from ${source}: not found (the lab stand-in does not speak its API)`);
}

/** NewContainerImage: the first source that has the image wins; otherwise every failure is reported. */
export async function findImage(imageName: string, options: ImageOptions): Promise<ResolvedImage> {
  let ref: Reference;
  try {
    ref = parseReference(imageName);
  } catch (error) {
    throw new GoError(`failed to parse the image name: ${(error as Error).message}`, error);
  }
  let errors: MultiError | undefined;
  for (const source of options.sources) {
    try {
      if (source === 'docker') return await fromDocker(imageName, ref, options);
      if (source === 'remote') return await fetchRemote(ref, options);
      notThere(source, imageName);
    } catch (error) {
      errors = MultiError.append(errors, MultiError.prefix(error as Error, `${source} error:`));
      if (options.http.signal.aborted) break;
    }
  }
  throw new GoError(
    `unable to find the specified image ${goQuote(imageName)} in ${goQuoteList(options.sources)}: ${errors?.message ?? ''}`,
    errors,
  );
}

/** A digest that is certainly not the image's (for lab.trivy.behaviour=wrong-digest). */
export function otherDigest(digest: string): string {
  return sha256Digest(Buffer.from(`lab-wrong-digest:${digest}`));
}
