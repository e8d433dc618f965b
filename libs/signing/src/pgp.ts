// openpgp.js's own objects stay in this module and the functions that use them: no declaration the
// package exports names an openpgp type (its types need @openpgp/web-stream-tools, which a consumer
// of @cpy/install does not have).
import * as openpgp from 'openpgp';

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

/**
 * The revocation in force at `now` of `key`'s primary key, or of its subkey that made the
 * signature (one of `issuers`, or any subkey): when, and the reason it gives; null when there is none. A revocation
 * counts whatever its reason (OpenPGP keeps the signatures a "superseded" or "retired" key made
 * before; gpgv, and so install.sh, does not).
 */
export async function revocationOf(key: openpgp.Key, issuers: readonly string[] | 'any', now: Date): Promise<{ revokedAt: Date | null; reason: string | null } | null> {
  const said = (packets: readonly openpgp.SignaturePacket[]) => {
    const packet = packets.find((p) => !p.created || p.created.getTime() <= now.getTime()) ?? packets[0];
    const flag = packet?.reasonForRevocationFlag;
    // (openpgp's enums.read has no overload for this enum: its names read back by hand.)
    const reason = Object.entries(openpgp.enums.reasonForRevocation).find(([, value]) => value === flag)?.[0] ?? null;
    return { revokedAt: packet?.created ?? null, reason };
  };
  if (await key.isRevoked(undefined, undefined, now)) return said(key.revocationSignatures);
  for (const subkey of key.getSubkeys()) {
    if (issuers !== 'any' && !issuers.includes(subkey.getKeyID().toHex().toUpperCase())) continue;
    // (openpgp types want a signature to judge against; with none, any revocation of the subkey counts.)
    if (await subkey.isRevoked(undefined as unknown as openpgp.SignaturePacket, undefined as unknown as openpgp.PublicKeyPacket, now)) return said(subkey.revocationSignatures);
  }
  return null;
}
