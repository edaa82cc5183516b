// The recorded exchanges with live ACR and Entra ID (recordings/, see its README), read into one shape whatever
// recorded them: vcrpy YAML (azure-sdk-for-python, azure-cli), nock scripts (azure-sdk-for-js) and the test-proxy
// JSON (azure-sdk-for-go). Line 1 of every file is our SOURCE line and is dropped before parsing.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { load as loadYaml } from 'js-yaml';

export const recordingsDir = path.join(__dirname, 'recordings');

export interface RecordedExchange {
  file: string;
  /** Position in its recording (0-based). */
  index: number;
  method: string;
  url: URL;
  /** nock's `.query(true)`: the query was not recorded (any query matched). */
  queryUnrecorded: boolean;
  requestBody: string;
  status: number;
  /** Response headers as recorded, names as the recorder kept them, repeated headers kept. */
  headers: Array<[string, string]>;
  /** The response body text (for JSON bodies re-dumped by the recorder, a compact JSON rendering). */
  body: string;
  /** True when `body` holds the exact bytes live ACR sent (azure-cli keeps raw bodies; the others re-dump JSON). */
  rawBody: boolean;
}

/** The recordings holding HTTP exchanges (the others are specs and docs). */
export function exchangeRecordings(): string[] {
  return readdirSync(recordingsDir)
    .filter((file) => /^(py|cli|js|go)__/.test(file))
    .sort();
}

export function loadRecording(file: string): RecordedExchange[] {
  const text = readFileSync(path.join(recordingsDir, file), 'utf8');
  const source = text.slice(text.indexOf('\n') + 1);
  if (file.endsWith('.yaml')) return fromVcr(file, source);
  if (file.endsWith('.js')) return fromNock(file, source);
  return fromTestProxy(file, source);
}

/** The first value of a header (case-insensitive), or undefined. */
export function headerValue(exchange: { headers: Array<[string, string]> }, name: string): string | undefined {
  return exchange.headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
}

export function headerValues(exchange: { headers: Array<[string, string]> }, name: string): string[] {
  return exchange.headers.filter(([key]) => key.toLowerCase() === name.toLowerCase()).map(([, value]) => value);
}

interface VcrInteraction {
  request: { method: string; uri: string; body: string | null };
  response: { status: { code: number }; headers: Record<string, string[]>; body: { string: string } };
}

function fromVcr(file: string, source: string): RecordedExchange[] {
  const document = loadYaml(source) as { interactions: VcrInteraction[] };
  const raw = file.startsWith('cli__');
  return document.interactions.map((interaction, index) => {
    const body = interaction.response.body.string ?? '';
    return {
      file,
      index,
      method: interaction.request.method,
      url: new URL(interaction.request.uri),
      queryUnrecorded: false,
      requestBody: interaction.request.body ?? '',
      status: interaction.response.status.code,
      headers: Object.entries(interaction.response.headers).flatMap(([name, values]) =>
        values.map((value) => [name, value] as [string, string]),
      ),
      body: raw ? body : compactJson(body),
      rawBody: raw,
    };
  });
}

/** Runs the nock script with a stand-in `nock` that records each `.reply` (the script only calls nock). */
function fromNock(file: string, source: string): RecordedExchange[] {
  const calls: Array<Record<string, unknown>> = [];
  const nock = (base: string) => {
    const call: Record<string, unknown> = { base, query: false };
    calls.push(call);
    const chain: Record<string, (...args: unknown[]) => unknown> = {};
    for (const method of ['get', 'post', 'patch', 'put', 'head', 'delete']) {
      chain[method] = (pathname: unknown, body: unknown) => {
        Object.assign(call, { method: method.toUpperCase(), pathname, body });
        return chain;
      };
    }
    chain.query = (query: unknown) => {
      call.query = query;
      return chain;
    };
    chain.reply = (status: unknown, body: unknown, headers: unknown) => {
      Object.assign(call, { status, replyBody: body, headers });
      return chain;
    };
    return chain;
  };
  vm.runInNewContext(source, { require: () => nock, module: { exports: {} } }, { timeout: 1000 });
  return calls.map((call, index) => {
    const flat = (call.headers as string[] | undefined) ?? [];
    const headers: Array<[string, string]> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) headers.push([flat[i], flat[i + 1]]);
    const requestBody = call.body;
    return {
      file,
      index,
      method: String(call.method),
      url: new URL(`${String(call.base)}${String(call.pathname)}`),
      queryUnrecorded: call.query === true,
      requestBody: typeof requestBody === 'string' ? requestBody : requestBody === undefined ? '' : JSON.stringify(requestBody),
      status: Number(call.status),
      headers,
      body: typeof call.replyBody === 'string' ? call.replyBody : JSON.stringify(call.replyBody),
      rawBody: false,
    };
  });
}

interface TestProxyEntry {
  RequestUri: string;
  RequestMethod: string;
  RequestBody: unknown;
  StatusCode: number;
  ResponseHeaders: Record<string, string | string[]>;
  ResponseBody: unknown;
}

function fromTestProxy(file: string, source: string): RecordedExchange[] {
  const document = JSON.parse(source) as { Entries: TestProxyEntry[] };
  return document.Entries.map((entry, index) => ({
    file,
    index,
    method: entry.RequestMethod,
    url: new URL(entry.RequestUri),
    queryUnrecorded: false,
    requestBody: typeof entry.RequestBody === 'string' ? entry.RequestBody : '',
    status: entry.StatusCode,
    headers: Object.entries(entry.ResponseHeaders).flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value]).map((item) => [name, item] as [string, string]),
    ),
    body: entry.ResponseBody === null || entry.ResponseBody === undefined ? '' : JSON.stringify(entry.ResponseBody),
    rawBody: false,
  }));
}

function compactJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text;
  }
}

/** The claims of a JWT (not verified); undefined for an opaque or sanitized token. */
export function jwtPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function jwtHeader(token: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
