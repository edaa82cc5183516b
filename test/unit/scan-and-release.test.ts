import assert from 'node:assert/strict';
import { convertTemplate } from './trivy-convert-fake';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HttpResponse } from '../../src/http/client';
import { RecordingLogger } from '../../src/log';
import type { RunResult, Runner } from '../../src/process/exec';
import type { FetchedManifest } from '../../src/registry/client';
import { RegistryError } from '../../src/registry/errors';
import { MediaType, type Index } from '../../src/registry/oci';
import { evaluatePolicy } from '../../src/release/policy';
import { parseTrivyReport } from '../../src/trivy/report';
import { parseImageReference } from '../../src/registry/reference';
import { junitXml, summaryMarkdown, xml } from '../../src/release/publish';
import type { Decision, QuarantineApi } from '../../src/release/release';
import type { EvidenceSet } from '../../src/release/evidence';
import { type ManifestSource, type ScanAndReleaseInput, type ScanOutcome, scanAndRelease } from '../../src/release/scan-and-release';

const REGISTRY = 'contoso.azurecr.io';
const REPO = 'team/app';
const d = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;
const fixtures = path.resolve(__dirname, '..', 'lab', 'trivy', 'fixtures');
const credentials = { registry: REGISTRY, username: '00000000-0000-0000-0000-000000000000', password: 'refresh-token-secret' };

function response(status: number, body: unknown): HttpResponse {
  const buffer = Buffer.from(JSON.stringify(body));
  return {
    status,
    url: '',
    headers: new Headers(),
    body: buffer,
    text: () => buffer.toString(),
    json: <T>() => JSON.parse(buffer.toString()) as T,
  };
}

/** A registry of manifests by digest and tags; every call written down. */
class FakeRegistry implements ManifestSource {
  readonly calls: string[] = [];
  readonly manifests = new Map<string, FetchedManifest>();
  readonly tags = new Map<string, string>();
  /** Called after a tag was resolved: lets a test move the tag behind the task's back. */
  afterResolve?: (tag: string) => void;
  refuse?: (digest: string) => RegistryError | undefined;

  addImage(digest: string): void {
    const json = {
      schemaVersion: 2 as const,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: d('c'), size: 1 },
      layers: [],
    };
    this.manifests.set(digest, { digest, mediaType: MediaType.ociManifest, raw: Buffer.from(JSON.stringify(json)), json });
  }
  addIndex(digest: string, children: { digest: string; platform?: string; attestation?: boolean }[]): void {
    const json: Index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: children.map((c) => ({
        mediaType: MediaType.ociManifest,
        digest: c.digest,
        size: 1,
        platform: c.attestation
          ? { os: 'unknown', architecture: 'unknown' }
          : { os: c.platform!.split('/')[0], architecture: c.platform!.split('/')[1] },
        ...(c.attestation
          ? { annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': children[0].digest } }
          : {}),
      })),
    };
    this.manifests.set(digest, { digest, mediaType: MediaType.ociIndex, raw: Buffer.from(JSON.stringify(json)), json });
  }
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    this.calls.push(`getManifest ${reference}`);
    const refused = this.refuse?.(reference);
    if (refused) throw refused;
    const manifest = this.manifests.get(reference);
    if (!manifest) {
      throw new RegistryError(
        { method: 'GET', url: `https://${REGISTRY}/v2/${repository}/manifests/${reference}` },
        response(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }),
      );
    }
    return manifest;
  }
  async resolveDigest(_repository: string, tag: string): Promise<string> {
    this.calls.push(`resolveDigest ${tag}`);
    const digest = this.tags.get(tag);
    if (!digest) throw new Error(`no tag ${tag}`);
    this.afterResolve?.(tag);
    return digest;
  }
}

class FakeQuarantine implements QuarantineApi {
  readonly states = new Map<string, string>();
  readonly patches: string[] = [];
  readonly details: string[] = [];
  /** A PATCH of this digest is refused (as the registry client throws once its retries are spent). */
  refuseWrite?: string;
  async readState(_repository: string, digest: string) {
    return this.states.get(digest);
  }
  async writeState(_repository: string, digest: string, state: Decision, details: string) {
    if (digest === this.refuseWrite) throw new Error('503 Service Unavailable (after 4 attempts)');
    this.patches.push(`${digest} ${state}`);
    this.details.push(details);
    this.states.set(digest, state);
  }
}

