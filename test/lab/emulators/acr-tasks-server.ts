// ACR Tasks (acr-tasks.ts) on an HTTPS port of its own, for a test or the demo: the same routes the lab's emulator
// process serves on https://127.0.0.1, with the lab certificate (its IP name 127.0.0.1 holds for any port). It checks
// Entra tokens with the lab Entra emulator's key, and its runs push to the lab's ACR emulators, so it works beside
// whatever emulator process the lab runs.
//   in-process:  const server = await startAcrTasksServer(); ... server.url ... await server.close();
//   a process:   node --require tsx/cjs test/lab/emulators/acr-tasks-server.ts [port]   (prints the URL)
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { AcrTasksEmulator } from './acr-tasks';
import { LabConfig } from './config';
import { EntraEmulator } from './entra';
import { BodyTooLargeError, type Exchange, requestHost, sendJson } from './http';
import { loadOrCreateSigningKey } from './keys';

export interface AcrTasksServer {
  /** The Resource Manager URL to put into a service connection, e.g. https://127.0.0.1:41234/ */
  url: string;
  emulator: AcrTasksEmulator;
  close(): Promise<void>;
}

export async function startAcrTasksServer(port = 0): Promise<AcrTasksServer> {
  const config = new LabConfig();
  const entra = new EntraEmulator(config, loadOrCreateSigningKey(config.stateDir, 'entra'), {
    federatedCredentials: () => [],
    trustedIssuers: () => [],
  });
  const emulator = new AcrTasksEmulator(config, entra);
  const tls = config.lab.tls;
  const server = createServer(
    {
      cert: readFileSync(tls?.certFile ?? path.join(config.root, 'tls', 'server.crt')),
      key: readFileSync(tls?.keyFile ?? path.join(config.root, 'tls', 'server.key')),
    },
    (req, res) => {
      const host = requestHost(req);
      const exchange: Exchange = { req, res, url: new URL(req.url ?? '/', `https://${host}`), host };
      emulator.handle(exchange).catch((error: Error) => {
        if (res.headersSent) return void res.destroy();
        if (error instanceof BodyTooLargeError) return sendJson(res, 413, { error: error.message });
        sendJson(res, 500, { error: `lab emulator error: ${error.message}` });
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${bound}/`,
    emulator,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (require.main === module) {
  startAcrTasksServer(Number(process.argv[2] ?? 0)).then(
    (server) => {
      process.stdout.write(`${server.url}\n`);
      const stop = () => void server.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    },
    (error: Error) => {
      process.stderr.write(`acr-tasks-server: ${error.message}\n`);
      process.exit(1);
    },
  );
}
