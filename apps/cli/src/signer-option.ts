import type { core } from 'zod/mini';
import { parseSigners } from '@cpy/artifact/index-format';

/**
 * Pinned signers given as flags (--signer, --index-signer), as the library takes them: parseSigners
 * in an input schema's transform (zod or zod/mini), so a value that is not a fingerprint is a usage
 * error (exit 2) before the command runs, said as parseSigners says it.
 */
export function pinnedSigners(values: string[], ctx: core.ParsePayload): string[] {
  try {
    return parseSigners(values);
  } catch (error) {
    ctx.issues.push({ code: 'custom', message: `${(error as Error).message}: give the 40 hex digits cpy keys export prints`, input: values });
    return [];
  }
}
