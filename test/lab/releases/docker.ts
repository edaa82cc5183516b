// Release assets for EnsureDocker's `static` source, served by https://releases.lab.test from .lab/releases/:
// a Docker static archive in Docker's layout (made from the lab engine's binaries, which are what the lab
// runs anyway) and the buildx release binary with its checksums.txt, plus tampered copies for the refusal tests.
//
//   docker/linux/static/stable/x86_64/docker-<v>.tgz          docker/{docker,dockerd,containerd,...}
//   docker/SHA256SUMS                                         `<sha256>  x86_64/docker-<v>.tgz`: the line a pipeline pins
//   docker/buildx/releases/download/v<b>/buildx-v<b>.linux-amd64 and checksums.txt
//   tampered/docker/...                                       same paths, other bytes (checksums.txt kept genuine)
//   docker/lab-assets.json                                    what the tests read (readDockerReleases)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { coreVersion, parseBuildxVersion, parseDockerCliVersion } from '../../../src/docker/version';
import { buildxPlugin, engineCommand, engineDockerCli } from '../engine';
import type { Lab } from '../lab';

export interface DockerReleases {
  dockerVersion: string;
  dockerStaticBaseUrl: string;
  tamperedDockerStaticBaseUrl: string;
  /** The staticChecksums line for the genuine archive. */
  dockerChecksumLine: string;
  buildxVersion: string;
  buildxBaseUrl: string;
  tamperedBuildxBaseUrl: string;
  /** Identity of the binaries the assets were made from. */
  sources: string;
}

/** The lab engine's binaries (Debian's docker.io, docker-cli, containerd, runc packages, unpacked in .lab/engine). */
const ENGINE_FILES: Record<string, string> = {
  docker: engineDockerCli,
  ...Object.fromEntries(
    ['dockerd', 'docker-proxy', 'docker-init', 'containerd', 'containerd-shim-runc-v2', 'ctr', 'runc'].map((name) => [
      name,
      engineCommand(name),
    ]),
  ),
};
const BUILDX_PLUGIN = buildxPlugin;

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const assetsFile = (lab: Lab) => path.join(lab.releasesDir, 'docker', 'lab-assets.json');

export function readDockerReleases(lab: Lab): DockerReleases {
  const file = assetsFile(lab);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run lab:up\` (test/lab/releases/docker.ts prepares it)`);
  return JSON.parse(readFileSync(file, 'utf8')) as DockerReleases;
}

function versionOf(file: string, args: string[], parse: (t: string) => string | undefined): string {
  const text = execFileSync(file, args, { encoding: 'utf8' });
  const version = coreVersion(parse(text) ?? '');
  if (!version) throw new Error(`${file} ${args.join(' ')} printed no version: ${text.trim()}`);
  return version;
}

function makeArchive(target: string): void {
  const staging = mkdtempSync(path.join(path.dirname(target), '.staging-'));
  try {
    mkdirSync(path.join(staging, 'docker'));
    for (const [name, source] of Object.entries(ENGINE_FILES)) copyFileSync(realpathSync(source), path.join(staging, 'docker', name));
    // gzip -1: the archive is made once per lab and only travels over loopback.
    execFileSync('tar', ['-C', staging, '--owner=0', '--group=0', '--use-compress-program=gzip -1', '-cf', target, 'docker']);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Size and mtime of every source binary: the assets are remade only when one of them changed. */
function sourcesIdentity(): string {
  return [...Object.values(ENGINE_FILES), BUILDX_PLUGIN]
    .map((f) => {
      const s = statSync(realpathSync(f));
      return `${f}:${s.size}:${Math.round(s.mtimeMs)}`;
    })
    .join(',');
}

export async function prepare(lab: Lab): Promise<void> {
  for (const file of [...Object.values(ENGINE_FILES), BUILDX_PLUGIN]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: the lab's engine is not unpacked (lab:up does it first)`);
  }
  const base = lab.releasesBaseUrl.replace(/\/+$/, '');
  const identity = sourcesIdentity();
  if (existsSync(assetsFile(lab))) {
    const current = readDockerReleases(lab);
    const files = [path.join(lab.releasesDir, 'docker', 'SHA256SUMS')];
    if (current.sources === identity && current.dockerStaticBaseUrl.startsWith(base) && files.every(existsSync)) return;
  }
  const dockerVersion = versionOf(ENGINE_FILES.docker, ['--version'], parseDockerCliVersion);
  const buildxVersion = versionOf(BUILDX_PLUGIN, ['version'], parseBuildxVersion);
  const wanted: Omit<DockerReleases, 'dockerChecksumLine' | 'sources'> = {
    dockerVersion,
    dockerStaticBaseUrl: `${base}/docker/linux/static/stable`,
    tamperedDockerStaticBaseUrl: `${base}/tampered/docker/linux/static/stable`,
    buildxVersion,
    buildxBaseUrl: `${base}/docker/buildx/releases/download`,
    tamperedBuildxBaseUrl: `${base}/tampered/docker/buildx/releases/download`,
  };
  const archiveRel = path.join('linux', 'static', 'stable', 'x86_64', `docker-${dockerVersion}.tgz`);
  const buildxRel = path.join('buildx', 'releases', 'download', `v${buildxVersion}`);
  const buildxName = `buildx-v${buildxVersion}.linux-amd64`;
  const genuine = path.join(lab.releasesDir, 'docker');
  const tampered = path.join(lab.releasesDir, 'tampered', 'docker');

  for (const root of [genuine, tampered]) {
    mkdirSync(path.dirname(path.join(root, archiveRel)), { recursive: true });
    mkdirSync(path.join(root, buildxRel), { recursive: true });
  }
  makeArchive(path.join(genuine, archiveRel));
  // Other bytes under the same name: what a swapped archive on a compromised mirror looks like.
  copyFileSync(path.join(genuine, archiveRel), path.join(tampered, archiveRel));
  appendFileSync(path.join(tampered, archiveRel), Buffer.from('\0tampered\0'));
  const archiveSha = sha256(path.join(genuine, archiveRel));
  writeFileSync(path.join(genuine, 'SHA256SUMS'), `${archiveSha}  x86_64/docker-${dockerVersion}.tgz\n`);

  copyFileSync(BUILDX_PLUGIN, path.join(genuine, buildxRel, buildxName));
  copyFileSync(BUILDX_PLUGIN, path.join(tampered, buildxRel, buildxName));
  appendFileSync(path.join(tampered, buildxRel, buildxName), Buffer.from('\0tampered\0'));
  // The release's checksum list in buildx's format, served genuine on both paths.
  const list = `${sha256(path.join(genuine, buildxRel, buildxName))} *${buildxName}\n`;
  writeFileSync(path.join(genuine, buildxRel, 'checksums.txt'), list);
  writeFileSync(path.join(tampered, buildxRel, 'checksums.txt'), list);

  const releases: DockerReleases = {
    ...wanted,
    dockerChecksumLine: `${archiveSha}  x86_64/docker-${dockerVersion}.tgz`,
    sources: identity,
  };
  writeFileSync(assetsFile(lab), `${JSON.stringify(releases, null, 2)}\n`);
}
