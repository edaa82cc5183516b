// The Container release tab in a real browser: Debian's chromium driven by playwright-core loads the bundled tab from
// the unpacked .vsix inside the lab's host page (test/lab/tab-host), which speaks the extension SDK's host protocol and
// answers the Build REST routes from the records the tasks wrote in a demo run (examples/demo.ts). The assertions are
// what a person sees: the cards by job, the numbers, the decision in words, the platforms, the findings table, the
// keyboard, the dark theme, a running build updating itself, Azure DevOps Server's 404, and no console errors. A
// second build comes from a real release: promote run in the lab (BuildForPlatform to a staging repository of a
// registry without quarantine, then ScanAndRelease copying the digest to a release repository and attaching the
// evidence): the promotion, the evidence referrers and the annotations on the image's card.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { run } from '../../src/process/exec';
import { RECORD_TYPE, type ContainerReleaseRecord } from '../../src/release-record/record';
import { repoRoot } from '../helpers/task-runner';
import { currentVsix, unpack } from '../helpers/vsix';
import { labServiceConnection, runLabTask } from '../lab/agent';
import { busyboxDockerfile, makeBuildContext } from '../lab/base';
import { acrAccessToken, identityRefreshToken, labRequest, ociIndexType, uniqueRepository } from '../lab/emulators/testkit';
import { readLab } from '../lab/lab';
import { ensureSbomGenerator } from '../lab/sbom-generator';
import { BuildRecorder, readSavedBuild, RESULT, STATE, type HostedBuild, type TimelineRecord } from '../lab/tab-host/build-records';
import { palettePng } from '../lab/tab-host/png';
import { startTabHost, type TabHost } from '../lab/tab-host/server';

// page.evaluate's functions run in the browser: its globals, untyped here (the suite compiles without the DOM library)
declare const window: any, document: any, getComputedStyle: any, Image: any, btoa: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PROJECT = 'shop';
/** Tests write screenshots here; UPDATE_SCREENSHOTS=1 writes the ones overview.md shows (images/). */
const screenshotDir = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(repoRoot, 'images') : path.join(repoRoot, '.lab', 'screenshots');

interface TabContribution {
  id: string;
  type: string;
  targets: string[];
  properties: { name: string; uri: string; supportsTasks: string[] };
}

const recordOf = (build: HostedBuild, repository: string, task: ContainerReleaseRecord['task']): ContainerReleaseRecord => {
  const found = build.attachments
    .map((a) => JSON.parse(a.body.toString('utf8')) as ContainerReleaseRecord)
    .find((r) => r.repository === repository && r.task === task);
  assert.ok(found, `the demo wrote no ${task} record of ${repository}`);
  return found;
};

