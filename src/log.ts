// The core logs through this interface so that it knows nothing about Azure Pipelines; the task shells hand in
// a logger that writes the agent's log groups and issues, tests hand in one that records.
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
  group<T>(title: string, body: () => Promise<T>): Promise<T>;
}

export const consoleLogger: Logger = {
  info: (m) => console.log(m),
  warn: (m) => console.warn(`warning: ${m}`),
  debug: (m) => {
    if (process.env.DEBUG_CONTAINER_RELEASE) console.log(`debug: ${m}`);
  },
  group: async (title, body) => {
    console.log(`== ${title}`);
    return body();
  },
};

/** A logger that keeps every line, for unit tests of core modules. */
export class RecordingLogger implements Logger {
  readonly lines: { level: 'info' | 'warn' | 'debug' | 'group'; message: string }[] = [];
  info(message: string): void {
    this.lines.push({ level: 'info', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  debug(message: string): void {
    this.lines.push({ level: 'debug', message });
  }
  async group<T>(title: string, body: () => Promise<T>): Promise<T> {
    this.lines.push({ level: 'group', message: title });
    return body();
  }
  text(): string {
    return this.lines.map((l) => l.message).join('\n');
  }
}
