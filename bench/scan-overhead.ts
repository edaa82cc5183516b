// The ScanAndRelease task's own overhead, trivy left out: for a synthetic trivy report of 10,000 findings,
// how long reading the report (its head, and the findings trivy renders with the task's template), evaluating the
// policy, publishing (JUnit, summary, SARIF copy) and the PATCH + read-back take, and how much memory a fresh
// process needs for all of it. Budget (issue 13): under 300 ms and under 150 MB on the full report.
//
//   npx tsx bench/scan-overhead.ts            # table + .bench/scan-overhead.json
//
// The path is the task's own: scanImage runs `trivy image`, then `trivy convert --format template` with
// FINDINGS_TEMPLATE, and writeSarif runs `trivy convert --format sarif`. trivy is a fake runner that hard-links
// files prepared before the clock starts: the JSON report, the findings the lab's trivy renders from it with the
// same template, and its SARIF. Rendering is trivy's work (another process), so every millisecond measured is the
// task's. The PATCH and read-back go through the real AcrClient to a loopback HTTP server that answers like ACR's
// /acr/v1 API (no network, no token round-trip). Memory is measured in a child process running the same flow once,
// bundled by esbuild the way the task is (no tsx in it), as its peak resident set size (maxRSS).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { linkSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { AcrClient } from '../src/acr/client';
import { RecordingLogger } from '../src/log';
import type { Runner } from '../src/process/exec';
import { acrQuarantineApi } from '../src/release/acr-quarantine';
import { buildQuarantineDetails, serializeDetails } from '../src/release/details';
import { evaluatePolicy } from '../src/release/policy';
import { countsJson, junitXml, summaryMarkdown } from '../src/release/publish';
import { applyDecision } from '../src/release/release';
import { FINDINGS_TEMPLATE } from '../src/trivy/findings';
import { type ScanSettings, scanImage, writeSarif } from '../src/trivy/scan';
import { renderTemplate } from '../test/lab/trivy/src/template';
import { writeSarif as standInSarif } from '../test/lab/trivy/src/sarif';
import type { DetectedVulnerability, TrivyReport } from '../src/trivy/report';
import { fmtMs, measure, report, summarise, type Summary } from './stats';

const FINDINGS = 10_000;
const RUNS = 15;
const MEMORY_RUNS = 5;
const REPOSITORY = 'bench/app';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
// The bundled child runs from a temp dir, so it is told where the fixtures are.
const fixtures = process.argv.includes('--child')
  ? process.argv[process.argv.indexOf('--child') + 1]
  : path.resolve(__dirname, '..', 'test', 'lab', 'trivy', 'fixtures');

/**
 * 10,000 vulnerabilities made from the fixtures' real ones over 500 packages: with trivy's full detail
 * (descriptions, CVSS, references; what a real report carries) or compact (those three left out).
 */
function syntheticReport(registry: string, detail: 'full' | 'compact' = 'full'): string {
  const templates: DetectedVulnerability[] = [];
  for (const file of [
    'debian-buster.json.golden',
    'ubuntu-1804.json.golden',
    'centos-7.json.golden',
    'photon-30.json.golden',
    'alpine-310.json.golden',
  ]) {
    const fixture = JSON.parse(readFileSync(path.join(fixtures, file), 'utf8')) as TrivyReport;
    for (const result of fixture.Results ?? []) templates.push(...(result.Vulnerabilities ?? []));
  }
  const severities = ['CRITICAL', 'HIGH', 'MEDIUM', 'MEDIUM', 'LOW', 'LOW', 'LOW', 'UNKNOWN'];
  const vulnerabilities = Array.from({ length: FINDINGS }, (_, i) => {
    const template = templates[i % templates.length];
    const vulnerability = {
      ...template,
      VulnerabilityID: `CVE-2024-${10000 + i}`,
      PkgName: `package-${i % 500}`,
      Severity: severities[i % severities.length],
    };
    if (detail === 'compact') {
      delete vulnerability.Description;
      delete vulnerability.References;
      delete vulnerability.CVSS;
    }
    return vulnerability;
  });
  const reference = `${registry}/${REPOSITORY}@${DIGEST}`;
  const report: TrivyReport = {
    SchemaVersion: 2,
    Trivy: { Version: '0.74.0' },
    CreatedAt: new Date().toISOString(),
    ArtifactName: reference,
    ArtifactType: 'container_image',
    Metadata: { OS: { Family: 'debian', Name: '12.5' }, RepoDigests: [reference] },
    Results: [{ Target: `${reference} (debian 12.5)`, Class: 'os-pkgs', Type: 'debian', Vulnerabilities: vulnerabilities }],
  };
  return JSON.stringify(report, null, 2);
}

