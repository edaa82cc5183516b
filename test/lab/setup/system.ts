// Machine configuration the lab owns: its tagged /etc/hosts lines.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { say } from './log';

const hostsFile = '/etc/hosts';
export const hostsTag = '# container-release-lab';

/** Points every lab name at 127.0.0.1 with tagged lines; leaves every other line alone. True when it wrote. */
export function ensureHosts(names: string[]): boolean {
  const current = existsSync(hostsFile) ? readFileSync(hostsFile, 'utf8') : '';
  const kept = current.split('\n').filter((line) => !line.endsWith(hostsTag));
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  const wanted = [...kept, ...names.map((name) => `127.0.0.1 ${name} ${hostsTag}`)].join('\n') + '\n';
  if (wanted === current) return false;
  if (names.length > 0) say(`hosts: mapping ${names.join(', ')} to 127.0.0.1`);
  writeFileSync(hostsFile, wanted); // in place: /etc/hosts may be a bind mount that a rename would break
  return true;
}

/** Removes the tagged lines (purge). */
export function removeHosts(): void {
  if (ensureHosts([])) say('hosts: removed the lab names');
}
