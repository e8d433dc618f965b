import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CpyError, isCpyError, sha256Hex } from '@cpy/core';
import { INDEX_RELEASE_TAG, TRUSTED_KEYS_FILE } from '@cpy/artifact';
import { exportPublicKey, readPublicKeys, type PublicKeyInfo, type SigningKey } from '@cpy/signing';
import type { GitHubAsset, GitHubClient, GitHubRelease } from './github.js';
import type { IndexEvent } from './index-release.js';
import { renameAsset, smallAssetText, uploadFresh } from './release-assets.js';

/** The next keys file while it is uploaded and checked; renamed to `cpy-keys.asc` only then. */
export const KEYS_NEXT_FILE = `${TRUSTED_KEYS_FILE}.new`;

export interface PublishedKeys {
  /** The browser_download_url of `cpy-keys.asc`. */
  readonly url: string;
  /** The fingerprints it holds, oldest first. */
  readonly fingerprints: readonly string[];
  /** Whether the signing key was added now. */
  readonly added: boolean;
  /** Whether its copy there was replaced now by the signing key's, which expires later (cpy keys extend). */
  readonly refreshed?: boolean;
}

/** The fingerprints in a keys text; null when it is not a public keys file (or holds a private key). */
async function fingerprintsIn(text: string): Promise<string[] | null> {
  try {
    return (await readPublicKeys(text, TRUSTED_KEYS_FILE)).keys.map((k) => k.fingerprint);
  } catch {
    return null;
  }
}

async function download(gh: GitHubClient, asset: GitHubAsset): Promise<string> {
  return (await smallAssetText(gh, asset)) ?? '';
}

/**
 * Finishes an update of `cpy-keys.asc` killed between deleting the old file and renaming the new
 * one (checked before the old one was deleted): `cpy-keys.asc` is missing, `cpy-keys.asc.new` is
 * there and holds public keys. Returns whether it did.
 */
export async function finishKeysUpdate(gh: GitHubClient, assets: readonly GitHubAsset[], emit: (e: IndexEvent) => void): Promise<boolean> {
  const pending = assets.find((a) => a.name === KEYS_NEXT_FILE);
  if (assets.some((a) => a.name === TRUSTED_KEYS_FILE) || !pending) return false;
  if ((await fingerprintsIn(await download(gh, pending))) === null) return false;
  await renameAsset(gh, pending, TRUSTED_KEYS_FILE);
  emit({ type: 'rename', from: KEYS_NEXT_FILE, to: TRUSTED_KEYS_FILE });
  return true;
}

/**
 * The published `cpy-keys.asc`: its text and the fingerprints it holds. One that cannot be read, or
 * holds a private key, is CPY_PUBLISH_KEYS_INVALID, and is left as it is.
 */
export async function readKeysAsset(gh: GitHubClient, asset: GitHubAsset): Promise<{ text: string; fingerprints: string[]; keys: readonly PublicKeyInfo[] }> {
  const text = await download(gh, asset);
  try {
    const { keys } = await readPublicKeys(text, `${asset.name} on release ${INDEX_RELEASE_TAG}`);
    return { text, fingerprints: keys.map((k) => k.fingerprint), keys };
  } catch (error) {
    if (!isCpyError(error)) throw error;
    const exposed = /private key/i.test(error.message);
    throw new CpyError('CPY_PUBLISH_KEYS_INVALID', `${error.message}; it was left as it is`, {
      hint: exposed
        ? `delete ${asset.name} from the ${INDEX_RELEASE_TAG} release now and replace that key (it has been published); the next signed publish writes a new ${TRUSTED_KEYS_FILE}`
        : `cpy never overwrites a keys file it cannot read: restore ${asset.name} on the ${INDEX_RELEASE_TAG} release (${asset.browser_download_url}) from a good copy, ` +
          `or delete it so that the next signed publish starts a new one (with only its own key)`,
      cause: error,
      details: { asset: asset.name, url: asset.browser_download_url, reason: error.code },
    });
  }
}

/**
 * CPY_PUBLISH_SIGNER_REVOKED when `keys` (cpy-keys.asc) holds a revoked copy of the signing key:
 * every installer that pins it refuses whatever it signs, and the copy, once refreshed by a
 * local copy of the key without the revocation (an extended one), would have lost it.
 */
export function refuseRevokedSigner(keys: readonly PublicKeyInfo[], key: SigningKey): void {
  if (!keys.some((k) => k.fingerprint === key.fingerprint && k.revoked)) return;
  throw new CpyError('CPY_PUBLISH_SIGNER_REVOKED', `the signing key ${key.fingerprint} is revoked in ${TRUSTED_KEYS_FILE} on release ${INDEX_RELEASE_TAG}: installers refuse whatever it signs; nothing was published with it`, {
    hint: `sign with another key (cpy keys generate) and pin its fingerprint; the revocation stays in ${TRUSTED_KEYS_FILE}`,
    details: { fingerprint: key.fingerprint },
  });
}

