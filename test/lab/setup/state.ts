// What lab:up changed on the machine that lab:down must undo (and nothing else): .lab/state.json.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { labRoot } from '../lab';

const stateFile = path.join(labRoot, 'state.json');

export interface LabState {
  /** lab:up mounted binfmt_misc (it was not mounted before) */
  mountedBinfmt: boolean;
  /** binfmt entries lab:up registered (they were not registered before) */
  registeredBinfmt: string[];
  /** the CA or daemon.json changed and dockerd has not been restarted since (survives a failed lab:up) */
  dockerdRestartPending: boolean;
}

export function readState(): LabState {
  const empty: LabState = { mountedBinfmt: false, registeredBinfmt: [], dockerdRestartPending: false };
  if (!existsSync(stateFile)) return empty;
  try {
    return { ...empty, ...(JSON.parse(readFileSync(stateFile, 'utf8')) as Partial<LabState>) };
  } catch {
    return empty;
  }
}

export function writeState(state: LabState): void {
  mkdirSync(labRoot, { recursive: true });
  writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
}
