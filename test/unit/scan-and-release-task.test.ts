// ScanAndRelease's whole flow in-process: input checks, sign-in, trivy (given or from the tool cache), the scan,
// the policy, what is published, and what is written to ACR's quarantine on each outcome, with a fake trivy (the
// runner) and a fake ACR (the HTTP seam). On any failure before the decision, nothing is written.
import { strict as assert } from 'node:assert';
import { convertTemplate } from './trivy-convert-fake';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { RegistryConnection } from '../../src/acr/signin';
import type { HttpRequest } from '../../src/http/client';
import { InputError } from '../../src/inputs';
import type { ServiceConnection } from '../../src/pipeline/connections';
import { MediaType } from '../../src/registry/oci';
import { readScanAndReleaseInputs, scanAndReleaseTask } from '../../src/release/scan-and-release-task';
import type { ToolCache } from '../../src/tools/cache';
import { type Call, type FakeContext, fakeContext, fakeRunner, taskInputs } from './task-context-fakes';
import { fakeHttp, reply } from './registry-fakes';

const REGISTRY = 'contoso.azurecr.io';
const REPO = 'team/app';
const fixtures = path.resolve(__dirname, '..', 'lab', 'trivy', 'fixtures');
const CLEAN = 'sl-micro-rancher5.4.json.golden';
const CRITICAL = 'debian-buster.json.golden';

const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: `sha256:${'c'.repeat(64)}`, size: 1 },
    layers: [],
  }),
);
const DIGEST = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const IMAGE = `${REGISTRY}/${REPO}@${DIGEST}`;

const connection: RegistryConnection = {
  kind: 'dockerRegistry',
  docker: {
    id: 'c1',
    url: `https://${REGISTRY}`,
    scheme: 'UsernamePassword',
    parameters: { username: 'scanner', password: 'sc4nner-secret' },
    data: () => undefined,
  } satisfies ServiceConnection,
};

/** ACR: the image's manifest under /v2/, its quarantine state under /acr/v1/ (PATCHes written down; a status to refuse them). */
function fakeAcr(state: string, options: { refusePatch?: number } = {}) {
  const acr = { state, patches: [] as { quarantineState: string; quarantineDetails: string }[] };
  const { http, requests } = fakeHttp((request: HttpRequest) => {
    if (request.url.endsWith(`/v2/${REPO}/manifests/${DIGEST}`))
      return reply(200, manifest, { 'content-type': MediaType.ociManifest, 'docker-content-digest': DIGEST });
    if (request.url.endsWith(`/acr/v1/${REPO}/_manifests/${DIGEST}`)) {
      if (request.method === 'PATCH') {
        if (options.refusePatch)
          return reply(options.refusePatch, { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] });
        const body = JSON.parse(String(request.body));
        acr.patches.push(body);
        acr.state = body.quarantineState;
      }
      return reply(200, {
        registry: REGISTRY,
        imageName: REPO,
        manifest: { digest: DIGEST, changeableAttributes: { quarantineState: acr.state } },
      });
    }
    return reply(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'not found' }] });
  });
  return Object.assign(acr, { http, requests });
}

/** trivy: its version, a scan that writes the chosen fixture as the report of the digest, and convert for SARIF. */
function fakeTrivy(report: string | { crash: string }, options: { convertFails?: boolean } = {}) {
  return fakeRunner((call: Call) => {
    const [command] = call.args;
    if (command === 'version') return { stdout: JSON.stringify({ Version: '0.74.0' }) };
    const output = call.args[call.args.indexOf('--output') + 1];
    if (convertTemplate(call.args)) return {};
    if (command === 'convert') {
      if (options.convertFails) return { exitCode: 1, stderr: 'FATAL convert failed\n' };
      writeFileSync(output, JSON.stringify({ version: '2.1.0', runs: [] }));
      return {};
    }
    if (typeof report !== 'string') return { exitCode: 1, stderr: `2026-11-29T10:00:00Z\tFATAL\tFatal error\t${report.crash}\n` };
    const reference = call.args[call.args.length - 1];
    const json = JSON.parse(readFileSync(path.join(fixtures, report), 'utf8'));
    json.ArtifactName = reference;
    json.Metadata = { ...json.Metadata, RepoDigests: [reference] };
    writeFileSync(output, JSON.stringify(json));
    const findings = (json.Results ?? []).some((r: { Vulnerabilities?: unknown[] }) => r.Vulnerabilities?.length);
    return { exitCode: findings ? 10 : 0 };
  });
}

