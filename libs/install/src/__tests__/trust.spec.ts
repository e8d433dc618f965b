// signaturePolicy: which signers an install pins, from its options and the environment.
import { describe, expect, it } from '@jest/globals';
import { signaturePolicy } from '../trust.js';

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
