// The bundled tasks against the lab in both role-assignment modes of ACR: "RBAC Registry Permissions" (legacy: AcrPull,
// AcrPush, the quarantine roles) and "RBAC Registry + ABAC Repository Permissions" (abac: the legacy AcrPull/AcrPush/
// AcrDelete grant nothing; Container Registry Repository Reader/Writer grant per repository condition). The ACR
// emulator's policy switches the mode (POST /_lab/policy, `abacScope` = this file's repository prefix, so other suites
// on the shared registries keep legacy mode), and the lab's Resource Manager (https://127.0.0.1, every lab AzureRM
// connection's URL) lists the same mode as the registry's `roleAssignmentMode`, which the permission preflight reads
// to name only that mode's role. Each test puts the policy back as it found it.
//
// EnsureDocker talks to no registry (it installs and checks docker, buildx and QEMU on the agent): no role, no mode.
//
// The quarantine: which ABAC-mode role allows the quarantine PATCH is not documented. The emulator keeps honouring
// AcrQuarantineReader/Writer in ABAC mode (policy abacQuarantineRoles, default true) and the preflight names those
// roles in both modes, noting in ABAC mode that ACR documents no repository role for them; the tests hold both to it.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ArgvWatch } from '../helpers/argv-watch';
import { type TaskRun, repoRoot } from '../helpers/task-runner';
import { type LabServiceConnection, labServiceConnection, runLabTask } from '../lab/agent';
import { busyboxDockerfile, makeBuildContext } from '../lab/base';
import { type AuditEntry, LabControl, type RegistryPolicy } from '../lab/client';
import { nullGuid } from '../lab/emulators/acr/auth';
import type { AbacAssignment } from '../lab/emulators/acr/store';
import { DockerClient, identityRefreshToken, dockerOk } from '../lab/emulators/testkit';
import { type IdentityName, type Lab, backingDigest, readLab } from '../lab/lab';

const contoso = 'contoso.azurecr.io';
const fabrikam = 'fabrikam.azurecr.io';
const attribute = '@Request\\[Microsoft\\.ContainerRegistry/registries/repositories:name\\]';
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function explain(run: TaskRun): string {
  return `result ${run.result}: ${run.resultMessage}\n--- log ---\n${run.log.slice(-6000)}`;
}

const ok = dockerOk;

/** A loopback port that was free a moment ago (listened on, then closed): connecting to it is refused. */
function freedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

type Mode = 'legacy' | 'abac';
type PolicyKeys = Pick<RegistryPolicy, 'roleAssignmentMode' | 'abacAssignments' | 'abacScope'>;

