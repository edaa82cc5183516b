import { strict as assert } from 'node:assert';
import { type BenchResult, budgets, formatBudgets } from '../../bench/budgets';

const summary = (median: number) => ({ runs: 15, median, min: median, max: median, iqrHalf: 0 });
const result = (benchmark: string, data: Record<string, unknown>): BenchResult => ({ benchmark, measuredAt: '2026-12-07T00:00:00Z', data });

describe('bench budgets (issue 13)', () => {
  const pkg = result('package', {
    vsixBytes: 1024 * 1024 + 1,
    'node20.bare': summary(90),
    'node20.EnsureDocker': summary(140),
    'node20.BuildForPlatform': summary(141),
    'node20.ScanAndRelease': summary(100),
    'node24.bare': summary(110),
  });

  it('judges each start-up against bare node of the same Node version, + 50 ms at most', () => {
    const list = budgets({ package: pkg });
    const verdict = (name: string) => list.find((b) => b.name === name);
    assert.equal(verdict('EnsureDocker first log line, node20')?.met, true);
    assert.equal(verdict('EnsureDocker first log line, node20')?.figure, '+50 ms (140 ms beside 90 ms)');
    assert.equal(verdict('BuildForPlatform first log line, node20')?.met, false);
    assert.equal(verdict('ScanAndRelease first log line, node24')?.met, undefined, 'a task the run did not measure');
  });

  it('judges the .vsix against 1024 KiB', () => {
    assert.equal(budgets({ package: pkg }).find((b) => b.name === '.vsix size')?.met, false);
    assert.equal(budgets({ package: result('package', { vsixBytes: 1024 * 1024 }) }).find((b) => b.name === '.vsix size')?.met, true);
  });

  it('needs both time and memory under budget for the scan, on the full report', () => {
    const scan = (ms: number, mb: number) =>
      budgets({
        'scan-overhead': result('scan-overhead', {
          cases: [
            { name: 'compact', phases: { total: summary(1) }, memory: { maxRssMb: 1 } },
            { name: 'full', phases: { total: summary(ms) }, memory: { maxRssMb: mb } },
          ],
        }),
      }).find((b) => b.name.startsWith('ScanAndRelease work'));
    assert.equal(scan(299, 149)?.met, true);
    assert.equal(scan(299, 150)?.met, false);
    assert.equal(scan(300, 100)?.met, false);
    assert.equal(scan(775, 168)?.figure, '775 ms, 168 MB');
  });

  it('judges EnsureDocker against half its floor, and says which budgets this run did not measure', () => {
    const list = budgets({ 'ensure-docker': result('ensure-docker', { ratio: 0.51 }) });
    assert.equal(list.find((b) => b.name.startsWith('EnsureDocker with'))?.met, false);
    const lines = formatBudgets(list);
    assert.ok(
      lines.some((l) => /EnsureDocker with everything present \/ its floor\s+0\.51x {3}target <= 0\.5x: NOT met$/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /\.vsix size\s+not measured in this run$/.test(l)),
      lines.join('\n'),
    );
  });
});