/** trivy that "scans" by writing the fixture chosen for the digest, shaped as trivy reports a digest reference. */
function fakeTrivy(reportOf: (digest: string) => string | { crash: string }) {
  const scanned: string[] = [];
  const argvs: string[][] = [];
  const runner: Runner = async (_file, args) => {
    argvs.push([...args]);
    if (convertTemplate(args)) return { exitCode: 0, signal: null, stdout: '', stderr: '', timedOut: false, durationMs: 1 };
    const reference = args[args.length - 1];
    const digest = reference.slice(reference.indexOf('@') + 1);
    scanned.push(digest);
    const chosen = reportOf(digest);
    const result = (exitCode: number, stderr = ''): RunResult => ({
      exitCode,
      signal: null,
      stdout: '',
      stderr,
      timedOut: false,
      durationMs: 1,
    });
    if (typeof chosen !== 'string') return result(1, `2026-11-29T10:00:00Z\tFATAL\tFatal error\t${chosen.crash}`);
    const report = JSON.parse(readFileSync(path.join(fixtures, chosen), 'utf8'));
    report.ArtifactName = reference;
    report.Metadata = { ...report.Metadata, RepoDigests: [reference] };
    const findings = (report.Results ?? []).some(
      (r: { Vulnerabilities?: unknown[]; Secrets?: unknown[] }) => r.Vulnerabilities?.length || r.Secrets?.length,
    );
    writeFileSync(args[args.indexOf('--output') + 1], JSON.stringify(report));
    return result(findings ? 10 : 0);
  };
  return { runner, scanned, argvs };
}

