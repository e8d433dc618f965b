import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CpyErrorCode } from '@cpy/core';
import { writeFault } from '@cpy/core/faults';
import { EXIT, flagIssue, type CommandResult, type CommandSpec } from './command.js';
import { COMMAND_TABLE, type CommandEntry } from './commands/table.js';
import { GLOBAL_OPTIONS, commandHelp, commandHelpData, topHelp, topHelpData } from './help.js';
import { closingOpenLines, createStyle, processIO, type CliIO } from './io.js';

/** Every command's spec (each loads its command module: for tests and tools, not for the dispatch). */
export function loadCommands(): Promise<CommandSpec<unknown>[]> {
  return loadAll(COMMAND_TABLE);
}

/** Loads commands one after the other (their modules share imports; one at a time keeps loading simple). */
async function loadAll(entries: readonly CommandEntry[]): Promise<CommandSpec<unknown>[]> {
  const specs: CommandSpec<unknown>[] = [];
  for (const entry of entries) specs.push(await entry.load());
  return specs;
}

export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

interface Failure {
  readonly code: CpyErrorCode;
  readonly message: string;
  readonly hint: string;
  /** What the error carries for programs (the files, the distributions that failed...): in --json only. */
  readonly details?: unknown;
}

/**
 * A coded error from a cpy library (a CpyError: stable code, message, hint), recognised by its
 * shape rather than its class, so that start-up (`--version`, `--help`) loads no library.
 */
function codedError(error: unknown): Failure | null {
  if (!(error instanceof Error) || error.name !== 'CpyError') return null;
  const { code, hint, details } = error as Error & { code?: unknown; hint?: unknown; details?: unknown };
  if (typeof code !== 'string' || typeof hint !== 'string') return null;
  const carries = typeof details === 'object' && details !== null && Object.keys(details).length > 0;
  return { code: code as CpyErrorCode, message: error.message, hint, ...(carries ? { details } : {}) };
}

/**
 * A file system that refused a write no library named (a full disk, a directory this user may not
 * write): what happened, not a bug in cpy.
 */
function cannotWrite(error: unknown): Failure | null {
  // A directory where a file is to be written (opened for writing, or renamed onto): it was "a
  // bug in cpy" (an index's ARTIFACTS.md, a key's --out).
  const { code, path, dest } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; path?: unknown; dest?: unknown };
  const at = typeof dest === 'string' ? dest : typeof path === 'string' ? path : null;
  if (code === 'EISDIR' && at) return { code: 'CPY_CLI_CANNOT_WRITE', message: `cannot write ${at}: a directory is there`, hint: 'move that directory away (or give another path), then run again' };
  const fault = writeFault(error);
  if (!fault) return null;
  // An open refused on a file that is there and this user may not read was a read (Node's error
  // does not say how the file was opened): said as one, not as "cannot write".
  const { syscall } = error as { syscall?: unknown };
  if (fault.kind === 'denied' && syscall === 'open' && fault.at && existsSync(fault.at) && !readable(fault.at)) {
    return { code: 'CPY_CLI_CANNOT_READ', message: `cannot read ${fault.at}: permission denied`, hint: 'run as a user who may read it (or as root), or give a copy this user can read', details: { errno: fault.errno } };
  }
  return {
    code: 'CPY_CLI_CANNOT_WRITE',
    message: fault.message,
    hint: {
      'no-room': 'free some space there (df -h; df -i counts files), or point cpy at another disk, then run again',
      'read-only': 'point cpy at a file system mounted read-write',
      denied: 'run as a user who may write there (or as root), or point cpy at a directory you can write',
    }[fault.kind],
    details: { errno: fault.errno },
  };
}

