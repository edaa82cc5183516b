// The lab's stand-in for the Azure DevOps build results page, for the Container release tab's browser test. It serves:
// - the host page (host.html), which loads the tab in an iframe and speaks the extension SDK's XDM host protocol
//   (handshake with context and theme, services, access token, REST location);
// - the extension's files from an unpacked .vsix under /ext/ (the real bundled tab, as the Marketplace would get it);
// - the Build REST routes the tab calls (timeline, attachments by type, one attachment), from builds the test hands in,
//   which it may change while the page is open (a running build). Loopback only; every REST call needs the token.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { HostedBuild } from './build-records';

export interface TabHostOptions {
  /** The unpacked .vsix: the host serves its files under /ext/. */
  extensionRoot: string;
  /** The page's tab: the contribution's properties.uri, relative to the extension root. */
  tabUri: string;
  contributionId: string;
}

export interface TabHost {
  url: string;
  /** The page for a build: /?build=<id>&theme=light|dark[&via=configuration] (the build through onBuildChanged). */
  pageUrl(buildId: number, theme?: 'light' | 'dark', via?: 'pageData' | 'configuration'): string;
  /** Serves this build (replacing one with the same id); the page sees it on its next read. */
  setBuild(build: HostedBuild): void;
  /** Answer 404 to the attachments-by-type route, as Azure DevOps Server does for a type it does not know. */
  unknownAttachmentType: boolean;
  /** REST requests the tab made, method and path, in order. */
  requests: string[];
  close(): Promise<void>;
}

export const HOST_TOKEN = 'lab-tab-access-token';
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.json': 'application/json',
};

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

export async function startTabHost(options: TabHostOptions): Promise<TabHost> {
  const builds = new Map<number, HostedBuild>();
  const hostPage = readFileSync(path.join(__dirname, 'host.html'), 'utf8');
  let origin = '';
  const host: TabHost = {
    url: '',
    pageUrl: (buildId, theme = 'light', via = 'pageData') => `${origin}/?build=${buildId}&theme=${theme}&via=${via}`,
    setBuild: (build) => void builds.set(build.id, build),
    unknownAttachmentType: false,
    requests: [],
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const rest = (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    const m = /^\/([^/]+)\/_apis\/build\/builds\/(\d+)\/(.*)$/.exec(url.pathname);
    if (!m) return false;
    host.requests.push(`${req.method} ${url.pathname}`);
    if (req.headers.authorization !== `Bearer ${HOST_TOKEN}`) {
      json(res, 401, { message: 'TF400813: the token is missing or wrong.' });
      return true;
    }
    const project = decodeURIComponent(m[1]);
    const build = builds.get(Number(m[2]));
    if (!build || build.project !== project) {
      json(res, 404, { message: `TF215015: The build ${m[2]} could not be found.` });
      return true;
    }
    const rest = m[3].split('/').map(decodeURIComponent);
    if (rest[0].toLowerCase() === 'timeline') {
      json(res, 200, { id: build.timelineId, changeId: build.timeline.length, records: build.timeline });
      return true;
    }
    if (rest[0] === 'attachments' && rest.length === 2) {
      if (host.unknownAttachmentType) {
        json(res, 404, { message: `Attachment type ${rest[1]} is not known.` });
        return true;
      }
      const value = build.attachments
        .filter((a) => a.type === rest[1])
        .map((a) => ({
          name: a.name,
          _links: {
            self: {
              href: `${origin}/${encodeURIComponent(project)}/_apis/build/builds/${build.id}/${a.timelineId}/${a.recordId}/attachments/${encodeURIComponent(a.type)}/${encodeURIComponent(a.name)}`,
            },
          },
        }));
      // the client asks with noArrayWrap=true in its Accept header: a bare array, as the service answers it
      json(res, 200, /noArrayWrap=true/.test(req.headers.accept ?? '') ? value : { count: value.length, value });
      return true;
    }
    if (rest.length === 5 && rest[2] === 'attachments') {
      const [timelineId, recordId, , type, name] = rest;
      const found = build.attachments.find(
        (a) => a.timelineId === timelineId && a.recordId === recordId && a.type === type && a.name === name,
      );
      if (!found) json(res, 404, { message: 'The attachment could not be found.' });
      else {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(found.body);
      }
      return true;
    }
    json(res, 404, { message: `no such route: ${url.pathname}` });
    return true;
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    if (rest(req, res, url)) return;
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (url.pathname === '/') {
      const config = {
        buildId: Number(url.searchParams.get('build')),
        project: builds.get(Number(url.searchParams.get('build')))?.project ?? 'shop',
        theme: url.searchParams.get('theme') === 'dark' ? 'dark' : 'light',
        via: url.searchParams.get('via') === 'configuration' ? 'configuration' : 'pageData',
        token: HOST_TOKEN,
        contributionId: options.contributionId,
        tabUrl: `/ext/${options.tabUri}`,
      };
      res.writeHead(200, { 'content-type': CONTENT_TYPES['.html'] });
      res.end(hostPage.replace('/*CONFIG*/ null', JSON.stringify(config)));
      return;
    }
    if (url.pathname.startsWith('/ext/')) {
      const file = path.resolve(options.extensionRoot, decodeURIComponent(url.pathname.slice('/ext/'.length)));
      if (file.startsWith(path.resolve(options.extensionRoot) + path.sep) && existsSync(file) && statSync(file).isFile()) {
        res.writeHead(200, { 'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream' });
        res.end(readFileSync(file));
        return;
      }
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  host.url = origin;
  return host;
}