/** ACR's /acr/v1 manifest attributes on loopback: GET shows the state, PATCH sets it. */
let state = 'Quarantined';
function startAcr(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'PATCH') state = (JSON.parse(Buffer.concat(chunks).toString()) as { quarantineState: string }).quarantineState;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          registry: req.headers.host,
          imageName: REPOSITORY,
          manifest: { digest: DIGEST, changeableAttributes: { quarantineState: state } },
        }),
      );
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface Timings {
  parse: number;
  evaluate: number;
  publish: number;
  release: number;
  total: number;
}

/** What trivy writes, prepared once per report: the findings its template renders, and its SARIF. */
function prepareTrivyOutputs(reportFile: string): void {
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as TrivyReport;
  writeFileSync(`${reportFile}.findings`, renderTemplate(FINDINGS_TEMPLATE, report.Results));
  writeFileSync(`${reportFile}.sarif`, standInSarif(report as Parameters<typeof standInSarif>[0], '0.74.0'));
}

/** One pass of the task's flow after trivy: what the task does with the report, timed per phase. */
async function flow(reportFile: string, registry: string, workDir: string): Promise<Timings> {
  const logger = new RecordingLogger();
  state = 'Quarantined'; // every run writes the state anew
  for (const name of ['report.json', 'report.sarif']) rmSync(path.join(workDir, name), { force: true });
  // trivy "writes" its outputs: hard links to the prepared files, so writing them costs nothing here.
  const fakeTrivy: Runner = async (_file, args) => {
    const output = args[args.indexOf('--output') + 1];
    const format = args[args.indexOf('--format') + 1];
    linkSync(format === 'template' ? `${reportFile}.findings` : format === 'sarif' ? `${reportFile}.sarif` : reportFile, output);
    return { exitCode: args[0] === 'image' ? 10 : 0, signal: null, stdout: '', stderr: '', timedOut: false, durationMs: 0 };
  };
  const settings: ScanSettings = {
    trivy: 'trivy',
    cacheDir: workDir,
    scanners: ['vuln', 'secret'],
    ignoreUnfixed: false,
    timeoutMs: 60_000,
  };
  const request = { registry, repository: REPOSITORY, digest: DIGEST, outputFile: path.join(workDir, 'report.json') };
  const t0 = performance.now();
  const scanned = await scanImage(settings, request, { runner: fakeTrivy, logger, env: {} });
  const t1 = performance.now();
  const policy = { threshold: ['CRITICAL', 'HIGH'] as const, ignoreUnfixed: false };
  const evaluation = evaluatePolicy(scanned.report, { ...policy, threshold: [...policy.threshold] });
  const t2 = performance.now();
  const image = { digest: DIGEST, label: 'image', report: scanned.report, reportFile: scanned.file, evaluation };
  writeFileSync(path.join(workDir, 'junit.xml'), junitXml([image], policy.threshold));
  writeFileSync(
    path.join(workDir, 'summary.md'),
    summaryMarkdown({
      reference: `${registry}/${REPOSITORY}@${DIGEST}`,
      images: [image],
      evaluation,
      threshold: policy.threshold,
      decision: 'Failed',
      releaseNote: 'bench',
      trivyVersion: '0.74.0',
    }),
  );
  countsJson(evaluation.counts.vulnerabilities);
  // SARIF: trivy converts the report; one image's SARIF file is published as it is (scan-and-release-task.ts)
  await writeSarif(settings, request, path.join(workDir, 'report.sarif'), { runner: fakeTrivy, logger, env: {} });
  const t3 = performance.now();
  const acr = new AcrClient({ registry, credentials: { registry, username: 'u', password: 'p' } });
  const details = serializeDetails(
    buildQuarantineDetails({ trivyVersion: '0.74.0', decision: evaluation.passed ? 'Passed' : 'Failed', evaluation }),
  );
  const outcome = await applyDecision({
    api: acrQuarantineApi(acr),
    registry,
    repository: REPOSITORY,
    targets: [{ digest: DIGEST, kind: 'image', label: 'image' }],
    decision: evaluation.passed ? 'Passed' : 'Failed',
    details,
    logger,
  });
  const t4 = performance.now();
  if (outcome.state !== 'Failed' || evaluation.violations.length !== 2 * (FINDINGS / 8))
    throw new Error('the bench flow did not do what it measures');
  return { parse: t1 - t0, evaluate: t2 - t1, publish: t3 - t2, release: t4 - t3, total: t4 - t0 };
}

