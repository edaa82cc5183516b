// Release assets served by the lab (https://releases.lab.test from lab.releasesDir). Every other module in
// this folder that exports `prepare(lab)` is loaded and awaited by lab:up; a module that is not there yet is fine.
import { mkdirSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Lab } from '../lab';

export interface ReleaseModule {
  prepare?: (lab: Lab) => Promise<void> | void;
}

export function releaseModules(dir: string = __dirname): string[] {
  return readdirSync(dir)
    .filter((file) => /\.(ts|js)$/.test(file) && !/\.d\.ts$|\.test\.(ts|js)$/.test(file) && !/^index\.(ts|js)$/.test(file))
    .sort()
    .map((file) => path.join(dir, file));
}

/** Runs every module's prepare(lab); the first failure stops lab:up with the module's name. */
export async function prepareReleases(lab: Lab, say: (line: string) => void = console.log): Promise<void> {
  mkdirSync(lab.releasesDir, { recursive: true });
  for (const file of releaseModules()) {
    const name = path.basename(file);
    let loaded: ReleaseModule;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require(file) as ReleaseModule;
    } catch (error) {
      throw new Error(`releases: ${name} does not load: ${(error as Error).message.split('\n')[0]}`);
    }
    if (typeof loaded.prepare !== 'function') {
      say(`releases: ${name} exports no prepare(lab); skipped`);
      continue;
    }
    const started = Date.now();
    try {
      await loaded.prepare(lab);
    } catch (error) {
      throw new Error(`releases: ${name} prepare(lab) failed: ${(error as Error).message}`);
    }
    say(`releases: ${name} ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
}
