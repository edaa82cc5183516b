// The lab's enterprise proxy: tinyproxy from Debian's tinyproxy-bin package, downloaded by the lab's own apt and
// unpacked under .lab/proxy (never installed), on loopback with Basic credentials and a filter that allows only the
// lab's hosts. Two instances: `proxy` allows every lab host; `proxy-strict` refuses the registries (the refused-host
// case). lab:up starts them and so do the proxy tests' before hooks: starting is idempotent (a running instance with
// the same configuration is left alone), so a fresh machine's CI gets them either way.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { labRoot } from '../lab';
import { downloadDeb } from './apt';
import { say } from './log';
import { type LabProcess, isAlive, logTail, runningPid, startDetached, stopProcess, run, waitUntil, writeIfChanged } from './proc';
import { logsDir } from './log';

const proxyDir = path.join(labRoot, 'proxy');
const root = path.join(proxyDir, 'root');
export const tinyproxyBin = path.join(root, 'usr', 'bin', 'tinyproxy');
const settingsFile = path.join(proxyDir, 'proxy.json');

/** Every host a task of the lab talks to over HTTP (lab.json's TLS names). */
export const labProxyHosts = ['contoso.azurecr.io', 'fabrikam.azurecr.io', 'login.lab.test', 'dev.azure.lab.test', 'releases.lab.test'];

export interface LabProxyInstance {
  name: 'proxy' | 'proxy-strict';
  url: string;
  /** The access log the test reads (tinyproxy's LogFile). */
  accessLog: string;
  /** Hosts it lets through; every other host is refused with 403 Filtered. */
  allowed: string[];
}

export interface LabProxy {
  username: string;
  password: string;
  proxy: LabProxyInstance;
  strict: LabProxyInstance;
}

const ports = { proxy: 3128, 'proxy-strict': 3129 } as const;

const spec = (name: LabProxyInstance['name']): LabProcess => ({
  name,
  matches: (argv) => argv[0] === tinyproxyBin && argv.includes(configFile(name)),
});
const configFile = (name: string) => path.join(proxyDir, `${name}.conf`);
const filterFile = (name: string) => path.join(proxyDir, `${name}.allow`);

function credentials(): { username: string; password: string } {
  if (existsSync(settingsFile)) return JSON.parse(readFileSync(settingsFile, 'utf8')) as { username: string; password: string };
  const made = { username: 'lab-agent', password: randomBytes(18).toString('base64url') };
  mkdirSync(proxyDir, { recursive: true });
  writeFileSync(settingsFile, `${JSON.stringify(made, null, 2)}\n`, { mode: 0o600 });
  return made;
}

function ensureUnpacked(): void {
  if (existsSync(tinyproxyBin)) return;
  const deb = downloadDeb('tinyproxy-bin', 'bookworm', 'amd64', ['bookworm', 'trixie']);
  say(`proxy: unpacking ${path.basename(deb)} into ${path.relative(process.cwd(), root) || root}`);
  mkdirSync(root, { recursive: true });
  run(['dpkg-deb', '-x', deb, root]);
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(false));
  });
}

function instance(name: LabProxyInstance['name'], allowed: string[]): LabProxyInstance {
  return { name, url: `http://127.0.0.1:${ports[name]}`, accessLog: path.join(logsDir, `${name}-access.log`), allowed };
}

/** The proxies' settings, whether or not they run (the tests read them after ensureLabProxy). */
export function labProxy(): LabProxy {
  const { username, password } = credentials();
  return {
    username,
    password,
    proxy: instance('proxy', labProxyHosts),
    strict: instance(
      'proxy-strict',
      labProxyHosts.filter((host) => !host.endsWith('.azurecr.io')),
    ),
  };
}

