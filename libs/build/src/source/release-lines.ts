import type { PythonVersion } from '@cpy/core';

/** Who signs a release line, and how python.org signs it. */
export interface SigningPolicy {
  /** `3.13`. */
  readonly line: string;
  /** The release manager's OpenPGP key, for lines python.org signs with OpenPGP (up to 3.13). */
  readonly openpgp: { readonly fingerprint: string; readonly signer: string } | null;
  /** The Sigstore identity and OIDC issuer python.org documents for the line. */
  readonly sigstore: { readonly identity: string; readonly issuer: string } | null;
  /**
   * What must be present and valid: `openpgp` up to 3.13 (Sigstore is then checked
   * when a bundle is published), `sigstore` from 3.14 (PEP 761: no more OpenPGP).
   */
  readonly requires: 'openpgp' | 'sigstore';
}

interface LinePolicy extends Omit<SigningPolicy, 'line'> {
  readonly lines: readonly string[];
}

/**
 * The pinned signers, per release line, as python.org documents them
 * (https://www.python.org/downloads/metadata/sigstore/ and the OpenPGP section
 * of https://www.python.org/downloads/). Lines not listed are unknown to this
 * version of cpy: their sources fail verification unless the caller adds keys or
 * allows unsigned sources.
 */
const POLICIES: readonly LinePolicy[] = [
  {
    lines: ['3.8', '3.9'],
    openpgp: { fingerprint: 'E3FF2839C048B25C084DEBE9B26995E310250568', signer: 'Łukasz Langa' },
    sigstore: { identity: 'lukasz@langa.pl', issuer: 'https://github.com/login/oauth' },
    requires: 'openpgp',
  },
  {
    lines: ['3.10', '3.11'],
    openpgp: { fingerprint: 'A035C8C19219BA821ECEA86B64E628F8D684696D', signer: 'Pablo Galindo Salgado' },
    sigstore: { identity: 'pablogsal@python.org', issuer: 'https://accounts.google.com' },
    requires: 'openpgp',
  },
  {
    lines: ['3.12', '3.13'],
    openpgp: { fingerprint: '7169605F62C751356D054A26A821E680E5FA6305', signer: 'Thomas Wouters' },
    sigstore: { identity: 'thomas@python.org', issuer: 'https://accounts.google.com' },
    requires: 'openpgp',
  },
  {
    lines: ['3.14', '3.15'],
    openpgp: null,
    sigstore: { identity: 'hugo@python.org', issuer: 'https://github.com/login/oauth' },
    requires: 'sigstore',
  },
];

/** The signing policy for a version's release line, or null when cpy does not know the line. */
export function signingPolicyFor(version: PythonVersion): SigningPolicy | null {
  const found = POLICIES.find((p) => p.lines.includes(version.line));
  if (!found) return null;
  const { lines: _lines, ...policy } = found;
  return { line: version.line, ...policy };
}

/** Every release line cpy has pinned signers for, oldest first. */
export function knownReleaseLines(): string[] {
  return POLICIES.flatMap((p) => p.lines);
}
