import { CpyError } from '@cpy/core';
import * as z from 'zod';
import { flagIssue, type InputIssue } from './command.js';

/** A flag's whole number from 1, written as one (not 1e2, 0x10 or 2.0, which a number coercion takes). */
export const positiveInt = (what: string) =>
  z
    .string()
    .regex(/^[1-9]\d*$/, `must be ${what}`)
    .transform(Number);

/**
 * A library's own rules on a value a command passes on (a prefix's characters, at most 256
 * jobs, a URL's %-escapes) broken by a flag: a usage error naming the flag (exit 2), not the
 * field's name in the library, and not a bug in cpy.
 */
export function flagUsageError(command: string, issues: readonly InputIssue[], given: Readonly<Record<string, unknown>>, flags: Readonly<Record<string, string>>): CpyError {
  return new CpyError('CPY_CLI_USAGE', flagIssue(issues[0]!, given, flags), { hint: `run \`cpy ${command} --help\`` });
}
