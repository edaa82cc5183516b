// Which program starts when a container of this image starts, and whether the kernel of the image's platform can run
// it: Entrypoint + Cmd, argv[0] looked up on the config's PATH from its WorkingDir (as runc does), symlinks followed in
// the layers, `#!` interpreters (including `/usr/bin/env python3`) followed, and the ELF machine of each file compared
// with the platform. This is the check that catches `exec format error` before a cluster does.
import type { Platform } from '../platform/platform';
import { isElf, parseElfHeader, programOs, type ElfHeader } from './elf';
import { isNotFound, resolvePath, type FsNode, type ImageFilesystem } from './filesystem';

/** The part of an OCI image config (`config` object) that decides what runs. */
export interface RunConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
}

/** The PATH docker gives a container whose image sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The kernel follows at most this many `#!` interpreters (BINPRM_MAX_RECURSION + the file itself). */
const MAX_INTERPRETER_DEPTH = 5;
// Reserved words and builtins: a script starting with one is not "run this program".
const SHELL_WORDS = new Set([
  'if',
  'for',
  'while',
  'until',
  'case',
  'do',
  'then',
  'set',
  'export',
  'cd',
  'echo',
  'test',
  'true',
  'false',
  'exit',
  'trap',
  'eval',
  'source',
  '.',
  'read',
  'printf',
  'ulimit',
  'umask',
]);
const SHELLS = new Set(['sh', 'bash', 'ash', 'dash', 'zsh', 'ksh', 'busybox']);

export type CheckedFile =
  | { path: string; links: string[]; kind: 'elf'; elf: ElfHeader; role: string }
  | { path: string; links: string[]; kind: 'script'; interpreter: string; role: string };

export interface ProgramCheck {
  /** The command line a container starts with, or undefined when the image sets neither Entrypoint nor Cmd. */
  argv: string[] | undefined;
  files: CheckedFile[];
  /** Why the program would not start on the platform; undefined when it would. */
  problem?: string;
  /** What was and was not checked, in a few words each, for the log. */
  notes: string[];
}

export function commandLine(config: RunConfig): string[] | undefined {
  const argv = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  return argv.length > 0 ? argv : undefined;
}

export function pathOf(config: RunConfig): string {
  const entry = (config.Env ?? []).find((e) => e.startsWith('PATH='));
  return entry ? entry.slice('PATH='.length) : DEFAULT_PATH;
}

function isExecutableFile(node: FsNode): boolean {
  return node.kind === 'file' && (node.mode & 0o111) !== 0;
}

type Found = { path: string; node: FsNode; links: string[] };

/** argv[0] the way runc finds it: a name with a slash is a path (relative to WorkingDir), a bare name is looked up on PATH. */
export function findExecutable(fs: ImageFilesystem, name: string, searchPath: string, cwd: string): Found | string {
  if (name.includes('/')) {
    const r = resolvePath(fs, name, cwd);
    if (isNotFound(r)) return describeMissing(name, r.missing, r.reason, r.links);
    if (r.node.kind === 'dir') return `${name} is a directory`;
    return r;
  }
  const tried: string[] = [];
  for (const dir of searchPath.split(':')) {
    const candidate = `${dir === '' ? '.' : dir}/${name}`;
    tried.push(candidate);
    const r = resolvePath(fs, candidate, cwd);
    if (!isNotFound(r) && isExecutableFile(r.node)) return r;
  }
  return `'${name}' is not an executable file on the image's PATH (looked in ${tried.join(', ')})`;
}

function describeMissing(asked: string, missing: string, reason: string, links: string[]): string {
  const via = links.length ? ` (via ${links.join(', ')})` : '';
  if (reason === 'loop') return `${asked}: too many levels of symbolic links${via}`;
  if (reason === 'not-a-directory') return `${asked}: ${missing} is not a directory${via}`;
  return `${asked} does not exist in the image${missing !== asked ? `: ${missing} is missing` : ''}${via}`;
}

/** A `#!` line as the kernel splits it: the interpreter, then everything else as at most one argument. */
export function parseShebang(head: Buffer): { interpreter: string; argument?: string } | undefined {
  if (head.length < 2 || head[0] !== 0x23 || head[1] !== 0x21) return undefined;
  const end = head.indexOf(0x0a);
  const line = head
    .subarray(2, end === -1 ? Math.min(head.length, 256) : end)
    .toString('utf8')
    .replace(/\r$/, '')
    .trim();
  if (!line) return undefined;
  const space = line.search(/[ \t]/);
  if (space === -1) return { interpreter: line };
  const argument = line.slice(space + 1).trim();
  return { interpreter: line.slice(0, space), argument: argument || undefined };
}

