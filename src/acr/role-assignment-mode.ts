// The registry's role-assignment mode, read from Resource Manager so the permission preflight names only the roles
// of that mode: the registry's `properties.roleAssignmentMode`, "LegacyRegistryPermissions" or
// "AbacRepositoryPermissions" (api-version 2025-11-01, see ROLE_ASSIGNMENT_MODE_API_VERSION in src/azure/arm.ts;
// learn.microsoft.com/azure/container-registry/container-registry-rbac-abac-repository-permissions). It is asked only
// when the preflight has found a permission missing (a run that may do everything never pays for it), once, without
// retries and with a short timeout. It never fails a run: whatever goes wrong leaves the mode unknown (both kinds of
// role are named) with a debug line saying why.
import { ArmClient, ArmError, type ArmTarget, ROLE_ASSIGNMENT_MODE_API_VERSION } from '../azure/arm';
import { type HttpClient, networkErrorCode } from '../http/client';
import type { Logger } from '../log';
import type { ModeKnowledge, RoleAssignmentMode } from './preflight';

/** Resource Manager's values of `roleAssignmentMode` (the SDKs' KnownRoleAssignmentMode), lower-cased. */
const ARM_MODES: Record<string, RoleAssignmentMode> = {
  legacyregistrypermissions: 'legacy',
  abacrepositorypermissions: 'abac',
};

/** How long the one request may take: it only improves an error message. */
export const MODE_LOOKUP_TIMEOUT_MS = 10_000;

export interface ModeLookupOptions {
  http?: HttpClient;
  logger?: Logger;
  timeoutMs?: number;
}

/** The mode of the registry with this login server, as Resource Manager says it; unknown (with the reason) otherwise. */
export async function roleAssignmentModeFromArm(
  registry: string,
  target: ArmTarget,
  options: ModeLookupOptions = {},
): Promise<ModeKnowledge> {
  const { logger } = options;
  const arm = new ArmClient({
    ...target,
    http: options.http,
    logger,
    retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
    timeoutMs: options.timeoutMs ?? MODE_LOOKUP_TIMEOUT_MS,
  });
  try {
    const found = await arm.findRegistry(registry, ROLE_ASSIGNMENT_MODE_API_VERSION);
    if (!found) {
      logger?.debug(`Resource Manager lists no registry ${registry} in subscription ${target.subscriptionId} to this identity.`);
      return { reason: `Resource Manager shows no registry ${registry} to the identity in subscription ${target.subscriptionId}` };
    }
    const mode = ARM_MODES[(found.roleAssignmentMode ?? '').toLowerCase()];
    if (!mode) {
      logger?.debug(`Resource Manager gave ${found.id} the roleAssignmentMode '${found.roleAssignmentMode ?? ''}'.`);
      return {
        reason: `Resource Manager did not say (roleAssignmentMode ${found.roleAssignmentMode ? `'${found.roleAssignmentMode}'` : 'absent'})`,
      };
    }
    logger?.debug(`Resource Manager: ${found.id} is in ${found.roleAssignmentMode} mode.`);
    return { mode, reason: `Resource Manager: ${found.roleAssignmentMode}` };
  } catch (error) {
    logger?.debug(
      `The role-assignment mode of ${registry} could not be read from Resource Manager: ${error instanceof Error ? error.message : String(error)}`,
    );
    return { reason: `Resource Manager could not be read (${shortReason(error)})` };
  }
}

function shortReason(error: unknown): string {
  if (error instanceof ArmError) return `${error.status}${error.code ? ` ${error.code}` : ''}`;
  const code = networkErrorCode(error);
  if (code) return code;
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'no answer in time';
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`.split('\n')[0].slice(0, 120);
}