describe('both role-assignment modes (legacy and ABAC repository permissions), the tasks against the lab', function () {
  this.timeout(900_000);
  const control = new LabControl();
  const prefix = `it-roles-${randomBytes(4).toString('hex')}/`;
  let lab: Lab;
  let builder: DockerClient;
  let workDir: string;
  let toolsDir: string;
  const saved = new Map<string, PolicyKeys>();
  const cleanups: (() => void)[] = [];

  before(async () => {
    lab = readLab();
    for (const task of ['BuildForPlatform', 'ScanAndRelease']) {
      execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', task, '--no-typecheck'], { stdio: 'pipe' });
    }
    const policies = await control.policies();
    for (const registry of [contoso, fabrikam]) {
      const { roleAssignmentMode, abacAssignments, abacScope } = policies[registry];
      saved.set(registry, { roleAssignmentMode, abacAssignments, abacScope: abacScope ?? '' });
    }
    builder = new DockerClient();
    for (const registry of [contoso, fabrikam])
      ok(builder.login(registry, nullGuid, await identityRefreshToken(lab, registry, 'builder')), `docker login to ${registry}`);
    workDir = mkdtempSync(path.join(os.tmpdir(), 'role-modes-it-'));
    toolsDir = path.join(workDir, 'tools');
    mkdirSync(toolsDir);
  });

  afterEach(async () => {
    for (const [registry, policy] of saved) await control.setPolicy(registry, policy);
  });

  after(() => {
    builder?.remove();
    for (const cleanup of cleanups) cleanup();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    for (const registry of [contoso, fabrikam]) {
      const listed = spawnSync(
        'docker',
        ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', '--filter', `reference=${registry}/${prefix}*`],
        {
          encoding: 'utf8',
        },
      );
      const references = listed.stdout.split('\n').filter((r) => r && !r.endsWith(':<none>'));
      if (references.length) spawnSync('docker', ['image', 'rm', '--force', ...references]);
    }
  });

  const repositoryNamed = (name: string) => `${prefix}${name}-${randomBytes(3).toString('hex')}`;

  /** The registry in this mode for this file's repositories (abacScope), with these ABAC role assignments. */
  async function setMode(registry: string, mode: Mode, abacAssignments: AbacAssignment[] = []): Promise<void> {
    await control.setPolicy(registry, { roleAssignmentMode: mode, abacAssignments, abacScope: prefix });
  }

  const assign = (identity: IdentityName, role: 'Reader' | 'Writer', repository: string): AbacAssignment => ({
    identity,
    role: `Container Registry Repository ${role}`,
    condition: { operator: 'StringEqualsIgnoreCase', value: repository },
  });

  /** "Assign it the <role> role with the condition @Request[...] StringEqualsIgnoreCase '<repository>'" */
  const abacAdvice = (role: 'Reader' | 'Writer', repository: string) =>
    new RegExp(
      `Assign it the Container Registry Repository ${role} role with the condition ${attribute} StringEqualsIgnoreCase '${escape(repository)}' \\(the registry is in RBAC Registry \\+ ABAC Repository Permissions mode`,
    );

  /** An AzureRM connection of the lab; its Resource Manager URL is the lab's unless given. */
  function connection(identity: IdentityName, armUrl?: string): LabServiceConnection {
    const base = labServiceConnection(lab, identity, 'ServicePrincipal', 'spnKey');
    return armUrl ? { ...base, endpoint: { ...base.endpoint, url: armUrl } } : base;
  }

  /** Requests since `mark` that wrote to a repository (anything but GET and HEAD). */
  const writesTo = (entries: AuditEntry[], registry: string, repository: string) =>
    entries.filter((e) => e.host === registry && e.path.startsWith(`/v2/${repository}/`) && e.method !== 'GET' && e.method !== 'HEAD');

  async function tagsOf(repository: string): Promise<number> {
    return (await fetch(`http://${lab.backingRegistry}/v2/${repository}/tags/list`)).status;
  }

  describe('BuildForPlatform: push permission (fabrikam, no quarantine)', () => {
    async function build(repository: string, identity: IdentityName, armUrl?: string): Promise<{ run: TaskRun; commandLines: string[] }> {
      const context = makeBuildContext({ lab, dockerfile: busyboxDockerfile, files: { 'stamp.txt': randomBytes(8).toString('hex') } });
      cleanups.push(context.remove);
      const watch = new ArgvWatch().start();
      try {
        const run = await runLabTask(lab, {
          task: 'BuildForPlatform',
          cwd: context.dir,
          inputs: { registry: fabrikam, repository, tags: '1.0' },
          connections: { azureSubscription: connection(identity, armUrl) },
        });
        return { run, commandLines: watch.stop() };
      } finally {
        watch.stop();
      }
    }

    /** The preflight stopped the run: nothing built (no build group, no buildx build), nothing pushed, nothing in the registry. */
    async function assertNothingBuilt(run: TaskRun, commandLines: string[], repository: string, mark: number): Promise<void> {
      assert.equal(run.result, 'Failed', explain(run));
      assert.match(run.resultMessage ?? '', /Nothing was built, pushed, scanned or copied\./);
      assert.match(run.log, /##\[group\]Sign in to fabrikam\.azurecr\.io/);
      assert.doesNotMatch(run.log, /##\[group\](Builder|Build|Push)\s*$/m, 'no builder probed, no build, no push');
      // (other suites may build at the same time: only a build of this repository counts)
      assert.ok(!commandLines.some((line) => /buildx.* build /.test(line) && line.includes(repository)), 'no buildx build ran');
      assert.deepEqual(writesTo(await control.audit(mark), fabrikam, repository), [], 'nothing written to the repository');
      assert.equal(await backingDigest(lab, repository, '1.0'), undefined, 'no tag');
      assert.equal(await tagsOf(repository), 404, 'no repository: no manifest, no tag');
    }

    it('legacy mode, AcrPush: builds and pushes', async () => {
      const repository = repositoryNamed('legacy');
      await setMode(fabrikam, 'legacy');
      const { run } = await build(repository, 'builder');
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.equal(await backingDigest(lab, repository, '1.0'), run.outputs.imageDigest);
    });

    it('ABAC mode, only the legacy AcrPush: stopped by the preflight naming the Repository Writer role and its condition (ARM says ABAC)', async () => {
      const repository = repositoryNamed('abac-legacy-role');
      await setMode(fabrikam, 'abac');
      const mark = await control.auditMark();
      const { run, commandLines } = await build(repository, 'builder');
      await assertNothingBuilt(run, commandLines, repository, mark);
      const message = run.resultMessage ?? '';
      assert.match(message, new RegExp(`may not push on fabrikam\\.azurecr\\.io/${escape(repository)} \\(granted: nothing\\)`));
      assert.match(message, abacAdvice('Writer', repository));
      assert.match(message, /where AcrPush is not honored/);
      assert.doesNotMatch(
        message,
        /Assign it the AcrPush|Assign it the AcrPull|mode is unknown|if the registry is in RBAC Registry Permissions mode/,
      );
      assert.match(
        run.stdout,
        /##vso\[task\.debug\]Resource Manager: \/subscriptions\/.*\/registries\/fabrikam is in AbacRepositoryPermissions mode\./,
        'the mode was read from Resource Manager',
      );
      // (other suites share the audit: the lookup is there, whatever else is)
      const lookups = (await control.audit(mark)).filter(
        (e) => e.host === '127.0.0.1' && /\/registries$/.test(e.path) && e.identity === 'builder' && e.status === 200,
      );
      assert.ok(
        lookups.some((e) => e.query['api-version'] === '2025-11-01'),
        JSON.stringify(lookups),
      );
    });

    it('ABAC mode, Repository Writer on that repository: builds and pushes', async () => {
      const repository = repositoryNamed('abac-writer');
      await setMode(fabrikam, 'abac', [assign('builder', 'Writer', repository)]);
      const { run } = await build(repository, 'builder');
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.equal(await backingDigest(lab, repository, '1.0'), run.outputs.imageDigest);
      assert.doesNotMatch(run.stdout, /Resource Manager/, 'a preflight that passes asks Resource Manager nothing');
    });

    it('ABAC mode, Repository Writer on another repository: refused, nothing built or pushed', async () => {
      const repository = repositoryNamed('abac-elsewhere');
      await setMode(fabrikam, 'abac', [assign('builder', 'Writer', `${prefix}some-other-app`)]);
      const mark = await control.auditMark();
      const { run, commandLines } = await build(repository, 'builder');
      await assertNothingBuilt(run, commandLines, repository, mark);
      assert.match(run.resultMessage ?? '', abacAdvice('Writer', repository));
    });

    it('ABAC mode, Resource Manager unreadable (unreachable, or the registry not visible to the identity): both kinds named, with the reason', async () => {
      const repository = repositoryNamed('abac-unknown');
      await setMode(fabrikam, 'abac');
      // a loopback port nobody listens on (just freed): the lookup's one request is refused at once
      const unreachable = await build(repository, 'builder', `https://127.0.0.1:${await freedPort()}/`);
      const both = new RegExp(
        `Assign it the AcrPush role on the registry if the registry is in RBAC Registry Permissions mode, or the Container Registry Repository Writer role with the condition ${attribute} StringEqualsIgnoreCase '${escape(repository)}' if it is in RBAC Registry \\+ ABAC Repository Permissions mode \\(the mode is unknown: `,
      );
      assert.match(unreachable.run.resultMessage ?? '', both);
      assert.match(unreachable.run.resultMessage ?? '', /the mode is unknown: Resource Manager could not be read \(ECONNREFUSED\)/);
      assert.match(
        unreachable.run.stdout,
        /##vso\[task\.debug\]The role-assignment mode of fabrikam\.azurecr\.io could not be read from Resource Manager/,
      );

      // qreader holds roles on contoso only: Resource Manager lists no fabrikam to it
      const hidden = await build(repository, 'qreader');
      assert.equal(hidden.run.result, 'Failed', explain(hidden.run));
      assert.match(hidden.run.resultMessage ?? '', both);
      assert.match(
        hidden.run.resultMessage ?? '',
        /the mode is unknown: Resource Manager shows no registry fabrikam\.azurecr\.io to the identity/,
      );
      assert.equal(await tagsOf(repository), 404);
    });
  });

  describe('ScanAndRelease, release: quarantine (contoso)', () => {
    /** A one-platform image pushed to contoso by the builder (in legacy mode), quarantined; its digest. */
    function pushImage(repository: string): string {
      const context = makeBuildContext({
        lab,
        dockerfile: `${busyboxDockerfile}COPY stamp.txt /stamp.txt\n`,
        files: { 'stamp.txt': randomBytes(16).toString('hex') },
      });
      cleanups.push(context.remove);
      const reference = `${contoso}/${repository}:scan`;
      ok(builder.run(['buildx', 'build', '--platform', 'linux/amd64', '--provenance=false', '-t', reference, context.dir]), 'buildx build');
      const pushed = ok(builder.run(['push', reference]), 'docker push');
      builder.run(['image', 'rm', reference]);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
      assert.ok(digest, pushed);
      return digest;
    }

    function scan(image: string, identity: IdentityName, tools: string): Promise<TaskRun> {
      return runLabTask(lab, {
        task: 'ScanAndRelease',
        inputs: { image, trivyDownloadBaseUrl: lab.trivy.downloadBaseUrl, trivyVersion: lab.trivy.version },
        connections: { azureSubscription: connection(identity) },
        variables: { 'Agent.ToolsDirectory': tools },
        timeoutMs: 300_000,
      });
    }

    const state = async (repository: string, digest: string) =>
      (await control.quarantineRecord(contoso, repository, digest))?.quarantineState;

    for (const mode of ['legacy', 'abac'] as const) {
      it(`${mode} mode, pull but no quarantine role: both quarantine permissions found before trivy is installed or run, roles named for the mode`, async () => {
        const repository = repositoryNamed(`scan-${mode}-denied`);
        const digest = pushImage(repository);
        // puller: AcrPull (legacy), or a Repository Reader on this repository (ABAC): it may pull, not read quarantined images
        await setMode(contoso, mode, mode === 'abac' ? [assign('puller', 'Reader', repository)] : []);
        const tools = mkdtempSync(path.join(workDir, 'tools-denied-'));
        const mark = await control.auditMark();
        const run = await scan(`${contoso}/${repository}@${digest}`, 'puller', tools);
        assert.equal(run.result, 'Failed', explain(run));
        const message = run.resultMessage ?? '';
        assert.match(message, /is missing 2 permissions/);
        assert.match(
          message,
          new RegExp(
            `may not read quarantined images in contoso\\.azurecr\\.io/${escape(repository)} .*Assign it the AcrQuarantineReader role on the registry`,
          ),
        );
        assert.match(
          message,
          new RegExp(
            `may not change the quarantine state in contoso\\.azurecr\\.io/${escape(repository)} .*Assign it the AcrQuarantineWriter role on the registry`,
          ),
        );
        if (mode === 'abac') assert.match(message, /in ABAC mode too: ACR documents no repository role for the quarantine/);
        else assert.doesNotMatch(message, /ABAC/, 'legacy mode (ARM says so): the legacy roles only');
        assert.doesNotMatch(message, /may not pull/, 'pull was granted');
        assert.doesNotMatch(run.log, /##\[group\]trivy/, 'trivy was not even looked for');
        assert.deepEqual(readdirSync(tools), [], 'trivy was not installed');
        assert.equal(run.outputs.policyResult, undefined, 'trivy did not run');
        // (other suites share the audit: only this repository's requests count)
        const patches = (await control.audit(mark)).filter((e) => e.method === 'PATCH' && e.path.includes(`/${repository}/`));
        assert.deepEqual(patches, [], 'nothing written');
        assert.equal(await state(repository, digest), 'Quarantined');
      });

      it(`${mode} mode, the quarantine roles (and in ABAC mode a Repository Reader): scanned and released`, async () => {
        const repository = repositoryNamed(`scan-${mode}-released`);
        const digest = pushImage(repository);
        // scanner: AcrPull + AcrQuarantineWriter; in ABAC mode AcrPull is not honored, a Reader on the repository is
        await setMode(contoso, mode, mode === 'abac' ? [assign('scanner', 'Reader', repository)] : []);
        const run = await scan(`${contoso}/${repository}@${digest}`, 'scanner', toolsDir);
        assert.equal(run.result, 'Succeeded', explain(run));
        assert.equal(run.outputs.policyResult, 'passed');
        assert.equal(await state(repository, digest), 'Passed');
      });
    }
  });

  describe('ScanAndRelease, release: promote (fabrikam, ABAC mode)', () => {
    function pushStaging(staging: string): string {
      const context = makeBuildContext({
        lab,
        dockerfile: `${busyboxDockerfile}COPY stamp.txt /stamp.txt\n`,
        files: { 'stamp.txt': randomBytes(16).toString('hex') },
      });
      cleanups.push(context.remove);
      const reference = `${fabrikam}/${staging}:candidate`;
      ok(builder.run(['buildx', 'build', '--platform', 'linux/amd64', '--provenance=false', '-t', reference, context.dir]), 'buildx build');
      const pushed = ok(builder.run(['push', reference]), 'docker push');
      builder.run(['image', 'rm', reference]);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
      assert.ok(digest, pushed);
      return digest;
    }

    function promote(image: string, release: string, tools: string): Promise<TaskRun> {
      return runLabTask(lab, {
        task: 'ScanAndRelease',
        inputs: {
          image,
          trivyDownloadBaseUrl: lab.trivy.downloadBaseUrl,
          trivyVersion: lab.trivy.version,
          release: 'promote',
          releaseRepository: release,
          releaseTags: '1.0',
        },
        connections: { azureSubscription: connection('scanner') },
        variables: { 'Agent.ToolsDirectory': tools },
        timeoutMs: 300_000,
      });
    }

    it('Repository Reader on staging and Writer on release: promoted, the release tag on the scanned digest', async () => {
      const base = repositoryNamed('promote');
      const [staging, release] = [`${base}/staging`, `${base}/release`];
      const digest = pushStaging(staging);
      await setMode(fabrikam, 'abac', [assign('scanner', 'Reader', staging), assign('scanner', 'Writer', release)]);
      const run = await promote(`${fabrikam}/${staging}@${digest}`, release, toolsDir);
      assert.equal(run.result, 'Succeeded', explain(run));
      assert.equal(run.outputs.releasedImage, `${fabrikam}/${release}@${digest}`);
      assert.equal(await backingDigest(lab, release, '1.0'), digest);
    });

    it('no Writer on release: stopped by the preflight naming the Writer role and its condition; nothing copied, nothing tagged', async () => {
      const base = repositoryNamed('promote-denied');
      const [staging, release] = [`${base}/staging`, `${base}/release`];
      const digest = pushStaging(staging);
      await setMode(fabrikam, 'abac', [assign('scanner', 'Reader', staging)]);
      const tools = mkdtempSync(path.join(workDir, 'tools-promote-'));
      const mark = await control.auditMark();
      const run = await promote(`${fabrikam}/${staging}@${digest}`, release, tools);
      assert.equal(run.result, 'Failed', explain(run));
      const message = run.resultMessage ?? '';
      assert.match(
        message,
        new RegExp(`may not push on fabrikam\\.azurecr\\.io/${escape(release)} \\(to release into it\\) \\(granted: nothing\\)`),
      );
      assert.match(message, abacAdvice('Writer', release));
      assert.doesNotMatch(
        message,
        new RegExp(`may not pull on fabrikam\\.azurecr\\.io/${escape(staging)}`),
        'the Reader on staging counts',
      );
      assert.doesNotMatch(message, /Assign it the AcrPush|mode is unknown/);
      assert.deepEqual(readdirSync(tools), [], 'trivy was not installed');
      assert.equal(run.outputs.policyResult, undefined, 'trivy did not run');
      assert.deepEqual(writesTo(await control.audit(mark), fabrikam, release), [], 'nothing copied to the release repository');
      assert.equal(await backingDigest(lab, release, '1.0'), undefined, 'nothing tagged');
      assert.equal(await tagsOf(release), 404);
    });
  });
});
