import type { CommandSpec, OptionSpec } from './command.js';

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  json: { type: 'boolean', description: 'print one JSON document on stdout (with an "outcome" field); logs stay on stderr' },
  'no-color': { type: 'boolean', description: 'no colours (also: NO_COLOR=1)' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

function optionLines(options: Readonly<Record<string, OptionSpec>>, required: ReadonlySet<string> = new Set()): string[] {
  const rows = Object.entries(options).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : '    '}--${name}${o.valueName ? ` ${o.valueName}` : ''}`,
    `${required.has(name) ? '(required) ' : ''}${o.description}${o.multiple ? ' (repeatable)' : ''}`,
  ]);
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`);
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

export function commandHelp(spec: CommandSpec<unknown>): string {
  const args = spec.positionals.map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`)).join(' ');
  const lines = [`Usage: cpy ${spec.name}${args ? ` ${args}` : ''} [options]`, '', spec.summary + '.'];
  if (spec.description) lines.push('', spec.description);
  if (!spec.run) lines.push('', `Not available yet in this version of cpy (planned: ${spec.plannedFor}).`);
  if (spec.positionals.length) {
    lines.push('', 'Arguments:');
    const width = Math.max(...spec.positionals.map((p) => p.name.length));
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(width)}  ${p.description}`);
  }
  lines.push('', 'Options:', ...optionLines({ ...spec.options, ...GLOBAL_OPTIONS }, requiredOptions(spec)));
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
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
    ...optionLines({ ...GLOBAL_OPTIONS, version: { type: 'boolean', short: 'V', description: 'print the version' } }),
    '',
    'Exit codes: 0 success, 1 the operation failed, 2 usage error (or command not available).',
    'Run `cpy <command> --help` for a command\'s options.',
    '',
  ].join('\n');
}
