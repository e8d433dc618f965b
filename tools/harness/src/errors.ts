import { isCpyError, type CpyError } from '@cpy/core';

/**
 * The CpyError a promise rejects with (its code, message and hint, for assertions). A promise that
 * resolves, or rejects with anything else, fails the test with that: a refusal test cannot pass
 * by accident.
 */
export async function errorOf(promise: Promise<unknown>): Promise<CpyError> {
  try {
    await promise;
  } catch (error) {
    if (isCpyError(error)) return error;
    throw error;
  }
  throw new Error('expected a CpyError, but it succeeded');
}
