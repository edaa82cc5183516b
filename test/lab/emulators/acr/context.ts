// What the ACR handlers share, and the quarantine rules that are pure functions of policy and record.
import type { LabConfig } from '../config';
import type { AcrAuth } from './auth';
import type { Backing } from './proxy';
import type { AcrPolicies, AcrStore, ManifestRecord, QuarantineState, RegistryPolicy } from './store';

export interface AcrContext {
  config: LabConfig;
  store: AcrStore;
  policies: AcrPolicies;
  auth: AcrAuth;
  backing(): Backing;
}

export const digestPattern = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigest(reference: string): boolean {
  return digestPattern.test(reference);
}

/**
 * A manifest is blocked when the registry's quarantine policy is on and its record is not Passed
 * (fresh or Failed). Manifests without a record (pushed around the emulator) are never blocked.
 */
export function isBlocked(policy: RegistryPolicy, record: ManifestRecord | undefined): boolean {
  return policy.quarantine && record !== undefined && record.quarantineState !== 'Passed';
}

/** The quarantineState /acr/v1 shows: none for a fresh one when the policy's freshState is `absent`. */
export function shownQuarantineState(policy: RegistryPolicy, record: ManifestRecord | undefined): QuarantineState | undefined {
  if (!record) return undefined;
  if (record.quarantineState === 'Quarantined' && policy.freshState === 'absent') return undefined;
  return record.quarantineState;
}