describe('the Container release tab in Chromium (lab host page, records of a demo run)', function () {
  this.timeout(180_000);
  let extensionRoot: string;
  let contribution: TabContribution;
  let demo: HostedBuild;
  let host: TabHost | undefined;
  let context: BrowserContext | undefined;
  let userDataDir: string | undefined;
  let consoleErrors: string[] = [];
  let page: Page | undefined;

  before(async function () {
    this.timeout(900_000);
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: npm run lab:up installs Debian's chromium`);
    extensionRoot = unpack(currentVsix());
    const manifest = JSON.parse(readFileSync(path.join(extensionRoot, 'extension.vsomanifest'), 'utf8')) as {
      contributions: TabContribution[];
    };
    contribution = manifest.contributions.find((c) => c.type === 'ms.vss-build-web.build-results-tab')!;
    assert.ok(contribution, 'the package contributes no build results tab');

    // a demo run of the bundled tasks, its timeline and attachments saved (examples/demo.ts, DEMO_BUILD_RECORDS); while
    // working on the tab alone, RELEASE_TAB_DEMO_RECORDS=<dir> reuses a run saved there
    const reuse = process.env.RELEASE_TAB_DEMO_RECORDS;
    const records = reuse ?? mkdtempSync(path.join(os.tmpdir(), 'demo-build-'));
    const demoRun = reuse
      ? { stdout: '', stderr: '' }
      : await run(process.execPath, ['--require', 'tsx/cjs', path.join(repoRoot, 'examples', 'demo.ts')], {
          cwd: repoRoot,
          timeoutMs: 800_000,
          env: { ...process.env, DEMO_BUILD_RECORDS: records },
        });
    assert.ok(
      existsSync(path.join(records, 'build.json')),
      `the demo saved no build:\n${demoRun.stdout.slice(-3000)}\n${demoRun.stderr.slice(-2000)}`,
    );
    demo = readSavedBuild(records, PROJECT, RECORD_TYPE);

    host = await startTabHost({
      extensionRoot,
      tabUri: contribution.properties.uri,
      contributionId: `container-release.container-release-tasks.${contribution.id}`,
    });
    host.setBuild(demo);
    userDataDir = mkdtempSync(path.join(os.tmpdir(), 'chromium-profile-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1000, height: 720 },
    });
    mkdirSync(screenshotDir, { recursive: true });
  });

  // The browser and the host go away whatever happened: a failed test must not leave chromium keeping mocha alive.
  after(async () => {
    await context?.close().catch(() => undefined);
    await host?.close().catch(() => undefined);
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    if (extensionRoot) rmSync(extensionRoot, { recursive: true, force: true });
  });

  afterEach(async () => {
    await page?.close().catch(() => undefined);
    page = undefined;
  });

  /** Opens the host page for a build and waits until the tab told the host it loaded. */
  async function open(buildId: number, theme: 'light' | 'dark' = 'light', via: 'pageData' | 'configuration' = 'pageData'): Promise<Page> {
    consoleErrors = [];
    page = await context!.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(`${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    await page.goto(host!.pageUrl(buildId, theme, via));
    await page.waitForFunction(() => window.__host.loadSucceeded, undefined, {
      timeout: 30_000,
    });
    return page;
  }

  const tab = (p: Page) => p.frameLocator('#tab');
  const card = (p: Page, repository: string) => tab(p).locator(`[data-testid="image-card"][data-reference*="/${repository}@"]`);

  async function screenshot(p: Page, name: string, locator?: ReturnType<typeof card>, forOverview = true): Promise<void> {
    const png = locator ? await locator.screenshot() : await p.screenshot({ fullPage: false });
    // the browser decodes its own PNG; the pixels become a 32-colour palette PNG (small enough for the .vsix)
    const { width, height, rgba } = await p.evaluate(async (b64) => {
      const image = new Image();
      image.src = `data:image/png;base64,${b64}`;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.width;
      canvas.height = image.height;
      const g = canvas.getContext('2d');
      g.drawImage(image, 0, 0);
      const bytes = g.getImageData(0, 0, image.width, image.height).data;
      let text = '';
      for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { width: image.width, height: image.height, rgba: btoa(text) };
    }, png.toString('base64'));
    const data = Buffer.from(rgba, 'base64');
    const dir = forOverview ? screenshotDir : path.join(repoRoot, '.lab', 'screenshots');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, name), palettePng(data, width, height));
  }

  it('is contributed as a build results tab, shown only on builds that ran one of the three tasks', () => {
    assert.deepEqual(contribution.targets, ['ms.vss-build-web.build-results-view']);
    const ids = ['EnsureDocker', 'BuildForPlatform', 'ScanAndRelease'].map(
      (task) => JSON.parse(readFileSync(path.join(extensionRoot, 'tasks', task, 'task.json'), 'utf8')).id as string,
    );
    assert.deepEqual([...contribution.properties.supportsTasks].sort(), ids.sort());
    assert.ok(existsSync(path.join(extensionRoot, contribution.properties.uri)));
  });

  it('shows one card per image of the demo, in the job that built them, in the order it built them', async () => {
    const p = await open(demo.id);
    const t = tab(p);
    await t.locator('[data-testid="image-card"]').first().waitFor();
    assert.deepEqual(await t.locator('[data-testid="job"] h2').allInnerTexts(), ['Job: Build and release']);
    const references = await t
      .locator('[data-testid="image-card"]')
      .evaluateAll((cards) => cards.map((c) => c.getAttribute('data-reference')));
    assert.deepEqual(
      references.map((r) => /\/(demo\/[^@]+)@/.exec(r ?? '')?.[1]),
      ['demo/web-legacy', 'demo/web', 'demo/web-acr-tasks', 'demo/api'],
    );
    assert.match(await t.getByTestId('summary').innerText(), /^4 images in 1 job$/);
    // the tab used the host's access token and the Build REST routes
    assert.ok(host!.requests.some((r) => r.endsWith(`/attachments/${RECORD_TYPE}`)));
    assert.ok(host!.requests.some((r) => /\/Timeline\/?$/i.test(r)));
    await screenshot(p, 'tab-light.png');
    assert.deepEqual(consoleErrors, []);
  });

  it('the released multi-platform image: Released, quarantine Passed, every platform asked, pushed and proven by its ELF file', async () => {
    const p = await open(demo.id);
    const web = card(p, 'demo/web');
    await web.waitFor();
    assert.equal(await web.getByTestId('status').locator('strong').innerText(), 'Released');
    assert.match(await web.getByTestId('status').innerText(), /quarantine: Passed/);
    assert.match(await web.getByTestId('reason').innerText(), /is released from quarantine \(quarantineState Passed, read back\)/);
    const build = recordOf(demo, 'demo/web', 'BuildForPlatform');
    assert.deepEqual(await web.getByTestId('reference').first().innerText(), build.reference);
    const rows = await web.locator('[data-testid="platforms"] tbody tr').allInnerTexts();
    assert.equal(rows.length, 2);
    for (const [i, platform] of ['linux/amd64', 'linux/arm64'].entries()) {
      assert.match(rows[i], new RegExp(`^${platform}\\s+yes\\s+yes\\s+yes\\s+`));
      assert.match(rows[i], new RegExp(`ELF 64-bit ${platform.split('/')[1]}`), rows[i]);
    }
    assert.match(await web.getByTestId('build').innerText(), /builder \S+ .*cache \S+: \d+ of \d+ steps cached/);
    assert.match((await web.getByTestId('severity-bar').getAttribute('aria-label')) ?? '', /^(No findings|0 CRITICAL, 0 HIGH, .*)$/);
    await screenshot(p, 'tab-multi-platform.png', web);
    assert.deepEqual(consoleErrors, []);
  });

  it('the rejected image: the counts by severity, the decision in words, a findings table to sort and filter', async () => {
    const p = await open(demo.id);
    const legacy = card(p, 'demo/web-legacy');
    await legacy.waitFor();
    const scan = recordOf(demo, 'demo/web-legacy', 'ScanAndRelease');
    assert.equal(await legacy.getByTestId('status').locator('strong').innerText(), 'Rejected: stays quarantined');
    assert.match(await legacy.getByTestId('status').innerText(), /quarantine: Failed/);
    assert.match(
      await legacy.getByTestId('reason').innerText(),
      /^Policy violated by \d+ finding\(s\): .* is set to Failed and stays quarantined\.$/,
    );
    const counts = scan.scan!.counts;
    assert.ok(counts.CRITICAL > 0);
    assert.equal(
      await legacy.getByTestId('severity-bar').getAttribute('aria-label'),
      `${counts.CRITICAL} CRITICAL, ${counts.HIGH} HIGH, ${counts.MEDIUM} MEDIUM, ${counts.LOW} LOW, ${counts.UNKNOWN} UNKNOWN`,
    );
    assert.match(await legacy.getByTestId('severity-counts').innerText(), new RegExp(`CRITICAL\\s+${counts.CRITICAL}`));
    assert.match(await legacy.getByTestId('policy').innerText(), /^Fails on CRITICAL, HIGH · trivy /);

    await screenshot(p, 'tab-failed-release.png', legacy);

    const table = legacy.getByTestId('findings');
    const firstColumn = () => table.locator('tbody tr td:first-child').allInnerTexts();
    const severities = (await firstColumn()).map((s) => s.trim());
    assert.equal(severities.length, scan.scan!.top.length);
    assert.equal(severities[0], 'CRITICAL', 'most severe first');
    // sort by severity the other way: the least severe first
    await table.getByRole('button', { name: 'Severity' }).click();
    assert.equal(await table.locator('th').first().getAttribute('aria-sort'), 'descending');
    assert.notEqual((await firstColumn())[0].trim(), 'CRITICAL');
    // filter by the critical finding's id: one row, and the count says so
    const critical = scan.scan!.top.find((f) => f.severity === 'CRITICAL')!;
    await legacy.getByRole('textbox').fill(critical.id);
    assert.equal(await table.locator('tbody tr').count(), 1);
    assert.match(await table.locator('tbody tr').innerText(), new RegExp(`${critical.id}\\s+${critical.package}\\s+${critical.installed}`));
    assert.match(await legacy.getByTestId('finding-count').innerText(), new RegExp(`^1 of ${scan.scan!.total} finding`));
    await legacy.getByRole('textbox').fill('');
    assert.deepEqual(consoleErrors, []);
  });

  it("the field report's image: refused by the platform proof, naming the file and the architectures", async () => {
    const p = await open(demo.id);
    const api = card(p, 'demo/api');
    await api.waitFor();
    assert.equal(await api.getByTestId('status').locator('strong').innerText(), 'Refused by the platform proof');
    assert.match(await api.getByTestId('reason').innerText(), /\/app\/\.venv\/bin\/python/);
    const row = await api.locator('[data-testid="platforms"] tbody tr').first().innerText();
    assert.match(row, /^linux\/amd64\s+yes\s+yes\s+no\s+/);
    assert.match(row, /aarch64|arm64/);
    assert.equal(await api.getByTestId('findings').count(), 0, 'never scanned');
    assert.deepEqual(consoleErrors, []);
  });

  it('works from the keyboard: Tab reaches the copy buttons, the filter and the sort buttons, each with a visible focus', async () => {
    const p = await open(demo.id);
    await card(p, 'demo/web-legacy').waitFor();
    const frame = p.frame({ url: /\/ext\// })!;
    const focused = () =>
      frame.evaluate(() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        return {
          label: el.getAttribute('aria-label') ?? el.textContent ?? '',
          tag: el.tagName,
          outline: style.outlineStyle,
          width: style.outlineWidth,
        };
      });
    await frame.locator('body').focus();
    await p.keyboard.press('Tab');
    let now = await focused();
    assert.match(now.label, /^Copy by digest: contoso\.azurecr\.io\/demo\/web-legacy@sha256:/);
    assert.notEqual(now.outline, 'none', 'the focused button shows where the focus is');
    await p.keyboard.press('Enter');
    await frame
      .getByRole('button', { name: /^Copy by digest: contoso\.azurecr\.io\/demo\/web-legacy/ })
      .filter({ hasText: 'Copied' })
      .waitFor();
    const seen: string[] = [];
    for (let i = 0; i < 8 && !/^Filter/.test(now.label); i++) {
      await p.keyboard.press('Tab');
      now = await focused();
      seen.push(now.label);
    }
    assert.match(now.label, /^Filter the findings of demo\/web-legacy$/, seen.join(' | '));
    await p.keyboard.press('Tab');
    now = await focused();
    assert.equal(now.tag, 'BUTTON');
    assert.match(now.label, /^Severity/);
    await p.keyboard.press('Enter');
    assert.equal(await frame.locator('[data-testid="findings"] th').first().getAttribute('aria-sort'), 'descending');
    assert.deepEqual(consoleErrors, []);
  });

  it('follows the dark theme the host hands over', async () => {
    const p = await open(demo.id, 'dark');
    await card(p, 'demo/web').waitFor();
    const frame = p.frame({ url: /\/ext\// })!;
    const colours = await frame.evaluate(() => ({
      text: getComputedStyle(document.querySelector('.cr-page')!).color,
      background: getComputedStyle(document.querySelector('.bolt-card')!).backgroundColor,
    }));
    const brightness = (css: string) => {
      const [r, g, b] = (css.match(/[\d.]+/g) ?? []).map(Number);
      return (r + g + b) / 3;
    };
    assert.ok(brightness(colours.text) > 180, `light text on dark: ${colours.text}`);
    assert.ok(brightness(colours.background) < 80, `dark cards: ${colours.background}`);
    await screenshot(p, 'tab-dark.png');
    assert.deepEqual(consoleErrors, []);
  });

  it('re-reads while the build runs: the scan pending, then the decision, without a reload', async () => {
    // the same build as it was before the scans ran: the job in progress, the scan steps pending, build records only
    const scans = new Set(demo.timeline.filter((r) => r.task?.name === 'ScanAndRelease').map((r) => r.id));
    const running: HostedBuild = {
      ...demo,
      id: demo.id + 1,
      timeline: demo.timeline.map((r): TimelineRecord =>
        r.type === 'Job' || scans.has(r.id)
          ? { ...r, state: r.type === 'Job' ? STATE.inProgress : STATE.pending, result: null, finishTime: null }
          : r,
      ),
      attachments: demo.attachments.filter((a) => !scans.has(a.recordId)),
    };
    host!.setBuild(running);
    const p = await open(running.id);
    const web = card(p, 'demo/web');
    await web.waitFor();
    assert.equal(await web.getByTestId('status').locator('strong').innerText(), 'Scan pending');
    assert.match(await tab(p).getByTestId('summary').innerText(), /the build is running, this page updates itself/);
    host!.setBuild({ ...demo, id: running.id });
    await web.getByTestId('status').locator('strong', { hasText: 'Released' }).waitFor({ timeout: 15_000 });
    assert.doesNotMatch(await tab(p).getByTestId('summary').innerText(), /running/);
    assert.deepEqual(consoleErrors, []);
  });

  it('an attachment type the server does not know (404 on Azure DevOps Server) reads as no records, not an error', async () => {
    host!.unknownAttachmentType = true;
    try {
      const p = await open(demo.id);
      const summary = tab(p).getByTestId('summary');
      await summary.filter({ hasText: 'wrote no container release records' }).waitFor();
      assert.equal(await tab(p).locator('[role="alert"]').count(), 0);
      assert.equal(await tab(p).locator('[data-testid="image-card"]').count(), 0);
      // the browser logs the 404 response itself; nothing else may be logged
      assert.deepEqual(
        consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 404/.test(e)),
        [],
      );
    } finally {
      host!.unknownAttachmentType = false;
    }
  });

  it("takes the build from the configuration's onBuildChanged when the page data names none (the older contract)", async () => {
    const p = await open(demo.id, 'light', 'configuration');
    await card(p, 'demo/web').waitFor();
    assert.equal(await p.evaluate(() => window.__host.onBuildChanged), true);
    assert.equal(await tab(p).locator('[data-testid="image-card"]').count(), 4);
    assert.deepEqual(consoleErrors, []);
  });

  it('several jobs: grouped by job in the timeline order, whatever order the attachments are listed in', async () => {
    // two jobs, the second listed first in the attachments; the timeline says which ran first
    const job = demo.timeline.find((r) => r.type === 'Job')!;
    const webRecords = new Set(
      demo.attachments.filter((a) => JSON.parse(a.body.toString('utf8')).repository === 'demo/web').map((a) => a.recordId),
    );
    const second: TimelineRecord = {
      ...job,
      id: '00000000-0000-4000-8000-000000000002',
      name: 'Build multi-platform',
      order: 2,
      result: RESULT.succeeded,
    };
    const first: TimelineRecord = { ...job, name: 'Build amd64', order: 1 };
    const timeline = [
      second,
      first,
      ...demo.timeline.filter((r) => r.type !== 'Job').map((r) => (webRecords.has(r.id) ? { ...r, parentId: second.id } : r)),
    ];
    const multi: HostedBuild = { ...demo, id: demo.id + 2, timeline, attachments: [...demo.attachments].reverse() };
    host!.setBuild(multi);
    for (let attempt = 0; attempt < 3; attempt++) {
      const p = await open(multi.id);
      await tab(p).locator('[data-testid="image-card"]').first().waitFor();
      assert.deepEqual(await tab(p).locator('[data-testid="job"] h2').allInnerTexts(), ['Job: Build amd64', 'Job: Build multi-platform']);
      const second = tab(p).locator('[data-testid="job"]').nth(1).locator('[data-testid="image-card"]');
      assert.equal(await second.count(), 1);
      assert.match((await second.getAttribute('data-reference')) ?? '', /\/demo\/web@/);
      assert.match(await tab(p).getByTestId('summary').innerText(), /^4 images in 2 jobs$/);
      assert.deepEqual(consoleErrors, []);
      await p.close();
      page = undefined;
    }
  });

  describe('a promoted image (records of a real release: promote run in the lab)', () => {
    const fabrikam = 'fabrikam.azurecr.io';
    let promoted: HostedBuild;
    let staging: string;
    let release: string;
    let digest: string;
    let records: string;

    before(async function () {
      this.timeout(900_000);
      const lab = readLab();
      const base = uniqueRepository('tab-promote');
      staging = `${base}/staging`;
      release = `${base}/release`;
      const generator = await ensureSbomGenerator(lab);
      const context = makeBuildContext({
        lab,
        dockerfile: `${busyboxDockerfile}COPY stamp.txt /stamp.txt\n`,
        files: { 'stamp.txt': randomBytes(16).toString('hex') },
      });
      const connections = { azureSubscription: labServiceConnection(lab, 'builder', 'ServicePrincipal', 'spnKey') };
      const taskOf = (name: string) => ({
        id: (JSON.parse(readFileSync(path.join(extensionRoot, 'tasks', name, 'task.json'), 'utf8')) as { id: string }).id,
        name,
      });
      const recorder = new BuildRecorder(demo.id + 10, 'Build and promote');
      try {
        let started = new Date();
        const built = await runLabTask(lab, {
          task: 'BuildForPlatform',
          cwd: context.dir,
          inputs: {
            registry: fabrikam,
            repository: staging,
            tags: 'build-1',
            attestations: 'provenance+sbom',
            sbomGenerator: generator,
            annotations: 'com.contoso.team=shop',
          },
          connections,
          timeoutMs: 600_000,
        });
        assert.equal(built.result, 'Succeeded', `${built.resultMessage}\n${built.stdout.slice(-4000)}`);
        digest = built.outputs.imageDigest;
        recorder.step('Build to staging', taskOf('BuildForPlatform'), built, started);
        started = new Date();
        const scanned = await runLabTask(lab, {
          task: 'ScanAndRelease',
          inputs: {
            image: `${fabrikam}/${staging}@${digest}`,
            trivyDownloadBaseUrl: lab.trivy.downloadBaseUrl,
            trivyVersion: lab.trivy.version,
            release: 'promote',
            releaseRepository: release,
            releaseTags: '1.0\nlatest',
          },
          connections,
          timeoutMs: 300_000,
        });
        assert.equal(scanned.result, 'Succeeded', `${scanned.resultMessage}\n${scanned.stdout.slice(-4000)}`);
        recorder.step('Scan and promote', taskOf('ScanAndRelease'), scanned, started);
        records = mkdtempSync(path.join(os.tmpdir(), 'promote-build-'));
        recorder.save(records);
      } finally {
        context.remove();
      }
      promoted = readSavedBuild(records, PROJECT, RECORD_TYPE);
      host!.setBuild(promoted);
    });

    after(() => {
      if (records) rmSync(records, { recursive: true, force: true });
    });

    /** A viewport tall enough for the whole card (the host's frame is as tall as the page), so its screenshot is not cut. */
    async function wholeCard(p: Page, image: ReturnType<typeof card>): Promise<void> {
      const height = await image.evaluate((el) => el.scrollHeight as number);
      await p.setViewportSize({ width: 1000, height: Math.ceil(height) + 120 });
    }

    it('the run recorded the promotion and the evidence as the registry holds them', async () => {
      const scan = recordOf(promoted, staging, 'ScanAndRelease');
      assert.equal(scan.decision?.release, 'promote');
      assert.deepEqual(
        { to: scan.promotion?.to, tags: scan.promotion?.tags, readBack: scan.promotion?.readBack },
        { to: release, tags: ['1.0', 'latest'], readBack: digest },
      );
      // the referrers the record names are the ones the release repository lists under the fallback tag (no referrers API here)
      const lab = readLab();
      const token = await acrAccessToken(lab, fabrikam, await identityRefreshToken(lab, fabrikam, 'builder'), [
        `repository:${release}:pull`,
      ]);
      const listing = await labRequest(lab, `https://${fabrikam}/v2/${release}/manifests/${digest.replace(':', '-')}`, {
        headers: { Authorization: `Bearer ${token}`, Accept: ociIndexType },
      });
      assert.equal(listing.status, 200, listing.text);
      const listed = listing.json<{ manifests: { digest: string; artifactType?: string }[] }>().manifests;
      assert.deepEqual(scan.referrers?.map((r) => [r.artifactType, r.by, r.repository]).sort(), [
        ['application/sarif+json', 'tag', release],
        ['application/spdx+json', 'tag', release],
        ['application/vnd.aquasec.trivy.report.v1+json', 'tag', release],
      ]);
      for (const r of scan.referrers!)
        assert.ok(
          listed.some((m) => m.digest === r.digest && m.artifactType === r.artifactType),
          `${r.artifactType} ${r.digest} listed: ${JSON.stringify(listed)}`,
        );
      assert.equal(recordOf(promoted, staging, 'BuildForPlatform').build?.annotations?.['com.contoso.team'], 'shop');
    });

    it('shows "Promoted to <registry>/<repository>:<tags> (digest verified)", the release references and what was copied', async () => {
      const p = await open(promoted.id);
      const image = card(p, staging);
      await image.waitFor();
      assert.deepEqual(await tab(p).locator('[data-testid="job"] h2').allInnerTexts(), ['Job: Build and promote']);
      assert.equal(await tab(p).locator('[data-testid="image-card"]').count(), 1, 'the build and the scan of the digest on one card');
      assert.equal(await image.getByTestId('status').locator('strong').innerText(), 'Promoted');
      assert.equal(
        (await image.getByTestId('promoted').innerText()).trim(),
        `Promoted to ${fabrikam}/${release}:1.0, latest (digest verified)`,
      );
      const references = await image.getByTestId('promotion').getByTestId('reference').allInnerTexts();
      assert.deepEqual(references, [`${fabrikam}/${release}@${digest}`, `${fabrikam}/${release}:1.0`, `${fabrikam}/${release}:latest`]);
      assert.match(
        await image.getByTestId('copied').innerText(),
        /^From .*\/staging: \d+ manifests \(\d+ copied, \d+ already there\), \d+ blobs \(\d+ mounted, 0 uploaded/,
      );
      await screenshot(p, 'tab-promoted.png', image.getByTestId('promotion'));
      assert.deepEqual(consoleErrors, []);
    });

    it('lists the evidence attached to the digest: the trivy report, the SARIF and the SBOM, each with its referrer and the fallback tag', async () => {
      const p = await open(promoted.id);
      const image = card(p, staging);
      await image.waitFor();
      const rows = (await image.locator('[data-testid="evidence"] tbody tr').allInnerTexts()).map((r) => r.replace(/\s+/g, ' ').trim());
      const scan = recordOf(promoted, staging, 'ScanAndRelease');
      const tag = `${digest.replace(':', '-').slice(0, 'sha256-'.length + 12)}…`;
      const expected = [
        ['trivy report trivy-report.json application/vnd.aquasec.trivy.report.v1+json', 'application/vnd.aquasec.trivy.report.v1+json'],
        ['SARIF trivy.sarif application/sarif+json', 'application/sarif+json'],
        ['SBOM (SPDX) sbom-linux-amd64.spdx.json application/spdx+json', 'application/spdx+json'],
      ];
      assert.equal(rows.length, expected.length, rows.join('\n'));
      for (const [start, type] of expected) {
        const referrer = scan.referrers!.find((r) => r.artifactType === type)!;
        const row = rows.find((r) => r.startsWith(start));
        assert.ok(row, `a row "${start}": ${rows.join(' | ')}`);
        assert.ok(row.includes(`${referrer.digest.slice(0, 'sha256:'.length + 12)}… Copy fallback tag ${tag}`), row);
      }
      await screenshot(p, 'tab-evidence.png', image.getByTestId('evidence').locator('..'));
      assert.deepEqual(consoleErrors, []);
    });

    it('from the keyboard: Tab reaches the release references, the annotations and each referrer copy button, with a visible focus', async () => {
      const p = await open(promoted.id);
      await card(p, staging).waitFor();
      const frame = p.frame({ url: /\/ext\// })!;
      const focused = () =>
        frame.evaluate(() => {
          const el = document.activeElement;
          const style = getComputedStyle(el);
          return { label: el.getAttribute('aria-label') ?? el.textContent ?? '', tag: el.tagName, outline: style.outlineStyle };
        });
      await frame.locator('body').focus();
      const seen: { label: string; tag: string; outline: string }[] = [];
      for (let i = 0; i < 15; i++) {
        await p.keyboard.press('Tab');
        const now = await focused();
        seen.push(now);
        if (/^Copy the SBOM/.test(now.label)) break;
      }
      const labels = seen.map((s) => s.label);
      const at = (pattern: RegExp) => labels.findIndex((l) => pattern.test(l));
      const order = [
        /^Copy by digest: .*\/staging@sha256:/,
        /^Copy by digest: fabrikam\.azurecr\.io\/.*\/release@sha256:/,
        /^Copy by tag: fabrikam\.azurecr\.io\/.*\/release:1\.0$/,
        /^OCI annotations on the pushed image/,
        /^Copy the trivy report referrer: fabrikam\.azurecr\.io\/.*\/release@sha256:/,
        /^Copy the SARIF referrer: /,
        /^Copy the SBOM \(SPDX\) referrer: /,
      ].map(at);
      assert.ok(
        order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1])),
        `in this order: ${labels.join(' | ')}`,
      );
      assert.ok(
        seen.every((s) => s.outline !== 'none'),
        `each focused element shows the focus: ${JSON.stringify(seen)}`,
      );
      // Enter on the focused referrer button copies it; the annotations open from the keyboard too
      await p.keyboard.press('Enter');
      await frame
        .getByRole('button', { name: /^Copy the SBOM/ })
        .filter({ hasText: 'Copied' })
        .waitFor();
      await frame.locator('[data-testid="annotations"] summary').focus();
      await p.keyboard.press('Enter');
      assert.equal(await frame.locator('[data-testid="annotations"]').getAttribute('open'), '');
      assert.match(await frame.locator('[data-testid="annotations"] table').innerText(), /com\.contoso\.team\s+shop/);
      assert.deepEqual(consoleErrors, []);
    });

    it('reads in the dark theme too', async () => {
      const p = await open(promoted.id, 'dark');
      const image = card(p, staging);
      await image.waitFor();
      const frame = p.frame({ url: /\/ext\// })!;
      const colours = await frame.evaluate(() => ({
        promoted: getComputedStyle(document.querySelector('[data-testid="promoted"]')!).color,
        evidence: getComputedStyle(document.querySelector('[data-testid="evidence"] tbody th')!).color,
      }));
      const brightness = (css: string) => {
        const [r, g, b] = (css.match(/[\d.]+/g) ?? []).map(Number);
        return (r + g + b) / 3;
      };
      assert.ok(brightness(colours.promoted) > 150, `light text on dark: ${colours.promoted}`);
      assert.ok(brightness(colours.evidence) > 150, `light text on dark: ${colours.evidence}`);
      await wholeCard(p, image);
      // the whole card, for a look (not in images/: overview.md shows the light sections)
      await screenshot(p, 'tab-promoted-dark.png', image, false);
      assert.deepEqual(consoleErrors, []);
    });
  });
});
