// ACR Tasks in the lab, on https://127.0.0.1 (the lab certificate's IP name; the Resource Manager URL of a lab
// service connection): the Resource Manager routes BuildForPlatform's engine: acrTasks uses, a blob store behind SAS
// URLs, and a run executor that builds with the lab's real engine (QEMU for arm64) and pushes to the ACR emulator.
// Shapes: azure-rest-api-specs containerregistry resource-manager (containerregistry_build.json 2019-06-01-preview and
// its examples RegistriesGetBuildSourceUploadUrl, RegistriesScheduleRun, RunsGet, RunsGetLogSasUrl, RunsCancel).
// See README.md here ("ACR Tasks") for the routes, the SAS rules and what the control API can change.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { labPath } from '../engine';
import type { AcrPolicies } from './acr/store';
import type { LabConfig } from './config';
import type { EntraEmulator } from './entra';
import { bearerToken, type Exchange, readBody, sendJson } from './http';

/** The host the routes answer on (Host header), and the base of every URL they give out. */
export const ARM_HOST = '127.0.0.1';
const RESOURCE_GROUP = 'lab-rg';
const STORAGE_PREFIX = '/labstorage/';
/** ARM's audiences, with and without the slash (a `<resource>/.default` scope gives the resource without it). */
const ARM_AUDIENCES = [
  'https://management.azure.com',
  'https://management.azure.com/',
  'https://management.core.windows.net',
  'https://management.core.windows.net/',
];
/** Roles of lab.json that may schedule runs: a data role with push stands in for Container Registry Tasks Contributor. */
const TASK_ROLES = ['AcrPush', 'Contributor', 'Owner', 'Container Registry Tasks Contributor'];
const SAS_LIFETIME_MS = 60 * 60_000;
const MAX_SOURCE_BYTES = 256 * 1024 * 1024;

export type LabRunStatus = 'Queued' | 'Running' | 'Succeeded' | 'Failed' | 'Canceled' | 'Error' | 'Timeout';

/** What the control API can change per registry (POST /_lab/acr-tasks). */
export interface TasksBehaviour {
  /** false: scheduleRun answers TasksOperationsNotAllowed (free and trial subscriptions). */
  tasksAllowed: boolean;
  /** How long a run stays Queued ("waiting for an agent") before it starts; -1 for ever. */
  queueMs: number;
}

const DEFAULT_BEHAVIOUR: TasksBehaviour = { tasksAllowed: true, queueMs: 0 };

interface LabRun {
  runId: string;
  registry: string;
  registryId: string;
  status: LabRunStatus;
  request: Record<string, unknown>;
  createTime: string;
  startTime?: string;
  finishTime?: string;
  outputImages: { registry: string; repository: string; tag: string; digest: string }[];
  runErrorMessage?: string;
  log: Buffer[];
  child?: ChildProcess;
  timer?: NodeJS.Timeout;
}

export class AcrTasksEmulator {
  private readonly key = randomUUID();
  private readonly blobs = new Map<string, Buffer>();
  private readonly runs = new Map<string, LabRun>();
  private readonly behaviours = new Map<string, TasksBehaviour>();
  private sequence = 0;

  constructor(
    private readonly config: LabConfig,
    private readonly entra: EntraEmulator,
    /**
     * The ACR emulator's policies: the registries list shows each one's roleAssignmentMode from the same switch the
     * token service obeys (POST /_lab/policy). Without them (acr-tasks-server.ts, a process of its own) it is left out.
     */
    private readonly policies?: AcrPolicies,
  ) {}

  behaviour(registry: string): TasksBehaviour {
    return this.behaviours.get(registry) ?? DEFAULT_BEHAVIOUR;
  }

  setBehaviour(registry: string, changes: Partial<TasksBehaviour>): TasksBehaviour {
    const next = { ...this.behaviour(registry), ...changes };
    this.behaviours.set(registry, next);
    return next;
  }

  resetBehaviours(): void {
    this.behaviours.clear();
  }

