// ACR's own data-plane API (/acr/v1): catalog, tags, manifest attributes and the quarantine PATCH.
import { type Exchange, readJson, sendJson } from '../http';
import { type AcrContext, isBlocked, isDigest, shownQuarantineState } from './context';
import { acrError, registryHeaders, repositoryNotFound } from './errors';
import { backingGet, manifestMediaTypes } from './proxy';
import { quarantineDetailsErrors } from './quarantineDetails';
import type { Principal } from './auth';
import type { ChangeableAttributes, ManifestRecord, QuarantineState } from './store';

export type AcrApiRoute =
  | { kind: 'catalog' }
  | { kind: 'tags'; repository: string }
  | { kind: 'tag'; repository: string; tag: string }
  | { kind: 'manifests'; repository: string }
  | { kind: 'manifest'; repository: string; digest: string }
  | { kind: 'repository'; repository: string };

export function parseAcrApiRoute(pathname: string): AcrApiRoute | undefined {
  if (pathname === '/acr/v1/_catalog') return { kind: 'catalog' };
  let match = /^\/acr\/v1\/(.+)\/_tags$/.exec(pathname);
  if (match) return { kind: 'tags', repository: decodeURIComponent(match[1]) };
  match = /^\/acr\/v1\/(.+)\/_tags\/([^/]+)$/.exec(pathname);
  if (match) return { kind: 'tag', repository: decodeURIComponent(match[1]), tag: decodeURIComponent(match[2]) };
  match = /^\/acr\/v1\/(.+)\/_manifests$/.exec(pathname);
  if (match) return { kind: 'manifests', repository: decodeURIComponent(match[1]) };
  match = /^\/acr\/v1\/(.+)\/_manifests\/([^/]+)$/.exec(pathname);
  if (match) return { kind: 'manifest', repository: decodeURIComponent(match[1]), digest: decodeURIComponent(match[2]) };
  match = /^\/acr\/v1\/([^_].*)$/.exec(pathname);
  if (match) return { kind: 'repository', repository: decodeURIComponent(match[1]) };
  return undefined;
}

/** What the backing registry's manifest (and image config) say about a digest. */
interface ManifestDescription {
  mediaType?: string;
  imageSize: number;
  architecture?: string;
  os?: string;
  configMediaType?: string;
  references?: Array<{ digest: string; architecture?: string; os?: string }>;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { architecture?: string; os?: string };
}

const imageConfigTypes = ['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json'];
const changeableBooleans = ['deleteEnabled', 'writeEnabled', 'readEnabled', 'listEnabled'] as const;
const settableStates: QuarantineState[] = ['Passed', 'Failed'];

export class AcrApi {
  /** Manifests are immutable: what was read once about a digest stays true. */
  private readonly descriptions = new Map<string, ManifestDescription>();

  constructor(private readonly context: AcrContext) {}

  async handle(exchange: Exchange, registry: string): Promise<void> {
    const { req, res, url } = exchange;
    const route = parseAcrApiRoute(url.pathname);
    if (!route) return acrError(res, 404, 'NOT_FOUND', `${url.pathname} is not an ACR API path.`);
    const method = req.method ?? 'GET';
    const write = method === 'PATCH';
    if (!(method === 'GET' || method === 'HEAD' || (write && route.kind === 'manifest'))) {
      return acrError(res, 405, 'UNSUPPORTED', `${method} is not supported on ${url.pathname} by the lab emulator.`);
    }

    if (route.kind === 'catalog') {
      const granted = this.context.auth.authorize(exchange, registry, { type: 'registry', name: 'catalog', actions: ['*'] }, ['*']);
      if (!granted.ok) return;
      return this.catalog(exchange);
    }
    // GET accepts a pull token too (the quarantine readme reads attributes with one); PATCH a push token.
    const scope = { type: 'repository', name: route.repository, actions: [write ? 'metadata_write' : 'metadata_read'] };
    const granted = this.context.auth.authorize(exchange, registry, scope, write ? ['metadata_write', 'push'] : ['metadata_read', 'pull']);
    if (!granted.ok) return;
    const principal = granted.grant.principal;

    switch (route.kind) {
      case 'tags':
        return this.tags(exchange, registry, route.repository, principal);
      case 'tag':
        return this.tag(exchange, registry, route.repository, route.tag, principal);
      case 'manifests':
        return this.manifests(exchange, registry, route.repository, principal);
      case 'repository':
        return this.repository(exchange, registry, route.repository, principal);
      case 'manifest':
        return write
          ? this.patchManifest(exchange, registry, route.repository, route.digest, principal)
          : this.getManifest(exchange, registry, route.repository, route.digest, principal);
    }
  }

