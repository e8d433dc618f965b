import { execa } from 'execa';

/** What a command produced. `exitCode` 127 means the program was not found. */
export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Text fed to the command's standard input. */
  readonly input?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
}

/**
 * Runs a program on a builder (this host, a container, a VM). Never throws for
 * a non-zero exit; it reports it. Injected everywhere so that tests and other
 * builders can hand in their own.
 */
export type Exec = (file: string, args: readonly string[], options?: ExecOptions) => Promise<ExecResult>;

/** Runs programs on this machine with execa. */
export const hostExec: Exec = async (file, args, options = {}) => {
  const result = await execa(file, [...args], {
    input: options.input,
    env: options.env,
    cwd: options.cwd,
    reject: false,
    stripFinalNewline: false,
  });
  const notFound = (result as { code?: string }).code === 'ENOENT';
  return {
    exitCode: notFound ? 127 : (result.exitCode ?? 1),
    stdout: String(result.stdout ?? ''),
    stderr: notFound ? `${file}: command not found` : String(result.stderr ?? ''),
  };
};
