// Command-line flags the way trivy declares them (pkg/flag/*) and parses them (cobra + pflag):
// --name value, --name=value, -s value, -svalue, bool flags without a value, comma-separated lists,
// every flag also read from TRIVY_<NAME> (pkg/flag/options.go bindEnv). Unknown flags fail like pflag does.
import { GoError, goQuote, parseDuration } from './go';

export type FlagType = 'bool' | 'string' | 'int' | 'float' | 'duration' | 'strings';
export type FlagValue = boolean | string | number | string[];

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  default?: FlagValue;
  /** allowed values, checked after `normalize` */
  values?: readonly string[];
  normalize?: (value: string) => string;
  /** other names accepted for this flag (e.g. the deprecated --security-checks) */
  aliases?: readonly string[];
  /** false: accepted because trivy has it, but the stand-in does not act on it */
  emulated?: boolean;
  /** the stand-in refuses to run when this flag is set (it would silently change results otherwise) */
  refuse?: boolean;
  usage: string;
}

export const severityNames = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export const statusNames = [
  'unknown',
  'not_affected',
  'affected',
  'fixed',
  'under_investigation',
  'will_not_fix',
  'fix_deferred',
  'end_of_life',
] as const;
export const formatNames = ['table', 'json', 'template', 'sarif', 'cyclonedx', 'spdx', 'spdx-json', 'github', 'cosign-vuln'] as const;
export const scannerNames = ['vuln', 'misconfig', 'secret', 'license'] as const;
export const imageSourceNames = ['docker', 'containerd', 'podman', 'remote'] as const;

function normalizeScanner(value: string): string {
  if (value === 'vulnerability') return 'vuln';
  if (value === 'misconf' || value === 'misconfiguration' || value === 'config') return 'misconfig';
  return value;
}

/** Flags every command has (trivy's GlobalFlagGroup). */
export function globalFlagSpecs(defaultCacheDir: string): FlagSpec[] {
  return [
    { name: 'cache-dir', type: 'string', default: defaultCacheDir, usage: 'cache directory' },
    { name: 'config', short: 'c', type: 'string', default: 'trivy.yaml', emulated: false, usage: 'config path' },
    { name: 'debug', short: 'd', type: 'bool', default: false, usage: 'debug mode' },
    { name: 'quiet', short: 'q', type: 'bool', default: false, usage: 'suppress progress bar and log output' },
    { name: 'timeout', type: 'duration', default: 5 * 60_000, usage: 'timeout' },
    { name: 'insecure', type: 'bool', default: false, usage: 'allow insecure server connections' },
    { name: 'cacert', type: 'string', default: '', usage: 'Path to PEM-encoded CA certificate file' },
    { name: 'no-color', type: 'bool', default: false, emulated: false, usage: 'Remove color from output' },
    { name: 'generate-default-config', type: 'bool', default: false, refuse: true, usage: 'write the default config to trivy-default.yaml' },
    { name: 'version', short: 'v', type: 'bool', default: false, usage: 'show version' },
    { name: 'help', short: 'h', type: 'bool', default: false, usage: 'help' },
  ];
}

