// Replays a recording against the in-process emulators and lists every difference a client could notice: the
// status, the headers clients read, the JSON shape (names, case, types), error bodies byte for byte, and the
// claims and lifetimes of the tokens. Recorded secrets, sanitized values and digests are replaced by the
// emulator's own (a digest map per recording); everything else is sent as recorded.
import { type Answer, authorityHost, conformanceTenant, type EmulatedAzure } from './emulated-acr';
import { headerValue, jwtHeader, jwtPayload, loadRecording, type RecordedExchange } from './recordings';

export interface ReplayPlan {
  /** The registry the recording talked to (its `service`), which the emulator serves under that name. */
  registry: string;
  /** Recorded digest -> the digest of the emulator's stand-in image. */
  digests?: Record<string, string>;
  /** Queries of requests nock recorded with `.query(true)` (by index), as the SDK sent them. */
  queries?: Record<number, string>;
  /** Differences the recording shows and the emulator deliberately does not follow: index -> what -> why. */
  accepted?: Record<number, Record<string, string>>;
  /** Interactions not replayed: index -> why. */
  skipped?: Record<number, string>;
}

export interface ReplayedExchange {
  recorded: RecordedExchange;
  answer?: Answer;
  /** What differs; empty when the emulator answered as live ACR did. */
  differences: string[];
}

/** Keys that may be absent on either side: they depend on the image, not on the service. */
const optionalKeys = new Set([
  'architecture',
  'os',
  'variant',
  'tags',
  'references',
  'configMediaType',
  'quarantineState',
  'quarantineDetails',
]);
/** Values compared exactly (not only their type). */
const exactKeys = new Set(['code', 'message', 'registry', 'imageName', 'name', 'token_type', 'Type', 'Name', 'Action', 'mediaType']);

export async function replay(azure: EmulatedAzure, file: string, plan: ReplayPlan): Promise<ReplayedExchange[]> {
  const recorded = loadRecording(file);
  // a client retries the request a challenge refused, with the token it got after it: only that request carries it
  const state: { entra?: string; refresh?: string; access?: string; previousWasToken: boolean; challenged?: string } = {
    previousWasToken: false,
  };
  const results: ReplayedExchange[] = [];
  const substitute = (text: string) => substituteText(text, recorded, plan);

  for (const exchange of recorded) {
    if (plan.skipped?.[exchange.index]) {
      results.push({ recorded: exchange, differences: [] });
      continue;
    }
    const entra = exchange.url.host.startsWith(authorityHost);
    let url: string;
    let body = exchange.requestBody;
    const headers: Record<string, string> = {};
    if (entra) {
      url = `https://${authorityHost}${exchange.url.pathname.replace(/^\/[^/]+\//, `/${conformanceTenant}/`)}${exchange.url.search}`;
      if (exchange.method === 'POST') body = entraForm(azure, body);
    } else {
      const query = exchange.queryUnrecorded ? (plan.queries?.[exchange.index] ?? '') : exchange.url.search.slice(1);
      url = `https://${plan.registry}${substitute(exchange.url.pathname)}${query ? `?${query}` : ''}`;
      if (/^\/oauth2\//.test(exchange.url.pathname)) body = await acrForm(azure, plan, body, state);
      const retried = state.challenged === `${exchange.method} ${exchange.url.pathname}`;
      if (state.previousWasToken && retried && state.access) headers.Authorization = `Bearer ${state.access}`;
    }
    if (body && exchange.method !== 'GET') {
      headers['Content-Type'] = body.startsWith('{') ? 'application/json' : 'application/x-www-form-urlencoded';
    }
    const answer = await azure.send(url, { method: exchange.method, headers, body: exchange.method === 'GET' ? undefined : body });
    const differences = compare(exchange, answer, substitute, plan.accepted?.[exchange.index] ?? {});
    results.push({ recorded: exchange, answer, differences });

    state.previousWasToken = false;
    if (answer.status === 401) state.challenged = `${exchange.method} ${exchange.url.pathname}`;
    if (answer.status === 200 && /\/oauth2\//.test(exchange.url.pathname)) {
      const json = JSON.parse(answer.body) as { access_token?: string; refresh_token?: string };
      if (entra) state.entra = json.access_token;
      else if (json.refresh_token) state.refresh = json.refresh_token;
      else if (json.access_token) {
        state.access = json.access_token;
        state.previousWasToken = true;
      }
    }
  }
  return results;
}

/** Recorded names and digests -> the emulator's. */
function substituteText(text: string, recorded: RecordedExchange[], plan: ReplayPlan): string {
  let result = text;
  for (const [from, to] of Object.entries(plan.digests ?? {})) {
    result = result.split(from).join(to).split(from.replace(':', '%3A')).join(to.replace(':', '%3A'));
  }
  for (const host of new Set(recorded.map((exchange) => exchange.url.hostname))) {
    if (!host.startsWith(authorityHost) && host !== plan.registry) result = result.split(host).join(plan.registry);
  }
  return result;
}

/** A recorded client-credentials form with the emulated identity's id and secret (the recorded ones are sanitized). */
function entraForm(azure: EmulatedAzure, recorded: string): string {
  const form = new URLSearchParams(recorded);
  form.set('client_id', azure.identity.clientId);
  form.set('client_secret', azure.identity.secret);
  const scope = form.get('scope') ?? '';
  if (!/^https:\/\/(management\.azure\.com|containerregistry\.azure\.net)\/\.default$/.test(scope)) {
    form.set('scope', 'https://containerregistry.azure.net/.default');
  }
  return form.toString();
}

/** A recorded ACR token form with the emulator's tokens in place of the recorded (or sanitized) ones. */
async function acrForm(
  azure: EmulatedAzure,
  plan: ReplayPlan,
  recorded: string,
  state: { entra?: string; refresh?: string },
): Promise<string> {
  const form = new URLSearchParams(recorded);
  if (form.has('service')) form.set('service', plan.registry);
  if (form.has('tenant')) form.set('tenant', conformanceTenant);
  if (form.get('grant_type') === 'access_token') {
    state.entra ??= await entraToken(azure);
    form.set('access_token', state.entra);
  }
  if (form.get('grant_type') === 'refresh_token') {
    // a recording may start after its exchange (the azure-cli excerpt): get a refresh token the documented way first
    state.refresh ??= await refreshToken(azure, plan.registry, (state.entra ??= await entraToken(azure)));
    form.set('refresh_token', state.refresh);
  }
  return form.toString();
}

export async function entraToken(azure: EmulatedAzure): Promise<string> {
  const answer = await azure.send(`https://${authorityHost}/${conformanceTenant}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: entraForm(azure, 'grant_type=client_credentials&scope=https%3A%2F%2Fcontainerregistry.azure.net%2F.default'),
  });
  return (JSON.parse(answer.body) as { access_token: string }).access_token;
}

export async function refreshToken(azure: EmulatedAzure, registry: string, entra: string): Promise<string> {
  const answer = await azure.send(`https://${registry}/oauth2/exchange`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'access_token', service: registry, access_token: entra }).toString(),
  });
  return (JSON.parse(answer.body) as { refresh_token: string }).refresh_token;
}

