// One table of install cases, run against both installers that users meet:
// @cpy/install's installPython (the CLI and other tooling), on this host, and the
// Feature's install.sh, as root in the minimal Debian 12 image (no Node, no
// Python, no curl). Same artifacts, same loopback server; each case must give
// the same outcome (status or error code) and leave the same things behind.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isCpyError, POSTINSTALL_ENTRY } from '@cpy/artifact';
import {
  makeHostPythonArtifact,
  repackArtifact,
  requireBaseImage,
  requireContainerEngine,
  startContainer,
  startPythonMirror,
  type PythonMirror,
  type RunningContainer,
  type TestArtifact,
} from '@cpy/harness';
import { installPython, MARKER_FILE } from '@cpy/install';
import { featureDir } from './feature-fixtures.js';

type Outcome = { readonly status: 'installed' | 'replaced' | 'already-installed' } | { readonly code: string };

/** The Feature's options, by their names in devcontainer.json. */
interface CaseOptions {
  readonly version?: string;
  readonly artifactUrl?: string;
  readonly checksumUrl?: string;
  readonly sha256?: string;
  /** Relative to the installer's root ('' in the container). */
  readonly installPrefix?: string;
  readonly skipValidation?: boolean;
}

interface Installer {
  readonly name: string;
  /** A clean slate: no install, no state, no links. */
  reset(): Promise<void>;
  /** The installer's root: paths in cases are under it. */
  readonly root: string;
  install(options: CaseOptions): Promise<Outcome>;
  /** Runs `<prefix>/bin/python3 -c code`; null when it does not run. */
  python(prefix: string, code: string): Promise<string | null>;
  read(path: string): Promise<string | null>;
  list(dir: string): Promise<string[]>;
  write(path: string, text: string): Promise<void>;
  /** Runs a shell script where the installer installed, with $ROOT its root; its stdout, or null when it fails. */
  sh(script: string): Promise<string | null>;
}

let work: string;
let mirror: PythonMirror;
let good: TestArtifact;
let version: string;
/** Artifact URLs on the loopback server, by case. */
const U: Record<string, string> = {};
let container: RunningContainer | undefined;

const served = (a: TestArtifact, dir: string) => {
  mirror.serve(`${dir}/${a.fileName}`, a.path);
  mirror.serve(`${dir}/${a.fileName}.sha256`, a.checksumPath);
  mirror.serve(`${dir}/${a.fileName}.json`, a.metadataPath);
  return mirror.fileUrl(dir, a.fileName);
};

function libraryInstaller(): Installer {
  let root = '';
  return {
    name: '@cpy/install',
    get root() {
      return root;
    },
    reset: async () => {
      root = await mkdtemp(join(work, 'lib-'));
    },
    install: async (o) => {
      try {
        const r = await installPython({
          ...(o.version ? { version: o.version } : {}),
          ...(o.artifactUrl ? { artifactUrl: o.artifactUrl } : {}),
          ...(o.checksumUrl ? { checksumUrl: o.checksumUrl } : {}),
          ...(o.sha256 ? { sha256: o.sha256 } : {}),
          ...(o.skipValidation ? { skipValidation: true } : {}),
          // As the library would choose as root, under this installer's root (a string, not join(): `..` must reach the check).
          installPrefix: `${root}/${o.installPrefix ?? `opt/python-${o.version ?? /cpython-([^-]+)-/.exec(o.artifactUrl ?? '')?.[1] ?? version}`}`,
          stateDir: join(root, 'var/lib/cpy'),
          binDir: join(root, 'usr/local/bin'),
          cacheDir: join(root, 'cache'),
        });
        return { status: r.status };
      } catch (error) {
        if (isCpyError(error)) return { code: error.code };
        throw error;
      }
    },
    python: async (prefix, code) => {
      const { execFile } = await import('node:child_process');
      return new Promise((resolve) => execFile(join(root, prefix, 'bin/python3'), ['-c', code], (e, out) => resolve(e ? null : out.trim())));
    },
    read: (path) => readFile(join(root, path), 'utf8').catch(() => null),
    list: async (dir) => ((await readdir(join(root, dir)).catch(() => [])) as string[]).sort(),
    write: async (path, text) => {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    },
    sh: async (script) => {
      const { execFile } = await import('node:child_process');
      return new Promise((resolve) => execFile('sh', ['-c', script], { env: { PATH: '/usr/bin:/bin', ROOT: root } }, (e, out) => resolve(e ? null : out.trim())));
    },
  };
}