/** The program `env` would start: the first word that is not an option or a VAR=value assignment. */
export function envProgram(argument: string | undefined): string | undefined {
  for (const word of (argument ?? '').split(/[ \t]+/)) {
    if (word === '' || word.startsWith('-') || word.includes('=')) continue;
    return word;
  }
  return undefined;
}

/**
 * The first word of a `sh -c` script, when it is a plain command name or path (no expansion, redirection or
 * compound syntax): `exec uvicorn app:main` -> uvicorn. Undefined when the script is not that simple.
 */
export function shellScriptProgram(script: string): string | undefined {
  const words = script.trim().split(/[ \t\n]+/);
  while (words.length && (words[0] === 'exec' || /^[A-Za-z_][A-Za-z0-9_]*=\S*$/.test(words[0]))) words.shift();
  const first = words[0];
  if (!first || !/^[A-Za-z0-9_./+-]+$/.test(first) || SHELL_WORDS.has(first)) return undefined;
  return first;
}

function architectureMatches(elf: ElfHeader, platform: Platform): boolean {
  return elf.architecture === platform.architecture;
}

export function platformName(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * Follows what would start for `argv` on `platform`: returns the files looked at and the first reason it would fail.
 * `role` names the file in messages ("entrypoint", "interpreter of /app/run").
 */
export function checkProgram(fs: ImageFilesystem, config: RunConfig, platform: Platform): ProgramCheck {
  const argv = commandLine(config);
  const notes: string[] = [];
  if (!argv) {
    return {
      argv,
      files: [],
      notes: [
        'the image sets neither Entrypoint nor Cmd: no program starts by default, so only the manifest and config platform were checked',
      ],
    };
  }
  const cwd = config.WorkingDir || '/';
  const searchPath = pathOf(config);
  const files: CheckedFile[] = [];

  const follow = (name: string, role: string, depth: number): string | undefined => {
    if (depth > MAX_INTERPRETER_DEPTH) return `${name}: too many levels of #! interpreters`;
    const found = findExecutable(fs, name, searchPath, cwd);
    if (typeof found === 'string') return `the ${role} ${found}`;
    const { node, path, links } = found;
    if (node.kind !== 'file') return `the ${role} ${path} is not a regular file`;
    if ((node.mode & 0o111) === 0) return `the ${role} ${path} is not executable (mode ${node.mode.toString(8)})`;
    const head = node.head;
    if (!head || head.length === 0) return `the ${role} ${path} is empty`;
    if (isElf(head)) {
      let elf: ElfHeader;
      try {
        elf = parseElfHeader(head);
      } catch (error) {
        return `the ${role} ${path} has a broken ELF header: ${(error as Error).message}`;
      }
      files.push({ path, links, kind: 'elf', elf, role });
      const elfOs = programOs(head);
      if (elfOs && elfOs !== platform.os) return otherOsProblem(role, path, elfOs, platform);
      if (!architectureMatches(elf, platform)) {
        return `the ${role} ${describePath(name, path, links)} is an ELF ${elf.bits}-bit ${elf.machineName} binary, but the image is ${platformName(platform)} (it needs ${platform.architecture}): it would fail with 'exec format error'`;
      }
      if (platform.variant && platform.architecture === 'arm')
        notes.push(`${path}: ARM variant ${platform.variant} is not visible in the ELF header and was not checked`);
      if (elf.interpreter) {
        const loader = resolvePath(fs, elf.interpreter, '/');
        if (isNotFound(loader)) {
          return `the ${role} ${path} is dynamically linked against the loader ${elf.interpreter}, which the image does not have: it would fail with 'no such file or directory'`;
        }
        if (loader.node.kind === 'file' && loader.node.head && isElf(loader.node.head)) {
          const loaderElf = parseElfHeader(loader.node.head);
          files.push({ path: loader.path, links: loader.links, kind: 'elf', elf: loaderElf, role: `dynamic loader of ${path}` });
          if (!architectureMatches(loaderElf, platform)) {
            return `the dynamic loader ${elf.interpreter} of ${path} is an ELF ${loaderElf.machineName} binary, but the image is ${platformName(platform)}`;
          }
        }
        notes.push(`${path}: dynamically linked (${elf.interpreter}); its shared libraries were not checked`);
      } else if (elf.programHeadersRead) {
        notes.push(`${path}: statically linked`);
      }
      return undefined;
    }
    const shebang = parseShebang(head);
    const otherOs = programOs(head);
    if (!shebang && otherOs && otherOs !== platform.os) return otherOsProblem(role, path, otherOs, platform);
    if (!shebang) {
      return `the ${role} ${path} is neither an ELF binary nor a script with a #! line: it would fail with 'exec format error'`;
    }
    files.push({ path, links, kind: 'script', interpreter: [shebang.interpreter, shebang.argument].filter(Boolean).join(' '), role });
    const problem = follow(shebang.interpreter, `interpreter of ${path}`, depth + 1);
    if (problem) return problem;
    if (shebang.interpreter.split('/').pop() === 'env') {
      const program = envProgram(shebang.argument);
      if (!program) return `the script ${path} starts '${shebang.interpreter}' without naming a program`;
      return follow(program, `program that ${shebang.interpreter} starts for ${path}`, depth + 1);
    }
    return undefined;
  };

  const problem = follow(argv[0], config.Entrypoint?.length ? 'entrypoint' : 'command', 1);
  if (!problem) {
    // `sh -c "exec server"`: the shell runs, then the program named in the script; check that too when it is plain.
    const executable = argv[0].split('/').pop() ?? '';
    if (SHELLS.has(executable) && argv[1] === '-c' && argv[2] !== undefined) {
      const inScript = shellScriptProgram(argv[2]);
      if (inScript) {
        const found = findExecutable(fs, inScript, searchPath, cwd);
        if (typeof found === 'string')
          notes.push(
            `the shell command's first word '${inScript}' was not found as a file (it may be a shell builtin or made at run time)`,
          );
        else {
          const scriptProblem = follow(inScript, `program the shell command starts`, 2);
          if (scriptProblem) return { argv, files, problem: scriptProblem, notes: [...new Set(notes)] };
        }
      } else notes.push('the shell command is not a plain command, so only the shell itself was checked');
    }
  }
  return { argv, files, problem, notes: [...new Set(notes)] };
}

function otherOsProblem(role: string, path: string, os: string, platform: Platform): string {
  return `the ${role} ${path} is a ${os} program, but the image says ${platformName(platform)}: ${platform.os} cannot run it ('exec format error')`;
}

function describePath(asked: string, path: string, links: string[]): string {
  if (asked === path && links.length === 0) return path;
  return `${asked} (${[...links, path].filter((v, i, a) => a.indexOf(v) === i).join(', ')})`;
}

/** Executable files of the image made for another operating system than `os` (ELF in a windows image, say), in path order. */
export function programsOfAnotherOs(fs: ImageFilesystem, os: string): { path: string; os: string }[] {
  const found: { path: string; os: string }[] = [];
  const walk = (dir: Extract<FsNode, { kind: 'dir' }>, prefix: string) => {
    for (const name of [...dir.children.keys()].sort()) {
      const node = dir.children.get(name) as FsNode;
      const path = `${prefix}/${name}`;
      if (node.kind === 'dir') walk(node, path);
      else if (node.kind === 'file' && isExecutableFile(node)) {
        const of = programOs(node.head);
        if (of && of !== os) found.push({ path, os: of });
      }
    }
  };
  walk(fs.root, '');
  return found;
}

/** The proof's verdict on an image that claims another OS than linux: its programs must not be another system's. */
export function checkForeignOsImage(fs: ImageFilesystem, config: RunConfig, platform: Platform): ProgramCheck {
  const argv = commandLine(config);
  const foreign = programsOfAnotherOs(fs, platform.os);
  if (foreign.length === 0)
    return {
      argv,
      files: [],
      notes: [`${platform.os} images are not ELF; no program of another system was found, and the program was not checked further`],
    };
  const first = foreign.slice(0, 3).map((f) => `${f.path} (${f.os})`);
  const systems = [...new Set(foreign.map((f) => f.os))].join(', ');
  return {
    argv,
    files: [],
    notes: [],
    problem:
      `the image says ${platformName(platform)}, but its programs are ${systems} programs: ${first.join(', ')}` +
      `${foreign.length > 3 ? ` and ${foreign.length - 3} more` : ''}. ${platform.os} cannot run them. ` +
      `It was built for ${platform.os} by a builder of another system; build it on a ${platform.os} builder, or for the platform its programs are made for.`,
  };
}