/**
 * Keeps the signing key's public key in `cpy-keys.asc` on the index release, where installers
 * fetch the keys whose fingerprints they pin. A key already there changes nothing. A new one is
 * appended (the old keys stay: signatures they made still verify, and a rotation needs both for a
 * while): the new file is uploaded as `cpy-keys.asc.new`, downloaded again and checked (public
 * keys only, every fingerprint it must hold), then put in place of the old one. A keys file that
 * is there but cannot be read is an error, never overwritten.
 */
export async function publishKeys(options: {
  gh: GitHubClient;
  release: GitHubRelease;
  assets: readonly GitHubAsset[];
  key: SigningKey;
  work: string;
  emit: (e: IndexEvent) => void;
}): Promise<PublishedKeys> {
  const { gh, release, assets, key, emit } = options;
  const current = assets.find((a) => a.name === TRUSTED_KEYS_FILE) ?? null;
  const stale = assets.find((a) => a.name === KEYS_NEXT_FILE) ?? null;
  const read = current ? await readKeysAsset(gh, current) : null;
  if (read) refuseRevokedSigner(read.keys, key);
  const text = read?.text ?? '';
  const fingerprints = read?.fingerprints ?? [];
  if (current && stale) {
    // Left by an update that failed before its swap: never read.
    await gh.deleteAsset(stale.id);
    emit({ type: 'asset', name: KEYS_NEXT_FILE, action: 'deleted-stale' });
  }
  // The key there, as installers read it: a copy made before `cpy keys extend` still expires when
  // it did, and every signature after that date would be refused with it. The later copy replaces it.
  const there = read?.keys.find((k) => k.fingerprint === key.fingerprint);
  const mine = there ? await exportPublicKey(key.publicKey, 'the signing key') : null;
  const refresh = there !== undefined && mine !== null && expiresLater(mine.expiresAt, there.expiresAt);
  if (current && there && !refresh) {
    emit({ type: 'keys', action: 'present', fingerprint: key.fingerprint, keys: fingerprints.length });
    return { url: current.browser_download_url, fingerprints, added: false };
  }

  const expected = refresh ? fingerprints : [...fingerprints, key.fingerprint];
  const next = refresh
    ? `${read!.keys.map((k) => (k.fingerprint === key.fingerprint ? mine!.armored : k.armored).trimEnd()).join('\n')}\n`
    : `${text.trim() ? `${text.trimEnd()}\n` : ''}${key.publicKey.trimEnd()}\n`;
  const holds = async (t: string) => {
    const got = await fingerprintsIn(t);
    return got !== null && expected.every((f) => got.includes(f));
  };
  // Checked before it is sent: public keys only (a private block is refused), the old ones and this one.
  if (!(await holds(next))) {
    throw new CpyError('CPY_PUBLISH_KEYS_INVALID', `the new ${TRUSTED_KEYS_FILE} would not hold the keys ${expected.join(', ')}`, {
      hint: `this is a bug in cpy: report it; ${TRUSTED_KEYS_FILE} was not changed`,
    });
  }
  const file = join(options.work, KEYS_NEXT_FILE);
  await writeFile(file, next);
  if (!current && stale) {
    await gh.deleteAsset(stale.id);
    emit({ type: 'asset', name: KEYS_NEXT_FILE, action: 'deleted-stale' });
  }
  emit({ type: 'asset', name: KEYS_NEXT_FILE, action: 'uploading' });
  const uploaded = await uploadFresh(gh, release, file, KEYS_NEXT_FILE);
  emit({ type: 'asset', name: KEYS_NEXT_FILE, action: 'uploaded' });
  const back = await gh.downloadAsset(uploaded);
  if (sha256Hex(back) !== sha256Hex(next) || !(await holds(back.toString('utf8')))) {
    throw new CpyError('CPY_PUBLISH_VERIFY_FAILED', `${KEYS_NEXT_FILE} on release ${INDEX_RELEASE_TAG} has sha256 ${sha256Hex(back)}, the keys file sent ${sha256Hex(next)}`, {
      hint: `run again: ${TRUSTED_KEYS_FILE} was not changed, and the next run uploads it again`,
    });
  }
  emit({ type: 'asset', name: KEYS_NEXT_FILE, action: 'verified' });
  // GitHub has no atomic replace: between these two calls there is no cpy-keys.asc (installers
  // that pin a signer then refuse, and retry later); a run killed here is finished by the next one.
  // (Both, or neither: a stop between them left no cpy-keys.asc until the next publish.)
  const published = await gh.together(async () => {
    if (current) {
      await gh.deleteAsset(current.id);
      emit({ type: 'asset', name: TRUSTED_KEYS_FILE, action: 'deleted' });
    }
    return renameAsset(gh, uploaded, TRUSTED_KEYS_FILE);
  });
  emit({ type: 'rename', from: KEYS_NEXT_FILE, to: TRUSTED_KEYS_FILE });
  emit({ type: 'keys', action: refresh ? 'refreshed' : 'added', fingerprint: key.fingerprint, keys: expected.length });
  return { url: published.browser_download_url, fingerprints: expected, added: !refresh, ...(refresh ? { refreshed: true } : {}) };
}

/** Whether expiry `a` is later than `b` (null: never expires). */
function expiresLater(a: string | null, b: string | null): boolean {
  if (a === b) return false;
  return a === null || (b !== null && Date.parse(a) > Date.parse(b));
}
