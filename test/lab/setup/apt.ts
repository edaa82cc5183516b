// apt for the lab, two ways, neither of which moves a package the host has:
// - a private apt (its own sources, lists, cache and an empty dpkg status under .lab/apt) that only downloads the
//   packages the lab unpacks; the host's apt.conf.d still applies (proxies, mirrors' settings);
// - the host's apt, for the few host tools the lab needs, after `apt-get -s` shows it would only add packages.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { labRoot } from '../lab';
import { say } from './log';
import { run, tryRun } from './proc';

export interface DebianArchive {
  uri: string;
  signedBy?: string;
}

interface SourceEntry {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  signedBy?: string;
}

/** deb822 `.sources` stanzas (Types/URIs/Suites/Components/Signed-By); disabled stanzas are skipped. */
function parseDeb822(text: string): SourceEntry[] {
  const entries: SourceEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^\s/.test(line) && last) {
        fields.set(last, `${fields.get(last)} ${line.trim()}`);
        continue;
      }
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (!match) continue;
      last = match[1].toLowerCase();
      fields.set(last, match[2].trim());
    }
    if (!fields.has('uris') || fields.get('enabled')?.toLowerCase() === 'no') continue;
    const words = (key: string) => (fields.get(key) ?? '').split(/\s+/).filter(Boolean);
    // Signed-By may hold an inline key (several lines); only a file path is of use here
    const signedBy = words('signed-by').find((word) => word.startsWith('/'));
    entries.push({ types: words('types'), uris: words('uris'), suites: words('suites'), components: words('components'), signedBy });
  }
  return entries;
}

/** One-line `deb [options] uri suite components...` entries. */
function parseOneLine(text: string): SourceEntry[] {
  const entries: SourceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const match = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const signedBy = /signed-by=(\S+)/.exec(match[2] ?? '')?.[1];
    entries.push({ types: [match[1]], uris: [match[3]], suites: [match[4]], components: match[5].split(/\s+/).filter(Boolean), signedBy });
  }
  return entries;
}

/**
 * The host's Debian archive (not its security or updates suites): the lab downloads from the same mirror, with the same
 * key, as the host's own apt. Files are { name, text } of /etc/apt/sources.list and sources.list.d.
 */
export function debianArchiveFrom(files: Array<{ name: string; text: string }>): DebianArchive | undefined {
  const entries = files.flatMap((file) =>
    file.name.endsWith('.sources') ? parseDeb822(file.text) : file.name.endsWith('.list') ? parseOneLine(file.text) : [],
  );
  const archive = entries.find(
    (entry) =>
      entry.types.includes('deb') &&
      entry.components.includes('main') &&
      entry.suites.some((suite) => /^[a-z]+$/.test(suite) && !['stable', 'testing', 'unstable', 'sid'].includes(suite)) &&
      entry.uris.some((uri) => !/security/.test(uri)),
  );
  if (!archive) return undefined;
  return { uri: archive.uris.find((uri) => !/security/.test(uri))!.replace(/\/+$/, ''), signedBy: archive.signedBy };
}

export function hostDebianArchive(): DebianArchive {
  const files: Array<{ name: string; text: string }> = [];
  const read = (file: string) => {
    try {
      files.push({ name: file, text: readFileSync(file, 'utf8') });
    } catch {
      // unreadable or absent: not a source
    }
  };
  read('/etc/apt/sources.list');
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) for (const name of readdirSync(dir).sort()) read(path.join(dir, name));
  const archive = debianArchiveFrom(files);
  if (!archive)
    throw new Error(
      'no Debian archive (a "deb" source with the main component) in /etc/apt/sources.list or /etc/apt/sources.list.d: the lab downloads its packages from the mirror the host uses',
    );
  return archive;
}

const aptDir = path.join(labRoot, 'apt');
const aptConfig = path.join(aptDir, 'apt.conf');
const listsDir = path.join(aptDir, 'lists');
export const debsDir = path.join(aptDir, 'debs');
/** Lists older than this are fetched again before a download (a point release removes the files they name). */
const listsMaxAgeMs = 7 * 24 * 3600_000;

const privateEnv = (): NodeJS.ProcessEnv => ({ ...process.env, APT_CONFIG: aptConfig, DEBIAN_FRONTEND: 'noninteractive' });

function writePrivateConfig(archive: DebianArchive, suites: string[]): void {
  for (const dir of ['lists/partial', 'cache/archives/partial', 'sources.list.d', 'preferences.d', 'debs'])
    mkdirSync(path.join(aptDir, dir), { recursive: true });
  const options = archive.signedBy ? ` [signed-by=${archive.signedBy}]` : '';
  writeFileSync(path.join(aptDir, 'sources.list'), suites.map((suite) => `deb${options} ${archive.uri} ${suite} main\n`).join(''));
  writeFileSync(path.join(aptDir, 'status'), '');
  writeFileSync(
    aptConfig,
    [
      `Dir::Etc::SourceList "${path.join(aptDir, 'sources.list')}";`,
      `Dir::Etc::SourceParts "${path.join(aptDir, 'sources.list.d')}";`,
      'Dir::Etc::Preferences "/dev/null";',
      `Dir::Etc::PreferencesParts "${path.join(aptDir, 'preferences.d')}";`,
      `Dir::State "${aptDir}";`,
      `Dir::State::Lists "${listsDir}";`,
      // an empty dpkg status: what the host has installed plays no part in what is downloaded
      `Dir::State::status "${path.join(aptDir, 'status')}";`,
      `Dir::Cache "${path.join(aptDir, 'cache')}";`,
      'APT::Architecture "amd64";',
      'APT::Architectures { "amd64"; "arm64"; };',
      'APT::Sandbox::User "root";',
      '',
    ].join('\n'),
  );
}