async function ensureInstance(settings: LabProxy, proxy: LabProxyInstance): Promise<void> {
  const port = ports[proxy.name];
  const filterChanged = writeIfChanged(filterFile(proxy.name), proxy.allowed.map((host) => `^${host.replace(/\./g, '\\.')}$\n`).join(''));
  const configChanged = writeIfChanged(
    configFile(proxy.name),
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 600',
      `LogFile "${proxy.accessLog}"`,
      'LogLevel Connect',
      'MaxClients 100',
      `BasicAuth ${settings.username} ${settings.password}`,
      `Filter "${filterFile(proxy.name)}"`,
      'FilterType ere',
      'FilterDefaultDeny Yes',
      'ConnectPort 443',
      '',
    ].join('\n'),
    0o600,
  );
  const running = runningPid(spec(proxy.name));
  if (running !== undefined && !configChanged && !filterChanged) return;
  if (running !== undefined) await stopProcess(spec(proxy.name), 5_000);
  else if (await answers(port)) {
    throw new Error(`proxy: something not started by the lab already listens on 127.0.0.1:${port}`);
  }
  mkdirSync(logsDir, { recursive: true });
  const pid = startDetached(spec(proxy.name), [tinyproxyBin, '-d', '-c', configFile(proxy.name)], { env: { PATH: '/usr/bin:/bin' } });
  try {
    await waitUntil(
      `${proxy.name} to answer on 127.0.0.1:${port}`,
      () => {
        if (!isAlive(pid)) throw new Error(`${proxy.name} exited right after starting`);
        return answers(port);
      },
      10_000,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${logTail(proxy.name)}`);
  }
  say(`${proxy.name}: started (tinyproxy, pid ${pid}, ${proxy.url}, allows ${proxy.allowed.join(' ')})`);
}

/** Unpacks tinyproxy when missing and starts both instances unless they run with this configuration. */
export async function ensureLabProxy(): Promise<LabProxy> {
  ensureUnpacked();
  const settings = labProxy();
  await ensureInstance(settings, settings.proxy);
  await ensureInstance(settings, settings.strict);
  return settings;
}

export async function stopLabProxy(): Promise<number[]> {
  const stopped: number[] = [];
  for (const name of ['proxy', 'proxy-strict'] as const) {
    const pid = await stopProcess(spec(name), 5_000);
    if (pid !== undefined) {
      say(`${name}: stopped (pid ${pid})`);
      stopped.push(pid);
    }
  }
  return stopped;
}

export const labProxyProcesses: LabProcess[] = [spec('proxy'), spec('proxy-strict')];

/**
 * The variables the agent gives a job behind a proxy, as microsoft/azure-pipelines-agent's ExecutionContext sets them
 * (src/Agent.Worker/ExecutionContext.cs): Agent.ProxyUrl, Agent.ProxyUsername and Agent.ProxyBypassList (JSON) are
 * public (AGENT_PROXYURL ...), Agent.ProxyPassword is a secret variable (SECRET_AGENT_PROXYPASSWORD, masked by the agent).
 */
export function agentProxyVariables(
  settings: LabProxy,
  instance: LabProxyInstance,
  bypass: string[] = [],
): { variables: Record<string, string>; secretVariables: Record<string, string> } {
  return {
    variables: {
      'Agent.ProxyUrl': instance.url,
      'Agent.ProxyUsername': settings.username,
      ...(bypass.length > 0 ? { 'Agent.ProxyBypassList': JSON.stringify(bypass) } : {}),
    },
    secretVariables: { 'Agent.ProxyPassword': settings.password },
  };
}

/** What the access log gained since `offset`, and the hosts it connected to or refused. */
export function accessLogSince(instance: LabProxyInstance, offset: number): { text: string; connected: string[]; refused: string[] } {
  let text = '';
  try {
    text = readFileSync(instance.accessLog).subarray(offset).toString('utf8');
  } catch {
    // no log yet
  }
  const connected = [...text.matchAll(/Established connection to host "([^"]+)"/g)].map((m) => m[1]);
  const refused = [...text.matchAll(/Proxying refused on filtered domain "([^"]+)"/g)].map((m) => m[1]);
  return { text, connected: [...new Set(connected)].sort(), refused: [...new Set(refused)].sort() };
}

export function accessLogSize(instance: LabProxyInstance): number {
  try {
    return readFileSync(instance.accessLog).length;
  } catch {
    return 0;
  }
}
