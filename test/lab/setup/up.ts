// lab:up: check every step before acting, so a second run on a lab that is up changes nothing.
import * as path from 'node:path';
import { labFile, repoRoot } from '../lab';
import { prepareReleases } from '../releases';
import { ensureQemu } from './binfmt';
import { ensureBusybox } from './busybox';
import { ensureHostPackages } from './apt';
import {
  dockerVersions,
  ensureBuildxPlugin,
  ensureContainerd,
  ensureDaemonJson,
  ensureDockerd,
  ensureEmulators,
  ensureRegistry,
  type EmulatorsResult,
} from './daemons';
import { ensureEngine } from './engine';
import { buildLab, labHostNames, qemuPlatforms, registryNames, writeLab } from './labfile';
import { say } from './log';
import { ensureLabProxy } from './proxy';
import { readState, writeState } from './state';
import { ensureHosts } from './system';
import { takeOverOtherLabs } from './takeover';
import { ensureCa, ensureServerCertificate, installCaTrust } from './tls';

/**
 * Host tools from the host's own sources, only if missing and only if nothing installed would change: openssl (the
 * lab CA), ca-certificates (the system store), iproute2 (private bridges), wget (debootstrap of the agent images),
 * file (tfx-cli asks it the type of files without an extension when the package test packs the extension), chromium
 * (the browser tests of the Container release tab drive it with playwright-core).
 */
export const LAB_HOST_PACKAGES = ['openssl', 'ca-certificates', 'iproute2', 'wget', 'file', 'chromium'];

export async function up(): Promise<EmulatorsResult> {
  const started = Date.now();
  await takeOverOtherLabs();
  ensureHostPackages(LAB_HOST_PACKAGES);
  ensureEngine();

  ensureCa();
  ensureServerCertificate(labHostNames);
  // docker's per-registry trust and the system store, both before dockerd starts
  const trustChanged = installCaTrust([...registryNames, 'releases.lab.test']);
  ensureHosts(labHostNames);
  const daemonJsonChanged = ensureDaemonJson();
  if (trustChanged || daemonJsonChanged) writeState({ ...readState(), dockerdRestartPending: true });

  await ensureContainerd();
  await ensureDockerd(readState().dockerdRestartPending);
  writeState({ ...readState(), dockerdRestartPending: false });
  ensureBuildxPlugin();
  const versions = dockerVersions();
  await ensureRegistry();
  ensureQemu(qemuPlatforms);
  ensureBusybox();
  // the enterprise proxy of the proxy tests (tinyproxy on loopback); its tests also start it when missing
  await ensureLabProxy();

  const lab = buildLab(versions);
  const labChanged = writeLab(lab);
  if (labChanged) say(`lab.json: written (${path.relative(repoRoot, labFile)})`);
  // a broken release module fails lab:up, but only after the emulators are up: the rest of the lab stays usable
  const releasesFailure = await prepareReleases(lab, say).then(
    () => undefined,
    (error: Error) => error,
  );
  const emulators = await ensureEmulators(lab, labChanged);
  if (releasesFailure) throw releasesFailure;

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  say(
    emulators === 'missing'
      ? `lab:up: done in ${seconds} s, WITHOUT the emulators (test/lab/emulators/main.ts is missing)`
      : `lab:up: up (docker ${versions.serverVersion}, buildx ${versions.buildxVersion}) in ${seconds} s`,
  );
  return emulators;
}
