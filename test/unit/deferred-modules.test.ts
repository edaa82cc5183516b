import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

describe('the Azure SDKs carried as a deferred string (scripts/deferred-modules.mjs)', function () {
  this.timeout(60_000);

  it('compiles the SDKs only when the credential is first imported, and the credential works from them', async () => {
    const { build } = await import('esbuild');
    const { deferredModulesPlugin, ESBUILD_NODE } = await import(path.join(root, 'scripts', 'deferred-modules.mjs'));
    const outfile = path.join(mkdtempSync(path.join(os.tmpdir(), 'deferred-')), 'index.js');
    await build({ ...ESBUILD_NODE, entryPoints: [path.join(__dirname, 'fixtures', 'deferred-sdk-entry.ts')], outfile, plugins: [deferredModulesPlugin(root)] });
    // Bundled without the plugin, afterImport is 0: the SDKs would be compiled with the rest of the file at start.
    const result = JSON.parse(execFileSync(process.execPath, [outfile], { encoding: 'utf8' }));
    assert.deepEqual(result, { before: 0, afterImport: 1, inner: 'ClientSecretCredential', token: 'token-from-the-deferred-sdk' });
  });
});
