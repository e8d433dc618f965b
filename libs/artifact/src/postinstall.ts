import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod/mini';
import { CpyError } from '@cpy/core';
import { runInGroup } from '@cpy/core/process-group';

/** The modules an artifact must import: the critical ones. */
export const CRITICAL_IMPORTS = ['ssl', 'sqlite3', 'uuid', '_uuid', 'lzma', 'bz2', 'ctypes', 'zlib', 'readline'] as const;

/**
 * Where every artifact carries cpy's post-install script (libs/artifact/python/postinstall.py):
 * both installers and validation run it with the unpacked python3, so relocation and the
 * post-install checks are written once.
 */
export const POSTINSTALL_ENTRY = 'share/cpy/postinstall.py';

/**
 * The prefix CPython compiles into the interpreter and libpython (getpath's PREFIX and
 * EXEC_PREFIX, in Modules/getpath.o): where it looks for its standard library when none is
 * beside the program running it (a program embedding libpython, a copy of python3.X, a venv
 * made with -S). cpy's build (@cpy/build) compiles each as the C literal
 * `"<prefix>" "<PREFIX_SLOT_PADDING NULs>cpy-prefix-slot"`: the same string to C, and room
 * for postinstall.py's relocate to write another prefix over it (up to PREFIX_SLOT_PADDING + the
 * build prefix's length - 1 bytes), as conda patches its binaries.
 */
export const PREFIX_SLOT_PADDING = 512;
export const PREFIX_SLOT_MARKER = 'cpy-prefix-slot';
/** The C literal that follows `"<prefix>"` in -DPREFIX (and -DEXEC_PREFIX), as the shell passes it on. */
export const PREFIX_SLOT_LITERAL = `"${'\\000'.repeat(PREFIX_SLOT_PADDING)}${PREFIX_SLOT_MARKER}"`;

/** The script's source file in this package (packArtifact puts it into every artifact). */
export const POSTINSTALL_SOURCE: string = fileURLToPath(new URL('../python/postinstall.py', import.meta.url));

/**
 * A `.pth` line in the artifact's site-packages. Started through a link outside its prefix
 * (/usr/local/bin/python3, ~/.local/bin/python3, <state>/current/bin/python3), CPython keeps
 * the link as sys.executable and sys._base_executable. `python3 -m venv` then writes the
 * link's directory as the venv's `home`, where getpath finds no standard library (the venv
 * dies with "No module named 'encodings'"), and `python3 -m pip` writes the link into the #!
 * line of every script it installs, which `cpy use` later points at another version. This
 * line resolves both to the real interpreter, only outside venvs and only when the link leads
 * into this prefix's bin/. It costs a few stat calls at start-up (bench/startup.mjs).
 */
export const RESOLVE_EXECUTABLE_PTH = {
  name: 'cpy-resolve-executable.pth',
  text:
    'import os, sys; exec("if sys.executable and sys.prefix == sys.base_prefix:\\n' +
    '    _cpy_real = os.path.realpath(sys.executable)\\n' +
    "    if os.path.dirname(_cpy_real) == os.path.join(os.path.realpath(sys.base_prefix), 'bin'):\\n" +
    '        sys.executable = sys._base_executable = _cpy_real")\n',
} as const;

