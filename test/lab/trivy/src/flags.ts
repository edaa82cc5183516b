// The command-line flags the tasks (src/trivy/scan.ts) and the lab's tests pass, declared and parsed the way trivy
// does (pkg/flag/*, cobra + pflag): --name value, --name=value, -s value, bool flags without a value, comma-separated
// lists, every flag also read from TRIVY_<NAME> (pkg/flag/options.go bindEnv; the command line wins). Any other flag
// fails like pflag's unknown flag, so an argument the stand-in does not emulate is never silently ignored.
import { GoError, goQuote, parseDuration } from './go';

export type FlagType = 'bool' | 'string' | 'int' | 'duration' | 'strings';
export type FlagValue = boolean | string | number | string[];

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  default: FlagValue;
  /** allowed values */
  values?: readonly string[];
}

export const scannerNames = ['vuln', 'misconfig', 'secret', 'license'] as const;
export const imageSourceNames = ['docker', 'containerd', 'podman', 'remote'] as const;

/** Flags every command has (trivy's GlobalFlagGroup). */
export function globalFlagSpecs(defaultCacheDir: string): FlagSpec[] {
  return [
    { name: 'cache-dir', type: 'string', default: defaultCacheDir },
    { name: 'quiet', short: 'q', type: 'bool', default: false },
    { name: 'timeout', type: 'duration', default: 5 * 60_000 },
    { name: 'version', short: 'v', type: 'bool', default: false },
  ];
}

/** The report flags `trivy convert` shares with `trivy image`. json, sarif and template are emulated; table is trivy's default. */
export function reportFlagSpecs(): FlagSpec[] {
  return [
    { name: 'format', short: 'f', type: 'string', default: 'table', values: ['table', 'json', 'sarif', 'template'] },
    { name: 'template', short: 't', type: 'string', default: '' },
    { name: 'output', short: 'o', type: 'string', default: '' },
    { name: 'exit-code', type: 'int', default: 0 },
    { name: 'ignore-unfixed', type: 'bool', default: false },
    { name: 'ignorefile', type: 'string', default: '.trivyignore' },
    { name: 'show-suppressed', type: 'bool', default: false },
    // The fixtures carry no package inventory, so there is nothing for --list-all-pkgs=false to leave out.
    { name: 'list-all-pkgs', type: 'bool', default: true },
  ];
}

/** `trivy image`. */
export function imageFlagSpecs(defaultDbRepository: string): FlagSpec[] {
  return [
    ...reportFlagSpecs(),
    { name: 'scanners', type: 'strings', default: ['vuln', 'secret'], values: scannerNames },
    { name: 'skip-db-update', type: 'bool', default: false },
    // The Java DB is downloaded only for Java archives, which no fixture has: both are accepted and change nothing.
    { name: 'skip-java-db-update', type: 'bool', default: false },
    {
      name: 'java-db-repository',
      type: 'strings',
      default: ['mirror.gcr.io/aquasec/trivy-java-db:1', 'ghcr.io/aquasecurity/trivy-java-db:1'],
    },
    { name: 'download-db-only', type: 'bool', default: false },
    { name: 'db-repository', type: 'strings', default: [defaultDbRepository] },
    // The stand-in prints no progress bar, no version notice and sends no telemetry: these change nothing.
    { name: 'no-progress', type: 'bool', default: false },
    { name: 'skip-version-check', type: 'bool', default: false },
    { name: 'disable-telemetry', type: 'bool', default: false },
    { name: 'platform', type: 'string', default: '' },
    { name: 'image-src', type: 'strings', default: [...imageSourceNames], values: imageSourceNames },
    { name: 'username', type: 'strings', default: [] },
    { name: 'password', type: 'strings', default: [] },
  ];
}

/** `trivy version`. */
export function versionFlagSpecs(): FlagSpec[] {
  return [{ name: 'format', short: 'f', type: 'string', default: 'table', values: ['table', 'json'] }];
}

/** A flag-parsing failure; cobra prints it before trivy's log.Fatal. */
export class FlagError extends GoError {}

