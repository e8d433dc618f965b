import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeHostPythonArtifact, repoRoot, type TestArtifact } from '@cpy/harness';
import { generateSigningKey, loadSigningKey, writeSignature } from '@cpy/signing';

const run = promisify(execFile);
const root = repoRoot();

/**
 * @cpy/install is a library other tooling imports: pack it (with @cpy/core, @cpy/artifact,
 * @cpy/transfer and @cpy/signing, which it depends on) exactly as it would be published, install the tarballs
 * into a scratch project outside the repository, and use it from there.
 */
describe('the packed @cpy/install', () => {
  let work: string;
  let tarballs: { name: string; filename: string; files: { path: string }[] }[];
  let artifact: TestArtifact;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'cpy-pack-'));
    const packed = await run('npm', ['pack', '-w', '@cpy/core', '-w', '@cpy/artifact', '-w', '@cpy/transfer', '-w', '@cpy/signing', '-w', '@cpy/install', '--json', '--pack-destination', work], {
      cwd: root,
    });
    tarballs = JSON.parse(packed.stdout);
    const consumer = join(work, 'consumer');
    await run('mkdir', ['-p', consumer]);
    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs.map((t) => join(work, t.filename))],
      { cwd: consumer },
    );
    artifact = await makeHostPythonArtifact(join(work, 'artifacts'));
  }, 240_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('ships the compiled code, its types and its Python script, not sources or tests', () => {
    const install = tarballs.find((t) => t.name === '@cpy/install');
    const paths = install?.files.map((f) => f.path) ?? [];
    // python/cpy_state.py: the install record's writer, which every install runs.
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/host.js', 'python/cpy_state.py']));
    expect(paths.filter((p) => p.startsWith('src/') || /\.spec\.|tsbuildinfo/.test(p))).toEqual([]);
  });

  it('is importable from a project outside the repository, and installs an artifact', async () => {
    const consumer = join(work, 'consumer');
    expect((await readdir(join(consumer, 'node_modules', '@cpy'))).sort()).toEqual(['artifact', 'core', 'install', 'signing', 'transfer']);
    await writeFile(
      join(consumer, 'use.mjs'),
      "import { detectHost, glibcSatisfies, installPython } from '@cpy/install';\n" +
        'const host = detectHost();\n' +
        'const [artifactUrl, root] = process.argv.slice(2);\n' +
        "const r = await installPython({ artifactUrl, installPrefix: `${root}/python`, stateDir: `${root}/state`, cacheDir: `${root}/cache`, binDir: null });\n" +
        "console.log(JSON.stringify({ host, runsDebian11Builds: glibcSatisfies(host, '2.31'), status: r.status, python: r.python }));\n",
    );
    const { stdout } = await run('node', ['use.mjs', artifact.path, join(work, 'installed')], { cwd: consumer });
    const uname = (await run('uname', ['-m'])).stdout.trim();
    const doc = JSON.parse(stdout);
    expect(doc).toEqual({
      host: expect.objectContaining({ os: 'linux', arch: uname, libc: 'glibc' }),
      runsDebian11Builds: true,
      status: 'installed',
      python: join(work, 'installed', 'python', 'bin', 'python3'),
    });
    expect((await run(doc.python, ['-c', 'import ssl; print(ssl.OPENSSL_VERSION)'])).stdout).toMatch(/^OpenSSL/);
  });

  it('verifies a signed artifact from there: the OpenPGP it loads only for a pinned signer resolves in the package', async () => {
    const consumer = join(work, 'consumer');
    const key = await generateSigningKey({ name: 'Acme Python Builds', email: 'python@acme.example' });
    const signed = join(work, 'signed');
    await mkdir(signed, { recursive: true });
    const tgz = join(signed, artifact.fileName);
    await copyFile(artifact.path, tgz);
    await copyFile(artifact.checksumPath, `${tgz}.sha256`);
    await writeSignature(tgz, await loadSigningKey(key.privateKey, undefined, 'key'));
    await writeFile(join(signed, 'keys.asc'), key.publicKey);
    await writeFile(
      join(consumer, 'signed.mjs'),
      "import { installPython } from '@cpy/install';\n" +
        'const [artifactUrl, root, signerFingerprints, trustedKeysUrl] = process.argv.slice(2);\n' +
        "const r = await installPython({ artifactUrl, signerFingerprints, trustedKeysUrl, installPrefix: `${root}/python`, stateDir: `${root}/state`, cacheDir: `${root}/cache`, binDir: null, skipValidation: true });\n" +
        'console.log(JSON.stringify(r.signature));\n',
    );
    const { stdout } = await run('node', ['signed.mjs', tgz, join(work, 'installed-signed'), key.fingerprint, join(signed, 'keys.asc')], { cwd: consumer });
    expect(JSON.parse(stdout)).toMatchObject({ fingerprint: key.fingerprint, covers: 'artifact' });
  });

  it('type-checks in a strict TypeScript consumer (types resolve from the package)', async () => {
    const consumer = join(work, 'consumer');
    await writeFile(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: [] },
        files: ['typed.ts'],
      }),
    );
    await writeFile(
      join(consumer, 'typed.ts'),
      "import { detectHost, installPython, type HostPlatform, type InstallResult } from '@cpy/install';\n" +
        'const host: HostPlatform = detectHost();\n' +
        'export const glibc: string | null = host.glibcVersion;\n' +
        "export const install = (): Promise<InstallResult> => installPython({ version: '3.13.5', artifactUrl: 'https://example.test/a.tgz', skipValidation: false });\n",
    );
    await expect(run(join(root, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: consumer })).resolves.toBeDefined();

    // The README's error handling: codes are the closed catalog's, so a misspelt one does not compile.
    const handler = (code: string) =>
      "import { isCpyError } from '@cpy/core';\nimport { installPython } from '@cpy/install';\n" +
      `export const run = () => installPython({ version: '3.13' }).catch((e: unknown) => (isCpyError(e, '${code}') ? e.hint : Promise.reject(e)));\n`;
    await writeFile(join(consumer, 'typed.ts'), handler('CPY_INSTALL_NO_MATCHING_BUILD'));
    await expect(run(join(root, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: consumer })).resolves.toBeDefined();
    await writeFile(join(consumer, 'typed.ts'), handler('CPY_INSTALL_NO_MATCHING_BIULD'));
    await expect(run(join(root, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: consumer })).rejects.toMatchObject({
      stdout: expect.stringMatching(/'"CPY_INSTALL_NO_MATCHING_BIULD"' is not assignable/),
    });

    await writeFile(join(consumer, 'typed.ts'), "import { detectHost } from '@cpy/install';\nexport const n: number = detectHost().arch;\n");
    await expect(run(join(root, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: consumer })).rejects.toMatchObject({
      stdout: expect.stringMatching(/Type 'string' is not assignable to type 'number'/),
    });
  });
});
