// The OCI distribution API (/v2/) of the emulated registry: token check, quarantine, then the backing registry.
import type { IncomingMessage } from 'node:http';
import type { Exchange } from '../http';
import { type AcrContext, isBlocked, isDigest } from './context';
import { acrError, operationDisallowed } from './errors';
import { proxyToBacking } from './proxy';
import { backingManifest, referrersApiServes, serveReferrers, subjectOf } from './referrers';
import { hasAccess, type ResourceScope } from './scopes';

export type V2Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'manifest'; repository: string; reference: string }
  | { kind: 'blob'; repository: string; digest: string }
  | { kind: 'upload'; repository: string }
  | { kind: 'tags'; repository: string }
  | { kind: 'referrers'; repository: string; digest: string };

/** Splits a /v2 path into the resource it addresses; undefined for paths the API does not have. */
export function parseV2Route(pathname: string): V2Route | undefined {
  if (pathname === '/v2' || pathname === '/v2/') return { kind: 'base' };
  if (pathname === '/v2/_catalog') return { kind: 'catalog' };
  let match = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(pathname);
  if (match) return { kind: 'manifest', repository: decodeURIComponent(match[1]), reference: decodeURIComponent(match[2]) };
  match = /^\/v2\/(.+)\/blobs\/uploads(?:\/[^/]*)?$/.exec(pathname);
  if (match) return { kind: 'upload', repository: decodeURIComponent(match[1]) };
  match = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(pathname);
  if (match) return { kind: 'blob', repository: decodeURIComponent(match[1]), digest: decodeURIComponent(match[2]) };
  match = /^\/v2\/(.+)\/tags\/list$/.exec(pathname);
  if (match) return { kind: 'tags', repository: decodeURIComponent(match[1]) };
  match = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(pathname);
  if (match) return { kind: 'referrers', repository: decodeURIComponent(match[1]), digest: decodeURIComponent(match[2]) };
  return undefined;
}

/** The action a request needs on its repository, and the scope its challenge asks for. */
export function requiredAction(route: V2Route, method: string): { action: string; challenge: string[] } {
  const write = { action: 'push', challenge: ['pull', 'push'] };
  const read = { action: 'pull', challenge: ['pull'] };
  const remove = { action: 'delete', challenge: ['delete'] };
  if (route.kind === 'upload') return write;
  if (route.kind === 'manifest' && method === 'PUT') return write;
  if ((route.kind === 'manifest' || route.kind === 'blob') && method === 'DELETE') return remove;
  return read;
}

export class RegistryV2 {
  constructor(private readonly context: AcrContext) {}

