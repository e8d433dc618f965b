/**
 * The one error shape every cpy library throws.
 *
 * `code` is stable and documented (CPY_<AREA>_<WHAT>), `message` says what
 * happened, `hint` says what to do next. Apps render these; libraries never
 * print. Secrets must never be placed in any field.
 */
export class CpyError<Code extends string = string> extends Error {
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
export function isCpyError<C extends string = string>(error: unknown, code?: C): error is CpyError<C> {
  return error instanceof CpyError && (code === undefined || error.code === code);
}
