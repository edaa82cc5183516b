// The lab's SBOM generator image (test/lab/sbom-generator/): built once for linux/amd64 and linux/arm64 in the lab's
// engine and pushed to the loopback registry, under a tag that changes with its files. BuildForPlatform's
// `sbomGenerator` input names it in the tests, because the lab cannot reach docker/buildkit-syft-scanner on Docker Hub.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeBuildContext } from './base';
import { backingDigest, type Lab } from './lab';

const dir = path.join(__dirname, 'sbom-generator');

/** The generator's reference on the loopback registry, built and pushed when it is not there yet. */
export async function ensureSbomGenerator(lab: Lab): Promise<string> {
  const dockerfile = readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
  const script = readFileSync(path.join(dir, 'generate.sh'));
  const tag = createHash('sha256').update(dockerfile).update(script).digest('hex').slice(0, 12);
  const repository = 'lab/sbom-generator';
  const reference = `${lab.backingRegistry}/${repository}:${tag}`;
  if (await backingDigest(lab, repository, tag)) return reference;
  const context = makeBuildContext({ lab, dockerfile, files: { 'generate.sh': script } });
  try {
    execFileSync(
      'docker',
      [
        'buildx',
        'build',
        '--platform',
        'linux/amd64,linux/arm64',
        '--provenance=false',
        '--sbom=false',
        '--tag',
        reference,
        '--push',
        context.dir,
      ],
      { stdio: 'inherit' },
    );
  } finally {
    context.remove();
  }
  return reference;
}