function compare(
  recorded: RecordedExchange,
  answer: Answer,
  substitute: (text: string) => string,
  accepted: Record<string, string>,
): string[] {
  const differences: string[] = [];
  const differ = (what: string, detail: string) => {
    if (!(what in accepted)) differences.push(`${what}: ${detail}`);
  };
  if (answer.status !== recorded.status) differ('status', `${answer.status}, recorded ${recorded.status} (${answer.body.slice(0, 200)})`);

  const recordedType = headerValue(recorded, 'content-type');
  if (recordedType && answer.headers['content-type'] !== recordedType) {
    differ('Content-Type', `${String(answer.headers['content-type'])}, recorded ${recordedType}`);
  }
  for (const name of ['Link', 'Docker-Content-Digest', 'Location']) {
    const expected = headerValue(recorded, name);
    const got = answer.headers[name.toLowerCase()];
    if (expected !== undefined && got !== substitute(expected)) differ(name, `${String(got)}, recorded ${expected}`);
    if (expected === undefined && got !== undefined) differ(name, `${String(got)}, recorded none`);
  }
  compareChallenge(recorded, answer, substitute, differ);

  if (!recorded.body) return differences;
  let expected: unknown;
  let got: unknown;
  try {
    expected = JSON.parse(substitute(recorded.body));
  } catch {
    return differences;
  }
  try {
    got = JSON.parse(answer.body);
  } catch {
    differ('body', `not JSON: ${answer.body.slice(0, 200)}`);
    return differences;
  }
  if (recorded.status >= 400) {
    // error bodies byte for byte: compact JSON and a newline, as the recorded Content-Length counts it
    const bytes = `${JSON.stringify(expected)}\n`;
    const length = headerValue(recorded, 'content-length');
    if (length !== undefined && Number(length) !== Buffer.byteLength(bytes))
      differ('body', `recorded length ${length} is not compact JSON + newline`);
    if (answer.body !== bytes) differ('body', `${JSON.stringify(answer.body)}, recorded ${JSON.stringify(bytes)}`);
    return differences;
  }
  for (const problem of shapeDifferences(expected, got, '$')) differ('shape', problem);
  for (const field of ['access_token', 'refresh_token'] as const) {
    const recordedToken = (expected as Record<string, unknown>)[field];
    const token = (got as Record<string, unknown>)[field];
    if (typeof recordedToken === 'string' && typeof token === 'string') {
      for (const problem of tokenDifferences(recordedToken, token)) differ(`${field} claims`, problem);
    }
  }
  return differences;
}

