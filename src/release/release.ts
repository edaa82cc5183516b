// Writes the decision into ACR's quarantine and proves it took: PATCH quarantineState (+ quarantineDetails) per
// manifest digest, then read the attributes back. The registry client retries 429/5xx a bounded number of times;
// what still fails leaves the image quarantined and is reported with the reason.
//
// Order matters for an index, whose records are separate (the lab's ACR emulator keeps one per digest; real ACR
// leaves it open): to release, the platform images and attestations go first and the index last, so nobody can
// pull the index while a child is still blocked; to reject, the index goes first so it is blocked at once. Evidence
// referrers (the scan's reports this task attached, quarantined like any pushed manifest) are released before all.
//
// A digest already in the decided state is not written again (re-running is safe; the audit log shows no
// second PATCH). A digest that is already Passed is never set to Failed by this task: it may be deployed, and
// revoking a release is a person's decision. The task then fails and says so.
import type { Logger } from '../log';

export type Decision = 'Passed' | 'Failed';

/** What the release needs from ACR's /acr/v1 API (src/acr/client.ts provides it). */
export interface QuarantineApi {
  /** quarantineState of a manifest as /acr/v1 shows it; undefined when the registry shows none. */
  readState(repository: string, digest: string): Promise<string | undefined>;
  /** PATCH quarantineState + quarantineDetails (a JSON string). */
  writeState(repository: string, digest: string, state: Decision, details: string): Promise<void>;
}

export interface ReleaseTarget {
  digest: string;
  kind: 'index' | 'image' | 'attestation' | 'referrer';
  /** e.g. linux/arm64, for the log */
  label: string;
}

export interface TargetOutcome extends ReleaseTarget {
  before: string | undefined;
  after: string | undefined;
  /** written: PATCHed and read back; unchanged: already in the decided state; kept: Passed left as is. */
  action: 'written' | 'unchanged' | 'kept-passed';
}

export interface ReleaseOutcome {
  decision: Decision;
  targets: TargetOutcome[];
  /** The state of the digest that was asked for (the index for a multi-platform image). */
  state: string | undefined;
  /** Digests that were Passed before and stay Passed although this scan rejected them. */
  keptPassed: string[];
}

export class ReleaseError extends Error {
  constructor(
    message: string,
    /** How far the release got: digests written before the failure. */
    readonly written: TargetOutcome[],
  ) {
    super(message);
    this.name = 'ReleaseError';
  }
}

export interface ReleaseOptions {
  api: QuarantineApi;
  registry: string;
  repository: string;
  /** The digest asked for first, then the rest (an index's children); the order is chosen here. */
  targets: ReleaseTarget[];
  decision: Decision;
  details: string;
  logger: Logger;
  /** Explains a failed call (e.g. which role is missing); defaults to the error's message. */
  explain?: (error: unknown, action: 'read' | 'write', target: ReleaseTarget) => string;
}

export function releaseOrder(targets: readonly ReleaseTarget[], decision: Decision): ReleaseTarget[] {
  const rank =
    decision === 'Passed' ? { referrer: 0, image: 1, attestation: 2, index: 3 } : { index: 0, image: 1, attestation: 2, referrer: 3 };
  return [...targets].sort((a, b) => rank[a.kind] - rank[b.kind]);
}

export async function applyDecision(options: ReleaseOptions): Promise<ReleaseOutcome> {
  const { api, repository, decision, logger } = options;
  const explain = options.explain ?? ((error: unknown) => (error instanceof Error ? error.message : String(error)));
  const done: TargetOutcome[] = [];
  const name = (t: ReleaseTarget) => `${options.registry}/${repository}@${t.digest} (${t.label})`;

  for (const target of releaseOrder(options.targets, decision)) {
    let before: string | undefined;
    try {
      before = await api.readState(repository, target.digest);
    } catch (error) {
      throw new ReleaseError(`Could not read the quarantine state of ${name(target)}: ${explain(error, 'read', target)}`, done);
    }
    if (before === decision) {
      logger.info(`${name(target)} is already ${decision}; not written again.`);
      done.push({ ...target, before, after: before, action: 'unchanged' });
      continue;
    }
    if (before === 'Passed' && decision === 'Failed') {
      logger.warn(
        `${name(target)} was released (Passed) before this run. This task does not revoke a release; it stays Passed although this scan rejects it.`,
      );
      done.push({ ...target, before, after: before, action: 'kept-passed' });
      continue;
    }
    try {
      await api.writeState(repository, target.digest, decision, options.details);
    } catch (error) {
      const now = await api.readState(repository, target.digest).catch(() => undefined);
      const state = now === undefined ? 'unknown' : now;
      const consequence = decision === 'Passed' && now !== 'Passed' ? ' It stays quarantined.' : '';
      throw new ReleaseError(
        `Setting ${name(target)} to ${decision} failed: ${explain(error, 'write', target)} The registry now shows quarantineState ${state}.${consequence}${releasedSoFar(done)}`,
        done,
      );
    }
    let after: string | undefined;
    try {
      after = await api.readState(repository, target.digest);
    } catch (error) {
      throw new ReleaseError(
        `${name(target)} was set to ${decision}, but reading it back failed: ${explain(error, 'read', target)}${releasedSoFar(done)}`,
        done,
      );
    }
    if (after !== decision) {
      throw new ReleaseError(
        `${name(target)} was set to ${decision}, but the registry reads back quarantineState ${after ?? '(none)'}; the state did not take.${releasedSoFar(done)}`,
        done,
      );
    }
    logger.info(`${name(target)}: quarantineState ${before ?? '(none)'} -> ${after} (read back).`);
    done.push({ ...target, before, after, action: 'written' });
  }

  const first = options.targets[0];
  return {
    decision,
    targets: done,
    state: done.find((t) => t.digest === first?.digest)?.after,
    keptPassed: done.filter((t) => t.action === 'kept-passed').map((t) => t.digest),
  };
}

function releasedSoFar(done: readonly TargetOutcome[]): string {
  const written = done.filter((t) => t.action === 'written');
  if (written.length === 0) return '';
  return ` Already written in this run: ${written.map((t) => `${t.label} ${t.after}`).join(', ')}; a re-run completes the rest.`;
}
