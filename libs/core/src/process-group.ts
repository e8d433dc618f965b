import { spawn } from 'node:child_process';

/** How long a program stopped with SIGTERM has to end before its group is killed. */
const GRACE_MS = 5000;
/** After SIGKILL, how long to wait for the group to be gone (reaped) before settling anyway. */
const REAPED_MS = 2000;
const POLL_MS = 25;

export interface GroupRunOptions {
  readonly cwd?: string | undefined;
  /** Variables added to this process's environment. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** The program gets `env` alone, nothing of this process's environment. */
  readonly cleanEnv?: boolean | undefined;
  /**
   * A process group and session of its own (the default). false: this process's group, where a
   * terminal's Ctrl-C reaches it as it reaches this process (for a caller with no `signal` to pass
   * it on); a stop then ends the program alone.
   */
  readonly ownGroup?: boolean | undefined;
  /** Aborting stops the program and everything it started (as `stop()`). */
  readonly signal?: AbortSignal | undefined;
  /** How long SIGTERM has before SIGKILL; default 5 s. */
  readonly graceMs?: number | undefined;
  /**
   * What a stop sends first (default SIGTERM). SIGINT for a program that ends what it started in
   * sessions of their own only on KeyboardInterrupt (CPython's regrtest and its -j workers).
   */
  readonly stopSignal?: NodeJS.Signals | undefined;
  /** Output as it comes, in chunks. */
  readonly onStdout?: ((chunk: Buffer) => void) | undefined;
  readonly onStderr?: ((chunk: Buffer) => void) | undefined;
}

export interface GroupRunResult {
  /** The exit code, or null when a signal ended it or it did not start. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Stopped (by `stop()` or the abort signal): its output may be cut short. */
  readonly stopped: boolean;
  /** Why it did not start (ENOENT...), or null. */
  readonly error: Error | null;
}

export interface GroupRun {
  /** Settles (never rejects) once the program has ended; stopped, once its whole group is gone. */
  readonly done: Promise<GroupRunResult>;
  /** SIGTERM (or stopSignal) to the group, SIGKILL after the grace period. */
  stop(): void;
}

/**
 * The process groups running now. Each has a session of its own (`detached`), which no terminal
 * signal reaches: whatever way this process ends, what is left of them is killed (`exit`).
 */
const running = new Set<number>();
let exitHook = false;
const killLeft = () => {
  for (const target of running) signalTo(target, 'SIGKILL');
};

/** A signal to a process group (-pgid) or a process (pid); false once it has ended. */
function signalTo(target: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(target, sig);
    return true;
  } catch {
    return false; // it has ended
  }
}

/**
 * Runs a program that may start programs of its own (make and its compilers, pip and the build
 * backends it runs) in a process group and session of its own. A stop sends SIGTERM to the whole
 * group, then SIGKILL after the grace period, and settles once the program has exited and nothing
 * of its group is left (or, killed, after a last wait for them to be reaped): the caller can then
 * remove what they were writing into. A program of the group that left it (setsid) may hold the
 * pipes: once the program has exited, they are not waited for. A signal already aborted starts
 * nothing. When this process exits, the group of each program still running (not yet settled) is
 * killed; what a program that ended normally left running in its group is not.
 */
export function runInGroup(file: string, args: readonly string[], options: GroupRunOptions = {}): GroupRun {
  if (options.signal?.aborted) return { done: Promise.resolve({ code: null, signal: null, stopped: true, error: null }), stop: () => undefined };
  const graceMs = options.graceMs ?? GRACE_MS;
  const ownGroup = options.ownGroup ?? true;
  const child = spawn(file, [...args], {
    cwd: options.cwd,
    env: options.cleanEnv ? { ...options.env } : options.env ? { ...process.env, ...options.env } : process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: ownGroup,
  });
  // What a stop signals: the whole group, or (ownGroup false) the program alone.
  const target = child.pid === undefined ? undefined : ownGroup ? -child.pid : child.pid;
  if (target !== undefined) {
    running.add(target);
    if (!exitHook) process.once('exit', killLeft);
    exitHook = true;
  }
  let stopped = false;
  let error: Error | null = null;
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let settled = false;
  let resolveDone!: (result: GroupRunResult) => void;
  const done = new Promise<GroupRunResult>((resolve) => (resolveDone = resolve));
  const settle = () => {
    if (settled || !exited) return;
    settled = true;
    if (target !== undefined) running.delete(target);
    options.signal?.removeEventListener('abort', stop);
    resolveDone({ ...exited, stopped, error });
  };
  function stop() {
    if (stopped || settled || target === undefined) return;
    stopped = true;
    const since = Date.now();
    signalTo(target, options.stopSignal ?? 'SIGTERM');
    const watch = () => {
      if (settled) return;
      const waited = Date.now() - since;
      if (exited) {
        child.stdout.destroy();
        child.stderr.destroy();
        if (!signalTo(target, 0) || waited >= graceMs + REAPED_MS) return settle();
      }
      if (waited >= graceMs) signalTo(target, 'SIGKILL');
      setTimeout(watch, POLL_MS);
    };
    watch();
  }
  if (options.onStdout) child.stdout.on('data', options.onStdout);
  else child.stdout.resume();
  if (options.onStderr) child.stderr.on('data', options.onStderr);
  else child.stderr.resume();
  child.on('error', (e) => {
    error ??= e;
    // It did not start: there is no group to wait for.
    if (target === undefined) {
      exited = { code: null, signal: null };
      settle();
    }
  });
  child.on('exit', (code, signal) => void (exited = { code, signal }));
  // Not stopped: settled when its output is complete; stopped: by `stop`.
  child.on('close', () => void (stopped || settle()));
  options.signal?.addEventListener('abort', stop, { once: true });
  return { done, stop };
}
