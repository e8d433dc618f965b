import type { CpyErrorCode } from './codes.js';

/**
 * The one error shape every cpy library throws.
 *
 * `code` is stable, documented and one of the closed catalog (ERROR_CODES, CPY_<AREA>_<WHAT>): a
 * code that is not catalogued does not compile. `message` says what
 * happened, `hint` says what to do next. Apps render these; libraries never
 * print. Secrets must never be placed in any field.
 */
export class CpyError<Code extends CpyErrorCode = CpyErrorCode> extends Error {
  readonly code: Code;
  readonly hint: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: Code,
    message: string,
    options: { hint: string; cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CpyError';
    this.code = code;
    this.hint = options.hint;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  toJSON(): { code: Code; message: string; hint: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, hint: this.hint, details: { ...this.details } };
  }
}

/** True for any error thrown by a cpy library (optionally with a given code). */
export function isCpyError<C extends CpyErrorCode = CpyErrorCode>(error: unknown, code?: C): error is CpyError<C> {
  return error instanceof CpyError && (code === undefined || error.code === code);
}
