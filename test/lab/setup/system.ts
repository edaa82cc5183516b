// Machine configuration the lab owns: /etc/hosts lines and docker's daemon.json.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { say } from './log';

const hostsFile = '/etc/hosts';
export const hostsTag = '# container-release-lab';
const daemonJsonFile = '/etc/docker/daemon.json';

/** Points every lab name at 127.0.0.1 with tagged lines; leaves every other line alone. True when it wrote. */
export function ensureHosts(names: string[]): boolean {
  const current = existsSync(hostsFile) ? readFileSync(hostsFile, 'utf8') : '';
  const kept = current.split('\n').filter((line) => !line.endsWith(hostsTag));
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  const wanted = [...kept, ...names.map((name) => `127.0.0.1 ${name} ${hostsTag}`)].join('\n') + '\n';
  if (wanted === current) return false;
  say(`hosts: mapping ${names.join(', ')} to 127.0.0.1`);
  writeFileSync(hostsFile, wanted); // in place: /etc/hosts may be a bind mount that a rename would break
  return true;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * containerd image store (multi-platform builds, registry cache export with the docker driver) and no
 * iptables (containers get no NAT route out). Other keys of an existing daemon.json stay. True when it wrote.
 */
export function ensureDaemonJson(): boolean {
  let config: { [key: string]: Json } = {};
  if (existsSync(daemonJsonFile)) {
    const text = readFileSync(daemonJsonFile, 'utf8');
    try {
      const parsed = JSON.parse(text || '{}') as Json;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) config = parsed;
      else throw new Error('not an object');
    } catch (error) {
      throw new Error(`${daemonJsonFile} is not a JSON object (${(error as Error).message}); fix or remove it`);
    }
  }
  const before = JSON.stringify(config);
  const features = config.features && typeof config.features === 'object' && !Array.isArray(config.features) ? config.features : {};
  config.features = { ...features, 'containerd-snapshotter': true };
  config.iptables = false;
  config.ip6tables = false;
  if (JSON.stringify(config) === before) return false;
  say('docker: writing /etc/docker/daemon.json (containerd snapshotter, iptables off)');
  mkdirSync('/etc/docker', { recursive: true });
  writeFileSync(daemonJsonFile, `${JSON.stringify(config, null, 2)}\n`);
  return true;
}
