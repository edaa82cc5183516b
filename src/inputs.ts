// Reading a task's inputs, apart from the agent: the task shell hands in how to read one raw value (the agent's
// INPUT_ variables) and task.json's declarations; tests hand in a record. Every complaint names the input.
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';

/** A bad input: the message names the input and says how to fix it. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`Input '${input}': ${reason}`);
    this.name = 'InputError';
  }
}

export interface DeclaredInput {
  name: string;
  defaultValue?: string | boolean;
  aliases?: string[];
}

/**
 * A task's inputs with task.json as the single source of defaults (the agent applies them for YAML steps; reading
 * them here too keeps a step that omits an input identical).
 */
export class Inputs {
  private readonly declared = new Map<string, DeclaredInput>();

  constructor(
    declared: readonly DeclaredInput[],
    /** The raw value the pipeline gave under this name (or alias), if any. */
    private readonly raw: (name: string) => string | undefined,
    /** Relative paths are resolved against this directory (the sources directory on an agent). */
    private readonly workingDirectory: string = process.cwd(),
  ) {
    for (const input of declared) this.declared.set(input.name, input);
  }

  /** The trimmed value, the task.json default when unset, or undefined when neither gives one. */
  string(name: string): string | undefined {
    const input = this.declared.get(name);
    if (!input) throw new Error(`BUG: input '${name}' is not declared in task.json`);
    for (const key of [name, ...(input.aliases ?? [])]) {
      const value = this.raw(key);
      if (value !== undefined && value.trim() !== '') return value.trim();
    }
    const fallback = input.defaultValue;
    return fallback === undefined || String(fallback).trim() === '' ? undefined : String(fallback).trim();
  }

  required(name: string): string {
    const value = this.string(name);
    if (value === undefined) throw new InputError(name, 'a value is required.');
    return value;
  }

  bool(name: string): boolean {
    const value = this.string(name);
    if (value === undefined) return false;
    if (/^true$/i.test(value)) return true;
    if (/^false$/i.test(value)) return false;
    throw new InputError(name, `'${value}' is not a boolean. Use true or false.`);
  }

  choice<T extends string>(name: string, allowed: readonly T[]): T {
    const value = this.required(name);
    const match = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
    if (!match) throw new InputError(name, `'${value}' is not one of ${allowed.join(', ')}.`);
    return match;
  }

  /** One item per line, blank lines and `#` comments dropped. */
  lines(name: string): string[] {
    return (this.string(name) ?? '')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
  }

  /** Items separated by commas or new lines. */
  list(name: string): string[] {
    return this.lines(name)
      .flatMap((l) => l.split(','))
      .map((l) => l.trim())
      .filter((l) => l !== '');
  }

  int(name: string, bounds: { min?: number; max?: number } = {}): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!/^-?\d+$/.test(value)) throw new InputError(name, `'${value}' is not a whole number.`);
    const n = Number(value);
    if (bounds.min !== undefined && n < bounds.min) throw new InputError(name, `${n} is below the minimum of ${bounds.min}.`);
    if (bounds.max !== undefined && n > bounds.max) throw new InputError(name, `${n} is above the maximum of ${bounds.max}.`);
    return n;
  }

  /** A path relative to the working directory, checked when asked. */
  path(name: string, mustBe?: 'file' | 'directory'): string | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const resolved = path.resolve(this.workingDirectory, value);
    if (mustBe) {
      const kind = existsSync(resolved) ? (statSync(resolved).isDirectory() ? 'directory' : 'file') : undefined;
      if (kind !== mustBe) throw new InputError(name, `${mustBe} '${value}' was not found (looked at ${resolved}).`);
    }
    return resolved;
  }

  /** Runs a core parser over an input, turning its complaint into an error that names the input. */
  parse<T>(name: string, parser: (value: string | undefined) => T): T {
    try {
      return parser(this.string(name));
    } catch (error) {
      if (error instanceof InputError) throw error;
      throw new InputError(name, error instanceof Error ? error.message : String(error));
    }
  }
}
