import { spawn } from 'node:child_process';

/** How long a program stopped with SIGTERM has to end before its group is killed. */
const GRACE_MS = 5000;

/** What runStoppable rejects with: as execFile's error, the exit code or signal and what was printed. */
export interface StoppableFailure extends Error {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * A program that may start programs of its own (pip, and the build backends it runs), run as
 * promisified execFile runs one: what it printed, or a rejection with its exit code and output.
 * It runs in a process group of its own, and a stop (`signal`) sends SIGTERM to the whole group,
 * then SIGKILL after a grace period: a stop ends what it started too, where execFile's `signal`
 * ends the program alone (and a SIGTERM to cpy reaches no one else). Stopped or not, it settles
 * only once the program has exited, so that its caller can remove what it was writing into.
 */
export function runStoppable(
  file: string,
  args: readonly string[],
  options: { readonly maxBuffer: number; readonly signal?: AbortSignal | undefined },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out = { stdout: '', stderr: '' };
    let failure: Error | null = null;
    let grace: NodeJS.Timeout | undefined;
    const group = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // The group has ended.
      }
    };
    const stop = () => {
      group('SIGTERM');
      grace ??= setTimeout(() => group('SIGKILL'), GRACE_MS).unref();
    };
    for (const name of ['stdout', 'stderr'] as const) {
      child[name].setEncoding('utf8').on('data', (chunk: string) => {
        out[name] += chunk;
        if (out[name].length > options.maxBuffer && !failure) {
          failure = new RangeError(`${name} maxBuffer length exceeded`);
          stop();
        }
      });
    }
    child.on('error', (error) => (failure ??= error));
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', stop);
      clearTimeout(grace);
      if (code === 0 && !failure) return resolve(out);
      const why = failure?.message ?? (signal ? `killed by ${signal}` : `exit ${code}`);
      reject(Object.assign(new Error(`${file} ${args.join(' ')}: ${why}${out.stderr ? `\n${out.stderr}` : ''}`), { code, signal, ...out }) as StoppableFailure);
    });
    if (options.signal?.aborted) stop();
    else options.signal?.addEventListener('abort', stop, { once: true });
  });
}
