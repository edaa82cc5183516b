// A loopback server that answers from recorded exchanges with live ACR, for pointing the project's own clients at
// real responses. Each request takes the next unused recorded answer with the same method and path (the path
// compared decoded: our clients write `team/app` where the SDKs wrote `team%2Fapp`). The clients reach it through
// `client()`, an HttpClient that sends `https://<recorded host>/...` to the server over plain HTTP on loopback.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchClient, type HttpClient } from '../../src/http/client';
import type { RecordedExchange } from './recordings';

export interface ReceivedRequest {
  method: string;
  path: string;
  host: string;
  authorization?: string;
  body: string;
  /** The recorded exchange that answered it (undefined: none matched, answered 599). */
  answeredBy?: RecordedExchange;
}

/** Headers a server sets by itself (the recorded values describe the recorded transfer, not ours). */
const transferHeaders = new Set(['content-length', 'transfer-encoding', 'connection', 'date', 'keep-alive']);

export class RecordingServer {
  readonly received: ReceivedRequest[] = [];
  private readonly used = new Set<RecordedExchange>();
  private server?: Server;
  private port = 0;

  constructor(private readonly exchanges: RecordedExchange[]) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://recording');
        const host = String(req.headers['x-recorded-host'] ?? '');
        const received: ReceivedRequest = {
          method: req.method ?? 'GET',
          path: `${url.pathname}${url.search}`,
          host,
          authorization: req.headers.authorization,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.received.push(received);
        const match = this.exchanges.find(
          (exchange) =>
            !this.used.has(exchange) &&
            exchange.method === received.method &&
            decodeURIComponent(exchange.url.pathname) === decodeURIComponent(url.pathname),
        );
        if (!match) {
          res.writeHead(599, { 'Content-Type': 'text/plain' });
          res.end(`no recorded answer for ${received.method} ${received.path}`);
          return;
        }
        this.used.add(match);
        received.answeredBy = match;
        for (const [name, value] of match.headers) if (!transferHeaders.has(name.toLowerCase())) res.appendHeader(name, value);
        res.statusCode = match.status;
        res.end(match.body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** The project's fetch client, with every https://<host> sent here (the host kept in X-Recorded-Host). */
  client(): HttpClient {
    return async (request) => {
      const target = new URL(request.url);
      const response = await fetchClient({
        ...request,
        url: `http://127.0.0.1:${this.port}${target.pathname}${target.search}`,
        headers: { ...request.headers, 'X-Recorded-Host': target.host },
      });
      return { ...response, url: request.url };
    };
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
