import * as openpgp from 'openpgp';
import { CpyError } from '@cpy/core';
import { fingerprintOf, keepSecret, revocationOf } from './pgp.js';

/** A public key as cpy shows and pins it. */
export interface PublicKeyInfo {
  readonly fingerprint: string;
  readonly userId: string;
  readonly createdAt: string;
  /** Null when it never expires. */
  readonly expiresAt: string | null;
  /** ASCII-armored, public part only. */
  readonly armored: string;
  /** Whether this copy carries a valid revocation of the key or one of its subkeys. */
  readonly revoked: boolean;
}

/** The public keys read from one file or URL. */
export interface TrustedKeys {
  readonly source: string;
  readonly keys: readonly PublicKeyInfo[];
}

/** Whether the key, or one of its subkeys, is revoked as of `now` (a valid revocation signature). */
async function revokedAt(key: openpgp.Key, now: Date): Promise<boolean> {
  return (await revocationOf(key, 'any', now)) !== null;
}

async function infoOf(key: openpgp.Key): Promise<PublicKeyInfo> {
  const expires = await key.getExpirationTime().catch(() => null);
  let userId = key.users.find((u) => u.userID)?.userID?.userID ?? '';
  try {
    userId = (await key.getPrimaryUser(key.getCreationTime())).user.userID?.userID ?? userId;
  } catch {
    // keep the first user ID
  }
  return {
    fingerprint: fingerprintOf(key),
    userId,
    createdAt: key.getCreationTime().toISOString(),
    expiresAt: expires instanceof Date ? expires.toISOString() : null,
    armored: key.toPublic().armor(),
    revoked: await revokedAt(key, new Date()),
  };
}

const BLOCK_RE = /-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g;

/**
 * Reads the public keys in a text (one or more armored blocks, as `cpy-keys.asc` holds them).
 * A private key block is refused: a keys file is published, so it must never hold one.
 */
export async function readPublicKeys(text: string, source: string): Promise<TrustedKeys> {
  const blocks = [...text.matchAll(BLOCK_RE)];
  if (blocks.some((b) => b[1] === 'PRIVATE')) {
    throw new CpyError('CPY_KEYS_INVALID', `${source} holds a private key`, {
      hint: 'trusted keys are public keys only: make the file with cpy keys export (and replace that private key, it has been exposed)',
    });
  }
  const keys: PublicKeyInfo[] = [];
  try {
    for (const block of blocks) for (const key of await openpgp.readKeys({ armoredKeys: block[0] })) keys.push(await infoOf(key));
  } catch (cause) {
    throw new CpyError('CPY_KEYS_INVALID', `${source} is not a readable OpenPGP public key file: ${(cause as Error).message}`, {
      hint: 'use the file cpy keys export writes (ASCII-armored public keys)',
      cause,
    });
  }
  if (keys.length === 0) {
    throw new CpyError('CPY_KEYS_INVALID', `${source} holds no OpenPGP public key`, { hint: 'use the file cpy keys export writes (ASCII-armored public keys)' });
  }
  return { source, keys };
}

/**
 * The public key (and fingerprint) of a key file: a private key (no passphrase needed, nothing is
 * decrypted) or a public one. For `cpy keys export`.
 */
export async function exportPublicKey(armored: string, source: string): Promise<PublicKeyInfo> {
  try {
    return await infoOf(await openpgp.readKey({ armoredKey: armored }));
  } catch {
    throw new CpyError('CPY_SIGNING_KEY_INVALID', `${source} is not an ASCII-armored OpenPGP key`, {
      hint: 'pass the file cpy keys generate wrote (or gpg --armor --export-secret-keys <fingerprint>)',
    });
  }
}

