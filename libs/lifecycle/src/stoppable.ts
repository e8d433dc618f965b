import { spawn } from 'node:child_process';

/** How long a program stopped with SIGTERM has to end before its group is killed. */
const GRACE_MS = 5000;
/** After SIGKILL, how long to wait for the group to be gone (reaped) before settling anyway. */
const REAPED_MS = 2000;
const POLL_MS = 25;

/** What runStoppable rejects with: as execFile's error, the exit code or signal and what was printed. */
export interface StoppableFailure extends Error {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The process groups running now. `detached` gives each a session of its own, which no terminal
 * signal reaches: whatever way this process ends, what is left of them is killed (`exit`).
 */
const running = new Set<number>();
let exitHook = false;
const killLeft = () => {
  for (const pgid of running) groupSignal(pgid, 'SIGKILL');
};

function groupSignal(pgid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false; // the group has ended
  }
}

const failure = (message: string, fields: { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }): StoppableFailure =>
  Object.assign(new Error(message), fields) as StoppableFailure;

/**
 * A program that may start programs of its own (pip, and the build backends it runs), run as
 * promisified execFile runs one: what it printed, or a rejection with its exit code or signal and
 * its output. It runs in a process group (and session) of its own. A stop (`signal`) sends SIGTERM
 * to the whole group, then SIGKILL after a grace period, and settles once the group is gone: a stop
 * ends what the program started too, where execFile's `signal` ends the program alone, and its
 * caller can then remove what they were writing into. A signal already aborted starts nothing.
 */
export function runStoppable(
  file: string,
  args: readonly string[],
  options: { readonly maxBuffer: number; readonly signal?: AbortSignal | undefined },
): Promise<{ stdout: string; stderr: string }> {
  if (options.signal?.aborted) return Promise.reject(failure(`${file}: not started: stopped`, { code: null, signal: 'SIGTERM', stdout: '', stderr: '' }));
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pgid = child.pid;
    if (pgid !== undefined) {
      running.add(pgid);
      if (!exitHook) process.once('exit', killLeft);
      exitHook = true;
    }
    const out = { stdout: '', stderr: '' };
    let problem: Error | null = null;
    let stopped = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let settled = false;
    const settle = () => {
      if (settled || !exited) return;
      settled = true;
      if (pgid !== undefined) running.delete(pgid);
      options.signal?.removeEventListener('abort', stop);
      const { code, signal } = exited;
      if (code === 0 && !problem && !stopped) return resolve(out);
      const why = problem?.message ?? (signal ? `killed by ${signal}` : `exit ${code}`);
      reject(failure(`${file} ${args.join(' ')}: ${why}${out.stderr ? `\n${out.stderr}` : ''}`, { code, signal, ...out }));
    };
    /**
     * Stopped: SIGTERM to the group, SIGKILL once the grace period is over; settles once the
     * program has exited and nothing of its group is left (or, killed, after a last wait for
     * them to be reaped). A program of the group that left it (setsid) may hold the pipes: once
     * the program has exited, they are not waited for.
     */
    const stop = () => {
      if (stopped || pgid === undefined) return;
      stopped = true;
      const since = Date.now();
      groupSignal(pgid, 'SIGTERM');
      const watch = () => {
        if (settled) return;
        const waited = Date.now() - since;
        if (exited) {
          child.stdout.destroy();
          child.stderr.destroy();
          if (!groupSignal(pgid, 0) || waited >= GRACE_MS + REAPED_MS) return settle();
        }
        if (waited >= GRACE_MS) groupSignal(pgid, 'SIGKILL');
        setTimeout(watch, POLL_MS);
      };
      watch();
    };
    for (const name of ['stdout', 'stderr'] as const) {
      child[name].setEncoding('utf8').on('data', (chunk: string) => {
        if (problem) return;
        out[name] += chunk;
        if (out[name].length > options.maxBuffer) {
          problem = new RangeError(`${name} maxBuffer length exceeded`);
          stop();
        }
      });
    }
    child.on('error', (error) => {
      problem ??= error;
      // It did not start: there is no group to wait for.
      if (pgid === undefined) {
        exited = { code: null, signal: null };
        settle();
      }
    });
    child.on('exit', (code, signal) => void (exited = { code, signal }));
    // Not stopped: settled when its output is complete (as execFile); stopped: by `stop`.
    child.on('close', () => void (stopped || settle()));
    options.signal?.addEventListener('abort', stop, { once: true });
  });
}
