import { copyFile, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseVersion, type PythonVersion } from '@cpy/core';
import { expectCode, fixtureChecksums, fixturesDir } from '@cpy/harness';
import * as openpgp from 'openpgp';
import { readUserKeys, verifySource, type TrustedKey } from '../src/index.js';
import { shippedKey, verifyOpenPgp } from '../src/source/openpgp.js';
import { verifySigstore } from '../src/source/sigstore.js';

const FIXTURES = fixturesDir();
const TARBALL = join(FIXTURES, 'Python-3.13.5.tar.xz');
const WOUTERS = '7169605F62C751356D054A26A821E680E5FA6305';
const v = (text: string): PythonVersion => parseVersion(text)!;

const fixtureKey = async (name: string, origin: TrustedKey['origin'] = 'pinned'): Promise<TrustedKey> => ({
  armored: await readFile(join(FIXTURES, 'keys', name), 'utf8'),
  origin,
  source: name,
});

let work: string;
let asc: string;
let bundle: string;
let flipped: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-verify-'));
  asc = await readFile(`${TARBALL}.asc`, 'utf8');
  bundle = await readFile(`${TARBALL}.sigstore`, 'utf8');
  // The real tarball with one byte in the middle flipped.
  flipped = join(work, 'Python-3.13.5.tar.xz');
  await copyFile(TARBALL, flipped);
  const fh = await open(flipped, 'r+');
  const at = 11_000_000;
  const byte = Buffer.alloc(1);
  await fh.read(byte, 0, 1, at);
  byte[0] = byte[0]! ^ 0x01;
  await fh.write(byte, 0, 1, at);
  await fh.close();
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the real 3.13.5 release, offline', () => {
  it('verifies with its OpenPGP signature and its Sigstore bundle, and reports what it checked', async () => {
    const result = await verifySource({ file: TARBALL, version: v('3.13.5'), asc, sigstore: bundle });
    expect(result).toMatchObject({
      version: '3.13.5',
      sha256: (await fixtureChecksums()).get('Python-3.13.5.tar.xz'),
      method: 'openpgp+sigstore',
      allowUnsigned: false,
      openpgp: { fingerprint: WOUTERS, signer: 'Thomas Wouters <thomas@python.org>', keyOrigin: 'pinned' },
      sigstore: { identity: 'thomas@python.org', issuer: 'https://accounts.google.com' },
    });
    expect(result.openpgp?.signedAt).toBe('2025-06-11T17:45:54.000Z');
    expect(result.sigstore?.signedAt.slice(0, 10)).toBe('2025-06-11');
    expect(result.warnings).toEqual([]);
  });
});

