import * as openpgp from 'openpgp';
import { CpyError, writeFileAtomic } from '@cpy/core';
import { fileStream, readAll } from './detached.js';
import type { SigningKey } from './keys.js';
import { secretOf } from './pgp.js';

/**
 * openpgp.js hashes a message's literal data through a passive clone of it, which keeps every chunk
 * for the original's reader; a detached signature never writes the literal data, so nothing reads
 * the original and the clone would hold the whole file. Here the hashing reads the data itself,
 * once (the memory test in __tests__ fails if an openpgp.js update breaks this, as does any
 * signature that then fails to verify).
 */
function readOnce(message: openpgp.Message<ReadableStream<Uint8Array>>): void {
  const literal = message.packets.findPacket(openpgp.enums.packet.literalData) as { getBytes?: (clone?: boolean) => unknown } | undefined;
  const getBytes = literal?.getBytes?.bind(literal);
  if (literal && getBytes) literal.getBytes = () => getBytes(false);
}

/** A detached, ASCII-armored signature over a file, hashed as it is read (never held whole). */
export async function signFile(path: string, key: SigningKey, options: { date?: Date } = {}): Promise<string> {
  const done = new AbortController();
  try {
    const message = await openpgp.createMessage({ binary: fileStream(path, { signal: done.signal }) });
    readOnce(message);
    const out: unknown = await openpgp.sign({ message, signingKeys: secretOf(key), detached: true, format: 'armored', ...(options.date ? { date: options.date } : {}) });
    return typeof out === 'string' ? out : (await readAll(out as ReadableStream<string>)).join('');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CpyError(missing ? 'CPY_SIGN_NO_FILE' : 'CPY_SIGN_FAILED', missing ? `${path} does not exist` : `cannot sign ${path}: ${(cause as Error).message}`, {
      hint: missing ? 'sign the files cpy build wrote (the .tgz, its .sha256 and .json)' : 'check that the key can sign (cpy keys export shows it)',
    });
  } finally {
    done.abort();
  }
}

/** Signs `path` and writes the signature to `<path>.asc` (atomically); returns that path. */
export async function writeSignature(path: string, key: SigningKey, options: { date?: Date } = {}): Promise<string> {
  const armored = await signFile(path, key, options);
  const out = `${path}.asc`;
  // Flushed before its rename, as every file cpy replaces: after a power cut the old signature or
  // the new one, never an empty file that installers read as a damaged signature.
  await writeFileAtomic(out, armored).catch((error: unknown) => {
    // A full disk or a directory this user may not write is the caller's to say (a write fault);
    // a directory where the signature goes was "a bug in cpy".
    if ((error as NodeJS.ErrnoException).code !== 'EISDIR') throw error;
    throw new CpyError('CPY_SIGN_FAILED', `cannot write the signature ${out}: a directory is there`, { hint: `move that directory away, then sign ${path} again`, cause: error });
  });
  return out;
}