  private async catalog(exchange: Exchange): Promise<void> {
    const { url, res } = exchange;
    const all: string[] = [];
    // the backing registry pages its catalog (at most 1000 a page): follow its Link headers
    for (let next: string | undefined = '/v2/_catalog?n=1000'; next;) {
      const answer = await backingGet(this.context.backing(), next);
      if (answer.status !== 200) break;
      all.push(...((JSON.parse(answer.body.toString('utf8')) as { repositories?: string[] }).repositories ?? []));
      next = /^<([^>]+)>;\s*rel="next"/.exec(String(answer.headers.link ?? ''))?.[1];
    }
    const { page, next } = paginate(all.sort(), url, (name) => name);
    sendJson(res, 200, { repositories: page }, { ...registryHeaders, ...nextLink('/acr/v1/_catalog', next, page.length, url) });
  }

  private async tags(exchange: Exchange, registry: string, repository: string, principal: Principal): Promise<void> {
    const { url, res } = exchange;
    const names = await this.tagNames(repository);
    if (!names) return acrError(res, 404, 'NAME_UNKNOWN', repositoryNotFound(repository));
    const visible = [];
    for (const name of names) {
      const attributes = await this.tagAttributes(registry, repository, name, principal);
      if (attributes) visible.push(attributes);
    }
    const digestFilter = url.searchParams.get('digest');
    const filtered = digestFilter ? visible.filter((tag) => tag.digest === digestFilter) : visible;
    const orderby = url.searchParams.get('orderby');
    if (orderby === 'timedesc') filtered.sort((a, b) => b.lastUpdateTime.localeCompare(a.lastUpdateTime));
    else if (orderby === 'timeasc') filtered.sort((a, b) => a.lastUpdateTime.localeCompare(b.lastUpdateTime));
    else filtered.sort((a, b) => a.name.localeCompare(b.name));
    const { page, next } = paginate(filtered, url, (tag) => tag.name);
    const link = nextLink(`/acr/v1/${encodeURIComponent(repository)}/_tags`, next, page.length, url);
    sendJson(res, 200, { registry, imageName: repository, tags: page }, { ...registryHeaders, ...link });
  }

  private async tag(exchange: Exchange, registry: string, repository: string, tag: string, principal: Principal): Promise<void> {
    const attributes = await this.tagAttributes(registry, repository, tag, principal);
    if (!attributes) return acrError(exchange.res, 404, 'TAG_UNKNOWN', 'the specified tag does not exist', { Tag: tag });
    sendJson(exchange.res, 200, { registry, imageName: repository, tag: attributes }, registryHeaders);
  }

  private async manifests(exchange: Exchange, registry: string, repository: string, principal: Principal): Promise<void> {
    const { url, res } = exchange;
    const names = await this.tagNames(repository);
    if (!names) return acrError(res, 404, 'NAME_UNKNOWN', repositoryNotFound(repository));
    const digests = new Set(this.context.store.records(registry, repository).map((record) => record.digest));
    for (const name of names) {
      const digest = await this.tagDigest(repository, name);
      if (digest) digests.add(digest);
    }
    const entries = [];
    for (const digest of digests) {
      const attributes = await this.manifestAttributes(registry, repository, digest, principal);
      if (attributes) entries.push(attributes);
    }
    const orderby = url.searchParams.get('orderby');
    if (orderby === 'timedesc') entries.sort((a, b) => b.lastUpdateTime.localeCompare(a.lastUpdateTime));
    else if (orderby === 'timeasc') entries.sort((a, b) => a.lastUpdateTime.localeCompare(b.lastUpdateTime));
    else entries.sort((a, b) => a.digest.localeCompare(b.digest));
    const { page, next } = paginate(entries, url, (entry) => entry.digest);
    const link = nextLink(`/acr/v1/${encodeURIComponent(repository)}/_manifests`, next, page.length, url);
    sendJson(res, 200, { registry, imageName: repository, manifests: page }, { ...registryHeaders, ...link });
  }