describe('refusals, each with its own code', () => {
  it('one flipped byte: the OpenPGP signature and the Sigstore bundle both refuse it', async () => {
    const keys = [await shippedKey(WOUTERS)];
    await expectCode(verifyOpenPgp({ file: flipped, signature: asc, keys }), 'CPY_SOURCE_SIGNATURE_INVALID');
    const msg = (await expectCode(
      verifySigstore({ file: flipped, bundle, identity: 'thomas@python.org', issuer: 'https://accounts.google.com' }),
      'CPY_SOURCE_SIGSTORE_INVALID',
    )).message;
    expect(msg).toMatch(/sha256/);
    await expectCode(verifySource({ file: flipped, version: v('3.13.5'), asc, sigstore: bundle }), 'CPY_SOURCE_SIGNATURE_INVALID');
  });

  it('a valid signature made by another key is refused, unless the user trusts that key', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'ed25519Legacy',
      userIDs: [{ name: 'Mallory', email: 'mallory@example.invalid' }],
      format: 'armored',
    });
    const message = await openpgp.createMessage({
      binary: Readable.toWeb(createReadStream(TARBALL)) as unknown as ReadableStream<Uint8Array>,
    });
    const stream = (await openpgp.sign({
      message,
      signingKeys: await openpgp.readPrivateKey({ armoredKey: privateKey }),
      detached: true,
      format: 'armored',
    })) as unknown as ReadableStream<string>;
    let mallorySig = '';
    const reader = stream.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) mallorySig += r.value;

    const refused = (await expectCode(verifySource({ file: TARBALL, version: v('3.13.5'), asc: mallorySig, sigstore: null }), 'CPY_SOURCE_UNTRUSTED_SIGNER')).message;
    expect(refused).toContain(WOUTERS);

    const mallory: TrustedKey = { armored: publicKey, origin: 'user', source: 'mallory.asc' };
    const accepted = await verifySource({ file: TARBALL, version: v('3.13.5'), asc: mallorySig, sigstore: null, extraKeys: [mallory] });
    expect(accepted.method).toBe('openpgp');
    expect(accepted.openpgp?.keyOrigin).toBe('user');
    expect(accepted.warnings.join('\n')).toMatch(/--trusted-key/);

    // A --trusted-key file of several keys (python.org's file of every release manager's): each
    // counts (only the first did; a signature by the second was "not by a trusted key").
    const several = join(work, 'several.asc');
    await writeFile(several, `${await readFile(join(FIXTURES, 'keys', 'A035C8C19219BA821ECEA86B64E628F8D684696D.asc'), 'utf8')}\n${publicKey}`);
    const fromFile = await readUserKeys(several);
    expect(fromFile).toHaveLength(2);
    expect((await verifySource({ file: TARBALL, version: v('3.13.5'), asc: mallorySig, sigstore: null, extraKeys: fromFile })).openpgp?.keyOrigin).toBe('user');
    // A path to no file: said so, with what to check (it said to pass an armored public key).
    const missing = join(work, 'nokey.asc');
    await expect(readUserKeys(missing)).rejects.toMatchObject({ code: 'CPY_SOURCE_BAD_KEY', message: `cannot read ${missing} (--trusted-key): it does not exist`, hint: 'check the path of the key file (--trusted-key <file>)' });
  });

  it('a Sigstore bundle checked against the wrong identity or the wrong issuer is refused', async () => {
    const check = (identity: string, issuer: string) => verifySigstore({ file: TARBALL, bundle, identity, issuer });
    await expectCode(check('hugo@python.org', 'https://accounts.google.com'), 'CPY_SOURCE_SIGSTORE_IDENTITY_MISMATCH');
    await expectCode(check('thomas@python.org', 'https://github.com/login/oauth'), 'CPY_SOURCE_SIGSTORE_IDENTITY_MISMATCH');
    // Identities are matched whole: a prefix, or a pattern, is not the identity.
    await expectCode(check('thomas@python', 'https://accounts.google.com'), 'CPY_SOURCE_SIGSTORE_IDENTITY_MISMATCH');
    await expectCode(check('.*', 'https://accounts.google.com'), 'CPY_SOURCE_SIGSTORE_IDENTITY_MISMATCH');
    // And a 3.14 release must be signed by 3.14's release manager.
    await expectCode(verifySource({ file: TARBALL, version: v('3.14.0'), asc: null, sigstore: bundle }), 'CPY_SOURCE_SIGSTORE_IDENTITY_MISMATCH');
  });

  it('a damaged bundle is refused as invalid', async () => {
    const damaged = bundle.replace(/"signature": "MEUC/, '"signature": "MEUD');
    await expectCode(
      verifySigstore({ file: TARBALL, bundle: damaged, identity: 'thomas@python.org', issuer: 'https://accounts.google.com' }),
      'CPY_SOURCE_SIGSTORE_INVALID',
    );
    await expectCode(
      verifySigstore({ file: TARBALL, bundle: '{"not":"a bundle"}', identity: 'thomas@python.org', issuer: 'https://accounts.google.com' }),
      'CPY_SOURCE_SIGSTORE_INVALID',
    );
    // A certificate that is not one (it was CPY_CLI_INTERNAL, "request past end of buffer").
    const parsed = JSON.parse(bundle) as { verificationMaterial: { certificate?: { rawBytes: string }; x509CertificateChain?: { certificates: { rawBytes: string }[] } } };
    const cert = parsed.verificationMaterial.certificate ?? parsed.verificationMaterial.x509CertificateChain!.certificates[0]!;
    cert.rawBytes = Buffer.from('garbage').toString('base64');
    const msg = (
      await expectCode(verifySigstore({ file: TARBALL, bundle: JSON.stringify(parsed), identity: 'thomas@python.org', issuer: 'https://accounts.google.com' }), 'CPY_SOURCE_SIGSTORE_INVALID')
    ).message;
    expect(msg).toMatch(/its signing certificate cannot be read/);
    // Not a bundle at all (the .asc given as --sigstore): the bundle's fault, not the tarball's.
    const asc = await readFile(`${TARBALL}.asc`, 'utf8');
    const notBundle = await expectCode(verifySigstore({ file: TARBALL, bundle: asc, identity: 'thomas@python.org', issuer: 'https://accounts.google.com' }), 'CPY_SOURCE_SIGSTORE_INVALID');
    expect(notBundle.message).toMatch(/does not verify: the bundle cannot be read/);
    expect(notBundle.hint).toBe('the .sigstore bundle is damaged or not a Sigstore bundle: delete it and fetch it again, or give the right one (--sigstore)');
    // A bundle that reads, over other bytes: either may be wrong.
    expect((await expectCode(verifySigstore({ file: TARBALL, bundle: damaged, identity: 'thomas@python.org', issuer: 'https://accounts.google.com' }), 'CPY_SOURCE_SIGSTORE_INVALID')).hint).toMatch(/delete both/);
    // The file is the one the bundle signs, but its log entry does not check against the root cpy
    // carries (made up, or logged after this cpy): said so, with "update cpy" (it said to delete the
    // file and its bundle, which every mirror then served again).
    const logged = JSON.parse(bundle) as { verificationMaterial: { tlogEntries: { logIndex: string }[] } };
    logged.verificationMaterial.tlogEntries[0]!.logIndex = String(Number(logged.verificationMaterial.tlogEntries[0]!.logIndex) + 1);
    const unlogged = await expectCode(verifySigstore({ file: TARBALL, bundle: JSON.stringify(logged), identity: 'thomas@python.org', issuer: 'https://accounts.google.com' }), 'CPY_SOURCE_SIGSTORE_INVALID');
    expect(unlogged.hint).toMatch(/does not chain to the Sigstore trusted root this cpy carries: a bundle made up, or one logged after this cpy was released\. Update cpy/);
  });

  it('a 3.13 release without its .asc is refused, even with a valid Sigstore bundle', async () => {
    const msg = (await expectCode(verifySource({ file: TARBALL, version: v('3.13.5'), asc: null, sigstore: bundle }), 'CPY_SOURCE_SIGNATURE_MISSING')).message;
    expect(msg).toMatch(/OpenPGP/);
  });

  it('a 3.14 release without its .sigstore is refused; an unknown release line is refused', async () => {
    const msg = (await expectCode(verifySource({ file: TARBALL, version: v('3.14.0rc2'), asc: null, sigstore: null }), 'CPY_SOURCE_SIGNATURE_MISSING')).message;
    expect(msg).toMatch(/Sigstore/);
    // A line newer than cpy knows: update cpy (--trusted-key cannot help, it is signed with Sigstore only); an older one: its manager's key.
    expect((await expectCode(verifySource({ file: TARBALL, version: v('3.99.0'), asc, sigstore: bundle }), 'CPY_SOURCE_UNKNOWN_RELEASE_LINE')).hint).toMatch(/^update cpy/);
    expect((await expectCode(verifySource({ file: TARBALL, version: v('3.7.17'), asc: null, sigstore: null }), 'CPY_SOURCE_UNKNOWN_RELEASE_LINE')).hint).toMatch(/^pass the release manager's OpenPGP key with --trusted-key/);
    // An .asc by a key the user trusts does not stand in for the bundle (a mirror that dropped it chose the check).
    const trusted = await fixtureKey(`${WOUTERS}.asc`, 'user');
    await expectCode(verifySource({ file: TARBALL, version: v('3.14.0'), asc, sigstore: null, extraKeys: [trusted] }), 'CPY_SOURCE_SIGNATURE_MISSING');
    const forgiven = await verifySource({ file: TARBALL, version: v('3.14.0'), asc, sigstore: null, extraKeys: [trusted], allowUnsigned: true });
    expect([forgiven.method, forgiven.warnings.join('\n')]).toEqual(['openpgp', expect.stringContaining('has no Sigstore bundle, which 3.14 releases require; accepted on its OpenPGP signature because of --allow-unsigned')]);
  });
});

