import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod/mini';
import { CpyError, ERROR_CODES } from '@cpy/core';
import type { InstallLayout } from './layout.js';
import { runProgram, startProgram } from './lazy.js';

/**
 * The one writer of what an install records (libs/install/python/cpy_state.py): the marker in a
 * prefix, state.json, the `current` link and the bin links. The Feature's install.sh runs the same
 * file (a copy between its cpy_state_py lines, kept identical by a test). The caller holds the
 * locks; the script takes none.
 */
export const STATE_SCRIPT: string = fileURLToPath(new URL('../python/cpy_state.py', import.meta.url));

type StateCommand = 'mark' | 'sign-marker' | 'record' | 'use' | 'forget';

const refusalSchema = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES['@cpy/install']),
    message: z.string(),
    hint: z.string(),
    details: z.record(z.string(), z.unknown()),
  }),
});

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * The python3 that runs the script: the first of `prefixes` whose bin/python3 is there (the tree
 * being recorded or switched to, then the current one, then any other cpy installed), else the
 * system's python3 (a state whose installs are all gone).
 * It uses only the standard library, started with -I -S: nothing from the environment or site.
 */
function interpreter(prefixes: readonly (string | null)[]): string {
  for (const prefix of prefixes) {
    if (prefix && executable(join(prefix, 'bin', 'python3'))) return join(prefix, 'bin', 'python3');
  }
  // The system's before PATH's: PATH may lead through a version manager's shim (pyenv's takes
  // a quarter of a second to start).
  return executable('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

type Args = Readonly<Record<string, string | boolean | null | undefined>>;

function argvOf(command: StateCommand, args: Args): string[] {
  const argv: string[] = [command];
  for (const [name, value] of Object.entries(args)) {
    if (value === true) argv.push(`--${name}`);
    else if (typeof value === 'string') argv.push(`--${name}`, value);
    else if (value === null && name === 'bin-dir') argv.push(`--${name}`, '');
  }
  return argv;
}

const SCRIPT_ENV = () => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' });

/** What one command came to: its answer (the result, or a refusal), or the failure of the python3 that ran it. */
type Outcome = { readonly answer: { ok: unknown } | { refusal: unknown } } | { readonly failed: string };

/** The result, or the refusal thrown as the CpyError it names; anything else is CPY_INSTALL_RECORD_FAILED. */
function settle<T>(command: StateCommand, python: string, outcome: Outcome, result: z.ZodMiniType<T>): T {
  if ('answer' in outcome && 'refusal' in outcome.answer) {
    const refused = refusalSchema.safeParse(outcome.answer.refusal);
    if (refused.success) {
      const { code, message, hint, details } = refused.data.error;
      throw new CpyError(code, message, { hint, details });
    }
  }
  const parsed = 'answer' in outcome && 'ok' in outcome.answer ? result.safeParse(outcome.answer.ok) : null;
  if (parsed?.success) return parsed.data;
  const said = 'failed' in outcome ? outcome.failed : `it answered ${JSON.stringify('ok' in outcome.answer ? outcome.answer.ok : outcome.answer.refusal).slice(0, 200)}`;
  throw new CpyError('CPY_INSTALL_RECORD_FAILED', `the install record (${command}) failed with ${python}: ${said}`, {
    hint:
      !python.startsWith('/') || python === '/usr/bin/python3'
        ? 'no cpy python3 is left to run it, and the system python3 could not: install a version (cpy install <version>), then run this again'
        : `check that ${python} runs; if it does not, install that version again`,
    details: { python, command, said },
  });
}

const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';
const tail = (text: string) => text.trim().split('\n').slice(-3).join(' ');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Runs one command of the script; its refusal is thrown as the CpyError it names. */
export async function runStateScript<T>(command: StateCommand, args: Args, result: z.ZodMiniType<T>, pythons: readonly (string | null)[]): Promise<T> {
  const python = interpreter(pythons);
  const ran = await runProgram(python, ['-I', '-S', STATE_SCRIPT, ...argvOf(command, args)], { env: SCRIPT_ENV(), maxBuffer: 1024 * 1024 }).then(
    (r) => ({ exit: 0 as number | null, ...r, failure: null as Error | null }),
    (e: Error & { code?: unknown; stdout?: string; stderr?: string }) => ({ exit: typeof e.code === 'number' ? e.code : null, stdout: e.stdout ?? '', stderr: e.stderr ?? '', failure: e }),
  );
  const json = parseJson(lastLine(ran.stdout));
  const outcome: Outcome =
    ran.exit === 0 && json !== undefined
      ? { answer: { ok: json } }
      : ran.exit === 3 && json !== undefined
        ? { answer: { refusal: json } }
        : { failed: tail(ran.stderr) || ran.failure?.message || `it printed ${JSON.stringify(ran.stdout.slice(0, 200))}` };
  return settle(command, python, outcome, result);
}

/**
 * One python3 that runs an install's mark and then its record (cpy_state.py serve). Opened when the
 * tree is unpacked, it starts while the tree is relocated and checked, and the record needs no
 * second start: about 100 ms off a first install (measured A/B, whole `cpy` processes). It runs
 * from the staged tree, which is renamed into place between the two: errors name `reportAs`, where
 * that python3 is then.
 */
export interface StateSession {
  run<T>(command: 'mark' | 'record', args: Args, result: z.ZodMiniType<T>): Promise<T>;
  /** Ends it (stdin closed: it exits; a command running still answers); resolves once it has exited. */
  close(): Promise<void>;
}

export function openStateSession(tree: string, reportAs: string): StateSession {
  const python = interpreter([tree]);
  const lines: string[] = [];
  let ended: string | null = null;
  let stderr = '';
  // Who waits for a reply or for the end: woken by each line, and by the end.
  const waiting: (() => void)[] = [];
  const poke = () => waiting.splice(0).forEach((wake) => wake());
  const changed = () => new Promise<void>((resolve) => waiting.push(resolve));
  // -B: it writes no bytecode into the tree it runs from, which a failed install deletes.
  const child = startProgram(python, ['-I', '-S', '-B', STATE_SCRIPT, 'serve'], { env: SCRIPT_ENV() }).then((proc) => {
    let buffered = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
        lines.push(buffered.slice(0, at));
        buffered = buffered.slice(at + 1);
      }
      poke();
    });
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4096)));
    // A python3 that is gone before it read a command: its write fails, and it says why on stderr.
    proc.stdin.on('error', () => undefined);
    proc.on('error', (error) => {
      ended ??= error.message;
      poke();
    });
    proc.on('close', (code, signal) => {
      ended ??= `exit ${code ?? signal}`;
      poke();
    });
    return proc;
  });
  const label = python === join(tree, 'bin', 'python3') ? reportAs : python;
  return {
    async run(command, args, result) {
      const proc = await child;
      proc.stdin.write(`${JSON.stringify(argvOf(command, args))}\n`);
      while (lines.length === 0 && ended === null) await changed();
      const line = lines.shift();
      const json = line === undefined ? undefined : (parseJson(line) as Record<string, unknown> | null | undefined);
      const outcome: Outcome =
        json && typeof json === 'object' && 'ok' in json
          ? { answer: { ok: json['ok'] } }
          : json && typeof json === 'object' && 'error' in json
            ? { answer: { refusal: json } }
            : { failed: tail(stderr) || (line === undefined ? `it ended (${ended})` : `it printed ${JSON.stringify(line.slice(0, 200))}`) };
      return settle(command, label, outcome, result);
    },
    async close() {
      const proc = await child;
      proc.stdin.end();
      while (ended === null) await changed();
    },
  };
}

/** The arguments every command that changes the state takes. */
export const layoutArgs = (layout: InstallLayout) => ({ 'state-dir': layout.stateDir, 'bin-dir': layout.binDir });
