// Parses the logging commands (##vso[area.action key=value;...]message) that a task writes to stdout, with the
// escaping azure-pipelines-task-lib applies (taskcommand.ts) undone.

export interface VsoCommand {
  command: string;
  properties: Record<string, string>;
  message: string;
  line: string;
}

const PREFIX = '##vso[';

function unescapeProperty(s: string): string {
  return s
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%5D/g, ']')
    .replace(/%3B/g, ';')
    .replace(/%AZP25/g, '%');
}

function unescapeMessage(s: string): string {
  return s
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%AZP25/g, '%');
}

/** The agent honours a command anywhere in a line, as long as the line holds the prefix. */
export function parseVsoLine(line: string): VsoCommand | undefined {
  const start = line.indexOf(PREFIX);
  if (start === -1) return undefined;
  const rest = line.slice(start + PREFIX.length);
  const close = rest.indexOf(']');
  if (close === -1) return undefined;
  const head = rest.slice(0, close).trim();
  const space = head.indexOf(' ');
  const command = space === -1 ? head : head.slice(0, space);
  const properties: Record<string, string> = {};
  if (space !== -1) {
    for (const part of head.slice(space + 1).split(';')) {
      const trimmed = part.trim();
      if (!trimmed) continue;
      const eq = trimmed.indexOf('=');
      if (eq === -1) continue;
      properties[trimmed.slice(0, eq).trim()] = unescapeProperty(trimmed.slice(eq + 1));
    }
  }
  return { command, properties, message: unescapeMessage(rest.slice(close + 1)), line };
}

export function parseVsoCommands(stdout: string): VsoCommand[] {
  return stdout
    .split(/\r?\n/)
    .map(parseVsoLine)
    .filter((c): c is VsoCommand => c !== undefined);
}
