// Signed publishing against the loopback GitHub double: every asset with its detached
// signature, the index paired with its own signature through every swap (and every
// interruption of one), cpy-keys.asc kept across key rotations. Signatures are checked the
// way an installer that pins a signer checks them (@cpy/signing verifyPinned).
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import * as openpgp from 'openpgp';
import { isCpyError } from '@cpy/core';
import { addEntry, indexEntryFor, parseIndexText, planRetention, serializeIndex, type ArtifactIndex, type IndexEntry } from '@cpy/artifact';
import { githubContract, makeHostPythonArtifact, startGitHubDouble, type GitHubDouble, type TestArtifact } from '@cpy/harness';
import { extendSigningKey, generateSigningKey, loadSigningKey, readPublicKeys, signFile, verifyPinned, type GeneratedKey, type SigningKey } from '@cpy/signing';
import { createHttpClient, type HttpClient } from '@cpy/transfer';
import { gitHub } from '../src/github.js';
import { checkIndexBeforeSigning, publishIndex, type IndexEvent, type IndexTrust } from '../src/index-release.js';
import { publishRelease, type PublishEvent } from '../src/publish.js';
import { releaseTag } from '../src/tag.js';

const TOKEN = 'ghp_SIGNEDsecretSIGNEDsecret0123456789';
const PASSPHRASE = 'signed-publish passphrase 7c1e';
let work: string;
let artifact: TestArtifact;
let client: HttpClient;
let alice: GeneratedKey;
let bob: GeneratedKey;
let aliceKey: SigningKey;
let bobKey: SigningKey;
const doubles: GitHubDouble[] = [];
const contract = githubContract();
const seen: string[] = [];

async function double() {
  const d = await startGitHubDouble({ token: TOKEN });
  doubles.push(d);
  return d;
}
const api = (d: GitHubDouble) => gitHub({ repository: d.repository, token: TOKEN, apiUrl: d.apiUrl, client, sleep: async () => undefined });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-publish-signed-'));
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  client = await createHttpClient({ env: {} });
  alice = await generateSigningKey({ name: 'Alice Builds', email: 'alice@example.org', passphrase: PASSPHRASE });
  bob = await generateSigningKey({ name: 'Bob Builds', email: 'bob@example.org' });
  aliceKey = await loadSigningKey(alice.privateKey, PASSPHRASE, 'alice.asc');
  bobKey = await loadSigningKey(bob.privateKey, undefined, 'bob.asc');
}, 120_000);

afterEach(() => {
  for (const d of doubles) for (const x of d.exchanges.splice(0)) expect(contract.check(x)).toEqual([]);
});

afterAll(async () => {
  // Whatever was published, sent or reported: no private key, no passphrase, no token.
  for (const d of doubles) for (const r of d.releases()) seen.push(r.body ?? '', ...r.assets.map((a) => `${a.name}\n${a.bytes.toString('latin1')}`));
  for (const d of doubles) await d.close();
  await client.close();
  await rm(work, { recursive: true, force: true });
  for (const text of seen) expectNoSecret(text);
});

/** The lines of the private keys that their public keys do not have, the passphrase and the token. */
function expectNoSecret(text: string) {
  for (const key of [alice, bob]) {
    for (const line of key.privateKey.split('\n').filter((l) => l.length > 20 && !key.publicKey.includes(l))) expect(text).not.toContain(line);
  }
  expect(text).not.toContain('PRIVATE KEY');
  expect(text).not.toContain(PASSPHRASE);
  expect(text).not.toContain(TOKEN);
}

const releaseOf = (d: GitHubDouble, tag: string) => d.releases().find((r) => r.tag_name === tag);
const assetNames = (d: GitHubDouble, tag = 'cpy-index') => releaseOf(d, tag)!.assets.map((a) => a.name).sort();
const bytesOf = (d: GitHubDouble, name: string, tag = 'cpy-index') => releaseOf(d, tag)?.assets.find((a) => a.name === name)?.bytes ?? null;
const fingerprintsIn = async (d: GitHubDouble) => (await readPublicKeys(bytesOf(d, 'cpy-keys.asc')!.toString('utf8'), 'cpy-keys.asc')).keys.map((k) => k.fingerprint);

/**
 * What an installer that pins `signers` concludes of the asset `name` (and `name.asc` beside it),
 * with the publisher's keys from cpy-keys.asc: `good`, `absent`, or the refusal's code.
 */
async function installerView(d: GitHubDouble, name: string, signers: readonly GeneratedKey[], tag = 'cpy-index'): Promise<string> {
  const bytes = bytesOf(d, name, tag);
  if (!bytes) return 'absent';
  const file = join(work, `view-${randomUUID()}`);
  await writeFile(file, bytes);
  try {
    await verifyPinned({
      file,
      signature: bytesOf(d, `${name}.asc`, tag)?.toString('utf8') ?? null,
      signatureSource: `${name}.asc`,
      trusted: await readPublicKeys(bytesOf(d, 'cpy-keys.asc')?.toString('utf8') ?? [alice, bob].map((k) => k.publicKey).join('\n'), 'cpy-keys.asc'),
      signers: signers.map((k) => k.fingerprint),
      label: name,
    });
    return 'good';
  } catch (error) {
    return isCpyError(error) ? error.code : String(error);
  } finally {
    await rm(file, { force: true });
  }
}

