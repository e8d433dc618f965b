// Signed installs (issue 19): a pinned signer, a signed index or artifact, and every way a
// signature can be wrong, each refused before anything is extracted, with nothing left behind.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { indexEntryFor, serializeIndex, type IndexEntry } from '@cpy/artifact';
import { errorOf, indexOf, makeHostPythonArtifact, repackArtifact, startPythonMirror, type PythonMirror, type TestArtifact } from '@cpy/harness';
import { installPython, MARKER_FILE, type InstallOptions } from '../src/index.js';

const run = promisify(execFile);
// Loaded the way @cpy/install loads it (import()): the workspace forbids a static import of a lazy-loaded library here.
type Signing = typeof import('@cpy/signing');
type GeneratedKey = Awaited<ReturnType<Signing['generateSigningKey']>>;
let signing: Signing;
const DAY = 86_400_000;

let work: string;
let mirror: PythonMirror;
let good: TestArtifact;
let evil: TestArtifact;
let alice: GeneratedKey;
let mallory: GeneratedKey;
let expired: GeneratedKey;
let renewedExpired: GeneratedKey;

const sign = async (key: GeneratedKey, path: string, date?: Date) =>
  signing.signFile(path, await signing.loadSigningKey(key.privateKey, 'pass phrase', 'key', date ? { date } : {}), date ? { date } : {});

async function put(dir: string, name: string, text: string): Promise<string> {
  const path = join(work, 'served', dir, name);
  await mkdir(join(work, 'served', dir), { recursive: true });
  await writeFile(path, text);
  mirror.serve(`${dir}/${name}`, path);
  return path;
}

/** Serves an artifact (with its .sha256 and .json) under `dir`, signed by `signer` unless null. */
async function serveArtifact(dir: string, a: TestArtifact, signature: string | null): Promise<string> {
  mirror.serve(`${dir}/${a.fileName}`, a.path);
  mirror.serve(`${dir}/${a.fileName}.sha256`, a.checksumPath);
  mirror.serve(`${dir}/${a.fileName}.json`, a.metadataPath);
  if (signature !== null) await put(dir, `${a.fileName}.asc`, signature);
  return mirror.fileUrl(dir, a.fileName);
}

/** An index listing `entry` under `dir`, signed by `signer` (or given a signature made of other bytes), with the keys file. */
async function serveIndex(dir: string, entries: IndexEntry[], options: { signer?: GeneratedKey; signature?: string; keys?: GeneratedKey[] } = {}): Promise<string> {
  const path = await put(dir, 'index.json', serializeIndex(indexOf(...entries)));
  const signature = options.signature ?? (options.signer ? await sign(options.signer, path) : null);
  if (signature !== null) await put(dir, 'index.json.asc', signature);
  await put(dir, 'cpy-keys.asc', (options.keys ?? [alice]).map((k) => k.publicKey).join('\n'));
  return mirror.fileUrl(dir, 'index.json');
}

const entryOf = async (a: TestArtifact, url: string): Promise<IndexEntry> => indexEntryFor(a.metadata, { file: a.fileName, url, sha256: a.sha256, size: (await stat(a.path)).size });

async function sandbox(extra: Partial<InstallOptions> = {}) {
  const root = await mkdtemp(join(work, 'sb-'));
  const prefix = join(root, 'opt', `python-${good.metadata.version}`);
  const cacheDir = join(root, 'cache');
  const options = (more: Partial<InstallOptions> = {}): InstallOptions => ({
    installPrefix: prefix,
    stateDir: join(root, 'state'),
    binDir: join(root, 'bin'),
    cacheDir,
    ...extra,
    ...more,
  });
  return { root, prefix, cacheDir, options };
}

