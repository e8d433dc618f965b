import { execFile } from 'node:child_process';
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
