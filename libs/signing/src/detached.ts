import { open, type FileHandle } from 'node:fs/promises';
import * as openpgp from 'openpgp';
import { fingerprintOf, primaryUserId, revocationOf } from './pgp.js';

/** A public key to check a signature with, and where it came from (for messages). */
export interface CandidateKey {
  readonly armored: string;
  readonly source: string;
}

/** Why a detached signature was not accepted; each caller words it for its own files and codes. */
export type DetachedFailure =
  | { readonly kind: 'unreadable'; readonly detail: string }
  | { readonly kind: 'unknown-signer'; readonly issuers: readonly string[]; readonly known: readonly string[] }
  | { readonly kind: 'future'; readonly signedAt: Date }
  | { readonly kind: 'key-not-valid'; readonly fingerprint: string; readonly source: string; readonly signedAt: Date | null; readonly detail: string }
  | { readonly kind: 'mismatch'; readonly fingerprint: string; readonly detail: string }
  /** The key (or its signing subkey) is revoked now, for whatever reason and whenever it signed (refuseRevoked). */
  | { readonly kind: 'revoked'; readonly fingerprint: string; readonly revokedAt: Date | null; readonly reason: string | null };

export class DetachedSignatureError extends Error {
  constructor(readonly failure: DetachedFailure) {
    super(failure.kind);
    this.name = 'DetachedSignatureError';
  }
}

export interface DetachedCheck {
  /** The primary key's fingerprint, upper case. */
  readonly fingerprint: string;
  readonly userId: string;
  readonly signedAt: Date;
  /** Which of the given keys made it. */
  readonly keyIndex: number;
  /** When that key copy has expired since (the signature was made while it was valid); else null. */
  readonly expiredOn: Date | null;
}

/**
 * A file as a pull-based web stream: a chunk is read only when the consumer
 * wants one. (Readable.toWeb on Node 20 reads ahead without backpressure, and
 * can end up holding the whole file in memory while openpgp.js hashes it.)
 */
