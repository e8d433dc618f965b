// `cpy publish --signing-key` (and CPY_SIGNING_KEY), the built CLI against the loopback GitHub
// double: every asset and the index signed, checked the way an installer that pins the key
// checks them; cpy-keys.asc across a key rotation; an unsigned publish after signed ones; the
// private key, its passphrase and the token in no output.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { debugSymbolsFileName, testsFileName } from '@cpy/core';
import { githubContract, type GitHubDouble, makeHostPythonArtifact, repackArtifact, runCpy, startGitHubDouble, type TestArtifact } from '@cpy/harness';
import { generateSigningKey, readPublicKeys, verifyPinned, type GeneratedKey } from '@cpy/signing';

const TOKEN = 'ghp_CLIsignedCLIsignedCLIsigned1234567';
const PASSPHRASE = 'cli signing passphrase 0e7d';

let work: string;
let gh: GitHubDouble;
let artifact: TestArtifact;
let alice: GeneratedKey;
let bob: GeneratedKey;
let aliceFile: string;
const outputs: string[] = [];

async function cpy(args: string[], env: Record<string, string> = {}) {
  const full = { GITHUB_TOKEN: TOKEN, GH_TOKEN: '', GITHUB_REPOSITORY: gh.repository, NO_COLOR: '1', CPY_CACHE_DIR: join(work, 'cache'), CPY_SIGNING_KEY: '', CPY_SIGNING_PASSPHRASE: '', ...env };
  const r = await runCpy([...args, '--api-url', gh.apiUrl], { env: full, cwd: work });
  outputs.push(r.stdout, r.stderr);
  return r;
}

const release = (tag: string) => gh.releases().find((r) => r.tag_name === tag);
const bytesOf = (tag: string, name: string) => release(tag)?.assets.find((a) => a.name === name)?.bytes ?? null;
const namesOf = (tag: string) => release(tag)!.assets.map((a) => a.name).sort();
const keysOnRelease = () => readPublicKeys(bytesOf('cpy-index', 'cpy-keys.asc')!.toString('utf8'), 'cpy-keys.asc');
const indexOf = (name = 'index.json') => JSON.parse(bytesOf('cpy-index', name)!.toString('utf8')) as { artifacts: { build: number; url: string; signatureUrl?: string }[] };

/** What an installer pinning `signers` (keys from cpy-keys.asc on the index release) concludes of an asset: `good` or the refusal's code. */
async function installerView(tag: string, name: string, signers: readonly GeneratedKey[]): Promise<string> {
  const file = join(work, `view-${randomUUID()}`);
  await writeFile(file, bytesOf(tag, name)!);
  try {
    await verifyPinned({
      file,
      signature: bytesOf(tag, `${name}.asc`)?.toString('utf8') ?? null,
      signatureSource: `${name}.asc`,
      trusted: await keysOnRelease(),
      signers: signers.map((k) => k.fingerprint),
      label: name,
    });
    return 'good';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await rm(file, { force: true });
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-cli-publish-signed-'));
  gh = await startGitHubDouble({ token: TOKEN });
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  // The side assets cpy build writes beside an artifact: debug symbols and the test suite.
  for (const name of [debugSymbolsFileName(artifact.fileName), testsFileName(artifact.fileName)]) {
    const bytes = Buffer.from(`${name} contents`);
    await writeFile(join(work, 'artifacts', name), bytes);
    await writeFile(join(work, 'artifacts', `${name}.sha256`), `${createHash('sha256').update(bytes).digest('hex')}  ${name}\n`);
  }
  alice = await generateSigningKey({ name: 'Alice Builds', email: 'alice@example.org', passphrase: PASSPHRASE });
  bob = await generateSigningKey({ name: 'Bob Builds', email: 'bob@example.org' });
  await mkdir(join(work, 'keys'));
  aliceFile = join(work, 'keys', 'alice.asc');
  await writeFile(aliceFile, alice.privateKey, { mode: 0o600 });
  await writeFile(join(work, 'keys', 'bob.pub.asc'), bob.publicKey);
}, 120_000);

