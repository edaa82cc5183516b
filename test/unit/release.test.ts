import Ajv from 'ajv';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AcrClient } from '../../src/acr/client';
import type { HttpClient, HttpRequest, HttpResponse } from '../../src/http/client';
import { RecordingLogger } from '../../src/log';
import { RegistryError } from '../../src/registry/errors';
import { acrQuarantineApi } from '../../src/release/acr-quarantine';
import { buildQuarantineDetails, serializeDetails } from '../../src/release/details';
import { explainRegistryError } from '../../src/release/diagnose';
import { evaluatePolicy } from '../../src/release/policy';
import {
  type Decision,
  type QuarantineApi,
  ReleaseError,
  type ReleaseTarget,
  applyDecision,
  releaseOrder,
} from '../../src/release/release';
import { parseTrivyReport } from '../../src/trivy/report';

const REGISTRY = 'contoso.azurecr.io';
const REPO = 'team/app';
const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const fixtures = path.resolve(__dirname, '..', 'lab', 'trivy', 'fixtures');
const evaluationOf = (file: string) =>
  evaluatePolicy(parseTrivyReport(readFileSync(path.join(fixtures, file), 'utf8')), {
    threshold: ['CRITICAL', 'HIGH'],
    ignoreUnfixed: false,
  });

/** An in-memory quarantine: one record per digest, every call written down. */
class FakeQuarantine implements QuarantineApi {
  readonly calls: string[] = [];
  readonly states = new Map<string, string | undefined>();
  failWrite?: (digest: string) => Error | undefined;
  /** Accept writes without changing anything (a registry that ignores the field). */
  ignoreWrites = false;

  async readState(_repository: string, digest: string): Promise<string | undefined> {
    this.calls.push(`GET ${digest}`);
    return this.states.get(digest);
  }
  async writeState(_repository: string, digest: string, state: Decision): Promise<void> {
    this.calls.push(`PATCH ${digest} ${state}`);
    const error = this.failWrite?.(digest);
    if (error) throw error;
    if (!this.ignoreWrites) this.states.set(digest, state);
  }
  patches(): string[] {
    return this.calls.filter((c) => c.startsWith('PATCH'));
  }
}

function httpResponse(status: number, body: unknown = {}, headers: Record<string, string> = {}): HttpResponse {
  const buffer = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return {
    status,
    url: '',
    headers: new Headers(headers),
    body: buffer,
    text: () => buffer.toString(),
    json: <T>() => JSON.parse(buffer.toString()) as T,
  };
}

const release = (api: QuarantineApi, targets: ReleaseTarget[], decision: Decision, logger = new RecordingLogger()) =>
  applyDecision({
    api,
    registry: REGISTRY,
    repository: REPO,
    targets,
    decision,
    details: '{}',
    logger,
    explain: (error, action, target) =>
      explainRegistryError(error, REGISTRY, action === 'write' ? 'write-state' : 'read-state', `${REGISTRY}/${REPO}@${target.digest}`),
  });