/** Nothing installed, nothing cached: the prefix does not exist and the cache holds no artifact. */
async function expectNothingWritten(sb: { prefix: string; cacheDir: string }) {
  expect(await readdir(sb.prefix).catch(() => null)).toBeNull();
  expect((await readdir(sb.cacheDir).catch(() => [] as string[])).filter((n) => n.endsWith('.tgz'))).toEqual([]);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-signed-'));
  signing = await import('@cpy/signing');
  const { extendSigningKey, generateSigningKey } = signing;
  [alice, mallory] = await Promise.all([
    generateSigningKey({ name: 'Acme Python Builds', email: 'python@acme.example', passphrase: 'pass phrase' }),
    generateSigningKey({ name: 'Mallory', email: 'mallory@example.org', passphrase: 'pass phrase' }),
  ]);
  // A key that expired 20 days ago, and the same key material re-certified without expiry: it signs "today".
  const created = new Date(Date.now() - 30 * DAY);
  expired = await generateSigningKey({ name: 'Old Key', email: 'old@acme.example', expiresInDays: 10, date: created });
  renewedExpired = await extendSigningKey(expired.privateKey, undefined, { expiresInDays: 0 });
  good = await makeHostPythonArtifact(join(work, 'artifacts'));
  // What the issue tried: python3 replaced inside a real artifact, the .sha256 made again to match.
  const python = `${good.metadata.prefix.slice(1)}/bin/python${good.metadata.version.split('.').slice(0, 2).join('.')}`;
  evil = await repackArtifact(good, join(work, 'evil'), {
    drop: (name) => name === python,
    append: [{ name: python, mode: 0o755, body: '#!/bin/sh\necho owned >&2\nexit 0\n' }],
  });
  mirror = await startPythonMirror();
}, 180_000);
afterAll(async () => {
  await mirror?.close();
  await rm(work, { recursive: true, force: true });
});