/** The keys whose fingerprints are pinned; CPY_SIGNATURE_UNTRUSTED when there are none. */
export function pinnedKeys(trusted: TrustedKeys, signers: readonly string[]): PublicKeyInfo[] {
  const pinned = trusted.keys.filter((k) => signers.includes(k.fingerprint));
  if (pinned.length === 0) {
    throw new CpyError(
      'CPY_SIGNATURE_UNTRUSTED',
      `no key in ${trusted.source} has a pinned fingerprint: it holds ${trusted.keys.map((k) => k.fingerprint).join(', ')}, and the pinned signers are ${signers.join(', ')}`,
      {
        hint: 'these keys are not the publisher\'s, or the pin is wrong: check the fingerprint with the publisher (cpy keys export prints it)',
        details: { pinned: signers, found: trusted.keys.map((k) => k.fingerprint) },
      },
    );
  }
  return pinned;
}

/** A private key, decrypted and ready to sign (loadSigningKey). Only its public facts are properties: the secret is never printed or serialised. */
export interface SigningKey {
  readonly fingerprint: string;
  readonly userId: string;
  /** The public key, ASCII-armored. */
  readonly publicKey: string;
}


/**
 * An armored private key read and, when protected, decrypted with `passphrase`; whether it was
 * protected. Errors name the source (a public key given for it is said so), never the key.
 */
async function unlockedKey(armored: string, passphrase: string | undefined, source: string): Promise<{ key: openpgp.PrivateKey; wasProtected: boolean }> {
  let key: openpgp.PrivateKey;
  try {
    key = await openpgp.readPrivateKey({ armoredKey: armored });
  } catch {
    // A public key given for the private one (k.pub.asc for k.asc) is said as such: it is armored, and a key.
    const what = /-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(armored) ? 'holds a public key, not the private key that signs' : 'is not an ASCII-armored OpenPGP private key';
    throw new CpyError('CPY_SIGNING_KEY_INVALID', `${source} ${what}`, {
      hint: 'pass the file cpy keys generate wrote (or gpg --armor --export-secret-keys <fingerprint>)',
    });
  }
  if (key.isDecrypted()) return { key, wasProtected: false };
  if (!passphrase) {
    throw new CpyError('CPY_SIGNING_KEY_LOCKED', `the signing key in ${source} is protected by a passphrase`, { hint: 'set CPY_SIGNING_PASSPHRASE' });
  }
  try {
    return { key: await openpgp.decryptKey({ privateKey: key, passphrase }), wasProtected: true };
  } catch {
    throw new CpyError('CPY_SIGNING_KEY_LOCKED', `the passphrase does not unlock the signing key in ${source}`, { hint: 'check CPY_SIGNING_PASSPHRASE' });
  }
}

/**
 * Reads an armored private key (decrypting it with `passphrase` when it is protected).
 * Errors name the source and the reason, never the key or the passphrase.
 */
export async function loadSigningKey(armored: string, passphrase: string | undefined, source: string, options: { date?: Date } = {}): Promise<SigningKey> {
  const { key } = await unlockedKey(armored, passphrase, source);
  try {
    await key.getSigningKey(undefined, options.date ?? new Date());
  } catch (cause) {
    throw new CpyError('CPY_SIGNING_KEY_UNUSABLE', `the key in ${source} (${fingerprintOf(key)}) cannot sign now: ${(cause as Error).message}`, {
      hint: 'it has expired or been revoked: make a new key (cpy keys generate), add its public key to cpy-keys.asc and pin its fingerprint',
    });
  }
  const info = await infoOf(key);
  const signing: SigningKey = Object.freeze({ fingerprint: info.fingerprint, userId: info.userId, publicKey: info.armored });
  keepSecret(signing, key);
  return signing;
}

export interface GenerateKeyOptions {
  readonly name: string;
  readonly email: string;
  /** Protects the private key; recommended. */
  readonly passphrase?: string;
  /** Days until it expires; 0 or absent: never. */
  readonly expiresInDays?: number;
  /** Creation time (tests); default now. */
  readonly date?: Date;
}

