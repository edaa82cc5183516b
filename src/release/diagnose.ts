// Turns a registry's error answer into what the user must change: which role the identity lacks, or that the
// digest is not there. ACR's quarantine answers (Azure/acr docs/preview/quarantine): a pull by digest of a
// quarantined image without quarantine rights is refused with "The operation is disallowed." (403 or 405),
// quarantined tags look absent (404), and changing quarantineState needs AcrQuarantineWriter.
import { HttpError } from '../http/client';
import { RegistryError } from '../registry/errors';

export type RegistryAction = 'pull' | 'resolve-tag' | 'read-state' | 'write-state';

export function explainRegistryError(error: unknown, registry: string, action: RegistryAction, what: string): string {
  if (!(error instanceof HttpError)) return error instanceof Error ? error.message : String(error);
  const code = error instanceof RegistryError ? error.code : undefined;
  const said = error instanceof RegistryError ? error.registryMessage : undefined;
  const original = `(${error.status}${code ? ` ${code}` : ''}${said ? `: ${said}` : ''})`;
  const disallowed = /operation is disallowed/i.test(said ?? error.message);

  // A token without metadata_write makes the PATCH fail with 401 (insufficient scope), a role check with 403.
  if (action === 'write-state' && (error.status === 401 || error.status === 403 || disallowed)) {
    return `The identity may not change the quarantine state of ${what} ${original}: give it the AcrQuarantineWriter role on ${registry}.`;
  }
  if ((error.status === 403 || error.status === 405) && disallowed) {
    return `The identity may not read quarantined images in ${registry} ${original}: give it the AcrQuarantineReader role (or AcrQuarantineWriter, which also lets it release) on ${registry}.`;
  }
  if (error.status === 404 && (code === undefined || code === 'MANIFEST_UNKNOWN' || code === 'NAME_UNKNOWN')) {
    if (action === 'resolve-tag') {
      return `The tag ${what} was not found ${original}. It may not exist, or it is quarantined and the identity lacks AcrQuarantineReader; prefer the digest the build step printed.`;
    }
    return `${what} does not exist in ${registry} ${original}, or the identity may not see it (quarantined images are visible only with AcrQuarantineReader or AcrQuarantineWriter). Check the digest: use the one the build step printed (build.imageReference).`;
  }
  if (error.status === 401 || (error.status === 403 && (code === 'DENIED' || code === 'UNAUTHORIZED'))) {
    return `The identity is not allowed to ${action === 'write-state' ? 'write' : 'read'} ${what} ${original}: give it AcrPull and AcrQuarantineReader (AcrQuarantineWriter to release) on ${registry}.`;
  }
  return `${error.message}`;
}
