// Versions of docker and buildx as their CLIs print them, and the version pins users write in inputs.

/** `Docker version 28.2.2, build e6534b4` or `Docker version 26.1.5+dfsg1, build a72d7cd` -> `28.2.2` / `26.1.5+dfsg1`. */
export function parseDockerCliVersion(output: string): string | undefined {
  return /Docker version v?([0-9][^\s,]*)/i.exec(output)?.[1];
}

/** `github.com/docker/buildx v0.21.2 1360a9e...` or `github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3` -> `0.21.2` / `0.13.1+ds1`. */
export function parseBuildxVersion(output: string): string | undefined {
  return /^\S*buildx\s+v?([0-9][^\s]*)/im.exec(output.trim())?.[1];
}

/** `Docker Compose version v2.26.1` (v2, the plugin) or `docker-compose version 1.29.2, build unknown` (v1) -> `2.26.1` / `1.29.2`. */
export function parseComposeVersion(output: string): string | undefined {
  return /compose version v?([0-9][^\s,]*)/i.exec(output)?.[1];
}

/** The x.y.z part of a version, without distribution suffixes (`26.1.5+dfsg1` -> `26.1.5`). */
export function coreVersion(version: string): string | undefined {
  return /^v?(\d+\.\d+(?:\.\d+)?)/.exec(version.trim())?.[1];
}

/** Compares the x.y.z parts; missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = (coreVersion(a) ?? '0').split('.').map(Number);
  const pb = (coreVersion(b) ?? '0').split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function versionAtLeast(version: string, minimum: string): boolean {
  return compareVersions(version, minimum) >= 0;
}

/** A pin as users write it: `27.3.1` (a leading `v` is accepted). Throws with the fix for the input parser. */
export function parseVersionPin(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const text = value.trim();
  const match = /^v?(\d+\.\d+\.\d+)$/.exec(text);
  if (!match) throw new Error(`'${text}' is not a version. Write the full release number, for example 27.3.1 (no ranges, no 'latest').`);
  return match[1];
}

/** Does an installed version satisfy a pin? `26.1.5+dfsg1` satisfies `26.1.5`. */
export function satisfiesPin(installed: string, pin: string): boolean {
  return coreVersion(installed) === pin;
}
