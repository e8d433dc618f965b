import { compareDotted, CpyError, type PythonVersion } from '@cpy/core';
import { sha256File } from '@cpy/artifact';
import { shippedKey, verifyOpenPgp, type OpenPgpVerification, type TrustedKey } from './openpgp.js';
import { checkReleaseInside } from './release-inside.js';
import { knownReleaseLines, signingPolicyFor } from './release-lines.js';
import { verifySigstore, type SigstoreVerification } from './sigstore.js';

/** What was verified about a source tarball: goes into the artifact's metadata. */
export interface SourceVerification {
  readonly version: string;
  readonly fileName: string;
  readonly sha256: string;
  /** `openpgp+sigstore` when both were checked; `unsigned` only with allowUnsigned. */
  readonly method: 'openpgp+sigstore' | 'openpgp' | 'sigstore' | 'unsigned';
  readonly openpgp: OpenPgpVerification | null;
  readonly sigstore: SigstoreVerification | null;
  /** True when the caller allowed unsigned sources (recorded even when signatures were fine). */
  readonly allowUnsigned: boolean;
  readonly warnings: readonly string[];
}

export interface VerifySourceOptions {
  readonly file: string;
  readonly version: PythonVersion;
  /** The `.asc` text, or null when there is none. */
  readonly asc: string | null;
  /** The `.sigstore` bundle's text, or null when there is none. */
  readonly sigstore: string | null;
  /** Keys the user trusts in addition to the pinned one for the release line. */
  readonly extraKeys?: readonly TrustedKey[];
  /**
   * Accept a source whose release line should be signed but whose signature is
   * missing. A present but invalid signature is refused even so.
   */
  readonly allowUnsigned?: boolean;
  /** The file's sha256 when the caller already has it; computed otherwise. */
  readonly sha256?: string;
  readonly fileName?: string;
  readonly now?: Date;
}

function missing(label: string, what: string, line: string): CpyError {
  return new CpyError('CPY_SOURCE_SIGNATURE_MISSING', `${label} has no ${what}, and python.org signs every ${line} release that way`, {
    hint: `fetch the ${what} from python.org beside the tarball; only if you accept an unverified source, pass --allow-unsigned (it is recorded in the artifact)`,
    details: { line, expected: what },
  });
}

/** A release line whose signer cpy does not know, refused (CPY_SOURCE_UNKNOWN_RELEASE_LINE). */
function unknownReleaseLine(version: PythonVersion): CpyError {
  // A line newer than those cpy knows is signed with Sigstore only (PEP 761), whose signer cpy
  // cannot be told: --trusted-key helps only the older lines, signed with OpenPGP.
  const known = knownReleaseLines();
  const newer = compareDotted(version.line, known.at(-1) ?? '0') > 0;
  return new CpyError('CPY_SOURCE_UNKNOWN_RELEASE_LINE', `cpy does not know who signs Python ${version.line} releases (it knows ${known.join(', ')})`, {
    hint: newer
      ? 'update cpy (a newer one knows the release manager python.org names for it); or, accepting an unverified source, --allow-unsigned'
      : "pass the release manager's OpenPGP key with --trusted-key <file>; or, accepting an unverified source, --allow-unsigned",
  });
}

/**
 * Refuses, before anything is fetched, a release whose verification cannot pass whatever is
 * downloaded: a line cpy knows no signer of, with no --trusted-key and no --allow-unsigned (it was
 * refused after the download and its signatures).
 */
export function refuseUnverifiable(version: PythonVersion, options: { readonly allowUnsigned?: boolean; readonly extraKeys?: readonly unknown[] }): void {
  if (!signingPolicyFor(version) && !options.allowUnsigned && !options.extraKeys?.length) throw unknownReleaseLine(version);
}

/**
 * Applies cpy's signing policy to a source tarball and its signatures.
 *
 * - 3.8 to 3.13: the OpenPGP signature by the line's release manager is
 *   required; a Sigstore bundle, when there is one, must verify too.
 * - 3.14 and later known lines: the Sigstore bundle is required (python.org
 *   stopped publishing OpenPGP signatures, PEP 761).
 * - Other lines: refused, unless the user trusts keys that signed it or allows
 *   unsigned sources.
 * `allowUnsigned` forgives a missing signature, never an invalid one.
 */