function listsFresh(): boolean {
  if (!existsSync(listsDir)) return false;
  const lists = readdirSync(listsDir).filter((name) => name.endsWith('Packages') || name.includes('Packages.'));
  return lists.length > 0 && lists.every((name) => Date.now() - statSync(path.join(listsDir, name)).mtimeMs < listsMaxAgeMs);
}

/** Package lists of the given suites (amd64 and arm64) in the private apt; fetched when missing or old. */
function updatePrivateLists(suites: string[], force: boolean): void {
  writePrivateConfig(hostDebianArchive(), suites);
  if (!force && listsFresh()) return;
  say(`apt (lab's own, in .lab/apt): fetching the package lists of ${suites.join(', ')}`);
  run(['apt-get', 'update'], { env: privateEnv() });
}

/**
 * Downloads name:architecture from suite into .lab/apt/debs and returns the .deb. Nothing is installed: the host's
 * dpkg database is neither read nor written.
 */
export function downloadDeb(name: string, suite: string, architecture: string, suites: string[]): string {
  const dir = path.join(debsDir, `${name}_${suite}_${architecture}`);
  const existing = existsSync(dir) ? readdirSync(dir).find((file) => file.endsWith('.deb')) : undefined;
  if (existing) return path.join(dir, existing);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  updatePrivateLists(suites, false);
  const argv = ['apt-get', 'download', `${name}:${architecture}/${suite}`];
  let result = tryRun(argv, { cwd: dir, env: privateEnv() });
  if (result.code !== 0) {
    updatePrivateLists(suites, true); // the lists named a file the mirror no longer has
    result = tryRun(argv, { cwd: dir, env: privateEnv() });
  }
  if (result.code !== 0) throw new Error(`apt-get download ${name}:${architecture}/${suite} failed: ${lastLine(result.stderr)}`);
  const deb = readdirSync(dir).find((file) => file.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${name}:${architecture}/${suite} left no .deb in ${dir}`);
  return path.join(dir, deb);
}

const lastLine = (text: string): string => text.trim().split('\n').filter(Boolean).pop() ?? 'no output';

export interface AptPlan {
  /** Packages apt would add. */
  added: string[];
  /** Packages the host has that apt would upgrade, downgrade or remove: "name (from -> to)". */
  changed: string[];
}

/** Reads `apt-get -s install` output: `Inst name (version ...)` adds, `Inst name [old] (new ...)` changes, `Remv` removes. */
export function parseAptSimulation(output: string): AptPlan {
  const plan: AptPlan = { added: [], changed: [] };
  for (const line of output.split('\n')) {
    const install = /^Inst (\S+) (?:\[([^\]]+)\] )?\((\S+)/.exec(line);
    if (install) {
      if (install[2] === undefined) plan.added.push(install[1]);
      else plan.changed.push(`${install[1]} (${install[2]} -> ${install[3]})`);
      continue;
    }
    const remove = /^Remv (\S+)(?: \[([^\]]+)\])?/.exec(line);
    if (remove) plan.changed.push(`${remove[1]} (${remove[2] ?? 'installed'} -> removed)`);
  }
  return plan;
}

function installedOnHost(names: string[]): Set<string> {
  const result = tryRun(['dpkg-query', '-W', '-f=${Package}\t${Status}\n', ...names]);
  return new Set(
    result.stdout
      .split('\n')
      .map((line) => line.split('\t'))
      .filter(([, status]) => status === 'install ok installed')
      .map(([name]) => name),
  );
}

/**
 * Installs host tools the lab needs from the host's own sources, only when missing, and only when apt would add
 * packages and change none: an upgrade of an installed package is refused with what apt wanted to do.
 */
export function ensureHostPackages(names: string[]): void {
  const present = installedOnHost(names);
  const missing = names.filter((name) => !present.has(name));
  if (missing.length === 0) return;
  say(`apt (host): ${missing.join(' ')} missing; checking what installing them would change`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run(['apt-get', 'update'], { env });
  const plan = parseAptSimulation(run(['apt-get', '-s', 'install', '--no-install-recommends', '-y', ...missing], { env }));
  if (plan.changed.length > 0) {
    throw new Error(
      `installing ${missing.join(' ')} would change packages this machine already has: ${plan.changed.join(', ')}. ` +
        'The lab only adds to a host; install them yourself (or update the host) and run lab:up again.',
    );
  }
  say(`apt (host): installing ${plan.added.join(' ')} (nothing installed is changed)`);
  run(['apt-get', 'install', '--no-install-recommends', '-y', ...missing], { env });
}
