// Progress lines of lab:up / lab:down: to stdout and appended to .lab/logs/lab.log. Never pass a secret here.
import { appendFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { labRoot } from '../lab';

export const logsDir = path.join(labRoot, 'logs');
const cliLog = path.join(logsDir, 'lab.log');

export function say(message: string): void {
  process.stdout.write(`${message}\n`);
  try {
    mkdirSync(logsDir, { recursive: true });
    appendFileSync(cliLog, `${new Date().toISOString()} ${message}\n`);
  } catch {
    // the log file is a convenience; stdout already has the line
  }
}