/** Every index on the release beside a signature is one that signature verifies (never another index's). */
async function expectPaired(d: GitHubDouble) {
  for (const name of ['index.json', 'index.previous.json']) {
    if (bytesOf(d, `${name}.asc`) && bytesOf(d, name)) expect([name, await installerView(d, name, [alice, bob])]).toEqual([name, 'good']);
  }
}

describe('publishRelease with a signing key', () => {
  const assets = () => [{ path: artifact.path }, { path: artifact.checksumPath }, { path: artifact.metadataPath }];
  const tag = () => releaseTag(artifact.metadata.version, artifact.metadata.build);
  const publish = (d: GitHubDouble, extra: Partial<Parameters<typeof publishRelease>[0]> = {}) =>
    publishRelease({ github: api(d), tag: tag(), commit: 'main', title: 'CPython', notes: 'notes', prerelease: false, assets: assets(), ...extra });

  it('signs every asset before uploading anything, uploads each X.asc beside X, and each verifies with the pinned key', async () => {
    const d = await double();
    const events: PublishEvent[] = [];
    const result = await publish(d, { signingKey: aliceKey, onEvent: (e) => events.push(e) });
    seen.push(JSON.stringify(events), JSON.stringify(result));
    const names = [artifact.fileName, `${artifact.fileName}.sha256`, `${artifact.fileName}.json`];
    expect(assetNames(d, tag())).toEqual([...names, ...names.map((n) => `${n}.asc`)].sort());
    for (const name of names) {
      expect([name, await installerView(d, name, [alice], tag())]).toEqual([name, 'good']);
      // Pinned to another key, it is refused.
      expect(await installerView(d, name, [bob], tag())).toBe('CPY_SIGNATURE_UNTRUSTED');
    }
    // Every signature was made before the release was created.
    const created = events.findIndex((e) => e.type === 'release');
    expect(events.slice(0, created).map((e) => e.type === 'asset' && `${e.name} ${e.action}`)).toEqual(names.map((n) => `${n}.asc signed`));
    expect(result.signer).toEqual({ fingerprint: alice.fingerprint, userId: 'Alice Builds <alice@example.org>' });
    // The final (published) URL of each signature, as of each file.
    const main = result.assets.find((a) => a.name === artifact.fileName)!;
    expect(main.signatureUrl).toBe(`${d.apiUrl}/acme/cpy/releases/download/${tag()}/${artifact.fileName}.asc`);
    expect(result.assets.find((a) => a.name === `${artifact.fileName}.asc`)!.signatureUrl).toBeUndefined();
  });

  it('a re-run with the same key changes nothing (the signatures there verify); another key is a conflict on a published release', async () => {
    const d = await double();
    await publish(d, { signingKey: aliceKey });
    const before = releaseOf(d, tag())!.assets.map((a) => [a.name, a.bytes.toString('latin1')]);
    d.exchanges.splice(0).forEach((x) => expect(contract.check(x)).toEqual([]));
    const again = await publish(d, { signingKey: aliceKey });
    expect(again.status).toBe('unchanged');
    expect(d.exchanges.filter((x) => x.method !== 'GET')).toEqual([]);
    expect(releaseOf(d, tag())!.assets.map((a) => [a.name, a.bytes.toString('latin1')])).toEqual(before);
    expect(again.assets.find((a) => a.name === artifact.fileName)!.signatureUrl).toMatch(/\.tgz\.asc$/);

    // Bob's signatures are not Alice's: a published release is not changed silently.
    const other = await publish(d, { signingKey: bobKey }).catch((e: unknown) => e);
    expect(isCpyError(other) && other.code).toBe('CPY_PUBLISH_ASSET_CONFLICT');
    expect(isCpyError(other) && (other.details as { assets: string[] }).assets.every((n) => n.endsWith('.asc'))).toBe(true);
    // Unsigned, the signatures beside unchanged files stay, and are reported.
    const unsigned = await publish(d);
    expect(unsigned.status).toBe('unchanged');
    expect(unsigned.assets.map((a) => a.signatureUrl)).toEqual([artifact.fileName, `${artifact.fileName}.sha256`, `${artifact.fileName}.json`].map((n) => `${d.apiUrl}/acme/cpy/releases/download/${tag()}/${n}.asc`));
  });

  it('a file replaced without a signing key loses the signature beside it (deleted before the file), never left mismatched', async () => {
    const d = await double();
    await publish(d, { signingKey: aliceKey });
    await mkdir(join(work, 'other'), { recursive: true });
    const other = join(work, 'other', artifact.fileName);
    await writeFile(other, (await readFile(artifact.path)).fill(9, 100, 200));
    d.exchanges.splice(0).forEach((x) => expect(contract.check(x)).toEqual([]));
    const events: PublishEvent[] = [];
    const replaced = await publish(d, { assets: [{ path: other }, { path: artifact.checksumPath }], replace: true, onEvent: (e) => events.push(e) });
    // The new bytes went up beside the old ones (as <name>.new); then the signature went, then the file was swapped in.
    expect(events.filter((e) => e.type === 'asset' && e.name.startsWith(artifact.fileName) && !e.name.includes('.sha256')).map((e) => e.type === 'asset' && `${e.name} ${e.action}`)).toEqual([
      `${artifact.fileName} replacing`,
      `${artifact.fileName} uploading`,
      `${artifact.fileName} uploaded`,
      `${artifact.fileName}.asc deleted-stale`,
      `${artifact.fileName} verified`,
    ]);
    expect(d.exchanges.filter((x) => x.method === 'DELETE')).toHaveLength(2);
    expect(assetNames(d, tag())).not.toContain(`${artifact.fileName}.asc`);
    expect(replaced.assets.find((a) => a.name === artifact.fileName)!.signatureUrl).toBeUndefined();
    // The other files keep theirs, which still verify.
    expect(await installerView(d, `${artifact.fileName}.sha256`, [alice], tag())).toBe('good');
    expect(await installerView(d, artifact.fileName, [alice], tag())).toBe('CPY_SIGNATURE_MISSING');

    // Signed again with --replace: a new signature, which verifies the new bytes.
    await publish(d, { assets: [{ path: other }, { path: artifact.checksumPath }], replace: true, signingKey: aliceKey });
    expect(await installerView(d, artifact.fileName, [alice], tag())).toBe('good');
  });
});

