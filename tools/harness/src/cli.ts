import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.js';

const run = promisify(execFile);

/** What a run of the cpy bin gave: its exit code and everything it printed. */
export interface CpyRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CpyRunOptions {
  /** Added to this process's environment (a value of '' clears one, e.g. NO_COLOR). */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Through `npx --no-install cpy` from the repository root, as the package's bin link, instead of node apps/cli/bin/cpy.cjs. */
  readonly npx?: boolean;
  /** Run as this user (uid, and the same gid, no other groups: `setpriv`), as a normal user does; the caller must be root. */
  readonly uid?: number;
}

/**
 * Runs the real `cpy` bin as a whole process, as users do, and resolves with its exit code,
 * stdout and stderr: a non-zero exit is an answer to assert on, never a rejection.
 */
export async function runCpy(args: readonly string[], options: CpyRunOptions = {}): Promise<CpyRun> {
  const root = repoRoot();
  const [bin, binArgs] = options.npx ? ['npx', ['--no-install', 'cpy', ...args]] : [process.execPath, [join(root, 'apps', 'cli', 'bin', 'cpy.cjs'), ...args]];
  const [file, argv] = options.uid === undefined ? [bin, binArgs] : ['setpriv', [`--reuid=${options.uid}`, `--regid=${options.uid}`, '--clear-groups', bin, ...binArgs]];
  return run(file, argv, { env: { ...process.env, ...options.env }, cwd: options.cwd ?? (options.npx ? root : undefined), maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number | string; stdout?: string; stderr?: string; message?: string }) => {
      if (typeof e.code !== 'number') throw e;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    },
  );
}

/** A `cpy` run under way (startCpy): what it printed so far, and its end. */
export interface CpyProcess {
  readonly child: ChildProcess;
  /** Everything on stdout, stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr matches `pattern` (or the process ended first: then the caller's assertion says so). */
  until(pattern: RegExp): Promise<void>;
  /** Its exit code (null when a signal ended it). */
  readonly closed: Promise<number | null>;
}

/**
 * Starts the real `cpy` bin as users run it and lets the test act while it runs: wait for a line
 * on stderr (`until`), then signal it (a Ctrl-C is `child.kill('SIGINT')`), and read its end.
 */
export function startCpy(args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): CpyProcess {
  const child = spawn(process.execPath, [join(repoRoot(), 'apps', 'cli', 'bin', 'cpy.cjs'), ...args], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    for (const w of waiters.filter((w) => w.pattern.test(stderr))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    until: (pattern) => (pattern.test(stderr) ? Promise.resolve() : Promise.race([new Promise<void>((resolve) => waiters.push({ pattern, resolve })), closed.then(() => undefined)])),
    closed,
  };
}
