// overview.md may quote only figures that `npm run bench` printed: every measured quantity in its figures section
// must stand in a committed benchmark result (bench/results/, copied from .bench/ after a run).
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

export function quotedQuantities(markdown: string): string[] {
  const section = /<!-- figures -->([\s\S]*?)<!-- \/figures -->/.exec(markdown)?.[1] ?? '';
  return [...section.matchAll(/(\d[\d,]*(?:\.\d+)?) ?(ms|s|MB|KiB|x)\b/g)].map((m) => `${m[1].replace(/,/g, '')} ${m[2]}`);
}

describe('figures on the Marketplace page', () => {
  const results = readdirSync(path.join(root, 'bench', 'results'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => readFileSync(path.join(root, 'bench', 'results', f), 'utf8'))
    .join('\n')
    // "0.77x" and "25x faster" are printed without a space before the unit
    .replace(/(\d)(x)\b/g, '$1 $2');
  const quoted = quotedQuantities(readFileSync(path.join(root, 'overview.md'), 'utf8'));

  it('quote something', () => assert.ok(quoted.length >= 10, `only ${quoted.length} figures found`));

  for (const figure of quoted) {
    it(`"${figure}" was printed by a benchmark`, () => assert.ok(results.includes(figure), `${figure} is in no file of bench/results/`));
  }

  it('finds a figure that no benchmark printed', () => {
    assert.deepEqual(quotedQuantities('<!-- figures -->took 123 ms and 4.5 MB<!-- /figures -->'), ['123 ms', '4.5 MB']);
    assert.ok(!results.includes('99999 ms'));
  });
});
