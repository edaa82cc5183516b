// Pure parts of the lab emulators: JWS, scopes and grants, the challenge, the quarantine-details schema,
// route parsing, quarantine rules, faults and the audit log.
import { strict as assert } from 'node:assert';
import { constants, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAcrApiRoute } from '../lab/emulators/acr/acrApi';
import { isBlocked, isDigest, shownQuarantineState } from '../lab/emulators/acr/context';
import { rewriteLocation } from '../lab/emulators/acr/proxy';
import { quarantineDetailsErrors, schemaErrors } from '../lab/emulators/acr/quarantineDetails';
import { parseV2Route, requiredAction } from '../lab/emulators/acr/registryV2';
import {
  bearerChallenge,
  conditionMatches,
  grantScopes,
  grantScopesPerRepository,
  hasAccess,
  parseScopes,
} from '../lab/emulators/acr/scopes';
import { parseAssignments } from '../lab/emulators/control';
import { AcrPolicies, AcrStore, type RegistryPolicy } from '../lab/emulators/acr/store';
import { AuditLog, FaultTable, validateFaultSpec } from '../lab/emulators/faults';
import { auditQuery } from '../lab/emulators/http';
import { audiences, checkLifetime, decodeJwt, publicJwk, signJwt, verifySignature } from '../lab/emulators/jwt';

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const digest = `sha256:${'a'.repeat(64)}`;

describe('lab emulators: JWS (RS256/PS256 with node:crypto)', () => {
  it('signs RS256 tokens that an independent verification accepts', () => {
    const token = signJwt({ sub: 'x', exp: 2_000_000_000 }, keys.privateKey, { kid: 'k1' });
    const [header, payload, signature] = token.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()), { alg: 'RS256', typ: 'JWT', kid: 'k1' });
    assert.equal(JSON.parse(Buffer.from(payload, 'base64url').toString()).sub, 'x');
    assert.ok(verify('sha256', Buffer.from(`${header}.${payload}`), keys.publicKey, Buffer.from(signature, 'base64url')));
  });

  it('verifies its own signature and rejects another key or a changed payload', () => {
    const token = signJwt({ sub: 'x' }, keys.privateKey);
    const decoded = decodeJwt(token);
    assert.ok(decoded);
    assert.equal(verifySignature(decoded, keys.publicKey), true);
    assert.equal(verifySignature(decoded, otherKeys.publicKey), false);
    const [header, , signature] = token.split('.');
    const tampered = decodeJwt(`${header}.${Buffer.from(JSON.stringify({ sub: 'y' })).toString('base64url')}.${signature}`);
    assert.ok(tampered);
    assert.equal(verifySignature(tampered, keys.publicKey), false);
  });

  it('verifies PS256 (what MSAL signs certificate assertions with when it uses x5t#S256)', () => {
    const header = Buffer.from(JSON.stringify({ alg: 'PS256', typ: 'JWT', 'x5t#S256': 'abc' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ iss: 'client' })).toString('base64url');
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
      key: keys.privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
    const decoded = decodeJwt(`${header}.${payload}.${signature.toString('base64url')}`);
    assert.ok(decoded);
    assert.equal(verifySignature(decoded, keys.publicKey), true);
    assert.equal(verifySignature(decoded, otherKeys.publicKey), false);
  });

  it('refuses alg none and malformed tokens', () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const payload = Buffer.from('{}').toString('base64url');
    const decoded = decodeJwt(`${header}.${payload}.`);
    assert.ok(decoded);
    assert.equal(verifySignature(decoded, keys.publicKey), false);
    assert.equal(decodeJwt('not-a-jwt'), undefined);
    assert.equal(decodeJwt('a.b'), undefined);
    assert.equal(decodeJwt(`${Buffer.from('[1]').toString('base64url')}.${payload}.x`), undefined);
  });

  it('checks exp and nbf with the skew given', () => {
    assert.equal(checkLifetime({ exp: 1000 }, 1000, 0), 'valid');
    assert.equal(checkLifetime({ exp: 999 }, 1000, 0), 'expired');
    assert.equal(checkLifetime({ exp: 999 }, 1000, 5), 'valid');
    assert.equal(checkLifetime({ exp: 2000, nbf: 1100 }, 1000, 0), 'notYetValid');
    assert.equal(checkLifetime({}, 1000, 0), 'noExpiry');
  });

  it('publishes the public key as a JWK that node can import back', () => {
    const jwk = publicJwk(keys.publicKey);
    assert.equal(jwk.kty, 'RSA');
    assert.equal(jwk.alg, 'RS256');
    assert.equal(typeof jwk.kid, 'string');
    const token = signJwt({ a: 1 }, keys.privateKey);
    const decoded = decodeJwt(token);
    assert.ok(decoded);
    const imported = createPublicKey({ key: { kty: String(jwk.kty), n: String(jwk.n), e: String(jwk.e) }, format: 'jwk' });
    assert.equal(verifySignature(decoded, imported), true);
  });

  it('reads aud as a string or a list', () => {
    assert.deepEqual(audiences({ aud: 'a' }), ['a']);
    assert.deepEqual(audiences({ aud: ['a', 'b', 3] }), ['a', 'b']);
    assert.deepEqual(audiences({}), []);
  });
});

