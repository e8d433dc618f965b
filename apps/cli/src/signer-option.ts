import type { core } from 'zod/mini';
import { parseSigners } from '@cpy/artifact/index-format';
import type { InstallOptions } from '@cpy/install';
import { locate } from './location.js';

/**
 * Pinned signers given as flags (--signer, --index-signer), as the library takes them: parseSigners
 * in an input schema's transform (zod or zod/mini), so a value that is not a fingerprint is a usage
 * error (exit 2) before the command runs, said as parseSigners says it. A flag given with nothing
 * in it (`--signer "$FPR"` with FPR unset, or only commas) is one too: it pinned nobody, and nothing
 * was checked.
 */
export function pinnedSigners(values: string[], ctx: core.ParsePayload): string[] {
  try {
    const signers = parseSigners(values);
    if (signers.length === 0) ctx.issues.push({ code: 'custom', message: 'pin at least one signer: --signer <fingerprint> (an empty value pins nobody, and no signature would be checked)', input: values });
    return signers;
  } catch (error) {
    ctx.issues.push({ code: 'custom', message: `${(error as Error).message}: give the 40 hex digits cpy keys export prints`, input: values });
    return [];
  }
}

export const SIGNER_HELP =
  'With --signer (repeatable, or CPY_SIGNER_FINGERPRINTS), the index (index.json.asc) or, without an index, the artifact ' +
  '(<artifact>.asc) must carry a valid signature by a pinned key, or nothing is installed; the public keys come from ' +
  '--trusted-keys (default CPY_TRUSTED_KEYS_URL, else cpy-keys.asc beside the index) and count only if pinned.';

/** The flags of every command that installs from an index (cpy install, list --available, venv upgrade). */
export const SIGNER_OPTIONS = {
  signer: { type: 'string', multiple: true, valueName: '<fingerprint>', description: 'a pinned signer: the 40-hex fingerprint cpy keys export prints' },
  'trusted-keys': { type: 'string', valueName: '<url|file>', description: "the signers' public keys (default cpy-keys.asc beside the index)" },
} as const;

/** The pinned signers and their keys' location, as installPython takes them. */
export function signerOptions(cwd: string, values: { signer?: string[] | undefined; 'trusted-keys'?: string | undefined }): Pick<InstallOptions, 'signerFingerprints' | 'trustedKeysUrl'> {
  return {
    ...(values.signer?.length ? { signerFingerprints: values.signer.join(',') } : {}),
    ...(values['trusted-keys'] ? { trustedKeysUrl: locate(cwd, values['trusted-keys']) } : {}),
  };
}
