import { readFile } from 'node:fs/promises';
import { CpyError } from '@cpy/core';
import { checkDetached, DetachedSignatureError, type DetachedCheck, type DetachedFailure } from '@cpy/signing';
import * as openpgp from 'openpgp';

/** A public key cpy may trust, with where it came from. */
export interface TrustedKey {
  /** The ASCII-armored public key. */
  readonly armored: string;
  /** `pinned`: shipped with cpy for this release line; `user`: added by the caller. */
  readonly origin: 'pinned' | 'user';
  /** Where it was read from, for messages. */
  readonly source: string;
}

export interface OpenPgpVerification {
  readonly method: 'openpgp';
  /** Full fingerprint of the primary key, upper case. */
  readonly fingerprint: string;
  /** The key's primary user ID, e.g. `Thomas Wouters <thomas@python.org>`. */
  readonly signer: string;
  /** ISO time the signature was made. */
  readonly signedAt: string;
  readonly keyOrigin: TrustedKey['origin'];
  /** Things worth saying that do not fail verification (an expired key copy...). */
  readonly warnings: readonly string[];
}

export interface VerifyOpenPgpOptions {
  /** The file that was signed (read as a stream, never loaded whole). */
  readonly file: string;
  /** The detached signature (`.asc`), ASCII-armored. */
  readonly signature: string;
  /** The keys allowed to have made it. A valid signature by any other key is refused. */
  readonly keys: readonly TrustedKey[];
  /** What the file is, for messages: `Python-3.13.5.tar.xz`. */
  readonly label?: string;
  /** The current time (tests); default now. */
  readonly now?: Date;
}

const KEYS_DIR = new URL('../../keys/', import.meta.url);

/** The public key shipped with cpy for a fingerprint (see keys/README.md). */
export async function shippedKey(fingerprint: string): Promise<TrustedKey> {
  const url = new URL(`${fingerprint.toUpperCase()}.asc`, KEYS_DIR);
  return { armored: await readFile(url, 'utf8'), origin: 'pinned', source: `cpy's keyring (${fingerprint.toUpperCase()})` };
}

/**
 * Reads a user's key file, with a clear error when it is not OpenPGP public keys: every key in it
 * (python.org's file of all release managers' keys, `gpg --armor --export A B`), each a trusted key
 * of its own (only the first one counted, and a signature by another was "not by a trusted key").
 */
export async function readUserKeys(path: string): Promise<TrustedKey[]> {
  let keys: openpgp.Key[];
  // A path that leads to no file is said so (its hint was to pass an armored public key).
  const text = await readFile(path, 'utf8').catch((cause: NodeJS.ErrnoException) => {
    const why = cause.code === 'ENOENT' || cause.code === 'ENOTDIR' ? 'it does not exist' : cause.code === 'EISDIR' ? 'it is a directory' : cause.code === 'EACCES' ? 'permission denied' : cause.message;
    throw new CpyError('CPY_SOURCE_BAD_KEY', `cannot read ${path} (--trusted-key): ${why}`, { hint: 'check the path of the key file (--trusted-key <file>)', cause });
  });
  try {
    // Armored blocks one after another (python.org's pubkeys.txt), each read: openpgp reads the first alone.
    const blocks = text.match(/-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g) ?? [text];
    keys = (await Promise.all(blocks.map((armoredKeys) => openpgp.readKeys({ armoredKeys })))).flat();
  } catch (cause) {
    throw new CpyError('CPY_SOURCE_BAD_KEY', `cannot use ${path} as a trusted key: ${(cause as Error).message}`, {
      hint: 'pass an ASCII-armored OpenPGP public key (gpg --armor --export <fingerprint>)',
      cause,
    });
  }
  // As cpy artifact verify's --trusted-keys refuses one: a trust anchor is public, and a private key given as one has been copied where it should not be.
  if (keys.some((key) => key.isPrivate())) {
    throw new CpyError('CPY_SOURCE_BAD_KEY', `cannot use ${path} as a trusted key: it holds a private key`, {
      hint: 'pass the public key (gpg --armor --export <fingerprint>, or cpy keys export); keep the private key out of shared places',
    });
  }
  return keys.map((key) => ({ armored: key.armor(), origin: 'user', source: keys.length > 1 ? `${path} (${key.getFingerprint().toUpperCase()})` : path }));
}