describe('--allow-unsigned', () => {
  it('accepts a missing signature, loudly, and records it', async () => {
    const result = await verifySource({ file: TARBALL, version: v('3.13.5'), asc: null, sigstore: null, allowUnsigned: true });
    expect(result.method).toBe('unsigned');
    expect(result.allowUnsigned).toBe(true);
    expect(result.warnings.join('\n')).toMatch(/NOT verified/);
    // A 3.14 file with only an .asc beside it: the .asc is said to be unchecked (it was passed over in silence).
    const later = await verifySource({ file: TARBALL, version: v('3.14.0'), asc, sigstore: null, allowUnsigned: true });
    expect(later.method).toBe('unsigned');
    expect(later.warnings.join('\n')).toMatch(/OpenPGP signature \(\.asc\) was not checked: cpy pins no OpenPGP key for 3\.14 releases/);
  });

  it('never accepts an invalid signature', async () => {
    await expectCode(
      verifySource({ file: flipped, version: v('3.13.5'), asc, sigstore: null, allowUnsigned: true }),
      'CPY_SOURCE_SIGNATURE_INVALID',
    );
  });
});

describe('key copies across the key history (see libs/build/keys/README.md)', () => {
  const at = (iso: string) => ({ now: new Date(iso) });

  it("Debian's copy, expired since, still verifies the 2025 release, with a warning to refresh it", async () => {
    const result = await verifyOpenPgp({ file: TARBALL, signature: asc, keys: [await fixtureKey(`${WOUTERS}.asc`)], ...at('2026-11-22T00:00:00Z') });
    expect(result.fingerprint).toBe(WOUTERS);
    expect(result.warnings.join('\n')).toMatch(/expired on 2026-07-02/);
  });

  it('the refreshed copy alone lacks the 2025 self-signatures: refused, saying so', async () => {
    const msg = (await expectCode(
      verifyOpenPgp({ file: TARBALL, signature: asc, keys: [await fixtureKey(`${WOUTERS}.refreshed.asc`)] }),
      'CPY_SOURCE_KEY_NOT_VALID_AT_SIGNING',
    )).message;
    expect(msg).toMatch(/2025-06-11/);
  });

  it("cpy's shipped copy carries both histories: verifies, without warnings until its 2030 expiry", async () => {
    const keys = [await shippedKey(WOUTERS)];
    expect((await verifyOpenPgp({ file: TARBALL, signature: asc, keys, ...at('2026-11-22T00:00:00Z') })).warnings).toEqual([]);
    expect((await verifyOpenPgp({ file: TARBALL, signature: asc, keys, ...at('2031-01-01T00:00:00Z') })).warnings.join()).toMatch(/expired on 2030-08-04/);
    const shipped = await openpgp.readKey({ armoredKey: keys[0]!.armored });
    const selfSigYears = shipped.users
      .find((u) => u.userID?.email === 'thomas@python.org')!
      .selfCertifications.map((s) => s.created!.getUTCFullYear());
    expect(selfSigYears).toEqual(expect.arrayContaining([2022, 2026]));
  });

  it('a signature claiming to be from the future is refused', async () => {
    await expectCode(
      verifyOpenPgp({ file: TARBALL, signature: asc, keys: [await shippedKey(WOUTERS)], ...at('2024-01-01T00:00:00Z') }),
      'CPY_SOURCE_SIGNATURE_INVALID',
    );
  });
});
