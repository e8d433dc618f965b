import type { CommandSpec, OptionSpec, PositionalSpec } from './command.js';

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  json: { type: 'boolean', description: 'print one JSON document on stdout (with an "outcome" field); logs stay on stderr' },
  'no-color': { type: 'boolean', description: 'no colours (also: NO_COLOR=1)' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

/** One option as --help --json gives it. */
export interface OptionHelp {
  readonly name: string;
  readonly short?: string;
  readonly value?: string;
  readonly required: boolean;
  readonly repeatable: boolean;
  readonly description: string;
}

function optionsHelp(options: Readonly<Record<string, OptionSpec>>, required: ReadonlySet<string> = new Set()): OptionHelp[] {
  return Object.entries(options).map(([name, o]) => ({
    name: `--${name}`,
    ...(o.short ? { short: `-${o.short}` } : {}),
    ...(o.valueName ? { value: o.valueName } : {}),
    required: required.has(name),
    repeatable: Boolean(o.multiple),
    description: o.description,
  }));
}

function optionLines(options: readonly OptionHelp[]): string[] {
  const rows = options.map((o) => [
    `${o.short ? `${o.short}, ` : '    '}${o.name}${o.value ? ` ${o.value}` : ''}`,
    `${o.required ? '(required) ' : ''}${o.description}${o.repeatable ? ' (repeatable)' : ''}`,
  ]);
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([l, r]) => `  ${l!.padEnd(width)}  ${r}`);
}

/**
 * The options the command's schema cannot do without, asked of the schema itself (so the help
 * cannot drift from it): with no option given, each one it names as missing.
 */
function requiredOptions(spec: CommandSpec<unknown>): Set<string> {
  const positionals = spec.positionals.filter((p) => p.required).map(() => 'x');
  const checked = spec.schema.safeParse({ values: {}, positionals });
  if (checked.success) return new Set();
  return new Set(checked.error.issues.filter((i) => i.path[0] === 'values' && i.path.length === 2 && typeof i.path[1] === 'string' && i.path[1] in spec.options).map((i) => i.path[1] as string));
}

/** A command's help as data: what --help prints, and what --help --json gives. */
export interface CommandHelp {
  readonly usage: string;
  readonly summary: string;
  readonly description: string | null;
  /** False for a command this version does not have yet. */
  readonly available: boolean;
  readonly arguments: readonly PositionalSpec[];
  readonly options: readonly OptionHelp[];
  readonly examples: readonly string[];
}

export function commandHelpData(spec: CommandSpec<unknown>): CommandHelp {
  const args = spec.positionals.map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`)).join(' ');
  return {
    usage: `cpy ${spec.name}${args ? ` ${args}` : ''} [options]`,
    summary: spec.summary,
    description: spec.description ?? null,
    available: Boolean(spec.run),
    arguments: spec.positionals.map((p) => ({ name: p.name, required: p.required, description: p.description })),
    options: optionsHelp({ ...spec.options, ...GLOBAL_OPTIONS }, requiredOptions(spec)),
    examples: spec.examples ?? [],
  };
}

export function commandHelp(spec: CommandSpec<unknown>): string {
  const help = commandHelpData(spec);
  const lines = [`Usage: ${help.usage}`, '', help.summary + '.'];
  if (help.description) lines.push('', help.description);
  if (!help.available) lines.push('', `Not available yet in this version of cpy (planned: ${spec.plannedFor}).`);
  if (help.arguments.length) {
    lines.push('', 'Arguments:');
    const width = Math.max(...help.arguments.map((p) => p.name.length));
    for (const p of help.arguments) lines.push(`  ${p.name.padEnd(width)}  ${p.description}`);
  }
  lines.push('', 'Options:', ...optionLines(help.options));
  if (help.examples.length) lines.push('', 'Examples:', ...help.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}

export const EXIT_CODES = {
  0: 'success',
  1: 'the operation failed (or was stopped by a first Ctrl-C: a *_CANCELLED code); for outdated and compare also a result (something outdated, a regression), which the JSON outcome "success" tells apart',
  2: 'usage error (or command not available)',
  130: 'a second Ctrl-C, or the first for a command without a clean stop, which ends at once (those that only read on this machine, and keys, artifact sign, venv rollback, vm; publish and releases stop between two requests to GitHub: exit 1, CPY_PUBLISH_CANCELLED; index add stops a wait for another update of the index, CPY_INDEX_CANCELLED, or finishes its write first); artifact validate and artifact test: 128+N when stopped by signal N',
} as const;

const TOP_OPTIONS = { ...GLOBAL_OPTIONS, version: { type: 'boolean', short: 'V', description: 'print the version' } } as const satisfies Record<string, OptionSpec>;

/** `cpy --help --json`: the commands, the options every command takes, the exit codes. */
export function topHelpData(commands: readonly { readonly name: string; readonly summary: string }[], version: string) {
  return { version, commands: commands.map((c) => ({ name: c.name, summary: c.summary })), options: optionsHelp(TOP_OPTIONS), exitCodes: EXIT_CODES };
}

export function topHelp(commands: readonly { readonly name: string; readonly summary: string }[], version: string): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `cpy ${version}: prebuilt CPython, built once, installed everywhere`,
    '',
    'Usage: cpy <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    ...optionLines(optionsHelp(TOP_OPTIONS)),
    '',
    `Exit codes: ${Object.entries(EXIT_CODES).map(([code, meaning]) => `${code} ${meaning}`).join(', ')}.`,
    'Run `cpy <command> --help` for a command\'s options; with --json, as one JSON document.',
    '',
  ].join('\n');
}
