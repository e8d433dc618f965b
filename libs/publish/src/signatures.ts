import { readPublicKeys, verifyPinned, type SignatureCheck, type SigningKey } from '@cpy/signing';

/** The detached signature of a published file `X` is the asset `X.asc` beside it, in the same release. */
export const signatureName = (name: string): string => `${name}.asc`;

/**
 * Checks that `signature` is a detached signature of `file` by `key` itself (its own fingerprint
 * pinned), the check an installer that pins this key makes. Throws the CPY_SIGNATURE_* refusal.
 */
export async function checkOwnSignature(options: { file: string; signature: string; key: SigningKey; label: string; source: string }): Promise<SignatureCheck> {
  const trusted = await readPublicKeys(options.key.publicKey, `the signing key ${options.key.fingerprint}`);
  return verifyPinned({ file: options.file, signature: options.signature, signatureSource: options.source, trusted, signers: [options.key.fingerprint], label: options.label });
}

/** Whether `signature` is a valid signature of `file` by `key` (false for any refusal). */
export async function isOwnSignature(options: { file: string; signature: string; key: SigningKey; label: string; source: string }): Promise<boolean> {
  try {
    await checkOwnSignature(options);
    return true;
  } catch {
    return false;
  }
}
