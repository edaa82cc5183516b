// Runs the core sign-in, registry and ACR modules in a process of their own with the lab's Node environment
// (see signin-lab.ts). Reads `{scenario, input}` as JSON on stdin, logs to stderr, prints `RESULT <json>`.
import { existsSync, readFileSync } from 'node:fs';
import { AcrClient, type ManifestAttributesUpdate } from '../../src/acr/client';
import { type RegistryConnection, type RepositoryAction, signInToRegistry } from '../../src/acr/signin';
import type { AzureConnection, OidcContext } from '../../src/azure/connection';
import { withDockerConfig } from '../../src/docker/config';
import type { Logger } from '../../src/log';
import { runChecked } from '../../src/process/exec';
import { run } from '../../src/process/exec';
import { RegistryClient } from '../../src/registry/client';
import { digestOf } from '../../src/registry/digest';
import { RegistryError } from '../../src/registry/errors';
import { type Manifest, imageManifests, isIndex } from '../../src/registry/oci';
import { readAll } from '../../src/registry/transport';
import type { RetryPolicy } from '../../src/util/retry';
import type { ConnectionData } from './signin-lab';

const logger: Logger = {
  info: (m) => process.stderr.write(`[info] ${m}\n`),
  warn: (m) => process.stderr.write(`[warn] ${m}\n`),
  debug: (m) => process.stderr.write(`[debug] ${m}\n`),
  group: async (title, body) => {
    process.stderr.write(`[group] ${title}\n`);
    return body();
  },
};

interface SignInInput {
  registry: string;
  connection: ConnectionData;
  kind?: 'azure' | 'dockerRegistry';
  oidc?: OidcContext;
  checkAccess?: { repository: string; actions: RepositoryAction[] };
  retry?: RetryPolicy;
}

function toConnection(data: ConnectionData): AzureConnection {
  return { id: data.id, scheme: data.scheme, parameters: data.parameters, data: (key) => data.dataParameters[key], url: data.url };
}

async function signIn(input: SignInInput) {
  const connection = toConnection(input.connection);
  const registryConnection: RegistryConnection =
    input.kind === 'dockerRegistry'
      ? { kind: 'dockerRegistry', docker: connection, oidc: input.oidc }
      : { kind: 'azure', azure: connection, oidc: input.oidc };
  return signInToRegistry({
    registry: input.registry,
    connection: registryConnection,
    logger,
    checkAccess: input.checkAccess,
    retry: input.retry,
  });
}