describe('installPython with a pinned signer', () => {
  it('installs through a signed index with one signature check (the index), and says whose signature it was', async () => {
    const url = await serveArtifact('good', good, null);
    const indexUrl = await serveIndex('idx-good', [await entryOf(good, url)], { signer: alice });
    const sb = await sandbox({ signerFingerprints: alice.fingerprint });
    const before = mirror.requests.length;
    const r = await installPython(sb.options({ version: good.metadata.version, indexUrl }));
    expect(r).toMatchObject({ status: 'installed', sha256: good.sha256, signature: { fingerprint: alice.fingerprint, covers: 'index' } });
    const paths = mirror.requests.slice(before).map((q) => q.path);
    expect(paths.some((p) => p.endsWith('/index.json.asc'))).toBe(true);
    expect(paths.some((p) => p.endsWith('/cpy-keys.asc'))).toBe(true);
    expect(paths.some((p) => p.endsWith('.tgz.asc'))).toBe(false);
    expect(JSON.parse(await readFile(join(sb.prefix, MARKER_FILE), 'utf8'))).toMatchObject({ signedBy: alice.fingerprint });
    const { stdout } = await run(join(sb.prefix, 'bin', 'python3'), ['-c', 'import ssl; print("ok")']);
    expect(stdout).toBe('ok\n');
    // Installed and verified: the next run needs no network at all.
    const requests = mirror.requests.length;
    expect((await installPython(sb.options({ version: good.metadata.version, indexUrl }))).status).toBe('already-installed');
    expect(mirror.requests.length).toBe(requests);
  });

  it('installs a signed artifact given by URL (its own .asc), and a signature made before its key expired', async () => {
    const url = await serveArtifact('by-url', good, await sign(alice, good.path));
    const keys = await put('keys', 'alice.asc', alice.publicKey);
    const sb = await sandbox({ signerFingerprints: alice.fingerprint.toLowerCase(), trustedKeysUrl: keys });
    const r = await installPython(sb.options({ artifactUrl: url }));
    expect(r).toMatchObject({ status: 'installed', signature: { fingerprint: alice.fingerprint, covers: 'artifact' } });

    const whileValid = await sign(expired, good.path, new Date(Date.now() - 25 * DAY));
    const oldUrl = await serveArtifact('old-key', good, whileValid);
    const oldKeys = await put('keys', 'old.asc', expired.publicKey);
    const sb2 = await sandbox({ signerFingerprints: expired.fingerprint, trustedKeysUrl: oldKeys });
    const r2 = await installPython(sb2.options({ artifactUrl: oldUrl, skipValidation: true }));
    expect(r2.signature).toMatchObject({ fingerprint: expired.fingerprint, covers: 'artifact' });
  });

  it('refuses, before anything is extracted or cached, each signature that does not hold; one that holds for no bytes (none, no pinned key) before the download', async () => {
    const aliceKeys = await put('keys', 'alice.asc', alice.publicKey);
    const bothKeys = await put('keys', 'both.asc', [alice.publicKey, mallory.publicKey].join('\n'));
    const malloryKeys = await put('keys', 'mallory.asc', mallory.publicKey);
    // The same key material, re-certified without expiry, signs today; the published copy says it expired.
    const afterExpiry = await sign(renewedExpired, good.path);
    const expiredKeys = await put('keys', 'expired.asc', expired.publicKey);
    const goodSignature = await sign(alice, good.path);

    // beforeDownload: refused whatever the bytes, so the artifact is never asked for (it was downloaded whole, then refused).
    const cases: { name: string; url: string; keys: string; signer: string; code: string; message?: RegExp; beforeDownload?: true }[] = [
      // The attacker can change the artifact and its .sha256, not the signature.
      { name: 'python3 replaced, .sha256 regenerated', url: await serveArtifact('evil', evil, goodSignature), keys: aliceKeys, signer: alice.fingerprint, code: 'CPY_SIGNATURE_INVALID', message: /does not match/ },
      { name: 'no .asc', url: await serveArtifact('unsigned', good, null), keys: aliceKeys, signer: alice.fingerprint, code: 'CPY_SIGNATURE_MISSING', beforeDownload: true },
      { name: 'signed by a key that is not pinned', url: await serveArtifact('mallory', good, await sign(mallory, good.path)), keys: bothKeys, signer: alice.fingerprint, code: 'CPY_SIGNATURE_UNTRUSTED', message: /not a pinned signer/ },
      { name: "keys file with another key than the pin's", url: await serveArtifact('mallory2', good, await sign(mallory, good.path)), keys: malloryKeys, signer: alice.fingerprint, code: 'CPY_SIGNATURE_UNTRUSTED', message: /no key in .* has a pinned fingerprint/, beforeDownload: true },
      { name: 'signed after the key expired', url: await serveArtifact('after-expiry', good, afterExpiry), keys: expiredKeys, signer: expired.fingerprint, code: 'CPY_SIGNATURE_KEY_NOT_VALID' },
    ];
    for (const c of cases) {
      const sb = await sandbox({ signerFingerprints: c.signer, trustedKeysUrl: c.keys });
      const before = mirror.requests.length;
      const e = await errorOf(installPython(sb.options({ artifactUrl: c.url })));
      expect({ case: c.name, code: e.code }).toEqual({ case: c.name, code: c.code });
      const artifactAsked = mirror.requests.slice(before).some((q) => q.path === new URL(c.url).pathname);
      expect({ case: c.name, artifactAsked }).toEqual({ case: c.name, artifactAsked: !c.beforeDownload });
      if (c.message) expect(e.message).toMatch(c.message);
      await expectNothingWritten(sb);
    }
  });

  it('refuses a tampered index: an entry changed after signing', async () => {
    const goodUrl = await serveArtifact('t-good', good, null);
    const evilUrl = await serveArtifact('t-evil', evil, null);
    const signedFor = join(work, 'signed-index.json');
    await writeFile(signedFor, serializeIndex(indexOf(await entryOf(good, goodUrl))));
    const indexUrl = await serveIndex('idx-tampered', [await entryOf(evil, evilUrl)], { signature: await sign(alice, signedFor) });
    const sb = await sandbox({ signerFingerprints: alice.fingerprint });
    const e = await errorOf(installPython(sb.options({ version: good.metadata.version, indexUrl })));
    expect(e.code).toBe('CPY_SIGNATURE_INVALID');
    expect(e.message).toMatch(/index/);
    await expectNothingWritten(sb);
    // An unsigned index is refused too, and a pin without keys says where they should be.
    const unsigned = await serveIndex('idx-unsigned', [await entryOf(good, goodUrl)]);
    expect((await errorOf(installPython(sb.options({ version: good.metadata.version, indexUrl: unsigned })))).code).toBe('CPY_SIGNATURE_MISSING');
    expect((await errorOf(installPython(sb.options({ artifactUrl: goodUrl })))).code).toBe('CPY_INSTALL_NO_TRUSTED_KEYS');
    expect((await errorOf(installPython(sb.options({ artifactUrl: goodUrl, signerFingerprints: 'ABCD1234' })))).code).toBe('CPY_SIGNER_INVALID');
    // index.json answers 404 (a publish is swapping it): a refused index.previous.json says why, not "no index".
    const previous = await put('idx-previous', 'index.previous.json', serializeIndex(indexOf(await entryOf(evil, evilUrl))));
    await put('idx-previous', 'index.previous.json.asc', await sign(alice, signedFor));
    await put('idx-previous', 'cpy-keys.asc', alice.publicKey);
    expect(previous).toMatch(/index.previous.json$/);
    const swapping = await errorOf(installPython(sb.options({ version: good.metadata.version, indexUrl: mirror.fileUrl('idx-previous', 'index.json') })));
    expect(swapping).toMatchObject({ code: 'CPY_SIGNATURE_INVALID', message: expect.stringContaining('index.previous.json') });
  });

  it('with no signer pinned installs as before and fetches no signature; a later pinned run verifies what is there', async () => {
    const url = await serveArtifact('plain', good, null);
    const indexUrl = await serveIndex('idx-plain', [await entryOf(good, url)], { signer: alice });
    const sb = await sandbox();
    const before = mirror.requests.length;
    const r = await installPython(sb.options({ version: good.metadata.version, indexUrl }));
    expect(r).toMatchObject({ status: 'installed', signature: null });
    expect(mirror.requests.slice(before).filter((q) => q.path.endsWith('.asc'))).toEqual([]);
    expect(JSON.parse(await readFile(join(sb.prefix, MARKER_FILE), 'utf8')).signedBy).toBeUndefined();

    // Pinned now: the unsigned install does not count until the index's signature is checked; then the marker says so.
    const again = await installPython(sb.options({ version: good.metadata.version, indexUrl, signerFingerprints: alice.fingerprint }));
    expect(again).toMatchObject({ status: 'already-installed', signature: { fingerprint: alice.fingerprint, covers: 'index' } });
    expect(JSON.parse(await readFile(join(sb.prefix, MARKER_FILE), 'utf8')).signedBy).toBe(alice.fingerprint);
  });

  it('a cached build a pinned signer vouched for, whose bytes were replaced since (another valid .tgz): what was unpacked of it is thrown away, and the verified download installs', async () => {
    const url = await serveArtifact('swapped-cache', good, await sign(alice, good.path));
    const keys = await put('keys', 'alice-swapped.asc', alice.publicKey);
    const sb = await sandbox({ signerFingerprints: alice.fingerprint, trustedKeysUrl: keys });
    await installPython(sb.options({ artifactUrl: url, skipValidation: true }));
    // The cache entry keeps its name (the good sha256) and its signer; its bytes are the trojan's.
    await writeFile(join(sb.cacheDir, `${good.sha256}.tgz`), await readFile(evil.path));
    const warnings: string[] = [];
    const elsewhere = join(sb.root, 'elsewhere');
    const r = await installPython(sb.options({ artifactUrl: url, installPrefix: elsewhere }), { onEvent: (e) => void (e.type === 'warning' && warnings.push(e.message)) });
    expect(r).toMatchObject({ status: 'installed', fromCache: false, sha256: good.sha256, signature: { fingerprint: alice.fingerprint, covers: 'artifact' } });
    expect(warnings.join('\n')).toContain(`the cached ${good.fileName} is damaged`);
    const { stdout, stderr } = await run(join(elsewhere, 'bin', 'python3'), ['-c', 'import ssl; print("ok")']);
    expect([stdout, stderr]).toEqual(['ok\n', '']);
  });

  it('offline, a cached build installs only if a pinned signer vouched for it when it was downloaded', async () => {
    const url = await serveArtifact('cache', good, null);
    const indexUrl = await serveIndex('idx-cache', [await entryOf(good, url)], { signer: alice });
    const signed = await sandbox({ signerFingerprints: alice.fingerprint });
    await installPython(signed.options({ version: good.metadata.version, indexUrl }));
    const offline = 'http://127.0.0.1:9/index.json';
    const elsewhere = join(signed.root, 'elsewhere');
    const r = await installPython(signed.options({ version: good.metadata.version, indexUrl: offline, installPrefix: elsewhere, skipValidation: true }));
    expect(r).toMatchObject({ status: 'installed', fromCache: true, signature: { fingerprint: alice.fingerprint, covers: 'cache' } });

    const unsigned = await sandbox();
    await installPython(unsigned.options({ artifactUrl: url, skipValidation: true }));
    const e = await errorOf(installPython(unsigned.options({ version: good.metadata.version, indexUrl: offline, installPrefix: join(unsigned.root, 'other'), signerFingerprints: alice.fingerprint })));
    expect(e.code).toBe('CPY_SIGNATURE_MISSING');
  });
});
