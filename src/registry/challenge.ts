// WWW-Authenticate parsing (RFC 7235), shared by the token flow and the error messages.

export interface AuthChallenge {
  /** Lower case: `bearer`, `basic`, ... */
  scheme: string;
  /** Parameter names in lower case. */
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate value (RFC 7235): one or more `Scheme k=v, k="quoted, with commas"` challenges,
 * as fetch joins several header lines with ", ".
 */
export function parseChallenges(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const skip = (pattern: RegExp) => {
    while (i < header.length && pattern.test(header[i])) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < header.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i])) i++;
    return header.slice(start, i);
  };
  let current: AuthChallenge | undefined;
  while (i < header.length) {
    skip(/[\s,]/);
    if (i >= header.length) break;
    const name = token();
    if (!name) {
      i++; // a character no grammar allows here: step over it
      continue;
    }
    const afterName = i;
    skip(/\s/);
    if (header[i] === '=' && current && header[i + 1] !== '=') {
      i++;
      skip(/\s/);
      let value: string;
      if (header[i] === '"') {
        i++;
        value = '';
        while (i < header.length && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < header.length) i++;
          value += header[i++];
        }
        i++;
      } else {
        const start = i;
        while (i < header.length && header[i] !== ',' && !/\s/.test(header[i])) i++;
        value = header.slice(start, i);
      }
      current.params[name.toLowerCase()] = value;
    } else {
      i = afterName;
      current = { scheme: name.toLowerCase(), params: {} };
      challenges.push(current);
      // token68 form (e.g. `Negotiate abc==`): not used by registries, ignore it
    }
  }
  return challenges;
}