describe('lab emulators: ACR scopes, grants and challenge', () => {
  it('parses repeated and space-separated scopes and merges one resource', () => {
    const scopes = parseScopes(['repository:hello:pull', 'repository:hello:push registry:catalog:*', 'repository:127.0.0.1:5000/x:pull']);
    assert.deepEqual(scopes, [
      { type: 'repository', name: 'hello', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: '127.0.0.1:5000/x', actions: ['pull'] },
    ]);
    assert.deepEqual(parseScopes(['garbage', 'repository::pull', '']), []);
  });

  it('grants the intersection of requested and allowed actions per role', () => {
    const wanted = parseScopes(['repository:app:pull,push,delete,metadata_write']);
    assert.deepEqual(grantScopes(wanted, ['AcrPull'])[0].actions, ['pull']);
    assert.deepEqual(grantScopes(wanted, ['AcrPush'])[0].actions, ['pull', 'push', 'metadata_write']);
    assert.deepEqual(grantScopes(wanted, ['AcrPull', 'AcrQuarantineWriter'])[0].actions, ['pull', 'metadata_write']);
    assert.deepEqual(grantScopes(wanted, ['AcrQuarantineReader'])[0].actions, ['pull']);
    assert.deepEqual(grantScopes(wanted, []), []); // live ACR: `"access":[]`, no entry without actions
    assert.deepEqual(grantScopes(wanted, [], true)[0].actions, ['pull', 'push', 'delete', 'metadata_write']);
  });

  it('expands * to what is allowed, grants the catalog to readers only, nothing for unknown types', () => {
    assert.deepEqual(grantScopes(parseScopes(['repository:app:*']), ['AcrPull'])[0].actions, ['pull', 'metadata_read']);
    assert.deepEqual(grantScopes(parseScopes(['registry:catalog:*']), ['AcrPull'])[0].actions, ['*']);
    assert.deepEqual(grantScopes(parseScopes(['registry:catalog:*']), []), []);
    assert.deepEqual(grantScopes(parseScopes(['artifact-repository:app:pull']), ['AcrPush']), []);
  });

  it('checks access entries by type, name and action', () => {
    const access = [{ type: 'repository', name: 'app', actions: ['pull'] }];
    assert.equal(hasAccess(access, 'repository', 'app', 'pull'), true);
    assert.equal(hasAccess(access, 'repository', 'app', 'push'), false);
    assert.equal(hasAccess(access, 'repository', 'other', 'pull'), false);
    assert.equal(hasAccess([{ type: 'registry', name: 'catalog', actions: ['*'] }], 'registry', 'catalog', '*'), true);
  });

  it('formats the Bearer challenge as ACR does (realm, service, scope, error)', () => {
    assert.equal(
      bearerChallenge('contoso.azurecr.io'),
      'Bearer realm="https://contoso.azurecr.io/oauth2/token",service="contoso.azurecr.io"',
    );
    assert.equal(
      bearerChallenge('contoso.azurecr.io', { type: 'repository', name: 'hello-world', actions: ['pull'] }),
      'Bearer realm="https://contoso.azurecr.io/oauth2/token",service="contoso.azurecr.io",scope="repository:hello-world:pull"',
    );
    const withError = bearerChallenge('c.azurecr.io', { type: 'repository', name: 'a', actions: ['pull', 'push'] }, 'insufficient_scope');
    assert.equal(
      withError,
      'Bearer realm="https://c.azurecr.io/oauth2/token",service="c.azurecr.io",scope="repository:a:pull,push",error="insufficient_scope"',
    );
    // the JS SDK's challenge parser must find service and scope
    const parsed = Object.fromEntries([...withError.matchAll(/(\w+?)="(.*?)"/g)].map((match) => [match[1], match[2]]));
    assert.equal(parsed.service, 'c.azurecr.io');
    assert.equal(parsed.scope, 'repository:a:pull,push');
  });
});

