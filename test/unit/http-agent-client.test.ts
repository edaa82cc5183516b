// The agent's network: the proxy decision (bypass list as task-lib reads it), what child processes are told, and the
// CONNECT-tunnel client against an in-process proxy and HTTPS server (a CA and client certificate of its own).
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { ProxyError, agentHttpClient, agentStreamClient } from '../../src/http/agent-client';
import { httpRetryDecision } from '../../src/http/client';
import { childProxyEnv, describeProxy, noProxyEntries, proxyFor, proxySecrets, type AgentNetwork } from '../../src/http/proxy';
import { readAll } from '../../src/registry/transport';

const fixtures = path.join(__dirname, 'fixtures', 'tls');
const fixture = (name: string) => path.join(fixtures, name);

describe('agent proxy settings', () => {
  const network: AgentNetwork = {
    proxy: {
      url: 'http://proxy.corp:3128',
      username: 'svc-build',
      password: 'p@ss:w/rd',
      bypass: ['login\\.lab\\.test', '^https?://.*\\.internal\\.corp'],
    },
  };

  it('bypasses a URL any entry matches, case-insensitively, as task-lib does', () => {
    assert.equal(proxyFor(network, 'https://LOGIN.lab.test/tenant/oauth2/v2.0/token'), undefined);
    assert.equal(proxyFor(network, 'https://registry.internal.corp/v2/'), undefined);
    assert.equal(proxyFor(network, 'https://contoso.azurecr.io/v2/')?.url, 'http://proxy.corp:3128');
    assert.equal(proxyFor({}, 'https://contoso.azurecr.io/v2/'), undefined);
    // an expression task-lib could not compile bypasses nothing here
    assert.ok(proxyFor({ proxy: { url: 'http://p:1', bypass: ['(['] } }, 'https://x.test/'));
  });

  it('names the proxy without its credentials', () => {
    assert.equal(describeProxy({ url: 'http://user:secret@proxy.corp:3128/' }), 'http://proxy.corp:3128');
  });

  it('turns host-like bypass expressions into NO_PROXY entries and sets the rest apart', () => {
    const table: [string, string | undefined][] = [
      ['github\\.com', 'github.com'],
      ['^https?://10\\.1\\.2\\.3$', '10.1.2.3'],
      ['.*\\.corp\\.example', '.corp.example'],
      ['(https?://)?registry\\.local:5000', 'registry.local:5000'],
      ['https://dev\\.azure\\.com/.*', 'dev.azure.com'],
      ['.*', undefined],
      ['^(foo|bar)\\.com$', undefined],
    ];
    for (const [entry, host] of table) {
      const { hosts, untranslatable } = noProxyEntries([entry]);
      if (host) assert.deepEqual(hosts, [host], entry);
      else assert.deepEqual(untranslatable, [entry], entry);
    }
  });

  it("hands children HTTPS_PROXY with encoded credentials, NO_PROXY merged with the job's, SSL_CERT_FILE", () => {
    const env = childProxyEnv(network, { NO_PROXY: 'localhost,127.0.0.1', DOCKER_HOST: 'tcp://docker:2376' }, '/agent/ca.pem');
    assert.equal(env.HTTPS_PROXY, 'http://svc-build:p%40ss%3Aw%2Frd@proxy.corp:3128');
    assert.equal(env.http_proxy, env.HTTPS_PROXY);
    assert.equal(env.NO_PROXY, 'localhost,127.0.0.1,docker,login.lab.test,.internal.corp');
    assert.equal(env.SSL_CERT_FILE, '/agent/ca.pem');
    assert.deepEqual(childProxyEnv(undefined, {}), {});
  });

  it('registers every form of the password as a secret', () => {
    const secrets = proxySecrets(network);
    assert.ok(secrets.includes('p@ss:w/rd'));
    assert.ok(secrets.includes('p%40ss%3Aw%2Frd'));
    assert.ok(secrets.includes(Buffer.from('svc-build:p@ss:w/rd').toString('base64')));
  });
});

interface ProxyLog {
  method: string;
  target: string;
  authorization?: string;
}

