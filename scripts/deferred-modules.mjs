// The Azure SDKs, which only a run with an Azure connection needs, are kept out of the code node compiles at start:
// src/azure/sdk.ts (their parts the tasks use) is bundled on its own and carried in the task's bundle as a string,
// compiled when first required. A lazy import() alone defers evaluation but not parsing, and parsing the SDKs was
// most of a task's start-up; the package holds one index.js per task (no side files), hence the string.
import { build } from 'esbuild';
import path from 'node:path';

export const ESBUILD_NODE = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', minify: true, keepNames: true, legalComments: 'none', logLevel: 'warning' };

/** An esbuild plugin that carries src/azure/sdk.ts as a string, compiled on its first require. */
export function deferredModulesPlugin(root) {
  const entry = path.join(root, 'src', 'azure', 'sdk.ts');
  let code;
  return {
    name: 'deferred-modules',
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /\/sdk$/ }, (args) => (path.resolve(args.resolveDir, `${args.path}.ts`) === entry ? { path: entry, namespace: 'deferred' } : undefined));
      pluginBuild.onLoad({ filter: /.*/, namespace: 'deferred' }, async () => {
        // Built once per build run, whichever tasks carry it.
        code ??= build({ ...ESBUILD_NODE, entryPoints: [entry], write: false }).then((r) => r.outputFiles[0].text);
        return {
          loader: 'js',
          contents: `const deferred = { exports: {} };\nnew Function('exports', 'require', 'module', '__filename', '__dirname', ${JSON.stringify(await code)})(deferred.exports, require, deferred, __filename, __dirname);\nmodule.exports = deferred.exports;\n`,
        };
      });
    },
  };
}
