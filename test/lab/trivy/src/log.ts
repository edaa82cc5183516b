// trivy's log handler (pkg/log/handler.go): "<RFC3339>\t<LEVEL>\t[prefix] message\tkey=value ...", on stderr.
// --quiet discards everything except fatal errors, which trivy always prints (trivy PR #6827).
import { errorText, goQuote, rfc3339Local } from './go';

export type LogValue = string | number | boolean | Error | string[];
export type Attrs = Record<string, LogValue>;

export interface LogOptions {
  quiet: boolean;
  write?: (text: string) => void;
}

export class Logger {
  private readonly write: (text: string) => void;

  constructor(private readonly options: LogOptions) {
    this.write = options.write ?? ((text) => process.stderr.write(text));
  }

  info(message: string, attrs?: Attrs, prefix?: string): void {
    this.line('INFO', message, attrs, prefix);
  }

  warn(message: string, attrs?: Attrs, prefix?: string): void {
    this.line('WARN', message, attrs, prefix);
  }

  error(message: string, attrs?: Attrs, prefix?: string): void {
    this.line('ERROR', message, attrs, prefix);
  }

  /** log.Fatal: "<time>\tFATAL\t<message>\t<error>\n", printed even with --quiet. */
  fatal(message: string, error: unknown): void {
    this.write(`${rfc3339Local()}\tFATAL\t${message}\t${errorText(error)}\n`);
  }

  private line(level: string, message: string, attrs: Attrs | undefined, prefix: string | undefined): void {
    if (this.options.quiet) return;
    let text = `${rfc3339Local()}\t${level}\t${prefix ? `[${prefix}] ` : ''}${message}`;
    const formatted = attrs ? formatAttrs(attrs) : '';
    if (formatted) text += `\t${formatted}`;
    this.write(`${text}\n`);
  }
}

function formatAttrs(attrs: Attrs): string {
  return Object.entries(attrs)
    .map(([key, value]) => {
      if (typeof value === 'string') return `${key}=${goQuote(value)}`;
      if (value instanceof Error) return `${key}=${goQuote(value.message)}`;
      if (Array.isArray(value)) return `${key}=[${value.join(' ')}]`;
      return `${key}=${String(value)}`;
    })
    .join(' ');
}