afterAll(async () => {
  const contract = githubContract();
  const problems = gh.exchanges.flatMap((x) => contract.check(x));
  // And whatever was published: the notes, every asset (the signatures, cpy-keys.asc).
  for (const r of gh.releases()) outputs.push(r.body ?? '', ...r.assets.map((a) => a.bytes.toString('latin1')));
  await gh.close();
  await rm(work, { recursive: true, force: true });
  expect(problems).toEqual([]);
  // Not once, in any output of any command, nor on the releases.
  for (const key of [alice, bob]) {
    const secret = key.privateKey.split('\n').filter((l) => l.length > 20 && !key.publicKey.includes(l));
    expect(secret.length).toBeGreaterThan(0);
    for (const text of outputs) for (const line of secret) expect(text).not.toContain(line);
  }
  for (const text of outputs) {
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain(PASSPHRASE);
    expect(text).not.toContain(TOKEN);
  }
});

describe('cpy publish --signing-key', () => {
  it('--help says where the key and its passphrase come from', async () => {
    const r = await cpy(['publish', '--help']);
    expect(r.code).toBe(0);
    for (const text of ['--signing-key <file>', 'CPY_SIGNING_KEY', 'CPY_SIGNING_PASSPHRASE', '.asc', 'cpy-keys.asc', '--index-signer <fingerprint>', '--adopt-index', 'CPY_PUBLISH_INDEX_UNTRUSTED']) expect(r.stdout).toContain(text);
    expect((await cpy(['releases', 'prune', '--help'])).stdout).toContain('--signing-key');
  });

  it('a key that cannot sign fails first, with its code, before anything is sent to GitHub', async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [['--signing-key', aliceFile], {}, 'CPY_SIGNING_KEY_LOCKED'],
      [['--signing-key', aliceFile], { CPY_SIGNING_PASSPHRASE: 'not the passphrase' }, 'CPY_SIGNING_KEY_LOCKED'],
      [['--signing-key', join(work, 'keys', 'bob.pub.asc')], {}, 'CPY_SIGNING_KEY_INVALID'],
      [['--signing-key', join(work, 'keys', 'missing.asc')], {}, 'CPY_SIGNING_KEY_NOT_FOUND'],
      // Key material that lost its BEGIN line on the way into the environment: read as a path, and never repeated.
      [[], { CPY_SIGNING_KEY: alice.privateKey.split('\n').slice(1).join('\n'), CPY_SIGNING_PASSPHRASE: PASSPHRASE }, 'CPY_SIGNING_KEY_NOT_FOUND'],
    ];
    for (const [flags, env, code] of cases) {
      const r = await cpy(['publish', artifact.path, ...flags, '--json'], env);
      expect([flags, r.code]).toEqual([flags, 1]);
      expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'error', error: { code, hint: expect.stringMatching(/.+/) } });
    }
    expect(gh.exchanges).toEqual([]);
    expect(gh.releases()).toEqual([]);
  });

  it('signs the artifact, its .sha256 and .json, the debug and tests assets and LICENSE.txt; the index; and puts the public key in cpy-keys.asc', async () => {
    const r = await cpy(['publish', artifact.path, '--signing-key', 'keys/alice.asc', '--json'], { CPY_SIGNING_PASSPHRASE: PASSPHRASE });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      release: { tag: string; signer: { fingerprint: string }; assets: { name: string; url: string; signatureUrl?: string }[] };
      index: { url: string; signatureUrl: string; keys: { url: string; fingerprints: string[]; added: boolean } };
    };
    const tag = out.release.tag;
    const files = [artifact.fileName, `${artifact.fileName}.sha256`, `${artifact.fileName}.json`, 'LICENSE.txt'];
    for (const side of [debugSymbolsFileName(artifact.fileName), testsFileName(artifact.fileName)]) files.push(side, `${side}.sha256`);
    expect(namesOf(tag)).toEqual([...files, ...files.map((f) => `${f}.asc`)].sort());
    for (const name of files) expect([name, await installerView(tag, name, [alice])]).toEqual([name, 'good']);
    expect(out.release.signer.fingerprint).toBe(alice.fingerprint);
    expect(r.stderr).toContain(`signing with ${alice.fingerprint} (Alice Builds <alice@example.org>)`);

    // The index: signed, and the entry names the artifact's signature at its published address.
    expect(namesOf('cpy-index')).toEqual(['cpy-keys.asc', 'index.json', 'index.json.asc']);
    expect(await installerView('cpy-index', 'index.json', [alice])).toBe('good');
    const main = out.release.assets.find((a) => a.name === artifact.fileName)!;
    expect(indexOf().artifacts).toEqual([expect.objectContaining({ url: main.url, signatureUrl: `${main.url}.asc` })]);
    expect(main.signatureUrl).toBe(`${gh.apiUrl}/acme/cpy/releases/download/${tag}/${artifact.fileName}.asc`);
    expect((await fetch(main.signatureUrl!)).status).toBe(200);
    expect(out.index).toMatchObject({
      signatureUrl: `${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.json.asc`,
      keys: { url: `${gh.apiUrl}/acme/cpy/releases/download/cpy-index/cpy-keys.asc`, fingerprints: [alice.fingerprint], added: true },
    });
    expect((await keysOnRelease()).keys.map((k) => k.fingerprint)).toEqual([alice.fingerprint]);
    // The notes tell users how to check it.
    expect(release(tag)!.body).toContain(`cpy artifact verify ${artifact.fileName} --signer ${alice.fingerprint} --trusted-keys cpy-keys.asc`);
  });

  it('CPY_SIGNING_KEY works as the key text and as a path; a re-run with the same key changes nothing', async () => {
    const asText = await cpy(['publish', artifact.path], { CPY_SIGNING_KEY: alice.privateKey, CPY_SIGNING_PASSPHRASE: PASSPHRASE });
    expect(asText.code).toBe(0);
    expect(asText.stdout).toMatch(/^cpython-3\.11\.2-build1 unchanged: /);
    expect(asText.stdout).toContain(`signed by ${alice.fingerprint}`);
    expect(asText.stderr).toMatch(/index: unchanged \(1 entries\)/);
    expect(asText.stderr).toContain(`keys: cpy-keys.asc already holds ${alice.fingerprint} (1 keys)`);
    const asPath = await cpy(['publish', artifact.path], { CPY_SIGNING_KEY: 'keys/alice.asc', CPY_SIGNING_PASSPHRASE: PASSPHRASE });
    expect(asPath.code).toBe(0);
    expect(asPath.stdout).toMatch(/^cpython-3\.11\.2-build1 unchanged: /);
    expect(asPath.stderr).toContain(`signing with ${alice.fingerprint}`);
  });

  it('a rotated key is added to cpy-keys.asc beside the old one; each index verifies with the key that signed it', async () => {
    const b2 = await repackArtifact(artifact, join(work, 'b2'), { metadata: (m) => ({ ...m, build: 2 }) });
    // Bob's key signs only an index it trusts: Alice's, once he names her key. Refused before anything is published.
    const refused = await cpy(['publish', b2.path, '--json'], { CPY_SIGNING_KEY: bob.privateKey });
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      outcome: 'error',
      error: { code: 'CPY_PUBLISH_INDEX_UNTRUSTED', message: expect.stringMatching(/^index\.json on release cpy-index \(sha256 [0-9a-f]{64}\) is not signed by this key \([0-9A-F]{40}\)/), hint: expect.stringContaining('--index-signer') },
    });
    expect(release('cpython-3.11.2-build2')).toBeUndefined();
    const malformed = await cpy(['publish', b2.path, '--index-signer', 'ABCD1234'], { CPY_SIGNING_KEY: bob.privateKey });
    expect([malformed.code, malformed.stderr]).toEqual([2, expect.stringMatching(/--index-signer: 'ABCD1234' is not a key fingerprint/)]);
    const r = await cpy(['publish', b2.path, '--index-signer', alice.fingerprint.toLowerCase(), '--json'], { CPY_SIGNING_KEY: bob.privateKey });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ index: { keys: { fingerprints: [alice.fingerprint, bob.fingerprint], added: true } } });
    expect(r.stderr).toContain(`keys: ${bob.fingerprint} added to cpy-keys.asc (2 keys)`);
    expect((await keysOnRelease()).keys.map((k) => k.fingerprint)).toEqual([alice.fingerprint, bob.fingerprint]);
    expect(await installerView('cpython-3.11.2-build2', b2.fileName, [bob])).toBe('good');
    expect(await installerView('cpy-index', 'index.json', [bob])).toBe('good');
    expect(await installerView('cpy-index', 'index.previous.json', [alice])).toBe('good');
    expect(indexOf().artifacts.map((e) => [e.build, Boolean(e.signatureUrl)])).toEqual([
      [2, true],
      [1, true],
    ]);
  });

  it('an unsigned publish after signed ones works as before, says the index is no longer signed, and leaves no signature beside an index it does not sign', async () => {
    const b3 = await repackArtifact(artifact, join(work, 'b3'), { metadata: (m) => ({ ...m, build: 3 }) });
    const r = await cpy(['publish', b3.path, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ release: { signer: null }, index: { signatureUrl: null, keys: null, entries: 3 } });
    expect(r.stderr).toMatch(/warning: index\.json was signed, and this update is not/);
    expect(namesOf('cpython-3.11.2-build3').some((n) => n.endsWith('.asc'))).toBe(false);
    expect(namesOf('cpy-index')).toEqual(['cpy-keys.asc', 'index.json', 'index.previous.json', 'index.previous.json.asc']);
    expect(await installerView('cpy-index', 'index.json', [alice, bob])).toBe('CPY_SIGNATURE_MISSING');
    expect(await installerView('cpy-index', 'index.previous.json', [bob])).toBe('good');
    expect(indexOf().artifacts.map((e) => [e.build, Boolean(e.signatureUrl)])).toEqual([
      [3, false],
      [2, true],
      [1, true],
    ]);
  });

  it('releases prune --yes with a signing key signs the index it updates, once the unsigned index is adopted', async () => {
    const aliceEnv = { CPY_SIGNING_KEY: alice.privateKey, CPY_SIGNING_PASSPHRASE: PASSPHRASE };
    // The last publish was unsigned: the signed prune refuses that index, and deletes nothing.
    const refused = await cpy(['releases', 'prune', '--yes', '--keep', '2', '--json'], aliceEnv);
    expect(refused.code).toBe(1);
    const sha = createHash('sha256').update(bytesOf('cpy-index', 'index.json')!).digest('hex');
    expect(JSON.parse(refused.stdout)).toMatchObject({
      error: { code: 'CPY_PUBLISH_INDEX_UNTRUSTED', message: expect.stringContaining(`(sha256 ${sha}) is not signed by this key`), hint: expect.stringContaining(`--adopt-index <the sha256 it printed>, which adopts those bytes only; this run read ${sha}`) },
    });
    expect(release('cpython-3.11.2-build1')).toBeDefined();
    // cpy index show, which the hint names for the check, prints the same sha256 of the bytes it read.
    const shown = await runCpy(['index', 'show', '--index', `${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.json`, '--json'], { env: { NO_COLOR: '1', CPY_CACHE_DIR: join(work, 'cache') }, cwd: work });
    expect([shown.code, JSON.parse(shown.stdout).sha256]).toEqual([0, sha]);
    // The trust flags say what a signed update may sign: without a key they are a usage error, and the sha256 is checked.
    const keyless = await cpy(['releases', 'prune', '--yes', '--keep', '2', '--adopt-index', sha]);
    expect([keyless.code, keyless.stderr]).toEqual([2, expect.stringMatching(/--adopt-index says which index a signed update may sign, and there is no signing key/)]);
    const short = await cpy(['releases', 'prune', '--yes', '--keep', '2', '--adopt-index', sha.slice(0, 12)], aliceEnv);
    expect([short.code, short.stderr]).toEqual([2, expect.stringMatching(/--adopt-index: must be a sha256 \(64 hex digits\): the one cpy index show printed/)]);
    expect(release('cpython-3.11.2-build1')).toBeDefined();
    const r = await cpy(['releases', 'prune', '--yes', '--keep', '2', '--adopt-index', sha.toUpperCase(), '--json'], aliceEnv);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ remove: ['cpython-3.11.2-build1'], index: { signatureUrl: `${gh.apiUrl}/acme/cpy/releases/download/cpy-index/index.json.asc` } });
    expect(await installerView('cpy-index', 'index.json', [alice])).toBe('good');
    expect(namesOf('cpy-index')).toEqual(['cpy-keys.asc', 'index.json', 'index.json.asc', 'index.previous.json']);
  });
});
