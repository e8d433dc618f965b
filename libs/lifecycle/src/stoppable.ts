import { StringDecoder } from 'node:string_decoder';
import { runInGroup } from '@cpy/core/process-group';

/** What runStoppable rejects with: as execFile's error, the exit code or signal and what was printed. */
export interface StoppableFailure extends Error {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const failure = (message: string, fields: { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }): StoppableFailure =>
  Object.assign(new Error(message), fields) as StoppableFailure;

/**
 * A program that may start programs of its own (pip, and the build backends it runs), run as
 * promisified execFile runs one: what it printed, or a rejection with its exit code or signal and
 * its output. It runs with @cpy/core's runInGroup: a stop (`signal`) ends the whole group and
 * settles once it is gone, where execFile's `signal` ends the program alone, so the caller can then
 * remove what they were writing into. Output past `maxBuffer` stops it too, and is not kept.
 */
export async function runStoppable(
  file: string,
  args: readonly string[],
  options: {
    readonly maxBuffer: number;
    readonly signal?: AbortSignal | undefined;
    readonly cwd?: string;
    /** Names left out of this process's environment for the program. */
    readonly unset?: readonly string[];
  },
): Promise<{ stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  let overflow: string | null = null;
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  const collect = (name: 'stdout' | 'stderr') => {
    const decoder = decoders[name];
    return (chunk: Buffer) => {
      if (overflow) return;
      out[name] += decoder.write(chunk);
      if (out[name].length > options.maxBuffer) {
        overflow = `${name} maxBuffer length exceeded`;
        run.stop();
      }
    };
  };
  const env = options.unset?.length ? Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !options.unset!.includes(e[0]))) : null;
  const run = runInGroup(file, args, {
    signal: options.signal,
    onStdout: collect('stdout'),
    onStderr: collect('stderr'),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(env ? { env, cleanEnv: true } : {}),
  });
  const { code, signal, stopped, error } = await run.done;
  // A sequence cut at the end is told as execFile tells it (U+FFFD), not dropped.
  if (!overflow) for (const name of ['stdout', 'stderr'] as const) out[name] += decoders[name].end();
  if (code === 0 && !stopped && !error) return out;
  // Stopped before it started: told as a program the stop ended.
  const notStarted = stopped && code === null && signal === null && !error;
  const why = overflow ?? error?.message ?? (notStarted ? 'not started: stopped' : signal ? `killed by ${signal}` : `exit ${code}`);
  throw failure(`${file} ${args.join(' ')}: ${why}${out.stderr ? `\n${out.stderr}` : ''}`, { code, signal: notStarted ? 'SIGTERM' : signal, ...out });
}
