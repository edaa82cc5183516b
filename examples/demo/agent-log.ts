// The job log as the Azure Pipelines agent shows it: each step between `##[section]Starting:` and `Finishing:`,
// `##[group]`/`##[endgroup]` kept, the logging commands (`##vso[...]`) consumed and hidden except issues, which the
// agent shows as `##[warning]`/`##[error]` lines, and every secret it knows masked as `***`: the job's secrets from
// the start, and each value a task registers (task.setsecret, or a variable set with issecret=true) from then on.
import { parseVsoLine } from '../../test/helpers/vso';

/** A task's task.json, as far as the agent prints it in a step's header. */
export interface TaskHeader {
  friendlyName: string;
  description: string;
  version: { Major: number; Minor: number; Patch: number };
  author: string;
}

// The agent does not mask very short values (they would blank out ordinary words).
const shortestSecret = 4;

export class AgentLog {
  private secrets: string[] = [];
  /** Everything printed, already masked: what the demo checks for leaks. */
  readonly printed: string[] = [];

  constructor(
    private readonly write: (text: string) => void,
    secrets: Iterable<string> = [],
  ) {
    for (const secret of secrets) this.addSecret(secret);
  }

  /** Masks a value from now on; a multi-line value line by line, as the agent's masker does. */
  addSecret(value: string): void {
    const added = value
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line.length >= shortestSecret);
    if (added.length === 0) return;
    // Longest first, so a secret containing another is masked whole.
    this.secrets = [...new Set([...this.secrets, ...added])].sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    let masked = text;
    for (const secret of this.secrets) if (masked.includes(secret)) masked = masked.split(secret).join('***');
    return masked;
  }

  /** A line of the log, masked. */
  print(line = ''): void {
    for (const part of this.mask(line).split('\n')) {
      this.printed.push(part);
      this.write(`${part}\n`);
    }
  }

  startStep(displayName: string, task?: TaskHeader): void {
    this.print(`##[section]Starting: ${displayName}`);
    if (!task) return;
    const rule = '='.repeat(78);
    const { Major, Minor, Patch } = task.version;
    this.print(rule);
    this.print(`Task         : ${task.friendlyName}`);
    this.print(`Description  : ${task.description}`);
    this.print(`Version      : ${Major}.${Minor}.${Patch}`);
    this.print(`Author       : ${task.author}`);
    this.print(rule);
  }

  finishStep(displayName: string): void {
    this.print(`##[section]Finishing: ${displayName}`);
  }

  /** One line a task printed (stdout or stderr), handled as the agent handles it. */
  taskLine(line: string): void {
    const command = parseVsoLine(line);
    if (!command) {
      this.print(line);
      return;
    }
    const secretVariable =
      command.command === 'task.setvariable' && /^true$/i.test(command.properties.issecret ?? command.properties.isSecret ?? '');
    if (command.command === 'task.setsecret' || secretVariable) {
      this.addSecret(command.message);
      return;
    }
    if (command.command === 'task.issue' || command.command === 'task.logissue') {
      const type = command.properties.type === 'warning' ? 'warning' : 'error';
      const [first, ...rest] = command.message.split(/\r?\n/);
      this.print(`##[${type}]${first}`);
      for (const more of rest) this.print(more);
    }
    // Every other logging command is consumed by the agent and not shown (task.debug only with System.Debug).
  }
}