function scriptInstaller(box: () => RunningContainer): Installer {
  const sh = async (script: string, ...args: string[]) => box().exec(['sh', '-c', script, 'sh', ...args]);
  return {
    name: 'install.sh',
    root: '',
    reset: async () => {
      await sh('rm -rf /opt /var/lib/cpy /custom && rm -f /usr/local/bin/* && mkdir -p /opt');
    },
    install: async (o) => {
      const env = [
        `VERSION=${o.version ?? ''}`,
        `ARTIFACTURL=${o.artifactUrl ?? ''}`,
        `CHECKSUMURL=${o.checksumUrl ?? ''}`,
        `SHA256=${o.sha256 ?? ''}`,
        `INSTALLPREFIX=${o.installPrefix ? `/${o.installPrefix}` : ''}`,
        `SKIPVALIDATION=${o.skipValidation ? 'true' : 'false'}`,
        'INSTALLSYSTEMDEPS=true',
      ];
      const r = await box().exec(['env', ...env, '/feature/install.sh']);
      if (r.exitCode === 0) {
        const status = /already installed/.test(r.stderr) ? 'already-installed' : /\] replaced CPython/.test(r.stderr) ? 'replaced' : 'installed';
        return { status };
      }
      const code = /error (CPY_[A-Z_]+):/.exec(r.stderr)?.[1];
      if (!code) throw new Error(`install.sh failed without an error code (exit ${r.exitCode}):\n${r.stderr}`);
      return { code };
    },
    python: async (prefix, code) => {
      const r = await box().exec([`/${prefix}/bin/python3`, '-c', code]);
      return r.exitCode === 0 ? r.stdout.trim() : null;
    },
    read: async (path) => {
      const r = await sh('cat "/$1"', path);
      return r.exitCode === 0 ? r.stdout : null;
    },
    list: async (dir) => {
      const r = await sh('ls -A "/$1" 2>/dev/null || true', dir);
      return r.stdout.split('\n').filter(Boolean).sort();
    },
    write: async (path, text) => {
      await box().exec(['sh', '-c', 'mkdir -p "$(dirname "/$1")" && cat > "/$1"', 'sh', path], { input: text });
    },
    sh: async (script) => {
      const r = await box().exec(['env', 'ROOT=', 'sh', '-c', script]);
      return r.exitCode === 0 ? r.stdout.trim() : null;
    },
  };
}

interface Case {
  readonly name: string;
  readonly options: () => CaseOptions;
  /** Runs first, with the same options (to test a second run) or to set the scene. */
  readonly before?: (installer: Installer) => Promise<void>;
  readonly expected: Outcome;
  /** Checks on what was left, for both installers. */
  readonly after?: (installer: Installer) => Promise<void>;
}

const defaultPrefix = () => `opt/python-${version}`;
const nothingInstalled = async (i: Installer) => {
  expect(await i.list('opt')).toEqual([]);
  expect(await i.list('usr/local/bin')).toEqual([]);
};