describe('scan and release (core flow with fakes)', () => {
  let workDir: string;
  let registry: FakeRegistry;
  let quarantine: FakeQuarantine;
  let logger: RecordingLogger;
  beforeEach(() => {
    workDir = mkdtempSync(path.join(os.tmpdir(), 'sar-'));
    registry = new FakeRegistry();
    quarantine = new FakeQuarantine();
    logger = new RecordingLogger();
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  const input = (image: string, overrides: Partial<ScanAndReleaseInput> = {}): ScanAndReleaseInput => ({
    image: parseImageReference(image),
    allowTag: false,
    policy: { threshold: ['CRITICAL', 'HIGH'], ignoreUnfixed: false },
    release: 'quarantine',
    scan: { trivy: '/opt/trivy', cacheDir: '/cache', scanners: ['vuln', 'secret'], ignoreUnfixed: false, timeoutMs: 60_000 },
    trivyVersion: '0.74.0',
    workDir,
    detailsLink: 'https://dev.azure.lab.test/contoso/shop/_build/results?buildId=1',
    ...overrides,
  });
  const deps = (runner: Runner) => ({ registry, quarantine, runner, credentials, logger, env: { PATH: '/bin' } });

  it('releases a clean image scanned by digest: one PATCH Passed, details per the schema', async () => {
    registry.addImage(d('1'));
    quarantine.states.set(d('1'), 'Quarantined');
    const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
    const order: string[] = [];
    const result = await scanAndRelease(input(`${REGISTRY}/${REPO}@${d('1')}`), deps(trivy.runner), async () => {
      order.push(`publish (patches so far: ${quarantine.patches.length})`);
    });
    assert.deepEqual(trivy.scanned, [d('1')]);
    assert.deepEqual(quarantine.patches, [`${d('1')} Passed`]);
    assert.deepEqual(order, ['publish (patches so far: 0)'], 'results are published before the release');
    assert.equal(result.quarantineState, 'Passed');
    const details = JSON.parse(quarantine.details[0]);
    assert.equal(details.scanner, 'trivy 0.74.0');
    assert.equal(details.link, 'https://dev.azure.lab.test/contoso/shop/_build/results?buildId=1');
    assert.ok(!registry.calls.some((c) => c.startsWith('resolveDigest')));
  });

  it('sets a CRITICAL image to Failed and lists the violation first in the log', async () => {
    registry.addImage(d('2'));
    quarantine.states.set(d('2'), 'Quarantined');
    const trivy = fakeTrivy(() => 'debian-buster.json.golden');
    const result = await scanAndRelease(input(`${REGISTRY}/${REPO}@${d('2')}`), deps(trivy.runner));
    assert.equal(result.scan.decision, 'Failed');
    assert.deepEqual(quarantine.patches, [`${d('2')} Failed`]);
    const text = logger.text();
    assert.ok(text.indexOf('CVE-2019-18224') < text.indexOf('Counts by severity'), 'violations come before the counts');
    assert.match(text, /CRITICAL CVE-2019-18224 {2}libidn2-0 2\.0\.5-1 -> 2\.0\.5-1\+deb10u1 {2}libidn2: heap-based buffer overflow/);
  });

  it('refuses a tag without allowTag before touching the registry', async () => {
    const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
    await assert.rejects(
      scanAndRelease(input(`${REGISTRY}/${REPO}:1.0`), deps(trivy.runner)),
      /'contoso\.azurecr\.io\/team\/app:1\.0' is a tag.*set allowTag: true/,
    );
    assert.deepEqual(registry.calls, []);
    assert.deepEqual(trivy.scanned, []);
  });

  it('resolves a tag once; moving the tag afterwards changes nothing: the scanned digest, and only it, is released', async () => {
    registry.addImage(d('a'));
    registry.addImage(d('b'));
    quarantine.states.set(d('a'), 'Quarantined');
    quarantine.states.set(d('b'), 'Quarantined');
    registry.tags.set('1.0', d('a'));
    registry.afterResolve = (tag) => registry.tags.set(tag, d('b')); // someone pushes over the tag right after we looked
    const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
    const result = await scanAndRelease(input(`${REGISTRY}/${REPO}:1.0`, { allowTag: true }), deps(trivy.runner));
    assert.equal(registry.calls.filter((c) => c.startsWith('resolveDigest')).length, 1);
    assert.deepEqual(trivy.scanned, [d('a')]);
    assert.deepEqual(quarantine.patches, [`${d('a')} Passed`]);
    assert.equal(quarantine.states.get(d('b')), 'Quarantined');
    assert.equal(result.scan.resolvedFromTag, `${REGISTRY}/${REPO}:1.0`);
    assert.equal(result.scan.reference, `${REGISTRY}/${REPO}@${d('a')}`);
  });

  it("resolves a tag hidden from /v2/ (quarantined image) through ACR's tag API", async () => {
    registry.addImage(d('a'));
    quarantine.states.set(d('a'), 'Quarantined');
    const asked: string[] = [];
    const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
    const result = await scanAndRelease(input(`${REGISTRY}/${REPO}:2.0`, { allowTag: true }), {
      ...deps(trivy.runner),
      registry: Object.assign(registry, {
        resolveDigest: async () => {
          throw new RegistryError(
            { method: 'HEAD', url: 'x' },
            response(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest tagged by "2.0" is not found' }] }),
          );
        },
      }),
      quarantinedTagDigest: async (_repository: string, tag: string) => {
        asked.push(tag);
        return d('a');
      },
    });
    assert.deepEqual(asked, ['2.0']);
    assert.equal(result.scan.digest, d('a'));
    assert.deepEqual(quarantine.patches, [`${d('a')} Passed`]);
  });

  it('a tag found nowhere reports the /v2/ answer', async () => {
    const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
    registry.resolveDigest = async () => {
      throw new RegistryError(
        { method: 'HEAD', url: 'x' },
        response(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }),
      );
    };
    await assert.rejects(
      scanAndRelease(input(`${REGISTRY}/${REPO}:nope`, { allowTag: true }), {
        ...deps(trivy.runner),
        quarantinedTagDigest: async () => Promise.reject(new Error('404 from _tags')),
      }),
      /The tag contoso\.azurecr\.io\/team\/app:nope was not found \(404 MANIFEST_UNKNOWN/,
    );
  });

  describe('evidence: attach with release quarantine and gateOnly', () => {
    const report = d('e');
    const sarif = d('f');
    const index = d('b');
    /** The caller's evidence: pushes two referrers and a fallback tag index, which the registry quarantines. */
    const evidenceHook =
      (calls: string[], fail?: Error) =>
      async (scan: ScanOutcome): Promise<EvidenceSet> => {
        calls.push(`attach to ${scan.digest} (patches so far: ${quarantine.patches.length})`);
        if (fail) throw fail;
        for (const digest of [report, sarif, index]) quarantine.states.set(digest, 'Quarantined');
        return {
          repository: scan.repository,
          subject: scan.digest,
          by: 'tag',
          referrers: [
            { artifactType: 'application/vnd.aquasec.trivy.report.v1+json', digest: report, by: 'tag', title: 'trivy-report.json' },
            { artifactType: 'application/sarif+json', digest: sarif, by: 'tag', title: 'trivy.sarif' },
          ],
          fallbackIndex: { tag: scan.digest.replace(':', '-'), digest: index },
        };
      };

    it('a pass: attached and read back, then the referrers and the index listing them released, then the image', async () => {
      registry.addImage(d('1'));
      quarantine.states.set(d('1'), 'Quarantined');
      const calls: string[] = [];
      const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
      const result = await scanAndRelease(input(`${REGISTRY}/${REPO}@${d('1')}`), {
        ...deps(trivy.runner),
        evidence: evidenceHook(calls),
      });
      assert.deepEqual(calls, [`attach to ${d('1')} (patches so far: 0)`]);
      assert.deepEqual(
        quarantine.patches,
        [`${report} Passed`, `${sarif} Passed`, `${index} Passed`, `${d('1')} Passed`],
        'evidence first',
      );
      const evidenceDetails = JSON.parse(quarantine.details[0]);
      assert.equal(evidenceDetails.state, 'evidence of a passed scan');
      assert.match(evidenceDetails.result.description, new RegExp(`^Evidence of this task's trivy scan of ${REGISTRY}/${REPO}@${d('1')}`));
      assert.equal(JSON.parse(quarantine.details[3]).state, 'scan passed', "the image's own details");
      assert.equal(result.evidence?.subject, d('1'), 'the result names the evidence (for the release record)');
      assert.deepEqual(
        result.evidenceRelease?.targets.map((t) => [t.label, t.after]),
        [
          ['evidence trivy-report.json', 'Passed'],
          ['evidence trivy.sarif', 'Passed'],
          [`referrers index ${d('1').replace(':', '-')}`, 'Passed'],
        ],
      );
      assert.equal(result.quarantineState, 'Passed');
    });

    it('attaching fails: the image is not released, and the error names what failed', async () => {
      registry.addImage(d('1'));
      quarantine.states.set(d('1'), 'Quarantined');
      const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
      const hook = evidenceHook([], new Error('PUT https://contoso.azurecr.io/v2/team/app/manifests/sha256:e: 503 Service Unavailable'));
      await assert.rejects(
        scanAndRelease(input(`${REGISTRY}/${REPO}@${d('1')}`), { ...deps(trivy.runner), evidence: hook }),
        new RegExp(
          `^Error: Attaching the evidence to ${REGISTRY}/${REPO}@${d('1')} failed: PUT .* 503 Service Unavailable\\. .*@sha256:1+ is not released: its quarantine state was not changed`,
        ),
      );
      assert.deepEqual(quarantine.patches, []);
      assert.equal(quarantine.states.get(d('1')), 'Quarantined');
    });

    it('releasing a referrer fails: the image is not released', async () => {
      registry.addImage(d('1'));
      quarantine.states.set(d('1'), 'Quarantined');
      quarantine.refuseWrite = sarif;
      const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
      await assert.rejects(
        scanAndRelease(input(`${REGISTRY}/${REPO}@${d('1')}`), { ...deps(trivy.runner), evidence: evidenceHook([]) }),
        /^Error: Releasing the evidence of .*@sha256:1+ from quarantine failed: Setting .*@sha256:f+ \(evidence trivy\.sarif\) to Passed failed: .*503.* is not released/,
      );
      assert.deepEqual(quarantine.patches, [`${report} Passed`]);
      assert.equal(quarantine.states.get(d('1')), 'Quarantined');
    });

    it('a failed scan attaches nothing and is set Failed', async () => {
      registry.addImage(d('2'));
      quarantine.states.set(d('2'), 'Quarantined');
      const calls: string[] = [];
      const trivy = fakeTrivy(() => 'photon-30.json.golden');
      const result = await scanAndRelease(input(`${REGISTRY}/${REPO}@${d('2')}`), { ...deps(trivy.runner), evidence: evidenceHook(calls) });
      assert.deepEqual(calls, []);
      assert.deepEqual(quarantine.patches, [`${d('2')} Failed`]);
      assert.equal(result.evidence, undefined);
      assert.match(logger.text(), /The policy failed: no evidence is attached/);
    });

    it('already released (a re-run): the evidence is attached and released, the image not written again', async () => {
      registry.addImage(d('1'));
      quarantine.states.set(d('1'), 'Passed');
      const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
      await scanAndRelease(input(`${REGISTRY}/${REPO}@${d('1')}`), { ...deps(trivy.runner), evidence: evidenceHook([]) });
      assert.deepEqual(quarantine.patches, [`${report} Passed`, `${sarif} Passed`, `${index} Passed`]);
    });

    it('gateOnly: attached, no quarantine state changed (its evidence stays quarantined, and the log says so)', async () => {
      registry.addImage(d('1'));
      quarantine.states.set(d('1'), 'Quarantined');
      const calls: string[] = [];
      const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
      const result = await scanAndRelease(input(`${REGISTRY}/${REPO}@${d('1')}`, { release: 'gateOnly' }), {
        ...deps(trivy.runner),
        evidence: evidenceHook(calls),
      });
      assert.equal(calls.length, 1);
      assert.deepEqual(quarantine.patches, []);
      assert.equal(result.evidence?.referrers.length, 2);
      assert.match(
        logger.text(),
        /The registry quarantined the evidence \(quarantineState Quarantined\), and release: gateOnly changes no quarantine state/,
      );
    });
  });

  describe('a multi-platform index', () => {
    beforeEach(() => {
      registry.addIndex(d('0'), [
        { digest: d('4'), platform: 'linux/amd64' },
        { digest: d('5'), platform: 'linux/arm64' },
        { digest: d('6'), attestation: true },
      ]);
      for (const c of ['0', '4', '5', '6']) quarantine.states.set(d(c), 'Quarantined');
    });

    it('scans each platform image by its digest and releases children before the index when all pass', async () => {
      const trivy = fakeTrivy(() => 'alpine-310.json.golden');
      const result = await scanAndRelease(input(`${REGISTRY}/${REPO}@${d('0')}`), deps(trivy.runner));
      assert.deepEqual(trivy.scanned, [d('4'), d('5')], 'the attestation is not scanned');
      assert.deepEqual(quarantine.patches, [`${d('4')} Passed`, `${d('5')} Passed`, `${d('6')} Passed`, `${d('0')} Passed`]);
      assert.equal(result.quarantineState, 'Passed');
      assert.match(
        logger.text(),
        /multi-platform index: scanning 2 platform image\(s\) \(linux\/amd64 sha256:4+, linux\/arm64 sha256:5+\); 1 attestation manifest/,
      );
      assert.deepEqual(result.scan.evaluation.counts.vulnerabilities.MEDIUM, 4, 'the same findings on two platforms count once');
    });

    it('sets every record Failed, index first, when one platform fails', async () => {
      const trivy = fakeTrivy((digest) => (digest === d('5') ? 'photon-30.json.golden' : 'alpine-310.json.golden'));
      const result = await scanAndRelease(input(`${REGISTRY}/${REPO}@${d('0')}`), deps(trivy.runner));
      assert.equal(result.scan.decision, 'Failed');
      assert.deepEqual(quarantine.patches, [`${d('0')} Failed`, `${d('4')} Failed`, `${d('5')} Failed`, `${d('6')} Failed`]);
      assert.deepEqual(
        result.scan.images.map((i) => [i.label, i.evaluation.passed]),
        [
          ['linux/amd64', true],
          ['linux/arm64', false],
        ],
      );
    });

    it('releases nothing when one platform cannot be scanned', async () => {
      const trivy = fakeTrivy((digest) => (digest === d('5') ? { crash: 'unable to initialize a scanner' } : 'alpine-310.json.golden'));
      await assert.rejects(
        scanAndRelease(input(`${REGISTRY}/${REPO}@${d('0')}`), deps(trivy.runner)),
        /trivy failed with exit code 1: .*unable to initialize a scanner/,
      );
      assert.deepEqual(quarantine.patches, []);
    });
  });

  it('a digest that does not exist fails with MANIFEST_UNKNOWN explained, nothing scanned or written', async () => {
    const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
    await assert.rejects(
      scanAndRelease(input(`${REGISTRY}/${REPO}@${d('9')}`), deps(trivy.runner)),
      /@sha256:9+ does not exist in contoso\.azurecr\.io \(404 MANIFEST_UNKNOWN/,
    );
    assert.deepEqual(trivy.scanned, []);
    assert.deepEqual(quarantine.patches, []);
  });

  it('an identity without quarantine read is told to get AcrQuarantineReader', async () => {
    registry.addImage(d('3'));
    registry.refuse = () =>
      new RegistryError(
        { method: 'GET', url: `https://${REGISTRY}/v2/${REPO}/manifests/${d('3')}` },
        response(403, { errors: [{ code: 'UNKNOWN', message: 'The operation is disallowed.' }] }),
      );
    const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
    await assert.rejects(
      scanAndRelease(input(`${REGISTRY}/${REPO}@${d('3')}`), deps(trivy.runner)),
      /give it the AcrQuarantineReader role/,
    );
    assert.deepEqual(quarantine.patches, []);
  });

  it('trivy that crashes leaves the image quarantined', async () => {
    registry.addImage(d('1'));
    quarantine.states.set(d('1'), 'Quarantined');
    const trivy = fakeTrivy(() => ({ crash: 'init error: DB error' }));
    await assert.rejects(scanAndRelease(input(`${REGISTRY}/${REPO}@${d('1')}`), deps(trivy.runner)), /trivy failed with exit code 1/);
    assert.equal(quarantine.states.get(d('1')), 'Quarantined');
    assert.deepEqual(quarantine.patches, []);
  });

  it('a publishing failure stops before the release', async () => {
    registry.addImage(d('1'));
    const trivy = fakeTrivy(() => 'sl-micro-rancher5.4.json.golden');
    await assert.rejects(
      scanAndRelease(input(`${REGISTRY}/${REPO}@${d('1')}`), deps(trivy.runner), async () => {
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.deepEqual(quarantine.patches, []);
  });

  it('gateOnly decides without writing', async () => {
    registry.addImage(d('2'));
    quarantine.states.set(d('2'), 'Quarantined');
    const trivy = fakeTrivy(() => 'photon-30.json.golden');
    const result = await scanAndRelease(input(`${REGISTRY}/${REPO}@${d('2')}`, { release: 'gateOnly' }), deps(trivy.runner));
    assert.equal(result.scan.decision, 'Failed');
    assert.deepEqual(quarantine.patches, []);
    assert.equal(result.quarantineState, 'Quarantined');
  });

  it('publishes a summary and a JUnit file that agree with the decision', async () => {
    registry.addImage(d('2'));
    const trivy = fakeTrivy(() => 'photon-30.json.golden');
    let scan: ScanOutcome | undefined;
    await scanAndRelease(input(`${REGISTRY}/${REPO}@${d('2')}`), deps(trivy.runner), async (s) => {
      scan = s;
    });
    const markdown = summaryMarkdown({
      reference: scan!.reference,
      images: scan!.images,
      evaluation: scan!.evaluation,
      threshold: scan!.policy.threshold,
      decision: scan!.decision,
      releaseNote: 'set to Failed',
      trivyVersion: '0.74.0',
    });
    assert.match(markdown, /Policy failed/);
    assert.match(markdown, /\| CRITICAL \| 2 \| 0 \| 0 \|/);
    assert.match(markdown, /#### Violations \(3\)/);
    assert.match(markdown, new RegExp(`\`${d('2')}\``));
    const junit = junitXml(scan!.images, scan!.policy.threshold);
    assert.match(junit, /<testsuites name="trivy" tests="4" failures="4">/);
    assert.equal((junit.match(/<failure /g) ?? []).length, 3 + 1, 'three violations and the policy test');
    assert.match(junit, /name="\[CRITICAL\] CVE-2019-5481 curl 7\.61\.1-4\.ph3"><failure message="curl: double free/);
    assert.match(junit, /<system-out>3 findings \(CRITICAL 2, HIGH 1, MEDIUM 0, LOW 0, UNKNOWN 0\); 0 below the policy threshold/);
  });
});

describe('summary links', () => {
  it('links only http(s) URLs and keeps them inside the cell', () => {
    const evaluation = evaluatePolicy(parseTrivyReport(readFileSync(path.join(fixtures, 'debian-buster.json.golden'), 'utf8')), {
      threshold: ['CRITICAL'],
      ignoreUnfixed: false,
    });
    const image = {
      digest: d('1'),
      label: 'image',
      report: { SchemaVersion: 2, ArtifactName: 'x', ArtifactType: 'container_image' },
      reportFile: '',
      evaluation,
    };
    const note = {
      reference: 'r',
      images: [image],
      evaluation,
      threshold: ['CRITICAL' as const],
      decision: 'Failed' as const,
      releaseNote: 'n',
      trivyVersion: '0.74.0',
    };
    evaluation.violations[0].primaryUrl = 'https://example.test/a (b)|c';
    assert.match(summaryMarkdown(note), /\[CVE-2019-18224\]\(https:\/\/example\.test\/a%20%28b%29%7Cc\)/);
    evaluation.violations[0].primaryUrl = 'javascript:alert(1)';
    assert.match(summaryMarkdown(note), /\| CRITICAL \| CVE-2019-18224 \|/);
  });
});

describe('JUnit escaping', () => {
  it('escapes markup and drops characters XML 1.0 forbids', () => {
    assert.equal(xml(`a&b<c>"d"'e'\u0001\u0008f\tg\nh\uFFFF`), 'a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;f\tg\nh');
  });
});
