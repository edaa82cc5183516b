// The contract between the Azure Pipelines agent and a Node task, as microsoft/azure-pipelines-agent 42bde98 and
// azure-pipelines-task-lib a5e7ee0 implement it (table with file references in test/lab/README.md "The agent's
// contract"), checked on the lab agent (test/helpers/task-runner.ts) and on the task behaviour it exposed.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveDockerfile } from '../../src/buildx/options';
import { inertLogText } from '../../src/pipeline/task';
import {
  agentEnvironment,
  agentHandler,
  agentMasks,
  agentResult,
  envName,
  interpret,
  readTaskJson,
  repoRoot,
  translateFilePath,
  type TaskName,
} from '../helpers/task-runner';
import { parseVsoLine } from '../helpers/vso';

const sources = '/agent/_work/1/s';
const connectionId = 'd48e78c4-1968-4c90-ac76-2fa129750d62';
const otherId = '7105199b-708f-49c0-94db-9cf3cee592ca';
const endpoint = {
  url: 'https://management.azure.com/',
  scheme: 'ServicePrincipal',
  parameters: { tenantid: 'tenant-1', serviceprincipalid: 'client-1', serviceprincipalkey: 'key-value-1', authenticationType: 'spnKey' },
  data: { environment: 'AzureCloud', 'scope.level': 'Subscription' },
};

function environment(inputs: Record<string, string>, extra: Partial<Parameters<typeof agentEnvironment>[0]> = {}) {
  return agentEnvironment(
    {
      task: 'BuildForPlatform',
      inputs,
      variables: { 'Build.SourcesDirectory': sources, 'Build.BuildId': '77', 'My Var.x': 'v' },
      secretVariables: { 'Registry.Password': 'pa55word' },
      endpoints: { [connectionId]: endpoint, [otherId]: { ...endpoint, parameters: { serviceprincipalkey: 'other-key' } } },
      ...extra,
    },
    '/agent/_work/_temp',
  );
}

describe('agent contract: inputs become INPUT_* (TaskRunner.cs, Handler.AddInputsToEnvironment)', () => {
  it('names environment variables by replacing "." and " " and upper-casing (VarUtil.ConvertToEnvVariableFormat)', () => {
    assert.equal(envName('Build.BuildId'), 'BUILD_BUILDID');
    assert.equal(envName('My Var.x'), 'MY_VAR_X');
    assert.equal(envName('tab\there'), 'TAB\tHERE');
  });

  it('trims inputs and defaults, then expands $(var) from public and secret variables, leaving unknown macros', () => {
    const env = environment({ repository: '  team/app  ', tags: ' $(Build.BuildId)-$(registry.password)-$(Nope) ' });
    assert.equal(env.INPUT_REPOSITORY, 'team/app');
    assert.equal(env.INPUT_TAGS, '77-pa55word-$(Nope)');
    assert.equal(env.INPUT_PLATFORMS, 'linux/amd64', 'the default of task.json');
    assert.equal(env.INPUT_BUILDARGS, '', 'every declared input is handed over, empty ones too');
  });

  it('makes filePath inputs absolute under the repository: the default, a relative path, an empty one, a rooted one', () => {
    assert.equal(environment({}).INPUT_DOCKERFILE, `${sources}/Dockerfile`);
    assert.equal(environment({}).INPUT_BUILDCONTEXT, sources);
    assert.equal(environment({ dockerfile: 'app/Dockerfile' }).INPUT_DOCKERFILE, `${sources}/app/Dockerfile`);
    assert.equal(environment({ dockerfile: '' }).INPUT_DOCKERFILE, sources);
    assert.equal(environment({ dockerfile: '/abs/../x/Dockerfile' }).INPUT_DOCKERFILE, '/x/Dockerfile');
    assert.equal(translateFilePath('.', sources), sources);
  });
});