/** `trivy image` flags: the ones the stand-in acts on, then the rest of trivy's set (accepted, not emulated). */
export function imageFlagSpecs(defaultDbRepositories: string[]): FlagSpec[] {
  return [
    { name: 'format', short: 'f', type: 'string', default: 'table', values: formatNames, usage: 'format' },
    { name: 'template', short: 't', type: 'string', default: '', usage: 'output template' },
    { name: 'output', short: 'o', type: 'string', default: '', usage: 'output file name' },
    { name: 'exit-code', type: 'int', default: 0, usage: 'specify exit code when any security issues are found' },
    { name: 'exit-on-eol', type: 'int', default: 0, usage: 'exit with the specified code when the OS reaches end of service/life' },
    {
      name: 'severity',
      short: 's',
      type: 'strings',
      default: [...severityNames],
      values: severityNames,
      normalize: (value) => value.toUpperCase(),
      usage: 'severities of security issues to be displayed',
    },
    { name: 'ignore-unfixed', type: 'bool', default: false, usage: 'display only fixed vulnerabilities' },
    { name: 'ignore-status', type: 'strings', default: [], values: statusNames, usage: 'comma-separated list of vulnerability status to ignore' },
    { name: 'ignorefile', type: 'string', default: '.trivyignore', usage: 'specify .trivyignore file' },
    {
      name: 'scanners',
      type: 'strings',
      default: ['vuln', 'secret'],
      values: scannerNames,
      normalize: normalizeScanner,
      aliases: ['security-checks'],
      usage: 'comma-separated list of what security issues to detect',
    },
    { name: 'skip-db-update', type: 'bool', default: false, aliases: ['skip-update'], usage: 'skip updating vulnerability database' },
    { name: 'download-db-only', type: 'bool', default: false, usage: "download/update vulnerability database but don't run a scan" },
    { name: 'db-repository', type: 'strings', default: defaultDbRepositories, usage: 'OCI repository(ies) to retrieve trivy-db in order of priority' },
    { name: 'no-progress', type: 'bool', default: false, usage: 'suppress progress bar' },
    { name: 'platform', type: 'string', default: '', usage: 'set platform in the form os/arch if image is multi-platform capable' },
    { name: 'image-src', type: 'strings', default: [...imageSourceNames], values: imageSourceNames, usage: 'image source(s) to use, in priority order' },
    { name: 'docker-host', type: 'string', default: '', usage: 'unix domain socket path to use for docker scanning' },
    { name: 'podman-host', type: 'string', default: '', usage: 'unix podman socket path to use for podman scanning' },
    { name: 'username', type: 'strings', default: [], usage: 'username. Comma-separated usernames allowed.' },
    { name: 'password', type: 'strings', default: [], usage: 'password. Comma-separated passwords allowed. TRIVY_PASSWORD should be used for security reasons.' },
    { name: 'password-stdin', type: 'bool', default: false, usage: 'password from stdin. Comma-separated passwords are not supported.' },
    { name: 'registry-token', type: 'string', default: '', usage: 'registry token' },
    { name: 'list-all-pkgs', type: 'bool', default: true, usage: 'output all packages in the JSON report regardless of vulnerability' },
    { name: 'show-suppressed', type: 'bool', default: false, usage: '[EXPERIMENTAL] show suppressed vulnerabilities' },
    { name: 'include-non-failures', type: 'bool', default: false, usage: "include successes, available with '--scanners misconfig'" },
    // Accepted (trivy has them) but would change nothing the stand-in reports.
    ...notEmulated('bool', [
      'skip-java-db-update',
      'download-java-db-only',
      'skip-version-check',
      'disable-telemetry',
      'offline-scan',
      'skip-vex-repo-update',
      'skip-check-update',
      'dependency-tree',
      'license-full',
      'removed-pkgs',
      'include-deprecated-checks',
      'trace-rego',
      'tf-exclude-downloaded-modules',
      'redis-tls',
    ]),
    ...notEmulated('strings', [
      'java-db-repository',
      'pkg-types',
      'pkg-relationships',
      'skip-dirs',
      'skip-files',
      'image-config-scanners',
      'ignored-licenses',
      'file-patterns',
      'vuln-severity-source',
      'table-mode',
      'misconfig-scanners',
      'config-check',
      'config-data',
      'config-file-schemas',
      'check-namespaces',
      'sbom-sources',
      'enable-modules',
      'custom-headers',
      'raw-config-scanners',
      'render-cause',
      'helm-api-versions',
      'helm-set',
      'helm-set-file',
      'helm-set-string',
      'helm-values',
    ]),
    ...notEmulated('string', [
      'cache-backend',
      'checks-bundle-repository',
      'max-image-size',
      'detection-priority',
      'secret-config',
      'token',
      'token-header',
      'report',
      'distro',
      'rekor-url',
      'module-dir',
      'redis-ca',
      'redis-cert',
      'redis-key',
      'output-plugin-arg',
      'helm-kube-version',
    ]),
    { name: 'parallel', type: 'int', default: 5, emulated: false, usage: 'number of goroutines enabled for parallel scanning' },
    { name: 'rego-error-limit', type: 'int', default: 10, emulated: false, usage: 'maximum number of compile errors allowed during Rego policy evaluation' },
    { name: 'license-confidence-level', type: 'float', default: 0.9, emulated: false, usage: "specify license classifier's confidence level" },
    { name: 'cache-ttl', type: 'duration', default: 0, emulated: false, usage: 'cache TTL when using redis as cache backend' },
    // Would change the result in ways the stand-in cannot reproduce: refuse rather than pretend.
    { name: 'input', type: 'string', default: '', refuse: true, usage: 'input file path instead of image name' },
    { name: 'server', type: 'string', default: '', refuse: true, usage: 'server address in client mode' },
    { name: 'compliance', type: 'string', default: '', refuse: true, usage: 'compliance report to generate' },
    { name: 'ignore-policy', type: 'string', default: '', refuse: true, usage: 'specify the Rego file path to evaluate each vulnerability' },
    { name: 'vex', type: 'strings', default: [], refuse: true, usage: '[EXPERIMENTAL] VEX sources ("repo", "oci" or file path)' },
  ];
}

