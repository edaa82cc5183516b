// Every bad value the issue lists, given to the bundled task exactly as the agent would: the task fails before it
// signs in or runs docker, and its message names the input and says how to fix it.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { distTasks, repoRoot, runTask, type TaskRun } from '../helpers/task-runner';

const good = { registry: 'contoso.azurecr.io', repository: 'team/app' };

describe('BuildForPlatform input validation (bundled task)', function () {
  this.timeout(60_000);
  let dir: string;

  before(() => {
    // The bundle is what the agent runs; build it when this checkout has none yet (CI packages first).
    if (!existsSync(path.join(distTasks, 'BuildForPlatform', 'index.js'))) {
      execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--task', 'BuildForPlatform', '--no-typecheck'], { stdio: 'ignore' });
    }
    dir = mkdtempSync(path.join(os.tmpdir(), 'bfp-inputs-'));
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (inputs: Record<string, string>, env: Record<string, string> = {}): Promise<TaskRun> =>
    runTask({ task: 'BuildForPlatform', cwd: dir, inputs: { ...good, ...inputs }, env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock', ...env }, timeoutMs: 30_000 });

  const rows: [string, Record<string, string>, RegExp][] = [
    ['a misspelt architecture', { platforms: 'linux/amd65' }, /^Input 'platforms': 'linux\/amd65' names an unknown architecture 'amd65'/],
    ['an architecture without os', { platforms: 'amd64' }, /^Input 'platforms': 'amd64' is not a platform\. Write os\/architecture/],
    ['an empty platform entry', { platforms: 'linux/amd64,,linux/arm64' }, /^Input 'platforms': an empty platform was given/],
    ['a repository with capitals', { repository: 'Team/App' }, /^Input 'repository': .*write it in lower case: 'team\/app'/],
    ['a repository with a registry in it', { repository: 'contoso.azurecr.io/team/app' }, /^Input 'repository': .*put the registry into 'registry'/],
    ['a tag the spec forbids', { tags: 'release 1' }, /^Input 'tags': The tag 'release 1' is not valid/],
    ['a tag starting with a dot', { tags: '4711\n.hidden' }, /^Input 'tags': The tag '\.hidden' is not valid/],
    ['a missing Dockerfile', { dockerfile: 'Missing.Dockerfile' }, /^Input 'dockerfile': 'Missing\.Dockerfile' was not found/],
    ['a missing context', { buildContext: 'no/such/dir' }, /^Input 'buildContext': the directory 'no\/such\/dir' does not exist/],
    ['a build arg without =', { buildArgs: 'VERSION=1\nDEBUG' }, /^Input 'buildArgs': 'DEBUG' has no '='/],
    ['an unknown cache', { cache: 'gha' }, /^Input 'cache': 'gha' is not one of registry, inline, none/],
    ['unknown attestations', { attestations: 'sbom' }, /^Input 'attestations': 'sbom' is not one of none, provenance, provenance\+sbom/],
    ['a registry URL', { registry: 'https://contoso.azurecr.io' }, /^Input 'registry': .*not a registry login server.*it has a scheme; write 'contoso\.azurecr\.io'/],
    ['a registry with a path', { registry: 'contoso.azurecr.io/team' }, /^Input 'registry': .*it has a path/],
    ['no registry', { registry: '' }, /^Input 'registry': a login server is required/],
    ['a secret from an unset variable', { secrets: 'npm=env:NPM_TOKEN' }, /^Input 'secrets': the secret 'npm' reads the environment variable NPM_TOKEN, which is not set/],
    ['a secret given as a value', { secrets: 'npm=s3cret' }, /^Input 'secrets': 'npm=s3cret' is not a secret/],
    ['arguments overriding the task', { arguments: '--push --platform linux/arm64' }, /^Input 'arguments': --push is set by the 'push' input; --platform is set by the 'platforms' input/],
    ['arguments with an open quote', { arguments: '--label "a=b' }, /^Input 'arguments': a double quote opened at character 9 is never closed/],
    ['a bad push value', { push: 'yes' }, /^Input 'push': 'yes' is not a boolean/],
    ['a label without =', { labels: 'team' }, /^Input 'labels': 'team' is not a label/],
    ['a bad builder endpoint', { builder: 'http://buildkit:1234' }, /^Input 'builder': 'http:\/\/buildkit:1234' is not a BuildKit endpoint/],
  ];
  for (const [name, inputs, message] of rows) {
    it(`refuses ${name}`, async () => {
      const result = await run(inputs);
      assert.equal(result.result, 'Failed', result.log.slice(-2000));
      assert.match(result.resultMessage ?? '', message);
      assert.doesNotMatch(result.log, /Sign in to/, 'nothing happens before the inputs are checked');
    });
  }

  it('gets past the inputs with good values, then needs docker', async () => {
    const result = await run({ platforms: 'linux/amd64,linux/arm64', tags: '4711\nlatest', buildArgs: 'A=1', secrets: 'npm=env:NPM_TOKEN' }, { NPM_TOKEN: 'x-secret-value' });
    assert.equal(result.result, 'Failed');
    assert.doesNotMatch(result.resultMessage ?? '', /^Input '/);
    assert.match(result.log, /Sign in to contoso\.azurecr\.io/);
    assert.ok(result.secrets.includes('x-secret-value'), 'an env secret is masked in the log');
  });
});
