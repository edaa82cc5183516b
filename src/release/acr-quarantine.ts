// The release's view of ACR: src/acr/client.ts's AcrClient reduced to reading and writing quarantineState.
import { type AcrClient, quarantineStateOf } from '../acr/client';
import type { QuarantineApi } from './release';

export function acrQuarantineApi(acr: Pick<AcrClient, 'getManifestAttributes' | 'updateManifestAttributes'>): QuarantineApi {
  return {
    readState: async (repository, digest) => quarantineStateOf(await acr.getManifestAttributes(repository, digest)),
    writeState: async (repository, digest, state, details) => {
      await acr.updateManifestAttributes(repository, digest, { quarantineState: state, quarantineDetails: details });
    },
  };
}
