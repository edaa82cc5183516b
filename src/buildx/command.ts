// The `docker buildx build` command line, built by one pure function from the request and the builder's abilities,
// so every combination of inputs is a row in a table test (build-push-action's context.test.ts is the model).
import { formatPlatform, type Platform } from '../platform/platform';
import type { Attestations, BuildArg, BuildSecret, CacheMode, ProvenanceMode } from './options';
import { ANNOTATIONS_SINCE, ATTESTATIONS_SINCE, hasAnnotationFlag, hasAttestationFlags } from './capabilities';

export interface BuildRequest {
  registry: string;
  repository: string;
  tags: string[];
  dockerfile: string;
  context: string;
  platforms: Platform[];
  buildArgs: BuildArg[];
  secrets: BuildSecret[];
  target?: string;
  /** In the order they are passed; pipeline labels first, user labels over them. */
  labels: Map<string, string>;
  /** OCI annotations for what is pushed (options.ts pipelineAnnotations): the pipeline's, the user's over them. */
  annotations: Map<string, string>;
  /** The user wrote the annotations input: a builder that cannot carry them warns, and ACR Tasks makes an index for one platform. */
  annotationsGiven?: boolean;
  push: boolean;
  cache: CacheMode;
  /** Used with cache 'registry'. */
  cacheRef: string;
  /** Where `--cache-from` reads the registry cache when not from cacheRef: its digest, when quarantine hides the tag (cache.ts). */
  cacheFrom?: string;
  attestations: Attestations;
  /** Provenance mode=min or mode=max (with attestations other than none). */
  provenanceMode?: ProvenanceMode;
  /** The SBOM generator image; undefined for BuildKit's default (docker/buildkit-syft-scanner). */
  sbomGenerator?: string;
  /** The builder to pass as --builder (a named one, or the temporary one made for an endpoint). */
  builder?: string;
  extraArguments: string[];
}

/** What the builder can do, found by probing it (capabilities.ts). */
export interface BuilderCapabilities {
  /** buildx's own version, e.g. 0.13.1. */
  buildxVersion: string;
  /**
   * The docker driver keeps its result in the daemon's image store; the task pushes it from there with `docker push`.
   * (Its exporter's own push reads the pushed tag back, which ACR's quarantine hides from a push-only identity.)
   */
  pushFromDaemon: boolean;
  /** The docker driver without the containerd image store builds one platform at a time, exports no registry cache and no attestations. */
  multiPlatform: boolean;
  cacheExport: boolean;
  attestations: boolean;
  /** Annotations need OCI media types, which the classic image store does not keep (docker push sends Docker manifests). */
  annotations: boolean;
}

/** One invocation of `docker buildx build`. */
export interface BuildStep {
  platforms: Platform[];
  /** Full references to push as; empty for an unpushed build. */
  tags: string[];
  push: boolean;
  /** Export the build cache (only when the result is pushed: a build that pushes nothing writes nothing). */
  exportCache: boolean;
  metadataFile: string;
}

export interface BuildCommand {
  args: string[];
  /** Environment the command needs on top of the job's. */
  env: Record<string, string>;
  /** Inputs dropped because this builder cannot honour them (warned, not failed). */
  warnings: string[];
}

export function imageName(request: Pick<BuildRequest, 'registry' | 'repository'>): string {
  return `${request.registry}/${request.repository}`;
}

