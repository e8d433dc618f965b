/** Where the CLI writes, and what it knows of its environment. Injected so tests run it in-process. */
export interface CliIO {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/**
 * The same, with a stderr that ends a line left open before anything else is written on it: a
 * progress bar or counter redraws its line with `\r` and no newline, and a log line, a warning or
 * an error that came next (a download cut off, Ctrl-C) was glued to it. Redraws (`\r...`) go on
 * as they are.
 */
export function closingOpenLines(io: CliIO): CliIO {
  const stderr = io.stderr;
  let open = false;
  return {
    ...io,
    stderr: {
      isTTY: stderr.isTTY,
      write(text: string) {
        if (text === '') return stderr.write(text);
        const piece = open && !text.startsWith('\r') && !text.startsWith('\n') ? `\n${text}` : text;
        open = !text.endsWith('\n');
        return stderr.write(piece);
      },
    },
  };
}

export interface Style {
  readonly ok: (s: string) => string;
  readonly bad: (s: string) => string;
  readonly warn: (s: string) => string;
  readonly dim: (s: string) => string;
  readonly bold: (s: string) => string;
}

const wrap = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`;
const plain = (s: string) => s;

/**
 * Colour only for a terminal, never when NO_COLOR is set to anything non-empty
 * (no-color.org) or --no-color is given; FORCE_COLOR turns it on for pipes.
 */
export function createStyle(io: CliIO, noColorFlag: boolean, stream: 'stdout' | 'stderr' = 'stderr'): Style {
  const env = io.env;
  const enabled =
    !noColorFlag &&
    !env['NO_COLOR'] &&
    (Boolean(env['FORCE_COLOR'] && env['FORCE_COLOR'] !== '0') || Boolean(io[stream].isTTY));
  return enabled
    ? { ok: wrap(32, 39), bad: wrap(31, 39), warn: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) }
    : { ok: plain, bad: plain, warn: plain, dim: plain, bold: plain };
}
