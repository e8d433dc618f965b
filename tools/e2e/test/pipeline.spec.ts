// The whole chain users run, in one go, with nothing replayed from a cache:
//   the real 3.13.5 release served as a python.org mirror on loopback
//   -> nx run cli:build-cpython (fetch, verify OpenPGP + Sigstore, configure, make, pack, validate)
//   -> cpy publish to a loopback double of GitHub's releases API
//   -> a Dev Container (the sample project, the real Dev Containers CLI, podman, minimal Debian 12)
//      whose Feature installs the published release asset
//   -> cpy install of the same asset on this host, into a temporary prefix.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { artifactMetadataSchema } from '@cpy/artifact';
import {
  githubContract,
  podmanDockerShim,
  repoRoot,
  requireBaseImage,
  requireContainerEngine,
  startGitHubDouble,
  startPythonMirror,
  type ContainerEngine,
  type GitHubDouble,
  type PythonMirror,
} from '@cpy/harness';

const run = promisify(execFile);
const ROOT = repoRoot();
const CLI = join(ROOT, 'apps', 'cli', 'bin', 'cpy.js');
const TOKEN = 'ghp_E2EsecretE2EsecretE2Esecret0000000000';
const VERSION = '3.13.5';
const CRITICAL = 'import platform, ssl, sqlite3, uuid, _uuid, lzma, bz2, ctypes, zlib, readline; print(platform.python_version(), ssl.OPENSSL_VERSION)';
const IMAGE = 'localhost/cpy-e2e:devcontainer';

let work: string;
let mirror: PythonMirror;
let gh: GitHubDouble;
let engine: ContainerEngine;
const log = (line: string) => process.stderr.write(`[e2e] ${line}\n`);

async function sh(file: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT) {
  const started = Date.now();
  try {
    const r = await run(file, args, { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, maxBuffer: 512 * 1024 * 1024, timeout: 25 * 60 * 1000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - started) / 1000 };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '', seconds: (Date.now() - started) / 1000 };
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-e2e-'));
  engine = await requireContainerEngine();
  await requireBaseImage(engine, 'bookworm');
  mirror = await startPythonMirror();
  gh = await startGitHubDouble({ token: TOKEN, repository: 'acme/python-builds' });
});

afterAll(async () => {
  await engine?.cli(['rmi', '-f', IMAGE]).catch(() => undefined);
  await mirror?.close();
  await gh?.close();
  await rm(work, { recursive: true, force: true });
});

it('builds, validates, publishes, installs in a Dev Container and on the host', async () => {
  // 1. Build through Nx, from the loopback mirror only, bypassing the Nx cache.
  const out = join(work, 'artifacts');
  const built = await sh('npx', ['--no-install', 'nx', 'run', 'cli:build-cpython', `--version=${VERSION}`, '--profile=fast', `--out=${out}`, '--skip-nx-cache', '--output-style=static'], {
    NX_DAEMON: 'false',
    NX_NO_CLOUD: 'true',
    NX_TUI: 'false',
    CPY_PYTHON_MIRRORS: mirror.url,
    CPY_CACHE_DIR: join(work, 'cache'),
  });
  log(`nx run cli:build-cpython: exit ${built.code} in ${built.seconds.toFixed(0)} s`);
  expect(built.stderr + built.stdout).toMatch(/verified \(openpgp\+sigstore\)/);
  expect(built.code).toBe(0);
  expect(mirror.requests.map((r) => r.path)).toContain(`/ftp/python/${VERSION}/Python-${VERSION}.tar.xz`);
  const tgz = (await readdir(out)).filter((n) => n.endsWith('.tgz'));
  expect(tgz).toEqual([expect.stringMatching(new RegExp(`^cpython-${VERSION.replace(/\./g, '\\.')}-debian12-build1\\.tgz$`))]);
  const artifact = join(out, tgz[0]!);
  expect((await sh('sha256sum', ['-c', `${tgz[0]}.sha256`], {}, out)).code).toBe(0);

  // 2. Publish to the GitHub double: draft, upload, verify, publish.
  const published = await sh(process.execPath, [CLI, 'publish', artifact, '--repo', gh.repository, '--api-url', gh.apiUrl, '--commit', 'main', '--json'], { GITHUB_TOKEN: TOKEN });
  expect(published.stdout + published.stderr).not.toContain(TOKEN);
  expect(published.code).toBe(0);
  const release = (JSON.parse(published.stdout) as { release: { tag: string; assets: { name: string; url: string }[] } }).release;
  expect(release.tag).toBe(`cpython-${VERSION}-build1`);
  const assetUrl = release.assets.find((a) => a.name === tgz[0])!.url;
  log(`published ${release.tag}: ${assetUrl}`);
  const problems = gh.exchanges.flatMap((x) => githubContract().check(x));
  expect(problems).toEqual([]);

  // 3. A Dev Container from the sample project, its Feature pointing at the release asset.
  const sample = join(work, 'sample');
  await cp(join(ROOT, 'samples', 'devcontainer'), sample, { recursive: true });
  await cp(join(ROOT, 'apps', 'feature', 'src', 'cpython-prebuilt'), join(sample, '.devcontainer', 'cpython-prebuilt'), { recursive: true });
  const shim = await podmanDockerShim(join(work, 'shim'));
  const dc = await sh(join(ROOT, 'node_modules', '.bin', 'devcontainer'), ['build', '--docker-path', 'docker', '--workspace-folder', sample, '--image-name', IMAGE], {
    PATH: `${shim}:${process.env['PATH']}`,
    CPY_ARTIFACT_URL: assetUrl,
  });
  log(`devcontainer build: exit ${dc.code} in ${dc.seconds.toFixed(1)} s`);
  expect(dc.stdout + dc.stderr).toContain(`installed CPython ${VERSION} in /opt/python-${VERSION}`);
  expect(dc.code).toBe(0);
  const inside = await engine.cli(['run', '--rm', IMAGE, 'python3', '-c', CRITICAL]);
  expect(inside.stdout).toMatch(new RegExp(`^${VERSION.replace(/\./g, '\\.')} OpenSSL `));
  const where = await engine.cli(['run', '--rm', IMAGE, 'sh', '-c', 'command -v python3; readlink /usr/local/bin/python3']);
  expect(where.stdout.split('\n').slice(0, 2)).toEqual(['/usr/local/bin/python3', `/opt/python-${VERSION}/bin/python3`]);

  // 4. The same asset with cpy install on this host, into a temporary prefix.
  const home = join(work, 'home');
  const installed = await sh(process.execPath, [CLI, 'install', '--from', assetUrl, '--json'], { CPY_HOME: home, CPY_CACHE_DIR: join(work, 'install-cache') });
  expect(installed.code).toBe(0);
  const result = JSON.parse(installed.stdout) as { install: { status: string; prefix: string; sha256: string } };
  expect(result.install).toMatchObject({ status: 'installed', prefix: join(home, `python-${VERSION}`) });
  const host = await sh(join(result.install.prefix, 'bin', 'python3'), ['-c', CRITICAL]);
  expect(host.stdout).toMatch(new RegExp(`^${VERSION.replace(/\./g, '\\.')} OpenSSL `));
  // What was published, built, installed in the container and on the host is one artifact.
  const metadata = artifactMetadataSchema.parse(JSON.parse((await sh('cat', [`${artifact}.json`])).stdout));
  expect(metadata).toMatchObject({ version: VERSION, build: 1, source: { verification: { method: 'openpgp+sigstore' } } });
  expect(result.install.sha256).toBe((await sh('sha256sum', [artifact])).stdout.slice(0, 64));
});