function notEmulated(type: FlagType, names: string[]): FlagSpec[] {
  const defaults: Record<FlagType, FlagValue> = { bool: false, strings: [], string: '', int: 0, float: 0, duration: 0 };
  return names.map((name) => ({ name, type, default: defaults[type], emulated: false, usage: '(accepted, not emulated by the lab stand-in)' }));
}

/** `trivy convert`: the report flags of `trivy image`. */
export function convertFlagSpecs(): FlagSpec[] {
  const names = new Set(['format', 'template', 'output', 'exit-code', 'exit-on-eol', 'severity', 'ignore-unfixed', 'ignore-status', 'ignorefile', 'show-suppressed', 'include-non-failures', 'list-all-pkgs', 'dependency-tree', 'report', 'table-mode', 'output-plugin-arg', 'compliance', 'ignore-policy']);
  return imageFlagSpecs([]).filter((spec) => names.has(spec.name));
}

export function registryLoginFlagSpecs(): FlagSpec[] {
  return [
    { name: 'username', short: 'u', type: 'strings', default: [], usage: 'username' },
    { name: 'password', short: 'p', type: 'strings', default: [], usage: 'password' },
    { name: 'password-stdin', type: 'bool', default: false, usage: 'password from stdin' },
  ];
}

export function versionFlagSpecs(): FlagSpec[] {
  return [{ name: 'format', short: 'f', type: 'string', default: 'table', values: ['table', 'json'], usage: 'version format' }];
}

export function cleanFlagSpecs(): FlagSpec[] {
  return [
    { name: 'all', short: 'a', type: 'bool', default: false, usage: 'remove all caches' },
    { name: 'scan-cache', type: 'bool', default: false, usage: 'remove scan cache (container and VM image analysis results)' },
    { name: 'vuln-db', type: 'bool', default: false, usage: 'remove vulnerability database' },
    { name: 'java-db', type: 'bool', default: false, usage: 'remove Java database' },
    { name: 'checks-bundle', type: 'bool', default: false, usage: 'remove checks bundle' },
    { name: 'vex-repo', type: 'bool', default: false, usage: 'remove VEX repositories' },
  ];
}

/** A flag-parsing failure; cobra prints it with the usage before trivy's log.Fatal. */
export class FlagError extends GoError {}

export class ParsedFlags {
  constructor(
    private readonly specs: Map<string, FlagSpec>,
    private readonly given: Map<string, FlagValue>,
    readonly positionals: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  isSet(name: string): boolean {
    return this.given.has(name) || this.envText(name) !== undefined;
  }

  /** Names of the flags given on the command line or through TRIVY_* variables. */
  setNames(): string[] {
    return [...this.specs.keys()].filter((name) => this.isSet(name));
  }

  spec(name: string): FlagSpec {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`lab stand-in bug: flag --${name} is not declared for this command`);
    return spec;
  }

