import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import * as openpgp from 'openpgp';
import { parseSigners } from '@cpy/artifact';
import { peakLiveMemory } from '@cpy/harness';
import { extendSigningKey, generateSigningKey, loadSigningKey, readPublicKeys, signFile, signingKeyText, verifyPinned, writeSignature, type GeneratedKey } from '../index.js';

let dir: string;
let file: string;
let alice: GeneratedKey;
let mallory: GeneratedKey;
const DAY = 86_400_000;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cpy-signing-'));
  file = join(dir, 'cpython-3.13.5-debian12-build1.tgz');
  await writeFile(file, Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  alice = await generateSigningKey({ name: 'Alice Builds', email: 'alice@example.org', passphrase: 'correct horse battery staple' });
  mallory = await generateSigningKey({ name: 'Mallory', email: 'mallory@example.org' });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const keysOf = (...keys: GeneratedKey[]) => readPublicKeys(keys.map((k) => k.publicKey).join('\n'), 'cpy-keys.asc');

async function verify(signature: string | null, signers: string[], trustedText = alice.publicKey, now?: Date) {
  return verifyPinned({
    file,
    signature,
    signatureSource: `${file}.asc`,
    trusted: await readPublicKeys(trustedText, 'cpy-keys.asc'),
    signers,
    label: 'cpython-3.13.5-debian12-build1.tgz',
    ...(now ? { now } : {}),
  });
}

describe('keys', () => {
  it('makes an Ed25519 v4 key with a 40-hex fingerprint, protected by its passphrase', async () => {
    expect(alice.fingerprint).toMatch(/^[0-9A-F]{40}$/);
    const key = await openpgp.readPrivateKey({ armoredKey: alice.privateKey });
    expect(key.getAlgorithmInfo()).toMatchObject({ algorithm: 'eddsaLegacy' });
    expect(key.keyPacket.version).toBe(4);
    expect(key.isDecrypted()).toBe(false);
    await expect(loadSigningKey(alice.privateKey, undefined, 'key.asc')).rejects.toMatchObject({ code: 'CPY_SIGNING_KEY_LOCKED' });
    await expect(loadSigningKey(alice.privateKey, 'wrong', 'key.asc')).rejects.toMatchObject({ code: 'CPY_SIGNING_KEY_LOCKED' });
    await expect(loadSigningKey(alice.publicKey, undefined, 'key.pub.asc')).rejects.toMatchObject({ code: 'CPY_SIGNING_KEY_INVALID', message: 'key.pub.asc holds a public key, not the private key that signs' });
    await expect(loadSigningKey('not a key', undefined, 'key.asc')).rejects.toMatchObject({ code: 'CPY_SIGNING_KEY_INVALID', message: 'key.asc is not an ASCII-armored OpenPGP private key' });
  });

  it('never shows the private key or the passphrase: not in errors, JSON or inspect', async () => {
    const key = await loadSigningKey(alice.privateKey, 'correct horse battery staple', 'key.asc');
    const secretLine = alice.privateKey.split('\n').find((l) => l.length > 40)!;
    const shown = [JSON.stringify(key), inspect(key, { showHidden: true, depth: 9 }), String(key)].join('\n');
    expect(shown).toContain(alice.fingerprint);
    expect(shown).not.toContain(secretLine);
    expect(shown).not.toContain('PRIVATE KEY');
    const errors = await Promise.all([
      loadSigningKey(alice.privateKey, "correct horse battery stapl", "key.asc").then(() => new Error("loaded"), (e: Error) => e),
      loadSigningKey(alice.privateKey.replace(secretLine, secretLine.slice(0, 20)), "correct horse battery staple", "key.asc").then(() => new Error("loaded"), (e: Error) => e),
    ]);
    for (const e of errors) {
      const text = `${e.message} ${JSON.stringify(e)} ${inspect(e)}`;
      expect(text).not.toContain('correct horse');
      expect(text).not.toContain(secretLine);
    }
  });

  it('reads several public keys from one file, and refuses a private key there', async () => {
    const both = await keysOf(alice, mallory);
    expect(both.keys.map((k) => k.fingerprint)).toEqual([alice.fingerprint, mallory.fingerprint]);
    expect(both.keys[0]!.userId).toBe('Alice Builds <alice@example.org>');
    await expect(readPublicKeys(alice.privateKey, 'keys.asc')).rejects.toMatchObject({ code: 'CPY_KEYS_INVALID', message: 'keys.asc holds a private key' });
    await expect(readPublicKeys('hello', 'keys.asc')).rejects.toMatchObject({ code: 'CPY_KEYS_INVALID' });
  });

  it('parses pins: repeatable and comma-separated, spaces as gpg prints them, a short key ID refused', () => {
    const spaced = alice.fingerprint.toLowerCase().replace(/(.{4})/g, '$1 ');
    expect(parseSigners([spaced, `${mallory.fingerprint},${alice.fingerprint}`])).toEqual([alice.fingerprint, mallory.fingerprint]);
    expect(() => parseSigners([alice.fingerprint.slice(-16)])).toThrow(expect.objectContaining({ code: 'CPY_SIGNER_INVALID' }));
  });
});

describe('sign and verify', () => {
  it('signs a file (streamed) and verifies it against the pinned fingerprint', async () => {
    const key = await loadSigningKey(alice.privateKey, 'correct horse battery staple', 'key.asc');
    const asc = await writeSignature(file, key);
    expect(asc).toBe(`${file}.asc`);
    const check = await verify(await readFile(asc, 'utf8'), [alice.fingerprint]);
    expect(check).toMatchObject({ fingerprint: alice.fingerprint, userId: 'Alice Builds <alice@example.org>', warnings: [] });
  });

  it('refuses a missing signature, an altered file, a foreign signer and a keys file without the pinned key, each with its own code', async () => {
    const good = await signFile(file, await loadSigningKey(alice.privateKey, 'correct horse battery staple', 'key.asc'));
    await expect(verify(null, [alice.fingerprint])).rejects.toMatchObject({ code: 'CPY_SIGNATURE_MISSING' });

    const other = join(dir, 'altered.tgz');
    await writeFile(other, Buffer.concat([await readFile(file), Buffer.from('x')]));
    await expect(
      verifyPinned({ file: other, signature: good, signatureSource: 's', trusted: await keysOf(alice), signers: [alice.fingerprint], label: 'altered.tgz' }),
    ).rejects.toMatchObject({ code: 'CPY_SIGNATURE_INVALID', message: expect.stringMatching(/does not match altered.tgz/) });

    const byMallory = await signFile(file, await loadSigningKey(mallory.privateKey, undefined, 'm.asc'));
    // Mallory's key is in the keys file, but only Alice is pinned.
    await expect(verify(byMallory, [alice.fingerprint], [alice.publicKey, mallory.publicKey].join('\n'))).rejects.toMatchObject({
      code: 'CPY_SIGNATURE_UNTRUSTED',
      message: expect.stringMatching(/not a pinned signer/),
    });
    // The keys file was replaced by Mallory's: no key has the pinned fingerprint.
    await expect(verify(byMallory, [alice.fingerprint], mallory.publicKey)).rejects.toMatchObject({
      code: 'CPY_SIGNATURE_UNTRUSTED',
      message: expect.stringContaining(`no key in cpy-keys.asc has a pinned fingerprint: it holds ${mallory.fingerprint}`),
    });
    await expect(verify('-----BEGIN PGP SIGNATURE-----\n\nnope\n-----END PGP SIGNATURE-----\n', [alice.fingerprint])).rejects.toMatchObject({ code: 'CPY_SIGNATURE_INVALID' });
  });

  it('a file signed by two keys (gpg -u A -u B) verifies against either pinned signer, with that signer\'s own signature', async () => {
    const cosigned = await openpgp.sign({
      message: await openpgp.createMessage({ binary: await readFile(file) }),
      signingKeys: [await openpgp.readPrivateKey({ armoredKey: mallory.privateKey }), await openpgp.decryptKey({ privateKey: await openpgp.readPrivateKey({ armoredKey: alice.privateKey }), passphrase: 'correct horse battery staple' })],
      detached: true,
      format: 'armored',
    });
    // Alice's is the second: only the first was checked, and hers was called altered.
    for (const who of [alice, mallory]) {
      const r = await verify(cosigned as string, [who.fingerprint], [alice.publicKey, mallory.publicKey].join('\n'));
      expect(r.fingerprint).toBe(who.fingerprint);
    }
  });

  it('an expired key still verifies what it signed while valid, and refuses a signature made after it expired', async () => {
    const created = new Date(Date.now() - 30 * DAY);
    const short = await generateSigningKey({ name: 'Old Key', email: 'old@example.org', expiresInDays: 10, date: created });
    expect(new Date(short.expiresAt!).getTime()).toBeLessThan(Date.now());
    const then = new Date(created.getTime() + DAY);
    const whileValid = await signFile(file, await loadSigningKey(short.privateKey, undefined, 'old.asc', { date: then }), { date: then });
    const check = await verify(whileValid, [short.fingerprint], short.publicKey);
    expect(check.warnings.join()).toMatch(/expired on .*signed while it was valid/);

    // The same key material re-certified without expiry (extendSigningKey) signs today; the published copy says it expired.
    const renewed = await extendSigningKey(short.privateKey, undefined, { expiresInDays: 0 });
    expect([renewed.fingerprint, renewed.expiresAt]).toEqual([short.fingerprint, null]);
    const afterExpiry = await signFile(file, await loadSigningKey(renewed.privateKey, undefined, 'renewed.asc'));
    await expect(verify(afterExpiry, [short.fingerprint], short.publicKey)).rejects.toMatchObject({ code: 'CPY_SIGNATURE_KEY_NOT_VALID' });
    // The renewed copy appended after the stale one (cpy keys export >> cpy-keys.asc): the copies are one key, and it verifies (the stale copy won).
    expect((await verify(afterExpiry, [short.fingerprint], `${short.publicKey}\n${renewed.publicKey}`)).fingerprint).toBe(short.fingerprint);
  });

  it('a key revoked since it signed is refused whatever the reason, as gpgv (install.sh) refuses it: superseded, compromised, an older copy first, a revoked signing subkey', async () => {
    const created = new Date(Date.now() - 30 * DAY);
    const { privateKey: rev } = await openpgp.generateKey({ userIDs: [{ name: 'Rev', email: 'rev@example.org' }], type: 'curve25519', date: created, format: 'object' });
    const fingerprint = rev.getFingerprint().toUpperCase();
    const signed = (await openpgp.sign({ message: await openpgp.createMessage({ binary: await readFile(file) }), signingKeys: rev, detached: true, date: new Date(Date.now() - 5 * DAY) })) as string;
    const unrevoked = rev.toPublic().armor();
    // Before any revocation it verifies, by the primary key.
    expect((await verify(signed, [fingerprint], unrevoked)).fingerprint).toBe(fingerprint);
    const revokedAs = async (flag: openpgp.enums.reasonForRevocation) => (await openpgp.revokeKey({ key: rev, reasonForRevocation: { flag }, format: 'armored' })).publicKey;
    const superseded = await revokedAs(openpgp.enums.reasonForRevocation.keySuperseded);
    const refused = { code: 'CPY_SIGNATURE_KEY_NOT_VALID', message: `cpython-3.13.5-debian12-build1.tgz is signed by ${fingerprint}, whose key has been revoked` };
    await expect(verify(signed, [fingerprint], superseded)).rejects.toMatchObject({ ...refused, details: { reason: 'keySuperseded' } });
    await expect(verify(signed, [fingerprint], await revokedAs(openpgp.enums.reasonForRevocation.keyCompromised))).rejects.toMatchObject({ ...refused, details: { reason: 'keyCompromised' } });
    await expect(verify(signed, [fingerprint], `${unrevoked}\n${superseded}`)).rejects.toMatchObject(refused);

    // A key that signs with a subkey, the subkey revoked since (the primary key is not).
    const { privateKey: withSub } = await openpgp.generateKey({ userIDs: [{ name: 'Sub', email: 'sub@example.org' }], type: 'curve25519', subkeys: [{}, { sign: true }], date: created, format: 'object' });
    const subFingerprint = withSub.getFingerprint().toUpperCase();
    const bySubkey = (await openpgp.sign({ message: await openpgp.createMessage({ binary: await readFile(file) }), signingKeys: withSub, detached: true, date: new Date(Date.now() - 5 * DAY) })) as string;
    const signingSubkey = withSub.subkeys[1]!;
    expect((await openpgp.readSignature({ armoredSignature: bySubkey })).getSigningKeyIDs()[0]!.equals(signingSubkey.getKeyID())).toBe(true);
    expect((await verify(bySubkey, [subFingerprint], withSub.toPublic().armor())).fingerprint).toBe(subFingerprint);
    withSub.subkeys[1] = await signingSubkey.revoke(withSub.keyPacket as openpgp.SecretKeyPacket, { flag: openpgp.enums.reasonForRevocation.keyRetired });
    await expect(verify(bySubkey, [subFingerprint], withSub.toPublic().armor())).rejects.toMatchObject({ code: 'CPY_SIGNATURE_KEY_NOT_VALID', details: { reason: 'keyRetired' } });
  });

  it('a signature a minute or two ahead of this clock (the signer\'s runs fast) verifies; one further ahead is said to be from the future', async () => {
    const key = await loadSigningKey(alice.privateKey, 'correct horse battery staple', 'alice.asc');
    const ahead = await signFile(file, key, { date: new Date(Date.now() + 2 * 60_000) });
    expect((await verify(ahead, [alice.fingerprint])).fingerprint).toBe(alice.fingerprint);
    const far = await signFile(file, key, { date: new Date(Date.now() + 60 * 60_000) });
    await expect(verify(far, [alice.fingerprint])).rejects.toMatchObject({ code: 'CPY_SIGNATURE_INVALID' });
  });

  it('extendSigningKey counts the new expiry from now, never to sooner than the key expires (it counted from the key\'s creation)', async () => {
    // Created 700 days ago, expiring in 30 days: extended by 365 days, it expires in 365 days.
    const created = new Date(Date.now() - 700 * DAY);
    const old = await generateSigningKey({ name: 'Two Years', email: 'two@example.org', expiresInDays: 730, date: created });
    const extended = await extendSigningKey(old.privateKey, undefined, { expiresInDays: 365 });
    expect(extended.fingerprint).toBe(old.fingerprint);
    expect(Math.abs(new Date(extended.expiresAt!).getTime() - (Date.now() + 365 * DAY))).toBeLessThan(60_000);
    await expect(loadSigningKey(extended.privateKey, undefined, 'extended.asc')).resolves.toBeDefined();
    // Fewer days than it has left: refused.
    await expect(extendSigningKey(old.privateKey, undefined, { expiresInDays: 10 })).rejects.toMatchObject({ code: 'CPY_SIGNING_KEY_UNUSABLE', message: expect.stringContaining('sooner than it does now') });
    // Read as a signing key is: the file named, a public key and a locked key said as such (they
    // were "not an ASCII-armored OpenPGP private key" and "the passphrase does not unlock").
    await expect(extendSigningKey(old.publicKey, undefined, { expiresInDays: 365, source: 'two.pub.asc' })).rejects.toMatchObject({ code: 'CPY_SIGNING_KEY_INVALID', message: 'two.pub.asc holds a public key, not the private key that signs' });
    await expect(extendSigningKey(alice.privateKey, undefined, { expiresInDays: 365, source: 'alice.asc' })).rejects.toMatchObject({ code: 'CPY_SIGNING_KEY_LOCKED', message: 'the signing key in alice.asc is protected by a passphrase' });
    // Protected as it was: an unprotected key stays so when CPY_SIGNING_PASSPHRASE is set (for another key).
    const plain = await extendSigningKey(old.privateKey, 'a passphrase of another key', { expiresInDays: 365 });
    expect(plain.protected).toBe(false);
    expect((await openpgp.readPrivateKey({ armoredKey: plain.privateKey })).isDecrypted()).toBe(true);
    const locked = await extendSigningKey(alice.privateKey, 'correct horse battery staple', { expiresInDays: 0 });
    expect(locked.protected).toBe(true);
    expect((await openpgp.readPrivateKey({ armoredKey: locked.privateKey })).isDecrypted()).toBe(false);
  });

  it('extendSigningKey refuses a revoked key, or one with a revoked subkey: extended, it came out unrevoked, and signed', async () => {
    const { privateKey: key } = await openpgp.generateKey({ userIDs: [{ name: 'Gone', email: 'gone@example.org' }], type: 'curve25519', subkeys: [{}, { sign: true }], keyExpirationTime: 30 * 86_400, format: 'object' });
    const compromised = (await openpgp.revokeKey({ key, reasonForRevocation: { flag: openpgp.enums.reasonForRevocation.keyCompromised }, format: 'armored' })).privateKey;
    const refused = { code: 'CPY_SIGNING_KEY_UNUSABLE', message: `the key ${key.getFingerprint().toUpperCase()} has been revoked: a revoked key is never extended (its revocation would be lost)` };
    await expect(extendSigningKey(compromised, undefined, { expiresInDays: 365 })).rejects.toMatchObject(refused);
    const subkeyRevoked = await openpgp.readPrivateKey({ armoredKey: key.armor() });
    subkeyRevoked.subkeys[1] = await key.subkeys[1]!.revoke(key.keyPacket as openpgp.SecretKeyPacket, { flag: openpgp.enums.reasonForRevocation.keyCompromised });
    await expect(extendSigningKey(subkeyRevoked.armor(), undefined, { expiresInDays: 365 })).rejects.toMatchObject(refused);
    // The same key unrevoked is extended.
    await expect(extendSigningKey(key.armor(), undefined, { expiresInDays: 365 })).resolves.toMatchObject({ fingerprint: key.getFingerprint().toUpperCase() });
  });

  it('signingKeyText: the key itself given to --signing-key is refused without being repeated (it printed the private key as the file it could not read)', async () => {
    const given = alice.privateKey;
    const refused = await signingKeyText({ file: given, env: {}, cwd: dir }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'CPY_SIGNING_KEY_NOT_FOUND', message: expect.stringContaining('was given the key itself') });
    const said = JSON.stringify(refused) + String(refused) + String((refused as { hint?: string }).hint);
    expect(said).not.toContain('BEGIN PGP');
    expect(said).not.toContain(given.split('\n')[3]!);
  });

  it('loadSigningKey refuses a key that has expired', async () => {
    const old = await generateSigningKey({ name: 'Old', email: 'o@example.org', expiresInDays: 1, date: new Date(Date.now() - 5 * DAY) });
    await expect(loadSigningKey(old.privateKey, undefined, 'old.asc')).rejects.toMatchObject({ code: 'CPY_SIGNING_KEY_UNUSABLE' });
  });
});

describe('memory', () => {
  it('signs and verifies a 24 MB file without holding it: live memory stays flat', async () => {
    const MB = 1024 * 1024;
    const big = join(dir, 'big.tgz');
    const fh = await open(big, 'w');
    for (let i = 0; i < 24; i++) await fh.write(Buffer.alloc(MB, i));
    await fh.close();
    const key = await loadSigningKey(alice.privateKey, 'correct horse battery staple', 'key.asc');
    const trusted = await readPublicKeys(alice.publicKey, 'cpy-keys.asc');
    const peakLive = (work: () => Promise<unknown>) => peakLiveMemory(work);
    const held = await peakLive(async () => {
      const whole = await readFile(big);
      await new Promise((r) => setTimeout(r, 250));
      return whole.length;
    });
    expect(held).toBeGreaterThan(20 * MB);
    let signature = '';
    const signing = await peakLive(async () => (signature = await signFile(big, key)));
    const verifying = await peakLive(() => verifyPinned({ file: big, signature, signatureSource: 's', trusted, signers: [alice.fingerprint], label: 'big.tgz' }));
    expect({ signing: signing < 6 * MB, verifying: verifying < 6 * MB }).toEqual({ signing: true, verifying: true });
  }, 120_000);
});
