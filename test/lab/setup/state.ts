// What lab:up changed on the machine that lab:down must undo (and nothing else): .lab/state.json.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { labRoot } from '../lab';

const stateFile = path.join(labRoot, 'state.json');

export interface BinfmtRegistration {
  entry: string;
  /** the interpreter lab:up registered: lab:down leaves an entry that now runs another one */
  interpreter: string;
  /** where the rule came from: a binfmt.d file, update-binfmts, or the lab's own emulator */
  how: string;
}

export interface LabState {
  /** lab:up mounted binfmt_misc (it was not mounted before) */
  mountedBinfmt: boolean;
  /** binfmt entries lab:up registered (they were not registered before) */
  registeredBinfmt: BinfmtRegistration[];
  /** files lab:up put on the host outside .lab (the buildx plugin where the host's docker CLI finds it) */
  addedFiles: string[];
  /** the CA changed and dockerd has not been restarted since (survives a failed lab:up) */
  dockerdRestartPending: boolean;
}

export function readState(): LabState {
  const empty: LabState = { mountedBinfmt: false, registeredBinfmt: [], addedFiles: [], dockerdRestartPending: false };
  if (!existsSync(stateFile)) return empty;
  try {
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as Partial<LabState> & {
      registeredBinfmt?: Array<BinfmtRegistration | string>;
    };
    // an earlier lab recorded entry names only (registered with update-binfmts)
    const registeredBinfmt = (saved.registeredBinfmt ?? []).map((known) =>
      typeof known === 'string' ? { entry: known, interpreter: '', how: 'update-binfmts' } : known,
    );
    return { ...empty, ...saved, registeredBinfmt };
  } catch {
    return empty;
  }
}

export function writeState(state: LabState): void {
  mkdirSync(labRoot, { recursive: true });
  writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
}
