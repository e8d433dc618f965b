import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod/mini';
import { CpyError, ERROR_CODES } from '@cpy/core';
import type { InstallLayout } from './layout.js';
import { runProgram } from './lazy.js';

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

/** Runs one command of the script; its refusal is thrown as the CpyError it names. */
export async function runStateScript<T>(
  command: StateCommand,
  args: Readonly<Record<string, string | boolean | null | undefined>>,
  result: z.ZodMiniType<T>,
  pythons: readonly (string | null)[],
): Promise<T> {
  const argv: string[] = [command];
  for (const [name, value] of Object.entries(args)) {
    if (value === true) argv.push(`--${name}`);
    else if (typeof value === 'string') argv.push(`--${name}`, value);
    else if (value === null && name === 'bin-dir') argv.push(`--${name}`, '');
  }
  const python = interpreter(pythons);
  const ran = await runProgram(python, ['-I', '-S', STATE_SCRIPT, ...argv], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' }, maxBuffer: 1024 * 1024 }).then(
    (r) => ({ exit: 0 as number | null, ...r, failure: null as Error | null }),
    (e: Error & { code?: unknown; stdout?: string; stderr?: string }) => ({ exit: typeof e.code === 'number' ? e.code : null, stdout: e.stdout ?? '', stderr: e.stderr ?? '', failure: e }),
  );
  let json: unknown = null;
  try {
    json = JSON.parse(ran.stdout.trim().split('\n').at(-1) ?? '');
  } catch {
    // said below, with what the script printed on stderr
  }
  if (ran.exit === 3) {
    const refused = refusalSchema.safeParse(json);
    if (refused.success) {
      const { code, message, hint, details } = refused.data.error;
      throw new CpyError(code, message, { hint, details });
    }
  }
  const parsed = ran.exit === 0 ? result.safeParse(json) : null;
  if (parsed?.success) return parsed.data;
  const said = ran.stderr.trim().split('\n').slice(-3).join(' ') || ran.failure?.message || `it printed ${JSON.stringify(ran.stdout.slice(0, 200))}`;
  throw new CpyError('CPY_INSTALL_RECORD_FAILED', `the install record (${command}) failed with ${python}: ${said}`, {
    hint:
      !python.startsWith('/') || python === '/usr/bin/python3'
        ? 'no cpy python3 is left to run it, and the system python3 could not: install a version (cpy install <version>), then run this again'
        : `check that ${python} runs; if it does not, install that version again`,
    details: { python, command, said },
  });
}

/** The arguments every command that changes the state takes. */
export const layoutArgs = (layout: InstallLayout) => ({ 'state-dir': layout.stateDir, 'bin-dir': layout.binDir });