  async handle(exchange: Exchange, registry: string): Promise<void> {
    const { req, res, url } = exchange;
    const route = parseV2Route(url.pathname);
    if (!route) return acrError(res, 404, 'NOT_FOUND', `${url.pathname} is not a registry API path.`);
    const backing = this.context.backing();
    const auth = this.context.auth;

    if (route.kind === 'base') {
      if (!auth.authorize(exchange, registry, undefined, []).ok) return;
      return proxyToBacking(exchange, backing, { pathAndQuery: '/v2/' });
    }
    if (route.kind === 'catalog') {
      const scope = { type: 'registry', name: 'catalog', actions: ['*'] };
      if (!auth.authorize(exchange, registry, scope, ['*']).ok) return;
      return proxyToBacking(exchange, backing);
    }

    const method = req.method ?? 'GET';
    const { action, challenge } = requiredAction(route, method);
    const scope: ResourceScope = { type: 'repository', name: route.repository, actions: challenge };
    const authorized = auth.authorize(exchange, registry, scope, [action]);
    if (!authorized.ok) return;
    const { principal, access } = authorized.grant;
    const policy = this.context.policies.get(registry);
    const store = this.context.store;

    switch (route.kind) {
      case 'manifest': {
        if (method === 'PUT') {
          return proxyToBacking(exchange, backing, {
            intercept: async (upstream) => {
              const digest = header(upstream, 'docker-content-digest');
              if (upstream.statusCode === 201 && digest) {
                const tag = isDigest(route.reference) ? undefined : route.reference;
                store.manifestPushed(registry, route.repository, digest, header(exchange.req, 'content-type'), tag, policy.quarantine);
                // A registry with the referrers API says it processed the subject (distribution-spec v1.1).
                if (referrersApiServes(policy, route.repository)) {
                  const pushed = await backingManifest(backing, route.repository, digest);
                  const subject = pushed && subjectOf(pushed.raw, pushed.contentType);
                  if (subject) res.setHeader('OCI-Subject', subject);
                }
              }
              return false;
            },
          });
        }
        if (method === 'DELETE') {
          return proxyToBacking(exchange, backing, {
            intercept: (upstream) => {
              if (upstream.statusCode === 202 && isDigest(route.reference))
                store.manifestDeleted(registry, route.repository, route.reference);
              return false;
            },
          });
        }
        const pusherSees = policy.pushersSeeQuarantined && auth.canPush(principal, registry, route.repository);
        if (isDigest(route.reference)) {
          const record = store.record(registry, route.repository, route.reference);
          if (isBlocked(policy, record) && !auth.quarantineReader(principal, registry, route.repository) && !pusherSees) {
            // A pusher's existence check (containerd HEADs each manifest before a push) sees nothing,
            // so pushing the same content again re-PUTs it instead of failing.
            if (method === 'HEAD' && hasAccess(access, 'repository', route.repository, 'push')) {
              return acrError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown', { Digest: route.reference });
            }
            return acrError(res, policy.disallowedStatus, 'UNKNOWN', operationDisallowed, {});
          }
          return proxyToBacking(exchange, backing);
        }
        // By tag: nobody sees a quarantined manifest through its tag (quarantine readers pull by digest),
        // unless the policy lets pushers see what they pushed.
        if (pusherSees) return proxyToBacking(exchange, backing);
        return proxyToBacking(exchange, backing, {
          intercept: (upstream) => {
            const digest = header(upstream, 'docker-content-digest');
            if (upstream.statusCode !== 200 || !digest) return false;
            if (!isBlocked(policy, store.record(registry, route.repository, digest))) return false;
            acrError(res, 404, 'MANIFEST_UNKNOWN', `manifest tagged by "${route.reference}" is not found`, { Tag: route.reference });
            return true;
          },
        });
      }
      case 'upload': {
        const from = url.searchParams.get('from');
        if (method === 'POST' && url.searchParams.has('mount') && (!from || !hasAccess(access, 'repository', from, 'pull'))) {
          // like a registry that cannot mount: a plain upload session starts instead
          const query = new URLSearchParams(url.searchParams);
          query.delete('mount');
          query.delete('from');
          const search = query.toString();
          return proxyToBacking(exchange, backing, { pathAndQuery: `${url.pathname}${search ? `?${search}` : ''}` });
        }
        return proxyToBacking(exchange, backing);
      }
      case 'tags': {
        if (!policy.quarantine || auth.quarantineReader(principal, registry, route.repository)) return proxyToBacking(exchange, backing);
        return proxyToBacking(exchange, backing, {
          intercept: async (upstream) => {
            if (upstream.statusCode !== 200) return false;
            const listing = JSON.parse((await readAll(upstream)).toString('utf8')) as { name: string; tags: string[] | null };
            listing.tags = (listing.tags ?? []).filter((tag) => {
              const digest = store.tag(registry, route.repository, tag)?.digest;
              return !digest || !isBlocked(policy, store.record(registry, route.repository, digest));
            });
            const text = JSON.stringify(listing);
            const headers: Record<string, string> = {
              'Content-Type': 'application/json',
              'Content-Length': String(Buffer.byteLength(text)),
            };
            const link = header(upstream, 'link');
            if (link) headers.Link = link;
            res.writeHead(200, headers);
            res.end(text);
            return true;
          },
        });
      }
      case 'referrers': {
        if (!referrersApiServes(policy, route.repository)) return proxyToBacking(exchange, backing);
        const candidates = store.records(registry, route.repository).map((record) => record.digest);
        return serveReferrers(exchange, backing, route.repository, route.digest, candidates);
      }
      default:
        return proxyToBacking(exchange, backing);
    }
  }
}

function header(message: IncomingMessage, name: string): string | undefined {
  const value = message.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
