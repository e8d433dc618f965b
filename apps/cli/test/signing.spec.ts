// The signed setup through the built bin, as a publisher and a user run it: cpy keys generate,
// keys export, artifact sign, index add, then cpy install --signer; and cpy artifact verify by hand.
import { appendFile, chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { canMount, makeHostPythonArtifact, mountSmallDisk, type PythonMirror, runCpy, startPythonMirror, type TestArtifact } from '@cpy/harness';

const PASSPHRASE = 'tr0ub4dor&3-not-in-any-output';

let work: string;
let mirror: PythonMirror;
let artifact: TestArtifact;
/** Every stdout and stderr the bin wrote, for the leak check. */
const transcript: string[] = [];

async function cpy(args: string[], env: Record<string, string> = {}) {
  const result = await runCpy(args, { cwd: work, env: { CPY_HOME: join(work, 'home'), CPY_CACHE_DIR: join(work, 'cache'), NO_COLOR: '1', ...env } });
  transcript.push(result.stdout, result.stderr);
  return result;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-cli-signing-'));
  artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  mirror = await startPythonMirror();
}, 180_000);
afterAll(async () => {
  await mirror?.close();
  await rm(work, { recursive: true, force: true });
});

describe('signing with the cpy bin', () => {
  let fingerprint: string;

  (canMount() ? it : it.skip)('a disk too full for the key: CPY_KEYS_WRITE_FAILED, and neither half is left (half a key was, and every run after was "already exists")', async () => {
    // One page: the private key takes it, the public key finds no room.
    const disk = await mountSmallDisk(4096, join(work, 'full-keys'));
    try {
      for (let run = 0; run < 2; run++) {
        const r = await cpy(['keys', 'generate', '--name', 'X', '--email', 'x@acme.example', '--out', join(disk.dir, 'k.asc')]);
        expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/error \[CPY_KEYS_WRITE_FAILED\]: cannot write .*k\.(pub\.)?asc: .*ENOSPC/i)]);
        expect(await readdir(disk.dir)).toEqual([]);
      }
    } finally {
      await disk.unmount();
    }
  }, 60_000);

  it('makes a key (0600, passphrase-protected), exports its public key, signs the artifact and the index, and installs it pinned', async () => {
    const made = await cpy(['keys', 'generate', '--name', 'Acme Python Builds', '--email', 'python@acme.example', '--out', 'acme.asc', '--json'], { CPY_SIGNING_PASSPHRASE: PASSPHRASE });
    expect(made.code).toBe(0);
    const key = JSON.parse(made.stdout).key;
    fingerprint = key.fingerprint;
    expect(key).toMatchObject({ fingerprint: expect.stringMatching(/^[0-9A-F]{40}$/), protected: true, expiresAt: expect.any(String) });
    expect((await stat(join(work, 'acme.asc'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(work, 'acme.asc'), 'utf8')).toContain('PRIVATE KEY BLOCK');
    // Never over an existing key.
    expect((await cpy(['keys', 'generate', '--name', 'X', '--email', 'x@acme.example', '--out', 'acme.asc'])).stderr).toMatch(/CPY_KEYS_EXISTS/);

    const exported = await cpy(['keys', 'export', '--signing-key', 'acme.asc']);
    expect(exported.stdout).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    expect(exported.stderr).toContain(`fingerprint ${fingerprint}`);

    // Before it expires, extended: the same fingerprint, a later expiry, protected as it was (the command was named in publish's output, and did not exist).
    const extended = await cpy(['keys', 'extend', '--signing-key', 'acme.asc', '--out', 'acme.later.asc', '--expires-days', '1000', '--json'], { CPY_SIGNING_PASSPHRASE: PASSPHRASE });
    expect([extended.code, JSON.parse(extended.stdout).key]).toEqual([0, expect.objectContaining({ fingerprint, protected: true, publicKeyFile: join(work, 'acme.later.pub.asc') })]);
    expect(new Date(JSON.parse(extended.stdout).key.expiresAt).getTime()).toBeGreaterThan(new Date(key.expiresAt).getTime());
    expect((await stat(join(work, 'acme.later.asc'))).mode & 0o777).toBe(0o600);
    // Sooner than it expires now, or over a file: refused, nothing written.
    const sooner = await cpy(['keys', 'extend', '--signing-key', 'acme.asc', '--out', 'acme.sooner.asc', '--expires-days', '10', '--json'], { CPY_SIGNING_PASSPHRASE: PASSPHRASE });
    expect([sooner.code, JSON.parse(sooner.stdout).error.code]).toEqual([1, 'CPY_SIGNING_KEY_UNUSABLE']);
    expect((await readdir(work)).filter((n) => n.startsWith('acme.sooner'))).toEqual([]);
    expect((await cpy(['keys', 'extend', '--signing-key', 'acme.asc', '--out', 'acme.later.asc'], { CPY_SIGNING_PASSPHRASE: PASSPHRASE })).stderr).toMatch(/CPY_KEYS_EXISTS/);

    // The publisher's side: the artifact in a release directory, signed; the index lists it, signed too; the keys beside it.
    const site = join(work, 'site');
    await mkdir(site, { recursive: true });
    const tgz = join(site, artifact.fileName);
    await copyFile(artifact.path, tgz);
    await copyFile(artifact.checksumPath, `${tgz}.sha256`);
    await copyFile(artifact.metadataPath, `${tgz}.json`);
    // The key as a CI secret holds it: the armored text in CPY_SIGNING_KEY.
    const secretEnv = { CPY_SIGNING_KEY: await readFile(join(work, 'acme.asc'), 'utf8'), CPY_SIGNING_PASSPHRASE: PASSPHRASE };
    const signed = await cpy(['artifact', 'sign', tgz, '--json'], secretEnv);
    expect(JSON.parse(signed.stdout)).toMatchObject({ outcome: 'success', signer: { fingerprint } });
    const url = mirror.fileUrl('site', artifact.fileName);
    expect((await cpy(['index', 'add', tgz, '--url', url, '--index', join(site, 'index.json')])).code).toBe(0);
    const entry = JSON.parse(await readFile(join(site, 'index.json'), 'utf8')).artifacts[0];
    expect(entry.signatureUrl).toBe(`${url}.asc`);
    expect((await cpy(['artifact', 'sign', join(site, 'index.json'), '--signing-key', 'acme.asc'], { CPY_SIGNING_PASSPHRASE: PASSPHRASE })).code).toBe(0);
    await writeFile(join(site, 'cpy-keys.asc'), exported.stdout);
    for (const name of ['index.json', 'index.json.asc', 'cpy-keys.asc', artifact.fileName, `${artifact.fileName}.asc`]) mirror.serve(`site/${name}`, join(site, name));

    const installed = await cpy(['install', artifact.metadata.version, '--index', mirror.fileUrl('site', 'index.json'), '--signer', fingerprint, '--skip-validation']);
    expect(installed.code).toBe(0);
    expect(installed.stdout).toContain(`signed by ${fingerprint} (the index, whose sha256 it matches)`);
    expect(installed.stderr).toMatch(/verify: the index is signed by [0-9A-F]{40} \(pinned\)/);

    // A tampered index (one byte of an entry) is refused with its code, and nothing is installed.
    const tampered = join(work, 'tampered');
    await mkdir(tampered);
    await writeFile(join(tampered, 'index.json'), (await readFile(join(site, 'index.json'), 'utf8')).replace('"build": 1', '"build": 7'));
    await copyFile(join(site, 'index.json.asc'), join(tampered, 'index.json.asc'));
    await copyFile(join(site, 'cpy-keys.asc'), join(tampered, 'cpy-keys.asc'));
    const refused = await cpy(['install', artifact.metadata.version, '--index', join(tampered, 'index.json'), '--signer', fingerprint, '--prefix', join(work, 'elsewhere'), '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ outcome: 'error', error: { code: 'CPY_SIGNATURE_INVALID' } });
    await expect(stat(join(work, 'elsewhere'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 120_000);

  it('cpy index add on a signed index removes the signature it made stale, and says to sign it again; signed again, it is read', async () => {
    const site = join(work, 'site');
    const resigned = join(work, 'resigned');
    await mkdir(resigned);
    const index = join(resigned, 'index.json');
    for (const name of ['index.json', 'index.json.asc']) await copyFile(join(site, name), join(resigned, name));
    const keys = join(site, 'cpy-keys.asc');
    const available = async () => {
      const r = await cpy(['list', '--available', '--index', index, '--signer', fingerprint, '--trusted-keys', keys, '--state-dir', join(work, 'resigned-state'), '--json']);
      return [r.code, JSON.parse(r.stdout).error?.code];
    };
    expect(await available()).toEqual([0, undefined]);

    const added = await cpy(['index', 'add', join(site, artifact.fileName), '--url', mirror.fileUrl('site', artifact.fileName), '--index', index, '--json']);
    expect(added.code).toBe(0);
    expect(added.stderr).toContain(`warning: removed ${index}.asc: it signed the index as it was, not as it is now; sign it again: cpy artifact sign ${index}`);
    expect(JSON.parse(added.stdout)).toMatchObject({ outcome: 'success', removedSignature: `${index}.asc` });
    await expect(stat(`${index}.asc`)).rejects.toMatchObject({ code: 'ENOENT' });
    // Unsigned now, not "altered or damaged" (CPY_SIGNATURE_INVALID, as when the stale signature stayed).
    expect(await available()).toEqual([1, 'CPY_SIGNATURE_MISSING']);
    expect((await cpy(['artifact', 'sign', index, '--signing-key', 'acme.asc'], { CPY_SIGNING_PASSPHRASE: PASSPHRASE })).code).toBe(0);
    expect(await available()).toEqual([0, undefined]);
  }, 120_000);

  it('an older index, validly signed, served where a newer one was read is refused by cpy list --available and cpy install, until its record is deleted', async () => {
    const site = join(work, 'site');
    const url = mirror.fileUrl('site', 'index.json');
    const state = join(work, 'roll-state');
    const pinned = ['--index', url, '--signer', fingerprint, '--state-dir', state, '--json'];
    // Read once through the real bin: the newest updatedAt read there is recorded in the state directory given.
    expect((await cpy(['list', '--available', ...pinned])).code).toBe(0);
    const newer = JSON.parse(await readFile(join(site, 'index.json'), 'utf8')).updatedAt as string;
    const [record] = await readdir(join(state, 'indexes'));
    expect(await readFile(join(state, 'indexes', record!), 'utf8')).toBe(`${newer}\n${url}\n`);

    // The same address then serves an older index with the same builds, signed by the same key.
    const old = join(work, 'old-site');
    await mkdir(old);
    await writeFile(join(old, 'index.json'), (await readFile(join(site, 'index.json'), 'utf8')).replace(`"updatedAt": "${newer}"`, '"updatedAt": "2020-01-01T00:00:00.000Z"'));
    expect((await cpy(['artifact', 'sign', join(old, 'index.json'), '--signing-key', 'acme.asc'], { CPY_SIGNING_PASSPHRASE: PASSPHRASE })).code).toBe(0);
    for (const name of ['index.json', 'index.json.asc']) mirror.serve(`site/${name}`, join(old, name));
    try {
      for (const command of [['list', '--available'], ['install', artifact.metadata.version, '--prefix', join(work, 'roll-prefix'), '--skip-validation']]) {
        const refused = await cpy([...command, ...pinned]);
        expect(refused.code).toBe(1);
        expect(JSON.parse(refused.stdout)).toMatchObject({
          outcome: 'error',
          error: {
            code: 'CPY_INSTALL_INDEX_ROLLED_BACK',
            message: `the index ${url} was updated at 2020-01-01T00:00:00.000Z, before the signed index this machine read there last (updated at ${newer}): an older index is served in its place`,
            hint: expect.stringContaining(`delete ${join(state, 'indexes', record!)}`),
          },
        });
      }
      await expect(stat(join(work, 'roll-prefix'))).rejects.toMatchObject({ code: 'ENOENT' });
      // Deleted, as the hint says: the older index is read, and recorded.
      await rm(join(state, 'indexes', record!));
      expect((await cpy(['list', '--available', ...pinned])).code).toBe(0);
      expect(await readFile(join(state, 'indexes', record!), 'utf8')).toBe(`2020-01-01T00:00:00.000Z\n${url}\n`);
    } finally {
      for (const name of ['index.json', 'index.json.asc']) mirror.serve(`site/${name}`, join(site, name));
    }
  }, 120_000);

  it('cpy artifact verify checks a file by hand: good, altered, missing, not pinned', async () => {
    const site = join(work, 'site');
    const tgz = join(site, artifact.fileName);
    const keys = join(site, 'cpy-keys.asc');
    const good = await cpy(['artifact', 'verify', tgz, '--signer', fingerprint, '--trusted-keys', keys]);
    expect([good.code, good.stdout]).toEqual([0, expect.stringContaining(`good signature: ${tgz}`)]);

    const altered = join(work, 'altered.tgz');
    await copyFile(tgz, altered);
    await appendFile(altered, 'x');
    await copyFile(`${tgz}.asc`, `${altered}.asc`);
    const codes = async (file: string, signer: string) => {
      const r = await cpy(['artifact', 'verify', file, '--signer', signer, '--trusted-keys', keys, '--json']);
      return [r.code, JSON.parse(r.stdout).error?.code];
    };
    expect(await codes(altered, fingerprint)).toEqual([1, 'CPY_SIGNATURE_INVALID']);
    expect(await codes(`${tgz}.json`, fingerprint)).toEqual([1, 'CPY_SIGNATURE_MISSING']);
    expect(await codes(tgz, 'F'.repeat(40))).toEqual([1, 'CPY_SIGNATURE_UNTRUSTED']);
    // A file that is not there is said so; an empty signature file, in words (openpgp's own were "must pass options object").
    expect(await codes(join(work, 'nope.tgz'), fingerprint)).toEqual([1, 'CPY_ARTIFACT_NOT_FOUND']);
    const empty = join(work, 'empty-sig.tgz');
    await copyFile(tgz, empty);
    await writeFile(`${empty}.asc`, '');
    const r = await cpy(['artifact', 'verify', empty, '--signer', fingerprint, '--trusted-keys', keys, '--json']);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'CPY_SIGNATURE_INVALID', message: `the signature of ${empty} (${empty}.asc) cannot be read: the file is empty` });
    // The artifact given as its signature, or as the keys: refused unread, as what it is (it was read whole, then "not a key" in openpgp's words).
    const asSignature = await cpy(['artifact', 'verify', tgz, '--signature', tgz, '--signer', fingerprint, '--trusted-keys', keys, '--json']);
    expect(JSON.parse(asSignature.stdout).error).toMatchObject({ code: 'CPY_CLI_CANNOT_READ', message: expect.stringMatching(/: it is \d+ bytes, larger than the 1048576 such a file may be: it is no detached signature/) });
    const asKeys = await cpy(['artifact', 'verify', tgz, '--signer', fingerprint, '--trusted-keys', tgz, '--json']);
    expect(JSON.parse(asKeys.stdout).error).toMatchObject({ code: 'CPY_KEYS_INVALID', message: expect.stringContaining('it is no keys file') });
    const short = await cpy(['artifact', 'verify', tgz, '--signer', 'ABCDEF12', '--trusted-keys', keys]);
    expect([short.code, short.stderr]).toEqual([2, expect.stringMatching(/CPY_CLI_USAGE\]: --signer: 'ABCDEF12' is not a key fingerprint/)]);
    // What cannot be read is said so: a directory given as the signature was "has no signature".
    const dirSig = await cpy(['artifact', 'verify', tgz, '--signer', fingerprint, '--trusted-keys', keys, '--signature', work, '--json']);
    expect(JSON.parse(dirSig.stdout).error).toMatchObject({ code: 'CPY_CLI_CANNOT_READ', message: `cannot read the signature ${work}: it is a directory` });
    if (process.getuid?.() === 0) {
      // As a user who may not read the file (mode 600, root's): it was "altered or damaged: do not use it".
      const shared = await mkdtemp(join(tmpdir(), 'cpy-cli-verify-perm-'));
      try {
        await chmod(shared, 0o755);
        for (const name of [artifact.fileName, `${artifact.fileName}.asc`]) await copyFile(join(site, name), join(shared, name));
        await copyFile(keys, join(shared, 'cpy-keys.asc'));
        await chmod(join(shared, artifact.fileName), 0o600);
        const denied = await runCpy(['artifact', 'verify', join(shared, artifact.fileName), '--signer', fingerprint, '--trusted-keys', join(shared, 'cpy-keys.asc'), '--json'], { uid: 65534, env: { HOME: shared, NO_COLOR: '1' } });
        expect([denied.code, JSON.parse(denied.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_CLI_CANNOT_READ', message: `cannot read ${join(shared, artifact.fileName)}: permission denied` })]);
      } finally {
        await rm(shared, { recursive: true, force: true });
      }
    }
  });

  it('a directory where a signature goes: CPY_SIGN_FAILED naming it (it was "a bug in cpy"); what was signed before it is said, and kept', async () => {
    const dir = join(work, 'partial');
    await mkdir(join(dir, 'b.txt.asc'), { recursive: true });
    await writeFile(join(dir, 'a.txt'), 'a\n');
    await writeFile(join(dir, 'b.txt'), 'b\n');
    const r = await cpy(['artifact', 'sign', join(dir, 'a.txt'), join(dir, 'b.txt'), '--signing-key', 'acme.asc'], { CPY_SIGNING_PASSPHRASE: PASSPHRASE });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`signed before the error below, and kept: ${join(dir, 'a.txt.asc')}; not signed: ${join(dir, 'b.txt')}`);
    expect(r.stderr).toContain(`error [CPY_SIGN_FAILED]: cannot write the signature ${join(dir, 'b.txt.asc')}: a directory is there`);
    expect((await readdir(dir)).sort()).toEqual(['a.txt', 'a.txt.asc', 'b.txt', 'b.txt.asc']);
  });

  it('a directory where an index\'s table goes: CPY_CLI_CANNOT_WRITE naming it, before the index changes (it was "a bug in cpy")', async () => {
    const site = join(work, 'table-site');
    await mkdir(join(site, 'ARTIFACTS.md'), { recursive: true });
    const r = await cpy(['index', 'add', artifact.path, '--url', `https://mirror.example/${artifact.fileName}`, '--index', join(site, 'index.json'), '--json']);
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_CLI_CANNOT_WRITE', message: `cannot write ${join(site, 'ARTIFACTS.md')}: a directory is there` })]);
    expect(await readdir(site)).toEqual(['ARTIFACTS.md']);
  });

  it('a wrong passphrase is refused by name, and neither the private key nor the passphrase appears in any output', async () => {
    const wrong = await cpy(['artifact', 'sign', join(work, 'site', 'index.json'), '--signing-key', 'acme.asc'], { CPY_SIGNING_PASSPHRASE: `${PASSPHRASE}-wrong` });
    expect([wrong.code, wrong.stderr]).toEqual([1, expect.stringMatching(/CPY_SIGNING_KEY_LOCKED\]: the passphrase does not unlock the signing key in acme.asc/)]);
    const noKey = await cpy(['artifact', 'sign', join(work, 'site', 'index.json')], { CPY_SIGNING_KEY: 'not a key at all' });
    expect(noKey.stderr).toMatch(/CPY_SIGNING_KEY_NOT_FOUND/);

    const privateKey = await readFile(join(work, 'acme.asc'), 'utf8');
    const secretLines = privateKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    const all = transcript.join('\n');
    expect(all).not.toContain(PASSPHRASE);
    expect(all).not.toContain('PRIVATE KEY BLOCK');
    for (const line of secretLines) expect(all).not.toContain(line);
  });
});