/**
 * Verifies a detached OpenPGP signature over a file against a set of trusted keys.
 *
 * The rule (checkDetached in @cpy/signing): the signature must be by one of `keys` (primary key or
 * signing subkey), must match the file byte for byte, and the key must have been valid when the
 * signature was made. A key copy that has expired since is accepted with a warning; that is what
 * lets old releases verify forever.
 */
export async function verifyOpenPgp(options: VerifyOpenPgpOptions): Promise<OpenPgpVerification> {
  const label = options.label ?? options.file;
  const now = options.now ?? new Date();
  let check: DetachedCheck;
  try {
    check = await checkDetached({ file: options.file, signature: options.signature, keys: options.keys, now });
  } catch (error) {
    if (error instanceof DetachedSignatureError) throw refusal(error.failure, label);
    throw error;
  }
  const trusted = options.keys[check.keyIndex]!;
  const warnings = check.expiredOn
    ? [
        `the key copy for ${check.fingerprint} (${trusted.source}) expired on ${check.expiredOn.toISOString().slice(0, 10)}; it was valid when this release was signed, but refresh it to verify newer releases`,
      ]
    : [];
  return {
    method: 'openpgp',
    fingerprint: check.fingerprint,
    signer: check.userId,
    signedAt: check.signedAt.toISOString(),
    keyOrigin: trusted.origin,
    warnings,
  };
}

function refusal(failure: DetachedFailure, label: string): CpyError {
  switch (failure.kind) {
    case 'unreadable':
      return new CpyError('CPY_SOURCE_SIGNATURE_INVALID', `the OpenPGP signature for ${label} cannot be read: ${failure.detail}`, {
        hint: 'the .asc file is damaged or is not a detached signature; fetch it again from python.org',
      });
    case 'unknown-signer':
      return new CpyError(
        'CPY_SOURCE_UNTRUSTED_SIGNER',
        `${label} is signed by key ${failure.issuers.join(', ') || '(unknown)'}, which is not a key trusted for this release (${failure.known.join(', ') || 'none'})`,
        {
          hint: "this is not the release manager's signature: do not use the file. If you know and trust that key, pass it with --trusted-key <file>",
          details: { signingKeyIds: failure.issuers, trusted: failure.known.join(', ') },
        },
      );
    case 'future':
      return new CpyError('CPY_SOURCE_SIGNATURE_INVALID', `the OpenPGP signature for ${label} claims to be made in the future (${failure.signedAt.toISOString()})`, {
        hint: "check this machine's clock; if it is right, the signature is not trustworthy",
      });
    case 'key-not-valid':
      return new CpyError(
        'CPY_SOURCE_KEY_NOT_VALID_AT_SIGNING',
        `${label} is signed by ${failure.fingerprint}, but that key copy (${failure.source}) does not show the key as valid on ${failure.signedAt?.toISOString() ?? 'the signing date'}: ${failure.detail}`,
        {
          hint: "the key copy lacks the self-signatures valid at signing time, or the key was expired or revoked then; use a copy with the key's full history (cpy ships one)",
          details: { fingerprint: failure.fingerprint, signedAt: failure.signedAt?.toISOString() },
        },
      );
    case 'revoked':
      // (Only asked for by installers: a release manager's key retired since still vouches for
      // the releases it signed, as OpenPGP says.)
      return new CpyError('CPY_SOURCE_KEY_NOT_VALID_AT_SIGNING', `${label} is signed by ${failure.fingerprint}, whose key has been revoked${failure.reason ? ` (${failure.reason})` : ''}`, {
        hint: 'do not use the file; check the release with python.org',
        details: { fingerprint: failure.fingerprint },
      });
    case 'mismatch':
      return new CpyError('CPY_SOURCE_SIGNATURE_INVALID', `the OpenPGP signature does not match ${label}: ${failure.detail}`, {
        hint: 'the file is not the one the release manager signed (damaged or altered download); delete it and fetch it again',
        details: { fingerprint: failure.fingerprint },
      });
  }
}
