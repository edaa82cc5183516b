// Release assets for EnsureDocker's static compose source, served by https://releases.lab.test from .lab/releases/,
// in compose's own release layout: the binary and, beside it, its checksum file (`<binary>.sha256`), plus a tampered
// copy for the refusal tests. The binary is Debian 13's docker-compose (compose v2, the CLI plugin), downloaded by the
// lab's own apt and unpacked here (never installed on the host).
//
//   docker/compose/releases/download/v<c>/docker-compose-linux-x86_64 and .sha256
//   tampered/docker/compose/...              same paths, the binary differs (its .sha256 kept genuine)
//   docker/compose-assets.json               what the tests read (readComposeReleases)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { coreVersion, parseComposeVersion } from '../../../src/docker/version';
import type { Lab } from '../lab';
import { downloadDeb } from '../setup/apt';

export interface ComposeReleases {
  composeVersion: string;
  composeBaseUrl: string;
  tamperedComposeBaseUrl: string;
  /** The .deb the binary came from. */
  source: string;
}

const PLUGIN_IN_PACKAGE = './usr/libexec/docker/cli-plugins/docker-compose';
const assetsFile = (lab: Pick<Lab, 'releasesDir'>) => path.join(lab.releasesDir, 'docker', 'compose-assets.json');
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

export function readComposeReleases(lab: Pick<Lab, 'releasesDir'>): ComposeReleases {
  const file = assetsFile(lab);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run lab:up\` (test/lab/releases/compose.ts prepares it)`);
  return JSON.parse(readFileSync(file, 'utf8')) as ComposeReleases;
}

export async function prepare(lab: Lab): Promise<void> {
  const deb = downloadDeb('docker-compose', 'trixie', 'amd64', ['bookworm', 'trixie']);
  const base = lab.releasesBaseUrl.replace(/\/+$/, '');
  if (existsSync(assetsFile(lab))) {
    const current = readComposeReleases(lab);
    if (current.source === path.basename(deb) && current.composeBaseUrl.startsWith(base)) return;
  }
  const work = mkdtempSync(path.join(lab.releasesDir, '.compose-'));
  try {
    execFileSync('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" "$3"', 'sh', deb, work, PLUGIN_IN_PACKAGE]);
    const binary = path.join(work, PLUGIN_IN_PACKAGE);
    const composeVersion = coreVersion(parseComposeVersion(execFileSync(binary, ['version'], { encoding: 'utf8' })) ?? '');
    if (!composeVersion) throw new Error(`${binary} version printed no version`);
    const name = 'docker-compose-linux-x86_64';
    const release = path.join('compose', 'releases', 'download', `v${composeVersion}`);
    const genuine = path.join(lab.releasesDir, 'docker', release);
    const tampered = path.join(lab.releasesDir, 'tampered', 'docker', release);
    for (const dir of [genuine, tampered]) mkdirSync(dir, { recursive: true });
    copyFileSync(binary, path.join(genuine, name));
    copyFileSync(binary, path.join(tampered, name));
    // Other bytes under the same name: a swapped binary on a compromised mirror.
    appendFileSync(path.join(tampered, name), Buffer.from('\0tampered\0'));
    const line = `${sha256(path.join(genuine, name))} *${name}\n`;
    for (const dir of [genuine, tampered]) writeFileSync(path.join(dir, `${name}.sha256`), line);
    const releases: ComposeReleases = {
      composeVersion,
      composeBaseUrl: `${base}/docker/compose/releases/download`,
      tamperedComposeBaseUrl: `${base}/tampered/docker/compose/releases/download`,
      source: path.basename(deb),
    };
    writeFileSync(assetsFile(lab), `${JSON.stringify(releases, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
