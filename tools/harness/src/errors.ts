import { isCpyError, type CpyError, type CpyErrorCode } from '@cpy/core';

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

/**
 * The CpyError a promise rejects with, which must carry `code` and a hint that says what to do
 * (more than a word). Anything else fails the test, naming what came instead.
 */
export async function expectCode(promise: Promise<unknown>, code: CpyErrorCode): Promise<CpyError> {
  const error = await errorOf(promise);
  if (error.code !== code) throw new Error(`expected ${code}, but got ${error.code}: ${error.message}`);
  if (error.hint.length <= 10) throw new Error(`${code} came with no useful hint: '${error.hint}'`);
  return error;
}