describe('publishIndex with a signing key', () => {
  const entry = (build: number): IndexEntry => {
    const file = artifact.fileName.replace(/-build\d+\./, `-build${build}.`);
    const url = `https://example.test/releases/download/cpython-3.11.2-build${build}/${file}`;
    return indexEntryFor({ ...artifact.metadata, build }, { file, url, signatureUrl: `${url}.asc`, sha256: 'a'.repeat(64), size: 1000 + build, publishedAt: new Date(Date.UTC(2026, 0, build)) });
  };
  const add = (build: number) => (index: ArtifactIndex) => planRetention(addEntry(index, entry(build)), 3).index;
  const builds = (d: GitHubDouble, name: string) => {
    const bytes = bytesOf(d, name);
    return bytes ? parseIndexText(bytes.toString('utf8'), name).artifacts.map((e) => e.build) : null;
  };
  const update = (d: GitHubDouble, build: number | null, key: SigningKey | null, onEvent?: (e: IndexEvent) => void, indexTrust?: IndexTrust) =>
    publishIndex({
      github: api(d),
      change: build === null ? (i) => i : add(build),
      ...(key ? { signingKey: key, indexTrust } : {}),
      onEvent: (e) => (seen.push(JSON.stringify(e)), onEvent?.(e)),
    });
  /** The assets of the cpy-index release and their bytes, to show a refused update changed nothing. */
  const snapshot = (d: GitHubDouble) => d.releases().find((r) => r.tag_name === 'cpy-index')!.assets.map((a) => `${a.name} ${a.bytes.toString('base64')}`).sort();
  /** Expects `run` to be refused as an untrusted index, naming `why`, with no asset changed. */
  /** Expects `run` to be refused as an untrusted index, naming `why` and the sha256 of `name`'s bytes (to adopt), with no asset changed. */
  const expectUntrusted = async (d: GitHubDouble, run: () => Promise<unknown>, why: RegExp, name = 'index.json') => {
    const before = snapshot(d);
    const error = await run().then(() => null, (e: unknown) => e);
    expect(isCpyError(error, 'CPY_PUBLISH_INDEX_UNTRUSTED')).toBe(true);
    expect((error as Error).message).toMatch(why);
    const named = sha(d, name);
    expect((error as Error).message).toContain(`${name} on release cpy-index (sha256 ${named}) is not signed by`);
    expect((error as { hint?: string }).hint).toContain(`this run read ${named}`);
    expect(snapshot(d)).toEqual(before);
  };
  /** The sha256 of an asset of the cpy-index release: what --adopt-index takes. */
  const sha = (d: GitHubDouble, name: string) => createHash('sha256').update(bytesOf(d, name)!).digest('hex');
  /** An index Alice signed twice (builds 2 and 1), and what anyone who may upload assets works with: the API, the cpy-index release, its assets by name. */
  const signedTwice = async () => {
    const d = await double();
    await update(d, 1, aliceKey);
    await update(d, 2, aliceKey);
    const gh = api(d);
    const release = (await gh.listReleases()).find((r) => r.tag_name === 'cpy-index')!;
    const named = async (name: string) => (await gh.listAssets(release.id)).find((a) => a.name === name)!;
    return { d, gh, release, named };
  };
  /** A file `name` (in a folder of its own) holding index.json plus a build 9 of someone else's. */
  const plant = async (d: GitHubDouble, name: string) => {
    const dir = join(work, `planted-${randomUUID()}`);
    await mkdir(dir);
    const file = join(dir, name);
    await writeFile(file, serializeIndex(add(9)(parseIndexText(bytesOf(d, 'index.json')!.toString('utf8'), 'index.json'))));
    return file;
  };
  const early = (d: GitHubDouble, key: SigningKey, indexTrust?: IndexTrust) =>
    api(d).listReleases().then((releases) => checkIndexBeforeSigning({ github: api(d), releases, signingKey: key, indexTrust }));

  it('the first signed update writes index.json with index.json.asc, verified with the pinned key, and cpy-keys.asc with the public key only', async () => {
    const d = await double();
    const events: IndexEvent[] = [];
    const result = await update(d, 1, aliceKey, (e) => events.push(e));
    expect(assetNames(d)).toEqual(['cpy-keys.asc', 'index.json', 'index.json.asc']);
    expect(await installerView(d, 'index.json', [alice])).toBe('good');
    expect(await installerView(d, 'index.json', [bob])).toBe('CPY_SIGNATURE_UNTRUSTED');
    expect(await fingerprintsIn(d)).toEqual([alice.fingerprint]);
    expect(bytesOf(d, 'cpy-keys.asc')!.toString()).toBe(`${alice.publicKey.trimEnd()}\n`);
    expect(result).toMatchObject({
      signatureUrl: `${d.apiUrl}/acme/cpy/releases/download/cpy-index/index.json.asc`,
      keys: { url: `${d.apiUrl}/acme/cpy/releases/download/cpy-index/cpy-keys.asc`, fingerprints: [alice.fingerprint], added: true },
    });
    // The keys first, then the index's signature and the index (an index.json.new a killed signed
    // run leaves always has its signature), each verified before the swap; the signature renamed in before the index.
    const order = events.map((e) => (e.type === 'asset' ? `${e.name} ${e.action}` : e.type === 'rename' ? `${e.from} -> ${e.to}` : e.type));
    expect(order).toEqual([
      'release',
      'cpy-keys.asc.new uploading',
      'cpy-keys.asc.new uploaded',
      'cpy-keys.asc.new verified',
      'cpy-keys.asc.new -> cpy-keys.asc',
      'keys',
      'read',
      'index.json.new.asc signed',
      'index.json.new.asc uploading',
      'index.json.new.asc uploaded',
      'index.json.new uploading',
      'index.json.new uploaded',
      'index.json.new verified',
      'index.json.new.asc verified',
      'index.json.new.asc -> index.json.asc',
      'index.json.new -> index.json',
    ]);
    // Run again: nothing to write.
    d.exchanges.splice(0).forEach((x) => expect(contract.check(x)).toEqual([]));
    const same = await update(d, null, aliceKey);
    expect(same.signatureUrl).toBe(result.signatureUrl);
    expect(d.exchanges.filter((x) => x.method !== 'GET')).toEqual([]);
  });

  it('a key extended since (same fingerprint, a later expiry) replaces its copy in cpy-keys.asc: the old copy stayed, and installers refused every signature made after its date', async () => {
    const d = await double();
    const DAY = 86_400_000;
    const short = await generateSigningKey({ name: 'Carol Builds', email: 'carol@example.org', expiresInDays: 10, date: new Date(Date.now() - 5 * DAY) });
    const keysThere = async () => (await readPublicKeys(bytesOf(d, 'cpy-keys.asc')!.toString('utf8'), 'cpy-keys.asc')).keys.map((k) => [k.fingerprint, k.expiresAt]);
    await update(d, 1, await loadSigningKey(short.privateKey, undefined, 'carol.asc'));
    expect(await keysThere()).toEqual([[short.fingerprint, short.expiresAt]]);
    const renewed = await loadSigningKey((await extendSigningKey(short.privateKey, undefined, { expiresInDays: 0 })).privateKey, undefined, 'carol.asc');
    const events: IndexEvent[] = [];
    const r = await update(d, 2, renewed, (e) => events.push(e));
    expect(r.keys).toMatchObject({ fingerprints: [short.fingerprint], added: false, refreshed: true });
    expect(events).toContainEqual({ type: 'keys', action: 'refreshed', fingerprint: short.fingerprint, keys: 1 });
    expect(await keysThere()).toEqual([[short.fingerprint, null]]);
    // Once there, it is kept as it is.
    const again = await update(d, 3, renewed);
    expect(again.keys).toMatchObject({ added: false });
    expect(again.keys).not.toHaveProperty('refreshed');
  });

  it('a rotated key is appended to cpy-keys.asc (the old one kept, as it was); each index keeps its own signature', async () => {
    const d = await double();
    await update(d, 1, aliceKey);
    const first = bytesOf(d, 'cpy-keys.asc')!.toString();
    // Bob's run trusts the index Alice signed only when told to (her key is the one before his).
    await expectUntrusted(d, () => update(d, 2, bobKey), /^index\.json on release cpy-index \(sha256 [0-9a-f]{64}\) is not signed by this key \([0-9A-F]{40}\): .*signed by key .*not a pinned signer/);
    const second = await update(d, 2, bobKey, undefined, { signers: [alice.fingerprint] });
    expect(second.keys).toMatchObject({ fingerprints: [alice.fingerprint, bob.fingerprint], added: true });
    expect(await fingerprintsIn(d)).toEqual([alice.fingerprint, bob.fingerprint]);
    expect(bytesOf(d, 'cpy-keys.asc')!.toString().startsWith(first)).toBe(true);
    expect(assetNames(d)).toEqual(['cpy-keys.asc', 'index.json', 'index.json.asc', 'index.previous.json', 'index.previous.json.asc']);
    expect(builds(d, 'index.json')).toEqual([2, 1]);
    expect(await installerView(d, 'index.json', [bob])).toBe('good');
    expect(await installerView(d, 'index.previous.json', [alice])).toBe('good');
    // During a rotation installers pin both; pinned only to the old key, the new index is refused.
    expect(await installerView(d, 'index.json', [alice, bob])).toBe('good');
    expect(await installerView(d, 'index.json', [alice])).toBe('CPY_SIGNATURE_UNTRUSTED');
    // Alice again: her key is there already, the keys file is left as it is.
    const keysBefore = bytesOf(d, 'cpy-keys.asc');
    const third = await update(d, 3, aliceKey, undefined, { signers: [bob.fingerprint] });
    expect(third.keys).toMatchObject({ fingerprints: [alice.fingerprint, bob.fingerprint], added: false });
    expect(bytesOf(d, 'cpy-keys.asc')).toBe(keysBefore);
    await expectPaired(d);
    expect(await installerView(d, 'index.json', [alice])).toBe('good');
    expect(await installerView(d, 'index.previous.json', [bob])).toBe('good');
  });

  it('a signed update that changes nothing writes nothing, and downloads each asset once (the signature is checked, then compared)', async () => {
    const d = await double();
    await update(d, 1, aliceKey);
    d.exchanges.splice(0);
    d.downloads.splice(0);
    const events: IndexEvent[] = [];
    await update(d, null, aliceKey, (e) => events.push(e));
    expect(events).toContainEqual({ type: 'unchanged', entries: 1 });
    expect(d.exchanges.filter((x) => x.method !== 'GET')).toEqual([]);
    expect([...d.downloads].sort()).toEqual(['cpy-keys.asc', 'index.json', 'index.json.asc']);
  });

  it('an unsigned index is signed (again) only when adopted; an unsigned update after a signed one leaves no mismatched signature', async () => {
    const d = await double();
    await update(d, 1, null);
    expect(assetNames(d)).toEqual(['index.json']);
    // Unsigned: whoever may upload assets could have put it there. Refused, nothing written (not even cpy-keys.asc).
    await expectUntrusted(d, () => update(d, null, aliceKey), /is not signed by this key .*has no signature \(index\.json\.asc on release cpy-index\)/);
    const events: IndexEvent[] = [];
    // Adopting other bytes than those there is no adoption.
    await expectUntrusted(d, () => update(d, null, aliceKey, undefined, { adopt: 'f'.repeat(64) }), /has no signature/);
    await update(d, null, aliceKey, (e) => events.push(e), { adopt: sha(d, 'index.json') });
    expect(events).toContainEqual({ type: 'resign', entries: 1 });
    expect(await installerView(d, 'index.json', [alice])).toBe('good');
    expect(builds(d, 'index.json')).toEqual([1]);

    // Unsigned: the new index.json has no signature, the old one moved with its index.
    const unsigned: IndexEvent[] = [];
    const result = await update(d, 2, null, (e) => unsigned.push(e));
    expect(unsigned).toContainEqual({ type: 'unsigned' });
    expect(result.signatureUrl).toBeNull();
    expect(assetNames(d)).toEqual(['cpy-keys.asc', 'index.json', 'index.previous.json', 'index.previous.json.asc']);
    expect(await installerView(d, 'index.json', [alice])).toBe('CPY_SIGNATURE_MISSING');
    expect(await installerView(d, 'index.previous.json', [alice])).toBe('good');
    // And the next unsigned one drops the old pair as a whole.
    await update(d, 3, null);
    expect(assetNames(d)).toEqual(['cpy-keys.asc', 'index.json', 'index.previous.json']);
    // Signed again: the unsigned index is adopted.
    await expectUntrusted(d, () => update(d, 4, aliceKey), /has no signature/);
    await update(d, 4, aliceKey, undefined, { adopt: sha(d, 'index.json') });
    expect(assetNames(d)).toEqual(['cpy-keys.asc', 'index.json', 'index.json.asc', 'index.previous.json']);
    await expectPaired(d);
  });

  it('index.json.new.asc is downloaded again and verified before the swap: a signature that does not verify leaves index.json as it was', async () => {
    const d = await double();
    await update(d, 1, aliceKey);
    const bad = join(work, 'bad-signature-target');
    await writeFile(bad, 'not the index');
    const wrong = await signFile(bad, aliceKey);
    const tamper = (e: IndexEvent) => {
      if (e.type === 'asset' && e.name === 'index.json.new.asc' && e.action === 'uploaded') d.corruptAsset('index.json.new.asc', Buffer.from(wrong));
    };
    const error = await update(d, 2, aliceKey, tamper).catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_VERIFY_FAILED');
    expect(String(error)).toMatch(/index\.json\.new\.asc .* does not verify the index/);
    expect(builds(d, 'index.json')).toEqual([1]);
    expect(await installerView(d, 'index.json', [alice])).toBe('good');
    // The next run replaces what was left, and completes.
    const events: IndexEvent[] = [];
    await update(d, 2, aliceKey, (e) => events.push(e));
    expect(events).toContainEqual({ type: 'asset', name: 'index.json.new.asc', action: 'deleted-stale' });
    expect(assetNames(d)).toEqual(['cpy-keys.asc', 'index.json', 'index.json.asc', 'index.previous.json', 'index.previous.json.asc']);
    await expectPaired(d);
  });

  it('a signed run never signs an index.json someone else put there: unsigned, signed by a key merely added to cpy-keys.asc, or with a signature of another index', async () => {
    for (const planter of ['unsigned', 'bob', 'old-signature'] as const) {
      const { d, gh, release, named } = await signedTwice();
      // What anyone who may upload assets can do (no signing key of Alice's): index.json with a build 9 of theirs.
      const file = await plant(d, 'index.json');
      const oldSignature = bytesOf(d, 'index.previous.json.asc')!;
      await gh.deleteAsset((await named('index.json')).id);
      await gh.deleteAsset((await named('index.json.asc')).id);
      await gh.uploadAsset(release, file, 'index.json');
      if (planter !== 'unsigned') {
        await writeFile(`${file}.asc`, planter === 'bob' ? await signFile(file, bobKey) : oldSignature);
        await gh.uploadAsset(release, `${file}.asc`, 'index.json.asc');
      }
      if (planter === 'bob') {
        await writeFile(`${file}.keys`, `${bytesOf(d, 'cpy-keys.asc')!.toString().trimEnd()}\n${bob.publicKey}`);
        await gh.deleteAsset((await named('cpy-keys.asc')).id);
        await gh.uploadAsset(release, `${file}.keys`, 'cpy-keys.asc');
      }
      const why = { unsigned: /has no signature/, bob: /signed by key .*not a pinned signer/, 'old-signature': /does not match/ }[planter];
      await expectUntrusted(d, () => update(d, 3, aliceKey), why);
      await expectUntrusted(d, () => early(d, aliceKey), why);
      expect(builds(d, 'index.json')).toEqual([9, 2, 1]);
      expect(await installerView(d, 'index.json', [alice])).not.toBe('good');
      // Adopted (its builds checked by hand), it is signed as it is.
      await update(d, 3, aliceKey, undefined, { adopt: sha(d, 'index.json') });
      expect(builds(d, 'index.json')).toEqual([9, 3, 2, 1]);
      expect(await installerView(d, 'index.json', [alice])).toBe('good');
    }
  });

  it('nor one made to look like an interrupted swap (not finished: index.json is signed as it is), or put as index.previous.json with index.json gone (refused early and late)', async () => {
    {
      // index.json.asc moved to index.previous.json.asc, index.previous.json gone, an index.json.new
      // of theirs: what an update killed after its first rename leaves.
      const { d, gh, release, named } = await signedTwice();
      const file = await plant(d, 'index.json.new');
      await gh.deleteAsset((await named('index.previous.json.asc')).id);
      await gh.deleteAsset((await named('index.previous.json')).id);
      await gh.updateAsset((await named('index.json.asc')).id, { name: 'index.previous.json.asc' });
      await gh.uploadAsset(release, file, 'index.json.new');
      // index.json is still Alice's (its signature moved, as a killed swap moves it): trusted. Their
      // index.json.new is not, so the 'swap' is not finished: deleted as stale, and build 9 never signed.
      await early(d, aliceKey);
      const events: IndexEvent[] = [];
      await update(d, 3, aliceKey, (e) => events.push(e));
      expect(events).toContainEqual({ type: 'asset', name: 'index.json.new', action: 'deleted-stale' });
      expect(builds(d, 'index.json')).toEqual([3, 2, 1]);
      expect(await installerView(d, 'index.json', [alice])).toBe('good');
      expect(assetNames(d)).not.toContain('index.json.new');
    }
    {
      // index.json gone; index.previous.json theirs, unsigned: the fallback is checked too.
      const { d, gh, release, named } = await signedTwice();
      const file = await plant(d, 'index.previous.json');
      for (const name of ['index.json', 'index.json.asc', 'index.previous.json', 'index.previous.json.asc']) await gh.deleteAsset((await named(name)).id);
      await gh.uploadAsset(release, file, 'index.previous.json');
      await expectUntrusted(d, () => early(d, aliceKey), /has no signature/, 'index.previous.json');
      await expectUntrusted(d, () => update(d, 3, aliceKey), /has no signature/, 'index.previous.json');
    }
  });

  it('the check says itself what else went wrong: a cpy-keys.asc with a private key is CPY_PUBLISH_KEYS_INVALID; a trusted signer with no key there is named', async () => {
    const d = await double();
    await update(d, 1, aliceKey);
    const before = bytesOf(d, 'cpy-keys.asc');
    // Bob trusts Alice's index, and cpy-keys.asc holds only Bob's key.
    d.corruptAsset('cpy-keys.asc', Buffer.from(bob.publicKey));
    await expectUntrusted(d, () => update(d, 2, bobKey, undefined, { signers: [alice.fingerprint] }), new RegExp(`cpy-keys\\.asc holds no public key of ${alice.fingerprint}`));
    d.corruptAsset('cpy-keys.asc', Buffer.from(bob.privateKey));
    const error = await update(d, 2, bobKey, undefined, { signers: [alice.fingerprint] }).catch((e: unknown) => e);
    expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_KEYS_INVALID');
    expect(String(error)).toMatch(/holds a private key/);
    d.corruptAsset('cpy-keys.asc', before!);
  });

  it('a signed run never carries an index.json.new its key did not sign: one put there by whoever may upload assets (unsigned, or signed by another key) is not carried but deleted as stale', async () => {
    for (const signer of [null, bobKey]) {
      const d = await double();
      await update(d, 1, aliceKey);
      await update(d, 2, aliceKey);
      // builds 1 and 2, as index.json lists them, and a build 9 of someone else's: "made from" index.json.
      const planted = join(work, `planted-${randomUUID()}`);
      await mkdir(planted);
      const file = join(planted, 'index.json.new');
      await writeFile(file, serializeIndex(add(9)(parseIndexText(bytesOf(d, 'index.json')!.toString('utf8'), 'index.json'))));
      const release = (await api(d).listReleases()).find((r) => r.tag_name === 'cpy-index')!;
      await api(d).uploadAsset(release, file, 'index.json.new');
      if (signer) {
        await writeFile(`${file}.asc`, await signFile(file, signer));
        await api(d).uploadAsset(release, `${file}.asc`, 'index.json.new.asc');
      }
      const events: IndexEvent[] = [];
      await update(d, 3, aliceKey, (e) => events.push(e));
      expect(events).toContainEqual({ type: 'read', name: 'index.json', entries: 2 });
      expect(builds(d, 'index.json')).toEqual([3, 2, 1]);
      expect(await installerView(d, 'index.json', [alice])).toBe('good');
    }
  });

  describe('a signed swap killed at each of its renames is finished by the next run, each index still with its own signature', () => {
    const outage = [{ status: 502 }, { status: 502 }, { status: 502 }, { status: 502 }];
    const cases: { after: string; state: string[]; reader: Record<string, string>; next: 'signed' | 'unsigned'; previous?: number[] }[] = [
      // Before the first rename, its index.json.new and signature verified: the next run, signed or
      // not, starts from that index (and signs it, or not, itself); index.previous.json is then the
      // index readers had.
      ...(['signed', 'unsigned'] as const).map((next) => ({
        after: 'index.json.new.asc verified',
        state: ['cpy-keys.asc', 'index.json', 'index.json.asc', 'index.json.new', 'index.json.new.asc', 'index.previous.json', 'index.previous.json.asc'],
        reader: { 'index.json': 'good', 'index.previous.json': 'good' },
        next,
        previous: [2, 1],
      })),
      {
        after: 'index.json.asc -> index.previous.json.asc',
        state: ['cpy-keys.asc', 'index.json', 'index.json.new', 'index.json.new.asc', 'index.previous.json.asc'],
        // index.json without its signature for a moment: refused (fail closed), never accepted wrongly.
        reader: { 'index.json': 'CPY_SIGNATURE_MISSING', 'index.previous.json': 'absent' },
        next: 'signed',
      },
      {
        after: 'index.json -> index.previous.json',
        state: ['cpy-keys.asc', 'index.json.new', 'index.json.new.asc', 'index.previous.json', 'index.previous.json.asc'],
        // index.json answers 404: readers take index.previous.json, signed.
        reader: { 'index.json': 'absent', 'index.previous.json': 'good' },
        next: 'unsigned',
      },
      {
        after: 'index.json.new.asc -> index.json.asc',
        state: ['cpy-keys.asc', 'index.json.asc', 'index.json.new', 'index.previous.json', 'index.previous.json.asc'],
        reader: { 'index.json': 'absent', 'index.previous.json': 'good' },
        next: 'signed',
      },
    ];
    for (const c of cases) {
      it(`killed after ${c.after}; the next run is ${c.next}`, async () => {
        const d = await double();
        await update(d, 1, aliceKey);
        await update(d, 2, aliceKey);
        // At a rename: GitHub fails the next one. After a verification: the process ends there.
        const kill = (e: IndexEvent) => {
          if (e.type === 'rename' && `${e.from} -> ${e.to}` === c.after) d.inject('patch', ...outage);
          if (e.type === 'asset' && `${e.name} ${e.action}` === c.after) throw new Error('killed');
        };
        const killed = await update(d, 3, aliceKey, kill).catch((e: unknown) => e);
        expect(isCpyError(killed) || (killed as Error).message === 'killed').toBe(true);
        expect(assetNames(d)).toEqual(c.state);
        for (const [name, view] of Object.entries(c.reader)) expect([name, await installerView(d, name, [alice])]).toEqual([name, view]);
        await expectPaired(d);
        // A signed publish's early check takes this state of a genuine run as trusted.
        await early(d, aliceKey);

        const done = await update(d, 4, c.next === 'signed' ? aliceKey : null);
        // Build 3 (the interrupted update) is not lost; build 4 is added.
        expect(done.index.artifacts.map((e) => e.build)).toEqual([4, 3, 2, 1]);
        expect(builds(d, 'index.json')).toEqual([4, 3, 2, 1]);
        expect(builds(d, 'index.previous.json')).toEqual(c.previous ?? [3, 2, 1]);
        expect(assetNames(d)).toEqual(
          c.next === 'signed'
            ? ['cpy-keys.asc', 'index.json', 'index.json.asc', 'index.previous.json', 'index.previous.json.asc']
            : ['cpy-keys.asc', 'index.json', 'index.previous.json', 'index.previous.json.asc'],
        );
        expect(await installerView(d, 'index.json', [alice])).toBe(c.next === 'signed' ? 'good' : 'CPY_SIGNATURE_MISSING');
        expect(await installerView(d, 'index.previous.json', [alice])).toBe('good');
        await expectPaired(d);
      });
    }
  });

  it('an update of cpy-keys.asc killed between its delete and its rename is finished by the next run, signed or not', async () => {
    for (const retry of [null, bobKey]) {
      const d = await double();
      await update(d, 1, aliceKey);
      const kill = (e: IndexEvent) => {
        if (e.type === 'asset' && e.name === 'cpy-keys.asc' && e.action === 'deleted') d.inject('patch', { status: 502 }, { status: 502 }, { status: 502 }, { status: 502 });
      };
      const killed = await update(d, 2, bobKey, kill, { signers: [alice.fingerprint] }).catch((e: unknown) => e);
      expect(isCpyError(killed)).toBe(true);
      expect(assetNames(d)).toEqual(['cpy-keys.asc.new', 'index.json', 'index.json.asc']);
      // The index was not touched (the keys come first).
      expect(builds(d, 'index.json')).toEqual([1]);
      // The rotation again: Alice's key is read from cpy-keys.asc.new until it is put in place.
      if (retry) await early(d, retry, { signers: [alice.fingerprint] });
      const events: IndexEvent[] = [];
      await update(d, 2, retry, (e) => events.push(e), { signers: [alice.fingerprint] });
      expect(events).toContainEqual({ type: 'rename', from: 'cpy-keys.asc.new', to: 'cpy-keys.asc' });
      expect(await fingerprintsIn(d)).toEqual([alice.fingerprint, bob.fingerprint]);
      expect(builds(d, 'index.json')).toEqual([2, 1]);
    }
  });

  it("after a rotation, an update Alice's run left before its swap is carried by Bob's run that trusts her; an unsigned run killed mid-swap leaves index.json trusted (its own build is lost)", async () => {
    {
      const d = await double();
      await update(d, 1, aliceKey);
      const killed = await update(d, 2, aliceKey, (e) => {
        if (e.type === 'asset' && `${e.name} ${e.action}` === 'index.json.new.asc verified') throw new Error('killed');
      }).catch((e: unknown) => e);
      expect((killed as Error).message).toBe('killed');
      const events: IndexEvent[] = [];
      await update(d, 3, bobKey, (e) => events.push(e), { signers: [alice.fingerprint] });
      expect(events).toContainEqual({ type: 'read', name: 'index.json.new', entries: 2 });
      expect(builds(d, 'index.json')).toEqual([3, 2, 1]);
      expect(await installerView(d, 'index.json', [bob])).toBe('good');
    }
    {
      const d = await double();
      await update(d, 1, aliceKey);
      await update(d, 2, aliceKey);
      // Unsigned, killed right after index.json.asc became index.previous.json.asc (index.previous.json deleted).
      const killed = await update(d, 3, null, (e) => {
        if (e.type === 'rename' && `${e.from} -> ${e.to}` === 'index.json.asc -> index.previous.json.asc') d.inject('patch', { status: 502 }, { status: 502 }, { status: 502 }, { status: 502 });
      }).catch((e: unknown) => e);
      expect(isCpyError(killed)).toBe(true);
      expect(assetNames(d)).toEqual(['cpy-keys.asc', 'index.json', 'index.json.new', 'index.previous.json.asc']);
      // index.json is Alice's, its signature moved: trusted early and late. Its unsigned index.json.new is not: deleted as stale.
      await early(d, aliceKey);
      const events: IndexEvent[] = [];
      await update(d, 4, aliceKey, (e) => events.push(e));
      expect(events).toContainEqual({ type: 'asset', name: 'index.json.new', action: 'deleted-stale' });
      expect(builds(d, 'index.json')).toEqual([4, 2, 1]);
      expect(await installerView(d, 'index.json', [alice])).toBe('good');
    }
  });

  it('a signing key revoked in cpy-keys.asc is refused before anything is published, an extended copy of it too: its revocation is never replaced', async () => {
    const d = await double();
    const dave = await generateSigningKey({ name: 'Dave Builds', email: 'dave@example.org', expiresInDays: 30 });
    await update(d, 1, await loadSigningKey(dave.privateKey, undefined, 'dave.asc'));
    // The organisation revokes Dave's key (compromised) and publishes the revocation; a copy of the
    // private key made before it (extended since) is still about.
    const revoked = (await openpgp.revokeKey({ key: await openpgp.readPrivateKey({ armoredKey: dave.privateKey }), reasonForRevocation: { flag: openpgp.enums.reasonForRevocation.keyCompromised }, format: 'armored' })).publicKey;
    d.corruptAsset('cpy-keys.asc', Buffer.from(revoked));
    const extended = await loadSigningKey((await extendSigningKey(dave.privateKey, undefined, { expiresInDays: 365 })).privateKey, undefined, 'dave.asc');
    d.exchanges.splice(0).forEach((x) => expect(contract.check(x)).toEqual([]));
    const refused = { code: 'CPY_PUBLISH_SIGNER_REVOKED', message: `the signing key ${dave.fingerprint} is revoked in cpy-keys.asc on release cpy-index: installers refuse whatever it signs; nothing was published with it` };
    await expect(early(d, extended)).rejects.toMatchObject(refused);
    await expect(update(d, 2, extended)).rejects.toMatchObject(refused);
    expect(d.exchanges.filter((x) => x.method !== 'GET')).toEqual([]);
    expect(bytesOf(d, 'cpy-keys.asc')!.toString()).toBe(revoked);
    expect(builds(d, 'index.json')).toEqual([1]);
  });

  it('a cpy-keys.asc that cannot be read, or holds a private key, is refused and left as it is', async () => {
    const d = await double();
    await update(d, 1, aliceKey);
    for (const [bad, pattern] of [
      ['not a key', /not a readable|holds no OpenPGP public key/],
      [bob.privateKey, /holds a private key/],
    ] as const) {
      d.corruptAsset('cpy-keys.asc', Buffer.from(bad));
      d.exchanges.splice(0).forEach((x) => expect(contract.check(x)).toEqual([]));
      const error = await update(d, 2, aliceKey).catch((e: unknown) => e);
      expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_KEYS_INVALID');
      expect(String(error)).toMatch(pattern);
      expect(isCpyError(error) && error.hint).toMatch(/cpy-keys\.asc/);
      // The message names the file, never its contents.
      seen.push(String(error), JSON.stringify(error), isCpyError(error) ? error.hint ?? '' : '');
      expect(bytesOf(d, 'cpy-keys.asc')!.toString()).toBe(bad);
      expect(d.exchanges.filter((x) => x.method !== 'GET')).toEqual([]);
    }
    d.corruptAsset('cpy-keys.asc', Buffer.from(alice.publicKey));
  });
});
