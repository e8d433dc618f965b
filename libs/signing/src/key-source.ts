import { resolve } from 'node:path';
import { CpyError, readSmallText } from '@cpy/core';
import { loadSigningKey, type SigningKey } from './keys.js';

/** Where a command's signing key comes from: `--signing-key <file>`, else `CPY_SIGNING_KEY`. */
export interface SigningKeySource {
  /** A file holding the ASCII-armored private key (`--signing-key`); relative to `cwd`. */
  readonly file?: string | undefined;
  /** `CPY_SIGNING_KEY` (used when `file` is not given) and `CPY_SIGNING_PASSPHRASE`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

const ARMOR = '-----BEGIN PGP ';

/**
 * The armored key text of a source, and a name for it that is safe to print; null when neither
 * `file` nor CPY_SIGNING_KEY is given. CPY_SIGNING_KEY is the armored key itself (what a CI secret
 * holds; recognised by its `-----BEGIN PGP` line) or the path of a file holding it. Errors never
 * repeat CPY_SIGNING_KEY's value: it may be key material mangled on its way into the environment.
 */
export async function signingKeyText(source: SigningKeySource): Promise<{ text: string; name: string } | null> {
  if (source.file) {
    // The key itself given for its file (--signing-key "$(cat key.asc)", or a secret's value): the
    // error named the "file" it could not read, and so printed the private key.
    if (source.file.includes(ARMOR) || /[\r\n]/.test(source.file)) {
      throw new CpyError('CPY_SIGNING_KEY_NOT_FOUND', '--signing-key takes the path of the private key file, and was given the key itself (or text that is no path); it is not repeated here', {
        hint: 'give the file (--signing-key acme.asc), or put the armored key itself in CPY_SIGNING_KEY (a CI secret) and leave --signing-key out',
      });
    }
    const path = resolve(source.cwd, source.file);
    const text = await readSmallText(path).catch((cause: NodeJS.ErrnoException) => {
      throw new CpyError('CPY_SIGNING_KEY_NOT_FOUND', `cannot read the signing key ${path}: ${cause.code === 'EFBIG' ? `${cause.message}: it is no key` : (cause.code ?? cause.message)}`, {
        hint: 'give the private key file cpy keys generate wrote (--signing-key <file>)',
      });
    });
    return { text, name: source.file };
  }
  const value = source.env['CPY_SIGNING_KEY'];
  if (!value?.trim()) return null;
  if (value.includes(ARMOR)) return { text: value, name: 'CPY_SIGNING_KEY' };
  const text = await readSmallText(resolve(source.cwd, value.trim())).catch(() => {
    throw new CpyError('CPY_SIGNING_KEY_NOT_FOUND', 'CPY_SIGNING_KEY is neither an ASCII-armored OpenPGP private key nor the path of a readable file', {
      hint: 'set CPY_SIGNING_KEY to the whole armored private key, its BEGIN and END lines included, or to the path of the file holding it',
    });
  });
  return { text, name: 'the file CPY_SIGNING_KEY names' };
}

/**
 * The signing key of a source, read and unlocked (passphrase from CPY_SIGNING_PASSPHRASE only), or
 * null when none is given. Errors name the source, never the key or the passphrase.
 */
export async function signingKeyFrom(source: SigningKeySource): Promise<SigningKey | null> {
  const found = await signingKeyText(source);
  return found ? loadSigningKey(found.text, source.env['CPY_SIGNING_PASSPHRASE'] || undefined, found.name) : null;
}
