// The Feature, built by the real Dev Containers CLI (@devcontainers/cli) with podman
// behind a `docker` shim, on the minimal Debian images the harness builds.
// - `devcontainer features test` runs the scenarios in test/cpython-prebuilt (their
//   loopback URLs filled in), each a container build checked from inside;
// - `devcontainer build` shows what must fail the build (a corrupt checksum, a glibc
//   floor above Debian 11's, shell metacharacters in an option, an index changed after it was
//   signed), a version resolved with a signed index (the debian12 build on bookworm, with
//   curses; the debian11 one on bullseye, refused there: it is the host's CPython, which does
//   not start on bullseye) and a second install on top of an image that already has it;
// - `devcontainer up` + `exec`: an artifact in the workspace (/workspaces/...), installed by
//   the Feature's onCreateCommand once the workspace is mounted.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ArtifactMetadata } from '@cpy/core';
import { emptyIndex, indexEntryFor, serializeIndex } from '@cpy/artifact';
import {
  makeHostPythonArtifact,
  podmanDockerShim,
  repackArtifact,
  repoRoot,
  requireBaseImage,
  requireContainerEngine,
  startOciRegistry,
  startPythonMirror,
  type ContainerEngine,
  type PythonMirror,
  type TestArtifact,
} from '@cpy/harness';
import { generateSigningKey, loadSigningKey, writeSignature } from '@cpy/signing';
import { featureDir } from './feature-fixtures.js';

const run = promisify(execFile);
const FEATURE = 'cpython-prebuilt';

let work: string;
let mirror: PythonMirror;
let engine: ContainerEngine;
let good: TestArtifact;
let url: string;
let env: NodeJS.ProcessEnv;
let imagesBefore: Set<string>;
/** The index (served on the loopback mirror): debian11 and debian12 builds of the host's CPython. */
let indexUrl: string;
let d11: TestArtifact;
let d12: TestArtifact;
/** The signer pinned by fingerprint: index.json.asc and cpy-keys.asc are served beside the index. */
let signer: string;
/** The same index with an entry changed after it was signed (its signature and keys beside it). */
let tamperedUrl: string;
const WITH_ARTIFACT = 'localhost/cpy-feature-test:with-artifact';
const FIRST = 'localhost/cpy-feature-test:installed';
const ON_BULLSEYE = 'localhost/cpy-feature-test:bullseye';

const devcontainer = (args: string[], cwd = work) =>
  run(join(repoRoot(), 'node_modules', '.bin', 'devcontainer'), args, { cwd, env, maxBuffer: 256 * 1024 * 1024, timeout: 900_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof e.code === 'number' ? e.code : 1, out: (e.stdout ?? '') + (e.stderr ?? '') }),
  );

async function images(): Promise<Set<string>> {
  const { stdout } = await engine.cli(['images', '-q', '--no-trunc']);
  return new Set(stdout.split('\n').filter(Boolean));
}

/** A workspace whose devcontainer.json uses the Feature (a local copy, as `./cpython-prebuilt`). */
async function workspace(name: string, image: string, options: Record<string, string | boolean>): Promise<string> {
  const dir = join(work, 'ws', name);
  await mkdir(join(dir, '.devcontainer'), { recursive: true });
  await cp(featureDir(), join(dir, '.devcontainer', FEATURE), { recursive: true });
  await writeFile(join(dir, '.devcontainer', 'devcontainer.json'), JSON.stringify({ image, features: { [`./${FEATURE}`]: options } }, null, 2));
  return dir;
}

const build = (dir: string, imageName?: string) =>
  devcontainer(['build', '--docker-path', 'docker', '--workspace-folder', dir, ...(imageName ? ['--image-name', imageName] : [])]);