export interface GeneratedKey {
  readonly privateKey: string;
  readonly publicKey: string;
  readonly fingerprint: string;
  readonly userId: string;
  readonly expiresAt: string | null;
}

/** Makes an Ed25519 signing key (an OpenPGP v4 key, which gpgv 2.2 and later verify). */
export async function generateSigningKey(options: GenerateKeyOptions): Promise<GeneratedKey> {
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name: options.name, email: options.email }],
    keyExpirationTime: Math.round((options.expiresInDays ?? 0) * 86_400),
    format: 'object',
    subkeys: [],
    ...(options.date ? { date: options.date } : {}),
  });
  const info = await infoOf(privateKey);
  const armored = options.passphrase ? (await openpgp.encryptKey({ privateKey, passphrase: options.passphrase })).armor() : privateKey.armor();
  return { privateKey: armored, publicKey: info.armored, fingerprint: info.fingerprint, userId: info.userId, expiresAt: info.expiresAt };
}

/**
 * The same key (same fingerprint) with a new expiry, `expiresInDays` from `now` (0: never): its
 * self-signatures made again, dated at the key's creation (OpenPGP counts the expiry from there:
 * counted from it, 365 days extended a two-year-old key into the past). What an organisation does
 * before its key expires; the result is protected by the same passphrase. One that would expire
 * sooner than the key does now is refused (CPY_SIGNING_KEY_UNUSABLE).
 */
export async function extendSigningKey(
  armored: string,
  passphrase: string | undefined,
  options: { expiresInDays: number; now?: Date; source?: string },
): Promise<GeneratedKey & { readonly protected: boolean }> {
  // Read as a signing key is (its source named; a public key, or a protected one without a
  // passphrase, said as such: they were "not a private key" and "the passphrase does not unlock").
  const { key, wasProtected } = await unlockedKey(armored, passphrase, options.source ?? 'the key');
  const now = options.now ?? new Date();
  // Its self-signatures made again, a key would lose its revocation (reformatKey writes none): a
  // key revoked as compromised would sign, and be published, as valid.
  if (await revokedAt(key, now)) {
    throw new CpyError('CPY_SIGNING_KEY_UNUSABLE', `the key ${fingerprintOf(key)} has been revoked: a revoked key is never extended (its revocation would be lost)`, {
      hint: 'make a new key (cpy keys generate), publish its public key and pin its fingerprint; keep the revocation published',
    });
  }
  const userIDs = key.users.flatMap((u) => (u.userID ? [{ name: u.userID.name, email: u.userID.email }] : []));
  const created = key.getCreationTime();
  const until = options.expiresInDays === 0 ? null : new Date(now.getTime() + options.expiresInDays * 86_400_000);
  const current = await key.getExpirationTime();
  const currentEnd = current === Infinity || current === null ? null : (current as Date);
  if (until && (currentEnd === null || until < currentEnd)) {
    throw new CpyError('CPY_SIGNING_KEY_UNUSABLE', `extended by ${options.expiresInDays} days from now, the key would expire ${until.toISOString()}, sooner than it does now (${currentEnd ? currentEnd.toISOString() : 'never'})`, {
      hint: 'give more days (--expires-days), or 0 for a key that never expires',
    });
  }
  const { privateKey } = await openpgp.reformatKey({
    privateKey: key,
    userIDs,
    keyExpirationTime: until ? Math.round((until.getTime() - created.getTime()) / 1000) : 0,
    date: key.getCreationTime(),
    format: 'object',
  });
  const info = await infoOf(privateKey);
  // Protected as it was: an unprotected key stays so (CPY_SIGNING_PASSPHRASE set for another key protected it).
  const out = wasProtected && passphrase ? (await openpgp.encryptKey({ privateKey, passphrase })).armor() : privateKey.armor();
  return { privateKey: out, publicKey: info.armored, fingerprint: info.fingerprint, userId: info.userId, expiresAt: info.expiresAt, protected: wasProtected };
}
