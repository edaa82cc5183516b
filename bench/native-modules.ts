// The platform proof on a big image, with and without the check of every ELF file under the application's directories
// (src/image/native.ts). The image (about 1 GB unpacked: a .venv with 250 native modules of 2 MB, 500 MB of
// incompressible data files and 20,000 small .py files) is built once in the lab's engine and pushed to the lab's
// loopback registry (127.0.0.1:5000); a later run reuses it. Each measurement streams every layer from the registry,
// as BuildForPlatform's Verify step does. The floor is reading and gunzipping the same layers with nothing else done.
import { execFileSync, spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { verifyImage, type ImageSource } from '../src/image/verify';
import { RecordingLogger } from '../src/log';
import { parsePlatform } from '../src/platform/platform';
import { RegistryClient } from '../src/registry/client';
import { isIndex, type Manifest } from '../src/registry/oci';
import { makeBuildContext } from '../test/lab/base';
import { labPath } from '../test/lab/engine';
import { readLab } from '../test/lab/lab';
import { report, summarise, type Row, type Summary } from './stats';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const repository = 'bench/native-modules';
const tag = '1gb-v1';

const dockerfile = [
  'FROM scratch',
  'COPY amd64/busybox /bin/busybox',
  'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
  'COPY amd64/busybox /usr/local/bin/python3.12',
  'RUN mkdir -p /app/.venv/bin && ln -s /usr/local/bin/python3.12 /app/.venv/bin/python \\',
  " && printf '#!/app/.venv/bin/python\\nimport uvicorn\\n' > /app/.venv/bin/uvicorn && chmod +x /app/.venv/bin/uvicorn",
  'RUN cd /app/.venv && mkdir -p lib/site-packages && cd lib/site-packages \\',
  ' && for i in $(seq 1 250); do mkdir -p pkg$i && cp /bin/busybox pkg$i/_native$i.cpython-312-x86_64-linux-gnu.so; done',
  'RUN mkdir -p /app/data && for i in $(seq 1 500); do head -c 1048576 /dev/urandom > /app/data/blob$i.bin; done',
  'RUN cd /app/.venv/lib/site-packages && for i in $(seq 1 200); do mkdir -p src$i; for j in $(seq 1 100); do echo "x = $i * $j" > src$i/m$j.py; done; done',
  'ENV PATH=/app/.venv/bin:/usr/local/bin:/bin',
  'WORKDIR /app',
  'CMD ["uvicorn", "main:app"]',
  '',
].join('\n');

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', env: { ...process.env, PATH: labPath() }, maxBuffer: 64 * 1024 * 1024 });
}

async function ensureImage(client: RegistryClient, reference: string): Promise<string> {
  const head = await client.headManifest(repository, tag).catch(() => undefined);
  if (head?.digest) return head.digest;
  const lab = readLab();
  const context = makeBuildContext({ lab, dockerfile });
  try {
    console.log(`building ${reference} (about 1 GB) in the lab's engine, once`);
    docker(['buildx', 'build', '--provenance=false', '--sbom=false', '--platform', 'linux/amd64', '--tag', reference, context.dir]);
    const pushed = docker(['push', reference]);
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed)?.[1];
    if (!digest) throw new Error(`docker push ${reference} did not name a digest:\n${pushed}`);
    return digest;
  } finally {
    context.remove();
    spawnSync('docker', ['image', 'rm', reference], { env: { ...process.env, PATH: labPath() } });
  }
}

const seconds = (s: Summary) =>
  `${(s.median / 1000).toFixed(2)} s ±${(s.iqrHalf / 1000).toFixed(2)} (n=${s.runs}, ${(s.min / 1000).toFixed(2)}–${(s.max / 1000).toFixed(2)})`;

async function main(): Promise<void> {
  const lab = readLab();
  const registry = lab.backingRegistry;
  const client = new RegistryClient({ registry });
  const reference = `${registry}/${repository}:${tag}`;
  const digest = await ensureImage(client, reference);
  const source: ImageSource = {
    manifest: async (d) => {
      const fetched = await client.getManifest(repository, d);
      return { mediaType: fetched.mediaType, manifest: fetched.json };
    },
    blob: (d) => client.getBlob(repository, d),
    openBlob: (d) => client.openBlob(repository, d),
  };
  const top = await source.manifest(digest);
  if (isIndex(top.manifest, top.mediaType)) throw new Error(`${reference} is an index; the bench expects one image manifest`);
  const manifest = top.manifest as Manifest;
  const compressed = manifest.layers.reduce((n, l) => n + l.size, 0);
  const platform = parsePlatform('linux/amd64');

  let unpacked = 0;
  const floor = async () => {
    const started = Date.now();
    unpacked = 0;
    for (const layer of manifest.layers) {
      const gunzip = Readable.from(await source.openBlob(layer.digest), { objectMode: false }).pipe(createGunzip());
      for await (const chunk of gunzip) unpacked += (chunk as Buffer).length;
    }
    return Date.now() - started;
  };
  let native: { files: number; elfFiles: number; wrong: number } | undefined;
  const proof = (checkNativeFiles: boolean) => async () => {
    const started = Date.now();
    const result = await verifyImage({
      source,
      digest,
      requested: [platform],
      checkPrograms: true,
      checkNativeFiles,
      logger: new RecordingLogger(),
    });
    const ms = Date.now() - started;
    if (result.problems.length) throw new Error(`the proof failed: ${result.problems.join('; ')}`);
    const n = result.platforms[0].native;
    if (checkNativeFiles) {
      if (!n) throw new Error('the native-file check did not run');
      native = { files: n.files, elfFiles: n.elfFiles, wrong: n.wrong.length };
    }
    return ms;
  };

  const samples = { floor: [] as number[], without: [] as number[], with: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    // interleaved, so that a busy neighbour on the shared cores weighs on all three alike
    samples.floor.push(await floor());
    samples.without.push(await proof(false)());
    samples.with.push(await proof(true)());
    console.log(`run ${i + 1}: floor ${samples.floor[i]} ms, proof without ${samples.without[i]} ms, with ${samples.with[i]} ms`);
  }
  const summaries = { floor: summarise(samples.floor), without: summarise(samples.without), with: summarise(samples.with) };
  const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
  const rows: Row[] = [
    { name: 'image', value: `${mb(unpacked)} unpacked, ${mb(compressed)} in ${manifest.layers.length} layers`, detail: reference },
    { name: 'floor (read + gunzip)', value: seconds(summaries.floor) },
    { name: 'proof, entrypoint chain only', value: seconds(summaries.without) },
    {
      name: 'proof with every ELF under /app',
      value: seconds(summaries.with),
      detail: native ? `${native.files} files, ${native.elfFiles} ELF, ${native.wrong} wrong` : '',
    },
    { name: 'with / without', value: (summaries.with.median / summaries.without.median).toFixed(2) },
    { name: 'with / floor', value: (summaries.with.median / summaries.floor.median).toFixed(2) },
  ];
  report('native-modules', rows, { reference, digest, compressed, unpacked, native, samples, summaries, node: process.version });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
