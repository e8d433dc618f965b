// openpgp.js's own objects stay in this module and the functions that use them: no declaration the
// package exports names an openpgp type (its types need @openpgp/web-stream-tools, which a consumer
// of @cpy/install does not have).
import type * as openpgp from 'openpgp';

export const fingerprintOf = (key: openpgp.Key): string => key.getFingerprint().toUpperCase();

export async function primaryUserId(key: openpgp.Key, date: Date): Promise<string> {
  try {
    const { user } = await key.getPrimaryUser(date);
    if (user.userID?.userID) return user.userID.userID;
  } catch {
    // an invalid key at that date: fall back to the first user ID below
  }
  return key.users.find((u) => u.userID)?.userID?.userID ?? fingerprintOf(key);
}

const secrets = new WeakMap<object, openpgp.PrivateKey>();

/** Keeps the decrypted private key behind a SigningKey, out of its enumerable properties. */
export function keepSecret(holder: object, key: openpgp.PrivateKey): void {
  secrets.set(holder, key);
}

/** The decrypted private key behind a SigningKey (for sign.ts). */
export function secretOf(holder: object): openpgp.PrivateKey {
  const secret = secrets.get(holder);
  if (!secret) throw new TypeError('not a key made by loadSigningKey');
  return secret;
}