const CASES: Case[] = [
  {
    name: 'defaults, over HTTP: installed, linked, validated',
    options: () => ({ artifactUrl: U['http']! }),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await i.python(defaultPrefix(), 'import ssl, sqlite3, sys; print(sys.prefix)')).toBe(`${i.root}/${defaultPrefix()}`);
      expect(JSON.parse((await i.read(`${defaultPrefix()}/${MARKER_FILE}`)) ?? '{}')).toMatchObject({ sha256: good.sha256, artifact: good.fileName, builtFor: good.metadata.prefix });
      expect(await i.list('usr/local/bin')).toEqual(['pydoc3', 'python', 'python3']);
      expect(JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}')).toEqual({ schemaVersion: 1, installs: { [version]: { prefix: `${i.root}/${defaultPrefix()}` } }, previous: null });
    },
  },
  {
    name: 'a second install of the same artifact does nothing',
    options: () => ({ artifactUrl: U['http']! }),
    before: async (i) => void (await i.install({ artifactUrl: U['http']! })),
    expected: { status: 'already-installed' },
  },
  {
    name: 'a local file, with the sha256 given instead of a checksum file',
    options: () => ({ artifactUrl: good.path, sha256: good.sha256, checksumUrl: `${mirror.url}/missing.sha256` }),
    expected: { status: 'installed' },
  },
  {
    name: 'a custom installPrefix: scripts are relocated',
    options: () => ({ artifactUrl: U['http']!, installPrefix: 'custom/py' }),
    expected: { status: 'installed' },
    after: async (i) => {
      const pydoc = (await i.read('custom/py/bin/pydoc3')) ?? '';
      expect(pydoc.split('\n')[0]).toBe(`#!${i.root}/custom/py/bin/python${version.split('.').slice(0, 2).join('.')}`);
      expect(await i.python('custom/py', 'import ssl; print("ok")')).toBe('ok');
    },
  },
  {
    name: 'installPrefix opt/python: venvs through the python3 link (and --copies) work, sysconfig names the prefix',
    options: () => ({ artifactUrl: U['http']!, installPrefix: 'opt/python' }),
    expected: { status: 'installed' },
    after: async (i) => {
      const base = 'import sys; print(sys.base_prefix)';
      expect(await i.sh(`rm -rf /tmp/cpy-v && "$ROOT/usr/local/bin/python3" -m venv --without-pip /tmp/cpy-v && /tmp/cpy-v/bin/python -c '${base}'`)).toBe(`${i.root}/opt/python`);
      expect(await i.sh(`rm -rf /tmp/cpy-c && "$ROOT/usr/local/bin/python3" -m venv --copies --without-pip /tmp/cpy-c && /tmp/cpy-c/bin/python -c '${base}'`)).toBe(`${i.root}/opt/python`);
      expect(await i.sh(`"$ROOT/var/lib/cpy/current/bin/python3" -c 'import sys; print(sys.executable)'`)).toBe(`${i.root}/opt/python/bin/python${version.split('.').slice(0, 2).join('.')}`);
      const include = await i.python('opt/python', "import sysconfig; print(sysconfig.get_config_var('INCLUDEPY'))");
      expect(include).toBe(`${i.root}/opt/python/include/python${version.split('.').slice(0, 2).join('.')}`);
      expect(await i.read(`opt/python/include/python${version.split('.').slice(0, 2).join('.')}/Python.h`)).toContain('Python.h');
    },
  },
  {
    name: 'an artifact without the post-install script cannot be relocated: refused, nothing installed',
    options: () => ({ artifactUrl: U['noscript']!, installPrefix: 'opt/python' }),
    expected: { code: 'CPY_INSTALL_RELOCATION_FAILED' },
    after: nothingInstalled,
  },
  {
    name: 'another build replaces the installed one',
    options: () => ({ artifactUrl: U['build2']! }),
    before: async (i) => void (await i.install({ artifactUrl: U['http']! })),
    expected: { status: 'replaced' },
    after: async (i) => {
      expect(JSON.parse((await i.read(`${defaultPrefix()}/${MARKER_FILE}`)) ?? '{}')).toMatchObject({ build: 2 });
      expect((await i.list('opt')).filter((n) => n.startsWith('.'))).toEqual([]);
    },
  },
  {
    name: 'a corrupt checksum: refused, nothing installed',
    options: () => ({ artifactUrl: U['corrupt']! }),
    expected: { code: 'CPY_INSTALL_CHECKSUM_MISMATCH' },
    after: nothingInstalled,
  },
  {
    name: 'a checksum file for another artifact',
    options: () => ({ artifactUrl: U['http']!, checksumUrl: `${mirror.url}/other/other.sha256` }),
    expected: { code: 'CPY_INSTALL_BAD_CHECKSUM_FILE' },
    after: nothingInstalled,
  },
  {
    name: 'an artifact that is not there (404)',
    options: () => ({ artifactUrl: `${mirror.url}/nowhere/${good.fileName}` }),
    expected: { code: 'CPY_INSTALL_NOT_FOUND' },
    after: nothingInstalled,
  },
  {
    name: 'a glibc floor above the host: refused before anything is written',
    options: () => ({ artifactUrl: U['glibc']! }),
    expected: { code: 'CPY_INSTALL_GLIBC_TOO_OLD' },
    after: nothingInstalled,
  },
  {
    name: 'another architecture',
    options: () => ({ artifactUrl: U['arch']! }),
    expected: { code: 'CPY_INSTALL_WRONG_ARCH' },
    after: nothingInstalled,
  },
  {
    name: 'shell metacharacters in an option',
    options: () => ({ artifactUrl: `${mirror.url}/$(touch /tmp/pwned)/${good.fileName}` }),
    expected: { code: 'CPY_INSTALL_BAD_OPTIONS' },
    after: async (i) => {
      await nothingInstalled(i);
      expect(await i.read('tmp/pwned')).toBeNull();
    },
  },
  {
    name: 'a relative installPrefix escaping with ..',
    options: () => ({ artifactUrl: U['http']!, installPrefix: 'opt/../etc' }),
    expected: { code: 'CPY_INSTALL_BAD_OPTIONS' },
    after: nothingInstalled,
  },
  {
    name: 'a python3 that is not the version it claims: validation refuses it',
    options: () => ({ artifactUrl: U['liar']! }),
    expected: { code: 'CPY_INSTALL_VALIDATION_FAILED' },
    after: nothingInstalled,
  },
  {
    name: 'skipValidation installs it anyway',
    options: () => ({ artifactUrl: U['liar']!, skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => expect(await i.read(`opt/python-3.99.1/${MARKER_FILE}`)).toContain('"3.99.1"'),
  },
  {
    name: 'a hostile archive: an entry outside the tree',
    options: () => ({ artifactUrl: U['dotdot']! }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    after: nothingInstalled,
  },
  {
    name: 'a hostile archive: a symlink out of the tree',
    options: () => ({ artifactUrl: U['symlink']! }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    after: nothingInstalled,
  },
  {
    name: 'a prefix holding files cpy did not install is left alone',
    options: () => ({ artifactUrl: U['http']! }),
    before: (i) => i.write(`${defaultPrefix()}/lib/precious.so`, 'not ours'),
    expected: { code: 'CPY_INSTALL_PREFIX_NOT_EMPTY' },
    after: async (i) => expect(await i.read(`${defaultPrefix()}/lib/precious.so`)).toBe('not ours'),
  },
];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-feature-conformance-'));
  mirror = await startPythonMirror();
  good = await makeHostPythonArtifact(join(work, 'good'), { withPackages: true });
  version = good.metadata.version;
  U['http'] = served(good, 'good');
  const b2 = await repackArtifact(good, join(work, 'build2'), { metadata: (m) => ({ ...m, build: 2 }) });
  U['build2'] = served(b2, 'build2');
  // The right file, a checksum file that does not match it.
  const wrongSum = join(work, 'wrong.sha256');
  await writeFile(wrongSum, `${'0'.repeat(64)}  ${good.fileName}\n`);
  mirror.serve(`corrupt/${good.fileName}`, good.path);
  mirror.serve(`corrupt/${good.fileName}.sha256`, wrongSum);
  U['corrupt'] = mirror.fileUrl('corrupt', good.fileName);
  const otherSum = join(work, 'other.sha256');
  await writeFile(otherSum, `${good.sha256}  cpython-3.12.0-debian12-build1.tgz\n`);
  mirror.serve('other/other.sha256', otherSum);
  const glibc = await repackArtifact(good, join(work, 'glibc'), { metadata: (m) => ({ ...m, platform: { ...m.platform, glibcFloor: '9.99' } }) });
  U['glibc'] = served(glibc, 'glibc');
  const arch = await repackArtifact(good, join(work, 'arch'), { metadata: (m) => ({ ...m, platform: { ...m.platform, arch: 'riscv64' } }) });
  U['arch'] = served(arch, 'arch');
  const noscript = await repackArtifact(good, join(work, 'noscript'), { drop: (name) => name.endsWith(`/${POSTINSTALL_ENTRY}`) });
  U['noscript'] = served(noscript, 'noscript');
  const liar = await repackArtifact(good, join(work, 'liar'), { version: '3.99.1' });
  U['liar'] = served(liar, 'liar');
  const root = good.metadata.prefix.slice(1);
  const dotdot = await repackArtifact(good, join(work, 'dotdot'), { append: [{ name: `${root}/../../evil.txt`, body: 'x' }] });
  U['dotdot'] = served(dotdot, 'dotdot');
  const symlink = await repackArtifact(good, join(work, 'symlink'), { append: [{ name: `${root}/lib/escape`, type: 'symlink', linkname: '../../../../etc' }] });
  U['symlink'] = served(symlink, 'symlink');

  const engine = await requireContainerEngine();
  const image = await requireBaseImage(engine, 'bookworm');
  // Host networking: the container reaches the loopback server; the work folder is mounted
  // at the same path, so a local artifact has the same path for both installers.
  container = await startContainer(engine, image, {
    network: 'host',
    mounts: [
      { host: featureDir(), container: '/feature', readOnly: true },
      { host: work, container: work, readOnly: true },
    ],
  });
}, 300_000);

afterAll(async () => {
  await container?.remove();
  await mirror?.close();
  await rm(work, { recursive: true, force: true });
});

describe.each([
  ['@cpy/install', () => libraryInstaller()],
  ['install.sh', () => scriptInstaller(() => container!)],
])('%s', (_name, make) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    const installer = make();
    await installer.reset();
    await c.before?.(installer);
    const outcome = await installer.install(c.options());
    expect(outcome).toEqual(c.expected);
    await c.after?.(installer);
    // Never any staging debris beside the prefix.
    expect((await installer.list('opt')).filter((n) => n.startsWith('.cpy-'))).toEqual([]);
  }, 180_000);
});
