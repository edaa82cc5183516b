import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

describe('code carried as a deferred string (scripts/deferred-modules.mjs)', function () {
  this.timeout(60_000);

  async function bundle(fixture: string): Promise<string> {
    const { build } = await import('esbuild');
    const { deferredModulesPlugin, ESBUILD_NODE } = await import(path.join(root, 'scripts', 'deferred-modules.mjs'));
    const outfile = path.join(mkdtempSync(path.join(os.tmpdir(), 'deferred-')), 'index.js');
    await build({
      ...ESBUILD_NODE,
      entryPoints: [path.join(__dirname, 'fixtures', fixture)],
      outfile,
      plugins: [deferredModulesPlugin(root)],
    });
    return outfile;
  }

  it('compiles the Azure SDKs only when the credential is first imported, and the credential works from them', async () => {
    const outfile = await bundle('deferred-sdk-entry.ts');
    // Bundled without the plugin, afterImport is 0: the SDKs would be compiled with the rest of the file at start.
    const result = JSON.parse(execFileSync(process.execPath, [outfile], { encoding: 'utf8' }));
    assert.deepEqual(result, { before: 0, afterImport: 1, inner: 'ClientSecretCredential', token: 'token-from-the-deferred-sdk' });
  });

  it('gives tool-lib the one task-lib instance of the task, not a copy that would start again without the secrets', async () => {
    const outfile = await bundle('deferred-tool-lib-entry.ts');
    const tools = mkdtempSync(path.join(os.tmpdir(), 'tools-'));
    const output = execFileSync(process.execPath, [outfile], {
      encoding: 'utf8',
      cwd: tools,
      env: { PATH: process.env.PATH, AGENT_TOOLSDIRECTORY: tools, AGENT_TEMPDIRECTORY: tools },
    });
    assert.equal(output.match(/SkipDebugLogsWhenDebugModeOff/g)?.length, 1, output);
    assert.match(output, /##vso\[task\.debug\]checking cache: /, 'tool-lib ran');
    assert.match(output, /^found: nothing$/m);
  });

  it('asks Azure DevOps for the OIDC token through azure-devops-node-api from the deferred string', async () => {
    const outfile = await bundle('deferred-oidc-entry.ts');
    assert.equal(
      execFileSync(process.execPath, [outfile], { encoding: 'utf8' }).trim(),
      'token for POST /org/p/_apis/distributedtask/hubs/build/plans/pl/jobs/j?serviceConnectionId=conn-1',
    );
  });
});
