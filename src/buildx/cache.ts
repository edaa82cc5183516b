// The registry cache on an ACR whose quarantine policy is on. The cache image that `--cache-to type=registry` pushes
// is quarantined like any other manifest, and a quarantined manifest is invisible through its tag to every identity
// (quarantine readers read by digest). BuildKit imports a registry cache by the tag it is given, so the next build
// silently misses. What this does instead, releasing nothing:
// - before the build: when the cache tag does not resolve on /v2, ask ACR's own API (/acr/v1/<repo>/_tags/<tag>),
//   which shows a quarantined tag to AcrQuarantineReader; found, BuildKit imports the cache by that digest;
// - after the push: when the cache this build pushed cannot be seen by its tag, nor through /acr/v1, warn that the
//   next build will miss it and name the role that fixes it.
// The cache image is never released from quarantine: a cache is build input, not something a scanner judged.
import { AcrClient } from '../acr/client';
import type { TaskContext } from '../context';
import { RegistryClient, RegistryError } from '../registry/client';
import type { RegistryCredentials } from '../registry/credentials';
import type { BuildRequest } from './command';

/** The parts of a cache reference `<registry>/<repository>:<tag>` (parseCacheRef made sure of the shape). */
export function splitCacheRef(ref: string): { registry: string; repository: string; tag: string } | undefined {
  const match = /^([^/]+)\/(.+):([^:/@]+)$/.exec(ref);
  return match ? { registry: match[1], repository: match[2], tag: match[3] } : undefined;
}

type CacheContext = Pick<TaskContext, 'logger' | 'http'> & { credentials: RegistryCredentials | undefined };

/** What the task may look at: the registry cache, in the registry it signed in to. */
function cacheTarget(request: BuildRequest, context: CacheContext) {
  if (request.cache !== 'registry' || !context.credentials) return undefined;
  const ref = splitCacheRef(request.cacheRef);
  if (!ref || ref.registry !== request.registry) return undefined;
  const registry = new RegistryClient({ registry: ref.registry, credentials: context.credentials, http: context.http });
  const acr = new AcrClient({
    registry: ref.registry,
    credentials: context.credentials,
    http: context.http,
    authenticator: registry.authenticator,
  });
  return { ...ref, registry, acr };
}

type Seen = { kind: 'tag' } | { kind: 'quarantined'; digest: string; state?: string } | { kind: 'none' } | { kind: 'unknown'; why: string };

/** Whether the cache tag can be read as BuildKit reads it (by tag), or only by digest through /acr/v1, or not at all. */
async function lookUp(target: NonNullable<ReturnType<typeof cacheTarget>>): Promise<Seen> {
  try {
    if (await target.registry.headManifest(target.repository, target.tag)) return { kind: 'tag' };
  } catch (error) {
    return { kind: 'unknown', why: (error as Error).message };
  }
  try {
    const attributes = await target.acr.getTagAttributes(target.repository, target.tag);
    return { kind: 'quarantined', digest: attributes.tag.digest, state: attributes.tag.changeableAttributes?.quarantineState };
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return { kind: 'none' };
    return { kind: 'unknown', why: (error as Error).message };
  }
}

/**
 * Before the build: the reference `--cache-from` should read. Undefined keeps the cache tag (it resolves, or there is
 * nothing to find); a digest reference when the tag is hidden by quarantine and /acr/v1 shows this identity its digest.
 */
export async function registryCacheSource(request: BuildRequest, context: CacheContext): Promise<string | undefined> {
  const target = cacheTarget(request, context);
  if (!target) return undefined;
  const seen = await lookUp(target);
  if (seen.kind !== 'quarantined') return undefined;
  const byDigest = `${request.registry}/${target.repository}@${seen.digest}`;
  context.logger.info(
    `The cache image ${request.cacheRef} is in quarantine (quarantineState ${seen.state ?? 'not shown on the tag'}), so its tag does not resolve; ` +
      `importing it by digest: ${byDigest} (readable with AcrQuarantineReader; nothing is released).`,
  );
  return byDigest;
}

/**
 * After the push: when the cache this build exported can be read neither by its tag nor by digest through /acr/v1,
 * the next build will miss it; returns the warning that says so and how to fix it.
 */
export async function unreadableCacheWarning(request: BuildRequest, context: CacheContext): Promise<string | undefined> {
  const target = cacheTarget(request, context);
  if (!target) return undefined;
  const seen = await lookUp(target);
  if (seen.kind === 'quarantined') {
    context.logger.info(`The cache image ${request.cacheRef} is in quarantine; the next build imports it by digest (${seen.digest}).`);
    return undefined;
  }
  if (seen.kind !== 'none') return undefined;
  return (
    `The build cache this build pushed to ${request.cacheRef} is hidden by ${request.registry}'s quarantine from the build's identity, so the next build cannot read it and runs every step again. ` +
    `Fix: give the build's identity AcrQuarantineReader on ${request.registry} (the task then imports the cache by digest; nothing is released), ` +
    `or set cacheRef to a registry without quarantine, or cache: inline.`
  );
}
