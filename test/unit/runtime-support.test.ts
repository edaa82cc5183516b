// The agent runs a task with its Node20_1 handler wherever it has no Node 24: every package that ends up in a bundle
// must declare support for Node 20 (@azure/identity 4.14 moved to Node >= 22, for example; 4.13 is pinned for that).
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

const lock = JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; engines?: { node?: string } }>;
};

/** The lowest Node major a `engines.node` range admits (enough for the `>=x`, `^x`, `x || y` forms packages use). */
export function lowestNodeMajor(range: string): number {
  const majors = range.split('||').map((part) => Number(/(\d+)/.exec(part)?.[1] ?? 0));
  return Math.min(...majors);
}

describe('runtime dependencies and the Node20_1 handler', () => {
  it('reads engine ranges', () => {
    assert.equal(lowestNodeMajor('>=22.0.0'), 22);
    assert.equal(lowestNodeMajor('^18.17.0 || >=20.5.0'), 18);
    assert.equal(lowestNodeMajor('>= 14.17'), 14);
  });

  it('has no runtime package that needs a Node newer than 20', () => {
    const tooNew = Object.entries(lock.packages)
      .filter(([name, entry]) => name && !entry.dev && entry.engines?.node && lowestNodeMajor(entry.engines.node) > 20)
      .map(([name, entry]) => `${name} (${entry.engines!.node})`);
    assert.deepEqual(tooNew, []);
  });
});