function compareChallenge(
  recorded: RecordedExchange,
  answer: Answer,
  substitute: (text: string) => string,
  differ: (what: string, detail: string) => void,
): void {
  const expected = headerValue(recorded, 'www-authenticate');
  const got = answer.headers['www-authenticate'];
  if (expected === undefined) {
    if (got !== undefined) differ('WWW-Authenticate', `${got}, recorded none`);
    return;
  }
  if (got === undefined) return differ('WWW-Authenticate', `none, recorded ${expected}`);
  const want = challengeParams(substitute(expected));
  const have = challengeParams(got);
  if (!got.startsWith('Bearer ')) differ('WWW-Authenticate', `scheme of ${got}`);
  for (const name of new Set([...Object.keys(want), ...Object.keys(have)])) {
    if (name === 'error') {
      if (want.error !== have.error) differ('WWW-Authenticate error', `${have.error ?? 'none'}, recorded ${want.error ?? 'none'}`);
      continue;
    }
    // the Python recordings sanitized the scope to "fake_scope": only its presence is comparable
    const comparable = want[name] !== 'fake_scope';
    if (!(name in have) || !(name in want) || (comparable && want[name] !== have[name])) {
      differ('WWW-Authenticate', `${name}=${have[name] ?? '(none)'}, recorded ${want[name] ?? '(none)'}`);
    }
  }
}

export function challengeParams(header: string): Record<string, string> {
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1], match[2]]));
}

/** Where the JSON of the emulator differs in names, case or types from the recorded one (values of a few keys too). */
export function shapeDifferences(expected: unknown, got: unknown, at: string): string[] {
  const kind = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
  if (kind(expected) !== kind(got)) return [`${at}: ${kind(got)}, recorded ${kind(expected)}`];
  if (Array.isArray(expected) && Array.isArray(got)) {
    if (expected.length === 0 || got.length === 0) return [];
    const merged = Object.assign({}, ...expected.filter((item) => kind(item) === 'object')) as unknown;
    return got.flatMap((item, i) => shapeDifferences(kind(item) === 'object' ? merged : expected[0], item, `${at}[${i}]`));
  }
  if (kind(expected) !== 'object') return [];
  const want = expected as Record<string, unknown>;
  const have = got as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of new Set([...Object.keys(want), ...Object.keys(have)])) {
    if (!(key in have)) {
      if (!optionalKeys.has(key)) problems.push(`${at}.${key} missing`);
    } else if (!(key in want)) {
      if (!optionalKeys.has(key)) problems.push(`${at}.${key} not recorded`);
    } else {
      problems.push(...shapeDifferences(want[key], have[key], `${at}.${key}`));
      if (exactKeys.has(key) && kind(want[key]) === 'string' && want[key] !== have[key]) {
        problems.push(`${at}.${key} = ${JSON.stringify(have[key])}, recorded ${JSON.stringify(want[key])}`);
      }
    }
  }
  return problems;
}

/** ACR tokens: header, claim names (case included), types, lifetimes (exp - nbf) and nbf 15 minutes back. */
export function tokenDifferences(recorded: string, token: string): string[] {
  const want = jwtPayload(recorded);
  const have = jwtPayload(token);
  // a sanitized recording ("REDACTED", "Sanitized", "sanitized.<exp only>.sanitized"): nothing to compare
  if (!want || !have || jwtHeader(recorded)?.alg === undefined) return [];
  const problems = shapeDifferences(
    { ...want, sub: 'x', jti: 'x', rid: 'x', tenant: 'x', appid: 'x' },
    { ...have, sub: 'x', jti: 'x', rid: 'x', tenant: 'x', appid: 'x' },
    'claims',
  );
  for (const key of ['appid', 'tenant'] as const)
    if (key in want !== key in have)
      problems.push(`claims.${key}: ${key in have ? 'present' : 'absent'}, recorded ${key in want ? 'present' : 'absent'}`);
  const span = (claims: Record<string, unknown>) => Number(claims.exp) - Number(claims.nbf);
  if (span(want) !== span(have)) problems.push(`exp - nbf = ${span(have)} s, recorded ${span(want)} s`);
  const back = Math.floor(Date.now() / 1000) - Number(have.nbf);
  if (Math.abs(back - 900) > 60) problems.push(`nbf is ${back} s back, recorded 900 s`);
  if (have.iat !== have.nbf) problems.push('iat differs from nbf');
  for (const key of ['iss', 'version', 'grant_type'] as const)
    if (want[key] !== have[key]) problems.push(`claims.${key} = ${String(have[key])}, recorded ${String(want[key])}`);
  const header = jwtHeader(token);
  if (header?.alg !== 'RS256' || header.typ !== 'JWT' || !/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/.test(String(header.kid))) {
    problems.push(`header ${JSON.stringify(header)}, recorded ${JSON.stringify(jwtHeader(recorded))}`);
  }
  return problems;
}
