import { CpyError } from '@cpy/core';

/** A full OpenPGP v4 fingerprint, as cpy pins it: 40 upper-case hex digits. */
export const FINGERPRINT_RE = /^[0-9A-F]{40}$/;

/** What a signer list may hold as one option value (the Feature's option rule: no spaces there). */
export const SIGNERS_OPTION_RE = /^[0-9A-Fa-f,]*$/;

/**
 * Pinned signers from repeatable flags or comma-separated lists (spaces, as gpg prints a
 * fingerprint, are allowed here), upper-cased and without duplicates. Throws CPY_SIGNER_INVALID
 * naming the first value that is not a full fingerprint.
 */
export function parseSigners(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)) {
    const fingerprint = raw.replace(/\s+/g, '').toUpperCase();
    if (!FINGERPRINT_RE.test(fingerprint)) {
      throw new CpyError('CPY_SIGNER_INVALID', `'${raw}' is not a key fingerprint`, {
        hint: 'pin the signer with the 40 hex digits `cpy keys export` prints (a short key ID is not enough)',
      });
    }
    if (!out.includes(fingerprint)) out.push(fingerprint);
  }
  return out;
}