/** The memory child: the same flow once, on a report file the parent prepared (generating it would cost memory too). */
async function child(): Promise<void> {
  const [reportFile, port] = process.argv.slice(process.argv.indexOf('--child') + 2);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'bench-scan-child-'));
  await flow(reportFile, `127.0.0.1:${port}`, workDir);
  rmSync(workDir, { recursive: true, force: true });
  console.log(JSON.stringify({ maxRssMb: peakRssMb() }));
}

/**
 * Peak resident memory of this process. Linux's VmHWM belongs to the address space exec created; getrusage's
 * maxRSS would also carry the RSS of the (large) parent at fork time into a child.
 */
function peakRssMb(): number {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb) return Number(kb) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** The child's peak memory, bundled like the task (esbuild, CJS, node20) and run by plain node. */
async function childMemory(reportFile: string, port: number): Promise<{ maxRssMb: number; baselineMb: number; parseOnlyMb: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-scan-bundle-'));
  try {
    const bundle = path.join(dir, 'bench.js');
    const esbuild = require.resolve('esbuild/bin/esbuild');
    execFileSync(
      esbuild,
      [__filename, '--bundle', '--platform=node', '--target=node20', '--format=cjs', `--outfile=${bundle}`, '--log-level=warning'],
      {
        cwd: path.resolve(__dirname, '..'),
      },
    );
    // RSS of a process varies by some MB from run to run: each figure is the median of MEMORY_RUNS processes.
    const median = (values: number[]) => summarise(values).median;
    const flowRss: number[] = [];
    const baseline: number[] = [];
    const parseOnly: number[] = [];
    const hwm = "Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) / 1024";
    const rss = (script: string) =>
      Number(execFileSync(process.execPath, ['-e', `${script}; console.log(${hwm})`, reportFile], { encoding: 'utf8' }).trim());
    for (let i = 0; i < MEMORY_RUNS; i++) {
      // asynchronously: the loopback ACR it talks to lives in this process
      const { stdout } = await promisify(execFile)(process.execPath, [bundle, '--child', fixtures, reportFile, String(port)], {
        encoding: 'utf8',
      });
      flowRss.push((JSON.parse(stdout.trim().split('\n').at(-1)!) as { maxRssMb: number }).maxRssMb);
      baseline.push(rss(''));
      parseOnly.push(rss("JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'))"));
    }
    return { maxRssMb: median(flowRss), baselineMb: median(baseline), parseOnlyMb: median(parseOnly) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Case {
  name: string;
  reportMb: number;
  phases: Record<keyof Timings, Summary>;
  /** readFileSync + JSON.parse of the whole report and nothing else: what reading the whole report would cost. */
  floor: Summary;
  findingsMb: number;
  memory: { maxRssMb: number; baselineMb: number; parseOnlyMb: number };
}

async function measureCase(detail: 'full' | 'compact', registry: string, port: number, workDir: string): Promise<Case> {
  const reportFile = path.join(workDir, `synthetic-${detail}.json`);
  writeFileSync(reportFile, syntheticReport(registry, detail));
  prepareTrivyOutputs(reportFile);
  const runDir = mkdtempSync(path.join(workDir, 'run-'));
  await flow(reportFile, registry, runDir); // warm-up: JIT, sockets, page cache
  const samples: Timings[] = [];
  const floorSamples: number[] = [];
  await measure(RUNS, async () => {
    // interleaved, so machine load weighs on both alike
    const f0 = performance.now();
    JSON.parse(readFileSync(reportFile, 'utf8'));
    floorSamples.push(performance.now() - f0);
    const t = await flow(reportFile, registry, runDir);
    samples.push(t);
    return t.total;
  });
  const phases = Object.fromEntries(
    (['parse', 'evaluate', 'publish', 'release', 'total'] as const).map((k) => [k, summarise(samples.map((s) => s[k]))]),
  ) as Case['phases'];
  const reportMb = readFileSync(reportFile).length / 1048576;
  const findingsMb = readFileSync(`${reportFile}.findings`).length / 1048576;
  return { name: detail, reportMb, findingsMb, phases, floor: summarise(floorSamples), memory: await childMemory(reportFile, port) };
}

async function main(): Promise<void> {
  const server = await startAcr();
  const port = (server.address() as AddressInfo).port;
  const registry = `127.0.0.1:${port}`;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'bench-scan-'));
  try {
    const cases = [await measureCase('full', registry, port, workDir), await measureCase('compact', registry, port, workDir)];
    const rows = cases.flatMap((c) => [
      { name: `${c.name}: report`, value: `${FINDINGS} findings, ${c.reportMb.toFixed(1)} MB of JSON` },
      { name: `${c.name}: read head + rendered findings, check`, value: fmtMs(c.phases.parse) },
      { name: `${c.name}: evaluate policy`, value: fmtMs(c.phases.evaluate) },
      { name: `${c.name}: publish (JUnit, summary, SARIF)`, value: fmtMs(c.phases.publish) },
      { name: `${c.name}: PATCH + read back`, value: fmtMs(c.phases.release) },
      {
        name: `${c.name}: total`,
        value: fmtMs(c.phases.total),
        detail: `target < 300 ms: ${c.phases.total.median < 300 ? 'met' : 'NOT met'}`,
      },
      {
        name: `${c.name}: read + JSON.parse of the whole report (what the task no longer does)`,
        value: fmtMs(c.floor),
        detail: `the rendered findings are ${c.findingsMb.toFixed(1)} MB`,
      },
      {
        name: `${c.name}: peak memory (median of ${MEMORY_RUNS})`,
        value: `${c.memory.maxRssMb.toFixed(0)} MB`,
        detail: `target < 150 MB: ${c.memory.maxRssMb < 150 ? 'met' : 'NOT met'} (node alone: ${c.memory.baselineMb.toFixed(0)} MB; node reading + JSON.parse of the report only: ${c.memory.parseOnlyMb.toFixed(0)} MB)`,
      },
    ]);
    rows.push({
      name: 'machine',
      value: `${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)} at the end, node ${process.version}`,
    });
    report('scan-overhead', rows, {
      findings: FINDINGS,
      runs: RUNS,
      cases,
      loadAverage: os.loadavg(),
      node: process.version,
      cpus: os.cpus().length,
    });
  } finally {
    rmSync(workDir, { recursive: true, force: true });
    server.close();
  }
}

(process.argv.includes('--child') ? child() : main()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
