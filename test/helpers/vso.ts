// Parses the logging commands (##vso[area.action key=value;...]message) a task writes, as the agent does
// (microsoft/azure-pipelines-agent 42bde98: src/Microsoft.VisualStudio.Services.Agent/Command.cs TryParse and
// src/Agent.Sdk/CommandStringConvertor.cs; see test/lab/README.md "The agent's contract"):
// - the first `##vso[` anywhere in the line, up to the first `]` after it;
// - the command name must be exactly `area.event`, else the line is no command;
// - properties split on `;` and then on the first `=`, empty parts dropped, keys neither trimmed nor case-sensitive;
// - property values and the message unescaped alike: %3B ; %0D \r %0A \n %5D ] and then %AZP25 % (DecodePercents
//   defaults to true).

export interface VsoCommand {
  /** `area.event` as written, lower-cased (the agent looks both up case-insensitively). */
  command: string;
  /** Property names lower-cased (the agent's dictionary ignores case). */
  properties: Record<string, string>;
  message: string;
  line: string;
}

const PREFIX = '##vso[';

const escapes: Array<[string, string]> = [
  [';', '%3B'],
  ['\r', '%0D'],
  ['\n', '%0A'],
  [']', '%5D'],
];

export function unescapeCommandValue(escaped: string): string {
  let value = escaped;
  for (const [token, replacement] of escapes) value = value.split(replacement).join(token);
  return value.split('%AZP25').join('%');
}

/** The agent honours a command anywhere in a line, as long as the line holds the prefix. */
export function parseVsoLine(line: string): VsoCommand | undefined {
  const start = line.indexOf(PREFIX);
  if (start === -1) return undefined;
  const close = line.indexOf(']', start);
  if (close === -1) return undefined;
  const info = line.slice(start + PREFIX.length, close);
  const space = info.indexOf(' ');
  const name = space < 0 ? info : info.slice(0, space);
  const parts = name.split('.').filter(Boolean);
  if (parts.length !== 2) return undefined;
  const properties: Record<string, string> = {};
  if (space > 0) {
    for (const property of info
      .slice(space + 1)
      .split(';')
      .filter(Boolean)) {
      const eq = property.indexOf('=');
      if (eq <= 0 || eq === property.length - 1) continue; // `key=` and `=value` are dropped, like Split(RemoveEmptyEntries)
      properties[property.slice(0, eq).toLowerCase()] = unescapeCommandValue(property.slice(eq + 1));
    }
  }
  return { command: parts.join('.').toLowerCase(), properties, message: unescapeCommandValue(line.slice(close + 1)), line };
}

export function parseVsoCommands(output: string): VsoCommand[] {
  return output
    .split(/\r?\n/)
    .map(parseVsoLine)
    .filter((c): c is VsoCommand => c !== undefined);
}
