// OCI platforms (os/architecture[/variant]) as users write them in inputs and as registries and builders report them.

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const KNOWN_OS = new Set(['linux', 'windows', 'darwin', 'freebsd']);
// GOARCH values an OCI image may carry (image-spec config.md points at Go's list).
const KNOWN_ARCHITECTURES = new Set([
  'amd64',
  'arm64',
  'arm',
  '386',
  'ppc64le',
  'ppc64',
  's390x',
  'riscv64',
  'mips64le',
  'mips64',
  'loong64',
  'wasm',
]);
const ARCHITECTURE_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
};

/** Parses one platform; throws with the reason and the fix, for an input parser to name the input. */
export function parsePlatform(text: string): Platform {
  const value = text.trim();
  if (!value) throw new Error('an empty platform was given. Write platforms as os/architecture, for example linux/amd64.');
  const parts = value.toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new Error(`'${value}' is not a platform. Write os/architecture[/variant], for example linux/amd64 or linux/arm64.`);
  }
  const [os, rawArchitecture, rawVariant] = parts;
  if (!KNOWN_OS.has(os)) throw new Error(`'${value}' names an unknown operating system '${os}'. Use linux (or windows).`);
  const architecture = ARCHITECTURE_ALIASES[rawArchitecture] ?? rawArchitecture;
  if (!KNOWN_ARCHITECTURES.has(architecture)) {
    throw new Error(`'${value}' names an unknown architecture '${rawArchitecture}'. Known: ${[...KNOWN_ARCHITECTURES].join(', ')}.`);
  }
  if (rawVariant !== undefined && !/^v\d+(\.\d+)?$|^(power\d+|rva\d+u64)$/.test(rawVariant)) {
    throw new Error(`'${value}' has an unknown variant '${rawVariant}'. Variants look like v7, v8 or v2.`);
  }
  return normalizePlatform({ os, architecture, variant: rawVariant });
}

/** A comma- or newline-separated list, duplicates refused so that a typo does not hide. */
export function parsePlatformList(text: string | readonly string[]): Platform[] {
  const items = (typeof text === 'string' ? text.split(/[,\n]/) : [...text]).map((s) => s.trim());
  if (items.length === 0 || items.every((s) => s === '')) throw new Error('no platform was given. Use for example linux/amd64.');
  const platforms = items.map((item) => parsePlatform(item));
  const seen = new Set<string>();
  for (const p of platforms) {
    const key = formatPlatform(p);
    if (seen.has(key)) throw new Error(`${key} is listed twice.`);
    seen.add(key);
  }
  return platforms;
}

/**
 * The canonical form containerd compares with: arm64's v8 and amd64's v1 are the defaults and dropped,
 * 32-bit arm without a variant means v7.
 */
export function normalizePlatform(p: Platform): Platform {
  let variant = p.variant || undefined;
  if (p.architecture === 'arm64' && variant === 'v8') variant = undefined;
  if (p.architecture === 'amd64' && variant === 'v1') variant = undefined;
  if (p.architecture === 'arm' && !variant) variant = 'v7';
  return variant ? { os: p.os, architecture: p.architecture, variant } : { os: p.os, architecture: p.architecture };
}

export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  return n.variant ? `${n.os}/${n.architecture}/${n.variant}` : `${n.os}/${n.architecture}`;
}

export function samePlatform(a: Platform, b: Platform): boolean {
  return formatPlatform(a) === formatPlatform(b);
}

/** The platform of a machine as Node.js (process.arch) or uname (x86_64, aarch64) names it. */
export function platformOfMachine(arch: string, os = 'linux'): Platform {
  const map: Record<string, Platform> = {
    x64: { os, architecture: 'amd64' },
    x86_64: { os, architecture: 'amd64' },
    arm64: { os, architecture: 'arm64' },
    aarch64: { os, architecture: 'arm64' },
    arm: { os, architecture: 'arm', variant: 'v7' },
    armv7l: { os, architecture: 'arm', variant: 'v7' },
    ppc64: { os, architecture: 'ppc64le' },
    ppc64le: { os, architecture: 'ppc64le' },
    s390x: { os, architecture: 's390x' },
    riscv64: { os, architecture: 'riscv64' },
    ia32: { os, architecture: '386' },
  };
  const platform = map[arch];
  if (!platform) throw new Error(`unknown machine architecture '${arch}'`);
  return normalizePlatform(platform);
}
