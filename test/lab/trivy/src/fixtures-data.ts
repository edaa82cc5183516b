// The trivy report fixtures (../fixtures, Apache-2.0 data from aquasecurity/trivy, see fixtures/SOURCES.md).
// Read from disk when run from source; the bundle replaces this module with the files embedded (build.ts),
// so the packaged `trivy` needs nothing beside itself.
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';

export const fixtureDir = path.resolve(__dirname, '..', 'fixtures');

/** Base name (e.g. "debian-buster") -> the report JSON text. */
export function fixtureTexts(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of readdirSync(fixtureDir).sort()) {
    const match = /^(.+?)\.json(\.golden)?$/.exec(file);
    if (match) out[match[1]] = readFileSync(path.join(fixtureDir, file), 'utf8');
  }
  return out;
}