function readable(path: string): boolean {
  try {
    accessSync(path, fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}


/** Finds the command named by the leading words of argv (`source fetch`, `doctor`). */
function findCommand(argv: readonly string[]): { entry: CommandEntry; rest: string[] } | null {
  for (const n of [2, 1]) {
    const head = argv.slice(0, n);
    if (head.length < n || head.some((w) => w.startsWith('-'))) continue;
    const entry = COMMAND_TABLE.find((c) => c.name === head.join(' '));
    if (entry) return { entry, rest: argv.slice(n) };
  }
  return null;
}

function groupOf(word: string): CommandEntry[] {
  return COMMAND_TABLE.filter((c) => c.name.startsWith(`${word} `));
}

function emit(io: CliIO, json: boolean, command: string | null, result: CommandResult, noColor = false): number {
  if (json) {
    io.stdout.write(JSON.stringify({ outcome: result.outcome, command, ...result.data }) + '\n');
    return result.exitCode;
  }
  // A command that reports an error as its result (doctor, artifact validate and test, build, pack)
  // has printed its report: its code and what to do follow on stderr, as for any other error.
  const error = result.outcome === 'error' ? (result.data as { error?: Partial<Failure> } | undefined)?.error : undefined;
  if (error?.code && error.message) return failure(io, false, command, result.exitCode, { code: error.code, message: error.message, hint: error.hint ?? `run \`cpy ${command ?? ''} --help\`` }, noColor);
  return result.exitCode;
}

function failure(io: CliIO, json: boolean, command: string | null, exitCode: number, f: Failure, noColor: boolean): number {
  if (json) return emit(io, true, command, { exitCode, outcome: 'error', data: { error: f } });
  const style = createStyle(io, noColor, 'stderr');
  io.stderr.write(`${style.bad('error')} [${f.code}]: ${f.message}\n  ${style.dim('hint:')} ${f.hint}\n`);
  return exitCode;
}

/**
 * A command's arguments as its schema takes them, or the usage error in the user's terms: Node's
 * parseArgs for the flags, then the schema (the examples in each command's help are held to it).
 */
export function readInput(spec: CommandSpec<unknown>, rest: readonly string[]): { ok: true; input: unknown } | { ok: false; message: string; hint: string } {
  const hint = `run \`cpy ${spec.name} --help\``;
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    const options = { ...spec.options, ...GLOBAL_OPTIONS };
    parsed = parseArgs({
      args: [...rest],
      options: Object.fromEntries(
        Object.entries(options).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    return { ok: false, message: (error as Error).message.replace(/\. To specify a positional.*$/s, ''), hint };
  }
  const values = Object.fromEntries(Object.entries(parsed.values).filter(([k]) => !(k in GLOBAL_OPTIONS)));
  let checked: ReturnType<typeof spec.schema.safeParse>;
  try {
    checked = spec.schema.safeParse({ values, positionals: parsed.positionals });
  } catch (error) {
    // A transform that threw: its words, as a usage error.
    return { ok: false, message: (error as Error).message, hint };
  }
  if (checked.success) return { ok: true, input: checked.data };
  const first = checked.error.issues[0]!;
  // An empty value where the schema has no words of its own: zod says "Too small: expected string to have >=1 characters".
  const issue = first.code === 'too_small' && first.origin === 'string' && first.message.startsWith('Too small:') ? { ...first, message: 'must not be empty' } : first;
  const path = issue.path[0] === 'values' ? issue.path.slice(1) : issue.path;
  const positional = path[0] === 'positionals' && typeof path[1] === 'number' ? spec.positionals[path[1]] : undefined;
  if (positional && issue !== first) return { ok: false, message: `<${positional.name}>: ${issue.message}`, hint };
  // A value that is not what the argument takes: said with it (the user sees what was read).
  if (positional) return { ok: false, message: `${positional.name} '${parsed.positionals[Number(path[1])]}': ${issue.message}`, hint };
  // More arguments than the command takes: named, not zod's "expected array to have <=0 items".
  if (path[0] === 'positionals' && path.length === 1 && issue.code === 'too_big') {
    const most = Number(issue.maximum ?? 0);
    const extra = parsed.positionals.slice(most);
    const exactly = spec.positionals.length === most && spec.positionals.every((p) => p.required);
    const takes = most === 0 ? 'none' : `${exactly ? '' : 'at most '}${most === 1 ? 'one' : most}`;
    return { ok: false, message: `unexpected argument${extra.length === 1 ? '' : 's'}: ${extra.join(' ')} (cpy ${spec.name} takes ${takes})`, hint };
  }
  return { ok: false, message: flagIssue({ ...issue, path }, values), hint };
}

/**
 * The codes that mean the command was not told what it needs (which index, which repository,
 * where the pinned signers' keys are): a usage error (exit 2) wherever the libraries find it out,
 * as `cpy index show` without --index is. (A token not set is no usage error: exit 1.)
 */
const USAGE_CODES: ReadonlySet<string> = new Set(['CPY_CLI_USAGE', 'CPY_INSTALL_NO_INDEX', 'CPY_INSTALL_NO_TRUSTED_KEYS', 'CPY_OUTDATED_NO_INDEX', 'CPY_PUBLISH_NO_REPOSITORY']);

/**
 * Runs the cpy command line. Returns the exit code: 0 success, 1 the operation
 * failed, 2 usage error or command not available. Never calls process.exit.
 */
export async function main(given: readonly string[], givenIO: CliIO = processIO()): Promise<number> {
  const io = closingOpenLines(givenIO);
  // --json and --no-color before the command (cpy --json list) go after it, where a command reads them.
  const leading = given.findIndex((a) => a !== '--json' && a !== '--no-color');
  const argv = leading > 0 ? [...given.slice(leading), ...given.slice(0, leading)] : given;
  const json = argv.includes('--json');
  const noColor = argv.includes('--no-color');
  const version = cliVersion();

  const words = argv.filter((a) => a !== '--json' && a !== '--no-color');
  if (words.length === 0 && json) return failure(io, json, null, EXIT.usage, { code: 'CPY_CLI_USAGE', message: 'no command given', hint: 'run `cpy --help --json` to list the commands' }, noColor);
  if (words.length === 0 || words[0] === '--help' || words[0] === '-h' || (words[0] === 'help' && words.length === 1)) {
    io.stdout.write(json ? JSON.stringify({ outcome: 'success', command: null, help: topHelpData(COMMAND_TABLE, version) }) + '\n' : topHelp(COMMAND_TABLE, version));
    return words.length === 0 ? EXIT.usage : EXIT.ok;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.stdout.write(json ? JSON.stringify({ outcome: 'success', command: null, version }) + '\n' : `${version}\n`);
    return EXIT.ok;
  }
  const helpFor = words[0] === 'help' ? words.slice(1) : null;
  const found = findCommand(helpFor ?? argv);
  if (!found) {
    // `cpy help source` as `cpy source --help`: the group's commands.
    const named = helpFor ?? argv;
    const group = named[0] ? groupOf(named[0]) : [];
    if (group.length && (!helpFor || helpFor.length === 1)) {
      const names = group.map((c) => c.name).join(', ');
      const unknown = Boolean(argv[1] && !argv[1].startsWith('-'));
      const asked = unknown ? `unknown command 'cpy ${argv[0]} ${argv[1]}'` : `'cpy ${argv[0]}' needs a subcommand`;
      // `cpy artifact --help` lists the group; `cpy artifact inspect --help` is a command there is not.
      if (helpFor || (!unknown && (argv.includes('--help') || argv.includes('-h')))) {
        const specs = await loadAll(group);
        // What the group holds first, a line each (the first command's long help read as the group's), then each one's help.
        const width = Math.max(...specs.map((c) => c.name.length));
        const overview = [`The commands of cpy ${named[0]}:`, ...specs.map((c) => `  cpy ${c.name.padEnd(width)}  ${c.summary}`), '', ''].join('\n');
        io.stdout.write(json ? JSON.stringify({ outcome: 'success', command: named[0], help: specs.map((c) => ({ command: c.name, ...commandHelpData(c) })) }) + '\n' : overview + specs.map((c) => commandHelp(c)).join('\n'));
        return EXIT.ok;
      }
      return failure(io, json, argv[0], EXIT.usage, { code: 'CPY_CLI_USAGE', message: asked, hint: `one of: ${names}` }, noColor);
    }
    const word = (helpFor ?? argv)[0];
    return failure(
      io,
      json,
      null,
      EXIT.usage,
      { code: 'CPY_CLI_USAGE', message: `unknown command '${word}'`, hint: 'run `cpy --help` to list the commands' },
      noColor,
    );
  }
  const { rest } = found;
  const spec = await found.entry.load();
  if (helpFor || rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(json ? JSON.stringify({ outcome: 'success', command: spec.name, help: commandHelpData(spec) }) + '\n' : commandHelp(spec));
    return EXIT.ok;
  }
  if (!spec.run) {
    return failure(
      io,
      json,
      spec.name,
      EXIT.usage,
      {
        code: 'CPY_CLI_NOT_AVAILABLE',
        message: `\`cpy ${spec.name}\` is not available in cpy ${version} yet`,
        hint: `it is planned (${spec.plannedFor}); \`cpy --help\` lists what this version can do`,
      },
      noColor,
    );
  }

  const read = readInput(spec, rest);
  if (!read.ok) return failure(io, json, spec.name, EXIT.usage, { code: 'CPY_CLI_USAGE', message: read.message, hint: read.hint }, noColor);
  const input = read.input;

  const stderrStyle = createStyle(io, noColor, 'stderr');
  try {
    const result = await spec.run({
      input,
      io,
      json,
      style: createStyle(io, noColor, 'stdout'),
      log: (line) => io.stderr.write(`${stderrStyle.dim('cpy')} ${line}\n`),
    });
    return emit(io, json, spec.name, result, noColor);
  } catch (error) {
    const coded = codedError(error) ?? cannotWrite(error);
    if (coded) {
      const exitCode = USAGE_CODES.has(coded.code) ? EXIT.usage : EXIT.failure;
      return failure(io, json, spec.name, exitCode, coded, noColor);
    }
    // The stack says where; with the bundle, NODE_OPTIONS=--enable-source-maps names the TypeScript source.
    if (io.env['CPY_DEBUG'] && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return failure(
      io,
      json,
      spec.name,
      EXIT.failure,
      {
        code: 'CPY_CLI_INTERNAL',
        message: (error as Error)?.message ?? String(error),
        hint: 'this is a bug in cpy; please report it with the command you ran (CPY_DEBUG=1 prints where it happened)',
      },
      noColor,
    );
  }
}