const scenarios: Record<string, (input: never) => Promise<unknown>> = {
  /** Sign in, `docker login` into a job-local config, read a manifest with docker and with RegistryClient. */
  async 'signin-docker'(input: SignInInput & { repository: string; digest: string; parentDir: string }) {
    const signedIn = await signIn(input);
    logger.info(`signed in: ${signedIn.method}`);
    const reference = `${input.registry}/${input.repository}@${input.digest}`;
    let configDir = '';
    let loggedInTo: string[] = [];
    const dockerRaw = await withDockerConfig(
      [signedIn.credentials],
      async (env) => {
        configDir = env.DOCKER_CONFIG;
        loggedInTo = Object.keys((JSON.parse(readFileSync(`${configDir}/config.json`, 'utf8')) as { auths?: object }).auths ?? {});
        const inspected = await runChecked(run, 'docker', ['buildx', 'imagetools', 'inspect', '--raw', reference], {
          env: { ...process.env, ...env },
          timeoutMs: 120_000,
        });
        return inspected.stdout;
      },
      { parentDir: input.parentDir, logger },
    );
    const client = new RegistryClient({ registry: input.registry, credentials: signedIn.credentials, logger });
    const fetched = await client.getManifest(input.repository, input.digest);
    return {
      method: signedIn.method,
      username: signedIn.credentials.username,
      secrets: signedIn.secrets,
      loggedInTo,
      configDir,
      configDirRemoved: !existsSync(configDir),
      dockerDigest: digestOf(Buffer.from(dockerRaw.replace(/\n$/, ''))),
      clientDigest: fetched.digest,
    };
  },

  /** Sign in, build and push a multi-platform image with buildx through the job-local config, read it back. */
  async 'registry-buildx'(
    input: SignInInput & { repository: string; tag: string; contextDir: string; platforms: string; parentDir: string },
  ) {
    const signedIn = await signIn(input);
    const reference = `${input.registry}/${input.repository}:${input.tag}`;
    await withDockerConfig(
      [signedIn.credentials],
      async (env) => {
        await runChecked(
          run,
          'docker',
          ['buildx', 'build', '--platform', input.platforms, '--provenance=mode=min', '--push', '-t', reference, input.contextDir],
          {
            env: { ...process.env, ...env },
            timeoutMs: 240_000,
            onLine: (line) => logger.debug(line),
          },
        );
      },
      { parentDir: input.parentDir, logger },
    );
    const client = new RegistryClient({ registry: input.registry, credentials: signedIn.credentials, logger });
    const index = await client.getManifest(input.repository, input.tag, { retryUnknown: true });
    if (!isIndex(index.json, index.mediaType)) throw new Error(`expected an index, got ${index.mediaType}`);
    const byDigest = await client.getManifest(input.repository, index.digest);
    const head = await client.headManifest(input.repository, input.tag);
    const resolved = await client.resolveDigest(input.repository, input.tag);
    const platforms = [];
    for (const entry of imageManifests(index.json)) {
      const manifest = await client.getManifest(input.repository, entry.digest);
      const json = manifest.json as Manifest;
      const config = JSON.parse((await client.getBlob(input.repository, json.config.digest)).toString('utf8')) as {
        architecture: string;
        os: string;
      };
      const layer = await readAll(await client.openBlob(input.repository, json.layers[0].digest));
      platforms.push({
        platform: `${entry.platform?.os}/${entry.platform?.architecture}`,
        digest: manifest.digest,
        config: `${config.os}/${config.architecture}`,
        layerBytes: layer.length,
        layerSize: json.layers[0].size,
      });
    }
    return {
      secrets: signedIn.secrets,
      indexDigest: index.digest,
      indexMediaType: index.mediaType,
      byDigest: byDigest.digest,
      head,
      resolved,
      entries: index.json.manifests.length,
      attestations: index.json.manifests.length - imageManifests(index.json).length,
      platforms,
    };
  },

  /** Read a manifest (fault tests: retries are logged to stderr). */
  async 'registry-get'(input: SignInInput & { repository: string; reference: string; retryUnknown?: boolean }) {
    const signedIn = await signIn(input);
    const client = new RegistryClient({ registry: input.registry, credentials: signedIn.credentials, logger, retry: input.retry });
    const fetched = await client.getManifest(input.repository, input.reference, { retryUnknown: input.retryUnknown });
    return { digest: fetched.digest, mediaType: fetched.mediaType, secrets: signedIn.secrets };
  },

  /** Read (and optionally change, then read again) a manifest's ACR attributes. */
  async acr(input: SignInInput & { repository: string; digest: string; update?: ManifestAttributesUpdate }) {
    const signedIn = await signIn(input);
    const client = new AcrClient({ registry: input.registry, credentials: signedIn.credentials, logger, retry: input.retry });
    const before = await client.getManifestAttributes(input.repository, input.digest);
    if (!input.update) return { before, secrets: signedIn.secrets };
    const updated = await client.updateManifestAttributes(input.repository, input.digest, input.update);
    const after = await client.getManifestAttributes(input.repository, input.digest);
    return { before, updated, after, secrets: signedIn.secrets };
  },

  /** Change a manifest's ACR attributes without reading them first. */
  async 'acr-patch'(input: SignInInput & { repository: string; digest: string; update: ManifestAttributesUpdate }) {
    const signedIn = await signIn(input);
    const client = new AcrClient({ registry: input.registry, credentials: signedIn.credentials, logger, retry: input.retry });
    return { updated: await client.updateManifestAttributes(input.repository, input.digest, input.update), secrets: signedIn.secrets };
  },

  /** Sign in only. */
  async signin(input: SignInInput) {
    const signedIn = await signIn(input);
    return { method: signedIn.method, username: signedIn.credentials.username, secrets: signedIn.secrets };
  },
};

async function main(): Promise<void> {
  const { scenario, input } = JSON.parse(await readAll(process.stdin).then((b) => b.toString('utf8'))) as {
    scenario: string;
    input: never;
  };
  const body = scenarios[scenario];
  if (!body) throw new Error(`unknown scenario ${scenario}`);
  try {
    process.stdout.write(`RESULT ${JSON.stringify({ ok: true, value: await body(input) })}\n`);
  } catch (error) {
    const e = error as Error;
    logger.debug(`failed: ${e.stack ?? e.message}`);
    const detail = error instanceof RegistryError ? { status: error.status, code: error.code } : {};
    process.stdout.write(`RESULT ${JSON.stringify({ ok: false, error: { name: e.name, message: e.message, ...detail } })}\n`);
  }
}

void main();