describe('release: writing the decision into quarantine', () => {
  it('PATCHes once and reads the state back', async () => {
    const api = new FakeQuarantine();
    api.states.set(d(1), 'Quarantined');
    const outcome = await release(api, [{ digest: d(1), kind: 'image', label: 'image' }], 'Passed');
    assert.deepEqual(api.calls, [`GET ${d(1)}`, `PATCH ${d(1)} Passed`, `GET ${d(1)}`]);
    assert.equal(outcome.state, 'Passed');
    assert.equal(outcome.targets[0].action, 'written');
  });

  it('writes a manifest that shows no quarantineState (fresh state absent)', async () => {
    const api = new FakeQuarantine();
    const outcome = await release(api, [{ digest: d(1), kind: 'image', label: 'image' }], 'Failed');
    assert.equal(outcome.state, 'Failed');
    assert.deepEqual(api.patches(), [`PATCH ${d(1)} Failed`]);
  });

  it('does not write a digest already in the decided state (re-run is safe)', async () => {
    const api = new FakeQuarantine();
    api.states.set(d(1), 'Passed');
    const logger = new RecordingLogger();
    const outcome = await release(api, [{ digest: d(1), kind: 'image', label: 'image' }], 'Passed', logger);
    assert.deepEqual(api.patches(), []);
    assert.equal(outcome.targets[0].action, 'unchanged');
    assert.match(logger.text(), /is already Passed; not written again/);
  });

  it('never revokes a release: a Passed digest rejected by this scan stays Passed, and says so', async () => {
    const api = new FakeQuarantine();
    api.states.set(d(1), 'Passed');
    const logger = new RecordingLogger();
    const outcome = await release(api, [{ digest: d(1), kind: 'image', label: 'image' }], 'Failed', logger);
    assert.deepEqual(api.patches(), []);
    assert.deepEqual(outcome.keptPassed, [d(1)]);
    assert.match(logger.text(), /does not revoke a release/);
  });

  it('releases platform images and attestations before the index, and rejects the index first', () => {
    const targets: ReleaseTarget[] = [
      { digest: d(1), kind: 'index', label: 'index' },
      { digest: d(2), kind: 'image', label: 'linux/amd64' },
      { digest: d(3), kind: 'image', label: 'linux/arm64' },
      { digest: d(4), kind: 'attestation', label: 'attestation' },
    ];
    assert.deepEqual(
      releaseOrder(targets, 'Passed').map((t) => t.digest),
      [d(2), d(3), d(4), d(1)],
    );
    assert.deepEqual(
      releaseOrder(targets, 'Failed').map((t) => t.digest),
      [d(1), d(2), d(3), d(4)],
    );
  });

  it('fails when the state does not read back as written', async () => {
    const api = new FakeQuarantine();
    api.states.set(d(1), 'Quarantined');
    api.ignoreWrites = true;
    await assert.rejects(
      release(api, [{ digest: d(1), kind: 'image', label: 'image' }], 'Passed'),
      /reads back quarantineState Quarantined; the state did not take/,
    );
  });

  it('a refused PATCH names the missing role and leaves the image quarantined', async () => {
    const api = new FakeQuarantine();
    api.states.set(d(1), 'Quarantined');
    const request: HttpRequest = { method: 'PATCH', url: `https://${REGISTRY}/acr/v1/${REPO}/_manifests/${d(1)}` };
    api.failWrite = () =>
      new RegistryError(
        request,
        httpResponse(403, {
          errors: [
            { code: 'DENIED', message: 'The operation is disallowed: changing the quarantine state needs the AcrQuarantineWriter role.' },
          ],
        }),
      );
    await assert.rejects(
      release(api, [{ digest: d(1), kind: 'image', label: 'image' }], 'Passed'),
      (e: Error) =>
        e instanceof ReleaseError &&
        /give it the AcrQuarantineWriter role on contoso\.azurecr\.io/.test(e.message) &&
        /now shows quarantineState Quarantined\. It stays quarantined\./.test(e.message),
    );
    assert.equal(api.states.get(d(1)), 'Quarantined');
  });

  it('a failure halfway through an index says what was written and that the index stays quarantined', async () => {
    const api = new FakeQuarantine();
    for (const n of [1, 2, 3]) api.states.set(d(n), 'Quarantined');
    api.failWrite = (digest) => (digest === d(1) ? new Error('socket hang up') : undefined);
    const targets: ReleaseTarget[] = [
      { digest: d(1), kind: 'index', label: 'index' },
      { digest: d(2), kind: 'image', label: 'linux/amd64' },
      { digest: d(3), kind: 'image', label: 'linux/arm64' },
    ];
    await assert.rejects(release(api, targets, 'Passed'), (e: Error) => {
      assert.ok(e instanceof ReleaseError);
      assert.match(e.message, /index\) to Passed failed: socket hang up/);
      assert.match(e.message, /Already written in this run: linux\/amd64 Passed, linux\/arm64 Passed; a re-run completes the rest/);
      return true;
    });
    assert.equal(api.states.get(d(1)), 'Quarantined');
  });
});

describe('release through AcrClient against a scripted registry', () => {
  const PATCH_URL = `https://${REGISTRY}/acr/v1/${REPO}/_manifests/${d(7)}`;

  /** Answers GETs with the current state and PATCHes from a script; counts the PATCHes. */
  function scriptedRegistry(patchAnswers: (() => HttpResponse)[]) {
    let state = 'Quarantined';
    const seen: string[] = [];
    const http: HttpClient = async (request) => {
      seen.push(`${request.method} ${request.url}`);
      if (request.method === 'GET')
        return httpResponse(200, {
          registry: REGISTRY,
          imageName: REPO,
          manifest: { digest: d(7), changeableAttributes: { quarantineState: state } },
        });
      const next = patchAnswers.length > 1 ? patchAnswers.shift()! : patchAnswers[0];
      const answer = next();
      if (answer.status === 200) state = (JSON.parse(String(request.body)) as { quarantineState: string }).quarantineState;
      return answer;
    };
    const acr = new AcrClient({
      registry: REGISTRY,
      credentials: { registry: REGISTRY, username: 'u', password: 'p' },
      http,
      sleep: async () => undefined,
      retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 },
    });
    return { api: acrQuarantineApi(acr), seen, state: () => state };
  }
  const target: ReleaseTarget[] = [{ digest: d(7), kind: 'image', label: 'image' }];

  it('429 then 200: retried, released, read back', async () => {
    const registry = scriptedRegistry([
      () => httpResponse(429, { errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }, { 'Retry-After': '0' }),
      () => httpResponse(200),
    ]);
    const outcome = await release(registry.api, target, 'Passed');
    assert.equal(outcome.state, 'Passed');
    assert.equal(registry.seen.filter((s) => s === `PATCH ${PATCH_URL}`).length, 2);
  });

  it('500 forever: bounded retries, then a failure that leaves the image quarantined', async () => {
    const registry = scriptedRegistry([() => httpResponse(500, { errors: [{ code: 'INTERNAL', message: 'boom' }] })]);
    await assert.rejects(
      release(registry.api, target, 'Passed'),
      /answered 500.*now shows quarantineState Quarantined\. It stays quarantined\./,
    );
    assert.equal(registry.seen.filter((s) => s === `PATCH ${PATCH_URL}`).length, 4, "exactly the policy's attempts");
    assert.equal(registry.state(), 'Quarantined');
  });

  it('403 is final: one PATCH, the role named', async () => {
    const registry = scriptedRegistry([
      () =>
        httpResponse(403, {
          errors: [
            { code: 'DENIED', message: 'The operation is disallowed: changing the quarantine state needs the AcrQuarantineWriter role.' },
          ],
        }),
    ]);
    await assert.rejects(release(registry.api, target, 'Passed'), /AcrQuarantineWriter role on contoso\.azurecr\.io/);
    assert.equal(registry.seen.filter((s) => s.startsWith('PATCH')).length, 1);
  });
});