export function buildCommand(request: BuildRequest, step: BuildStep, capabilities: BuilderCapabilities): BuildCommand {
  const args = ['buildx', 'build'];
  const env: Record<string, string> = {};
  const warnings: string[] = [];
  if (request.builder) args.push('--builder', request.builder);
  args.push('--progress', 'plain');
  args.push('--file', request.dockerfile);
  args.push('--platform', step.platforms.map(formatPlatform).join(','));
  for (const tag of step.tags) args.push('--tag', tag);
  if (request.target) args.push('--target', request.target);
  for (const arg of request.buildArgs) args.push('--build-arg', `${arg.name}=${arg.value}`);
  for (const secret of request.secrets) {
    args.push('--secret', secret.kind === 'env' ? `id=${secret.id},env=${secret.variable}` : `id=${secret.id},src=${secret.path}`);
  }
  for (const [key, value] of request.labels) args.push('--label', `${key}=${value}`);

  if (request.cache === 'registry') {
    args.push('--cache-from', `type=registry,ref=${request.cacheFrom ?? request.cacheRef}`);
    if (step.exportCache) {
      if (capabilities.cacheExport) args.push('--cache-to', `type=registry,ref=${request.cacheRef},mode=max`);
      else {
        warnings.push(
          "this builder (docker driver without the containerd image store) cannot export a registry cache; the cache is kept inline in the image instead. Turn on the containerd image store or use a docker-container builder for cache 'registry'.",
        );
        args.push('--cache-to', 'type=inline');
      }
    }
  } else if (request.cache === 'inline') {
    // The inline cache lives in pushed images: reuse it from images with the same tags (e.g. latest, a branch tag).
    for (const tag of request.tags) args.push('--cache-from', `type=registry,ref=${imageName(request)}:${tag}`);
    if (step.exportCache) args.push('--cache-to', 'type=inline');
  }

  const attestationFlags = hasAttestationFlags(capabilities.buildxVersion);
  let attested = false;
  if (request.attestations === 'none') {
    // Without these BuildKit adds a provenance attestation, which turns a single-platform push into an index.
    if (attestationFlags) args.push('--provenance=false', '--sbom=false');
    env.BUILDX_NO_DEFAULT_ATTESTATIONS = '1';
  } else if (!capabilities.attestations) {
    warnings.push(
      `this builder (docker driver without the containerd image store) cannot attach attestations; '${request.attestations}' was dropped.`,
    );
    if (attestationFlags) args.push('--provenance=false', '--sbom=false');
    env.BUILDX_NO_DEFAULT_ATTESTATIONS = '1';
  } else if (!attestationFlags) {
    warnings.push(
      `buildx ${capabilities.buildxVersion} cannot attach attestations (${ATTESTATIONS_SINCE} or later can); '${request.attestations}' was dropped.`,
    );
  } else {
    attested = true;
    args.push('--attest', `type=provenance,mode=${request.provenanceMode ?? 'min'}`);
    if (request.attestations === 'provenance+sbom')
      args.push('--attest', request.sbomGenerator ? `type=sbom,generator=${request.sbomGenerator}` : 'type=sbom');
  }

  if (request.push && request.annotations.size > 0) {
    const dropped = (why: string) => {
      if (request.annotationsGiven)
        warnings.push(`${why}; the annotations (${[...request.annotations.keys()].join(', ')}) were not added.`);
    };
    if (!capabilities.annotations)
      dropped(
        "this builder (docker driver without the containerd image store) pushes Docker manifests, which carry no annotations. Turn on the containerd image store or use a docker-container builder for 'annotations'",
      );
    else if (!hasAnnotationFlag(capabilities.buildxVersion))
      dropped(`buildx ${capabilities.buildxVersion} cannot add annotations (${ANNOTATIONS_SINCE} or later can)`);
    else {
      // OCI media types: a Docker manifest or list has no annotations, and BuildKit drops them from one without a word.
      // BuildKit makes an index for several platforms or attestations; one plain image has only its manifest.
      args.push('--output', 'type=image,oci-mediatypes=true');
      const where = step.platforms.length > 1 || attested ? ['index', 'manifest'] : ['manifest'];
      for (const level of where) for (const [key, value] of request.annotations) args.push('--annotation', `${level}:${key}=${value}`);
    }
  }

  args.push('--metadata-file', step.metadataFile);
  if (step.push) args.push('--push');
  args.push(...request.extraArguments);
  args.push(request.context);
  return { args, env, warnings };
}

/** The tag a single platform's image is pushed under before the index joins them: <tag>-linux-arm64. */
export function platformTag(tag: string, platform: Platform): string {
  const suffix = formatPlatform(platform).replace(/\//g, '-');
  const trimmed = tag.slice(0, Math.max(1, 128 - suffix.length - 1));
  return `${trimmed}-${suffix}`;
}

/** `docker buildx imagetools create`: one index over per-platform images already pushed, under every tag. */
export function imagetoolsCreateArgs(options: { builder?: string; tags: string[]; sources: string[] }): string[] {
  const args = ['buildx', 'imagetools', 'create'];
  if (options.builder) args.push('--builder', options.builder);
  args.push('--progress', 'plain');
  for (const tag of options.tags) args.push('--tag', tag);
  args.push(...options.sources);
  return args;
}