export function fileStream(path: string, options: { chunkSize?: number; signal?: AbortSignal } = {}): ReadableStream<Uint8Array> {
  const chunkSize = options.chunkSize ?? 256 * 1024;
  let handle: FileHandle | undefined;
  // A consumer that gives up without cancelling (openpgp.js on a bad key) must not leak the descriptor.
  options.signal?.addEventListener('abort', () => {
    void handle?.close();
    handle = undefined;
  });
  return new ReadableStream<Uint8Array>(
    {
      async start() {
        const opened = await open(path, 'r');
        if (options.signal?.aborted) await opened.close();
        else handle = opened;
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

/** Reads a web stream to its end, dropping each chunk (openpgp.js hashes the data as it flows through): never holds the file. */
export async function drain(stream: ReadableStream<unknown>): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    const { done } = await reader.read();
    if (done) return;
  }
}

/** Reads a web stream to its end, keeping its chunks (for small outputs only: an armored signature). */
export async function readAll<T>(stream: ReadableStream<T>): Promise<T[]> {
  const reader = stream.getReader();
  const chunks: T[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return chunks;
    chunks.push(value);
  }
}

/**
 * Checks a detached OpenPGP signature over a file (streamed) against candidate keys.
 *
 * The rule: the signature must be by one of `keys` (primary key or signing
 * subkey), must match the file byte for byte, and the key must have been valid
 * when the signature was made (not revoked, not expired then, with a
 * self-signature that existed then). A key copy that has expired since is
 * accepted (`expiredOn` says so): that is what lets old files verify forever.
 * With `refuseRevoked`, a key revoked by now is refused whatever the reason and whenever it
 * signed, in any of its copies (installers: gpgv cannot tell a soft revocation from a hard one).
 * Throws DetachedSignatureError saying which rule failed.
 */
export async function checkDetached(options: { file: string; signature: string; keys: readonly CandidateKey[]; now?: Date; refuseRevoked?: boolean }): Promise<DetachedCheck> {
  const now = options.now ?? new Date();
  let signature: openpgp.Signature;
  // openpgp takes an empty text for no argument at all, and says so in its own terms.
  if (options.signature.trim() === '') throw new DetachedSignatureError({ kind: 'unreadable', detail: 'the file is empty' });
  try {
    signature = await openpgp.readSignature({ armoredSignature: options.signature });
  } catch (cause) {
    throw new DetachedSignatureError({ kind: 'unreadable', detail: (cause as Error).message });
  }
  const issuers = signature.getSigningKeyIDs().map((id) => id.toHex().toUpperCase());

  const keys = await Promise.all(options.keys.map((k) => openpgp.readKey({ armoredKey: k.armored })));
  const matching = keys.flatMap((key, i) => (key.getKeyIDs().some((id) => issuers.includes(id.toHex().toUpperCase())) ? [i] : []));
  if (matching.length === 0) throw new DetachedSignatureError({ kind: 'unknown-signer', issuers, known: keys.map(fingerprintOf) });
  if (options.refuseRevoked) {
    // Any copy's revocation counts (gpg merges the copies it imports): an older copy without it
    // must not vouch for the key.
    for (const keyIndex of matching) {
      const revoked = await revocationOf(keys[keyIndex]!, issuers, now);
      if (revoked) throw new DetachedSignatureError({ kind: 'revoked', fingerprint: fingerprintOf(keys[keyIndex]!), ...revoked });
    }
  }
  // Copies of one key (a copy extended later, appended to the keys file after the old one): each is
  // tried in turn, and a copy that was not valid then gives way to the next (the stale one won).
  for (const [n, keyIndex] of matching.entries()) {
    try {
      return await checkWithKey(options, signature, keys[keyIndex]!, keyIndex, now);
    } catch (error) {
      const last = n === matching.length - 1;
      if (last || !(error instanceof DetachedSignatureError && error.failure.kind === 'key-not-valid')) throw error;
    }
  }
  throw new Error('unreachable');
}

/** checkDetached with one candidate key, the one at `keyIndex` of its keys. */
async function checkWithKey(options: { file: string; keys: readonly CandidateKey[] }, signature: openpgp.Signature, key: openpgp.PublicKey, keyIndex: number, now: Date): Promise<DetachedCheck> {
  // A file signed by several keys (gpg -u A -u B) carries one signature each: the one this key made.
  const ours = (id: openpgp.KeyID) => key.getKeyIDs().some((k) => k.equals(id));
  const signedAt = (signature.packets.find((p) => ours(p.issuerKeyID)) ?? signature.packets[0])?.created ?? null;
  if (signedAt && signedAt.getTime() > now.getTime() + 5 * 60_000) throw new DetachedSignatureError({ kind: 'future', signedAt });

  // A file this process cannot read fails here with its errno (EACCES, EISDIR), for the caller
  // to say so: inside the verification it read as a signature that does not match (altered or damaged).
  await (await open(options.file, 'r')).close();
  const done = new AbortController();
  const message = await openpgp.createMessage({ binary: fileStream(options.file, { signal: done.signal }) });
  try {
    // A signature up to five minutes ahead of this clock (the signer's runs fast) is checked as of
    // its own time: openpgp refused it as "created in the future", said as a key not valid.
    const asOf = signedAt && signedAt.getTime() > now.getTime() ? signedAt : now;
    const result = await openpgp.verify({ message, signature, verificationKeys: key, format: 'binary', expectSigned: false, date: asOf });
    await drain(result.data as ReadableStream<Uint8Array>);
    const mine = result.signatures.find((s) => ours(s.keyID));
    if (!mine) throw new Error('no signature found');
    await mine.verified;
  } catch (cause) {
    const detail = (cause as Error).message;
    const keyProblem = /self-signature|expired|revoked|creation time is in the future|not valid/i.test(detail) && !/digest/i.test(detail);
    if (keyProblem) throw new DetachedSignatureError({ kind: 'key-not-valid', fingerprint: fingerprintOf(key), source: options.keys[keyIndex]!.source, signedAt, detail });
    throw new DetachedSignatureError({ kind: 'mismatch', fingerprint: fingerprintOf(key), detail });
  } finally {
    done.abort();
  }
  const expires = await key.getExpirationTime();
  return {
    fingerprint: fingerprintOf(key),
    userId: await primaryUserId(key, signedAt ?? now),
    signedAt: signedAt ?? now,
    keyIndex,
    expiredOn: expires instanceof Date && expires.getTime() < now.getTime() ? expires : null,
  };
}
