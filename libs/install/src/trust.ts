import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CpyError, displayUrl, makeDirectory, MAX_SMALL_TEXT, randomId } from '@cpy/core';
import { parseSigners, TRUSTED_KEYS_FILE } from '@cpy/artifact/index-format';
import type { SignatureCheck, TrustedKeys } from '@cpy/signing';
import { fetchFailure, toUrl } from './acquire.js';
import { installerClient, transferLibrary } from './lazy.js';
import type { Environment } from './layout.js';



/** What signed an install: the index (whose entry's sha256 the artifact matched), the artifact itself, or an earlier verified download in the cache. */
export interface SignatureRecord {
  readonly fingerprint: string;
  /** When the signature was made; null for `cache` (checked when the build was downloaded or installed). */
  readonly signedAt: string | null;
  readonly covers: 'index' | 'artifact' | 'cache';
}

/** Pinned signers and where their keys are. */
export interface SignaturePolicy {
  readonly signers: readonly string[];
  /** Null when neither trustedKeysUrl nor an index says where. */
  readonly keysUrl: string | null;
}

function sibling(location: string, name: string): string {
  const url = toUrl(location);
  url.pathname = url.pathname.replace(/[^/]*$/, name);
  return url.href;
}

/** The signature policy of an install, or null when no signer is pinned (nothing is checked, as before signing existed). */
export function signaturePolicy(
  options: { readonly signerFingerprints?: string | undefined; readonly trustedKeysUrl?: string | undefined },
  env: Environment,
  indexUrl: string | undefined,
): SignaturePolicy | null {
  // Empty is unset (as install.sh reads the Feature's option): the environment's pins still count.
  const given = options.signerFingerprints || env['CPY_SIGNER_FINGERPRINTS'] || '';
  const signers = parseSigners([given]);
  // Only commas (a list whose items were left empty) pinned nobody, and nothing was checked.
  if (signers.length === 0 && given.replace(/\s/g, '') !== '') {
    throw new CpyError('CPY_SIGNER_INVALID', `the pinned signers '${given}' name no key fingerprint`, {
      hint: 'pin the signers with the 40 hex digits that cpy keys export prints, separated by commas; leave the setting empty to check no signature',
    });
  }
  if (signers.length === 0) return null;
  const keys = options.trustedKeysUrl || env['CPY_TRUSTED_KEYS_URL'] || (indexUrl ? sibling(indexUrl, TRUSTED_KEYS_FILE) : undefined);
  return { signers, keysUrl: keys ?? null };
}

/** `<url>.asc`. */
export function signatureUrlOf(url: URL): URL {
  const u = new URL(url.href);
  u.pathname += '.asc';
  return u;
}

/**
 * Checks files against pinned signers. OpenPGP (@cpy/signing, openpgp.js) is loaded on the first
 * check, so an install without pinned signers never loads it. The keys are fetched once.
 */
export class SignatureVerifier {
  #keys: Promise<TrustedKeys> | null = null;
  /** The signature prepare fetched ahead, which the next verify of that URL reads instead of fetching it again (install.sh's sig_ready). */
  #ready: { readonly url: string; readonly text: Promise<string | null> } | null = null;

  constructor(
    readonly policy: SignaturePolicy,
    private readonly fetchOptions: { readonly env: Environment; readonly caFile?: string | undefined; readonly scratch: string },
  ) {}

  /**
   * A small file's text, or null when it answers 404 (or does not exist). A signature or a keys
   * file is a few KiB: one past MAX_SMALL_TEXT (the artifact, or a page served in its place) is stopped
   * there, never downloaded whole nor read into memory, and said as such (`what`).
   */
  private async fetchText(url: URL, what: { readonly code: 'CPY_SIGNATURE_INVALID' | 'CPY_KEYS_INVALID'; readonly name: string }): Promise<string | null> {
    const { downloadToFile, TransferError } = await transferLibrary();
    const client = await installerClient(this.fetchOptions.env, this.fetchOptions.caFile);
    await makeDirectory(this.fetchOptions.scratch);
    const tmp = join(this.fetchOptions.scratch, `signed-${randomId()}`);
    try {
      await downloadToFile(url, tmp, { client, maxBytes: MAX_SMALL_TEXT });
      return await readFile(tmp, 'utf8');
    } catch (error) {
      if (error instanceof TransferError && error.kind === 'not-found') return null;
      if (error instanceof TransferError && error.kind === 'too-large') {
        throw new CpyError(what.code, `${what.name} ${displayUrl(url)} is larger than ${MAX_SMALL_TEXT / 1024 / 1024} MiB: it is no ${what.code === 'CPY_KEYS_INVALID' ? 'keys file' : 'detached signature'} (an artifact, or a page served in its place?)`, {
          hint: 'check the URL: nothing was installed',
        });
      }
      throw error;
    } finally {
      await rm(tmp, { force: true });
      await client.close();
    }
  }

