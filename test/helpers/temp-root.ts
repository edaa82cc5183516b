// Required before the unit test files load: every temporary file or directory a unit test makes (through
// os.tmpdir(), also in child processes) lands in one directory of this run, removed at the end, so repeated runs
// leave /tmp as it was.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const previous = process.env.TMPDIR;
const root = mkdtempSync(path.join(os.tmpdir(), 'unit-tests-'));
process.env.TMPDIR = root;

export const mochaHooks = {
  afterAll(): void {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  },
};
