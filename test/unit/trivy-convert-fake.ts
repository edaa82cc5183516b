// `trivy convert --format template` for the fake trivys of the unit tests: the lab stand-in's renderer over the
// report file the fake scan wrote, so the task's findings go through the same template a real trivy renders.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadTemplate, renderTemplate } from '../lab/trivy/src/template';

/** Renders and writes the findings when args are a template convert; false for any other trivy call. */
export function convertTemplate(args: readonly string[]): boolean {
  if (args[0] !== 'convert' || args[args.indexOf('--format') + 1] !== 'template') return false;
  const report = JSON.parse(readFileSync(args[args.length - 1], 'utf8')) as { Results?: unknown[] };
  writeFileSync(args[args.indexOf('--output') + 1], renderTemplate(loadTemplate(args[args.indexOf('--template') + 1]), report.Results));
  return true;
}
