// Build contexts for test images FROM scratch with a static busybox (no public registry is reachable here).
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLab, type Lab } from './lab';

export const busyboxArchitectures = ['amd64', 'arm64'] as const;

/**
 * The lab's base layer: busybox as /bin/busybox plus its applet links, for whatever TARGETARCH buildx
 * builds. Append your own instructions (RUN runs under QEMU for arm64).
 */
export const busyboxBase = [
  'FROM scratch',
  'ARG TARGETARCH',
  'COPY ${TARGETARCH}/busybox /bin/busybox',
  'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
].join('\n');

/** A small image that records where it was built and prints it: `built on aarch64` for linux/arm64. */
export const busyboxDockerfile = [
  busyboxBase,
  'RUN echo "built on $(uname -m)" > /built.txt',
  'CMD ["/bin/sh", "-c", "cat /built.txt"]',
  '',
].join('\n');

export interface BuildContext {
  dir: string;
  dockerfile: string;
  remove(): void;
}

export interface BuildContextOptions {
  /** Dockerfile text; defaults to busyboxDockerfile */
  dockerfile?: string;
  /** more files of the context, by path relative to it */
  files?: Record<string, string | Buffer>;
  lab?: Lab;
}

/**
 * A temp dir holding `amd64/busybox`, `arm64/busybox`, the Dockerfile and any extra files.
 * Call remove() when done (e.g. in an after hook).
 */
export function makeBuildContext(options: BuildContextOptions = {}): BuildContext {
  const lab = options.lab ?? readLab();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lab-context-'));
  for (const architecture of busyboxArchitectures) {
    const target = path.join(dir, architecture, 'busybox');
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(path.join(lab.baseDir, architecture, 'busybox'), target);
    chmodSync(target, 0o755);
  }
  for (const [relative, content] of Object.entries(options.files ?? {})) {
    const target = path.join(dir, relative);
    if (!target.startsWith(dir + path.sep)) throw new Error(`context file ${relative} is outside the context`);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
  const dockerfile = path.join(dir, 'Dockerfile');
  writeFileSync(dockerfile, options.dockerfile ?? busyboxDockerfile);
  return { dir, dockerfile, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
