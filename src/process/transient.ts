// Which failures of docker's registry commands (login, push, buildx build --push, imagetools create) are worth one
// more try: only the CLI's error lines are read, and only a registry's 5xx or 429, a reset or dropped connection
// (EOF) or a network timeout count. Anything that names a refusal (401/403, denied, unknown, invalid) or a build
// step that failed is final: a retry would only repeat it, or hide it.

/** The lines of a CLI's output that report an error (docker, buildx, BuildKit's plain progress). */
export function errorLines(output: string): string[] {
  return output
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) =>
      /^(error|ERROR)\b|error response from daemon|failed commit on ref|failed to (solve|push|do request|copy|upload|authorize|fetch|commit|write)|unexpected status|received unexpected http status|^#\d+ ERROR:|^(denied|unauthorized|forbidden|name unknown|manifest unknown|blob unknown|manifest invalid|toomanyrequests):/i.test(
        line,
      ),
    );
}

const FINAL = [
  /did not complete successfully/i, // a RUN step of the build failed
  /\b(401|403|404)\b/,
  /unauthori[sz]ed|denied|forbidden|authentication required|no basic auth credentials|incorrect username or password/i,
  /name unknown|manifest unknown|blob unknown|manifest invalid|digest invalid|unsupported|not found/i,
  /x509|certificate/i,
];

const TRANSIENT: [RegExp, string][] = [
  [/\b(500|502|503|504)\b(?: (internal server error|bad gateway|service unavailable|gateway time-?out))?/i, 'a 5xx from the registry'],
  [/\b429\b|toomanyrequests|too many requests/i, '429 (throttled)'],
  // Go says the last when the peer's reset races its write
  [/connection reset by peer|econnreset|broken pipe|use of closed network connection/i, 'a reset connection'],
  [/(^|[\s:"])(unexpected )?EOF\b/, 'a connection closed early (EOF)'],
  [
    /i\/o timeout|tls handshake timeout|client\.timeout exceeded|timeout awaiting response headers|context deadline exceeded/i,
    'a network timeout',
  ],
];

/** Why the failure is transient (for the log), or undefined when it is not or nothing says. */
export function transientFailure(output: string): string | undefined {
  const lines = errorLines(output);
  if (lines.length === 0) return undefined;
  // any error line that names a refusal or a failed build step makes the whole failure final
  if (lines.some((line) => FINAL.some((pattern) => pattern.test(line)))) return undefined;
  for (const line of lines.slice().reverse()) {
    for (const [pattern, reason] of TRANSIENT) if (pattern.test(line)) return reason;
  }
  return undefined;
}
