// The build's section of the run's Summary tab: what was pushed, for which platforms, how the cache helped, how long.
import type { CheckedFile, ProgramCheck } from '../image/program';
import type { Verification } from '../image/verify';
import { formatPlatform, type Platform } from '../platform/platform';
import type { CacheMode } from './options';
import type { CacheUse } from './metadata';

export interface SummaryFacts {
  imageName: string;
  digest?: string;
  tags: string[];
  platforms: Platform[];
  mode: 'single' | 'per-platform';
  cache: { mode: CacheMode; ref?: string; use: CacheUse };
  verification?: Verification;
  verifySkipped?: string;
  buildMs: number;
  pushMs?: number;
  verifyMs?: number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function describeFile(f: CheckedFile): string {
  if (f.kind === 'script') return `\`${f.path}\` (script, \`#!${f.interpreter}\`)`;
  return `\`${f.path}\` (ELF ${f.elf.machineName}${f.elf.interpreter ? '' : f.elf.programHeadersRead ? ', static' : ''})`;
}

export function describeProgram(program: ProgramCheck | undefined): string {
  if (!program) return 'not checked';
  if (program.problem) return `**${program.problem}**`;
  if (!program.argv) return 'no Entrypoint/Cmd';
  const unique = program.files.filter((f, i, all) => all.findIndex((g) => g.path === f.path) === i);
  return unique.map(describeFile).join(' → ') || 'nothing to read';
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function buildSummary(facts: SummaryFacts): string {
  const lines: string[] = [];
  const names = facts.platforms.map(formatPlatform).join(', ');
  lines.push(`### ${facts.imageName} for ${names}`, '');
  lines.push('| | |', '|---|---|');
  lines.push(`| Image | ${facts.digest ? `\`${facts.imageName}@${facts.digest}\`` : 'not pushed'} |`);
  lines.push(`| Tags | ${facts.tags.map((t) => `\`${t}\``).join(', ')} |`);
  const cacheText =
    facts.cache.mode === 'none'
      ? 'off'
      : `${facts.cache.mode}${facts.cache.ref ? ` (\`${facts.cache.ref}\`)` : ''}: ${facts.cache.use.cached} of ${facts.cache.use.steps} steps from the cache`;
  lines.push(`| Cache | ${cell(cacheText)} |`);
  if (facts.mode === 'per-platform')
    lines.push('| Build | one platform at a time, joined into one index (docker driver without the containerd image store) |');
  const verified = facts.verification
    ? facts.verification.problems.length
      ? `**failed**: ${cell(facts.verification.problems.join('; '))}`
      : `passed: the registry holds exactly ${names}${facts.verification.attestations ? ` (+${facts.verification.attestations} attestation manifests)` : ''}`
    : (facts.verifySkipped ?? 'skipped');
  lines.push(`| Platform proof | ${verified} |`);
  const parts = [`${formatDuration(facts.buildMs)} build`];
  if (facts.pushMs !== undefined) parts.push(`${formatDuration(facts.pushMs)} push`);
  if (facts.verifyMs !== undefined) parts.push(`${formatDuration(facts.verifyMs)} verification`);
  const duration = parts.join(', ');
  lines.push(`| Duration | ${duration} |`);
  if (facts.verification?.platforms.length) {
    lines.push('', '| Platform | Manifest | Size | Program that starts |', '|---|---|---|---|');
    for (const p of facts.verification.platforms) {
      lines.push(
        `| ${formatPlatform(p.platform)} | \`${p.manifestDigest}\` | ${formatBytes(p.size)} | ${cell(describeProgram(p.program))} |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