describe('agent contract: variables, endpoints, secure files, task variables (Handler.cs)', () => {
  it('hands public variables by formatted name with VSTS_PUBLIC_VARIABLES, secret ones as SECRET_* with VSTS_SECRET_VARIABLES', () => {
    const env = environment({});
    assert.equal(env.MY_VAR_X, 'v');
    assert.equal(env.BUILD_BUILDID, '77');
    assert.equal(env.REGISTRY_PASSWORD, undefined, 'a secret variable is never a plain variable');
    assert.equal(env.SECRET_REGISTRY_PASSWORD, 'pa55word');
    assert.ok((JSON.parse(env.VSTS_PUBLIC_VARIABLES ?? '[]') as string[]).includes('My Var.x'));
    assert.deepEqual(JSON.parse(env.VSTS_SECRET_VARIABLES ?? '[]'), ['Registry.Password']);
    assert.equal(env['Agent.JobStatus'], 'Succeeded', 'agent.jobstatus also under its own name');
  });

  it('hands over only the connections a connectedService input names (comma-separated), with their data as JSON too', () => {
    const env = environment({ azureSubscription: ` ${connectionId} ` });
    assert.equal(env[`ENDPOINT_URL_${connectionId}`], 'https://management.azure.com/');
    assert.deepEqual(JSON.parse(env[`ENDPOINT_AUTH_${connectionId}`] ?? ''), {
      parameters: endpoint.parameters,
      scheme: 'ServicePrincipal',
    });
    assert.equal(env[`ENDPOINT_AUTH_SCHEME_${connectionId}`], 'ServicePrincipal');
    assert.equal(env[`ENDPOINT_AUTH_PARAMETER_${connectionId}_SERVICEPRINCIPALKEY`], 'key-value-1');
    assert.equal(env[`ENDPOINT_DATA_${connectionId}_SCOPE_LEVEL`], 'Subscription');
    assert.deepEqual(JSON.parse(env[`ENDPOINT_DATA_${connectionId}`] ?? ''), endpoint.data);
    assert.equal(env[`ENDPOINT_AUTH_${otherId}`], undefined, 'a connection no input names is not handed over');
    const both = environment({ azureSubscription: connectionId, dockerRegistryServiceConnection: otherId });
    assert.ok(both[`ENDPOINT_AUTH_${otherId}`]);
  });

  it('hands SystemVssConnection over from System.AccessToken, and task variables as VSTS_TASKVARIABLE_* for the post-job step', () => {
    const env = environment(
      {},
      {
        secretVariables: { 'System.AccessToken': 'job-token' },
        variables: { 'System.CollectionUri': 'https://dev.azure.com/org/', 'Build.SourcesDirectory': sources },
        taskVariables: { 'started.Daemon': '1234' },
      },
    );
    assert.equal(env.ENDPOINT_URL_SYSTEMVSSCONNECTION, 'https://dev.azure.com/org/');
    assert.equal(env.ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN, 'job-token');
    assert.equal(env.VSTS_TASKVARIABLE_STARTED_DAEMON, '1234');
  });

  it('hands secure files a secureFile input names as SECUREFILE_NAME_/SECUREFILE_TICKET_ (none of our tasks declares one)', () => {
    const env = environment({}, { secureFiles: { [otherId]: { name: 'ca.pem', ticket: 'ticket-1' } } });
    assert.equal(env[`SECUREFILE_TICKET_${otherId}`], undefined);
    for (const task of ['EnsureDocker', 'BuildForPlatform', 'ScanAndRelease'] as TaskName[]) {
      assert.ok(!(readTaskJson(task).inputs ?? []).some((input) => input.type === 'secureFile'), task);
    }
  });
});