  /** The runs of a registry, newest first, for tests (no log bodies). */
  listRuns(registry?: string): object[] {
    return [...this.runs.values()]
      .filter((run) => !registry || run.registry === registry)
      .reverse()
      .map((run) => ({ ...this.runResource(run).properties, registry: run.registry, request: run.request }));
  }

  async handle(exchange: Exchange): Promise<void> {
    const { req, res, url } = exchange;
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith(STORAGE_PREFIX)) return this.storage(exchange);

    const identity = this.authenticate(exchange);
    if (!identity) return;
    const subscription = this.config.lab.entra.subscriptionId;
    const list = new RegExp(`^/subscriptions/([^/]+)/providers/Microsoft\\.ContainerRegistry/registries$`, 'i').exec(url.pathname);
    if (list && method === 'GET') {
      if (list[1].toLowerCase() !== subscription.toLowerCase())
        return armError(res, 404, 'SubscriptionNotFound', `The subscription '${list[1]}' could not be found.`);
      const value = this.config
        .registryNames()
        .filter((registry) => this.config.rolesOf(identity.identity, registry).length > 0)
        .map((registry) => this.registryResource(registry, url.searchParams.get('api-version') ?? ''));
      return sendJson(res, 200, { value });
    }
    const match =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ContainerRegistry\/registries\/([^/]+)(\/.*)$/i.exec(
        url.pathname,
      );
    if (!match) return armError(res, 404, 'InvalidResourceType', `The resource path ${url.pathname} is not emulated.`);
    const [, sub, group, name, rest] = match;
    const registry = this.config.registryNames().find((r) => r.split('.')[0] === name.toLowerCase());
    if (sub.toLowerCase() !== subscription.toLowerCase() || group.toLowerCase() !== RESOURCE_GROUP || !registry) {
      return armError(
        res,
        404,
        'ResourceNotFound',
        `The Resource 'Microsoft.ContainerRegistry/registries/${name}' under resource group '${group}' was not found.`,
      );
    }
    if (!url.searchParams.get('api-version'))
      return armError(
        res,
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
    const registryId = this.registryResource(registry).id;
    const action = rest.replace(/^\//, '');
    if (!this.config.rolesOf(identity.identity, registry).some((role) => TASK_ROLES.includes(role))) {
      return armError(
        res,
        403,
        'AuthorizationFailed',
        `The client '${identity.identity.clientId}' with object id '${identity.identity.objectId}' does not have authorization to perform action 'Microsoft.ContainerRegistry/registries/${action.split('/')[0]}/action' over scope '${registryId}' or the scope is invalid.`,
      );
    }

    if (action === 'listBuildSourceUploadUrl' && method === 'POST') {
      req.resume();
      const day = new Date().toISOString().slice(0, 10).replace(/-/g, '') + '0000';
      const relativePath = `source/${day}/${randomUUID()}.tar.gz`;
      return sendJson(res, 200, { uploadUrl: this.sasUrl(exchange, `${registry.split('.')[0]}/${relativePath}`, 'cw'), relativePath });
    }
    if (action === 'scheduleRun' && method === 'POST') return this.scheduleRun(exchange, registry, registryId);
    const runMatch = /^runs\/([^/]+)(?:\/(listLogSasUrl|cancel))?$/.exec(action);
    if (runMatch) {
      const run = this.runs.get(runMatch[1]);
      if (!run || run.registry !== registry) return armError(res, 404, 'ResourceNotFound', `The run '${runMatch[1]}' was not found.`);
      if (!runMatch[2] && method === 'GET') return sendJson(res, 200, this.runResource(run));
      if (runMatch[2] === 'listLogSasUrl' && method === 'POST') {
        req.resume();
        return sendJson(res, 200, { logLink: this.sasUrl(exchange, `${registry.split('.')[0]}/logs/${run.runId}/rawtext.log`, 'r') });
      }
      if (runMatch[2] === 'cancel' && method === 'POST') {
        req.resume();
        this.cancel(run);
        return sendJson(res, 200, {});
      }
    }
    return armError(res, 405, 'MethodNotAllowed', `${method} ${action} is not emulated.`);
  }

  private authenticate(exchange: Exchange) {
    const { req, res } = exchange;
    const token = bearerToken(req);
    if (!token) {
      armError(res, 401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
      return undefined;
    }
    const check = this.entra.verifyAccessToken(token);
    if (!check.ok) {
      armError(res, 401, 'InvalidAuthenticationToken', `The access token is invalid (${check.reason}).`);
      return undefined;
    }
    if (!ARM_AUDIENCES.includes(String(check.claims.aud))) {
      armError(
        res,
        401,
        'InvalidAuthenticationTokenAudience',
        `The access token has been obtained for wrong audience or resource '${String(check.claims.aud)}'.`,
      );
      return undefined;
    }
    const identity = this.config.identityByObjectId(String(check.claims.oid ?? ''));
    if (!identity) {
      armError(res, 401, 'InvalidAuthenticationToken', 'The access token is for an unknown principal.');
      return undefined;
    }
    exchange.identity = identity.name;
    return identity;
  }

  /**
   * A registry as Resource Manager lists it. `properties.roleAssignmentMode` exists from api-version 2025-03-01-preview
   * (stable 2025-11-01; azure-rest-api-specs containerregistry Registry, RegistryList.json); abacScope, a lab-only
   * narrowing, does not show here: a registry switched to ABAC mode says so as a whole.
   */
  private registryResource(registry: string, apiVersion = '') {
    const name = registry.split('.')[0];
    const policy = this.policies?.get(registry);
    const mode =
      policy && apiVersion >= '2025-03-01-preview'
        ? { roleAssignmentMode: policy.roleAssignmentMode === 'abac' ? 'AbacRepositoryPermissions' : 'LegacyRegistryPermissions' }
        : {};
    return {
      id: `/subscriptions/${this.config.lab.entra.subscriptionId}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.ContainerRegistry/registries/${name}`,
      name,
      type: 'Microsoft.ContainerRegistry/registries',
      location: 'westeurope',
      sku: { name: 'Premium', tier: 'Premium' },
      properties: { loginServer: registry, provisioningState: 'Succeeded', adminUserEnabled: true, ...mode },
    };
  }

  private runResource(run: LabRun) {
    return {
      id: `${run.registryId}/runs/${run.runId}`,
      name: run.runId,
      type: 'Microsoft.ContainerRegistry/registries/runs',
      properties: {
        runId: run.runId,
        status: run.status,
        provisioningState: 'Succeeded',
        runType: 'QuickRun',
        createTime: run.createTime,
        lastUpdatedTime: run.finishTime ?? run.startTime ?? run.createTime,
        ...(run.startTime ? { startTime: run.startTime } : {}),
        ...(run.finishTime ? { finishTime: run.finishTime } : {}),
        outputImages: run.outputImages,
        ...(run.runErrorMessage ? { runErrorMessage: run.runErrorMessage } : {}),
        platform: run.request.platform,
        isArchiveEnabled: Boolean(run.request.isArchiveEnabled),
      },
    };
  }

  private async scheduleRun(exchange: Exchange, registry: string, registryId: string): Promise<void> {
    const { req, res } = exchange;
    const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as Record<string, unknown>;
    const name = registry.split('.')[0];
    if (!this.behaviour(registry).tasksAllowed) {
      return armError(
        res,
        400,
        'TasksOperationsNotAllowed',
        `ACR Tasks requests for the registry ${name} and ${registryId} are not permitted. Please file an Azure support request at http://aka.ms/azuresupport for assistance.`,
      );
    }
    const problem = checkDockerBuildRequest(body);
    if (problem) return armError(res, 400, 'InvalidRequestContent', problem);
    const source = this.blobs.get(`${name}/${String(body.sourceLocation)}`);
    if (!source)
      return armError(res, 400, 'InvalidSourceLocation', `The source location '${String(body.sourceLocation)}' has no uploaded source.`);
    const runId = `lab${(++this.sequence).toString(36)}${randomUUID().slice(0, 4)}`;
    const run: LabRun = {
      runId,
      registry,
      registryId,
      status: 'Queued',
      request: body,
      createTime: new Date().toISOString(),
      outputImages: [],
      log: [],
    };
    this.runs.set(runId, run);
    const { queueMs } = this.behaviour(registry);
    if (queueMs >= 0) run.timer = setTimeout(() => void this.execute(run, source), queueMs);
    sendJson(res, 200, this.runResource(run));
  }

  private cancel(run: LabRun): void {
    if (!['Queued', 'Running'].includes(run.status)) return;
    clearTimeout(run.timer);
    run.status = 'Canceled';
    run.finishTime = new Date().toISOString();
    this.say(run, `Run ID: ${run.runId} was canceled`);
    run.child?.kill('SIGTERM');
  }

  private say(run: LabRun, line: string): void {
    const stamp = new Date().toISOString().replace('T', ' ').slice(0, 19).replace(/-/g, '/');
    run.log.push(Buffer.from(`${stamp} ${line}\n`));
  }

  /** Builds with the lab's engine for the run's platform, pushes each image name with the registry's admin user. */
  private async execute(run: LabRun, source: Buffer): Promise<void> {
    if (run.status !== 'Queued') return;
    run.status = 'Running';
    run.startTime = new Date().toISOString();
    const request = run.request as unknown as LabDockerBuildRequest;
    const work = mkdtempSync(path.join(os.tmpdir(), 'lab-acr-run-'));
    const contextDir = path.join(work, 'context');
    const dockerConfig = path.join(work, 'docker');
    mkdirSync(contextDir);
    mkdirSync(dockerConfig);
    const admin = (this.config.lab.registries as Record<string, { admin: { username: string; password: string } }>)[run.registry].admin;
    writeFileSync(
      path.join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [run.registry]: { auth: Buffer.from(`${admin.username}:${admin.password}`).toString('base64') } } }),
    );
    const env = {
      ...process.env,
      PATH: labPath(),
      DOCKER_CONFIG: dockerConfig,
      DOCKER_HOST: this.config.lab.docker?.host ?? 'unix:///var/run/docker.sock',
    };
    const tags = request.imageNames.map((name) => `${run.registry}/${name.includes(':') ? name : `${name}:latest`}`);
    const deadline = setTimeout(
      () => {
        if (run.status !== 'Running') return;
        run.status = 'Timeout';
        run.runErrorMessage = `run timed out after ${request.timeout} seconds`;
        run.child?.kill('SIGTERM');
      },
      (request.timeout ?? 3600) * 1000,
    );
    try {
      this.say(run, 'Downloading source code...');
      writeFileSync(path.join(work, 'source.tar.gz'), source);
      await this.step(run, 'tar', ['-xzf', path.join(work, 'source.tar.gz'), '-C', contextDir], env, false);
      const platform = [
        request.platform.os.toLowerCase(),
        request.platform.architecture === 'x86' ? '386' : request.platform.architecture,
        request.platform.variant,
      ]
        .filter(Boolean)
        .join('/');
      this.say(run, `Setting up the build for ${platform}: ${tags.join(', ')}`);
      const args = ['buildx', 'build', '--progress', 'plain', '--platform', platform, '--provenance=false', '--load'];
      args.push('-f', path.join(contextDir, request.dockerFilePath));
      if (request.target) args.push('--target', request.target);
      for (const argument of request.arguments ?? []) args.push('--build-arg', `${argument.name}=${argument.value}`);
      for (const tag of tags) args.push('-t', tag);
      args.push(contextDir);
      await this.step(run, 'docker', args, env);
      if (request.isPushEnabled) {
        for (const tag of tags) {
          const output = await this.step(run, 'docker', ['push', tag], env);
          const digest = /: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(output)?.[1];
          if (!digest) throw new Error(`no digest in the output of docker push ${tag}`);
          const [repository, tagName] = splitReference(tag.slice(run.registry.length + 1));
          run.outputImages.push({ registry: run.registry, repository, tag: tagName, digest });
        }
      }
      if (run.status !== 'Running') return;
      run.status = 'Succeeded';
      this.say(run, `Run ID: ${run.runId} was successful after ${Math.round((Date.now() - Date.parse(run.startTime)) / 1000)}s`);
    } catch (error) {
      const status = run.status as LabRunStatus;
      if (status === 'Running') {
        run.status = 'Failed';
        run.runErrorMessage = `failed during run, err: ${(error as Error).message}`;
        this.say(
          run,
          `Run ID: ${run.runId} failed after ${Math.round((Date.now() - Date.parse(run.startTime)) / 1000)}s. Error: ${(error as Error).message}`,
        );
      } else if (status === 'Timeout') {
        this.say(run, `Run ID: ${run.runId} timed out`);
      }
    } finally {
      clearTimeout(deadline);
      run.child = undefined;
      run.finishTime ??= new Date().toISOString();
      spawn('docker', ['image', 'rm', '--force', ...tags], { env, stdio: 'ignore' }).on('error', () => undefined);
      rmSync(work, { recursive: true, force: true });
    }
  }

  /** Runs one command of a run, its output appended to the run's log; rejects with `exit status N`. */
  private step(run: LabRun, file: string, args: string[], env: NodeJS.ProcessEnv, logged = true): Promise<string> {
    return new Promise((resolve, reject) => {
      if (run.status !== 'Running') return reject(new Error('run is no longer running'));
      const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      run.child = child;
      let output = '';
      const take = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (logged) run.log.push(chunk);
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`exit status ${code ?? 'signal'}`))));
    });
  }

  /** A SAS URL on the host the request came to (443 in the lab's emulators, any port for a server of a test's own). */
  private sasUrl(exchange: Exchange, blobPath: string, permissions: string): string {
    const expiry = new Date(Date.now() + SAS_LIFETIME_MS).toISOString().replace(/\.\d+Z$/, 'Z');
    const query = new URLSearchParams({
      sv: '2021-08-06',
      se: expiry,
      sr: 'b',
      sp: permissions,
      sig: this.signature(blobPath, permissions, expiry),
    });
    return `https://${exchange.req.headers.host ?? ARM_HOST}${STORAGE_PREFIX}${blobPath}?${query.toString()}`;
  }

  private signature(blobPath: string, permissions: string, expiry: string): string {
    return createHmac('sha256', this.key).update(`${permissions}\n${expiry}\n/${blobPath}`).digest('base64');
  }

  /** The blob store: PUT a block blob, GET (with Range) a blob, each under a valid SAS for that blob. */
  private async storage(exchange: Exchange): Promise<void> {
    const { req, res, url } = exchange;
    const method = req.method ?? 'GET';
    const blobPath = decodeURIComponent(url.pathname.slice(STORAGE_PREFIX.length));
    const sp = url.searchParams.get('sp') ?? '';
    const se = url.searchParams.get('se') ?? '';
    const sig = url.searchParams.get('sig') ?? '';
    const expected = Buffer.from(this.signature(blobPath, sp, se));
    const given = Buffer.from(sig);
    if (!sig || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      req.resume();
      return storageError(
        res,
        403,
        'AuthenticationFailed',
        'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
      );
    }
    if (!(Date.parse(se) > Date.now())) {
      req.resume();
      return storageError(
        res,
        403,
        'AuthenticationFailed',
        'Signed expiry time must be after signed start time; the signature is not valid in the specified time frame.',
      );
    }
    if (method === 'PUT') {
      if (!/[cw]/.test(sp))
        return storageError(
          res,
          403,
          'AuthorizationPermissionMismatch',
          'This request is not authorized to perform this operation using this permission.',
        );
      if (req.headers['x-ms-blob-type'] !== 'BlockBlob') {
        req.resume();
        return storageError(
          res,
          400,
          'MissingRequiredHeader',
          "An HTTP header that's mandatory for this request is not specified. (x-ms-blob-type)",
        );
      }
      const body = await readBody(req, MAX_SOURCE_BYTES);
      this.blobs.set(blobPath, body);
      res.writeHead(201, {
        'Content-Length': '0',
        ETag: `"0x${Date.now().toString(16).toUpperCase()}"`,
        'x-ms-request-server-encrypted': 'true',
      });
      return void res.end();
    }
    if (method === 'GET' || method === 'HEAD') {
      if (!sp.includes('r'))
        return storageError(
          res,
          403,
          'AuthorizationPermissionMismatch',
          'This request is not authorized to perform this operation using this permission.',
        );
      const content = this.blobContent(blobPath);
      if (!content) return storageError(res, 404, 'BlobNotFound', 'The specified blob does not exist.');
      const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
      if (!range) {
        res.writeHead(200, { 'Content-Length': content.length, 'Content-Type': 'text/plain', 'x-ms-blob-type': 'AppendBlob' });
        return void res.end(method === 'HEAD' ? undefined : content);
      }
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), content.length - 1) : content.length - 1;
      if (start >= content.length)
        return storageError(res, 416, 'InvalidRange', 'The range specified is invalid for the current size of the resource.');
      const part = content.subarray(start, end + 1);
      res.writeHead(206, {
        'Content-Length': part.length,
        'Content-Range': `bytes ${start}-${end}/${content.length}`,
        'Content-Type': 'text/plain',
      });
      return void res.end(method === 'HEAD' ? undefined : part);
    }
    req.resume();
    return storageError(res, 405, 'UnsupportedHttpVerb', "The resource doesn't support specified Http Verb.");
  }

  private blobContent(blobPath: string): Buffer | undefined {
    const log = /^[^/]+\/logs\/([^/]+)\/rawtext\.log$/.exec(blobPath);
    if (log) {
      const run = this.runs.get(log[1]);
      return run && run.status !== 'Queued' ? Buffer.concat(run.log) : undefined;
    }
    return this.blobs.get(blobPath);
  }
}

