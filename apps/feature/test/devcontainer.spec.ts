// The Feature, built by the real Dev Containers CLI (@devcontainers/cli) with podman
// behind a `docker` shim, on the minimal Debian images the harness builds.
// - `devcontainer features test` runs the scenarios in test/cpython-prebuilt (their
//   loopback URLs filled in), each a container build checked from inside;
// - `devcontainer build` shows what must fail the build (a corrupt checksum, a glibc
//   floor above Debian 11's, shell metacharacters in an option) and a second install
//   on top of an image that already has it.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
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
const WITH_ARTIFACT = 'localhost/cpy-feature-test:with-artifact';
const FIRST = 'localhost/cpy-feature-test:installed';

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
  it('a second install on an image that has it does nothing and fetches nothing', async () => {
    const first = await build(await workspace('first', 'localhost/debian-minbase:bookworm', { artifactUrl: url }), FIRST);
    expect(first.out).toContain(`installed CPython ${good.metadata.version} in /opt/python-${good.metadata.version}`);
    expect(first.code).toBe(0);
    const requests = mirror.requests.length;
    const second = await build(await workspace('second', FIRST, { artifactUrl: url }));
    expect(second.code).toBe(0);
    expect(second.out).toContain(`CPython ${good.metadata.version} is already installed in /opt/python-${good.metadata.version}`);
    expect(second.out).not.toContain('downloading');
    expect(mirror.requests.length).toBe(requests);
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