describe('agent contract: ##vso commands (Command.TryParse, CommandStringConvertor)', () => {
  it('takes the first ##vso[ anywhere in a line, property names in any case, values and message unescaped alike', () => {
    const command = parseVsoLine('x ##vso[task.setvariable VARIABLE=a%3Bb;IsOutput=true]m%5D%3B%0A%AZP25 ##vso[task.setsecret]y');
    assert.equal(command?.command, 'task.setvariable');
    assert.deepEqual(command?.properties, { variable: 'a;b', isoutput: 'true' });
    assert.equal(command?.message, 'm];\n% ##vso[task.setsecret]y');
  });

  it('is no command unless the name is area.event; keys are not trimmed; key= and =value are dropped', () => {
    assert.equal(parseVsoLine('##vso[setvariable variable=x]y'), undefined);
    assert.equal(parseVsoLine('##vso[task.set.variable variable=x]y'), undefined);
    assert.deepEqual(parseVsoLine('##vso[task.setvariable  variable=x; isOutput=true;empty=;=v]y')?.properties, {
      ' variable': 'x',
      ' isoutput': 'true',
    });
  });

  it('acts on commands printed to stderr too, in the order they arrived', () => {
    const run = interpret('', '##vso[task.setvariable variable=fromStderr;isOutput=true]1\n', 0, 1);
    assert.equal(run.outputs.fromStderr, '1');
    const ordered = interpret('', '', 0, 1, {
      lines: ['##vso[task.setvariable variable=v]first', '##vso[task.setvariable variable=v]second'],
    });
    assert.equal(ordered.variables.v.value, 'second');
  });

  it('reads what task-lib itself prints (a child process using azure-pipelines-task-lib)', () => {
    const temp = mkdtempSync(path.join(os.tmpdir(), 'task-lib-'));
    try {
      const stdout = execFileSync(
        process.execPath,
        [
          '-e',
          "const tl = require('azure-pipelines-task-lib/task'); tl.setVariable('out', 'a;b]c%d\\ne', false, true); tl.setResult(tl.TaskResult.Failed, 'x]y');",
        ],
        { cwd: repoRoot, encoding: 'utf8', env: { PATH: process.env.PATH, AGENT_TEMPDIRECTORY: temp } },
      );
      const run = interpret(stdout, '', 0, 1);
      assert.equal(run.outputs.out, 'a;b]c%d\ne');
      assert.equal(run.result, 'Failed');
      assert.equal(run.resultMessage, 'x]y');
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  });
});

describe('agent contract: the result (TaskCompleteCommand, TaskResultUtil.MergeTaskResults, StepsRunner)', () => {
  it('merges task.complete results, the worse winning', () => {
    assert.equal(agentResult(['Succeeded', 'SucceededWithIssues'], 0), 'SucceededWithIssues');
    assert.equal(agentResult(['Failed', 'Succeeded'], 0), 'Failed');
    assert.equal(agentResult(['Skipped', 'Failed'], 0), 'Skipped');
  });

  it('fails a non-zero exit whatever task.complete said, and succeeds a silent exit 0', () => {
    assert.equal(agentResult(['Succeeded'], 1), 'Failed');
    assert.equal(agentResult([], null), 'Failed');
    assert.equal(agentResult([], 0), 'Succeeded');
  });

  it("fails a result name the agent's enum does not have (task-lib's Cancelled, lower case)", () => {
    assert.equal(agentResult(['Cancelled'], 0), 'Failed');
    assert.equal(agentResult(['succeeded'], 0), 'Failed');
    assert.equal(agentResult(['Canceled'], 0), 'Canceled');
  });
});

describe('agent contract: masking (Worker.InitializeSecretMasker, MaskingUtil)', () => {
  it('masks secret variables (and their base64), endpoint parameters but the non-secret ones, and what the step set secret', () => {
    const masks = agentMasks({
      secretVariables: { token: 't0ken-value', quoted: '"quoted-value"' },
      endpoints: { [connectionId]: endpoint },
    });
    assert.ok(masks.includes('t0ken-value'));
    assert.ok(masks.includes(Buffer.from('t0ken-value').toString('base64')));
    assert.ok(masks.includes('quoted-value'), 'a quoted secret also without its quotes');
    assert.ok(masks.includes('key-value-1') && masks.includes('client-1'));
    assert.ok(!masks.includes('tenant-1') && !masks.includes('spnKey'), 'tenantid and authenticationType are not secret');
    const run = interpret('key-value-1 t0ken-value tenant-1\n##vso[task.setsecret]late-secret\nlate-secret\n', '', 0, 1, { masks });
    assert.equal(run.masked.split('\n')[0], '*** *** tenant-1');
    assert.equal(run.masked.split('\n')[2], '***');
  });
});

describe('agent contract: the Node handler (TaskRunner.GetHandlerData, NodeHandler)', () => {
  it('every task declares Node24 and Node20_1 with the same target; the agent picks Node24', () => {
    for (const task of ['EnsureDocker', 'BuildForPlatform', 'ScanAndRelease'] as TaskName[]) {
      const execution = readTaskJson(task).execution ?? {};
      assert.deepEqual(Object.keys(execution).sort(), ['Node20_1', 'Node24'], task);
      assert.equal(agentHandler(execution), 'Node24');
    }
    assert.equal(agentHandler({ Node20_1: {}, Node16: {} }), 'Node20_1');
  });
});

describe('task behaviour the kinder lab agent hid', () => {
  it('finds the Dockerfile under the build context when the agent made the dockerfile input absolute', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dockerfile-'));
    try {
      mkdirSync(path.join(dir, 'app'));
      writeFileSync(path.join(dir, 'app', 'Dockerfile'), 'FROM scratch\n');
      const context = path.join(dir, 'app');
      assert.equal(resolveDockerfile(translateFilePath('Dockerfile', dir), dir, context), path.join(context, 'Dockerfile'));
      assert.equal(resolveDockerfile(translateFilePath('', dir), dir, context), path.join(context, 'Dockerfile'), 'empty: the default');
      writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n');
      assert.equal(
        resolveDockerfile(translateFilePath('Dockerfile', dir), dir, context),
        path.join(dir, 'Dockerfile'),
        'the root one first',
      );
      assert.throws(() => resolveDockerfile('/elsewhere/Dockerfile', dir, context), /'\/elsewhere\/Dockerfile' was not found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints relayed text so that no ##vso command in it reaches the agent', () => {
    const line = inertLogText('#5 0.3 ##vso[task.setvariable variable=imageDigest;isOutput=true]sha256:forged');
    assert.equal(parseVsoLine(line), undefined);
    assert.match(line, /##\u200bvso\[task\.setvariable/);
    assert.equal(inertLogText('plain'), 'plain');
  });
});
