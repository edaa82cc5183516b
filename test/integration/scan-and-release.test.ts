// ScanAndRelease@1 as the agent runs it (the bundle, INPUT_/ENDPOINT_ variables, logging commands read back),
// against the lab: ACR emulator with quarantine, trivy's release assets and the trivy stand-in, which reports the
// fixture an image names in its `lab.trivy.report` label and misbehaves as `lab.trivy.behaviour` says.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ArgvWatch } from '../helpers/argv-watch';
import { type RunTaskOptions, type TaskRun, leakedSecrets, repoRoot, explainRun } from '../helpers/task-runner';
import { type LabServiceConnection, labSecrets, labServiceConnection, runLabTask } from '../lab/agent';
import { busyboxDockerfile, makeBuildContext } from '../lab/base';
import { LabControl } from '../lab/client';
import { nullGuid } from '../lab/emulators/acr/auth';
import { DockerClient, acrCall, identityRefreshToken, uniqueRepository, dockerOk } from '../lab/emulators/testkit';
import { type Lab, readLab } from '../lab/lab';

const contoso = 'contoso.azurecr.io';

const ok = dockerOk;

const explain = explainRun;

describe('ScanAndRelease@1 against the lab', function () {
  this.timeout(900_000);
  let lab: Lab;
  let builder: DockerClient;
  let repository: string;
  let metadataDir: string;
  let toolsDir: string;
  const control = new LabControl();
  const contexts: (() => void)[] = [];

  before(async () => {
    lab = readLab();
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', 'ScanAndRelease', '--no-typecheck'], {
      stdio: 'pipe',
    });
    builder = new DockerClient();
    ok(builder.login(contoso, nullGuid, await identityRefreshToken(lab, contoso, 'builder')), 'docker login as builder');
    repository = uniqueRepository('scan-release');
    metadataDir = mkdtempSync(path.join(os.tmpdir(), 'scan-release-it-'));
    // One agent tool directory for this file: the first run installs trivy, every later one finds it cached.
    toolsDir = path.join(metadataDir, 'tools');
    mkdirSync(toolsDir);
  });

  after(() => {
    builder?.remove();
    for (const remove of contexts) remove();
    if (metadataDir) rmSync(metadataDir, { recursive: true, force: true });
  });

  /**
   * Builds an image FROM scratch + busybox with labels for the trivy stand-in into the image store, and pushes it
   * as the builder with `docker push` (buildx --push would look the quarantined tag up afterwards, which an AcrPush
   * identity cannot see); returns the pushed digest.
   */
  function pushImage(tag: string, labels: Record<string, string> = {}, platforms = 'linux/amd64'): string {
    const labelLines = Object.entries(labels).map(([k, v]) => `LABEL ${k}="${v}"`);
    const context = makeBuildContext({
      lab,
      dockerfile: `${busyboxDockerfile}COPY stamp.txt /stamp.txt\n${labelLines.join('\n')}\n`,
      files: { 'stamp.txt': randomBytes(16).toString('hex') },
    });
    contexts.push(context.remove);
    const reference = `${contoso}/${repository}:${tag}`;
    const args = ['buildx', 'build', '--platform', platforms, '-t', reference];
    if (!platforms.includes(',')) args.push('--provenance=false'); // one plain image manifest, no index
    ok(builder.run([...args, context.dir]), `buildx build of ${tag}`);
    const pushed = ok(builder.run(['push', reference]), `docker push of ${tag}`);
    builder.run(['image', 'rm', reference]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
    assert.ok(digest, `no digest in the output of docker push: ${pushed}`);
    return digest;
  }

  const scannerConnection = () => labServiceConnection(lab, 'scanner', 'ServicePrincipal', 'spnKey');

  function scan(
    inputs: RunTaskOptions['inputs'],
    options: Partial<RunTaskOptions> & { connection?: LabServiceConnection } = {},
  ): Promise<TaskRun> {
    return runLabTask(lab, {
      task: 'ScanAndRelease',
      inputs: {
        trivyDownloadBaseUrl: lab.trivy.downloadBaseUrl,
        trivyVersion: lab.trivy.version,
        ...inputs,
      },
      connections: { azureSubscription: options.connection ?? scannerConnection() },
      variables: { 'Agent.ToolsDirectory': toolsDir, ...options.variables },
      secretVariables: options.secretVariables,
      env: options.env,
      timeoutMs: 300_000,
    });
  }

  /** What an AcrPull-only identity gets for a manifest by digest: 200 when it may pull it. */
  async function pullStatus(digest: string): Promise<number> {
    const answer = await acrCall(
      lab,
      contoso,
      await identityRefreshToken(lab, contoso, 'puller'),
      `/v2/${repository}/manifests/${digest}`,
      {
        headers: { Accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
      },
    );
    return answer.status;
  }

  const state = async (digest: string) => (await control.quarantineRecord(contoso, repository, digest))?.quarantineState;
  /**
   * The PATCHes of a digest that carried credentials. The client's first PATCH of a repository goes out without a
   * token and is answered 401 with the challenge that names the scope (ACR does not document the PATCH scope);
   * that handshake changes nothing and is checked separately.
   */
  const patchesOf = async (mark: number, digest: string) => {
    const all = (await control.audit(mark)).filter(
      (entry) => entry.host === contoso && entry.method === 'PATCH' && entry.path.endsWith(digest),
    );
    const handshakes = all.filter((entry) => entry.status === 401 && !entry.identity);
    assert.ok(handshakes.length <= 1, `at most one unauthenticated PATCH (the token challenge): ${JSON.stringify(handshakes)}`);
    return all.filter((entry) => !handshakes.includes(entry));
  };

  describe('a clean image, by digest', () => {
    let digest: string;
    let first: TaskRun;
    let mark: number;
    let argv: string[];

    before(async () => {
      digest = pushImage('clean');
      mark = await control.auditMark();
      const watch = new ArgvWatch().start();
      try {
        first = await scan({ image: `${contoso}/${repository}@${digest}` });
      } finally {
        argv = watch.stop();
      }
    });

    it('is not pullable by an AcrPull identity before the scan', async () => {
      // The run above released it; the record's history in the audit log shows the refusal came first.
      const pulls = (await control.audit(0)).filter(
        (e) => e.host === contoso && e.path === `/v2/${repository}/manifests/${digest}` && e.identity === 'puller',
      );
      assert.equal(pulls.length, 0, 'nobody pulled it as puller before');
    });

    it('is scanned, released and read back: task succeeded, quarantineState Passed', async () => {
      assert.equal(first.result, 'Succeeded', explain(first));
      assert.equal(first.outputs.quarantineState, 'Passed');
      assert.equal(first.outputs.policyResult, 'passed');
      assert.deepEqual(JSON.parse(first.outputs.vulnerabilityCounts), { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0 });
      assert.equal(first.outputs.imageReference, `${contoso}/${repository}@${digest}`);
      assert.equal(await state(digest), 'Passed');
      assert.match(first.stdout, /is released from quarantine \(quarantineState Passed, read back\)/);
      assert.match(first.stdout, /is a single image manifest/);
    });

    it('an AcrPull identity can pull it afterwards', async () => {
      assert.equal(await pullStatus(digest), 200);
    });

    it('the audit log shows exactly one PATCH for the digest, by the scanner', async () => {
      const patches = await patchesOf(mark, digest);
      assert.deepEqual(
        patches.map((p) => [p.status, p.identity]),
        [[200, 'scanner']],
      );
      const record = await control.quarantineRecord(contoso, repository, digest);
      const details = JSON.parse(record!.quarantineDetails!);
      assert.equal(details.scanner, `trivy ${lab.trivy.version}`);
      assert.equal(details.state, 'scan passed');
      assert.match(details.link, /_build\/results\?buildId=4711$/);
    });

    it('installed trivy from the release server with a verified checksum', () => {
      assert.match(first.stdout, /sha256 [0-9a-f]{64} matches trivy_0\.74\.0_checksums\.txt/);
      assert.ok(existsSync(path.join(toolsDir, 'trivy', lab.trivy.version, os.arch() === 'arm64' ? 'arm64' : 'x64', 'trivy')));
    });

    it('published the reports: JSON, SARIF, JUnit, summary, attachments', () => {
      for (const name of ['reportPath', 'sarifPath', 'junitPath'])
        assert.ok(existsSync(first.outputs[name]), `${name} ${first.outputs[name]}`);
      assert.equal(JSON.parse(readFileSync(first.outputs.reportPath, 'utf8')).ArtifactName, `${contoso}/${repository}@${digest}`);
      assert.equal(JSON.parse(readFileSync(first.outputs.sarifPath, 'utf8')).version, '2.1.0');
      assert.match(readFileSync(first.outputs.junitPath, 'utf8'), /<testsuites name="trivy" tests="1" failures="0">/);
      assert.deepEqual(first.testResults, [{ type: 'JUnit', files: [first.outputs.junitPath] }]);
      assert.equal(first.summaries.length, 1);
      assert.match(readFileSync(first.summaries[0], 'utf8'), /Policy passed/);
      assert.deepEqual(first.attachments.map((a) => a.type).sort(), ['containerRelease.v1', 'trivy-json', 'trivy-sarif']);
      // the Container release tab's record: this digest, Passed, and the state read back
      const record = JSON.parse(readFileSync(first.attachments.find((a) => a.type === 'containerRelease.v1')!.path, 'utf8'));
      assert.equal(record.reference, `${contoso}/${repository}@${digest}`);
      assert.equal(record.decision.result, 'Passed');
      assert.equal(record.quarantineState, first.outputs.quarantineState);
    });

    it('kept every secret out of the log and out of process arguments', async () => {
      // The tokens the task obtained are registered with task.setsecret (that line carries them by design, the
      // agent masks them everywhere else); nothing may print them, or the lab's secrets, anywhere else.
      const secrets = [...labSecrets(lab), ...first.secrets];
      assert.ok(first.secrets.length >= 2, 'the Entra token and the ACR refresh token were registered as secrets');
      const printed = {
        log: first.log
          .split('\n')
          .filter((line) => !line.startsWith('##vso[task.setsecret]'))
          .join('\n'),
      };
      assert.deepEqual(leakedSecrets(printed, secrets), []);
      assert.deepEqual(ArgvWatch.offending(argv, secrets), []);
      assert.ok(
        argv.some((line) => line.includes(`image --format json --output`)),
        'trivy ran while argv was watched',
      );
    });

    it('re-running on the released digest is safe: success, no second PATCH, trivy taken from the tool cache', async () => {
      const again = await control.auditMark();
      const second = await scan({ image: `${contoso}/${repository}@${digest}` });
      assert.equal(second.result, 'Succeeded', explain(second));
      assert.match(second.stdout, /was already released \(Passed\); nothing was written/);
      assert.deepEqual(await patchesOf(again, digest), []);
      assert.match(second.stdout, /found in the tool cache/);
      assert.doesNotMatch(second.stdout, /Downloading trivy/);
    });
  });

  describe('images with CRITICAL findings', () => {
    it('debian-buster: set to Failed, the task fails, AcrPull still cannot pull', async () => {
      const digest = pushImage('critical', { 'lab.trivy.report': 'debian-buster' });
      const run = await scan({ image: `${contoso}/${repository}@${digest}` });
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage ?? '', /Policy violated by 1 finding\(s\): .* is set to Failed and stays quarantined/);
      assert.equal(run.outputs.quarantineState, 'Failed');
      assert.equal(run.outputs.policyResult, 'failed');
      assert.equal(JSON.parse(run.outputs.vulnerabilityCounts).CRITICAL, 1);
      assert.equal(await state(digest), 'Failed');
      assert.notEqual(await pullStatus(digest), 200);
      // violations first, then the counts
      const violation = run.stdout.indexOf('CRITICAL CVE-2019-18224  libidn2-0 2.0.5-1 -> 2.0.5-1+deb10u1');
      assert.ok(violation > 0 && violation < run.stdout.indexOf('Counts by severity'), 'the violation is listed before the counts');
      assert.match(readFileSync(run.outputs.junitPath, 'utf8'), /<testsuites name="trivy" tests="2" failures="2">/);
    });

    it('photon-30 with failTaskOnPolicyViolation false: succeeded with issues, state still Failed', async () => {
      const digest = pushImage('photon', { 'lab.trivy.report': 'photon-30' });
      const run = await scan({ image: `${contoso}/${repository}@${digest}`, failTaskOnPolicyViolation: false });
      assert.equal(run.result, 'SucceededWithIssues', explain(run));
      assert.equal(run.outputs.quarantineState, 'Failed');
      assert.equal(await state(digest), 'Failed');
      assert.notEqual(await pullStatus(digest), 200);
      const details = JSON.parse((await control.quarantineRecord(contoso, repository, digest))!.quarantineDetails!);
      assert.deepEqual(details.result.summary.slice(0, 2), [
        { severity: 'Critical', count: 2 },
        { severity: 'High', count: 1 },
      ]);
    });

    it('gateOnly: the policy fails the task, the registry is not written', async () => {
      const digest = pushImage('gate', { 'lab.trivy.report': 'photon-30' });
      const mark = await control.auditMark();
      const run = await scan({ image: `${contoso}/${repository}@${digest}`, release: 'gateOnly' });
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage ?? '', /gateOnly: the quarantine state was not changed/);
      assert.deepEqual(await patchesOf(mark, digest), []);
      assert.equal(await state(digest), 'Quarantined');
    });
  });

  describe('trivy filters, one database download per agent, SARIF on the Scans tab (issue 18)', () => {
    it('a .trivyignore turns Failed into Passed: the image is released', async () => {
      const digest = pushImage('ignored', { 'lab.trivy.report': 'debian-buster' });
      const image = `${contoso}/${repository}@${digest}`;
      const before = await scan({ image, release: 'gateOnly' });
      assert.equal(before.result, 'Failed', explain(before));
      assert.match(before.stdout, /CRITICAL +CVE-2019-18224/);
      const ignoreFile = path.join(metadataDir, '.trivyignore');
      writeFileSync(ignoreFile, '# accepted until the base image moves\nCVE-2019-18224\n');
      const run = await scan({ image, ignoreFile });
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.match(run.stdout, /1 findings were suppressed by the ignore file/);
      assert.equal(await state(digest), 'Passed');
      assert.equal(await pullStatus(digest), 200);
    });

    it("scanners: vuln leaves out a secret that 'vuln,secret' fails on", async () => {
      const digest = pushImage('secret', { 'lab.trivy.report': 'secrets' });
      const image = `${contoso}/${repository}@${digest}`;
      const withSecrets = await scan({ image, release: 'gateOnly', scanners: 'vuln,secret' });
      assert.equal(withSecrets.result, 'Failed', explain(withSecrets));
      assert.match(withSecrets.stdout, /aws-access-key-id +secret in/);
      const vulnOnly = await scan({ image, scanners: 'vuln' });
      assert.equal(vulnOnly.result, 'Succeeded', explain(vulnOnly));
      assert.doesNotMatch(vulnOnly.stdout, /aws-access-key-id/);
      assert.equal(await state(digest), 'Passed');
    });

    it('two runs on one agent download the database once; skipDbUpdate then scans offline, and fails at its start on an agent without one', async () => {
      const agentTools = mkdtempSync(path.join(metadataDir, 'agent-'));
      const dbPath = `/v2/${lab.trivy.dbRepository
        .split('/')
        .slice(1)
        .join('/')
        .replace(/:[^/]*$/, '')}/`;
      const dbHost = lab.trivy.dbRepository.split('/')[0];
      const dbRequests = async (mark: number) => (await control.audit(mark)).filter((e) => e.host === dbHost && e.path.startsWith(dbPath));
      const digest = pushImage('db-once');
      const image = `${contoso}/${repository}@${digest}`;
      const variables = { 'Agent.ToolsDirectory': agentTools };

      const mark = await control.auditMark();
      const first = await scan({ image, release: 'gateOnly' }, { variables });
      assert.equal(first.result, 'Succeeded', explain(first));
      const firstRequests = await dbRequests(mark);
      assert.ok(firstRequests.length > 0, 'the first run downloads the database');
      const between = await control.auditMark();
      const second = await scan({ image, release: 'gateOnly' }, { variables });
      assert.equal(second.result, 'Succeeded', explain(second));
      assert.deepEqual(await dbRequests(between), [], 'the second run on the agent downloads nothing');

      const offline = await scan({ image, release: 'gateOnly', skipDbUpdate: 'true' }, { variables });
      assert.equal(offline.result, 'Succeeded', explain(offline));
      assert.match(offline.stdout, /--skip-db-update --skip-java-db-update/);

      const bare = await scan(
        { image, skipDbUpdate: 'true' },
        { variables: { 'Agent.ToolsDirectory': mkdtempSync(path.join(metadataDir, 'agent-')) } },
      );
      assert.equal(bare.result, 'Failed', explain(bare));
      assert.match(bare.resultMessage ?? '', /^Input 'skipDbUpdate': .*holds none \(db\/trivy\.db\)/);
      assert.doesNotMatch(bare.stdout, /trivy image|Sign in/, 'refused before anything else');
      assert.equal(await state(digest), 'Quarantined');
    });

    it('publishes the SARIF as the CodeAnalysisLogs artifact, which the Scans tab reads', async () => {
      const digest = pushImage('scans-tab', { 'lab.trivy.report': 'alpine-310' });
      const run = await scan({ image: `${contoso}/${repository}@${digest}` });
      assert.equal(run.result, 'Succeeded', explain(run));
      const uploads = run.commands.filter((c) => c.command === 'artifact.upload');
      assert.deepEqual(
        uploads.map((c) => [c.properties.artifactname, c.properties.containerfolder, c.message]),
        [['CodeAnalysisLogs', 'CodeAnalysisLogs', run.outputs.sarifPath]],
      );
      assert.match(run.outputs.sarifPath, /\.sarif$/);
      assert.equal(JSON.parse(readFileSync(run.outputs.sarifPath, 'utf8')).runs[0].results.length, 4);
    });
  });

  describe('bad input, faults and failures: the image stays quarantined and the log says why', () => {
    let digest: string;
    before(() => {
      digest = pushImage('faults');
    });
    afterEach(async () => {
      assert.equal(await state(digest), 'Quarantined', 'the image must stay quarantined');
    });

    const failsWith = async (run: Promise<TaskRun>, message: RegExp) => {
      const result = await run;
      assert.equal(result.result, 'Failed', explain(result));
      assert.match(result.resultMessage ?? '', message);
      return result;
    };

    it('a malformed image reference', async () => {
      await failsWith(scan({ image: `${contoso}/Team App@sha256:123` }), /Input 'image': The image reference .* contains white space/);
    });

    it('a tag without allowTag', async () => {
      await failsWith(
        scan({ image: `${contoso}/${repository}:faults` }),
        /Input 'image': .* is a tag, and a tag can move between scan and release.*allowTag: true/,
      );
    });

    it('a digest that does not exist', async () => {
      await failsWith(
        scan({ image: `${contoso}/${repository}@sha256:${'0'.repeat(64)}` }),
        /does not exist in contoso\.azurecr\.io \(404 MANIFEST_UNKNOWN/,
      );
    });

    it('an identity without quarantine read (AcrPull only) is told which role is missing', async () => {
      await failsWith(
        scan(
          { image: `${contoso}/${repository}@${digest}` },
          { connection: labServiceConnection(lab, 'puller', 'ServicePrincipal', 'spnKey') },
        ),
        /may not read quarantined images in contoso\.azurecr\.io\/.*the registry answered 403 to a HEAD of the digest\)\. Assign it the AcrQuarantineReader role/s,
      );
    });

    it('an unknown severity', async () => {
      await failsWith(
        scan({ image: `${contoso}/${repository}@${digest}`, severityThreshold: 'CRITICAL,SEVERE' }),
        /Input 'severityThreshold': 'SEVERE' is not a trivy severity/,
      );
    });

    it('an ignore file that does not exist', async () => {
      await failsWith(
        scan({ image: `${contoso}/${repository}@${digest}`, ignoreFile: 'no/such/.trivyignore' }),
        /Input 'ignoreFile': file 'no\/such\/.trivyignore' was not found/,
      );
    });

    it('an identity without AcrQuarantineWriter is stopped by the preflight, before trivy: no scan, no PATCH', async () => {
      // The lab's qreader (AcrPull + AcrQuarantineReader) gets a token without metadata_write; the preflight reads the
      // grant at sign-in. A PATCH refused later (403 DENIED) is covered by test/unit/release.test.ts.
      const mark = await control.auditMark();
      const run = await failsWith(
        scan(
          { image: `${contoso}/${repository}@${digest}` },
          { connection: labServiceConnection(lab, 'qreader', 'ServicePrincipal', 'spnKey') },
        ),
        /may not change the quarantine state in contoso\.azurecr\.io\/.*Assign it the AcrQuarantineWriter role/s,
      );
      const patches = (await control.audit(mark)).filter((e) => e.method === 'PATCH' && e.path.endsWith(digest));
      assert.deepEqual(patches, [], 'nothing is written');
      assert.equal(run.outputs.policyResult, undefined, 'trivy did not run');
    });

    it('500 forever: bounded retries, then a failure', async function () {
      // Faults are shared by everyone using the lab; another test's reset() can remove ours mid-run. Each attempt
      // uses a fresh image, so a retry never meets a digest an earlier attempt released.
      this.retries(2);
      const own = pushImage(`e500-${Date.now()}`);
      const fault = await control.addFault({ host: contoso, method: 'PATCH', path: `${own}$`, kind: '500', times: -1 });
      let faultSurvived = true;
      try {
        const mark = await control.auditMark();
        const run = await scan({ image: `${contoso}/${repository}@${own}` });
        faultSurvived = (await control.faults()).some((f) => f.id === fault);
        assert.ok(faultSurvived, 'the injected fault was removed by another lab user during the run; trying again');
        assert.equal(run.result, 'Failed', explain(run));
        assert.match(run.resultMessage ?? '', /answered 500.*It stays quarantined/);
        assert.equal((await patchesOf(mark, own)).length, 5, 'the retry policy allows 5 attempts');
        assert.equal(await state(own), 'Quarantined');
      } finally {
        if (faultSurvived) await control.removeFault(fault).catch(() => undefined);
      }
    });

    it('trivy crashes (Go panic)', async () => {
      const crash = pushImage('crash', { 'lab.trivy.behaviour': 'crash' });
      await failsWith(scan({ image: `${contoso}/${repository}@${crash}` }), /trivy failed with exit code 2: /);
      assert.equal(await state(crash), 'Quarantined');
    });

    it('trivy hangs past the timeout', async () => {
      const hang = pushImage('hang', { 'lab.trivy.behaviour': 'hang' });
      await failsWith(scan({ image: `${contoso}/${repository}@${hang}`, timeout: '5s' }), /trivy did not finish within the timeout of 5s/);
      assert.equal(await state(hang), 'Quarantined');
    });

    it('trivy prints something that is not a trivy report', async () => {
      const garbage = pushImage('garbage', { 'lab.trivy.behaviour': 'garbage' });
      await failsWith(
        scan({ image: `${contoso}/${repository}@${garbage}` }),
        /without writing its report .*; it printed instead: \{"lab":"garbage"/,
      );
      assert.equal(await state(garbage), 'Quarantined');
    });

    it('a report whose RepoDigests name another digest', async () => {
      const wrong = pushImage('wrong', { 'lab.trivy.behaviour': 'wrong-digest' });
      await failsWith(
        scan({ image: `${contoso}/${repository}@${wrong}` }),
        /Metadata\.RepoDigests .* does not confirm the requested digest/,
      );
      assert.equal(await state(wrong), 'Quarantined');
    });

    it('a checksum mismatch on download: refused, nothing cached', async () => {
      const freshTools = mkdtempSync(path.join(metadataDir, 'tools-tampered-'));
      await failsWith(
        scan(
          { image: `${contoso}/${repository}@${digest}`, trivyDownloadBaseUrl: lab.trivy.tamperedDownloadBaseUrl },
          { variables: { 'Agent.ToolsDirectory': freshTools } },
        ),
        /has sha256 [0-9a-f]{64}, but trivy_0\.74\.0_checksums\.txt says [0-9a-f]{64}\. The download was refused and nothing was cached/,
      );
      assert.deepEqual(
        readdirSync(freshTools).filter((f) => f.startsWith('trivy') && f !== 'trivy-cache'),
        [],
      );
    });
  });

  describe('multi-platform, throttling and a moving tag', () => {
    it('a multi-platform index: each platform scanned by digest, index, children and attestations released (workload identity federation)', async () => {
      const digest = pushImage('multi', {}, 'linux/amd64,linux/arm64');
      const run = await scan(
        { image: `${contoso}/${repository}@${digest}` },
        { connection: labServiceConnection(lab, 'scanner', 'WorkloadIdentityFederation') },
      );
      assert.match(run.stdout, /Signed in to contoso\.azurecr\.io: Entra ID \(workload identity federation\)/);
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.match(
        run.stdout,
        /multi-platform index: scanning 2 platform image\(s\) \(linux\/amd64 sha256:[0-9a-f]{64}, linux\/arm64 sha256:[0-9a-f]{64}\)/,
      );
      const index = await acrCall(
        lab,
        contoso,
        await identityRefreshToken(lab, contoso, 'puller'),
        `/v2/${repository}/manifests/${digest}`,
        {
          headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
        },
      );
      assert.equal(index.status, 200, 'AcrPull can pull the index');
      const children = index.json<{ manifests: { digest: string }[] }>().manifests.map((m) => m.digest);
      assert.ok(children.length >= 2);
      for (const child of children) {
        assert.equal(await state(child), 'Passed', child);
        assert.equal(await pullStatus(child), 200, child);
      }
      const report = JSON.parse(readFileSync(run.outputs.reportPath, 'utf8'));
      assert.equal(report.ArtifactName, `${contoso}/${repository}@${digest}`);
    });

    it('429 then 200: the PATCH is retried and the image released', async function () {
      this.retries(2); // a fresh image per attempt: another lab user's reset() may take the fault away
      const digest = pushImage(`throttled-${Date.now()}`);
      const fault = await control.addFault({ host: contoso, method: 'PATCH', path: `${digest}$`, kind: '429', times: 1, retryAfter: 1 });
      try {
        const mark = await control.auditMark();
        const run = await scan({ image: `${contoso}/${repository}@${digest}` });
        assert.equal(run.result, 'Succeeded', explain(run));
        assert.deepEqual(
          (await patchesOf(mark, digest)).map((p) => p.status),
          [429, 200],
        );
        assert.equal(await state(digest), 'Passed');
      } finally {
        await control.removeFault(fault).catch(() => undefined);
      }
    });

    it('a tag moved between resolution and release: the scanned digest, and only it, is released', async () => {
      const original = pushImage('moving');
      // trivyPath: a wrapper that pushes another image over the tag right before the scan, then runs trivy.
      const realTrivy = path.join(metadataDir, 'trivy-bin');
      mkdirSync(realTrivy, { recursive: true });
      execFileSync('tar', [
        'xzf',
        path.join(
          lab.releasesDir,
          'aquasecurity',
          'trivy',
          'releases',
          'download',
          `v${lab.trivy.version}`,
          `trivy_${lab.trivy.version}_Linux-64bit.tar.gz`,
        ),
        '-C',
        realTrivy,
      ]);
      const mover = makeBuildContext({
        lab,
        dockerfile: `${busyboxDockerfile}COPY stamp.txt /stamp.txt\n`,
        files: { 'stamp.txt': randomBytes(16).toString('hex') },
      });
      contexts.push(mover.remove);
      const moved = path.join(metadataDir, 'moved.txt');
      const wrapper = path.join(metadataDir, 'trivy-moving-tag');
      writeFileSync(
        wrapper,
        [
          '#!/bin/sh',
          `if [ "$1" = image ] && [ ! -e "${moved}" ]; then`,
          // the builder's docker config for the push only: trivy itself must keep the scan's own config
          `  DOCKER_CONFIG="${builder.configDir}" docker buildx build --platform linux/amd64 --provenance=false -t "${contoso}/${repository}:moving" "${mover.dir}" >/dev/null 2>&1 || exit 99`,
          `  DOCKER_CONFIG="${builder.configDir}" docker push "${contoso}/${repository}:moving" > "${moved}" 2>&1 || exit 98`,
          `  DOCKER_CONFIG="${builder.configDir}" docker image rm "${contoso}/${repository}:moving" >/dev/null 2>&1`,
          'fi',
          `exec "${path.join(realTrivy, 'trivy')}" "$@"`,
          '',
        ].join('\n'),
      );
      chmodSync(wrapper, 0o755);
      const run = await scan({ image: `${contoso}/${repository}:moving`, allowTag: true, trivyPath: wrapper });
      assert.equal(run.result, 'Succeeded', explain(run));
      const newDigest = /digest: (sha256:[0-9a-f]{64})/.exec(readFileSync(moved, 'utf8'))?.[1];
      assert.ok(newDigest && newDigest !== original, 'the tag really moved');
      assert.match(run.stdout, new RegExp(`:moving -> ${original}`));
      assert.equal(run.outputs.imageReference, `${contoso}/${repository}@${original}`);
      assert.equal(await state(original), 'Passed');
      assert.equal(await state(newDigest!), 'Quarantined', 'the image the tag moved to was not scanned and is not released');
      assert.match(run.stdout, /The tag is hidden from \/v2\/ \(its image is quarantined\); ACR's tag API names its digest/);
    });
  });
});
