// A buildx builder's nodes and the platforms they can build for, read from `docker buildx inspect` (its text
// output is the stable interface across buildx versions; `--format` is not available on older ones).
import { formatPlatform, normalizePlatform, parsePlatform, type Platform } from '../platform/platform';
import { CommandError, type Runner } from '../process/exec';

export interface BuilderNode {
  name: string;
  endpoint?: string;
  status?: string;
  buildkitVersion?: string;
  /** The node's platforms that parse as platforms, in the builder's order. */
  platforms: Platform[];
  /** As printed; a `*` marks platforms the user fixed when creating the node. */
  platformNames: string[];
  error?: string;
}

export interface BuilderInfo {
  name: string;
  driver?: string;
  nodes: BuilderNode[];
}

function keyValue(line: string): [string, string] | undefined {
  const m = /^([A-Za-z][A-Za-z ]*?):\s*(.*)$/.exec(line);
  return m ? [m[1].toLowerCase(), m[2].trim()] : undefined;
}

/** Parses the text of `docker buildx inspect`; lines indented under a key (labels, GC policy, devices) are skipped. */
export function parseBuildxInspect(text: string): BuilderInfo {
  const info: BuilderInfo = { name: '', nodes: [] };
  let inNodes = false;
  let node: BuilderNode | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (!raw.trim() || /^\s/.test(raw)) continue;
    if (/^Nodes:\s*$/.test(raw)) {
      inNodes = true;
      continue;
    }
    const kv = keyValue(raw);
    if (!kv) continue;
    const [key, value] = kv;
    if (!inNodes) {
      if (key === 'name') info.name = value;
      else if (key === 'driver') info.driver = value;
      continue;
    }
    if (key === 'name') {
      node = { name: value, platforms: [], platformNames: [] };
      info.nodes.push(node);
      continue;
    }
    if (!node) continue;
    if (key === 'endpoint') node.endpoint = value;
    else if (key === 'status') node.status = value;
    else if (key === 'buildkit version' || key === 'buildkit') node.buildkitVersion = value;
    else if (key === 'error') node.error = value;
    else if (key === 'platforms') {
      node.platformNames = value
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean);
      for (const name of node.platformNames) {
        try {
          node.platforms.push(parsePlatform(name.replace(/\*$/, '')));
        } catch {
          // a platform this project does not know (e.g. a new architecture) cannot be asked for either
        }
      }
    }
  }
  return info;
}

/** Every platform a builder's running nodes offer, each once. */
export function builderPlatforms(info: BuilderInfo): Platform[] {
  const seen = new Map<string, Platform>();
  for (const node of info.nodes) {
    if (node.status && node.status !== 'running') continue;
    for (const p of node.platforms) seen.set(formatPlatform(p), normalizePlatform(p));
  }
  return [...seen.values()];
}

/** Does the builder offer this platform? linux/arm64 matches linux/arm64/v8; linux/amd64 matches linux/amd64. */
export function offers(platforms: readonly Platform[], wanted: Platform): boolean {
  const key = formatPlatform(wanted);
  return platforms.some((p) => formatPlatform(p) === key);
}

export interface InspectOptions {
  /** The builder's name; the current builder when undefined. */
  builder?: string;
  /** Boots a builder that is not running (docker-container drivers start their BuildKit container). */
  bootstrap?: boolean;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export function inspectArgs(options: InspectOptions = {}): string[] {
  return ['buildx', 'inspect', ...(options.bootstrap ? ['--bootstrap'] : []), ...(options.builder ? [options.builder] : [])];
}

export async function inspectBuilder(runner: Runner, options: InspectOptions = {}): Promise<BuilderInfo> {
  const args = inspectArgs(options);
  const result = await runner('docker', args, { env: options.env, timeoutMs: options.timeoutMs ?? 120_000 });
  if (result.exitCode !== 0) throw new CommandError('docker', args, result);
  return parseBuildxInspect(result.stdout);
}

/** The platforms a builder can build for (what BuildForPlatform checks a requested platform against). */
export async function listBuilderPlatforms(runner: Runner, options: InspectOptions = {}): Promise<Platform[]> {
  return builderPlatforms(await inspectBuilder(runner, options));
}