  private keys(): Promise<TrustedKeys> {
    return (this.#keys ??= (async () => {
      const { keysUrl, signers } = this.policy;
      if (!keysUrl) {
        throw new CpyError('CPY_INSTALL_NO_TRUSTED_KEYS', `signers are pinned (${signers.join(', ')}), but where are their public keys?`, {
          hint: 'give the keys file (--trusted-keys <url or file>, the Feature option trustedKeysUrl, or CPY_TRUSTED_KEYS_URL), or install through the index (cpy-keys.asc is read beside it)',
        });
      }
      const url = toUrl(keysUrl);
      let text: string | null;
      try {
        text = await this.fetchText(url, { code: 'CPY_KEYS_INVALID', name: 'the trusted keys' });
      } catch (cause) {
        if (cause instanceof CpyError) throw cause;
        const { said, hint } = fetchFailure(cause);
        throw new CpyError('CPY_INSTALL_TRUSTED_KEYS_UNAVAILABLE', `cannot get the trusted keys ${displayUrl(url)}: ${(cause as Error).message}${said}`, { hint, cause });
      }
      if (text === null) {
        throw new CpyError('CPY_INSTALL_TRUSTED_KEYS_UNAVAILABLE', `the trusted keys ${displayUrl(url)} do not exist`, {
          hint: `cpy publish --signing-key keeps ${TRUSTED_KEYS_FILE} beside the index; or give the keys file: --trusted-keys <url or file>`,
        });
      }
      const signing = await import('@cpy/signing');
      return signing.readPublicKeys(text, displayUrl(url));
    })());
  }

  /** The detached signature at `url` (null: there is none), fetched now. */
  private fetchSignature(url: URL): Promise<string | null> {
    return this.fetchText(url, { code: 'CPY_SIGNATURE_INVALID', name: 'the signature' }).catch((cause: unknown) => {
      if (cause instanceof CpyError) throw cause;
      // Refused (401, 403): a private asset, an expired signed URL, not the network.
      const { said, hint } = fetchFailure(cause);
      throw new CpyError('CPY_INSTALL_DOWNLOAD_FAILED', `cannot get the signature ${displayUrl(url)}: ${(cause as Error).message}${said}`, { hint, cause });
    });
  }

  /**
   * Before a download whose bytes must then be checked: the keys and the signature at
   * `signatureUrl`, fetched now. What refuses the file whatever its bytes (no signature, no pinned
   * key among the keys, keys that cannot be had) is said before the artifact is downloaded.
   */
  async prepare(signatureUrl: URL, label: string): Promise<void> {
    // The keys first, as install.sh fetches them: what fails first is said the same by both, and no
    // signature fetch is left running after the keys refused the install.
    const trusted = await this.keys();
    const text = this.fetchSignature(signatureUrl);
    this.#ready = { url: signatureUrl.href, text };
    const signature = await text;
    const signing = await import('@cpy/signing');
    signing.refuseUnusable({ signature, signatureSource: displayUrl(signatureUrl), trusted, signers: this.policy.signers, label });
  }

  /**
   * Verifies `file` against the detached signature at `signatureUrl`; throws CPY_SIGNATURE_* (see
   * @cpy/signing verifyPinned). The signature is fetched each time (an index read again because a
   * publish was swapping it and its signature reads both again), but for the one prepare fetched.
   */
  async verify(file: string, signatureUrl: URL, label: string): Promise<SignatureCheck> {
    const trusted = await this.keys();
    const ready = this.#ready?.url === signatureUrl.href ? this.#ready.text : null;
    this.#ready = null;
    const signature = await (ready ?? this.fetchSignature(signatureUrl));
    const signing = await import('@cpy/signing');
    return signing.verifyPinned({ file, signature, signatureSource: displayUrl(signatureUrl), trusted, signers: this.policy.signers, label });
  }
}