export async function verifySource(options: VerifySourceOptions): Promise<SourceVerification> {
  const { version } = options;
  const fileName = options.fileName ?? `Python-${version.full}.tar.xz`;
  const allowUnsigned = options.allowUnsigned ?? false;
  const extraKeys = options.extraKeys ?? [];
  const sha256 = options.sha256 ?? (await sha256File(options.file));
  const policy = signingPolicyFor(version);
  const warnings: string[] = [];

  let openpgp: OpenPgpVerification | null = null;
  let sigstore: SigstoreVerification | null = null;
  const pinnedKeys = policy?.openpgp ? [await shippedKey(policy.openpgp.fingerprint)] : [];
  const keys = [...pinnedKeys, ...extraKeys];

  if (options.asc !== null && keys.length > 0) {
    openpgp = await verifyOpenPgp({ file: options.file, signature: options.asc, keys, label: fileName, ...(options.now ? { now: options.now } : {}) });
    warnings.push(...openpgp.warnings);
    if (openpgp.keyOrigin === 'user') warnings.push(`signed by ${openpgp.fingerprint}, a key you added with --trusted-key, not one cpy pins`);
  } else if (options.asc !== null) {
    // 3.14 on: no release manager's OpenPGP key to check it with (PEP 761). Said, not silently passed over.
    const why = policy ? ' (python.org signs them with Sigstore only)' : '';
    warnings.push(`${fileName}'s OpenPGP signature (.asc) was not checked: cpy pins no OpenPGP key for ${version.line} releases${why}; --trusted-key <file> checks it with a key you trust`);
  }
  if (options.sigstore !== null && policy?.sigstore) {
    sigstore = await verifySigstore({ file: options.file, bundle: options.sigstore, ...policy.sigstore, label: fileName });
  }

  if (!policy && !openpgp) {
    if (!allowUnsigned) throw unknownReleaseLine(version);
    if (options.sigstore !== null) warnings.push(`${fileName}'s Sigstore bundle (.sigstore) was not checked: cpy does not know who signs ${version.line} releases`);
  } else if (policy?.requires === 'openpgp' && !openpgp) {
    if (!allowUnsigned) throw missing(fileName, 'OpenPGP signature (.asc)', policy.line);
    if (sigstore) warnings.push(`${fileName} has no OpenPGP signature, which ${policy.line} releases require; accepted on its Sigstore bundle because of --allow-unsigned`);
  } else if (policy?.requires === 'sigstore' && !sigstore) {
    // An .asc by a key given with --trusted-key does not stand in for it: a mirror that drops the
    // bundle would otherwise choose which check is made.
    if (!allowUnsigned) throw missing(fileName, 'Sigstore bundle (.sigstore)', policy.line);
    if (openpgp) warnings.push(`${fileName} has no Sigstore bundle, which ${policy.line} releases require; accepted on its OpenPGP signature because of --allow-unsigned`);
  }

  const method = openpgp && sigstore ? 'openpgp+sigstore' : openpgp ? 'openpgp' : sigstore ? 'sigstore' : 'unsigned';
  if (method === 'unsigned') warnings.push(`${fileName} is NOT verified: no signature was checked (--allow-unsigned)`);
  return { version: version.full, fileName, sha256, method, openpgp, sigstore, allowUnsigned, warnings };
}

/**
 * verifySource, then what release the tarball holds (checkReleaseInside): a release manager's
 * signature names no version, so a tarball of another release they signed, renamed, verifies.
 * CPY_SOURCE_WRONG_RELEASE when it holds another; a warning when it cannot be read here.
 */
export async function verifySourceRelease(options: VerifySourceOptions & { readonly fileName: string }): Promise<SourceVerification> {
  const verification = await verifySource(options);
  const unchecked = await checkReleaseInside(options.file, options.fileName, options.version.full);
  return unchecked ? { ...verification, warnings: [...verification.warnings, unchecked] } : verification;
}
