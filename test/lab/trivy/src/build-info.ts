// Values fixed when the stand-in is packaged (build.ts passes them through esbuild's `define`),
// with defaults for running from source in tests.
declare const __LAB_TRIVY_BUILD__: { version: string; dbRepository: string } | undefined;

const build = typeof __LAB_TRIVY_BUILD__ === 'undefined' ? undefined : __LAB_TRIVY_BUILD__;

/** The trivy version the stand-in reports. */
export const trivyVersion: string = build?.version ?? process.env.LAB_TRIVY_VERSION ?? '0.74.0';

/** Where the DB comes from by default: the lab's repository (lab.json trivy.dbRepository) instead of mirror.gcr.io/ghcr.io. */
export const defaultDbRepository: string =
  build?.dbRepository ?? process.env.LAB_TRIVY_DB_REPOSITORY ?? 'releases.lab.test/aquasec/trivy-db:2';

/** "0.74.0" -> "v0.74", the version segment of trivy.dev documentation links. */
export function docVersion(): string {
  const match = /^(\d+)\.(\d+)/.exec(trivyVersion);
  return match ? `v${match[1]}.${match[2]}` : 'latest';
}
