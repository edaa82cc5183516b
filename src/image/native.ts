// The whole application, not only the program that starts: every ELF file (native modules, shared libraries, helper
// binaries) under the directories the entrypoint runs from (WorkingDir, a virtualenv, the application's own PATH and
// PYTHONPATH entries) must be built for the image's platform. A `.venv` made on an arm64 laptop and copied into an
// amd64 image has the image's own python right and still fails at `import` with "cannot open shared object file" or
// "wrong ELF class". The directories are known from the config before the layers are read, so only the first bytes of
// the files below them are kept while the layers stream (ImageFilesystem's `headsUnder`).
import type { Platform } from '../platform/platform';
import { isElf, parseElfHeader } from './elf';
import { isNotFound, resolvePath, type FsNode, type ImageFilesystem } from './filesystem';
import { commandLine, pathOf, platformName, type RunConfig } from './program';

/** The directories of the operating system itself: a WorkingDir or PATH entry naming one of them is not the application. */
const SYSTEM_DIRS = new Set([
  '/',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/usr',
  '/usr/bin',
  '/usr/sbin',
  '/usr/lib',
  '/usr/lib32',
  '/usr/lib64',
  '/usr/libexec',
  '/usr/local',
  '/usr/local/bin',
  '/usr/local/sbin',
  '/usr/local/lib',
  '/usr/share',
  '/etc',
  '/var',
  '/dev',
  '/proc',
  '/sys',
  '/run',
  '/tmp',
]);

/** How many files the check looks at, at most; past it the rest is named in a note (a bound on time and memory). */
export const MAX_NATIVE_FILES = 200_000;
/** How many wrong files the message names. */
export const NAMED_FILES = 5;

function normalize(dir: string, cwd = '/'): string | undefined {
  if (!dir) return undefined;
  const absolute = dir.startsWith('/') ? dir : `${cwd.replace(/\/?$/, '/')}${dir}`;
  const parts: string[] = [];
  for (const part of absolute.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return '/' + parts.join('/');
}

/** A `bin` directory stands for the tree it belongs to: /app/.venv/bin -> /app/.venv. */
function treeOf(dir: string): string {
  return /\/s?bin$/.test(dir) ? dir.replace(/\/s?bin$/, '') || '/' : dir;
}

/**
 * The directories the application runs from, by the image config alone: WorkingDir, VIRTUAL_ENV, PYTHONPATH, the PATH
 * entries that are not the system's (a venv's bin stands for the venv), and the directory of an absolute argv[0].
 * Nested ones are folded into the outer one; the system's own directories are left out.
 */
export function applicationDirectories(config: RunConfig): string[] {
  const cwd = normalize(config.WorkingDir || '/') ?? '/';
  const env = new Map((config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const));
  const candidates: (string | undefined)[] = [cwd, normalize(env.get('VIRTUAL_ENV') ?? '', cwd)];
  for (const entry of (env.get('PYTHONPATH') ?? '').split(':')) candidates.push(normalize(entry, cwd));
  for (const entry of pathOf(config).split(':')) {
    const dir = normalize(entry, cwd);
    if (dir && !SYSTEM_DIRS.has(dir)) candidates.push(treeOf(dir));
  }
  const program = commandLine(config)?.[0];
  if (program?.includes('/')) {
    const file = normalize(program, cwd);
    if (file) candidates.push(treeOf(file.slice(0, file.lastIndexOf('/')) || '/'));
  }
  const dirs = [...new Set(candidates.filter((d): d is string => !!d && !SYSTEM_DIRS.has(d)))].sort();
  return dirs.filter((d) => !dirs.some((outer) => outer !== d && d.startsWith(outer + '/')));
}

export interface WrongFile {
  path: string;
  /** 'arm64', or the ELF machine's name when no OCI architecture has it. */
  machineName: string;
  bits: 32 | 64;
}

export interface NativeFilesCheck {
  /** The directories looked under (as the config names them). */
  dirs: string[];
  /** Regular files looked at. */
  files: number;
  /** ELF files among them. */
  elfFiles: number;
  /** ELF files built for another machine, in path order. */
  wrong: WrongFile[];
  /** Why the application would not load on the platform; undefined when every ELF file fits. */
  problem?: string;
  notes: string[];
}

/**
 * Reads the ELF header of every regular file under `dirs` (symlinks inside are not followed, so nothing is counted
 * twice) and names those built for another machine than `platform`. `skip` holds paths another check already judged
 * (the entrypoint and its interpreter).
 */
export function checkNativeFiles(
  fs: ImageFilesystem,
  dirs: readonly string[],
  platform: Platform,
  options: { skip?: ReadonlySet<string>; maxFiles?: number } = {},
): NativeFilesCheck {
  const maxFiles = options.maxFiles ?? MAX_NATIVE_FILES;
  const result: NativeFilesCheck = { dirs: [...dirs], files: 0, elfFiles: 0, wrong: [], notes: [] };
  let stopped = false;
  const seen = new Set<string>();
  const visit = (node: FsNode, at: string): void => {
    if (stopped) return;
    if (node.kind === 'dir') {
      for (const name of [...node.children.keys()].sort()) visit(node.children.get(name) as FsNode, `${at}/${name}`);
      return;
    }
    if (node.kind !== 'file' || seen.has(at)) return;
    seen.add(at);
    if (++result.files > maxFiles) {
      stopped = true;
      result.files = maxFiles;
      return;
    }
    if (!node.head || !isElf(node.head) || options.skip?.has(at)) return;
    result.elfFiles++;
    let header;
    try {
      header = parseElfHeader(node.head);
    } catch {
      return; // a file that starts like ELF but is not one is not loaded as one either
    }
    if (header.architecture !== platform.architecture) result.wrong.push({ path: at, machineName: header.machineName, bits: header.bits });
  };
  for (const dir of dirs) {
    const found = resolvePath(fs, dir, '/');
    if (isNotFound(found) || found.node.kind !== 'dir') continue;
    visit(found.node, found.path === '/' ? '' : found.path);
  }
  if (stopped)
    result.notes.push(
      `the native-file check stopped after ${maxFiles} files under ${dirs.join(', ')}; the files past them were not checked`,
    );
  if (result.wrong.length > 0) {
    const named = result.wrong.slice(0, NAMED_FILES).map((f) => `${f.path} (ELF ${f.bits}-bit ${f.machineName})`);
    const more = result.wrong.length > NAMED_FILES ? `, and ${result.wrong.length - NAMED_FILES} more` : '';
    result.problem =
      `${result.wrong.length} of the ${result.elfFiles} ELF files under ${dirs.join(', ')} ${result.wrong.length === 1 ? 'is' : 'are'} built for another machine than ${platformName(platform)} ` +
      `(native modules or libraries copied from another machine, e.g. a .venv made on an arm64 laptop; they fail at import or load): ${named.join(', ')}${more}`;
  }
  return result;
}