export class ParsedFlags {
  constructor(
    private readonly specs: Map<string, FlagSpec>,
    private readonly given: Map<string, FlagValue>,
    readonly positionals: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  value(name: string): FlagValue {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`lab stand-in bug: flag --${name} is not declared for this command`);
    const given = this.given.get(name);
    if (given !== undefined) return given;
    const variable = `TRIVY_${name.toUpperCase().replace(/-/g, '_')}`;
    const fromEnv = this.env[variable];
    if (fromEnv !== undefined && fromEnv !== '') {
      try {
        return convert(spec, fromEnv, variable);
      } catch {
        // viper/cast turn an unparsable environment value into the zero value; keep the default instead.
      }
    }
    return spec.default;
  }

  string(name: string): string {
    return String(this.value(name));
  }

  bool(name: string): boolean {
    return this.value(name) === true;
  }

  number(name: string): number {
    return Number(this.value(name));
  }

  strings(name: string): string[] {
    const value = this.value(name);
    return Array.isArray(value) ? value : [String(value)];
  }
}

function display(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
}

function convert(spec: FlagSpec, text: string, where: string): FlagValue {
  const invalid = (reason: string): FlagError => new FlagError(`invalid argument ${goQuote(text)} for ${goQuote(where)} flag: ${reason}`);
  let value: FlagValue;
  switch (spec.type) {
    case 'bool':
      if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
      if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
      throw invalid(`strconv.ParseBool: parsing ${goQuote(text)}: invalid syntax`);
    case 'int':
      if (!/^[+-]?\d+$/.test(text)) throw invalid(`strconv.ParseInt: parsing ${goQuote(text)}: invalid syntax`);
      return Number.parseInt(text, 10);
    case 'duration':
      try {
        return parseDuration(text);
      } catch (error) {
        throw invalid((error as Error).message);
      }
    case 'strings':
      value = text === '' ? [] : text.split(',').map((item) => item.trim());
      break;
    case 'string':
      value = text;
      break;
  }
  for (const item of Array.isArray(value) ? value : [value]) {
    if (spec.values && !spec.values.includes(item)) {
      throw new FlagError(`invalid argument ${goQuote(item)} for ${goQuote(where)} flag: must be one of [${spec.values.join(' ')}]`);
    }
  }
  return value;
}

/** Parses argv against the given flags (pflag semantics, interspersed positionals); FlagError for anything pflag refuses. */
export function parseFlags(argv: readonly string[], specList: readonly FlagSpec[], env: NodeJS.ProcessEnv = process.env): ParsedFlags {
  const byName = new Map(specList.map((spec) => [spec.name, spec]));
  const byShort = new Map(specList.filter((spec) => spec.short).map((spec) => [spec.short as string, spec]));
  const given = new Map<string, FlagValue>();
  const positionals: string[] = [];
  const record = (spec: FlagSpec, text: string): void => {
    const value = convert(spec, text, display(spec));
    const previous = given.get(spec.name);
    given.set(spec.name, spec.type === 'strings' && Array.isArray(previous) ? [...previous, ...(value as string[])] : value);
  };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    const long = /^--([^=]+)(?:=(.*))?$/s.exec(token);
    const short = /^-([^-])(.*)$/s.exec(token);
    const spec = long ? byName.get(long[1]) : short ? byShort.get(short[1]) : undefined;
    if (!long && !short) {
      positionals.push(token);
    } else if (!spec) {
      throw new FlagError(long ? `unknown flag: --${long[1]}` : `unknown shorthand flag: '${(short as RegExpExecArray)[1]}' in ${token}`);
    } else if (long?.[2] !== undefined) {
      record(spec, long[2]);
    } else if (short && short[2] !== '') {
      record(spec, short[2].replace(/^=/, ''));
    } else if (spec.type === 'bool') {
      given.set(spec.name, true);
    } else if (i + 1 < argv.length) {
      record(spec, argv[++i]);
    } else {
      throw new FlagError(`flag needs an argument: ${long ? `--${spec.name}` : `'${spec.short}' in -${spec.short}`}`);
    }
  }
  return new ParsedFlags(byName, given, positionals, env);
}
