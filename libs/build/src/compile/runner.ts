import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
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
    const lines = lineSplitter((l) => options.onLine?.(l));
    const output = (chunk: Buffer) => {
      log.write(chunk);
      lines.push(chunk);
    };
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
        return { exitCode: 127 };
      }
      if (error) log.write(`${argv[0]}: ${error.message}\n`);
      return { exitCode: code ?? 1 };
    } finally {
      log.end();
      await once(log, 'close').catch(() => undefined);
    }
  };
}