interface LabDockerBuildRequest {
  imageNames: string[];
  isPushEnabled: boolean;
  dockerFilePath: string;
  target?: string;
  arguments?: { name: string; value: string }[];
  timeout?: number;
  platform: { os: string; architecture: string; variant?: string };
}

/** What the spec requires of a DockerBuildRequest; undefined when it is well formed. */
export function checkDockerBuildRequest(body: Record<string, unknown>): string | undefined {
  if (body.type !== 'DockerBuildRequest') return `type '${String(body.type)}' is not emulated; only DockerBuildRequest.`;
  if (typeof body.dockerFilePath !== 'string' || !body.dockerFilePath) return 'dockerFilePath is required.';
  if (typeof body.sourceLocation !== 'string' || !body.sourceLocation) return 'sourceLocation is required.';
  const platform = body.platform as { os?: string; architecture?: string } | undefined;
  if (!platform || !['Linux', 'Windows'].includes(String(platform.os))) return 'platform.os must be Linux or Windows.';
  if (platform.architecture && !['amd64', 'x86', '386', 'arm', 'arm64'].includes(platform.architecture))
    return `platform.architecture '${platform.architecture}' is not valid.`;
  if (!Array.isArray(body.imageNames) || body.imageNames.some((name) => typeof name !== 'string'))
    return 'imageNames must be an array of strings.';
  if (body.isPushEnabled && body.imageNames.length === 0) return 'imageNames is required when isPushEnabled is true.';
  if (body.timeout !== undefined && (typeof body.timeout !== 'number' || body.timeout < 300 || body.timeout > 28800))
    return 'timeout must be from 300 to 28800.';
  if (body.arguments !== undefined && !Array.isArray(body.arguments)) return 'arguments must be an array.';
  return undefined;
}

function splitReference(reference: string): [string, string] {
  const colon = reference.lastIndexOf(':');
  return [reference.slice(0, colon), reference.slice(colon + 1)];
}

function armError(res: Exchange['res'], status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

/** Azure Storage's error body (XML). */
function storageError(res: Exchange['res'], status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:${randomUUID()}\nTime:${new Date().toISOString()}</Message></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body), 'x-ms-error-code': code });
  res.end(body);
}
