import { CpyError } from '@cpy/core';
import { checkDetached, DetachedSignatureError, type DetachedFailure } from './detached.js';
import { pinnedKeys, type TrustedKeys } from './keys.js';

export interface VerifyPinnedOptions {
  /** The signed file (streamed). */
  readonly file: string;
  /** The armored detached signature; null when there is none (404, no file). */
  readonly signature: string | null;
  /** Where the signature was looked for, for messages. */
  readonly signatureSource: string;
  /** The public keys fetched; only those whose fingerprint is pinned are used. */
  readonly trusted: TrustedKeys;
  /** Pinned fingerprints (parseSigners). */
  readonly signers: readonly string[];
  /** What the file is, for messages: `cpython-3.13.5-debian12-build1.tgz`, `the index`. */
  readonly label: string;
  /** The current time (tests); default now. */
  readonly now?: Date;
}

export interface SignatureCheck {
  readonly fingerprint: string;
  readonly userId: string;
  readonly signedAt: string;
  /** E.g. the key copy has expired since the signature was made. */
  readonly warnings: readonly string[];
}

function refusal(failure: DetachedFailure, options: VerifyPinnedOptions): CpyError {
  const { label } = options;
  switch (failure.kind) {
    case 'unreadable':
      return new CpyError('CPY_SIGNATURE_INVALID', `the signature of ${label} (${options.signatureSource}) cannot be read: ${failure.detail}`, {
        hint: 'it is damaged or not a detached OpenPGP signature: do not use the file; ask the publisher to sign it again (cpy artifact sign)',
      });
    case 'unknown-signer':
      return new CpyError('CPY_SIGNATURE_UNTRUSTED', `${label} is signed by key ${failure.issuers.join(', ') || '(unknown)'}, which is not a pinned signer (${options.signers.join(', ')})`, {
        hint: 'it was not signed by the publisher you pinned: do not use it. If the publisher rotated keys, pin the new fingerprint after checking it with them',
        details: { signingKeyIds: failure.issuers, pinned: options.signers },
      });
    case 'future':
      return new CpyError('CPY_SIGNATURE_INVALID', `the signature of ${label} claims to be made in the future (${failure.signedAt.toISOString()})`, {
        hint: "check this machine's clock; if it is right, the signature is not trustworthy",
      });
    case 'key-not-valid':
      return new CpyError(
        'CPY_SIGNATURE_KEY_NOT_VALID',
        `${label} is signed by ${failure.fingerprint}, but that key was not valid when the signature was made (${failure.signedAt?.toISOString() ?? 'unknown date'}): ${failure.detail}`,
        {
          hint: 'a signature made after the key expired or was revoked proves nothing: do not use the file; the publisher must sign with a current key',
          details: { fingerprint: failure.fingerprint, signedAt: failure.signedAt?.toISOString() },
        },
      );
    case 'revoked':
      return new CpyError(
        'CPY_SIGNATURE_KEY_NOT_VALID',
        // (When and why are in the details: install.sh, which has gpgv's word alone, says this much.)
        `${label} is signed by ${failure.fingerprint}, whose key has been revoked`,
        {
          hint: 'a revoked key vouches for nothing, whenever it signed: do not use the file; the publisher must sign it again with a current key',
          details: { fingerprint: failure.fingerprint, revokedAt: failure.revokedAt?.toISOString(), reason: failure.reason },
        },
      );
    case 'mismatch':
      return new CpyError('CPY_SIGNATURE_INVALID', `the signature by ${failure.fingerprint} does not match ${label}: ${failure.detail}`, {
        hint: 'the file is not the one the publisher signed (altered or damaged): do not use it',
        details: { fingerprint: failure.fingerprint },
      });
  }
}

/**
 * What refuses a file before its bytes are read: no signature (CPY_SIGNATURE_MISSING), or no pinned
 * signer's key among the trusted keys (CPY_SIGNATURE_UNTRUSTED). An installer asks this before it
 * downloads what it must then check (verifyPinned asks it again).
 */
export function refuseUnusable(options: Omit<VerifyPinnedOptions, 'file' | 'now'>): { signature: string; pinned: ReturnType<typeof pinnedKeys> } {
  if (options.signature === null) {
    throw new CpyError('CPY_SIGNATURE_MISSING', `${options.label} has no signature (${options.signatureSource})`, {
      hint: 'a signer is pinned, so unsigned files are refused: the publisher must sign it (cpy publish --signing-key, or cpy artifact sign)',
    });
  }
  return { signature: options.signature, pinned: pinnedKeys(options.trusted, options.signers) };
}

/**
 * Verifies a detached signature against pinned signers: missing (CPY_SIGNATURE_MISSING), not by a
 * pinned key (CPY_SIGNATURE_UNTRUSTED), made while the key was not valid (CPY_SIGNATURE_KEY_NOT_VALID),
 * or not matching the file (CPY_SIGNATURE_INVALID) are refused. A key that has expired since still
 * verifies what it signed while valid, with a warning.
 */
export async function verifyPinned(options: VerifyPinnedOptions): Promise<SignatureCheck> {
  const { signature, pinned } = refuseUnusable(options);
  const keys = pinned.map((k) => ({ armored: k.armored, source: options.trusted.source }));
  try {
    const check = await checkDetached({ file: options.file, signature, keys, refuseRevoked: true, ...(options.now ? { now: options.now } : {}) });
    const warnings = check.expiredOn
      ? [`the signing key ${check.fingerprint} expired on ${check.expiredOn.toISOString().slice(0, 10)}; ${options.label} was signed while it was valid (${check.signedAt.toISOString().slice(0, 10)})`]
      : [];
    return { fingerprint: check.fingerprint, userId: check.userId, signedAt: check.signedAt.toISOString(), warnings };
  } catch (error) {
    if (error instanceof DetachedSignatureError) throw refusal(error.failure, options);
    throw error;
  }
}
