// Type-checks, then bundles each task into one file under dist/tasks/<Task>/ and lays out the
// extension root (dist/) that tfx packages. Only bundled files reach dist/: no node_modules, no sources.
import { build } from 'esbuild';
import { deferredModulesPlugin, ESBUILD_NODE } from './deferred-modules.mjs';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dist = path.join(root, 'dist');
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
// Each task's bundles, gzip-compressed as they travel in the .vsix, must stay under this share of the 3 MB package.
const BUNDLE_BUDGET_GZIP_BYTES = 900 * 1024;

function taskNames() {
  return readdirSync(path.join(root, 'tasks'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(root, 'tasks', d.name, 'task.json')))
    .map((d) => d.name)
    .sort();
}

const args = new Set(process.argv.slice(2));

if (!args.has('--no-typecheck')) {
  for (const project of ['tsconfig.json', 'tab/tsconfig.json'])
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, project)], {
      stdio: 'inherit',
    });
}

// `--task <Name>` rebuilds one task and leaves the others in dist/ alone (several people build at once).
const only = process.argv.includes('--task') ? process.argv[process.argv.indexOf('--task') + 1] : undefined;
mkdirSync(dist, { recursive: true });

const deferredModules = deferredModulesPlugin(root);

const report = [];
let overBudget = false;
for (const task of taskNames().filter((t) => !only || t === only)) {
  const source = path.join(root, 'tasks', task);
  const target = path.join(dist, 'tasks', task);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  const entries = ['index.ts', 'post.ts'].filter((f) => existsSync(path.join(source, f)));
  for (const entry of entries) {
    const outfile = path.join(target, entry.replace(/\.ts$/, '.js'));
    await build({
      ...ESBUILD_NODE,
      entryPoints: [path.join(source, entry)],
      outfile,
      plugins: [deferredModules],
    });
    const bytes = readFileSync(outfile);
    const gz = gzipSync(bytes, { level: 9 }).length;
    report.push({ file: path.relative(dist, outfile), bytes: bytes.length, gzip: gz });
  }
  const taskGzip = report.filter((r) => r.file.startsWith(`tasks/${task}/`)).reduce((n, r) => n + r.gzip, 0);
  if (taskGzip > BUNDLE_BUDGET_GZIP_BYTES) {
    overBudget = true;
    console.error(`${task}: bundles take ${taskGzip} bytes gzipped, over the budget of ${BUNDLE_BUDGET_GZIP_BYTES}`);
  }
  cpSync(path.join(source, 'task.json'), path.join(target, 'task.json'));
  for (const asset of ['icon.png']) {
    if (existsSync(path.join(source, asset))) cpSync(path.join(source, asset), path.join(target, asset));
  }
}

// The extension manifest takes its version from package.json, the one place it is kept.
const pkg = readJson(path.join(root, 'package.json'));
const manifest = readJson(path.join(root, 'vss-extension.json'));
manifest.version = pkg.version;
writeFileSync(path.join(dist, 'vss-extension.json'), JSON.stringify(manifest, null, 2) + '\n');
for (const file of ['overview.md', 'LICENSE']) cpSync(path.join(root, file), path.join(dist, file));
rmSync(path.join(dist, 'images'), { recursive: true, force: true });
cpSync(path.join(root, 'images'), path.join(dist, 'images'), { recursive: true });

// The Container release tab (tab/): one page, one script and one stylesheet under dist/tab/. preact/compat stands in
// for react (azure-devops-ui's peer) and fonts are left out (no icon fonts): both keep the .vsix within its budget.
// azure-devops-ui and -api import polyfills for IE11 (fetch, Promise, IntersectionObserver, ...): the browsers Azure
// DevOps supports have them all, so they are left out of the tab's bundle.
const noPolyfills = {
  name: 'no-polyfills',
  setup(pluginBuild) {
    const filter =
      /^(whatwg-fetch|es6-promise\/auto|es6-object-assign\/auto|es6-string-polyfills|intersection-observer|array\.prototype\.find)$/;
    pluginBuild.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'no-polyfill' }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'no-polyfill' }, () => ({ contents: '', loader: 'js' }));
  },
};
if (!only) {
  const tabDir = path.join(dist, 'tab');
  rmSync(tabDir, { recursive: true, force: true });
  mkdirSync(tabDir, { recursive: true });
  await build({
    entryPoints: [path.join(root, 'tab', 'main.tsx')],
    outfile: path.join(tabDir, 'tab.js'),
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: ['chrome100', 'firefox100', 'safari15'],
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    alias: { react: 'preact/compat', 'react-dom': 'preact/compat', 'react/jsx-runtime': 'preact/jsx-runtime' },
    loader: { '.woff': 'empty', '.woff2': 'empty', '.ttf': 'empty', '.eot': 'empty', '.svg': 'empty', '.png': 'empty' },
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [noPolyfills],
  });
  cpSync(path.join(root, 'tab', 'index.html'), path.join(tabDir, 'index.html'));
  for (const file of ['tab.js', 'tab.css']) {
    const bytes = readFileSync(path.join(tabDir, file));
    report.push({ file: `tab/${file}`, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
  }
}

for (const r of report) console.log(`${r.file.padEnd(40)} ${String(r.bytes).padStart(9)} bytes  ${String(r.gzip).padStart(8)} gzip`);
if (overBudget) process.exit(1);
