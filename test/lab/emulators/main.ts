// The emulators of Azure in the lab, one light Node process:
//   https://<every lab name>:443  ACR (per registry), Entra ID, Azure DevOps, the releases server (routed by Host)
//   http://127.0.0.1:8090         IMDS (managed identity)
//   http://127.0.0.1:8089/_lab/   control API (faults, audit, reset, policy, quarantine records, health)
// Started by `npm run lab:up` as `node --require tsx/cjs test/lab/emulators/main.ts`; see README.md here.
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import * as path from 'node:path';
import { AcrEmulator } from './acr';
import { acrError } from './acr/errors';
import { ARM_HOST, AcrTasksEmulator } from './acr-tasks';
import { LabConfig } from './config';
import { ControlApi } from './control';
import { DevOpsEmulator, federatedCredentialsFor } from './devops';
import { EntraEmulator } from './entra';
import { AuditLog, type Fault, FaultTable } from './faults';
import { auditQuery, BodyTooLargeError, type Exchange, requestHost, sendJson } from './http';
import { ImdsEmulator } from './imds';
import { loadOrCreateSigningKey } from './keys';
import { ReleasesServer } from './releases';

type Service = 'acr' | 'entra' | 'devops' | 'releases' | 'imds' | 'arm';

function portOf(url: string | undefined, fallback: number): number {
  try {
    return Number(new URL(url ?? '').port) || fallback;
  } catch {
    return fallback;
  }
}

function hostOf(url: string | undefined, fallback: string): string {
  try {
    return new URL(url ?? '').host.toLowerCase() || fallback;
  } catch {
    return fallback;
  }
}

/** One line per event on stdout, which lab:up sends to .lab/logs/emulators.log. Never given secrets. */
function logLine(message: string): void {
  process.stdout.write(`${new Date().toISOString()} ${message}\n`);
}