describe('lab emulators: quarantine details schema (draft-04, Azure/acr)', () => {
  const schemaFile = path.join(__dirname, '..', 'lab', 'emulators', 'acr', 'quarantine-details.schema.json');
  const example = {
    scanner: 'SecurityCenter',
    state: 'ScanState',
    link: 'https://testresult/summary',
    result: {
      version: '0.0.1',
      summary: [
        { severity: 'Critical', count: 10 },
        { severity: 'High', count: 10 },
        { severity: 'Low', count: 10 },
      ],
    },
  };

  it('is the published draft-04 schema with additionalProperties false', () => {
    const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>;
    assert.equal(schema.$schema, 'http://json-schema.org/draft-04/schema#');
    assert.equal(schema.additionalProperties, false);
  });

  it('accepts the published example and the readme body', () => {
    assert.deepEqual(schemaErrors(example), []);
    assert.deepEqual(quarantineDetailsErrors(JSON.stringify(example)), []);
    assert.deepEqual(quarantineDetailsErrors('{"state":"scan passed","link":"http://test.io/test"}'), []);
    assert.deepEqual(schemaErrors({}), []);
  });

  const invalid: Array<[string, unknown]> = [
    ['an unknown top-level property', { ...example, extra: 1 }],
    ['a result without version', { result: { summary: [] } }],
    ['a result without summary', { result: { version: '1' } }],
    ['six summary entries', { result: { version: '1', summary: Array.from({ length: 6 }, () => ({ severity: 'Low', count: 1 })) } }],
    ['an upper-case trivy severity', { result: { version: '1', summary: [{ severity: 'CRITICAL', count: 1 }] } }],
    ['Unknown instead of None', { result: { version: '1', summary: [{ severity: 'Unknown', count: 1 }] } }],
    ['a fractional count', { result: { version: '1', summary: [{ severity: 'Low', count: 1.5 }] } }],
    ['a description over 1024 characters', { result: { version: '1', summary: [], description: 'x'.repeat(1025) } }],
    ['a non-string state', { state: 3 }],
    ['an array', []],
  ];
  for (const [what, value] of invalid) {
    it(`rejects ${what}`, () => {
      assert.notDeepEqual(schemaErrors(value), []);
    });
  }

  it('accepts a description of exactly 1024 characters and an empty summary', () => {
    assert.deepEqual(schemaErrors({ result: { version: '1', summary: [], description: 'x'.repeat(1024) } }), []);
  });

  it('wants quarantineDetails as a string of JSON (double-encoded), not an object', () => {
    assert.notDeepEqual(quarantineDetailsErrors(example), []);
    assert.notDeepEqual(quarantineDetailsErrors('{not json'), []);
  });
});

