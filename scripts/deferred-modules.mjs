// Code that only some runs need is kept out of what node compiles when a task starts: the Azure SDKs (a sign-in
// with an Azure connection; src/azure/sdk.ts holds the parts the tasks use) and azure-pipelines-tool-lib
// (installing or finding a tool). Each is bundled on its own and carried in the task's bundle as a string, compiled
// on its first require. A lazy import() alone defers evaluation but not parsing, and parsing them was most of a
// task's start-up; the package holds one index.js per task (no side files), hence the string.
import { build } from 'esbuild';
import path from 'node:path';

export const ESBUILD_NODE = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
};

/**
 * Modules a deferred bundle takes from the task's bundle instead of carrying a copy of its own: task-lib keeps
 * state (the secrets and variables it read at start), so tool-lib must use the task's one instance.
 */
const SHARED = ['azure-pipelines-task-lib/task'];

/** An esbuild plugin that carries the deferred modules as strings, compiled on first require. */
export function deferredModulesPlugin(root) {
  const sdk = path.join(root, 'src', 'azure', 'sdk.ts');
  const deferred = new Set([sdk, 'azure-pipelines-tool-lib/tool']);
  const built = new Map();
  const code = (entry) => {
    // Built once per build run, whichever tasks carry it.
    if (!built.has(entry)) {
      const options =
        entry === sdk
          ? { entryPoints: [entry] }
          : { stdin: { contents: `module.exports = require(${JSON.stringify(entry)});`, resolveDir: root, loader: 'js' } };
      built.set(
        entry,
        build({ ...ESBUILD_NODE, ...options, external: SHARED, write: false }).then((r) => r.outputFiles[0].text),
      );
    }
    return built.get(entry);
  };
  return {
    name: 'deferred-modules',
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /^azure-pipelines-tool-lib\/tool$/ }, (args) => ({ path: args.path, namespace: 'deferred' }));
      pluginBuild.onResolve({ filter: /\/sdk$/ }, (args) =>
        path.resolve(args.resolveDir, `${args.path}.ts`) === sdk ? { path: sdk, namespace: 'deferred' } : undefined,
      );
      pluginBuild.onLoad({ filter: /.*/, namespace: 'deferred' }, async (args) => {
        if (!deferred.has(args.path)) throw new Error(`not a deferred module: ${args.path}`);
        const text = await code(args.path);
        const shared = SHARED.filter((m) => text.includes(`require(${JSON.stringify(m)})`));
        return {
          loader: 'js',
          resolveDir: root,
          contents: [
            `const shared = { ${shared.map((m) => `${JSON.stringify(m)}: require(${JSON.stringify(m)})`).join(', ')} };`,
            'const deferred = { exports: {} };',
            `new Function('exports', 'require', 'module', '__filename', '__dirname', ${JSON.stringify(text)})(deferred.exports, (id) => shared[id] ?? require(id), deferred, __filename, __dirname);`,
            'module.exports = deferred.exports;',
            '',
          ].join('\n'),
        };
      });
    },
  };
}
