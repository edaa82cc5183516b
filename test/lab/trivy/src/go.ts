// Helpers that reproduce how Go (and so trivy) formats durations, times, values and errors, so the
// stand-in's messages read like trivy's own.

/** An error whose message is a Go-style chain ("outer: inner: cause"); `cause` keeps the innermost kind. */
export class GoError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'GoError';
  }
}

/** xerrors.Errorf("<prefix>: %w", err) */
export function wrap(prefix: string, error: unknown): GoError {
  return new GoError(`${prefix}: ${errorText(error)}`, error);
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** context.DeadlineExceeded */
export class DeadlineError extends Error {
  constructor() {
    super('context deadline exceeded');
    this.name = 'DeadlineError';
  }
}

/** hashicorp/go-multierror with its default list format; Append flattens nested multierrors like the original. */
export class MultiError extends Error {
  readonly errors: Error[];
  constructor(errors: Error[]) {
    super(MultiError.format(errors));
    this.name = 'MultiError';
    this.errors = errors;
  }

  static format(errors: Error[]): string {
    if (errors.length === 1) return `1 error occurred:\n\t* ${errors[0].message}\n\n`;
    return `${errors.length} errors occurred:\n\t${errors.map((e) => `* ${e.message}`).join('\n\t')}\n\n`;
  }

  static append(current: MultiError | undefined, error: Error): MultiError {
    const list = current ? [...current.errors] : [];
    if (error instanceof MultiError) list.push(...error.errors);
    else list.push(error);
    return new MultiError(list);
  }

  /** multierror.Prefix: prefixes every contained error. */
  static prefix(error: Error, prefix: string): Error {
    if (error instanceof MultiError) return new MultiError(error.errors.map((e) => new GoError(`${prefix} ${e.message}`, e)));
    return new GoError(`${prefix} ${error.message}`, error);
  }
}

const durationUnits: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** time.ParseDuration, in milliseconds. */
export function parseDuration(text: string): number {
  const invalid = new GoError(`time: invalid duration ${goQuote(text)}`);
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid;
  let total = 0;
  const part = /^(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest.length > 0) {
    const match = part.exec(rest);
    if (!match || match[1] === '' || match[1] === '.') {
      if (match === null && /^\d*\.?\d*$/.test(rest)) throw new GoError(`time: missing unit in duration ${goQuote(text)}`);
      throw invalid;
    }
    total += Number(match[1]) * durationUnits[match[2]];
    rest = rest.slice(match[0].length);
  }
  return sign * total;
}

/** A point in time with nanosecond precision, as Go's time.Time keeps it. */
export interface GoTime {
  /** milliseconds since the epoch */
  ms: number;
  /** nanoseconds within the millisecond (0..999999) */
  extraNanos: number;
}

export function goNow(): GoTime {
  const ms = Date.now();
  const extraNanos = Number(process.hrtime.bigint() % 1_000_000n);
  return { ms, extraNanos };
}

function fractionNanos(time: GoTime): string {
  const nanos = (time.ms % 1000) * 1_000_000 + time.extraNanos;
  return nanos === 0 ? '' : `.${String(nanos).padStart(9, '0').replace(/0+$/, '')}`;
}

/** time.RFC3339Nano in UTC, e.g. 2024-05-30T12:16:14.123456789Z (what encoding/json writes for a UTC time). */
export function rfc3339NanoUTC(time: GoTime): string {
  const iso = new Date(time.ms - (time.ms % 1000)).toISOString().replace(/\.000Z$/, '');
  return `${iso}${fractionNanos(time)}Z`;
}

/** time.RFC3339 in the local zone (trivy's log timestamps). */
export function rfc3339Local(date: Date = new Date()): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const offset = -date.getTimezoneOffset();
  const zone = offset === 0 ? 'Z' : `${offset > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${zone}`
  );
}

/** strconv.Quote (close enough: JSON string escaping, which Go's quoting matches for printable text). */
export function goQuote(text: string): string {
  return JSON.stringify(text);
}

/** fmt %q of a []string: ["a" "b"] */
export function goQuoteList(items: readonly string[]): string {
  return `[${items.map(goQuote).join(' ')}]`;
}

/** fmt %v of a decoded JSON value (maps print sorted, like Go's fmt). */
export function goValue(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goValue).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([k, v]) => `${k}:${goValue(v)}`).join(' ')}]`;
  }
  return String(value);
}

/** json.MarshalIndent(v, "", "  ") as Go writes it: encoding/json also escapes <, > and & (and U+2028/2029). */
export function goMarshalIndent(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** net/http's url.Error operation name: "Get", "Post", "Head". */
export function urlErrorOp(method: string): string {
  return method.slice(0, 1).toUpperCase() + method.slice(1).toLowerCase();
}

/** http.StatusText for the codes a registry answers with. */
export function statusText(code: number): string {
  const texts: Record<number, string> = {
    200: 'OK',
    201: 'Created',
    202: 'Accepted',
    204: 'No Content',
    301: 'Moved Permanently',
    302: 'Found',
    307: 'Temporary Redirect',
    308: 'Permanent Redirect',
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    408: 'Request Timeout',
    409: 'Conflict',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
  };
  return texts[code] ?? '';
}