  /** GET /acr/v1/<repository>: the repository's attributes (2021-07-01 spec), or ACR's recorded NAME_UNKNOWN. */
  private async repository(exchange: Exchange, registry: string, repository: string, principal: Principal): Promise<void> {
    const names = await this.tagNames(repository);
    if (!names) return acrError(exchange.res, 404, 'NAME_UNKNOWN', repositoryNotFound(repository));
    const records = this.context.store.records(registry, repository);
    const times = records.map((record) => record.createdTime).sort();
    const now = new Date().toISOString();
    const visibleTags = [];
    for (const name of names) if (await this.tagAttributes(registry, repository, name, principal)) visibleTags.push(name);
    sendJson(
      exchange.res,
      200,
      {
        registry,
        imageName: repository,
        createdTime: acrTime(times[0] ?? now),
        lastUpdateTime: acrTime(times[times.length - 1] ?? now),
        manifestCount: records.length,
        tagCount: visibleTags.length,
        changeableAttributes: { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true },
      },
      registryHeaders,
    );
  }

  private async getManifest(exchange: Exchange, registry: string, repository: string, digest: string, principal: Principal): Promise<void> {
    if (!isDigest(digest))
      return acrError(exchange.res, 400, 'DIGEST_INVALID', 'provided digest did not match uploaded content', { Digest: digest });
    const attributes = await this.manifestAttributes(registry, repository, digest, principal);
    if (!attributes) return acrError(exchange.res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    sendJson(exchange.res, 200, { registry, imageName: repository, manifest: attributes }, registryHeaders);
  }

  /** PATCH body = changeable attributes; quarantineState/quarantineDetails need AcrQuarantineWriter. */
  private async patchManifest(
    exchange: Exchange,
    registry: string,
    repository: string,
    digest: string,
    principal: Principal,
  ): Promise<void> {
    const { res } = exchange;
    if (!isDigest(digest))
      return acrError(res, 400, 'DIGEST_INVALID', 'provided digest did not match uploaded content', { Digest: digest });
    let body: unknown;
    try {
      body = await readJson(exchange.req);
    } catch {
      return acrError(res, 400, 'INVALID_REQUEST', 'The request body is not valid JSON.');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return acrError(res, 400, 'INVALID_REQUEST', 'The request body must be a JSON object of changeable attributes.');
    }
    const input = body as Record<string, unknown>;
    const changes: ChangeableAttributes = {};
    for (const name of changeableBooleans) {
      if (input[name] === undefined) continue;
      if (typeof input[name] !== 'boolean') return acrError(res, 400, 'INVALID_REQUEST', `${name} must be a boolean.`);
      changes[name] = input[name] as boolean;
    }
    const touchesQuarantine = input.quarantineState !== undefined || input.quarantineDetails !== undefined;
    if (input.quarantineState !== undefined) {
      if (!settableStates.includes(input.quarantineState as QuarantineState)) {
        return acrError(res, 400, 'INVALID_REQUEST', `quarantineState must be one of ${settableStates.join(', ')}.`);
      }
      changes.quarantineState = input.quarantineState as QuarantineState;
    }
    if (input.quarantineDetails !== undefined) {
      const errors = quarantineDetailsErrors(input.quarantineDetails);
      if (errors.length > 0) {
        return acrError(
          res,
          400,
          'INVALID_REQUEST',
          `quarantineDetails does not match the quarantine details schema: ${errors.join('; ')}`,
          { errors },
        );
      }
      changes.quarantineDetails = input.quarantineDetails as string;
    }
    if (touchesQuarantine && !this.context.auth.quarantineWriter(principal, registry, repository)) {
      return acrError(res, 403, 'DENIED', 'The operation is disallowed: changing the quarantine state needs the AcrQuarantineWriter role.');
    }
    const store = this.context.store;
    const policy = this.context.policies.get(registry);
    if (
      isBlocked(policy, store.record(registry, repository, digest)) &&
      !this.context.auth.quarantineReader(principal, registry, repository)
    ) {
      return acrError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    }
    if (!(await this.describe(repository, digest))) return acrError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    store.update(registry, repository, digest, changes);
    const attributes = await this.manifestAttributes(registry, repository, digest, principal);
    sendJson(res, 200, { registry, imageName: repository, manifest: attributes }, registryHeaders);
  }

  /** Attributes of a manifest as /acr/v1 shows them; undefined when unknown or hidden from the caller. */
  private async manifestAttributes(registry: string, repository: string, digest: string, principal: Principal) {
    const store = this.context.store;
    const policy = this.context.policies.get(registry);
    const record = store.record(registry, repository, digest);
    if (isBlocked(policy, record) && !this.context.auth.quarantineReader(principal, registry, repository)) return undefined;
    const description = await this.describe(repository, digest);
    if (!description) return undefined;
    const now = new Date().toISOString();
    const attributes: Record<string, unknown> & { digest: string; lastUpdateTime: string } = {
      digest,
      imageSize: description.imageSize,
      createdTime: acrTime(record?.createdTime ?? now),
      lastUpdateTime: acrTime(record?.lastUpdateTime ?? now),
    };
    if (description.architecture) attributes.architecture = description.architecture;
    if (description.os) attributes.os = description.os;
    if (description.mediaType) attributes.mediaType = description.mediaType;
    if (description.configMediaType) attributes.configMediaType = description.configMediaType;
    if (description.references) attributes.references = description.references;
    const tags = store.tagsOf(registry, repository, digest);
    if (tags.length > 0) attributes.tags = tags; // recorded: an untagged manifest has no `tags`
    attributes.changeableAttributes = this.changeableAttributes(record, shownQuarantineState(policy, record), true);
    return attributes;
  }

  private async tagAttributes(registry: string, repository: string, tag: string, principal: Principal) {
    const digest = await this.tagDigest(repository, tag);
    if (!digest) return undefined;
    const store = this.context.store;
    const policy = this.context.policies.get(registry);
    const record = store.record(registry, repository, digest);
    if (isBlocked(policy, record) && !this.context.auth.quarantineReader(principal, registry, repository)) return undefined;
    const tagRecord = store.tag(registry, repository, tag);
    const now = new Date().toISOString();
    const state = shownQuarantineState(policy, record);
    // recorded (2021-09): a tag carries its manifest's quarantineState beside, not inside, changeableAttributes
    return {
      name: tag,
      digest,
      createdTime: acrTime(tagRecord?.createdTime ?? record?.createdTime ?? now),
      lastUpdateTime: acrTime(tagRecord?.lastUpdateTime ?? record?.lastUpdateTime ?? now),
      signed: false,
      ...(state ? { quarantineState: state } : {}),
      changeableAttributes: this.changeableAttributes(record, undefined, false),
    };
  }

  private changeableAttributes(
    record: ManifestRecord | undefined,
    state: QuarantineState | undefined,
    withDetails: boolean,
  ): Record<string, unknown> {
    const attributes: Record<string, unknown> = {
      deleteEnabled: record?.deleteEnabled ?? true,
      writeEnabled: record?.writeEnabled ?? true,
      readEnabled: record?.readEnabled ?? true,
      listEnabled: record?.listEnabled ?? true,
    };
    if (state) attributes.quarantineState = state;
    if (withDetails && record?.quarantineDetails !== undefined) attributes.quarantineDetails = record.quarantineDetails;
    return attributes;
  }

  private async tagNames(repository: string): Promise<string[] | undefined> {
    const answer = await backingGet(this.context.backing(), `/v2/${repository}/tags/list`);
    if (answer.status !== 200) return undefined;
    return (JSON.parse(answer.body.toString('utf8')) as { tags?: string[] | null }).tags ?? [];
  }

  /** The digest a tag points at now, from the backing registry. */
  private async tagDigest(repository: string, tag: string): Promise<string | undefined> {
    const answer = await backingGet(
      this.context.backing(),
      `/v2/${repository}/manifests/${encodeURIComponent(tag)}`,
      { Accept: manifestMediaTypes.join(', ') },
      'HEAD',
    );
    const digest = answer.headers['docker-content-digest'];
    return answer.status === 200 && typeof digest === 'string' ? digest : undefined;
  }

  private async describe(repository: string, digest: string): Promise<ManifestDescription | undefined> {
    const key = `${repository}@${digest}`;
    const cached = this.descriptions.get(key);
    if (cached) return cached;
    const backing = this.context.backing();
    const answer = await backingGet(backing, `/v2/${repository}/manifests/${digest}`, { Accept: manifestMediaTypes.join(', ') });
    if (answer.status !== 200) return undefined;
    const manifest = JSON.parse(answer.body.toString('utf8')) as {
      mediaType?: string;
      manifests?: Descriptor[];
      config?: Descriptor;
      layers?: Descriptor[];
    };
    const mediaType = manifest.mediaType ?? (answer.headers['content-type'] as string | undefined);
    let description: ManifestDescription;
    if (Array.isArray(manifest.manifests)) {
      description = {
        mediaType,
        imageSize: manifest.manifests.reduce((sum, child) => sum + (child.size ?? 0), 0),
        references: manifest.manifests.map((child) => ({
          digest: child.digest,
          architecture: child.platform?.architecture,
          os: child.platform?.os,
        })),
      };
    } else {
      description = {
        mediaType,
        imageSize: (manifest.config?.size ?? 0) + (manifest.layers ?? []).reduce((sum, layer) => sum + (layer.size ?? 0), 0),
        configMediaType: manifest.config?.mediaType,
      };
      if (manifest.config && imageConfigTypes.includes(manifest.config.mediaType ?? '')) {
        const config = await backingGet(backing, `/v2/${repository}/blobs/${manifest.config.digest}`);
        if (config.status === 200) {
          const parsed = JSON.parse(config.body.toString('utf8')) as { architecture?: string; os?: string };
          description.architecture = parsed.architecture;
          description.os = parsed.os;
        }
      }
    }
    if (this.descriptions.size > 5000) this.descriptions.clear();
    this.descriptions.set(key, description);
    return description;
  }
}

/** `n` (page size, default 100) and `last` (the key after which the page starts), as ACR pages. */
function paginate<T>(items: T[], url: URL, keyOf: (item: T) => string): { page: T[]; next?: string } {
  const size = Math.max(1, Math.min(Number(url.searchParams.get('n') ?? 100) || 100, 1000));
  const last = url.searchParams.get('last');
  const start = last ? items.findIndex((item) => keyOf(item) === last) + 1 : 0;
  const page = items.slice(start, start + size);
  const more = start + size < items.length;
  return { page, next: more && page.length > 0 ? keyOf(page[page.length - 1]) : undefined };
}

/**
 * The `Link` of a page with more after it, as live ACR writes it (recorded 2021-09): the repository URL-encoded
 * (`library%2Fhello-world`), `last`, `n` and always `orderby` (empty when none was asked for).
 */
function nextLink(pathname: string, next: string | undefined, size: number, url: URL): Record<string, string> {
  if (next === undefined) return {};
  const orderby = url.searchParams.get('orderby') ?? '';
  return { Link: `<${pathname}?last=${encodeURIComponent(next)}&n=${size}&orderby=${encodeURIComponent(orderby)}>; rel="next"` };
}

/** ACR's timestamps: seven fractional digits and Z (recorded `2021-05-28T17:15:15.4118286Z`). */
export function acrTime(iso: string): string {
  return iso.replace(/\.(\d{1,7})Z$/, (_, digits: string) => `.${digits.padEnd(7, '0')}Z`).replace(/:(\d\d)Z$/, ':$1.0000000Z');
}