export interface PythonRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program (the tree's python3) and returns what it printed, whatever its exit code.
 * Validation injects one that runs inside the builder's container.
 */
export type PythonRunner = (file: string, args: readonly string[]) => Promise<PythonRun>;

const PYTHON_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C.UTF-8' };
const HOST_TIMEOUT_MS = 600_000;
const HOST_MAX_OUTPUT = 64 * 1024 * 1024;

/**
 * Runs the program on this host with a clean environment. Given a `signal`, in a process group of
 * its own: a stop (Ctrl-C) ends it and everything it started (the venvs' python3, the C compiler,
 * pip) and then rejects with the signal's reason, so the caller can remove its work directory at
 * once. Without one, in this process's group, where a terminal's Ctrl-C reaches it as it reaches
 * the caller. Ten minutes, or output past 64 MiB, stop it as a failed run.
 */
export function hostRunner(signal?: AbortSignal): PythonRunner {
  return async (file, args) => {
    signal?.throwIfAborted();
    const out: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
    let bytes = 0;
    let cut: string | null = null;
    const collect = (name: 'stdout' | 'stderr') => (chunk: Buffer) => {
      if (cut) return;
      bytes += chunk.length;
      if (bytes > HOST_MAX_OUTPUT) {
        cut = `stopped: more than ${HOST_MAX_OUTPUT / 1024 ** 2} MiB of output`;
        run.stop();
      } else out[name].push(chunk);
    };
    const run = runInGroup(file, args, { env: PYTHON_ENV, cleanEnv: true, signal, ownGroup: signal !== undefined, onStdout: collect('stdout'), onStderr: collect('stderr') });
    const timer = setTimeout(() => {
      cut ??= `stopped after ${HOST_TIMEOUT_MS / 60_000} minutes`;
      run.stop();
    }, HOST_TIMEOUT_MS);
    const { code, signal: killedBy, error } = await run.done.finally(() => clearTimeout(timer));
    signal?.throwIfAborted();
    const stdout = Buffer.concat(out.stdout).toString('utf8');
    const stderr = Buffer.concat(out.stderr).toString('utf8');
    // As a shell says it: 127 for a program that did not start, 128 + n for one a signal ended.
    const exitCode = error ? 127 : (code ?? 128 + (killedBy ? (osConstants.signals[killedBy] ?? 0) : 0));
    const why = error?.message ?? cut ?? (killedBy && !stderr ? `killed by ${killedBy}` : '');
    return { exitCode, stdout, stderr: why ? `${stderr}${stderr && !stderr.endsWith('\n') ? '\n' : ''}${why}` : stderr };
  };
}

/** hostRunner with nothing to stop it. */
export const runOnHost: PythonRunner = hostRunner();

export interface ValidationCheck {
  readonly id: string;
  readonly ok: boolean;
  readonly detail: string;
}

const reportSchema = z.object({
  version: z.string(),
  failed: z.record(z.string(), z.string()),
  checks: z.array(z.object({ id: z.string(), ok: z.boolean(), detail: z.string() })),
});

const relocationSchema = z.object({ rewritten: z.array(z.string()), tooLong: z.array(z.string()) });

function lastJsonLine(text: string): unknown {
  const line = text.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

const tail = (text: string, lines = 3) => text.trim().split('\n').slice(-lines).join(' ');

function script(tree: string): string {
  const path = join(tree, POSTINSTALL_ENTRY);
  if (!existsSync(path)) {
    throw new CpyError('CPY_ARTIFACT_NO_POSTINSTALL', `the artifact has no ${POSTINSTALL_ENTRY}: it was packed by an older cpy, which could not relocate it`, {
      hint: 'pack it again with this cpy (cpy artifact pack <build-dir>), or install it at the prefix it was built for',
    });
  }
  return path;
}

/**
 * Rewrites what names `from` (the prefix the tree was built for) so the tree, unpacked at
 * `tree`, works once it is at `to`: sysconfig data, Makefile, .pc files, pythonX.Y-config,
 * #! lines. Run with the tree's own python3 (-I -S: nothing from the environment or site).
 */
export async function relocateTree(tree: string, from: string, to: string, runner: PythonRunner = runOnHost): Promise<z.infer<typeof relocationSchema>> {
  const r = await runner(join(tree, 'bin', 'python3'), ['-I', '-S', script(tree), 'relocate', '--from', from, '--to', to]);
  const parsed = relocationSchema.safeParse(lastJsonLine(r.stdout));
  if (r.exitCode !== 0 || !parsed.success) {
    throw new CpyError('CPY_ARTIFACT_RELOCATION_FAILED', `relocating the tree to ${to} failed (exit ${r.exitCode}): ${tail(r.stderr || r.stdout)}`, {
      hint: 'the unpacked python3 could not run share/cpy/postinstall.py: check that the artifact runs on this host (cpy artifact validate)',
    });
  }
  return parsed.data;
}

export interface CheckTreeOptions {
  /** The prefix the tree's files name (where it is, or where it will be renamed to); default the tree itself. */
  readonly installedAt?: string;
  /** A scratch directory for the venvs and the C extension. */
  readonly workDir: string;
  /** Build and import a C extension when a compiler is there (default true). */
  readonly compile?: boolean;
  /**
   * Make venvs through a link and with --copies and start their python (default true). false:
   * python3 cannot start python3 here (user-mode emulation), so no venvs, and the C extension is
   * imported by the checking python3 itself.
   */
  readonly venvs?: boolean;
  readonly runner?: PythonRunner;
}

/**
 * Runs the post-install checks of a tree with its own python3: the version, the critical
 * imports, sysconfig's directories, venvs made through a link outside the prefix (symlinks
 * and --copies), no build-machine rpath or directory in the build flags, and a C extension
 * built with sysconfig's flags. Validation and the library's install use this.
 *
 * The checks are this cpy's (its postinstall.py, copied into `workDir`, which the runner's
 * python3 sees as it sees the tree), never the script the artifact carries: an artifact packed
 * by an older cpy would be judged by the older checks (one that lacks a check passes what this
 * cpy knows to be broken), and a tampered one by whatever it says. The artifact must still
 * carry its script (share/cpy/postinstall.py): the installers relocate with it.
 */
export async function checkPythonTree(tree: string, version: string, options: CheckTreeOptions): Promise<ValidationCheck[]> {
  const python = join(tree, 'bin', 'python3');
  try {
    script(tree);
  } catch (error) {
    return [{ id: 'postinstall', ok: false, detail: (error as Error).message }];
  }
  await mkdir(options.workDir, { recursive: true });
  const path = join(options.workDir, 'cpy-checks.py');
  await copyFile(POSTINSTALL_SOURCE, path);
  const args = ['-I', path, 'check', '--version', version, '--installed-at', options.installedAt ?? tree, '--work', options.workDir, '--modules', CRITICAL_IMPORTS.join(',')];
  if (options.compile ?? true) args.push('--compile');
  if (options.venvs === false) args.push('--no-venvs');
  const r = await (options.runner ?? runOnHost)(python, args);
  const parsed = reportSchema.safeParse(lastJsonLine(r.stdout));
  if (!parsed.success) {
    const detail = `${python} does not run: ${tail(r.stderr || r.stdout) || `exit ${r.exitCode}`}`;
    return [
      { id: 'python3', ok: false, detail },
      { id: 'critical-modules', ok: false, detail: 'not checked: python3 does not run' },
    ];
  }
  return parsed.data.checks;
}

/** The script's text, for packArtifact. */
export function postinstallSource(): Promise<Uint8Array> {
  return readFile(POSTINSTALL_SOURCE);
}
