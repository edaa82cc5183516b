// npm run package [-- --publisher <id>] [--extension-id <id>] [--overrides-file <json>] [--check]
// Builds, checks the versioning rule and the size budget, then runs `tfx extension create` over dist/.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { formatVersion, taskContentHash, versionProblems, type PackagedState, type TaskVersion } from './release-rules';

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
const stateFile = path.join(root, 'tasks', 'packaged-versions.json');
const VSIX_BUDGET_BYTES = 3 * 1024 * 1024;

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}
const checkOnly = process.argv.includes('--check');

if (!process.argv.includes('--skip-build')) execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const manifest = readJson<{
  publisher: string;
  id: string;
  version: string;
  contributions: { type: string; properties?: { name?: string; uri?: string } }[];
  files: { path: string }[];
}>(path.join(dist, 'vss-extension.json'));

// Every contributed task must be complete in dist/ and listed in files; nothing else is shipped.
const tasks = manifest.contributions
  .filter((c) => c.type === 'ms.vss-distributed-task.task')
  .map((c) => c.properties?.name)
  .filter((n): n is string => !!n);
const problems: string[] = [];
for (const folder of tasks) {
  for (const file of ['task.json', 'icon.png', 'index.js']) {
    if (!existsSync(path.join(dist, folder, file))) problems.push(`${folder}/${file} is missing from dist/.`);
  }
  if (!manifest.files.some((f) => f.path === folder)) problems.push(`${folder} is contributed but not listed in "files".`);
}

// Every page a contribution shows (the Container release tab) must be in dist/ and in an addressable folder of "files".
for (const uri of manifest.contributions.map((c) => c.properties?.uri).filter((u): u is string => !!u)) {
  if (!existsSync(path.join(dist, uri))) problems.push(`${uri} is missing from dist/.`);
  if (!manifest.files.some((f) => uri.startsWith(`${f.path}/`)))
    problems.push(`${uri} is contributed but its folder is not listed in "files".`);
}

const current: PackagedState = { extensionVersion: manifest.version, tasks: {} };
for (const folder of tasks) {
  const taskJson = readJson<{ version: TaskVersion }>(path.join(dist, folder, 'task.json'));
  current.tasks[path.basename(folder)] = {
    version: formatVersion(taskJson.version),
    contentHash: taskContentHash(path.join(dist, folder)),
  };
}
const previous = existsSync(stateFile) ? readJson<PackagedState>(stateFile) : undefined;
problems.push(...versionProblems(previous, current));
if (problems.length) {
  console.error(`Refusing to package:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}

const publisher = option('publisher') ?? manifest.publisher;
const extensionId = option('extension-id') ?? manifest.id;
const vsix = path.join(dist, `${publisher}.${extensionId}-${manifest.version}.vsix`);
const tfxArgs = ['extension', 'create', '--root', dist, '--manifest-globs', 'vss-extension.json', '--output-path', vsix, '--no-prompt'];
if (option('publisher')) tfxArgs.push('--publisher', publisher);
if (option('extension-id')) tfxArgs.push('--extension-id', extensionId);
if (option('overrides-file')) tfxArgs.push('--overrides-file', path.resolve(option('overrides-file')!));
const tfxOutput = execFileSync(process.execPath, [path.join(root, 'node_modules', 'tfx-cli', '_build', 'tfx-cli.js'), ...tfxArgs], {
  encoding: 'utf8',
  env: { ...process.env, NO_COLOR: '1' },
});
console.log(tfxOutput.trim());
// tfx only warns about an invalid task.json or an end-of-life runner today ("in the future ... an error"): refuse now.
if (/warning:/i.test(tfxOutput)) {
  console.error('tfx warned about the package; fix the warnings above.');
  process.exit(1);
}

const size = statSync(vsix).size;
console.log(`${path.relative(root, vsix)}: ${size} bytes (budget ${VSIX_BUDGET_BYTES})`);
if (size > VSIX_BUDGET_BYTES) {
  console.error(`The package is over its size budget of ${VSIX_BUDGET_BYTES} bytes.`);
  process.exit(1);
}
if (!checkOnly) writeFileSync(stateFile, JSON.stringify(current, null, 2) + '\n');
