import type { CliIO, Style } from './io.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** May be given more than once; the value is then a list. */
  readonly multiple?: boolean;
  /** Shown in --help, e.g. `<path>`. */
  readonly valueName?: string;
  readonly description: string;
}

export interface PositionalSpec {
  readonly name: string;
  readonly required: boolean;
  readonly description: string;
}

/** What a command gets: its validated input and the means to talk to the user. */
export interface CommandContext<Input> {
  readonly input: Input;
  readonly io: CliIO;
  /** True with --json: stdout is reserved for the one final JSON document. */
  readonly json: boolean;
  /** Styling for stdout (human output). */
  readonly style: Style;
  /** A line of log or progress on stderr (kept off stdout in every mode). */
  log(line: string): void;
}

/** What a finished command reports: its exit code and the fields of the final JSON document. */
export interface CommandResult {
  readonly exitCode: number;
  readonly outcome: 'success' | 'error';
  readonly data: Readonly<Record<string, unknown>>;
}

/**
 * A zod schema, from zod's full API or from zod/mini (the install commands use mini, which
 * loads faster: issue 20); main.ts calls only safeParse.
 */
export interface InputSchema<Input> {
  safeParse(data: unknown): { success: true; data: Input } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string; code?: string; origin?: string; maximum?: unknown }[] } };
}

export interface CommandSpec<Input = unknown> {
  /** `doctor`, or `source fetch` for a command in a group. */
  readonly name: string;
  readonly summary: string;
  readonly description?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly positionals: readonly PositionalSpec[];
  /** Validates the parsed flags and positionals: the CLI's input boundary. */
  readonly schema: InputSchema<Input>;
  /** Unset for commands this version does not have yet: they say so and exit 2. */
  readonly run?: (ctx: CommandContext<Input>) => Promise<CommandResult>;
  /** For commands without `run`: what they will do, said to the user. */
  readonly plannedFor?: string;
  readonly examples?: readonly string[];
}

/** Declares a command with its input type inferred from the schema. */
export function defineCommand<Input>(spec: CommandSpec<Input>): CommandSpec<Input> {
  return spec;
}

/** A zod issue on an input: where it is and what is wrong (zod's issue and zod/mini's alike). */
export interface InputIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly code?: string;
}

/**
 * An issue said as the user typed it: `--prefix: <what is wrong>`, or `--name is required`.
 * The issue's path starts at the field (`['exclude', 0]`: an index into a repeated flag is not
 * said); `flags` names the flag of a field whose name is not the flag's own (`installPrefix`:
 * `--prefix`); `given` is what the user gave, to tell a missing flag from a wrong one.
 */
export function flagIssue(issue: InputIssue, given: Readonly<Record<string, unknown>>, flags: Readonly<Record<string, string>> = {}): string {
  const [field] = issue.path;
  if (field === undefined || field === 'positionals') return issue.message;
  const name = String(field);
  const flag = flags[name] ?? `--${name}`;
  if (issue.code === 'invalid_type' && given[name] === undefined) return `${flag} is required`;
  return `${flag}: ${issue.message}`;
}