/** Runs a shell command in a throwaway container of an image; its output, or null when it fails. */
const inImage = (image: string, script: string) =>
  engine.cli(['run', '--rm', image, 'sh', '-c', script]).then(
    (r) => r.stdout.trim(),
    () => null,
  );

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-feature-cli-'));
  engine = await requireContainerEngine();
  if (engine.name !== 'podman') throw new Error('these tests drive podman through a docker shim');
  await requireBaseImage(engine, 'bookworm');
  await requireBaseImage(engine, 'bullseye');
  imagesBefore = await images();
  mirror = await startPythonMirror();
  good = await makeHostPythonArtifact(join(work, 'artifacts'), { withPackages: true });
  for (const suffix of ['', '.sha256', '.json']) mirror.serve(`good/${good.fileName}${suffix}`, `${good.path}${suffix}`);
  url = mirror.fileUrl('good', good.fileName);

  // The index: the same CPython as a debian12 build and as a debian11 one (whose metadata claims
  // glibc 2.31 and libssl1.1, as a bullseye build's does; it is installed there with skipValidation).
  const onDebian = (osVersion: string) => (m: ArtifactMetadata): ArtifactMetadata => ({ ...m, platform: { ...m.platform, os: 'debian', osVersion } });
  d12 = await repackArtifact(good, join(work, 'd12'), { metadata: onDebian('12') });
  d11 = await repackArtifact(good, join(work, 'd11'), {
    metadata: (m) => ({
      ...m,
      platform: { ...m.platform, os: 'debian', osVersion: '11', glibcFloor: '2.31' },
      runtime: { ...m.runtime, needs: [{ soname: 'libssl.so.1.1', packages: ['libssl1.1'], usedBy: ['lib/python3/lib-dynload/_ssl.so'] }] },
    }),
  });
  const entries = [];
  for (const [dir, a] of [['d11', d11], ['d12', d12]] as const) {
    for (const suffix of ['', '.sha256', '.json']) mirror.serve(`${dir}/${a.fileName}${suffix}`, `${a.path}${suffix}`);
    entries.push(indexEntryFor(a.metadata, { file: a.fileName, url: mirror.fileUrl(dir, a.fileName), sha256: a.sha256, size: (await stat(a.path)).size }));
  }
  await writeFile(join(work, 'index.json'), serializeIndex({ ...emptyIndex(), artifacts: entries }));
  mirror.serve('cpy-index/index.json', join(work, 'index.json'));
  indexUrl = mirror.fileUrl('cpy-index', 'index.json');
  // Signed, as cpy publish --signing-key leaves it: index.json.asc and cpy-keys.asc beside the index.
  const key = await generateSigningKey({ name: 'cpy test signer', email: 'signer@example.org' });
  signer = key.fingerprint;
  await writeSignature(join(work, 'index.json'), await loadSigningKey(key.privateKey, undefined, 'signer.asc'));
  await writeFile(join(work, 'cpy-keys.asc'), key.publicKey);
  const tampered = join(work, 'tampered-index.json');
  await writeFile(tampered, serializeIndex({ ...emptyIndex(), artifacts: entries.map((e) => (e.file === d12.fileName ? { ...e, url } : e)) }));
  for (const dir of ['cpy-index', 'tampered']) {
    mirror.serve(`${dir}/index.json.asc`, join(work, 'index.json.asc'));
    mirror.serve(`${dir}/cpy-keys.asc`, join(work, 'cpy-keys.asc'));
  }
  mirror.serve('tampered/index.json', tampered);
  tamperedUrl = mirror.fileUrl('tampered', 'index.json');

  // `devcontainer features test` has no --docker-path: a `docker` first on PATH that runs podman.
  const shim = await podmanDockerShim(join(work, 'shim'));
  env = { ...process.env, PATH: `${shim}:${process.env['PATH']}`, NO_COLOR: '1' };

  // An image with the artifact inside, for file:// URLs.
  const ctx = join(work, 'image-ctx');
  await mkdir(ctx);
  await cp(good.path, join(ctx, good.fileName));
  await cp(good.checksumPath, join(ctx, `${good.fileName}.sha256`));
  await writeFile(join(ctx, 'Containerfile'), `FROM localhost/debian-minbase:bookworm\nCOPY ${good.fileName} ${good.fileName}.sha256 /artifacts/\n`);
  await engine.cli(['build', '-q', '-t', WITH_ARTIFACT, '-f', join(ctx, 'Containerfile'), ctx]);
}, 300_000);