describe('lab emulators: routes', () => {
  it('splits /v2 paths into resources (nested repository names too)', () => {
    assert.deepEqual(parseV2Route('/v2/'), { kind: 'base' });
    assert.deepEqual(parseV2Route('/v2/_catalog'), { kind: 'catalog' });
    assert.deepEqual(parseV2Route('/v2/team/app/manifests/1.0'), { kind: 'manifest', repository: 'team/app', reference: '1.0' });
    assert.deepEqual(parseV2Route(`/v2/app/manifests/${digest}`), { kind: 'manifest', repository: 'app', reference: digest });
    assert.deepEqual(parseV2Route(`/v2/app/blobs/${digest}`), { kind: 'blob', repository: 'app', digest });
    assert.deepEqual(parseV2Route('/v2/app/blobs/uploads/'), { kind: 'upload', repository: 'app' });
    assert.deepEqual(parseV2Route('/v2/app/blobs/uploads/1234-abcd'), { kind: 'upload', repository: 'app' });
    assert.deepEqual(parseV2Route('/v2/a/b/tags/list'), { kind: 'tags', repository: 'a/b' });
    assert.deepEqual(parseV2Route(`/v2/app/referrers/${digest}`), { kind: 'referrers', repository: 'app', digest });
    assert.equal(parseV2Route('/v2/app'), undefined);
  });

  it('asks pull for reads, pull,push for writes and delete for deletes', () => {
    const manifest = parseV2Route('/v2/app/manifests/1');
    const upload = parseV2Route('/v2/app/blobs/uploads/');
    assert.ok(manifest && upload);
    assert.deepEqual(requiredAction(manifest, 'GET'), { action: 'pull', challenge: ['pull'] });
    assert.deepEqual(requiredAction(manifest, 'PUT'), { action: 'push', challenge: ['pull', 'push'] });
    assert.deepEqual(requiredAction(manifest, 'DELETE'), { action: 'delete', challenge: ['delete'] });
    assert.deepEqual(requiredAction(upload, 'PATCH'), { action: 'push', challenge: ['pull', 'push'] });
  });

  it('splits /acr/v1 paths, with the digest ":" encoded or not', () => {
    assert.deepEqual(parseAcrApiRoute('/acr/v1/_catalog'), { kind: 'catalog' });
    assert.deepEqual(parseAcrApiRoute('/acr/v1/team/app/_tags'), { kind: 'tags', repository: 'team/app' });
    assert.deepEqual(parseAcrApiRoute('/acr/v1/app/_tags/1.0'), { kind: 'tag', repository: 'app', tag: '1.0' });
    assert.deepEqual(parseAcrApiRoute('/acr/v1/app/_manifests'), { kind: 'manifests', repository: 'app' });
    assert.deepEqual(parseAcrApiRoute(`/acr/v1/app/_manifests/${digest.replace(':', '%3A')}`), {
      kind: 'manifest',
      repository: 'app',
      digest,
    });
    assert.deepEqual(parseAcrApiRoute(`/acr/v1/app/_manifests/${digest}`), { kind: 'manifest', repository: 'app', digest });
    assert.deepEqual(parseAcrApiRoute('/acr/v1/team%2Fapp'), { kind: 'repository', repository: 'team/app' });
    assert.equal(parseAcrApiRoute('/acr/v1/_unknown'), undefined);
  });

  it('tells digests from tags', () => {
    assert.equal(isDigest(digest), true);
    assert.equal(isDigest('latest'), false);
    assert.equal(isDigest('v1.2.3'), false);
  });

  it('points upload Locations of the backing registry at the emulated name', () => {
    const backing = { host: '127.0.0.1', port: 5000 };
    assert.equal(
      rewriteLocation('http://127.0.0.1:5000/v2/app/blobs/uploads/u?_state=s', backing, 'contoso.azurecr.io'),
      'https://contoso.azurecr.io/v2/app/blobs/uploads/u?_state=s',
    );
    assert.equal(
      rewriteLocation('http://contoso.azurecr.io/v2/app/blobs/uploads/u', backing, 'contoso.azurecr.io'),
      'https://contoso.azurecr.io/v2/app/blobs/uploads/u',
    );
    assert.equal(rewriteLocation('/v2/app/blobs/uploads/u', backing, 'contoso.azurecr.io'), '/v2/app/blobs/uploads/u');
  });
});

