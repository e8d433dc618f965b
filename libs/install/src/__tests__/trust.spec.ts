// signaturePolicy: which signers an install pins, from its options and the environment.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { SignatureVerifier, signatureUrlOf, signaturePolicy } from '../trust.js';

const A = 'A'.repeat(40);
const B = 'B'.repeat(40);

describe('signaturePolicy', () => {
  it('pins the options\' signers, else the environment\'s; an empty option is unset (the environment still counts), as the options say and install.sh reads it', () => {
    expect(signaturePolicy({ signerFingerprints: A }, { CPY_SIGNER_FINGERPRINTS: B }, undefined)?.signers).toEqual([A]);
    expect(signaturePolicy({}, { CPY_SIGNER_FINGERPRINTS: B }, undefined)?.signers).toEqual([B]);
    // (An empty option turned pinning off though the environment pinned B.)
    expect(signaturePolicy({ signerFingerprints: '' }, { CPY_SIGNER_FINGERPRINTS: B }, undefined)?.signers).toEqual([B]);
    expect(signaturePolicy({ signerFingerprints: '' }, {}, undefined)).toBeNull();
  });

  it("takes the keys from the option, else CPY_TRUSTED_KEYS_URL, else cpy-keys.asc beside the index; empty is unset", () => {
    expect(signaturePolicy({ signerFingerprints: A, trustedKeysUrl: '/k.asc' }, { CPY_TRUSTED_KEYS_URL: '/e.asc' }, 'https://h.test/i/index.json')?.keysUrl).toBe('/k.asc');
    expect(signaturePolicy({ signerFingerprints: A }, { CPY_TRUSTED_KEYS_URL: '/e.asc' }, 'https://h.test/i/index.json')?.keysUrl).toBe('/e.asc');
    expect(signaturePolicy({ signerFingerprints: A }, {}, 'https://h.test/i/index.json')?.keysUrl).toBe('https://h.test/i/cpy-keys.asc');
    expect(signaturePolicy({ signerFingerprints: A }, {}, undefined)?.keysUrl).toBeNull();
    // Empty is unset there too, as install.sh reads it (an empty CPY_TRUSTED_KEYS_URL was taken as the keys' URL).
    expect(signaturePolicy({ signerFingerprints: A }, { CPY_TRUSTED_KEYS_URL: '' }, 'https://h.test/i/index.json')?.keysUrl).toBe('https://h.test/i/cpy-keys.asc');
    expect(signaturePolicy({ signerFingerprints: A, trustedKeysUrl: '' }, { CPY_TRUSTED_KEYS_URL: '/e.asc' }, 'https://h.test/i/index.json')?.keysUrl).toBe('/e.asc');
  });
});

describe('SignatureVerifier', () => {
  it('reads a signature afresh at each check (an index read again while a publish swapped it and its signature), but for the one prepare fetched ahead of a download', async () => {
    // (Loaded as the library loads it: only where a signature is checked.)
    const { generateSigningKey, loadSigningKey, writeSignature } = await import('@cpy/signing');
    const work = await mkdtemp(join(tmpdir(), 'cpy-trust-'));
    try {
      const generated = await generateSigningKey({ name: 'Trust Test', email: 'trust@example.org' });
      const key = await loadSigningKey(generated.privateKey, undefined, 'test key');
      const keys = join(work, 'keys.asc');
      await writeFile(keys, generated.publicKey);
      const file = join(work, 'index.json');
      await writeFile(file, '{}\n');
      const url = pathToFileURL(file);
      const verifier = new SignatureVerifier({ signers: [generated.fingerprint], keysUrl: keys }, { env: {}, scratch: join(work, 'scratch') });
      // Not signed yet (a publish between its renames), then signed: the second check reads the new signature.
      await expect(verifier.verify(file, signatureUrlOf(url), 'the index')).rejects.toMatchObject({ code: 'CPY_SIGNATURE_MISSING' });
      await writeSignature(file, key);
      expect((await verifier.verify(file, signatureUrlOf(url), 'the index')).fingerprint).toBe(generated.fingerprint);
      // Fetched by prepare (before a download), the signature is the one the next check of that URL reads, once.
      await verifier.prepare(signatureUrlOf(url), 'the artifact');
      await rm(`${file}.asc`);
      expect((await verifier.verify(file, signatureUrlOf(url), 'the artifact')).fingerprint).toBe(generated.fingerprint);
      await expect(verifier.verify(file, signatureUrlOf(url), 'the artifact')).rejects.toMatchObject({ code: 'CPY_SIGNATURE_MISSING' });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