describe('quarantineDetails', () => {
  const schema = JSON.parse(
    readFileSync(path.resolve(__dirname, '..', 'lab', 'emulators', 'acr', 'quarantine-details.schema.json'), 'utf8'),
  );
  delete schema.$schema; // draft-04; the keywords it uses mean the same in ajv's default draft
  const validate = new Ajv({ allErrors: true }).compile(schema);

  it('matches the schema for a failed scan, with Title-case severities and UNKNOWN left out', () => {
    const details = buildQuarantineDetails({
      trivyVersion: '0.74.0',
      decision: 'Failed',
      evaluation: evaluationOf('photon-30.json.golden'),
      link: 'https://dev.azure.com/x/_build/results?buildId=1',
    });
    assert.ok(validate(details), JSON.stringify(validate.errors));
    assert.equal(details.scanner, 'trivy 0.74.0');
    assert.equal(details.state, 'scan failed');
    assert.deepEqual(details.result.summary, [
      { severity: 'Critical', count: 2 },
      { severity: 'High', count: 1 },
      { severity: 'Medium', count: 0 },
      { severity: 'Low', count: 0 },
    ]);
    assert.match(details.result.description!, /Policy failed: 3 violation\(s\)\..*Violations: CVE-2019-5481 \(curl\)/);
    assert.equal(typeof serializeDetails(details), 'string');
  });

  it('counts secrets in the summary and tells them in the description', () => {
    const details = buildQuarantineDetails({ trivyVersion: '0.74.0', decision: 'Failed', evaluation: evaluationOf('secrets.json.golden') });
    assert.ok(validate(details));
    assert.equal(details.link, undefined);
    assert.deepEqual(details.result.summary.slice(0, 2), [
      { severity: 'Critical', count: 1 },
      { severity: 'High', count: 1 },
    ]);
    assert.match(details.result.description!, /0 vulnerabilities, 2 secrets/);
  });

  it('keeps the description within 1024 characters for thousands of violations', () => {
    const evaluation = evaluationOf('photon-30.json.golden');
    evaluation.violations = Array.from({ length: 5000 }, (_, i) => ({ ...evaluation.violations[0], id: `CVE-2099-${i}` }));
    const details = buildQuarantineDetails({ trivyVersion: '0.74.0', decision: 'Failed', evaluation });
    assert.ok(validate(details), JSON.stringify(validate.errors));
    assert.equal(details.result.description!.length, 1024);
  });
});

describe('registry errors explained', () => {
  const request: HttpRequest = { method: 'GET', url: `https://${REGISTRY}/v2/${REPO}/manifests/${d(1)}` };
  it('a disallowed pull by digest names AcrQuarantineReader', () => {
    for (const status of [403, 405]) {
      const error = new RegistryError(
        request,
        httpResponse(status, { errors: [{ code: 'UNKNOWN', message: 'The operation is disallowed.' }] }),
      );
      assert.match(
        explainRegistryError(error, REGISTRY, 'pull', 'x'),
        /may not read quarantined images .* give it the AcrQuarantineReader role/,
      );
    }
  });
  it('MANIFEST_UNKNOWN on a digest says it does not exist', () => {
    const error = new RegistryError(request, httpResponse(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    assert.match(
      explainRegistryError(error, REGISTRY, 'pull', `${REGISTRY}/${REPO}@${d(1)}`),
      /@sha256:1+ does not exist in contoso\.azurecr\.io \(404 MANIFEST_UNKNOWN/,
    );
  });
  it('an identity without any right is told to get AcrPull and a quarantine role', () => {
    const error = new RegistryError(request, httpResponse(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    assert.match(explainRegistryError(error, REGISTRY, 'pull', 'x'), /give it AcrPull and AcrQuarantineReader/);
  });
});