describe('lab emulators: quarantine records and policy', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'acr-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const on: RegistryPolicy = { quarantine: true, freshState: 'Quarantined', disallowedStatus: 403, pushersSeeQuarantined: false };
  const legacyDefaults: RegistryPolicy = {
    ...on,
    roleAssignmentMode: 'legacy',
    abacAssignments: [],
    abacQuarantineRoles: true,
    referrersApi: false,
  };

  it('starts a push quarantined under the policy, Passed without it, and keeps the state on a re-push', () => {
    const store = new AcrStore(path.join(dir, 'state.json'));
    const fresh = store.manifestPushed('c.azurecr.io', 'app', digest, 'application/vnd.oci.image.index.v1+json', '1', true);
    assert.equal(fresh.quarantineState, 'Quarantined');
    assert.equal(isBlocked(on, fresh), true);
    assert.equal(isBlocked({ ...on, quarantine: false }, fresh), false);
    store.update('c.azurecr.io', 'app', digest, { quarantineState: 'Passed' });
    assert.equal(store.manifestPushed('c.azurecr.io', 'app', digest, undefined, '2', true).quarantineState, 'Passed');
    assert.deepEqual(store.tagsOf('c.azurecr.io', 'app', digest).sort(), ['1', '2']);
    assert.equal(store.manifestPushed('f.azurecr.io', 'app', digest, undefined, undefined, false).quarantineState, 'Passed');
  });

  it('keeps Failed blocked and never blocks a manifest it has no record of', () => {
    const store = new AcrStore();
    const record = store.update('c.azurecr.io', 'app', digest, { quarantineState: 'Failed' });
    assert.equal(isBlocked(on, record), true);
    assert.equal(isBlocked(on, undefined), false);
  });

  it('shows a fresh state as Quarantined or not at all, by policy', () => {
    const store = new AcrStore();
    const record = store.manifestPushed('c.azurecr.io', 'app', digest, undefined, undefined, true);
    assert.equal(shownQuarantineState(on, record), 'Quarantined');
    assert.equal(shownQuarantineState({ ...on, freshState: 'absent' }, record), undefined);
    record.quarantineState = 'Failed';
    assert.equal(shownQuarantineState({ ...on, freshState: 'absent' }, record), 'Failed');
  });

  it('persists records and tags across a restart, and forgets deleted manifests', () => {
    const file = path.join(dir, 'state.json');
    const first = new AcrStore(file);
    first.manifestPushed('c.azurecr.io', 'app', digest, undefined, 'v1', true);
    first.update('c.azurecr.io', 'app', digest, { quarantineState: 'Failed', quarantineDetails: '{}' });
    first.flush();
    const second = new AcrStore(file);
    assert.equal(second.record('c.azurecr.io', 'app', digest)?.quarantineState, 'Failed');
    assert.equal(second.tag('c.azurecr.io', 'app', 'v1')?.digest, digest);
    second.manifestDeleted('c.azurecr.io', 'app', digest);
    assert.equal(second.record('c.azurecr.io', 'app', digest), undefined);
    assert.equal(second.tag('c.azurecr.io', 'app', 'v1'), undefined);
  });

  it('takes policy defaults from lab.json and resets overrides', () => {
    const policies = new AcrPolicies((registry) => registry === 'c.azurecr.io');
    assert.deepEqual(policies.get('c.azurecr.io'), legacyDefaults);
    assert.equal(policies.get('f.azurecr.io').quarantine, false);
    assert.deepEqual(policies.set('c.azurecr.io', { disallowedStatus: 405 }), { ...legacyDefaults, disallowedStatus: 405 });
    assert.equal(policies.set('c.azurecr.io', { freshState: 'absent' }).disallowedStatus, 405);
    policies.reset();
    assert.deepEqual(policies.get('c.azurecr.io'), legacyDefaults);
  });
});