function main(): void {
  const config = new LabConfig();
  const startedAt = new Date().toISOString();
  const stateDir = config.stateDir;

  const devops = new DevOpsEmulator(config, loadOrCreateSigningKey(stateDir, 'devops'));
  const entra = new EntraEmulator(config, loadOrCreateSigningKey(stateDir, 'entra'), {
    federatedCredentials: (identity) => federatedCredentialsFor(config.lab, identity),
    trustedIssuers: () => [devops.trustedIssuer()],
  });
  const acr = new AcrEmulator(config, loadOrCreateSigningKey(stateDir, 'acr'), entra);
  const imds = new ImdsEmulator(config, entra);
  const acrTasks = new AcrTasksEmulator(config, entra, acr.policies);
  const releases = new ReleasesServer(config);
  const faults = new FaultTable();
  const audit = new AuditLog();

  const lab = () => config.lab;
  const imdsPort = portOf(lab().managedIdentityEndpoint, 8090);
  const controlPort = portOf(lab().control, 8089);

  function serviceFor(host: string): Service | undefined {
    if (config.registryNames().includes(host)) return 'acr';
    if (host === hostOf(config.authorityHost, 'login.lab.test')) return 'entra';
    if (host === hostOf(lab().azureDevOps?.collectionUri, 'dev.azure.lab.test')) return 'devops';
    if (host === hostOf(lab().releasesBaseUrl, 'releases.lab.test')) return 'releases';
    if (host === ARM_HOST) return 'arm';
    return undefined;
  }

  const emulatedHosts = () => [
    ...config.registryNames(),
    hostOf(config.authorityHost, 'login.lab.test'),
    hostOf(lab().azureDevOps?.collectionUri, 'dev.azure.lab.test'),
    hostOf(lab().releasesBaseUrl, 'releases.lab.test'),
    `127.0.0.1:${imdsPort}`,
    ARM_HOST,
  ];

  const control = new ControlApi({ config, faults, audit, acr, acrTasks, startedAt, hosts: emulatedHosts });

  async function serveEmulated(req: IncomingMessage, res: ServerResponse, imdsServer: boolean): Promise<void> {
    const host = imdsServer ? `127.0.0.1:${imdsPort}` : requestHost(req);
    const url = new URL(req.url ?? '/', `https://${host}`);
    const exchange: Exchange = { req, res, url, host };
    const method = req.method ?? 'GET';
    const fault = faults.take(host, method, url.pathname);

    res.once('close', () => {
      const entry = audit.add({
        time: new Date().toISOString(),
        host,
        method,
        path: url.pathname,
        query: auditQuery(url),
        status: res.headersSent ? res.statusCode : 0,
        ...(exchange.identity ? { identity: exchange.identity } : {}),
        ...(fault ? { fault: fault.kind } : {}),
        ...(exchange.form ? { form: exchange.form } : {}),
      });
      logLine(
        `#${entry.seq} ${host} ${method} ${entry.path} -> ${entry.status}${entry.identity ? ` [${entry.identity}]` : ''}${entry.fault ? ` (fault ${entry.fault})` : ''}`,
      );
    });

    if (fault && injectFault(fault, exchange)) return;
    if (fault?.kind === 'slow') await new Promise((resolve) => setTimeout(resolve, fault.delayMs ?? 2000));

    const service = imdsServer ? 'imds' : serviceFor(host);
    try {
      switch (service) {
        case 'acr':
          return await acr.handle(exchange, host);
        case 'entra':
          return await entra.handle(exchange);
        case 'devops':
          return await devops.handle(exchange);
        case 'releases':
          return releases.handle(exchange);
        case 'imds':
          return imds.handle(exchange);
        case 'arm':
          return await acrTasks.handle(exchange);
        default:
          return sendJson(res, 421, { error: `${host} is not an emulated host` });
      }
    } catch (error) {
      logLine(`error ${host} ${method} ${url.pathname}: ${(error as Error).stack ?? String(error)}`);
      if (res.headersSent) return void res.destroy();
      if (error instanceof BodyTooLargeError) return sendJson(res, 413, { error: error.message });
      sendJson(res, 500, { error: `lab emulator error: ${(error as Error).message}` });
    }
  }

  /** Answers with the fault (true), or lets `slow` through (false). */
  function injectFault(fault: Fault, exchange: Exchange): boolean {
    const { req, res, host } = exchange;
    if (fault.kind === 'slow') return false;
    if (fault.kind === 'reset') {
      resetConnection(req.socket);
      return true;
    }
    const status = Number(fault.kind);
    const headers: Record<string, string> = {};
    if (status === 429) headers['Retry-After'] = String(fault.retryAfter ?? 1);
    if (status === 503 && fault.retryAfter !== undefined) headers['Retry-After'] = String(fault.retryAfter);
    req.resume();
    const service = serviceFor(host);
    const message = `${status === 429 ? 'Too many requests' : status === 503 ? 'Service unavailable' : 'Internal server error'} (injected by the lab)`;
    if (service === 'acr') {
      const code = status === 429 ? 'TOOMANYREQUESTS' : status === 503 ? 'UNAVAILABLE' : 'UNKNOWN';
      acrError(res, status, code, message, undefined, headers);
    } else if (service === 'devops') {
      sendJson(res, status, { $id: '1', innerException: null, message, typeKey: 'LabInjectedFault', errorCode: 0, eventId: 3000 }, headers);
    } else {
      sendJson(res, status, { error: status === 500 ? 'server_error' : 'temporarily_unavailable', error_description: message }, headers);
    }
    return true;
  }

  const tls = lab().tls;
  const certFile = tls?.certFile ?? path.join(config.root, 'tls', 'server.crt');
  const keyFile = tls?.keyFile ?? path.join(config.root, 'tls', 'server.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) throw new Error(`TLS certificate or key missing: ${certFile}, ${keyFile}`);

  const handler = (imdsServer: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    void serveEmulated(req, res, imdsServer);
  };
  const servers: Array<{ server: Server; port: number; name: string }> = [
    { server: createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, handler(false)), port: 443, name: 'https' },
    { server: createHttpServer(handler(true)), port: imdsPort, name: 'imds' },
    {
      server: createHttpServer((req, res) => {
        const exchange: Exchange = { req, res, url: new URL(req.url ?? '/', `http://127.0.0.1:${controlPort}`), host: 'control' };
        control.handle(exchange).catch((error: Error) => {
          if (!res.headersSent) sendJson(res, 500, { error: error.message });
        });
      }),
      port: controlPort,
      name: 'control',
    },
  ];
  // the control API listens last: its health answer means every listener is up
  const listen = (index: number): void => {
    if (index === servers.length) {
      logLine(
        `started pid ${process.pid}: https 127.0.0.1:443 (${emulatedHosts().join(', ')}), imds :${imdsPort}, control :${controlPort}`,
      );
      return;
    }
    const { server, port, name } = servers[index];
    server.on('error', (error) => {
      logLine(`fatal: ${name} server on 127.0.0.1:${port}: ${error.message}`);
      process.exit(1);
    });
    server.listen(port, '127.0.0.1', () => listen(index + 1));
  };
  listen(0);

  const stop = (signal: string) => {
    logLine(`stopping on ${signal}`);
    acr.store.flush();
    for (const { server } of servers) {
      server.close();
      server.closeAllConnections();
    }
    setTimeout(() => process.exit(0), 100).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** Drops the TCP connection with a RST (for TLS, on the socket under the TLS layer). */
function resetConnection(socket: Socket): void {
  const raw = (socket as Socket & { _parent?: Socket })._parent ?? socket;
  try {
    raw.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

main();
