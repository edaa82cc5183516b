// EnsureDocker's inputs, read and checked once: a bad value fails the task with an error naming the input.
import { parsePlatformList, type Platform } from '../../src/platform/platform';
import { InputError, type Inputs } from '../../src/inputs';
import { CLEANUP_MODES, type CleanupMode, parseSize } from '../../src/docker/cleanup';
import { parseDockerHost } from '../../src/docker/endpoint';
import { COMPOSE_CHOICES, type EnsureOptions } from '../../src/docker/ensure';
import { COMPOSE_V2 } from '../../src/docker/probe';
import { INSTALL_SOURCES } from '../../src/docker/install-plan';
import { invalidChecksumLines } from '../../src/docker/static';
import { parseVersionPin, versionAtLeast } from '../../src/docker/version';

function url(inputs: Inputs, name: string): string {
  const value = inputs.required(name);
  if (!/^https?:\/\/[^\s/]+/i.test(value)) throw new InputError(name, `'${value}' is not an http(s) URL.`);
  return value;
}

/** Every input is checked when the main step starts, the post-job step's too: a bad one must not wait for the job's end. */
export function readEnsureOptions(inputs: Inputs): EnsureOptions {
  readCleanup(inputs);
  const dockerHost = inputs.parse('dockerHost', (v) => {
    if (v !== undefined) parseDockerHost(v);
    return v;
  });
  const checksumLines = inputs.lines('staticChecksums');
  const bad = invalidChecksumLines(checksumLines);
  if (bad.length)
    throw new InputError(
      'staticChecksums',
      `'${bad[0]}' is not a checksum line. Write \`<64 hex digits>  <file name or path>\`, as sha256sum prints it.`,
    );
  const buildxVersion = inputs.parse('buildxVersion', parseVersionPin);
  if (!buildxVersion) throw new InputError('buildxVersion', 'a value is required, for example 0.21.2.');
  const composeVersion = inputs.parse('composeVersion', parseVersionPin);
  if (!composeVersion) throw new InputError('composeVersion', 'a value is required, for example 2.39.2.');
  if (!versionAtLeast(composeVersion, COMPOSE_V2))
    throw new InputError(
      'composeVersion',
      `${composeVersion} is compose v1, which \`docker compose\` does not run. Give a 2.x release, for example 2.39.2.`,
    );
  return {
    installSource: inputs.choice('installSource', INSTALL_SOURCES),
    dockerVersion: inputs.parse('dockerVersion', parseVersionPin),
    buildxVersion,
    compose: inputs.choice('compose', COMPOSE_CHOICES),
    composeVersion,
    startDaemon: inputs.choice('startDaemon', ['auto', 'never'] as const),
    emulatePlatforms: inputs.parse('emulatePlatforms', (v): Platform[] => (v === undefined ? [] : parsePlatformList(v))),
    dockerHost,
    staticSources: {
      dockerBaseUrl: url(inputs, 'staticDockerBaseUrl'),
      buildxBaseUrl: url(inputs, 'staticBuildxBaseUrl'),
      composeBaseUrl: url(inputs, 'staticComposeBaseUrl'),
      checksumLines,
    },
    dockerRepositoryUrl: url(inputs, 'dockerRepositoryUrl'),
  };
}

/** The post-job step's inputs; pruneKeepStorage is checked whatever the mode, so a bad value fails at the start. */
export function readCleanup(inputs: Inputs): { mode: CleanupMode; keepStorageBytes?: number } {
  const mode = inputs.choice('cleanup', CLEANUP_MODES);
  const keepStorageBytes = inputs.parse('pruneKeepStorage', (v) => parseSize(v ?? '10GB'));
  return { mode, keepStorageBytes: mode === 'prune' ? keepStorageBytes : undefined };
}
