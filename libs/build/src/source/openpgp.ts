import { open, readFile, type FileHandle } from 'node:fs/promises';
import { CpyError } from '@cpy/artifact';
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

/** Reads a user's key file, with a clear error when it is not an OpenPGP public key. */
export async function readUserKey(path: string): Promise<TrustedKey> {
  let armored: string;
  try {
    armored = await readFile(path, 'utf8');
    await openpgp.readKey({ armoredKey: armored });
  } catch (cause) {
    throw new CpyError('CPY_SOURCE_BAD_KEY', `cannot use ${path} as a trusted key: ${(cause as Error).message}`, {
      hint: 'pass an ASCII-armored OpenPGP public key (gpg --armor --export <fingerprint>)',
      cause,
    });
  }
  return { armored, origin: 'user', source: path };
}

function fingerprintOf(key: openpgp.Key): string {
  return key.getFingerprint().toUpperCase();
}

async function primaryUserId(key: openpgp.Key, date: Date): Promise<string> {
  try {
    const { user } = await key.getPrimaryUser(date);
    if (user.userID?.userID) return user.userID.userID;
  } catch {
    // an invalid key at that date: fall back to the first user ID below
  }
  return key.users.find((u) => u.userID)?.userID?.userID ?? fingerprintOf(key);
}

/**
 * A file as a pull-based web stream: a chunk is read only when the consumer
 * wants one. (Readable.toWeb on Node 20 reads ahead without backpressure, and
 * can end up holding the whole file in memory while openpgp.js hashes it.)
 */
function fileStream(path: string, chunkSize = 256 * 1024): ReadableStream<Uint8Array> {
  let handle: FileHandle | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async start() {
        handle = await open(path, 'r');
      },
      async pull(controller) {
        const buffer = Buffer.allocUnsafe(chunkSize);
        const { bytesRead } = await handle!.read(buffer, 0, chunkSize, null);
        if (bytesRead === 0) {
          await handle!.close();
          handle = undefined;
          controller.close();
        } else {
          controller.enqueue(new Uint8Array(buffer.buffer, buffer.byteOffset, bytesRead));
        }
      },
      async cancel() {
        await handle?.close();
        handle = undefined;
      },
    },
    { highWaterMark: 2 },
  );
}

/** Drains a web stream (openpgp.js checks the signature as the data flows through). */
async function drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    const { done } = await reader.read();
    if (done) return;
  }
}

/**
 * Verifies a detached OpenPGP signature over a file against a set of trusted keys.
 *
 * The rule: the signature must be by one of `keys` (primary key or signing
 * subkey), must match the file byte for byte, and the key must have been valid
 * when the signature was made (not revoked, not expired then, with a
 * self-signature that existed then). A key copy that has expired since is
 * accepted with a warning; that is what lets old releases verify forever.
 */
export async function verifyOpenPgp(options: VerifyOpenPgpOptions): Promise<OpenPgpVerification> {
  const label = options.label ?? options.file;
  const now = options.now ?? new Date();

  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature: options.signature });
  } catch (cause) {
    throw new CpyError('CPY_SOURCE_SIGNATURE_INVALID', `the OpenPGP signature for ${label} cannot be read: ${(cause as Error).message}`, {
      hint: 'the .asc file is damaged or is not a detached signature; fetch it again from python.org',
      cause,
    });
  }
  const packet = signature.packets[0];
  const signedAt = packet?.created ?? null;
  const issuerIds = signature.getSigningKeyIDs().map((id) => id.toHex().toUpperCase());

  const candidates: { key: openpgp.Key; trusted: TrustedKey }[] = [];
  for (const trusted of options.keys) {
    const key = await openpgp.readKey({ armoredKey: trusted.armored });
    const ids = key.getKeyIDs().map((id) => id.toHex().toUpperCase());
    if (issuerIds.some((id) => ids.includes(id))) candidates.push({ key, trusted });
  }
  if (candidates.length === 0) {
    const allowed = (await Promise.all(options.keys.map(async (k) => fingerprintOf(await openpgp.readKey({ armoredKey: k.armored }))))).join(', ');
    throw new CpyError(
      'CPY_SOURCE_UNTRUSTED_SIGNER',
      `${label} is signed by key ${issuerIds.join(', ') || '(unknown)'}, which is not a key trusted for this release (${allowed || 'none'})`,
      {
        hint: 'this is not the release manager\'s signature: do not use the file. If you know and trust that key, pass it with --trusted-key <file>',
        details: { signingKeyIds: issuerIds, trusted: allowed },
      },
    );
  }

  if (signedAt && signedAt.getTime() > now.getTime() + 5 * 60_000) {
    throw new CpyError('CPY_SOURCE_SIGNATURE_INVALID', `the OpenPGP signature for ${label} claims to be made in the future (${signedAt.toISOString()})`, {
      hint: 'check this machine\'s clock; if it is right, the signature is not trustworthy',
    });
  }

  const { key, trusted } = candidates[0]!;
  const message = await openpgp.createMessage({ binary: fileStream(options.file) });
  try {
    const result = await openpgp.verify({ message, signature, verificationKeys: key, format: 'binary', expectSigned: false });
    await drain(result.data as ReadableStream<Uint8Array>);
    const [first] = result.signatures;
    if (!first) throw new Error('no signature found');
    await first.verified;
  } catch (cause) {
    const text = (cause as Error).message;
    const keyProblem = /self-signature|expired|revoked|creation time is in the future|not valid/i.test(text) && !/digest/i.test(text);
    if (keyProblem) {
      throw new CpyError(
        'CPY_SOURCE_KEY_NOT_VALID_AT_SIGNING',
        `${label} is signed by ${fingerprintOf(key)}, but that key copy (${trusted.source}) does not show the key as valid on ${signedAt?.toISOString() ?? 'the signing date'}: ${text}`,
        {
          hint: 'the key copy lacks the self-signatures valid at signing time, or the key was expired or revoked then; use a copy with the key\'s full history (cpy ships one)',
          cause,
          details: { fingerprint: fingerprintOf(key), signedAt: signedAt?.toISOString() },
        },
      );
    }
    throw new CpyError('CPY_SOURCE_SIGNATURE_INVALID', `the OpenPGP signature does not match ${label}: ${text}`, {
      hint: 'the file is not the one the release manager signed (damaged or altered download); delete it and fetch it again',
      cause,
      details: { fingerprint: fingerprintOf(key) },
    });
  }

  const warnings: string[] = [];
  const expires = await key.getExpirationTime();
  if (expires instanceof Date && expires.getTime() < now.getTime()) {
    warnings.push(
      `the key copy for ${fingerprintOf(key)} (${trusted.source}) expired on ${expires.toISOString().slice(0, 10)}; it was valid when this release was signed, but refresh it to verify newer releases`,
    );
  }
  return {
    method: 'openpgp',
    fingerprint: fingerprintOf(key),
    signer: await primaryUserId(key, signedAt ?? now),
    signedAt: (signedAt ?? now).toISOString(),
    keyOrigin: trusted.origin,
    warnings,
  };
}