describe('lab emulators: faults and audit', () => {
  it('serves a fault n times, then lets requests through', () => {
    const faults = new FaultTable();
    faults.add({ host: 'contoso.azurecr.io', path: '^/oauth2/token$', kind: '429', times: 2 });
    assert.equal(faults.take('contoso.azurecr.io', 'POST', '/oauth2/token')?.kind, '429');
    assert.equal(faults.take('fabrikam.azurecr.io', 'POST', '/oauth2/token'), undefined, 'other host');
    assert.equal(faults.take('contoso.azurecr.io', 'GET', '/oauth2/token')?.kind, '429');
    assert.equal(faults.take('contoso.azurecr.io', 'POST', '/oauth2/token'), undefined);
    assert.deepEqual(faults.list(), []);
  });

  it('keeps a forever fault until removed, and matches the method when given', () => {
    const faults = new FaultTable();
    const fault = faults.add({ method: 'patch', path: '/_manifests/', kind: '503', times: -1 });
    for (let i = 0; i < 5; i += 1) assert.equal(faults.take('x', 'PATCH', '/acr/v1/a/_manifests/d')?.kind, '503');
    assert.equal(faults.take('x', 'GET', '/acr/v1/a/_manifests/d'), undefined);
    assert.equal(faults.list()[0].hits, 5);
    assert.equal(faults.remove(fault.id), true);
    assert.equal(faults.take('x', 'PATCH', '/acr/v1/a/_manifests/d'), undefined);
  });

  it('validates fault specifications', () => {
    assert.ok(validateFaultSpec({ path: '^/', kind: 'reset' }).spec);
    assert.match(validateFaultSpec({ path: '(', kind: '500' }).error ?? '', /regular expression/);
    assert.match(validateFaultSpec({ path: '^/', kind: '418' }).error ?? '', /kind/);
    assert.match(validateFaultSpec({ path: '^/', kind: '500', times: 0 }).error ?? '', /times/);
    assert.match(validateFaultSpec({ kind: '500' }).error ?? '', /path/);
    assert.match(validateFaultSpec({ path: '^/', kind: 'slow', delayMs: 'x' }).error ?? '', /delayMs/);
  });

  it('numbers audit entries across clears and returns those after a seq', () => {
    const audit = new AuditLog(3);
    const base = { time: 't', host: 'h', method: 'GET', path: '/', query: {}, status: 200 };
    audit.add(base);
    audit.add(base);
    assert.deepEqual(
      audit.since(1).map((entry) => entry.seq),
      [2],
    );
    audit.clear();
    assert.equal(audit.add(base).seq, 3);
    audit.add(base);
    audit.add(base);
    audit.add(base);
    assert.deepEqual(
      audit.since(0).map((entry) => entry.seq),
      [4, 5, 6],
      'capacity keeps the newest',
    );
  });

  it('never keeps secret query values', () => {
    const url = new URL('https://r/oauth2/token?service=r&scope=a&scope=b&refresh_token=s3cret&password=p&client_assertion=x');
    const query = auditQuery(url);
    assert.equal(query.service, 'r');
    assert.equal(query.scope, 'a b');
    assert.equal(query.refresh_token, '***');
    assert.equal(query.password, '***');
    assert.equal(query.client_assertion, '***');
    assert.ok(!JSON.stringify(query).includes('s3cret'));
  });
});

describe('lab emulators: ABAC repository permissions', () => {
  it('reads role assignments with conditions, as text or as {operator, value}, and refuses what ACR would not have', () => {
    const { assignments } = parseAssignments([
      {
        identity: 'scanner',
        role: 'Container Registry Repository Reader',
        condition: "@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringEqualsIgnoreCase 'Shop/Web'",
      },
      {
        identity: 'builder',
        role: 'Container Registry Repository Writer',
        condition: { operator: 'StringStartsWithIgnoreCase', value: 'shop/' },
      },
      { identity: 'lister', role: 'Container Registry Repository Catalog Lister' },
    ]);
    assert.deepEqual(assignments?.[0].condition, { operator: 'StringEqualsIgnoreCase', value: 'Shop/Web' });
    assert.equal(conditionMatches(assignments?.[0].condition, 'shop/web'), true);
    assert.equal(conditionMatches(assignments?.[0].condition, 'shop/web2'), false);
    assert.equal(conditionMatches(assignments?.[1].condition, 'shop/release'), true);
    assert.equal(conditionMatches(assignments?.[1].condition, 'other/release'), false);
    assert.equal(conditionMatches(assignments?.[2].condition, 'anything'), true);
    assert.match(parseAssignments([{ identity: 'x', role: 'AcrPull' }]).error ?? '', /role must be one of/);
    assert.match(
      parseAssignments([{ identity: 'x', role: 'Container Registry Repository Reader', condition: "name == 'a'" }]).error ?? '',
      /is not @Request/,
    );
  });

  it('grants per repository: what the roles allow on each requested repository, nothing elsewhere', () => {
    const wanted = parseScopes(['repository:shop/web:pull,push', 'repository:other:pull']);
    const granted = grantScopesPerRepository(wanted, (repository) => (repository === 'shop/web' ? ['pull', 'metadata_read'] : []), false);
    assert.deepEqual(
      granted.map((g) => g.actions),
      [['pull']],
    );
  });
});