afterAll(async () => {
  // Everything these tests built (test images, intermediate layers), by id.
  if (engine && imagesBefore) {
    const created = [...(await images())].filter((id) => !imagesBefore.has(id));
    if (created.length) await engine.cli(['rmi', '-f', ...created]).catch(() => undefined);
  }
  await mirror?.close();
  await rm(work, { recursive: true, force: true });
});

describe('devcontainer features test: the scenarios', () => {
  it('defaults, custom installPrefix, a local file, skipValidation: each image builds and its checks pass', async () => {
    const liar = await repackArtifact(good, join(work, 'liar'), { version: '3.99.1' });
    for (const suffix of ['', '.sha256', '.json']) mirror.serve(`liar/${liar.fileName}${suffix}`, `${liar.path}${suffix}`);
    const values: Record<string, string> = {
      '@ARTIFACT_URL@': url,
      '@ARTIFACT_NAME@': good.fileName,
      '@VERSION@': good.metadata.version,
      '@IMAGE_WITH_ARTIFACT@': WITH_ARTIFACT,
      '@UNVALIDATED_URL@': mirror.fileUrl('liar', liar.fileName),
      '@UNVALIDATED_VERSION@': '3.99.1',
    };
    // The collection layout the CLI expects, with the scenarios' placeholders filled in.
    const collection = join(work, 'collection');
    await cp(featureDir(), join(collection, 'src', FEATURE), { recursive: true });
    const tests = join(collection, 'test', FEATURE);
    await cp(join(repoRoot(), 'apps', 'feature', 'test', FEATURE), tests, { recursive: true });
    for (const name of await readdir(tests)) {
      let text = await readFile(join(tests, name), 'utf8');
      for (const [k, v] of Object.entries(values)) text = text.split(k).join(v);
      expect(text).not.toMatch(/@[A-Z_]+@/);
      await writeFile(join(tests, name), text);
    }
    const r = await devcontainer(['features', 'test', '--skip-autogenerated', '--skip-duplicated', '-f', FEATURE, '-i', 'localhost/debian-minbase:bookworm', '.'], collection);
    const report = r.out.slice(r.out.lastIndexOf('TEST REPORT'));
    const scenarios = Object.keys(JSON.parse(await readFile(join(tests, 'scenarios.json'), 'utf8')) as object);
    expect(scenarios).toEqual(expect.arrayContaining(['defaults', 'custom-prefix', 'local-file', 'skip-validation']));
    for (const s of scenarios) expect(report).toContain(`Passed:      '${s}'`);
    expect(report).not.toContain('Failed:');
    expect(r.code).toBe(0);
    // The minimal image had neither curl nor the libraries: the Feature installed them.
    // A plain-http URL needs no CA certificates (about 5 s of the build).
    expect(r.out).toMatch(/\[cpython-prebuilt\] installing curl with apt-get/);
    expect(r.out).toMatch(/\[cpython-prebuilt\] installing .*libsqlite3-0.* with apt-get/);
    expect(r.out).toContain('skipValidation: the installed python3 is not checked');
  }, 900_000);
});

