// trivy release assets for the lab's release server (https://releases.lab.test over lab.releasesDir):
//   aquasecurity/trivy/releases/download/v<ver>/trivy_<ver>_Linux-{64bit,ARM64}.tar.gz + trivy_<ver>_checksums.txt
//   tampered/aquasecurity/trivy/releases/download/v<ver>/...   same names, the 64bit tarball differs from its checksum
//   v2/<db repository>/manifests/<tag>, v2/<db repository>/blobs/<digest>   the vulnerability DB (OCI layout)
// Idempotent: rebuilds the stand-in only when its sources or the lab's trivy settings change, and renews the DB
// artifact when its NextUpdate is near.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Lab } from '../lab';
import {
  bundleStandIn,
  checksumsFile,
  checksumsName,
  readDbMetadataFromArtifact,
  releaseTarball,
  standInSourceHash,
  tamperedExecutable,
  tarballName,
  writeDbArtifact,
  writeFileAtomic,
} from '../trivy/package';

type TrivyLab = Pick<Lab, 'root' | 'releasesDir' | 'releasesBaseUrl' | 'trivy'>;

const dbLifetimeMs = 24 * 3_600_000;
const dbRenewMarginMs = 3_600_000;

export function releaseDirs(lab: TrivyLab): { genuine: string; tampered: string } {
  const tail = ['aquasecurity', 'trivy', 'releases', 'download', `v${lab.trivy.version}`];
  return { genuine: path.join(lab.releasesDir, ...tail), tampered: path.join(lab.releasesDir, 'tampered', ...tail) };
}

function stampFile(lab: TrivyLab): string {
  return path.join(lab.root, 'cache', 'trivy-release.json');
}

async function buildAssets(lab: TrivyLab): Promise<void> {
  const { version, dbRepository } = lab.trivy;
  const work = mkdtempSync(path.join(os.tmpdir(), 'lab-trivy-'));
  try {
    const executableFile = path.join(work, 'trivy');
    await bundleStandIn({ outFile: executableFile, version, dbRepository });
    const executable = readFileSync(executableFile);
    const genuine = {
      [tarballName(version, '64bit')]: releaseTarball(executable),
      [tarballName(version, 'ARM64')]: releaseTarball(executable),
    };
    const checksums = checksumsFile(genuine);
    const dirs = releaseDirs(lab);
    for (const dir of [dirs.genuine, dirs.tampered]) mkdirSync(dir, { recursive: true });
    for (const [name, data] of Object.entries(genuine)) writeFileAtomic(path.join(dirs.genuine, name), data);
    writeFileAtomic(path.join(dirs.genuine, checksumsName(version)), checksums);
    // The tampered release carries the genuine checksums file, so its 64bit tarball fails verification.
    writeFileAtomic(path.join(dirs.tampered, tarballName(version, '64bit')), releaseTarball(tamperedExecutable()));
    writeFileAtomic(path.join(dirs.tampered, tarballName(version, 'ARM64')), genuine[tarballName(version, 'ARM64')]);
    writeFileAtomic(path.join(dirs.tampered, checksumsName(version)), checksums);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function assetsPresent(lab: TrivyLab): boolean {
  const dirs = releaseDirs(lab);
  const names = [tarballName(lab.trivy.version, '64bit'), tarballName(lab.trivy.version, 'ARM64'), checksumsName(lab.trivy.version)];
  return names.every((name) => existsSync(path.join(dirs.genuine, name)) && existsSync(path.join(dirs.tampered, name)));
}

/** The DB repository must live on the release server's host: that is where the stand-in will fetch it. */
function dbRepositoryHost(lab: TrivyLab): void {
  const host = lab.trivy.dbRepository.split('/')[0];
  const served = new URL(lab.releasesBaseUrl).host;
  if (host !== served) {
    throw new Error(
      `lab.json trivy.dbRepository (${lab.trivy.dbRepository}) is not on the release server ${served}; the DB could not be served`,
    );
  }
}

function ensureDbArtifact(lab: TrivyLab): void {
  const now = Date.now();
  const current = readDbMetadataFromArtifact(lab.releasesDir, lab.trivy.dbRepository);
  if (current && Date.parse(current.NextUpdate) - now > dbRenewMarginMs) return;
  writeDbArtifact({
    root: lab.releasesDir,
    repository: lab.trivy.dbRepository,
    updatedAt: { ms: now, extraNanos: 0 },
    nextUpdate: { ms: now + dbLifetimeMs, extraNanos: 0 },
  });
}

export async function prepare(lab: TrivyLab): Promise<void> {
  dbRepositoryHost(lab);
  const hash = standInSourceHash([lab.trivy.version, lab.trivy.dbRepository]);
  const stamp = stampFile(lab);
  const previous = existsSync(stamp) ? (JSON.parse(readFileSync(stamp, 'utf8')) as { hash?: string }).hash : undefined;
  if (previous !== hash || !assetsPresent(lab)) {
    await buildAssets(lab);
    mkdirSync(path.dirname(stamp), { recursive: true });
    writeFileSync(stamp, `${JSON.stringify({ hash, builtAt: new Date().toISOString() }, null, 2)}\n`);
  }
  ensureDbArtifact(lab);
}