  value(name: string): FlagValue {
    const spec = this.spec(name);
    const given = this.given.get(name);
    if (given !== undefined) return given;
    const fromEnv = this.envText(name);
    if (fromEnv !== undefined) {
      try {
        return convert(spec, fromEnv, `TRIVY_${envName(name)}`, true);
      } catch {
        // viper/cast turn an unparsable environment value into the zero value; keep the default instead.
      }
    }
    return spec.default ?? zero(spec.type);
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

  private envText(name: string): string | undefined {
    const spec = this.spec(name);
    for (const candidate of [name, ...(spec.aliases ?? [])]) {
      const text = this.env[`TRIVY_${envName(candidate)}`];
      if (text !== undefined && text !== '') return text;
    }
    return undefined;
  }
}

export function envName(flag: string): string {
  return flag.toUpperCase().replace(/-/g, '_');
}

function zero(type: FlagType): FlagValue {
  if (type === 'bool') return false;
  if (type === 'strings') return [];
  if (type === 'string') return '';
  return 0;
}

function display(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
}

function parseBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

function convert(spec: FlagSpec, text: string, where: string, fromEnv = false): FlagValue {
  const invalid = (reason: string): FlagError =>
    new FlagError(`invalid argument ${goQuote(text)} for ${goQuote(fromEnv ? where : display(spec))} flag: ${reason}`);
  switch (spec.type) {
    case 'bool': {
      const value = parseBool(text);
      if (value === undefined) throw invalid(`strconv.ParseBool: parsing ${goQuote(text)}: invalid syntax`);
      return value;
    }
    case 'int': {
      if (!/^[+-]?\d+$/.test(text)) throw invalid(`strconv.ParseInt: parsing ${goQuote(text)}: invalid syntax`);
      return Number.parseInt(text, 10);
    }
    case 'float': {
      const value = Number(text);
      if (text.trim() === '' || Number.isNaN(value)) throw invalid(`strconv.ParseFloat: parsing ${goQuote(text)}: invalid syntax`);
      return value;
    }
    case 'duration':
      try {
        return parseDuration(text);
      } catch (error) {
        throw invalid((error as Error).message);
      }
    case 'strings': {
      const items = text === '' ? [] : text.split(',').map((item) => (spec.normalize ? spec.normalize(item.trim()) : item.trim()));
      checkValues(spec, items);
      return items;
    }
    case 'string': {
      const value = spec.normalize ? spec.normalize(text) : text;
      checkValues(spec, [value]);
      return value;
    }
  }
}

function checkValues(spec: FlagSpec, items: string[]): void {
  if (!spec.values) return;
  for (const item of items) {
    if (!spec.values.includes(item)) {
      throw new FlagError(`invalid argument ${goQuote(item)} for ${goQuote(display(spec))} flag: must be one of [${spec.values.join(' ')}]`);
    }
  }
}

/**
 * Parses argv against the given flags (pflag semantics, interspersed positionals).
 * Throws FlagError for unknown flags, missing values and invalid values.
 */
export function parseFlags(argv: readonly string[], specList: readonly FlagSpec[], env: NodeJS.ProcessEnv = process.env): ParsedFlags {
  const byName = new Map<string, FlagSpec>();
  const lookup = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const spec of specList) {
    byName.set(spec.name, spec);
    lookup.set(spec.name, spec);
    for (const alias of spec.aliases ?? []) lookup.set(alias, spec);
    if (spec.short) byShort.set(spec.short, spec);
  }
  const given = new Map<string, FlagValue>();
  const positionals: string[] = [];
  const record = (spec: FlagSpec, text: string): void => {
    const value = convert(spec, text, display(spec));
    if (spec.type === 'strings') {
      const previous = given.get(spec.name);
      given.set(spec.name, [...(Array.isArray(previous) ? previous : []), ...(value as string[])]);
    } else {
      given.set(spec.name, value);
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (token.startsWith('--')) {
      const body = token.slice(2);
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const spec = lookup.get(name);
      if (!spec) throw new FlagError(`unknown flag: --${name}`);
      if (eq >= 0) record(spec, body.slice(eq + 1));
      else if (spec.type === 'bool') given.set(spec.name, true);
      else if (i + 1 < argv.length) record(spec, argv[++i]);
      else throw new FlagError(`flag needs an argument: --${name}`);
      continue;
    }
    if (token.startsWith('-') && token.length > 1) {
      const shorts = token.slice(1);
      for (let j = 0; j < shorts.length; j++) {
        const letter = shorts[j];
        const spec = byShort.get(letter);
        if (!spec) throw new FlagError(`unknown shorthand flag: '${letter}' in ${token}`);
        if (spec.type === 'bool') {
          if (shorts[j + 1] === '=') {
            record(spec, shorts.slice(j + 2));
            break;
          }
          given.set(spec.name, true);
          continue;
        }
        const rest = shorts.slice(j + 1).replace(/^=/, '');
        if (rest !== '') record(spec, rest);
        else if (i + 1 < argv.length) record(spec, argv[++i]);
        else throw new FlagError(`flag needs an argument: '${letter}' in -${letter}`);
        break;
      }
      continue;
    }
    positionals.push(token);
  }
  return new ParsedFlags(byName, given, positionals, env);
}

/**
 * Finds the subcommand the way cobra does before parsing: the first argument that is neither a flag nor
 * the value of a global flag. Returns its index, or -1.
 */
export function findCommand(argv: readonly string[], globals: readonly FlagSpec[]): number {
  const takesValue = new Set<string>();
  for (const spec of globals) {
    if (spec.type === 'bool') continue;
    takesValue.add(`--${spec.name}`);
    if (spec.short) takesValue.add(`-${spec.short}`);
  }
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === '--') return -1;
    if (token.startsWith('-')) {
      if (!token.includes('=') && takesValue.has(token)) i++;
      continue;
    }
    return i;
  }
  return -1;
}

/** Usage text in cobra's shape (what trivy prints with --help and after a flag error). */
export function usage(command: string, argsUsage: string, specs: readonly FlagSpec[]): string {
  const lines = specs.map((spec) => {
    const flag = spec.short ? `  -${spec.short}, --${spec.name}` : `      --${spec.name}`;
    const kind = spec.type === 'bool' ? '' : ` ${spec.type === 'strings' ? 'strings' : spec.type}`;
    return `${`${flag}${kind}`.padEnd(40)} ${spec.usage}`;
  });
  return `Usage:\n  ${command} [flags] ${argsUsage}\n\nFlags:\n${lines.join('\n')}\n`;
}