describe('devcontainer build', () => {
  const v = () => good.metadata.version;
  const line = () => v().split('.').slice(0, 2).join('.');

  it('a release line with the signed index (signerFingerprints): on bookworm the debian12 build, with curses (its library installed by the Feature); a second install does nothing and fetches nothing', async () => {
    // The minimal image has no libncursesw6: curses imports afterwards because the Feature installed it.
    expect(await inImage('localhost/debian-minbase:bookworm', 'dpkg -s libncursesw6')).toBeNull();
    const first = await build(await workspace('first', 'localhost/debian-minbase:bookworm', { version: line(), indexUrl, signerFingerprints: signer }), FIRST);
    expect(first.out).toContain(`[cpython-prebuilt] the index ${indexUrl} is signed by ${signer}`);
    expect(first.out).toContain(`[cpython-prebuilt] CPython ${line()}: chose ${d12.fileName} (build 1): built for Debian 12, like this host`);
    expect(first.out).toMatch(/\[cpython-prebuilt\] installing .*libncursesw6.* with apt-get/);
    expect(first.out).toContain(`installed CPython ${v()} in /opt/python-${v()}`);
    expect(first.code).toBe(0);
    const inside = await inImage(
      FIRST,
      `sed -n 's/.*"\\(artifact\\|signedBy\\)": "\\(.*\\)".*/\\2/p' /opt/python-${v()}/.cpy-install.json && python3 -c 'import curses, ssl, sqlite3; print(curses.__name__)' && dpkg -s libncursesw6 | grep '^Status:'`,
    );
    expect(inside?.split('\n')).toEqual([d12.fileName, signer, 'curses', 'Status: install ok installed']);
    // A full version already installed: not even the index is read.
    const requests = mirror.requests.length;
    const second = await build(await workspace('second', FIRST, { version: v(), indexUrl }));
    expect(second.code).toBe(0);
    expect(second.out).toContain(`CPython ${v()} is already installed in /opt/python-${v()}`);
    expect(second.out).not.toContain('downloading');
    expect(mirror.requests.length).toBe(requests);
  }, 600_000);

  it('the same request on bullseye chooses the debian11 build; its python3, which does not start there, is refused even with skipValidation', async () => {
    // This "debian11 build" is the host's (Debian 12's) CPython whose metadata claims glibc 2.31:
    // the index's rules choose it on bullseye, where it does not start. The install record is
    // written by the unpacked python3 (cpy_state.py), so a python3 that does not start is refused
    // before anything is put in place, as validation would have refused it.
    await engine.cli(['rmi', '-f', ON_BULLSEYE]).catch(() => undefined);
    const r = await build(await workspace('index-bullseye', 'localhost/debian-minbase:bullseye', { version: line(), indexUrl, skipValidation: true }), ON_BULLSEYE);
    expect(r.out).toContain(`[cpython-prebuilt] CPython ${line()}: chose ${d11.fileName} (build 1): built for Debian 11, like this host`);
    expect(r.code).not.toBe(0);
    // What the dynamic loader said (here: libexpat.so.1, which the minimal image lacks).
    expect(r.out).toMatch(/error CPY_INSTALL_VALIDATION_FAILED: the unpacked python3 does not work: python3 does not run: \S+\/bin\/python3: error while loading shared libraries: /);
    expect(r.out).toContain('hint: nothing was changed; the artifact does not run on this host');
    expect(await inImage(ON_BULLSEYE, 'true')).toBeNull();
  }, 600_000);

  it('an index changed after it was signed fails the build, before any artifact is downloaded', async () => {
    const requests = mirror.requests.length;
    const r = await build(await workspace('tampered', 'localhost/debian-minbase:bookworm', { version: line(), indexUrl: tamperedUrl, signerFingerprints: signer }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(`error CPY_SIGNATURE_INVALID: the signature by ${signer} does not match the index ${tamperedUrl}`);
    expect(r.out).toMatch(/hint: the file is not the one the publisher signed/);
    expect(mirror.requests.slice(requests).map((q) => q.path).filter((p) => p.endsWith('.tgz'))).toEqual([]);
  }, 600_000);

  it('a misspelled option (signerFingerprint, one letter short) fails the build, naming it and the option it looks like: it pinned nothing, and an unsigned index was installed from without a word', async () => {
    const requests = mirror.requests.length;
    const r = await build(await workspace('misspelled', 'localhost/debian-minbase:bookworm', { version: line(), indexUrl, signerFingerprint: signer }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('error CPY_INSTALL_BAD_OPTIONS: devcontainer.json sets an option this Feature does not have: SIGNERFINGERPRINT (as the Dev Containers CLI passes it, upper-cased); did you mean signerFingerprints?');
    expect(r.out).toMatch(/hint: fix its name in devcontainer\.json; the options are version, indexUrl, .*, signerFingerprints, /);
    expect(mirror.requests.slice(requests)).toEqual([]);
  }, 600_000);

  it('installPrefix under /workspaces/ with an artifact from a URL fails the build: the workspace mounted there would hide it (python3 led nowhere in the container)', async () => {
    const r = await build(await workspace('in-workspace', 'localhost/debian-minbase:bookworm', { artifactUrl: url, installPrefix: '/workspaces/proj/.python' }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('error CPY_INSTALL_BAD_OPTIONS: installPrefix: /workspaces/proj/.python is under /workspaces/, where the workspace is mounted when the container is created');
  }, 600_000);

  it('a corrupt checksum fails the build, naming the mismatch', async () => {
    const wrong = join(work, 'wrong.sha256');
    await writeFile(wrong, `${'0'.repeat(64)}  ${good.fileName}\n`);
    mirror.serve(`corrupt/${good.fileName}`, good.path);
    mirror.serve(`corrupt/${good.fileName}.sha256`, wrong);
    const r = await build(await workspace('corrupt', 'localhost/debian-minbase:bookworm', { artifactUrl: mirror.fileUrl('corrupt', good.fileName) }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(`error CPY_INSTALL_CHECKSUM_MISMATCH: ${good.fileName} has sha256 ${good.sha256}, but ${'0'.repeat(64)} was expected`);
    expect(r.out).not.toContain('extracting');
  }, 600_000);

  it('on Debian 11 (glibc 2.31), an artifact built on Debian 12 is refused before its download', async () => {
    const requests = mirror.requests.length;
    const r = await build(await workspace('bullseye', 'localhost/debian-minbase:bullseye', { artifactUrl: url }));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(new RegExp(`error CPY_INSTALL_GLIBC_TOO_OLD: CPython ${good.metadata.version.replace(/\./g, '\\.')} .* needs glibc ${good.metadata.platform.glibcFloor}; this host has glibc 2\\.31`));
    expect(r.out).toMatch(/hint: use an artifact built on a system with glibc 2\.31 or older/);
    expect(mirror.requests.slice(requests).map((q) => q.path)).not.toContain(`/ftp/python/good/${good.fileName}`);
  }, 600_000);

  it.each([
    ['$(...)', `${'$'}(echo good)`],
    ['backticks', '`echo good`'],
    ['a quote', 'good" INJECTED="1'],
  ])('an option value with %s is refused, even after the shell expanded it', async (_what, part) => {
    const bad = url.replace('/good/', `/${part}/`);
    const r = await build(await workspace(`meta-${_what.replace(/\W/g, '')}`, 'localhost/debian-minbase:bookworm', { artifactUrl: bad }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('error CPY_INSTALL_BAD_OPTIONS: artifactUrl: holds characters that are not allowed');
    expect(r.out).not.toContain('downloading');
  }, 600_000);
});

describe('devcontainer up: an artifact in the workspace', () => {
  it('artifactUrl and checksumUrl under /workspaces/<folder>: deferred while the image is built, installed by onCreateCommand from the mounted workspace', async () => {
    const dir = join(work, 'ws', 'seed');
    const artifacts = join(dir, 'infrastructure', 'cpython', 'artifacts');
    await mkdir(artifacts, { recursive: true });
    await cp(good.path, join(artifacts, good.fileName));
    await cp(good.checksumPath, join(artifacts, `${good.fileName}.sha256`));
    const inWorkspace = `/workspaces/seed/infrastructure/cpython/artifacts/${good.fileName}`;
    await workspace('seed', 'localhost/debian-minbase:bookworm', { artifactUrl: inWorkspace, checksumUrl: `${inWorkspace}.sha256` });
    const up = await devcontainer(['up', '--docker-path', 'docker', '--workspace-folder', dir]);
    const containerId = /"containerId":"([0-9a-f]+)"/.exec(up.out)?.[1];
    try {
      expect(up.out).toContain(`${inWorkspace} is not in the image`);
      expect(up.out).toContain(`installed CPython ${good.metadata.version} in /opt/python-${good.metadata.version}`);
      expect(up.code).toBe(0);
      const exec = (...argv: string[]) => devcontainer(['exec', '--docker-path', 'docker', '--workspace-folder', dir, ...argv]);
      const python = await exec('python3', '-c', 'import curses, ssl, sqlite3, sys; print(sys.prefix)');
      expect([python.code, python.out.trim().split('\n').pop()]).toEqual([0, `/opt/python-${good.metadata.version}`]);
      // Read from the mounted workspace; nothing left to do at the next container's creation.
      const marker = await exec('sh', '-c', `cat /opt/python-${good.metadata.version}/.cpy-install.json && test ! -e /usr/local/share/cpy-feature/deferred.env && echo forgotten`);
      expect(marker.out).toContain(`"source": "${inWorkspace}"`);
      expect(marker.out).toContain('forgotten');
    } finally {
      if (containerId) await engine.cli(['rm', '-f', '-t', '0', containerId]).catch(() => undefined);
    }
  }, 600_000);
});

describe('packaging and publishing', () => {
  it('install.sh is clean under shellcheck (all severities, POSIX sh)', async () => {
    const r = await run('shellcheck', ['--shell=sh', '--severity=style', join(featureDir(), 'install.sh')]).then(
      () => '',
      (e: { stdout?: string; message: string }) => e.stdout || e.message,
    );
    expect(r).toBe('');
  });

  it('`nx run feature:publish` pushes it to an OCI registry, and `devcontainer build` installs from there', async () => {
    const registry = await startOciRegistry();
    try {
      const nxEnv = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
      const published = await run('npx', ['--no-install', 'nx', 'run', 'feature:publish', `--registry=${registry.host}`, '--namespace=cpy/features', '--output-style=static'], {
        cwd: repoRoot(),
        env: nxEnv,
        maxBuffer: 64 * 1024 * 1024,
      });
      const tags = /\{"cpython-prebuilt":\{"publishedTags":(\[[^\]]*\])/.exec(published.stdout)?.[1];
      expect(JSON.parse(tags ?? '[]')).toEqual(expect.arrayContaining(['0', '0.1', 'latest']));
      // A manifest with the Dev Containers media types, as the spec describes.
      const manifest = (await (
        await fetch(`http://${registry.host.replace('localhost', '127.0.0.1')}/v2/cpy/features/cpython-prebuilt/manifests/latest`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        })
      ).json()) as { config: { mediaType: string }; layers: { mediaType: string }[]; annotations?: Record<string, string> };
      expect(manifest.config.mediaType).toBe('application/vnd.devcontainers');
      expect(manifest.layers.map((l) => l.mediaType)).toEqual(['application/vnd.devcontainers.layer.v1+tar']);
      expect(JSON.parse(manifest.annotations?.['dev.containers.metadata'] ?? '{}')).toMatchObject({ id: FEATURE, options: { artifactUrl: { type: 'string' } } });

      const dir = join(work, 'ws', 'from-registry');
      await mkdir(join(dir, '.devcontainer'), { recursive: true });
      await writeFile(
        join(dir, '.devcontainer', 'devcontainer.json'),
        JSON.stringify({ image: 'localhost/debian-minbase:bookworm', features: { [`${registry.host}/cpy/features/${FEATURE}:0`]: { artifactUrl: url } } }),
      );
      const r = await build(dir);
      expect(r.out).toContain(`installed CPython ${good.metadata.version} in /opt/python-${good.metadata.version}`);
      expect(r.code).toBe(0);
    } finally {
      await registry.close();
    }
  }, 600_000);
});