describe('ScanAndRelease flow (in-process, fakes)', () => {
  let context: FakeContext;
  let trivy: ReturnType<typeof fakeTrivy>;
  let acr: ReturnType<typeof fakeAcr>;
  let trivyPath: string;
  const setUp = (t: ReturnType<typeof fakeTrivy>, a: ReturnType<typeof fakeAcr>, overrides: Parameters<typeof fakeContext>[2] = {}) => {
    trivy = t;
    acr = a;
    context = fakeContext('ScanAndRelease', t.runner, { http: a.http, ...overrides });
    trivyPath = path.join(context.root, 'trivy');
    writeFileSync(trivyPath, '');
  };
  afterEach(() => rmSync(context.root, { recursive: true, force: true }));
  const read = (values: Record<string, string> = {}) =>
    readScanAndReleaseInputs(taskInputs('ScanAndRelease', { image: IMAGE, trivyPath, ...values }, context.root), () => connection, context);
  const run = (values: Record<string, string> = {}) => scanAndReleaseTask(read(values), context);
  const scans = () => trivy.calls.filter((c) => c.args[0] === 'image');

  describe('input checks: the error names the input and the fix, and nothing runs', () => {
    const rows: [string, Record<string, string>, RegExp][] = [
      [
        'a malformed image reference',
        { image: `${REGISTRY}/Team App@sha256:123` },
        /^Input 'image': The image reference .* contains white space/,
      ],
      [
        'a tag without allowTag',
        { image: `${REGISTRY}/${REPO}:1.0` },
        /^Input 'image': 'contoso\.azurecr\.io\/team\/app:1\.0' is a tag, and a tag can move between scan and release\. Give the digest .*set allowTag: true/,
      ],
      ['an unknown severity', { severityThreshold: 'CRITICAL,SEVERE' }, /^Input 'severityThreshold': 'SEVERE' is not a trivy severity/],
      [
        'an unknown scanner',
        { scanners: 'vuln,virus' },
        /^Input 'scanners': 'virus' is not a trivy scanner\. Use a comma-separated list of vuln, secret, misconfig, license\./,
      ],
      ['no scanner', { scanners: ' , ' }, /^Input 'scanners': name at least one scanner/],
      [
        'an ignore file that does not exist',
        { ignoreFile: 'no/such/.trivyignore' },
        /^Input 'ignoreFile': file 'no\/such\/.trivyignore' was not found/,
      ],
      ['a trivy version range', { trivyVersion: 'latest' }, /^Input 'trivyVersion': 'latest' is not a trivy release version/],
      ['an unknown release mode', { release: 'always' }, /^Input 'release': 'always' is not one of quarantine, gateOnly/],
      ['an unknown evidence mode', { evidence: 'always' }, /^Input 'evidence': 'always' is not one of auto, attach, none/],
      ['a bad ignoreUnfixed value', { ignoreUnfixed: 'sometimes' }, /^Input 'ignoreUnfixed': 'sometimes' is not a boolean/],
      [
        'skipDbUpdate with no database in the trivy cache',
        { skipDbUpdate: 'true' },
        /^Input 'skipDbUpdate': 'true' tells trivy not to download its database, but the trivy cache .*trivy-cache holds none \(db\/trivy\.db\).*Run the task once without skipDbUpdate/,
      ],
    ];
    for (const [name, values, message] of rows) {
      it(`refuses ${name}`, () => {
        setUp(fakeTrivy(CLEAN), fakeAcr('Quarantined'));
        assert.throws(
          () => read(values),
          (error: unknown) => error instanceof InputError && message.test(error.message),
        );
        assert.deepEqual(trivy.calls, []);
        assert.deepEqual(acr.requests, []);
      });
    }

    it('skipDbUpdate: no database is needed when the vuln scanner is off', () => {
      setUp(fakeTrivy(CLEAN), fakeAcr('Quarantined'));
      assert.equal(read({ skipDbUpdate: 'true', scanners: 'secret' }).skipDbUpdate, true);
    });

    it('warns about severities the threshold leaves out', () => {
      setUp(fakeTrivy(CLEAN), fakeAcr('Quarantined'));
      read({ severityThreshold: 'CRITICAL,MEDIUM' });
      assert.match(context.logger.text(), /severityThreshold 'CRITICAL,MEDIUM' leaves out HIGH: such findings will not fail the policy/);
    });

    it('refuses to run without a connection: there is no anonymous quarantine', async () => {
      setUp(fakeTrivy(CLEAN), fakeAcr('Quarantined'));
      const inputs = readScanAndReleaseInputs(
        taskInputs('ScanAndRelease', { image: IMAGE, trivyPath }, context.root),
        () => undefined,
        context,
      );
      await assert.rejects(
        scanAndReleaseTask(inputs, context),
        /^InputError: Input 'azureSubscription': Give a service connection: azureSubscription .* or dockerRegistryServiceConnection\.$/,
      );
      assert.deepEqual(trivy.calls, []);
      assert.deepEqual(acr.requests, []);
    });
  });

  it('a clean image: released (PATCH Passed), reports published before, outputs and the summary say so', async () => {
    setUp(fakeTrivy(CLEAN), fakeAcr('Quarantined'));
    const outcome = await run();
    assert.deepEqual(outcome, { result: 'succeeded' });
    assert.deepEqual(
      acr.patches.map((p) => p.quarantineState),
      ['Passed'],
    );
    assert.equal(JSON.parse(acr.patches[0].quarantineDetails).link, 'https://dev.azure.com/contoso/shop/_build/results?buildId=7');
    const { outputs, attachments, testResults, summaries, secrets } = context.agent;
    assert.equal(outputs.get('quarantineState'), 'Passed');
    assert.equal(outputs.get('policyResult'), 'passed');
    assert.equal(outputs.get('imageReference'), IMAGE);
    assert.equal(JSON.parse(readFileSync(outputs.get('reportPath')!, 'utf8')).ArtifactName, IMAGE);
    assert.match(readFileSync(outputs.get('junitPath')!, 'utf8'), /<testsuites name="trivy"/);
    assert.equal(JSON.parse(readFileSync(outputs.get('sarifPath')!, 'utf8')).version, '2.1.0');
    assert.deepEqual(
      attachments.map((a) => a.type),
      ['trivy-json', 'trivy-sarif', 'containerRelease.v1'],
    );
    // the Container release tab's record of this image: the decision, its reason and the state read back
    const record = JSON.parse(readFileSync(attachments[2].file, 'utf8'));
    assert.equal(record.reference, IMAGE);
    assert.equal(record.decision.result, 'Passed');
    assert.equal(record.decision.release, 'quarantine');
    assert.match(record.decision.reason, /released/i);
    assert.equal(record.quarantineState, 'Passed');
    assert.equal(record.outcome, 'succeeded');
    assert.deepEqual(
      testResults.map((t) => t.runTitle),
      [`trivy ${IMAGE}`],
    );
    assert.equal(summaries.length, 1);
    assert.match(summaries[0].markdown, /Policy passed/);
    // the Scans tab reads the SARIF from the CodeAnalysisLogs artifact
    assert.deepEqual(context.agent.artifacts, [{ artifactName: 'CodeAnalysisLogs', file: outputs.get('sarifPath') }]);
    assert.ok(secrets.includes('sc4nner-secret'));
    const log = context.logger.text();
    assert.match(log, /Signed in to contoso\.azurecr\.io: Docker registry connection \(user name and password\)\./);
    assert.match(log, /Using trivy at .*\(trivyPath\); nothing is downloaded\./);
    assert.match(
      log,
      new RegExp(`Policy passed: ${IMAGE.replace(/[.]/g, '\\.')} is released from quarantine \\(quarantineState Passed, read back\\)\\.`),
    );
    assert.ok(
      trivy.calls.every((c) => !c.args.join(' ').includes('sc4nner-secret')),
      'the password is never in argv',
    );
  });

  it('an image already released: nothing is written', async () => {
    setUp(fakeTrivy(CLEAN), fakeAcr('Passed'));
    assert.deepEqual(await run(), { result: 'succeeded' });
    assert.deepEqual(acr.patches, []);
    assert.match(context.logger.text(), /was already released \(Passed\); nothing was written\./);
  });

  it('a CRITICAL finding: set to Failed, the task fails with the count, the outputs say failed', async () => {
    setUp(fakeTrivy(CRITICAL), fakeAcr('Quarantined'));
    const outcome = await run();
    assert.equal(outcome.result, 'failed');
    assert.match(
      outcome.result === 'failed' ? outcome.message : '',
      /^Policy violated by \d+ finding\(s\): .* is set to Failed and stays quarantined\.$/,
    );
    assert.deepEqual(
      acr.patches.map((p) => p.quarantineState),
      ['Failed'],
    );
    assert.equal(context.agent.outputs.get('quarantineState'), 'Failed');
    assert.equal(context.agent.outputs.get('policyResult'), 'failed');
  });

  it('failTaskOnPolicyViolation false: the same Failed state, the task succeeds with issues', async () => {
    setUp(fakeTrivy(CRITICAL), fakeAcr('Quarantined'));
    const outcome = await run({ failTaskOnPolicyViolation: 'false' });
    assert.equal(outcome.result, 'succeededWithIssues');
    assert.deepEqual(
      acr.patches.map((p) => p.quarantineState),
      ['Failed'],
    );
  });

  it('gateOnly: the policy decides the task, the registry is not written', async () => {
    setUp(fakeTrivy(CRITICAL), fakeAcr('Quarantined'));
    const failed = await run({ release: 'gateOnly' });
    assert.equal(failed.result, 'failed');
    assert.match(failed.result === 'failed' ? failed.message : '', /gateOnly: the quarantine state was not changed/);
    assert.deepEqual(acr.patches, []);
    assert.equal(context.agent.outputs.get('quarantineState'), 'Quarantined', 'the state as read');
  });

  it('gateOnly and a clean image: passed, nothing written', async () => {
    setUp(fakeTrivy(CLEAN), fakeAcr('Quarantined'));
    assert.deepEqual(await run({ release: 'gateOnly' }), { result: 'succeeded' });
    assert.deepEqual(acr.patches, []);
    assert.match(context.logger.text(), /Policy passed for .* \(gateOnly: the quarantine state was not changed\)\./);
  });

  it("trivy crashes: the task fails with trivy's reason, nothing is written or published", async () => {
    setUp(fakeTrivy({ crash: 'init error: DB error' }), fakeAcr('Quarantined'));
    await assert.rejects(run(), /DB error/);
    assert.deepEqual(acr.patches, []);
    assert.equal(context.agent.summaries.length, 0);
    assert.equal(context.agent.outputs.get('policyResult'), undefined);
  });

  it('the PATCH is refused: the image stays quarantined, the summary says the release did not complete', async () => {
    setUp(fakeTrivy(CLEAN), fakeAcr('Quarantined', { refusePatch: 403 }));
    await assert.rejects(run());
    assert.equal(acr.state, 'Quarantined');
    assert.equal(context.agent.outputs.get('quarantineState'), undefined);
    assert.equal(context.agent.outputs.get('policyResult'), 'passed', 'the scan itself passed and was published');
    assert.match(context.agent.summaries[0].markdown, /The release did not complete: /);
  });

  it('no SARIF: a warning, an empty sarifPath, the release goes on', async () => {
    setUp(fakeTrivy(CLEAN, { convertFails: true }), fakeAcr('Quarantined'));
    assert.deepEqual(await run(), { result: 'succeeded' });
    assert.equal(context.agent.outputs.get('sarifPath'), '');
    assert.ok(context.logger.lines.some((l) => l.level === 'warn' && l.message.startsWith('No SARIF report: ')));
    assert.deepEqual(
      acr.patches.map((p) => p.quarantineState),
      ['Passed'],
    );
  });

  it("without trivyPath: the pinned trivy from the agent's tool cache, scanned with the job's cache directory", async () => {
    setUp(fakeTrivy(CLEAN), fakeAcr('Quarantined'));
    const cached = path.join(context.root, 'tools', 'trivy', '0.74.0', process.arch);
    mkdirSync(cached, { recursive: true });
    writeFileSync(path.join(cached, 'trivy'), '');
    const toolCache = async () => ({ find: () => cached }) as unknown as ToolCache;
    context.toolCache = toolCache;
    assert.deepEqual(await run({ trivyPath: '' }), { result: 'succeeded' });
    assert.match(context.logger.text(), /trivy 0\.74\.0 found in the tool cache/);
    assert.equal(scans()[0].file, path.join(cached, 'trivy'));
    assert.ok(
      scans()[0].args.includes(path.join(context.root, 'tools', 'trivy-cache')),
      'the default cache directory is under Agent.ToolsDirectory',
    );
  });

  it('skipDbUpdate with a cached database, and the database mirrors: passed to trivy as its flags', async () => {
    setUp(fakeTrivy(CLEAN), fakeAcr('Quarantined'));
    const db = path.join(context.root, 'tools', 'trivy-cache', 'db');
    mkdirSync(db, { recursive: true });
    for (const file of ['trivy.db', 'metadata.json']) writeFileSync(path.join(db, file), '{}');
    const mirrors = {
      dbRepository: 'contoso.azurecr.io/aquasec/trivy-db:2',
      javaDbRepository: 'contoso.azurecr.io/aquasec/trivy-java-db:1',
    };
    assert.deepEqual(await run({ skipDbUpdate: 'true', ...mirrors }), { result: 'succeeded' });
    const args = scans()[0].args;
    for (const flag of ['--skip-db-update', '--skip-java-db-update']) assert.ok(args.includes(flag), flag);
    assert.equal(args[args.indexOf('--db-repository') + 1], mirrors.dbRepository);
    assert.equal(args[args.indexOf('--java-db-repository') + 1], mirrors.javaDbRepository);
    await run({ trivyPath });
    for (const flag of ['--skip-db-update', '--skip-java-db-update', '--java-db-repository'])
      assert.ok(!scans()[1].args.includes(flag), `${flag} only when asked`);
  });
});
