// The `arguments` input: extra `docker buildx build` arguments written the way a shell user writes them, split here
// without any shell (no variables, globs or command substitution), and checked against what the task itself controls.

/**
 * Splits a command-line fragment into words like a POSIX shell would, minus every expansion: white space separates
 * words, '…' is literal, "…" is literal except \" \\ \$ \` and \newline, a backslash outside quotes escapes the next
 * character. Throws on an unterminated quote so a typo never becomes a surprising argument.
 */
export function splitArguments(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw new Error(`a single quote opened at character ${i + 1} is never closed`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new Error(`a double quote opened at character ${i + 1} is never closed`);
        const d = text[j];
        if (d === '"') break;
        if (d === '\\' && j + 1 < text.length && '"\\$`\n'.includes(text[j + 1])) {
          if (text[j + 1] !== '\n') word += text[j + 1];
          j += 2;
        } else {
          word += d;
          j++;
        }
      }
      inWord = true;
      i = j + 1;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new Error('the arguments end with a lone backslash');
      if (text[i + 1] !== '\n') {
        word += text[i + 1];
        inWord = true;
      }
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Flags the task sets from its own inputs, and the input a user sets instead. */
const CONTROLLED: Record<string, string> = {
  '--push': "the 'push' input",
  '--load': "the task (it pushes, or leaves the image in the builder when 'push' is false)",
  '--output': "the task (it pushes to 'registry'/'repository')",
  '-o': "the task (it pushes to 'registry'/'repository')",
  '--metadata-file': 'the task (it reads the digest from its own metadata file)',
  '--platform': "the 'platforms' input",
  '--tag': "the 'tags' input",
  '-t': "the 'tags' input",
  '--file': "the 'dockerfile' input",
  '-f': "the 'dockerfile' input",
  '--builder': "the 'builder' input",
  '--progress': 'the task (plain progress, so the log reads as text)',
  '--target': "the 'target' input",
  '--provenance': "the 'attestations' input",
  '--sbom': "the 'attestations' input",
  '--attest': "the 'attestations' input",
};
/** Owned by the `cache` input unless it is `none`, when users may bring their own cache flags. */
const CACHE_FLAGS = new Set(['--cache-from', '--cache-to']);

// Flags of `docker buildx build` that take no value; every other flag is assumed to take one.
const BOOLEAN_FLAGS = new Set(['--no-cache', '--pull', '--push', '--load', '--quiet', '-q', '--debug', '-D', '--check']);

export interface ArgumentsPolicy {
  /** The cache input's value: with 'none' the user may pass --cache-from/--cache-to. */
  cache: 'registry' | 'inline' | 'none';
}

/**
 * Refuses extra arguments that would fight the task's own (say which input to use instead) and positional
 * words (the build context comes from 'buildContext'). Returns the arguments unchanged when they are fine.
 */
export function checkExtraArguments(words: readonly string[], policy: ArgumentsPolicy): string[] {
  const problems: string[] = [];
  let expectValue = false;
  for (const word of words) {
    if (expectValue) {
      expectValue = false;
      continue;
    }
    if (!word.startsWith('-') || word === '-') {
      problems.push(`'${word}' is not an option; the build context comes from the 'buildContext' input`);
      continue;
    }
    const flag = word.includes('=') ? word.slice(0, word.indexOf('=')) : word;
    const owner = CONTROLLED[flag];
    if (owner) problems.push(`${flag} is set by ${owner}`);
    else if (CACHE_FLAGS.has(flag) && policy.cache !== 'none')
      problems.push(`${flag} is set by the 'cache' input; set cache to none to pass your own`);
    if (!word.includes('=') && !BOOLEAN_FLAGS.has(flag)) expectValue = true;
  }
  if (problems.length) throw new Error(problems.join('; ') + '.');
  return [...words];
}
