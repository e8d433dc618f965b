import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { CpyError } from '@cpy/core';
import { runInGroup } from '@cpy/core/process-group';

export interface RunOptions {
  /** Working directory on the builder. */
  readonly cwd?: string;
  /** Variables added to the builder's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Host path of the log file that receives the command's output (stdout and stderr). */
  readonly logFile: string;
  /** Each line of output, as it comes (for progress). */
  readonly onLine?: (line: string) => void;
  /** Aborting stops the command and everything it started. */
  readonly signal?: AbortSignal;
}

/**
 * Runs a long command on a builder with its output streamed to a log file.
 * Resolves with the exit code; rejects with CPY_BUILD_CANCELLED when aborted.
 */
export type Runner = (argv: readonly string[], options: RunOptions) => Promise<{ exitCode: number }>;

export function cancelled(): CpyError {
  return new CpyError('CPY_BUILD_CANCELLED', 'the build was cancelled', {
    hint: 'run the same command again: a new build starts from a clean source and staging tree',
  });
}

/** The build's log could not be written: a full disk (or quota), else what the system said. */
function logWriteFailed(logFile: string, error: NodeJS.ErrnoException): CpyError {
  const message = `the build's log ${logFile} could not be written (${error.message})`;
  if (error.code === 'ENOSPC' || error.code === 'EDQUOT') {
    return new CpyError('CPY_BUILD_DISK_FULL', message, { hint: 'free space there (a build takes about 3 GiB), or pass --work-dir on a larger disk, then build again', cause: error });
  }
  return new CpyError('CPY_BUILD_LOG_WRITE_FAILED', message, { hint: 'check that the work directory (--work-dir) is writable, then build again', cause: error });
}

/** A log's last lines (none when it cannot be read), for an error that names what failed. */
export async function logTail(file: string, lines = 15): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines);
  } catch {
    return [];
  }
}

/** Whether a log's last lines say the disk filled (the compiler's or the linker's own words). */
export const saysDiskFull = (lines: readonly string[]): boolean => lines.some((l) => /No space left on device|Disk quota exceeded/.test(l));

/** Splits a stream of chunks into lines. */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer | string): void; end(): void } {
  let rest = '';
  return {
    push(chunk) {
      const text = rest + chunk.toString();
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) onLine(l);
    },
    end() {
      if (rest) onLine(rest);
      rest = '';
    },
  };
}

/**
 * Runs commands on this machine, each with @cpy/core's runInGroup: aborting stops make and every
 * compiler it started (SIGTERM to the group, then SIGKILL after `killGraceMs`), and rejects with
 * CPY_BUILD_CANCELLED once they are gone, so the staging tree can be removed. Output (stdout and
 * stderr, as they come) goes to the log file.
 */
export function hostRunner(killGraceMs = 5000): Runner {
  return async (argv, options) => {
    if (options.signal?.aborted) throw cancelled();
    const log = createWriteStream(options.logFile, { flags: 'a' });
    await once(log, 'open');
    // A disk that fills while make runs fails the log's writes: said as that, not as a crash.
    let logError: NodeJS.ErrnoException | null = null;
    log.on('error', (error: NodeJS.ErrnoException) => void (logError ??= error));
    const lines = lineSplitter((l) => options.onLine?.(l));
    const output = (chunk: Buffer) => {
      log.write(chunk);
      lines.push(chunk);
    };
    let exitCode: number;
    try {
      const { code, stopped, error } = await runInGroup(argv[0]!, argv.slice(1), {
        cwd: options.cwd,
        env: options.env,
        signal: options.signal,
        graceMs: killGraceMs,
        onStdout: output,
        onStderr: output,
      }).done;
      lines.end();
      if (stopped) throw cancelled();
      if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
        log.write(`${argv[0]}: command not found\n`);
        exitCode = 127;
      } else {
        if (error) log.write(`${argv[0]}: ${error.message}\n`);
        exitCode = code ?? 1;
      }
    } finally {
      log.end();
      await finished(log).catch(() => undefined);
    }
    // (Its writes fail after the command's output is read: known once the log is closed.)
    if (logError) throw logWriteFailed(options.logFile, logError);
    return { exitCode };
  };
}
