import { createHash, createPublicKey, createVerify, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { CpyError } from '@cpy/core';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { PolicyError, toSignedEntity, toTrustMaterial, Verifier, type SignedEntity, type TrustMaterial } from '@sigstore/verify';

export interface SigstoreVerification {
  readonly method: 'sigstore';
  /** The certificate's subject (an e-mail address for python.org's release managers). */
  readonly identity: string;
  /** The OIDC issuer recorded in the certificate. */
  readonly issuer: string;
  /** ISO time the transparency log recorded the signature. */
  readonly signedAt: string;
  /** The Rekor log index, to look the entry up. */
  readonly logIndex: string;
}

export interface VerifySigstoreOptions {
  readonly file: string;
  /** The `.sigstore` bundle's JSON text. */
  readonly bundle: string;
  /** Exact identity required (matched whole, not as a pattern). */
  readonly identity: string;
  /** Exact OIDC issuer required. */
  readonly issuer: string;
  readonly label?: string;
}

let trustMaterial: Promise<TrustMaterial> | undefined;

/**
 * The Sigstore public-good trusted root, read from the copy the @sigstore/tuf
 * package ships in seeds.json: verification never goes to the network. It is
 * only as fresh as the installed @sigstore/tuf; keys it lacks (a new Rekor
 * shard) make newer bundles fail closed, and updating the package fixes that.
 */
function publicGoodTrustMaterial(): Promise<TrustMaterial> {
  trustMaterial ??= (async () => {
    const require = createRequire(import.meta.url);
    const tufDir = require.resolve('@sigstore/tuf').replace(/dist[\\/][^\\/]*$/, '');
    const seeds = JSON.parse(await readFile(`${tufDir}seeds.json`, 'utf8')) as Record<string, { targets: Record<string, string> }>;
    const encoded = seeds['https://tuf-repo-cdn.sigstore.dev']?.targets['trusted_root.json'];
    if (!encoded) throw new Error('the @sigstore/tuf package carries no trusted_root.json for the public-good instance');
    return toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'))));
  })();
  // A failure is not kept: the next verification reads the root again.
  trustMaterial.catch(() => (trustMaterial = undefined));
  return trustMaterial;
}

/** Escapes text for use inside a regular expression (sigstore matches identities as patterns). */
function exactPattern(text: string): string {
  return `^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

/** Hashes and checks the signature over the file in one streaming pass. */
async function streamCheck(file: string, key: KeyObject, signature: Buffer, algorithm: string): Promise<{ digest: Buffer; valid: boolean }> {
  const hash = createHash(algorithm);
  const verifier = createVerify(algorithm);
  await pipeline(
    createReadStream(file),
    new Writable({
      write(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        verifier.update(chunk);
        done();
      },
    }),
  );
  return { digest: hash.digest(), valid: verifier.verify(key, signature) };
}

/** `bundleOnly`: the bundle itself is unreadable, whatever the file is (a .asc given as the bundle, a damaged one). */
function invalid(label: string, what: string, cause?: unknown, bundleOnly = false): CpyError {
  return new CpyError('CPY_SOURCE_SIGSTORE_INVALID', `the Sigstore bundle for ${label} does not verify: ${what}`, {
    hint: bundleOnly
      ? 'the .sigstore bundle is damaged or not a Sigstore bundle: delete it and fetch it again, or give the right one (--sigstore)'
      : 'the file or its .sigstore bundle is not what the release manager signed; delete both and fetch them again',
    cause,
  });
}

/**
 * Verifies a Sigstore bundle (message signature) over a file, offline, against
 * the public-good trusted root: certificate chain to Fulcio, signed certificate
 * timestamp, Rekor inclusion proof and signed checkpoint, the signature over the
 * file's bytes, then the signer's identity and issuer, which must match exactly.
 */
export async function verifySigstore(options: VerifySigstoreOptions): Promise<SigstoreVerification> {
  const label = options.label ?? options.file;
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(JSON.parse(options.bundle));
  } catch (cause) {
    throw invalid(label, `the bundle cannot be read (${(cause as Error).message})`, cause, true);
  }
  if (bundle.content.$case !== 'messageSignature') throw invalid(label, 'the bundle holds an attestation, not a signature over a file', undefined, true);
  const material = bundle.verificationMaterial.content;
  const rawCert =
    material.$case === 'certificate'
      ? material.certificate.rawBytes
      : material.$case === 'x509CertificateChain'
        ? material.x509CertificateChain.certificates[0]?.rawBytes
        : undefined;
  if (!rawCert) throw invalid(label, 'the bundle carries no signing certificate', undefined, true);

  const message = bundle.content.messageSignature;
  const algorithm = 'sha256';
  const signature = Buffer.from(message.signature);
  let certKey: ReturnType<typeof createPublicKey>;
  let certIssuedAt: Date;
  try {
    const certificate = X509Certificate.parse(Buffer.from(rawCert));
    certIssuedAt = certificate.notBefore;
    certKey = createPublicKey({ key: certificate.publicKey, format: 'der', type: 'spki' });
  } catch (error) {
    // A damaged certificate is the bundle's fault ("request past end of buffer" was reported as a bug in cpy).
    throw invalid(label, `its signing certificate cannot be read: ${(error as Error).message}`, undefined, true);
  }
  const streamed = await streamCheck(options.file, certKey, signature, algorithm);
  const claimed = Buffer.from(message.messageDigest?.digest ?? []);
  if (!streamed.digest.equals(claimed)) {
    throw invalid(label, `the file's sha256 (${streamed.digest.toString('hex')}) is not the one the bundle signs (${claimed.toString('hex')})`);
  }
  if (!streamed.valid) throw invalid(label, "the bundle's signature over the file does not verify with its certificate");

  // The bundle, with its signature content answered from the streaming pass
  // instead of from a copy of the whole file in memory.
  const base = toSignedEntity(bundle, Buffer.alloc(0));
  const entity: SignedEntity = {
    ...base,
    signature: {
      signature,
      compareSignature: (other) => other.equals(signature),
      compareDigest: (digest) => digest.equals(streamed.digest),
      verifySignature: (key) => key.equals(certKey) && streamed.valid,
    },
  };

  let root: TrustMaterial;
  try {
    root = await publicGoodTrustMaterial();
  } catch (cause) {
    throw new CpyError('CPY_SOURCE_SIGSTORE_INVALID', `the Sigstore bundle for ${label} cannot be checked: this cpy's copy of the Sigstore trusted root cannot be read (${(cause as Error).message})`, {
      hint: 'reinstall cpy (npm ci): the trusted root comes with its @sigstore/tuf package; the file and its bundle may well be right',
      cause,
    });
  }
  let signer;
  try {
    signer = new Verifier(root).verify(entity, {
      subjectAlternativeName: exactPattern(options.identity),
      extensions: { issuer: options.issuer },
    });
  } catch (cause) {
    if (cause instanceof PolicyError) {
      throw new CpyError(
        'CPY_SOURCE_SIGSTORE_IDENTITY_MISMATCH',
        `${label} has a valid Sigstore signature, but not by ${options.identity} (issuer ${options.issuer}): ${cause.message}`,
        {
          hint: 'only the release manager python.org documents for this release line is accepted; do not use this file',
          cause,
          details: { expectedIdentity: options.identity, expectedIssuer: options.issuer },
        },
      );
    }
    // The file's bytes are the ones the bundle signs (checked above): what fails here is the
    // bundle's chain to the root this cpy carries, made up, or logged with keys this copy of the
    // root does not have yet (a release newer than this cpy's @sigstore/tuf).
    throw new CpyError('CPY_SOURCE_SIGSTORE_INVALID', `the Sigstore bundle for ${label} does not verify: ${(cause as Error).message}`, {
      hint:
        "the file is the one its bundle signs, but the bundle's certificate or log entry does not chain to the Sigstore trusted root this cpy carries: " +
        'a bundle made up, or one logged after this cpy was released. Update cpy and fetch again; if a current cpy refuses it too, do not use the file',
      cause,
    });
  }
  const entry = bundle.verificationMaterial.tlogEntries[0];
  const integrated = Number(entry?.integratedTime ?? 0);
  return {
    method: 'sigstore',
    identity: signer.identity?.subjectAlternativeName ?? options.identity,
    issuer: signer.identity?.extensions?.issuer ?? options.issuer,
    // When the log took it; a bundle without that time (Rekor v2 entries are timestamped by a TSA)
    // was recorded as signed in 1970: its short-lived certificate's issue time is when it was signed.
    signedAt: (integrated > 0 ? new Date(integrated * 1000) : certIssuedAt).toISOString(),
    logIndex: String(entry?.logIndex ?? ''),
  };
}