/** A CONNECT proxy like tinyproxy: Basic credentials, a filter, and target.test resolved to the loopback server. */
function startProxy(options: { credentials?: string; refuse?: string[]; targetPort: () => number }) {
  const log: ProxyLog[] = [];
  const server = http.createServer((request, response) => {
    log.push({ method: request.method ?? '', target: request.url ?? '', authorization: request.headers['proxy-authorization'] });
    const url = new URL(request.url ?? '');
    if (options.refuse?.includes(url.hostname)) {
      response.writeHead(403, 'Filtered', { server: 'tinyproxy/1.11.1' }).end();
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: Number(url.port), path: url.pathname, method: request.method, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    request.pipe(upstream);
  });
  server.on('connect', (request: http.IncomingMessage, socket: net.Socket) => {
    const authorization = request.headers['proxy-authorization'];
    log.push({ method: 'CONNECT', target: request.url ?? '', authorization });
    const [host] = (request.url ?? '').split(':');
    if (options.credentials && authorization !== `Basic ${Buffer.from(options.credentials).toString('base64')}`) {
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="proxy"\r\n\r\n');
      return;
    }
    if (options.refuse?.includes(host)) {
      socket.end('HTTP/1.1 403 Filtered\r\nServer: tinyproxy/1.11.1\r\n\r\n');
      return;
    }
    const upstream = net.connect(options.targetPort(), '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  return { server, log };
}

/** Every socket a server accepted (a CONNECT tunnel leaves the server's own bookkeeping), destroyed on close. */
const sockets = new Map<net.Server, Set<net.Socket>>();
const listen = (server: net.Server): Promise<number> => {
  const open = new Set<net.Socket>();
  sockets.set(server, open);
  server.on('connection', (socket: net.Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
};
const close = (server: net.Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    for (const socket of sockets.get(server) ?? []) socket.destroy();
  });

describe('HTTP through the agent proxy (CONNECT tunnel)', () => {
  let targetPort = 0;
  let proxyPort = 0;
  let plainPort = 0;
  const seen: { path: string; authorization?: string; clientCert?: string }[] = [];
  const target = https.createServer(
    {
      cert: readFileSync(fixture('server.crt')),
      key: readFileSync(fixture('server.key')),
      ca: readFileSync(fixture('ca.crt')),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (request, response) => {
      const peer = (request.socket as import('node:tls').TLSSocket).getPeerCertificate();
      seen.push({ path: request.url ?? '', authorization: request.headers.authorization, clientCert: String(peer?.subject?.CN) });
      if (request.url === '/redirect') {
        response.writeHead(307, { location: 'https://target.test:' + targetPort + '/v2/' }).end();
        return;
      }
      if (request.url === '/elsewhere') {
        response.writeHead(302, { location: 'http://plain.test:' + plainPort + '/blob' }).end();
        return;
      }
      response.setHeader('www-authenticate', 'Bearer realm="a"');
      response.appendHeader('www-authenticate', 'Basic realm="b"');
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: request.url }));
    },
  );
  const plain = http.createServer((request, response) => {
    seen.push({ path: `plain${request.url}`, authorization: request.headers.authorization });
    response.writeHead(200).end('plain body');
  });
  const { server: proxy, log } = startProxy({ credentials: 'svc-build:p@ss', refuse: ['blocked.test'], targetPort: () => targetPort });
  const network = (): AgentNetwork => ({
    proxy: { url: `http://127.0.0.1:${proxyPort}`, username: 'svc-build', password: 'p@ss', bypass: [] },
    cert: { caFile: fixture('ca.crt'), certFile: fixture('client.crt'), keyFile: fixture('client.key') },
  });

  before(async () => {
    targetPort = await listen(target);
    proxyPort = await listen(proxy);
    plainPort = await listen(plain);
  });
  after(async () => {
    await Promise.all([close(target), close(proxy), close(plain)]);
  });
  beforeEach(() => {
    log.length = 0;
    seen.length = 0;
  });

  it('tunnels https through CONNECT with the credentials, trusts Agent.CAInfo and presents the client certificate', async () => {
    const response = await agentHttpClient(network())({
      method: 'GET',
      url: `https://target.test:${targetPort}/v2/`,
      headers: { authorization: 'Bearer t' },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(response.json(), { path: '/v2/' });
    assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="a", Basic realm="b"');
    assert.deepEqual(log, [
      {
        method: 'CONNECT',
        target: `target.test:${targetPort}`,
        authorization: `Basic ${Buffer.from('svc-build:p@ss').toString('base64')}`,
      },
    ]);
    assert.deepEqual(seen, [{ path: '/v2/', authorization: 'Bearer t', clientCert: 'agent client' }]);
  });

  it('follows redirects, keeping Authorization on its origin only, and sends plain http to the proxy in absolute form', async () => {
    const client = agentHttpClient(network());
    const same = await client({ method: 'GET', url: `https://target.test:${targetPort}/redirect`, headers: { Authorization: 'Bearer t' } });
    assert.equal(same.status, 200);
    assert.equal(seen[1].authorization, 'Bearer t');
    seen.length = 0;
    log.length = 0;
    const other = await client({
      method: 'GET',
      url: `https://target.test:${targetPort}/elsewhere`,
      headers: { Authorization: 'Bearer t' },
    });
    assert.equal(other.text(), 'plain body');
    assert.equal(seen[1].path, 'plain/blob');
    assert.equal(seen[1].authorization, undefined);
    assert.equal(log[1].method, 'GET');
    assert.equal(log[1].target, `http://plain.test:${plainPort}/blob`);
  });

  it('streams without following redirects', async () => {
    const response = await agentStreamClient(network())({ method: 'GET', url: `https://target.test:${targetPort}/redirect` });
    assert.equal(response.status, 307);
    await readAll(response.body);
    assert.equal(seen.length, 1);
  });

  it('goes direct for a bypassed URL', async () => {
    const bypassing: AgentNetwork = { ...network(), proxy: { ...network().proxy!, bypass: ['plain\\.test'] } };
    // plain.test does not resolve: only the proxy knows it, so a direct request must fail to resolve it
    await assert.rejects(
      agentHttpClient(bypassing)({ method: 'GET', url: `http://plain.test:${plainPort}/` }),
      /ENOTFOUND|EAI_AGAIN|getaddrinfo/,
    );
    assert.equal(log.length, 0);
  });

  it('fails with the proxy and the host named when the proxy refuses the host, and does not retry it', async () => {
    const error = await agentHttpClient(network())({ method: 'GET', url: 'https://blocked.test/v2/' }).then(
      () => assert.fail('the request went through'),
      (e: unknown) => e as ProxyError,
    );
    assert.ok(error instanceof ProxyError);
    assert.match(
      error.message,
      new RegExp(`proxy http://127\\.0\\.0\\.1:${proxyPort} refused the connection to blocked\\.test:443 \\(403 Filtered\\)`),
    );
    assert.equal(httpRetryDecision(error), false);
    const plainRefusal = await agentHttpClient(network())({ method: 'GET', url: 'http://blocked.test/x' }).catch((e: Error) => e);
    assert.match(String(plainRefusal), /refused the connection to blocked\.test \(403 Filtered\)/);
  });

  it('says the proxy wants credentials (407) without printing them', async () => {
    const wrong: AgentNetwork = { ...network(), proxy: { ...network().proxy!, password: 'not-it' } };
    const error = await agentHttpClient(wrong)({ method: 'GET', url: `https://target.test:${targetPort}/v2/` }).catch((e: Error) => e);
    assert.match(
      String(error),
      /refused the connection to target\.test:\d+ \(407 Proxy Authentication Required\): it asks for credentials/,
    );
    assert.doesNotMatch(String(error), /not-it|svc-build/);
  });

  it('names the proxy when nothing answers there', async () => {
    // a port nothing listens on: one that was just closed
    const probe = net.createServer();
    const port = await listen(probe);
    await close(probe);
    const error = await agentHttpClient({ proxy: { url: `http://127.0.0.1:${port}`, bypass: [] } })({
      method: 'GET',
      url: 'https://target.test/',
    }).catch((e: Error) => e);
    assert.match(
      String(error),
      new RegExp(
        `The agent's proxy http://127\\.0\\.0\\.1:${port} could not be reached to connect to target\\.test:443 \\(ECONNREFUSED\\)`,
      ),
    );
  });
});
