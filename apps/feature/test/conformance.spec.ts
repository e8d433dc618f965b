// One table of install cases, run against both installers that users meet:
// @cpy/install's installPython (the CLI and other tooling), on this host, and the
// Feature's install.sh, as root in the minimal Debian 12 image (no Node, no
// Python, no curl). Same artifacts, same loopback server; each case must give
// the same outcome (status or error code) and leave the same things behind.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { artifactFileName, type ArtifactMetadata, isCpyError } from '@cpy/core';
import { emptyIndex, indexEntryFor, POSTINSTALL_ENTRY, POSTINSTALL_SOURCE, serializeIndex, type IndexEntry } from '@cpy/artifact';
import {
  makeHostPythonArtifact,
  mountSmallDisk,
  repackArtifact,
  smallDiskMountOptions,
  requireBaseImage,
  requireContainerEngine,
  startContainer,
  startPythonMirror,
  type PythonMirror,
  type RunningContainer,
  type SmallDiskOptions,
  type TestArtifact,
} from '@cpy/harness';
import { installPython, MARKER_FILE } from '@cpy/install';
import { generateSigningKey, loadSigningKey, signFile, type GeneratedKey } from '@cpy/signing';
import * as openpgp from 'openpgp';
import { ON_CREATE_COMMAND } from '../src/manifest.js';
import { featureDir } from './feature-fixtures.js';

type Outcome = { readonly status: 'installed' | 'replaced' | 'already-installed' } | { readonly code: string };

/** The Feature's options, by their names in devcontainer.json. */
interface CaseOptions {
  readonly version?: string;
  readonly indexUrl?: string;
  readonly artifactUrl?: string;
  readonly checksumUrl?: string;
  readonly sha256?: string;
  readonly signerFingerprints?: string;
  /** CPY_SIGNER_FINGERPRINTS, for both installers (read when signerFingerprints is empty). */
  readonly signerFingerprintsEnv?: string;
  readonly trustedKeysUrl?: string;
  /** Relative to the installer's root ('' in the container). */
  readonly installPrefix?: string;
  readonly skipValidation?: boolean;
  readonly installTk?: boolean;
  /** How long to wait for another install of the prefix: CPY_LOCK_TIMEOUT_MS, for both installers (the library's lockTimeoutMs when its options do not give one). */
  readonly lockTimeoutMs?: number;
}

interface Installer {
  readonly name: string;
  /** A clean slate: no install, no state, no links. */
  reset(): Promise<void>;
  /** The installer's root: paths in cases are under it. */
  readonly root: string;
  install(options: CaseOptions): Promise<Outcome>;
  /** The message of the last install's error (the text after `error CODE: `), or null. */
  readonly lastError: string | null;
  /** The hint of the last install's error (what to do next), or null. */
  readonly lastHint: string | null;
  /** Whom the last install said it waited for (`process <pid> on <host>`), or null. */
  readonly waitedFor: string | null;
  /** What the last install said that holder locked (the prefix, or the state directory), or null. */
  readonly waitedOn: string | null;
  /** Whether the last install said it read the artifact once (hashed, listed and unpacked together); null: this installer does not say. */
  readonly readOnce: boolean | null;
  /** The warnings the last install gave (their text). */
  readonly warnings: readonly string[];
  /** Runs `<prefix>/bin/python3 -c code`; null when it does not run. */
  python(prefix: string, code: string): Promise<string | null>;
  read(path: string): Promise<string | null>;
  list(dir: string): Promise<string[]>;
  write(path: string, text: string): Promise<void>;
  /** Runs a shell script where the installer installed, with $ROOT its root; its stdout, or null when it fails. */
  sh(script: string): Promise<string | null>;
  /** Mounts a tmpfs of `bytes` (a whole number of KiB) at `dir`, where the installer installs; unmounted when the case ends. */
  smallDisk(dir: string, bytes: number, options?: SmallDiskOptions): Promise<void>;
}

/** What a case mounted (smallDisk): unmounted when it ends, passed or failed. */
const unmounts: (() => Promise<unknown>)[] = [];

let work: string;
let mirror: PythonMirror;
let good: TestArtifact;
let version: string;
/** The link named for the test artifact's release line (python3.11), as `make install` names the program. */
const versioned = () => `python${version.split('.').slice(0, 2).join('.')}`;
/** Artifact URLs on the loopback server, by case. */
const U: Record<string, string> = {};
let container: RunningContainer | undefined;
/** The same image with wget installed and never curl: install.sh's other downloader, for the cases marked `wget`. */
let wgetContainer: RunningContainer | undefined;

const served = (a: TestArtifact, dir: string) => {
  mirror.serve(`${dir}/${a.fileName}`, a.path);
  mirror.serve(`${dir}/${a.fileName}.sha256`, a.checksumPath);
  mirror.serve(`${dir}/${a.fileName}.json`, a.metadataPath);
  return mirror.fileUrl(dir, a.fileName);
};

function libraryInstaller(): Installer {
  let root = '';
  let lastError: string | null = null;
  let lastHint: string | null = null;
  let warnings: string[] = [];
  let waitedFor: string | null = null;
  let waitedOn: string | null = null;
  return {
    name: '@cpy/install',
    get root() {
      return root;
    },
    readOnce: null,
    get warnings() {
      return warnings;
    },
    get lastError() {
      return lastError;
    },
    get lastHint() {
      return lastHint;
    },
    get waitedFor() {
      return waitedFor;
    },
    get waitedOn() {
      return waitedOn;
    },
    reset: async () => {
      root = await mkdtemp(join(work, 'lib-'));
    },
    install: async (o) => {
      lastError = null;
      lastHint = null;
      waitedFor = null;
      waitedOn = null;
      warnings = [];
      try {
        const r = await installPython(
          {
            ...(o.version ? { version: o.version } : {}),
            ...(o.indexUrl ? { indexUrl: o.indexUrl } : {}),
            ...(o.artifactUrl ? { artifactUrl: o.artifactUrl } : {}),
            ...(o.checksumUrl ? { checksumUrl: o.checksumUrl } : {}),
            ...(o.sha256 ? { sha256: o.sha256 } : {}),
            ...(o.signerFingerprints ? { signerFingerprints: o.signerFingerprints } : {}),
            ...(o.trustedKeysUrl ? { trustedKeysUrl: o.trustedKeysUrl } : {}),
            ...(o.skipValidation ? { skipValidation: true } : {}),
            ...(o.installTk ? { installTk: true } : {}),
            // Under this installer's root (a string, not join(): `..` must reach the check).
            ...(o.installPrefix ? { installPrefix: `${root}/${o.installPrefix}` } : {}),
            stateDir: join(root, 'var/lib/cpy'),
            binDir: join(root, 'usr/local/bin'),
            cacheDir: join(root, 'cache'),
          },
          // Without installPrefix, the prefix the library chooses (python-<version>, the resolved one for a request) under <root>/opt.
          {
            // The lock's wait as install.sh is given it, CPY_LOCK_TIMEOUT_MS (unset: the default, ten minutes).
            env: { ...process.env, CPY_HOME: join(root, 'opt'), CPY_INDEX_URL: undefined, CPY_SIGNER_FINGERPRINTS: o.signerFingerprintsEnv, CPY_TRUSTED_KEYS_URL: undefined, CPY_LOCK_TIMEOUT_MS: o.lockTimeoutMs ? String(o.lockTimeoutMs) : undefined },
            onEvent: (e) => {
              if (e.type === 'waiting') [waitedFor, waitedOn] = [e.holder, e.on];
            },
          },
        );
        warnings = [...r.warnings];
        return { status: r.status };
      } catch (error) {
        if (isCpyError(error)) {
          lastError = error.message;
          lastHint = error.hint ?? null;
          return { code: error.code };
        }
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
    smallDisk: async (dir, bytes, options) => {
      const disk = await mountSmallDisk(bytes, join(root, dir), options);
      unmounts.push(() => disk.unmount());
    },
  };
}

function scriptInstaller(box: () => RunningContainer): Installer {
  const sh = async (script: string, ...args: string[]) => box().exec(['sh', '-c', script, 'sh', ...args]);
  let lastError: string | null = null;
  let lastHint: string | null = null;
  let waitedFor: string | null = null;
  let waitedOn: string | null = null;
  let readOnce = false;
  let warnings: string[] = [];
  return {
    name: 'install.sh',
    root: '',
    get readOnce() {
      return readOnce;
    },
    get warnings() {
      return warnings;
    },
    get lastError() {
      return lastError;
    },
    get lastHint() {
      return lastHint;
    },
    get waitedFor() {
      return waitedFor;
    },
    get waitedOn() {
      return waitedOn;
    },
    reset: async () => {
      await sh('rm -rf /opt /var/lib/cpy /custom /usr/lib/sys /usr/local/share/cpy-feature /workspaces /usr/local/bin && mkdir -p /opt /usr/local/bin');
    },
    install: async (o) => {
      lastError = null;
      lastHint = null;
      const env = [
        `VERSION=${o.version ?? ''}`,
        `INDEXURL=${o.indexUrl ?? ''}`,
        `ARTIFACTURL=${o.artifactUrl ?? ''}`,
        `CHECKSUMURL=${o.checksumUrl ?? ''}`,
        `SHA256=${o.sha256 ?? ''}`,
        `SIGNERFINGERPRINTS=${o.signerFingerprints ?? ''}`,
        `TRUSTEDKEYSURL=${o.trustedKeysUrl ?? ''}`,
        `INSTALLPREFIX=${o.installPrefix ? `/${o.installPrefix}` : ''}`,
        `SKIPVALIDATION=${o.skipValidation ? 'true' : 'false'}`,
        'INSTALLSYSTEMDEPS=true',
        `INSTALLTK=${o.installTk ? 'true' : 'false'}`,
        `CPY_LOCK_TIMEOUT_MS=${o.lockTimeoutMs ?? ''}`,
        ...(o.signerFingerprintsEnv === undefined ? [] : [`CPY_SIGNER_FINGERPRINTS=${o.signerFingerprintsEnv}`]),
      ];
      const r = await box().exec(['env', ...env, '/feature/install.sh']);
      const waited = /\] waiting for another install of (\S+) \((process \d+ on [^)]*)\)/.exec(r.stderr);
      [waitedOn, waitedFor] = [waited?.[1] ?? null, waited?.[2] ?? null];
      readOnce = /\] sha256 [0-9a-f]{64} verified \(hashed, listed and unpacked in one read\)/.test(r.stderr);
      warnings = [...r.stderr.matchAll(/^\[[^\]]+\] warning: (.*)$/gm)].map((m) => m[1]!);
      if (r.exitCode === 0) {
        const status = /already installed/.test(r.stderr) ? 'already-installed' : /\] replaced CPython/.test(r.stderr) ? 'replaced' : 'installed';
        return { status };
      }
      const error = /error (CPY_[A-Z_]+): (.*)/.exec(r.stderr);
      if (!error) throw new Error(`install.sh failed without an error code (exit ${r.exitCode}):\n${r.stderr}`);
      lastError = error[2] ?? '';
      lastHint = /\] hint: (.*)/.exec(r.stderr)?.[1] ?? null;
      return { code: error[1] ?? '' };
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
    smallDisk: async (dir, bytes, options) => {
      const r = await box().exec(['sh', '-c', 'mkdir -p "/$1" && mount -t tmpfs -o "$2" cpy-small-disk "/$1"', 'sh', dir, smallDiskMountOptions(bytes, options)], { privileged: true });
      if (r.exitCode !== 0) throw new Error(`cannot mount a ${bytes}-byte tmpfs at /${dir} in the container: ${r.stderr}`);
      unmounts.push(async () => {
        const u = await box().exec(['umount', `/${dir}`], { privileged: true });
        if (u.exitCode !== 0) throw new Error(`cannot unmount /${dir} in the container: ${u.stderr}`);
      });
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
  /** The error's message, word for word, from both installers. */
  readonly message?: () => string;
  /** The error's hint (what to do next), word for word, from both installers. */
  readonly hint?: () => string;
  /** Run a third time, by install.sh on an image that has wget and no curl: the cases that fetch over http. */
  readonly wget?: true;
}

/** What both installers say to do about an archive entry no artifact has (install.sh said to use an artifact made by cpy, which it claims to be). */
const UNSAFE_HINT = 'the artifact is damaged or malicious: do not install it; use an artifact published by your build pipeline';

/** What both installers say to do about an HTTP 401 or 403. */
const ACCESS_DENIED_HINT =
  "check the URL and who may read it: a private repository's assets need a token, which cpy and the Feature do not send (publish them where they can be read, or copy them into the image), a signed URL may have expired, and some storage answers 403 for a file that is not there: nothing was installed";

/** A name the good artifact is served under too: another version's. */
const RENAMED = 'cpython-3.12.0-debian12-build1.tgz';
/** A name the good artifact is served under too: another build of its version's. */
const REBUILT = () => good.fileName.replace(/-build\d+\./, '-build7.');
/** ... and under one that says x86_64, which artifact names leave out. */
const X86_NAMED = () => good.fileName.replace(/-build(\d+)\./, '-x86_64-build$1.');
/** The index fixtures: debian11 and debian12 builds of two versions (3.11.2, the host's real one, and a newer one that only claims to be). */
const NEWER = '3.12.7';
/** Where the deferral cases keep artifacts in the workspace (mounted once the container is created). */
const WORKSPACE_ARTIFACTS = '/workspaces/proj/infrastructure/cpython/artifacts';
const I = {} as Record<'d11' | 'd12' | 'd11new' | 'd12new', TestArtifact>;
/** Host and container: Debian 12 (the message of a no-fit names them). */
let hostSummary: string;
const markerOf = async (i: Installer, prefix: string) => JSON.parse((await i.read(`${prefix}/${MARKER_FILE}`)) ?? '{}') as { artifact?: string; sha256?: string; source?: string; signedBy?: string };

/** Signing: the pinned key (Alice), a key in the keys file that is not pinned (Mallory), one that has expired (Old), one revoked since it signed (Rev). */
const K = {} as Record<'alice' | 'mallory' | 'old' | 'rev', GeneratedKey>;
/** The trojan: python3 replaced (still working), with its .sha256 regenerated and the good artifact's signature beside it. */
let trojan: TestArtifact;
/** How many requests the mirror had seen when a case began. */
let requestsBefore = 0;
const requestedSince = () => mirror.requests.slice(requestsBefore).map((r) => r.path);

const defaultPrefix = () => `opt/python-${version}`;
/** The updatedAt of the test indexes; one case also serves one updated at ROLLED_FROM, then an older one at the same address. */
const INDEX_UPDATED_AT = 1_700_000_000_000;
const ROLLED_FROM = 1_800_000_000_000;
const rollTo = (which: 'new' | 'old') => {
  mirror.serve('roll/index.json', join(work, 'index', `roll-${which}`, 'index.json'));
  for (const name of ['index.json.asc', 'cpy-keys.asc']) mirror.serve(`roll/${name}`, join(work, 'signing', `roll-${which}`, name));
};
const MiB = 2 ** 20;
/** A disk that holds the good artifact's tree with room to spare, but 4 MiB less than the installers' margin asks. */
const smallDiskMiB = () => Math.floor((good.metadata.contents.bytes * 1.05) / MiB) + 12;
/** What the mute artifact's python3 prints as it fails to start. */
const MUTE_SAYS = 'python3: error while loading shared libraries: libcpy-missing.so.1: cannot open shared object file';
/** `text` matched as it is, in a RegExp. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const nothingInstalled = async (i: Installer) => {
  expect(await i.list('opt')).toEqual([]);
  expect(await i.list('usr/local/bin')).toEqual([]);
};

/** The lock of an install prefix, as both installers name it (relative to the installer's root): sha256 of the prefix, 16 hex digits. */
const prefixLock = (i: Installer, prefix: string) => `var/lib/cpy/locks/${createHash('sha256').update(`${i.root}/${prefix}`).digest('hex').slice(0, 16)}.lock`;
/** The holder of a lock that a case set up: a process of the test, where the installer runs. */
let holder: { readonly pid: string; readonly host: string; readonly lock: string; readonly path: string; readonly text: string } = { pid: '', host: '', lock: '', path: '', text: '' };
/**
 * Takes `lock` (relative to the installer's root) as the libraries do (`<pid> <host> <token> <start>`)
 * for a background shell of the test that runs `script` (with $ROOT and $L, the lock) and is alive
 * until it ends. Its start is read from /proc, as both installers read it; `start` writes another.
 */
async function holdLock(i: Installer, lock: string, script: string, start?: string): Promise<void> {
  const own = `"$(sed 's/.*) //' "/proc/$p/stat" | cut -d' ' -f20)@$(cat /proc/sys/kernel/random/boot_id)"`;
  const out = await i.sh(
    `L="$ROOT/${lock}"; mkdir -p "$(dirname "$L")" || exit 1; (${script}) </dev/null >/dev/null 2>&1 & p=$!; printf '%s %s held-by-the-test %s' "$p" "$(uname -n)" ${start ? `'${start}'` : own} >"$L" && cat "$L"`,
  );
  const [pid, host, , started] = (out ?? '').split(' ');
  expect(pid).toMatch(/^\d+$/);
  expect(started).toMatch(/^\d+@[-0-9a-f]+$/);
  holder = { pid: pid!, host: host!, lock, path: `${i.root}/${lock}`, text: out! };
}
/** Set by the case of the index record's lock: touches $ROOT/index-read once the index's signature and keys were fetched. */
let indexReadFlag: Promise<void> = Promise.resolve();
/** A replacement's journal, as the library writes it (JSON.stringify, one line). */
const journalText = (prefix: string, staged: string, aside: string) => JSON.stringify({ prefix, staged, aside });

/**
 * What the watcher of the overlap case saw while the server held back the second half of the
 * artifact: files in the staging tree (unpacking had begun), and whether the prefix or the
 * python3 link was there already.
 */
const overlap: { watcher: Promise<{ unpacking: boolean; placed: boolean }> | null } = { watcher: null };

const CASES: Case[] = [
  {
    name: 'defaults, over HTTP: installed, linked, validated',
    wget: true,
    options: () => ({ artifactUrl: U['http']! }),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await i.python(defaultPrefix(), 'import ssl, sqlite3, sys; print(sys.prefix)')).toBe(`${i.root}/${defaultPrefix()}`);
      expect(JSON.parse((await i.read(`${defaultPrefix()}/${MARKER_FILE}`)) ?? '{}')).toMatchObject({ sha256: good.sha256, artifact: good.fileName, builtFor: good.metadata.prefix });
      expect(await i.list('usr/local/bin')).toEqual(['pydoc3', 'python', 'python3', versioned()]);
      expect(JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}')).toEqual({ schemaVersion: 1, installs: { [version]: { prefix: `${i.root}/${defaultPrefix()}` } }, previous: null, binDir: `${i.root}/usr/local/bin` });
      if (i.readOnce !== null) expect(i.readOnce).toBe(true);
    },
  },
  {
    name: 'over HTTP, a .tgz is unpacked as it downloads: files are written while the body is still arriving, nothing is placed before the hash matched',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) => {
      // The server sends half the body, then waits until the watcher has seen the staging tree
      // being written; an installer that unpacks only after the download never shows one, and
      // the watcher gives up after 30 s (the case then fails, it does not hang).
      let release!: () => void;
      const resume = new Promise<void>((resolve) => (release = resolve));
      mirror.inject(`good/${good.fileName}`, { pauseAfterBytes: Math.floor((await stat(good.path)).size / 2), resume });
      const look = `find "$ROOT/opt" -mindepth 2 -path '*/.cpy-staging-*' -type f 2>/dev/null | head -n 1; { [ -e "$ROOT/${defaultPrefix()}" ] || [ -e "$ROOT/usr/local/bin/python3" ]; } && echo PLACED; true`;
      overlap.watcher = (async () => {
        try {
          for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
            const seen = await i.sh(look);
            if (seen) return { unpacking: true, placed: seen.includes('PLACED') };
          }
          return { unpacking: false, placed: false };
        } finally {
          release();
        }
      })();
    },
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await overlap.watcher).toEqual({ unpacking: true, placed: false });
      expect(await i.python(defaultPrefix(), 'import ssl, sqlite3; print("ok")')).toBe('ok');
    },
  },
  {
    name: 'a second install of the same artifact does nothing',
    options: () => ({ artifactUrl: U['http']! }),
    before: async (i) => void (await i.install({ artifactUrl: U['http']! })),
    expected: { status: 'already-installed' },
  },
  {
    // What a run killed between the `current` link and the bin links leaves: the install recorded
    // and current, python3 and the others missing or another version's. Until 2026-12-02 the
    // library's already-installed path saw the state and `current` right and left them so.
    name: 'already installed, its bin links gone or pointing elsewhere: the next run makes them again',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) => {
      expect(await i.install({ artifactUrl: U['http']!, skipValidation: true })).toEqual({ status: 'installed' });
      expect(await i.sh('rm -f "$ROOT/usr/local/bin/python3" "$ROOT/usr/local/bin/pydoc3" "$ROOT/usr/local/bin/python3".* && ln -sfn /nowhere/bin/python3 "$ROOT/usr/local/bin/python"')).toBe('');
    },
    expected: { status: 'already-installed' },
    after: async (i) => {
      expect(await i.list('usr/local/bin')).toEqual(['pydoc3', 'python', 'python3', versioned()]);
      expect(await i.sh('readlink "$ROOT/usr/local/bin/python"')).toBe(`${i.root}/${defaultPrefix()}/bin/python3`);
    },
  },
  {
    // A program another Python wrote over a link (pip install -U pip as root does so): a run that
    // finds the version installed leaves it, and neither refuses nor replaces it.
    name: 'already installed, a bin link replaced by someone else\'s file: left as it is, the others made whole',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) => {
      expect(await i.install({ artifactUrl: U['http']!, skipValidation: true })).toEqual({ status: 'installed' });
      expect(await i.sh('rm -f "$ROOT/usr/local/bin/pydoc3" "$ROOT/usr/local/bin/python" && echo theirs >"$ROOT/usr/local/bin/pydoc3"')).toBe('');
    },
    expected: { status: 'already-installed' },
    after: async (i) => {
      expect(await i.read('usr/local/bin/pydoc3')).toBe('theirs\n');
      expect(await i.sh('readlink "$ROOT/usr/local/bin/python"')).toBe(`${i.root}/${defaultPrefix()}/bin/python3`);
    },
  },
  {
    // Read even when the version is there (both said "already installed": the name alone matched the marker).
    name: 'already installed, a checksumUrl given that names other bytes: refused, the install left as it was',
    options: () => ({ artifactUrl: U['http']!, checksumUrl: `${U['corrupt']!}.sha256`, skipValidation: true }),
    before: async (i) => void expect(await i.install({ artifactUrl: U['http']!, skipValidation: true })).toEqual({ status: 'installed' }),
    expected: { code: 'CPY_INSTALL_CHECKSUM_MISMATCH' },
    after: async (i) => expect(await i.sh(`test -f "$ROOT/${defaultPrefix()}/.cpy-install.json" && echo kept`)).toBe('kept'),
  },
  {
    name: 'already installed, a checksumUrl given that names its bytes: already installed',
    options: () => ({ artifactUrl: U['http']!, checksumUrl: `${U['http']!}.sha256`, skipValidation: true }),
    before: async (i) => void expect(await i.install({ artifactUrl: U['http']!, skipValidation: true })).toEqual({ status: 'installed' }),
    expected: { status: 'already-installed' },
  },
  {
    name: 'a local file, with the sha256 given instead of a checksum file',
    options: () => ({ artifactUrl: good.path, sha256: good.sha256, checksumUrl: `${mirror.url}/missing.sha256` }),
    expected: { status: 'installed' },
    // Read where it is, once (install.sh copies it only when it must read it twice).
    after: async (i) => void (i.readOnce !== null && expect(i.readOnce).toBe(true)),
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
    name: 'an install whose stdlib landmark (lib/python3.X/os.py) was deleted is not "already installed": said damaged, and installed again over itself',
    options: () => ({ artifactUrl: U['http']! }),
    before: async (i) => {
      await i.install({ artifactUrl: U['http']! });
      await i.sh(`rm "$ROOT/${defaultPrefix()}/lib/python${version.split('.').slice(0, 2).join('.')}/os.py"`);
    },
    expected: { status: 'replaced' },
    after: async (i) => {
      expect(i.warnings).toEqual([`CPython ${version} in ${i.root}/${defaultPrefix()} is damaged (lib/python${version.split('.').slice(0, 2).join('.')}/os.py is missing): installing it again`]);
      expect(await i.python(defaultPrefix(), 'import os; print("ok")')).toBe('ok');
      expect((await i.list('opt')).filter((n) => n.startsWith('.'))).toEqual([]);
      expect(await i.install({ artifactUrl: U['http']! })).toEqual({ status: 'already-installed' });
    },
  },
  {
    name: 'an install whose marker was deleted, which the state still records: refused, said as such (the record alone does not make the files there cpy\'s), nothing touched',
    options: () => ({ artifactUrl: U['http']! }),
    before: async (i) => {
      await i.install({ artifactUrl: U['http']! });
      await i.sh(`rm "$ROOT/${defaultPrefix()}/${MARKER_FILE}"`);
    },
    expected: { code: 'CPY_INSTALL_PREFIX_NOT_EMPTY' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/${defaultPrefix()} has no install marker, though cpy recorded CPython ${version} there: its marker was deleted, or other files took its place`);
      expect(await i.read(`${defaultPrefix()}/${MARKER_FILE}`)).toBeNull();
      expect(await i.python(defaultPrefix(), 'import os; print("ok")')).toBe('ok');
      expect((await i.list('opt')).filter((n) => n.startsWith('.'))).toEqual([]);
    },
  },
  {
    // What was pip-installed into the prefix itself (not a venv) goes with the old tree: named.
    name: 'another build replaces the installed one, naming in a warning what was installed into the prefix itself',
    options: () => ({ artifactUrl: U['build2']! }),
    before: async (i) => {
      await i.install({ artifactUrl: U['http']! });
      const site = `${defaultPrefix()}/lib/python${version.split('.').slice(0, 2).join('.')}/site-packages`;
      for (const dist of ['zz_tool-2.0.dist-info', 'hello_cpy-1.0.dist-info', 'zz_tool-1.5.egg-info']) await i.write(`${site}/${dist}/METADATA`, 'Metadata-Version: 2.1\n');
    },
    expected: { status: 'replaced' },
    after: async (i) => {
      expect(JSON.parse((await i.read(`${defaultPrefix()}/${MARKER_FILE}`)) ?? '{}')).toMatchObject({ build: 2 });
      expect((await i.list('opt')).filter((n) => n.startsWith('.'))).toEqual([]);
      expect(i.warnings).toContain(`the packages installed into ${i.root}/${defaultPrefix()} itself went with the build it replaced: hello_cpy 1.0, zz_tool 1.5, zz_tool 2.0; install them again (venvs keep their own)`);
      // Again, over a tree with nothing of the user's: no such warning.
      expect(await i.install({ artifactUrl: U['http']! })).toEqual({ status: 'replaced' });
      expect(i.warnings.filter((w) => w.includes('went with the build it replaced'))).toEqual([]);
    },
  },
  {
    name: 'a corrupt checksum: refused, nothing installed',
    wget: true,
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
    // Refused before as "the checksum of ./dist/artifacts/<name>, not of <name>".
    name: 'a checksum file written by sha256sum given a path (./dist/artifacts/<name>): its file name counts, installed',
    options: () => ({ artifactUrl: U['http']!, checksumUrl: `${mirror.url}/pathsum/good.sha256`, skipValidation: true }),
    expected: { status: 'installed' },
  },
  {
    name: 'an artifact that is not there (404)',
    wget: true,
    options: () => ({ artifactUrl: `${mirror.url}/nowhere/${good.fileName}` }),
    expected: { code: 'CPY_INSTALL_NOT_FOUND' },
    after: nothingInstalled,
  },
  {
    name: 'an artifact URL where nothing listens (connection refused): the download failed, said with the reason, nothing installed',
    wget: true,
    options: () => ({ artifactUrl: `http://127.0.0.1:1/${good.fileName}`, sha256: good.sha256 }),
    expected: { code: 'CPY_INSTALL_DOWNLOAD_FAILED' },
    after: async (i) => {
      expect(i.lastError).toMatch(/refused|couldn't connect/i);
      await nothingInstalled(i);
    },
  },
  ...[
    { what: 'named as artifacts are', at: () => `${dirname(good.path)}/nowhere/${good.fileName}` },
    { what: 'whose name gives no version', at: () => `${dirname(good.path)}/nowhere.tgz` },
  ].map(
    ({ what, at }): Case => ({
      name: `a local artifact ${what} that is not there: the artifact is named, not its checksum file or its version`,
      options: () => ({ artifactUrl: at() }),
      expected: { code: 'CPY_INSTALL_NOT_FOUND' },
      message: () => `the artifact ${at()} does not exist`,
      after: nothingInstalled,
    }),
  ),
  // A directory given as the artifact (dist/artifacts): said so, before its name is read for a
  // version (install.sh said "which version?") or its checksum is looked for beside it.
  ...[
    { what: '', options: () => ({ artifactUrl: dirname(good.path) }) },
    { what: ', with a full version and its sha256', options: () => ({ artifactUrl: dirname(good.path), version: good.metadata.version, sha256: good.sha256 }) },
  ].map(
    ({ what, options }): Case => ({
      name: `a local artifact that is a directory${what}: said so, nothing installed`,
      options,
      expected: { code: 'CPY_INSTALL_NOT_FOUND' },
      message: () => `the artifact ${dirname(good.path)} is a directory, not an artifact file`,
      after: nothingInstalled,
    }),
  ),
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
    name: 'an aarch64 build (named for its architecture) on this x86_64 host: refused from its .json, the tarball never asked for',
    options: () => ({ artifactUrl: U['aarch64']! }),
    before: async () => void (requestsBefore = mirror.requests.length),
    expected: { code: 'CPY_INSTALL_WRONG_ARCH' },
    after: async (i) => {
      await nothingInstalled(i);
      expect(requestedSince().filter((p) => p.endsWith('-aarch64-build7.tgz'))).toEqual([]);
    },
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
  // A URL is read as Node's URL reads it: install.sh kept the fragment, the . and .. segments and
  // the %-escapes (it decoded %20 alone), so it fetched another file, or named it otherwise in the marker.
  {
    name: 'an artifact URL with . and .. segments and a #fragment: the same file, and the marker names it as displayUrl shows it',
    options: () => ({ artifactUrl: `${U['http']!.replace('/good/', '/elsewhere/../good/./')}#part`, skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await markerOf(i, defaultPrefix())).toMatchObject({ source: U['http']!, artifact: good.fileName });
    },
  },
  {
    name: 'a file URL with %-escapes and a . segment: the file it names, decoded; the marker names that path',
    options: () => ({ artifactUrl: `file://${dirname(good.path)}/./${good.fileName.replace(/^cpython-/, 'cpython%2D')}`, sha256: good.sha256, skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await markerOf(i, defaultPrefix())).toMatchObject({ source: good.path, artifact: good.fileName });
    },
  },
  ...[
    { what: 'an escaped /', url: (u: string) => u.replace('/good/', '/good%2F') },
    { what: 'a % that begins no escape', url: (u: string) => u.replace('/good/', '/good/%zz') },
    { what: 'an escape outside ASCII', url: (u: string) => u.replace('/good/', '/g%C3%A9od/') },
    { what: 'a file URL on another host', url: () => `file://elsewhere${good.path}` },
  ].map(
    ({ what, url }): Case => ({
      name: `an artifact URL with ${what}: refused as an option, nothing fetched`,
      options: () => ({ artifactUrl: url(U['http']!) }),
      before: async () => void (requestsBefore = mirror.requests.length),
      expected: { code: 'CPY_INSTALL_BAD_OPTIONS' },
      message: () => 'artifactUrl: its %-escapes must each stand for a printable ASCII character other than / (%20 to %7E), and a file URL must be on this machine (file:///path)',
      after: async (i) => {
        await nothingInstalled(i);
        expect(requestedSince()).toEqual([]);
      },
    }),
  ),
  {
    name: 'an artifact renamed to another version, no version asked for: its name is said to be wrong (it said "asked for", and nobody had)',
    options: () => ({ artifactUrl: mirror.fileUrl('renamed', RENAMED), sha256: good.sha256, skipValidation: true }),
    expected: { code: 'CPY_INSTALL_VERSION_MISMATCH' },
    message: () => `${RENAMED} is named for CPython 3.12.0, but holds CPython ${version}`,
    after: nothingInstalled,
  },
  {
    name: 'an artifact renamed to another build of its version: its name is said to be wrong (it was installed, its marker saying build 1)',
    options: () => ({ artifactUrl: mirror.fileUrl('renamed-build', REBUILT()), sha256: good.sha256, skipValidation: true }),
    expected: { code: 'CPY_INSTALL_VERSION_MISMATCH' },
    message: () => `${REBUILT()} is named for build 7 of CPython ${version}, but holds build ${good.metadata.build}`,
    after: nothingInstalled,
  },
  {
    name: 'an artifact named with x86_64 (which artifact names leave out): its name says no version, as the library reads it (install.sh took the version and build from it)',
    options: () => ({ artifactUrl: mirror.fileUrl('x86-named', X86_NAMED()), sha256: good.sha256, skipValidation: true }),
    expected: { code: 'CPY_INSTALL_NO_VERSION' },
    message: () => `which version? The artifact name (${X86_NAMED()}) does not say (cpython-<version>-<os><osversion>-build<N>.tgz)`,
    after: nothingInstalled,
  },
  {
    name: 'an artifact URL typed wrong (nothing there, so no checksum file beside it either): the artifact is what is said to be missing',
    wget: true,
    options: () => ({ artifactUrl: mirror.fileUrl('typo', good.fileName) }),
    expected: { code: 'CPY_INSTALL_NOT_FOUND' },
    message: () => `cannot get the artifact ${mirror.fileUrl('typo', good.fileName)}: HTTP 404`,
    after: nothingInstalled,
  },
  {
    // Said as the network's before (check the proxy settings): a private asset, an expired signed URL.
    name: 'an artifact URL the server refuses (HTTP 403: a private release asset): access denied, said as such by both',
    wget: true,
    options: () => ({ artifactUrl: mirror.fileUrl('denied', good.fileName), sha256: good.sha256 }),
    before: async () => mirror.refuse(`denied/${good.fileName}`, 403),
    expected: { code: 'CPY_INSTALL_DOWNLOAD_FAILED' },
    message: () => `cannot get the artifact ${mirror.fileUrl('denied', good.fileName)}: HTTP 403, access denied`,
    hint: () => ACCESS_DENIED_HINT,
    after: nothingInstalled,
  },
  {
    // install.sh said to check the network (proxy settings): the checksum is what is fetched first.
    name: 'an artifact URL with no sha256, whose .sha256 the server refuses (HTTP 403): access denied, said as such by both',
    wget: true,
    options: () => ({ artifactUrl: mirror.fileUrl('denied-sum', good.fileName) }),
    before: async () => mirror.refuse(`denied-sum/${good.fileName}.sha256`, 403),
    expected: { code: 'CPY_INSTALL_DOWNLOAD_FAILED' },
    message: () => `cannot get the checksum file ${mirror.fileUrl('denied-sum', `${good.fileName}.sha256`)}: HTTP 403, access denied`,
    hint: () => ACCESS_DENIED_HINT,
    after: nothingInstalled,
  },
  {
    // Before, "unreachable" (check the proxy), and an installed or cached build stood in for it.
    name: 'an index URL the server refuses (HTTP 403): access denied, said as such by both, nothing stands in for it',
    wget: true,
    options: () => ({ version: '3.11', indexUrl: mirror.fileUrl('denied-index', 'index.json') }),
    before: async () => mirror.refuse('denied-index/index.json', 403),
    expected: { code: 'CPY_INSTALL_DOWNLOAD_FAILED' },
    message: () => `cannot get the index ${mirror.fileUrl('denied-index', 'index.json')}: HTTP 403, access denied`,
    after: nothingInstalled,
  },
  // install.sh ended with exit 1 and not a word for these: the URL's file name was empty.
  {
    name: 'an artifact URL whose path is / (it names no file): which version, said by both',
    options: () => ({ artifactUrl: `${new URL(mirror.url).origin}/` }),
    expected: { code: 'CPY_INSTALL_NO_VERSION' },
    message: () => 'which version? The artifact name does not say (cpython-<version>-<os><osversion>-build<N>.tgz)',
    after: nothingInstalled,
  },
  {
    name: 'an index URL whose path is /: the index is not there, said by both',
    options: () => ({ version: '3.11', indexUrl: `${new URL(mirror.url).origin}/` }),
    expected: { code: 'CPY_INSTALL_INDEX_NOT_FOUND' },
    message: () => `cannot read the index ${new URL(mirror.url).origin}/: HTTP 404`,
    after: nothingInstalled,
  },
  {
    name: 'an artifact whose tree holds more than its metadata says (a quarter): refused as unsafe, nothing installed',
    options: () => ({ artifactUrl: U['understated']!, skipValidation: true }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    hint: () => UNSAFE_HINT,
    after: nothingInstalled,
  },
  {
    name: 'an artifact whose metadata entry weighs more than 1 MiB (a real one is a few KiB): refused as unsafe, nothing installed',
    options: () => ({ artifactUrl: U['heavy']!, skipValidation: true }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    hint: () => UNSAFE_HINT,
    after: nothingInstalled,
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
    // Until 2026-12-06 install.sh validated with the checks the artifact carries (the library
    // with its own since that morning): an artifact whose copy passes everything went in.
    name: "an artifact without the ssl module whose own post-install checks pass everything: validated with the installer's checks, refused naming ssl",
    options: () => ({ artifactUrl: U['fakechecks']! }),
    expected: { code: 'CPY_INSTALL_VALIDATION_FAILED' },
    after: async (i) => {
      expect(i.lastError).toMatch(/critical-modules: .*\bssl\b/);
      await nothingInstalled(i);
    },
  },
  {
    name: 'skipValidation installs it anyway',
    options: () => ({ artifactUrl: U['liar']!, skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => expect(await i.read(`opt/python-3.99.1/${MARKER_FILE}`)).toContain('"3.99.1"'),
  },
  {
    // Relocation is the first thing it runs; the install record's python3, started beside it
    // (cpy_state.py serve), goes with the install.
    name: 'a python3 that does not start, relocated: CPY_INSTALL_RELOCATION_FAILED with what it printed, nothing installed',
    options: () => ({ artifactUrl: U['mute']!, installPrefix: 'custom/py', skipValidation: true }),
    expected: { code: 'CPY_INSTALL_RELOCATION_FAILED' },
    after: async (i) => {
      expect(i.lastError).toContain(MUTE_SAYS);
      expect(await i.list('custom')).toEqual([]);
      expect(await i.list('usr/local/bin')).toEqual([]);
      expect(await i.read('var/lib/cpy/state.json')).toBeNull();
    },
  },
  {
    name: 'an artifact published damaged (truncated, its sha256 made of what is left): said so, not "download it again", nothing installed',
    options: () => ({ artifactUrl: U['truncated']! }),
    expected: { code: 'CPY_ARTIFACT_CORRUPT' },
    after: async (i) => {
      await nothingInstalled(i);
      expect(i.lastError).toMatch(new RegExp(`^${good.fileName.replace(/\./g, '\\.')} matches its sha256, but cannot be unpacked: .+`));
    },
  },
  {
    name: 'a hostile archive: an entry outside the tree',
    options: () => ({ artifactUrl: U['dotdot']! }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    hint: () => UNSAFE_HINT,
    // Named by both (install.sh named none).
    after: async (i) => {
      expect(i.lastError).toContain(`'${good.metadata.prefix.slice(1)}/../../evil.txt'`);
      await nothingInstalled(i);
    },
  },
  {
    name: 'a hostile archive: a symlink out of the tree',
    options: () => ({ artifactUrl: U['symlink']! }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    hint: () => UNSAFE_HINT,
    after: nothingInstalled,
  },
  {
    // lib/a<TAB>b -> ../../etc leaves the tree by one level, not the staging directory (the
    // library checked only that until 2026-12-02); a checker that split "link<TAB>target" lines
    // would read the target as inside the tree.
    name: 'a hostile archive: a symlink one level out of the tree, its name holding a tab',
    options: () => ({ artifactUrl: U['tabbed']! }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    hint: () => UNSAFE_HINT,
    after: nothingInstalled,
  },
  {
    // A check of each target on paper (s/.. folds away) passes it; followed, s is the tree itself.
    name: 'a hostile archive: a symlink that leaves the tree through another link',
    options: () => ({ artifactUrl: U['chained']! }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    hint: () => UNSAFE_HINT,
    after: nothingInstalled,
  },
  {
    name: 'a hostile archive: a symlink whose target holds a newline',
    options: () => ({ artifactUrl: U['newline']! }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    hint: () => UNSAFE_HINT,
    after: nothingInstalled,
  },
  {
    // install.sh's one pass judges the kinds of entries on the unpacked tree, not from a second
    // tar listing: a hard link is a file with two names there, a fifo neither file nor directory.
    name: 'a hostile archive: a hard link inside the tree',
    options: () => ({ artifactUrl: U['hardlink']! }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    hint: () => UNSAFE_HINT,
    // One of its two names (the tree judged after the one pass sees both).
    after: async (i) => {
      expect(i.lastError).toMatch(/'[^']*(lib\/twin|share\/cpy\/postinstall\.py)'/);
      await nothingInstalled(i);
    },
  },
  {
    name: 'a hostile archive: a fifo',
    options: () => ({ artifactUrl: U['fifo']! }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    hint: () => UNSAFE_HINT,
    after: async (i) => {
      expect(i.lastError).toMatch(/'[^']*lib\/pipe'/);
      await nothingInstalled(i);
    },
  },
  {
    name: 'a hostile archive: a file written through a symlink that leaves the tree',
    options: () => ({ artifactUrl: U['through']! }),
    expected: { code: 'CPY_ARTIFACT_UNSAFE_ENTRY' },
    hint: () => UNSAFE_HINT,
    after: async (i) => {
      await nothingInstalled(i);
      expect(await i.read('tmp/cpy-pwned')).toBeNull();
    },
  },
  {
    name: 'index: a release line (3.11) resolves to the build for this distribution (debian12 before debian11), installed and validated',
    wget: true,
    options: () => ({ version: '3.11', indexUrl: U['index']! }),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: I.d12.fileName, sha256: I.d12.sha256 });
      expect(await i.python(defaultPrefix(), 'import ssl, sqlite3; print("ok")')).toBe('ok');
      expect(await i.list('usr/local/bin')).toEqual(['pydoc3', 'python', 'python3', versioned()]);
    },
  },
  {
    name: 'index: the same request again finds the resolved build installed',
    options: () => ({ version: '3.11', indexUrl: U['index']! }),
    before: async (i) => void (await i.install({ version: '3.11', indexUrl: U['index']! })),
    expected: { status: 'already-installed' },
  },
  {
    name: 'index: latest is the newest version, its build for this distribution',
    options: () => ({ version: 'latest', indexUrl: U['index']!, skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => expect(await markerOf(i, `opt/python-${NEWER}`)).toMatchObject({ artifact: I.d12new.fileName }),
  },
  {
    // Before the tree is there only python3 can be known: every other program is checked once it is
    // unpacked, before it is put in place (the library refused after, the tree left unrecorded in
    // the prefix; install.sh installed, and pydoc3 still ran someone else's).
    name: "a new install, with someone else's file where one of its other links goes (pydoc3): refused before anything is put in place",
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) => void expect(await i.sh('mkdir -p "$ROOT/usr/local/bin" && echo mine > "$ROOT/usr/local/bin/pydoc3" && echo ok')).toBe('ok'),
    expected: { code: 'CPY_INSTALL_BIN_CONFLICT' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/usr/local/bin/pydoc3 exists and is not a cpy link`);
      expect(await i.list('opt')).toEqual([]);
      expect(await i.list('usr/local/bin')).toEqual(['pydoc3']);
      expect(await i.read('usr/local/bin/pydoc3')).toBe('mine\n');
      expect(await i.read('var/lib/cpy/state.json')).toBeNull();
    },
  },
  {
    // pip install --user as a normal user writes pip, pip3, pip3.X where cpy links them: said one a
    // run, each after a whole unpack, it took four runs.
    name: "a new install, with someone else's files where several of its links go (python, pydoc3): refused naming them all at once",
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) => void expect(await i.sh('mkdir -p "$ROOT/usr/local/bin" && echo mine > "$ROOT/usr/local/bin/pydoc3" && echo mine > "$ROOT/usr/local/bin/python" && echo ok')).toBe('ok'),
    expected: { code: 'CPY_INSTALL_BIN_CONFLICT' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/usr/local/bin/python and ${i.root}/usr/local/bin/pydoc3 exist and are not cpy links`);
      expect(await i.list('opt')).toEqual([]);
    },
  },
  {
    // The links into the current install whose marker was deleted are the ones cpy made for it:
    // they were called someone else's, and nothing could be made current until removed by hand.
    name: "a new install while python3 is cpy's link into a recorded install whose marker is gone: installed and made current",
    options: () => ({ version: 'latest', indexUrl: U['index']!, skipValidation: true }),
    before: async (i) => {
      expect(await i.install({ version: '3.11', indexUrl: U['index']! })).toEqual({ status: 'installed' });
      expect(await i.sh(`rm "$ROOT/${defaultPrefix()}/.cpy-install.json" && echo ok`)).toBe('ok');
    },
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await i.sh('readlink "$ROOT/usr/local/bin/python3"')).toBe(`${i.root}/opt/python-${NEWER}/bin/python3`);
      expect(await i.sh('readlink "$ROOT/usr/local/bin/pydoc3"')).toBe(`${i.root}/opt/python-${NEWER}/bin/pydoc3`);
    },
  },
  {
    // The build goes into the install marker as a number; as text it could have added fields (a
    // signedBy no signature made).
    name: 'metadata whose build is not a whole number (text that would add a signedBy to the marker): CPY_INSTALL_NOT_AN_ARTIFACT, nothing installed',
    options: () => ({ artifactUrl: U['badbuild']!, skipValidation: true }),
    expected: { code: 'CPY_INSTALL_NOT_AN_ARTIFACT' },
    // The library said to update cpy, as if the artifact were of a newer format.
    hint: () => 'its metadata is damaged or was edited: install an artifact made by cpy build or cpy artifact pack',
    after: nothingInstalled,
  },
  {
    // JSON.stringify keeps an object's keys where they were; install.sh moved the version recorded
    // again to the end.
    name: 'index: an installed version made current again keeps its place in state.json',
    options: () => ({ version: '3.11', indexUrl: U['index']! }),
    before: async (i) => {
      expect(await i.install({ version: '3.11', indexUrl: U['index']! })).toEqual({ status: 'installed' });
      expect(await i.install({ version: 'latest', indexUrl: U['index']!, skipValidation: true })).toEqual({ status: 'installed' });
    },
    expected: { status: 'already-installed' },
    after: async (i) => {
      const state = JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}') as { installs: Record<string, unknown>; previous: string };
      expect(Object.keys(state.installs)).toEqual([version, NEWER]);
      expect(state.previous).toBe(NEWER);
      expect(await i.sh('readlink "$ROOT/var/lib/cpy/current"')).toBe(`${i.root}/${defaultPrefix()}`);
    },
  },
  {
    name: 'index: another version installed at installPrefix opt/python over the one there (an upgrade in place): the one replaced is no longer recorded, and both say so (both were recorded at one tree)',
    options: () => ({ version: 'latest', indexUrl: U['index']!, installPrefix: 'opt/python', skipValidation: true }),
    before: async (i) => expect(await i.install({ version: '3.11', indexUrl: U['index']!, installPrefix: 'opt/python' })).toEqual({ status: 'installed' }),
    // (Said as a tree replaced, as a reinstall of a damaged one is.)
    expected: { status: 'replaced' },
    after: async (i) => {
      expect(i.warnings.join('\n')).toContain(`CPython ${version} was installed at ${i.root}/opt/python, which now holds CPython ${NEWER}: it is no longer installed (cpy rollback does not go back to it)`);
      const state = JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}') as { installs: Record<string, unknown>; previous: string | null };
      expect([state.installs, state.previous]).toEqual([{ [NEWER]: { prefix: `${i.root}/opt/python` } }, null]);
    },
  },
  {
    name: "index: an installed version made current again, with someone else's file where one of its links goes: refused, nothing changes",
    options: () => ({ version: '3.11', indexUrl: U['index']! }),
    before: async (i) => {
      expect(await i.install({ version: '3.11', indexUrl: U['index']! })).toEqual({ status: 'installed' });
      expect(await i.install({ version: 'latest', indexUrl: U['index']!, skipValidation: true })).toEqual({ status: 'installed' });
      expect(await i.sh('rm "$ROOT/usr/local/bin/pydoc3" && echo mine > "$ROOT/usr/local/bin/pydoc3" && echo ok')).toBe('ok');
    },
    expected: { code: 'CPY_INSTALL_BIN_CONFLICT' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/usr/local/bin/pydoc3 exists and is not a cpy link`);
      expect(await i.sh('readlink "$ROOT/var/lib/cpy/current"')).toBe(`${i.root}/opt/python-${NEWER}`);
      expect(JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}')).toMatchObject({ previous: version });
      expect(await i.read('usr/local/bin/pydoc3')).toBe('mine\n');
      expect(await i.sh('readlink "$ROOT/usr/local/bin/python3"')).toBe(`${i.root}/opt/python-${NEWER}/bin/python3`);
    },
  },
  {
    name: 'index: state.json moved aside (as CPY_INSTALL_BROKEN says to): the next version records the one it replaces as previous, from its marker',
    options: () => ({ version: 'latest', indexUrl: U['index']!, skipValidation: true }),
    before: async (i) => {
      expect(await i.install({ version: '3.11', indexUrl: U['index']! })).toEqual({ status: 'installed' });
      expect(await i.sh('mv "$ROOT/var/lib/cpy/state.json" "$ROOT/var/lib/cpy/state.json.broken" && echo ok')).toBe('ok');
    },
    expected: { status: 'installed' },
    after: async (i) =>
      expect(JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}')).toEqual({
        schemaVersion: 1,
        installs: { [NEWER]: { prefix: `${i.root}/opt/python-${NEWER}` } },
        previous: version,
        binDir: `${i.root}/usr/local/bin`,
      }),
  },
  {
    name: 'index: index.json answers 404 while a publish swaps it: index.previous.json beside it is read',
    wget: true,
    options: () => ({ version: '3.11', indexUrl: mirror.fileUrl('swap', 'index.json') }),
    expected: { status: 'installed' },
    after: async (i) => expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: I.d12.fileName }),
  },
  {
    name: 'index: no build fits (a debian11 build that needs libssl1.1, which Debian 12 does not have): refused, naming each candidate',
    options: () => ({ version: '3.11', indexUrl: U['nofit']! }),
    expected: { code: 'CPY_INSTALL_NO_MATCHING_BUILD' },
    message: () =>
      `no published build of CPython 3.11 fits this host (${hostSummary}): ${I.d11.fileName} (${I.d11.metadata.platform.arch}): the debian11 build needs libssl1.1, which Debian 12 does not provide`,
    after: nothingInstalled,
  },
  {
    name: 'index: a version pinned by name whose builds newer ones deprecated: installed, with a warning (a pinned Dev Container stopped building at the third newer patch release)',
    options: () => ({ version, indexUrl: U['deprecated']!, skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: I.d12.fileName });
      expect(i.warnings).toContain(
        `${I.d12.fileName} is deprecated in the index (newer builds of its line replace it, and a prune may delete it): installed because ${version} was asked for; ask for the release line to follow its newest build`,
      );
    },
  },
  {
    name: 'index: a release line whose builds are all deprecated: refused, naming each (and the hint is to name the version, not to build one)',
    options: () => ({ version: version.split('.').slice(0, 2).join('.'), indexUrl: U['deprecated']! }),
    expected: { code: 'CPY_INSTALL_NO_MATCHING_BUILD' },
    message: () =>
      `no published build of CPython ${version.split('.').slice(0, 2).join('.')} fits this host (${hostSummary}): ${I.d12.fileName} (${I.d12.metadata.platform.arch}): deprecated: newer builds replace it; ${I.d11.fileName} (${I.d11.metadata.platform.arch}): deprecated: newer builds replace it`,
    after: nothingInstalled,
  },
  {
    name: 'index: the build it lists is gone (its artifact answers 404): said as the artifact, not found',
    wget: true,
    options: () => ({ version: '3.11', indexUrl: U['gone']! }),
    expected: { code: 'CPY_INSTALL_NOT_FOUND' },
    message: () => `cannot get the artifact ${mirror.fileUrl('gone-assets', I.d12.fileName)}: HTTP 404`,
    after: nothingInstalled,
  },
  {
    name: 'index: the build it lists holds another build number than its entry says: the index is said to be wrong, nothing installed',
    options: () => ({ version: '3.11', indexUrl: U['wrongbuild']! }),
    expected: { code: 'CPY_INSTALL_VERSION_MISMATCH' },
    message: () => `the index ${U['wrongbuild']!} lists ${I.d12.fileName} as build 7 of CPython ${version}, but it holds build ${I.d12.metadata.build}`,
    after: nothingInstalled,
  },
  {
    name: 'index: a sha256 given with the version pins the build; none has it: refused, naming each',
    options: () => ({ version: '3.11', indexUrl: U['index']!, sha256: 'f'.repeat(64) }),
    expected: { code: 'CPY_INSTALL_NO_MATCHING_BUILD' },
    message: () =>
      `no published build of CPython 3.11 fits this host (${hostSummary}): ${I.d12.fileName} (${I.d12.metadata.platform.arch}): not the build whose sha256 was given; ${I.d11.fileName} (${I.d11.metadata.platform.arch}): not the build whose sha256 was given`,
    after: nothingInstalled,
  },
  {
    name: 'index: a version it does not list',
    options: () => ({ version: '3.9', indexUrl: U['index']! }),
    expected: { code: 'CPY_INSTALL_VERSION_NOT_PUBLISHED' },
    message: () => `the index ${U['index']!} lists no build of CPython 3.9 (it lists ${version}, ${NEWER})`,
    after: nothingInstalled,
  },
  {
    name: 'index: neither index.json nor index.previous.json is there',
    wget: true,
    options: () => ({ version: '3.11', indexUrl: mirror.fileUrl('noindex', 'index.json') }),
    expected: { code: 'CPY_INSTALL_INDEX_NOT_FOUND' },
    // Both said only that index.json was not there, as if the other had not been looked for.
    message: () => `cannot read the index ${mirror.fileUrl('noindex', 'index.json')}: HTTP 404 (nor index.previous.json beside it, which a publish serves while it replaces the index)`,
    after: nothingInstalled,
  },
  {
    name: 'index: an artifact given as the index (17 MB of gzip): CPY_INDEX_INVALID at once, by both (install.sh read it for minutes)',
    options: () => ({ version: '3.11', indexUrl: U['http']! }),
    expected: { code: 'CPY_INDEX_INVALID' },
    after: nothingInstalled,
  },
  {
    name: 'index: a schema version this cpy does not read',
    options: () => ({ version: '3.11', indexUrl: U['future']! }),
    expected: { code: 'CPY_INDEX_UNSUPPORTED' },
    after: nothingInstalled,
  },
  {
    name: 'index: an entry whose needs hold an empty one, then a package named like an apt option: CPY_INDEX_INVALID, nothing installed',
    options: () => ({ version: '3.11', indexUrl: U['badneeds']! }),
    expected: { code: 'CPY_INDEX_INVALID' },
    after: nothingInstalled,
  },
  {
    name: 'an artifact given by URL whose critical libraries this archive lacks (libssl1.1 on Debian 12): refused before the download',
    options: () => ({ artifactUrl: U['d11']! }),
    expected: { code: 'CPY_INSTALL_PACKAGES_UNAVAILABLE' },
    message: () => `CPython ${version} build 1 cannot run here: the debian11 build needs libssl1.1, which Debian 12 does not provide`,
    after: async (i) => {
      await nothingInstalled(i);
      expect(mirror.requests.map((r) => r.path)).not.toContain(`/ftp/python/d11/${I.d11.fileName}`);
    },
  },
  {
    name: 'a prefix holding files cpy did not install is left alone, the first three named in order',
    options: () => ({ artifactUrl: U['http']! }),
    before: async (i) => {
      for (const path of ['share/doc', 'lib/precious.so', 'etc/x.conf', 'bin/tool']) await i.write(`${defaultPrefix()}/${path}`, 'not ours');
    },
    expected: { code: 'CPY_INSTALL_PREFIX_NOT_EMPTY' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/${defaultPrefix()} already holds files that cpy did not install (bin, etc, lib, ...)`);
      expect(await i.read(`${defaultPrefix()}/lib/precious.so`)).toBe('not ours');
    },
  },
  {
    // One version has one entry in the state: installed again elsewhere, the tree before is left
    // unlisted, and both installers say so.
    name: 'the same version installed at another prefix: recorded there, with a warning naming the tree it leaves unlisted',
    options: () => ({ artifactUrl: U['http']!, installPrefix: 'custom/again', skipValidation: true }),
    before: async (i) => void expect(await i.install({ artifactUrl: U['http']!, skipValidation: true })).toEqual({ status: 'installed' }),
    expected: { status: 'installed' },
    after: async (i) => {
      const [before, now] = [`${i.root}/${defaultPrefix()}`, `${i.root}/custom/again`];
      expect(i.warnings).toContain(`CPython ${version} was recorded at ${before}, and is now at ${now}: the tree at ${before} stays, no longer listed, used or uninstalled by cpy; remove it yourself if it is not needed`);
      expect(JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}')).toMatchObject({ installs: { [version]: { prefix: now } } });
      expect(await i.python(defaultPrefix(), 'print(1)')).toBe('1');
    },
  },
  {
    name: 'installed at a prefix of its choosing, then the same version with none given: already installed there (it was installed again at the default prefix, the chosen one left unlisted)',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) => void expect(await i.install({ artifactUrl: U['http']!, installPrefix: 'custom/chosen', skipValidation: true })).toEqual({ status: 'installed' }),
    expected: { status: 'already-installed' },
    after: async (i) => {
      expect(JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}')).toMatchObject({ installs: { [version]: { prefix: `${i.root}/custom/chosen` } } });
      expect(await i.list('opt')).toEqual([]);
      expect(i.warnings).toEqual([]);
    },
  },
  {
    name: 'installed at a prefix of its choosing, then its full version from the index with no prefix: already installed there, with no request to the index',
    options: () => ({ version, indexUrl: U['index']! }),
    before: async (i) => {
      expect(await i.install({ artifactUrl: U['http']!, installPrefix: 'custom/chosen', skipValidation: true })).toEqual({ status: 'installed' });
      requestsBefore = mirror.requests.length;
    },
    expected: { status: 'already-installed' },
    after: async (i) => {
      expect(requestedSince()).toEqual([]);
      expect(await i.list('opt')).toEqual([]);
    },
  },
  {
    name: 'an installPrefix that is a file is refused, and the file stays as it was',
    options: () => ({ artifactUrl: U['http']!, installPrefix: 'custom/notes.txt', skipValidation: true }),
    before: (i) => i.write('custom/notes.txt', 'important'),
    expected: { code: 'CPY_INSTALL_PREFIX_NOT_EMPTY' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/custom/notes.txt is a file, not a directory; cpy installs only into a new or empty directory, or over its own install`);
      expect(await i.read('custom/notes.txt')).toBe('important');
      expect(await i.list('custom')).toEqual(['notes.txt']);
      expect(await i.list('usr/local/bin')).toEqual([]);
    },
  },
  {
    // Found after the fetch by install.sh (its staging directory is made then), before it by the library.
    name: 'an installPrefix below a file, or below a link to nothing: CPY_INSTALL_NOT_WRITABLE naming what is in the way',
    options: () => ({ artifactUrl: U['http']!, installPrefix: 'custom/f/sub/py', skipValidation: true }),
    before: async (i) => expect(await i.sh('mkdir -p "$ROOT/custom" && echo x > "$ROOT/custom/f" && ln -s gone "$ROOT/custom/dl" && echo ok')).toBe('ok'),
    expected: { code: 'CPY_INSTALL_NOT_WRITABLE' },
    after: async (i) => {
      expect(i.lastError).toBe(`cannot make ${i.root}/custom/f/sub for the prefix ${i.root}/custom/f/sub/py: ${i.root}/custom/f is a file`);
      expect(await i.install({ artifactUrl: U['http']!, installPrefix: 'custom/dl/py', skipValidation: true })).toEqual({ code: 'CPY_INSTALL_NOT_WRITABLE' });
      expect(i.lastError).toBe(`cannot make ${i.root}/custom/dl for the prefix ${i.root}/custom/dl/py: ${i.root}/custom/dl is a link to gone, which is not there`);
      expect(await i.list('custom')).toEqual(['dl', 'f']);
    },
  },
  {
    name: 'an installPrefix that is a link to nothing is refused, naming where it points; the link stays',
    options: () => ({ artifactUrl: U['http']!, installPrefix: 'custom/py', skipValidation: true }),
    before: async (i) => expect(await i.sh('mkdir -p "$ROOT/custom" && ln -s gone "$ROOT/custom/py" && echo ok')).toBe('ok'),
    expected: { code: 'CPY_INSTALL_PREFIX_NOT_EMPTY' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/custom/py is a link to gone, which is not there`);
      expect(await i.sh('readlink "$ROOT/custom/py"')).toBe('gone');
      expect(await i.list('custom')).toEqual(['py']);
      // A link to itself (a loop), or through a file, leads nowhere too.
      for (const [to, setup] of [['py', ''], ['f/sub', 'echo x > "$ROOT/custom/f" && ']] as const) {
        expect(await i.sh(`rm -f "$ROOT/custom/py" && ${setup}ln -s ${to} "$ROOT/custom/py" && echo ok`)).toBe('ok');
        expect(await i.install({ artifactUrl: U['http']!, installPrefix: 'custom/py', skipValidation: true })).toEqual({ code: 'CPY_INSTALL_PREFIX_NOT_EMPTY' });
        expect(i.lastError).toBe(`${i.root}/custom/py is a link to ${to}, which is not there`);
      }
    },
  },
  {
    name: 'an installPrefix that is a link to a directory holding files is refused; the link and the files stay',
    options: () => ({ artifactUrl: U['http']!, installPrefix: 'custom/py' }),
    before: async (i) => expect(await i.sh('mkdir -p "$ROOT/custom/real/lib" && echo mine > "$ROOT/custom/real/lib/mine.txt" && ln -s real "$ROOT/custom/py" && echo ok')).toBe('ok'),
    expected: { code: 'CPY_INSTALL_PREFIX_NOT_EMPTY' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/custom/py already holds files that cpy did not install (lib)`);
      expect(await i.sh('readlink "$ROOT/custom/py"')).toBe('real');
      expect(await i.read('custom/real/lib/mine.txt')).toBe('mine\n');
    },
  },
  {
    name: 'an installPrefix that is a link to an empty directory is refused before anything is fetched, naming where it points (the rename replaced the link, the tree landing beside it and the directory left empty); the link stays',
    options: () => ({ artifactUrl: U['http']!, installPrefix: 'custom/py', skipValidation: true }),
    before: async (i) => expect(await i.sh('mkdir -p "$ROOT/custom/real" && ln -s real "$ROOT/custom/py" && echo ok')).toBe('ok'),
    expected: { code: 'CPY_INSTALL_PREFIX_IS_LINK' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/custom/py is a link to ${i.root}/custom/real: cpy puts its tree in place with a rename, which would replace the link rather than fill the directory it points to`);
      expect(await i.sh('readlink "$ROOT/custom/py"')).toBe('real');
      expect(await i.list('custom')).toEqual(['py', 'real']);
      expect(await i.list('custom/real')).toEqual([]);
      // The directory itself is a prefix like any other: installed into (empty, nothing is replaced).
      expect(await i.install({ artifactUrl: U['http']!, installPrefix: 'custom/real', skipValidation: true })).toEqual({ status: 'installed' });
      // And an install there, reached through the link, is already there: nothing to do.
      expect(await i.install({ artifactUrl: U['http']!, installPrefix: 'custom/py', skipValidation: true })).toEqual({ status: 'already-installed' });
    },
  },
  {
    name: 'an installPrefix spelled with // and /./ is that prefix: installed there, recorded and linked by its plain name',
    options: () => ({ artifactUrl: U['http']!, installPrefix: 'custom//./py/', skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => {
      const state = JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}') as { installs?: Record<string, unknown> };
      expect(state.installs?.[version]).toEqual({ prefix: `${i.root}/custom/py` });
      expect(await i.sh('readlink "$ROOT/usr/local/bin/python3"')).toBe(`${i.root}/custom/py/bin/python3`);
      expect(await i.python('custom/py', 'import sys; print(sys.prefix)')).toBe(`${i.root}/custom/py`);
    },
  },
  {
    name: "a python3 in the bin dir that is someone else's link refuses the install, naming where it points; nothing is installed",
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) =>
      expect(await i.sh('mkdir -p "$ROOT/usr/local/bin" "$ROOT/usr/lib/sys" && : > "$ROOT/usr/lib/sys/python3.11" && ln -s ../../lib/sys/python3.11 "$ROOT/usr/local/bin/python3" && echo ok')).toBe('ok'),
    expected: { code: 'CPY_INSTALL_BIN_CONFLICT' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/usr/local/bin/python3 exists and is not a cpy link (it points to ${i.root}/usr/lib/sys/python3.11)`);
      expect(await i.list('opt')).toEqual([]);
      expect(await i.sh('readlink "$ROOT/usr/local/bin/python3"')).toBe('../../lib/sys/python3.11');
    },
  },
  {
    name: 'a bin dir that cannot take the links (/usr/local/bin is a file): refused before the tree is in place, naming it; nothing installed, the file as it was',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) => expect(await i.sh('rm -rf "$ROOT/usr/local/bin" && mkdir -p "$ROOT/usr/local" && echo notes > "$ROOT/usr/local/bin" && echo ok')).toBe('ok'),
    expected: { code: 'CPY_INSTALL_NOT_WRITABLE' },
    after: async (i) => {
      expect(i.lastError).toBe(`cannot make the python3 links in ${i.root}/usr/local/bin: it is not a directory`);
      expect(await i.list('opt')).toEqual([]);
      expect(await i.read('usr/local/bin')).toBe('notes\n');
      expect(await i.read('var/lib/cpy/state.json')).toBeNull();
    },
  },
  // A replacement killed between its two renames, the lock of the prefix, a broken state file:
  // what both installers share with `cpy install` of the same prefix on the same machine.
  {
    name: 'a replacement killed between its two renames (its journal, no prefix, the staged tree): the next run rolls it forward',
    options: () => ({ artifactUrl: U['build2']! }),
    before: async (i) => {
      expect(await i.install({ artifactUrl: U['build2']!, skipValidation: true })).toEqual({ status: 'installed' });
      // What the kill leaves: build 2, staged and complete, its journal; the prefix renamed aside
      // (here a build-1 marker, which a roll back would put in place and the run then replace).
      // The staging tree is named as install.sh's mktemp names it (letters of both cases and
      // digits; the library uses hex digits): until 2026-12-02 the library took such a journal
      // for someone else's, deleted it and the old tree, and left the new one behind.
      const prefix = `${i.root}/${defaultPrefix()}`;
      const staged = `${i.root}/opt/.cpy-staging-python-${version}-0aB1c2D3${good.metadata.prefix}`;
      const aside = `${i.root}/opt/.cpy-old-python-${version}-4e5f6a7b`;
      const scene = [
        `mkdir -p "$(dirname "${staged}")" "${aside}"`,
        `mv "${prefix}" "${staged}"`,
        `sed -e 's/-build2\\./-build1./' -e 's/"build": 2/"build": 1/' "${staged}/${MARKER_FILE}" >"${aside}/${MARKER_FILE}"`,
        `printf '%s' '${journalText(prefix, staged, aside)}' >"${i.root}/opt/.cpy-journal-python-${version}.json"`,
      ];
      expect(await i.sh(scene.join(' && '))).toBe('');
      expect(await i.list('opt')).toEqual([`.cpy-journal-python-${version}.json`, `.cpy-old-python-${version}-4e5f6a7b`, `.cpy-staging-python-${version}-0aB1c2D3`]);
    },
    expected: { status: 'already-installed' },
    after: async (i) => {
      expect(JSON.parse((await i.read(`${defaultPrefix()}/${MARKER_FILE}`)) ?? '{}')).toMatchObject({ build: 2 });
      expect(await i.python(defaultPrefix(), 'import ssl, sys; print(sys.prefix)')).toBe(`${i.root}/${defaultPrefix()}`);
      expect(await i.list('opt')).toEqual([`python-${version}`]);
      expect(await i.list('usr/local/bin')).toEqual(['pydoc3', 'python', 'python3', versioned()]);
    },
  },
  {
    // The same, asked for by full version with no index and nothing cached: the finished
    // replacement is what is installed (the library said CPY_INSTALL_NO_SOURCE until 2026-12-02).
    name: 'a replacement killed between its two renames, then a full version asked for with no index: rolled forward, already installed',
    options: () => ({ version }),
    before: async (i) => {
      expect(await i.install({ artifactUrl: U['build2']!, skipValidation: true })).toEqual({ status: 'installed' });
      const prefix = `${i.root}/${defaultPrefix()}`;
      const staged = `${i.root}/opt/.cpy-staging-python-${version}-Zy9X8w7V${good.metadata.prefix}`;
      const aside = `${i.root}/opt/.cpy-old-python-${version}-9f8e7d6c`;
      const scene = [
        `rm -rf "$ROOT/cache"`,
        `mkdir -p "$(dirname "${staged}")" "${aside}"`,
        `mv "${prefix}" "${staged}"`,
        `printf '%s' '${journalText(prefix, staged, aside)}' >"${i.root}/opt/.cpy-journal-python-${version}.json"`,
      ];
      expect(await i.sh(scene.join(' && '))).toBe('');
    },
    expected: { status: 'already-installed' },
    after: async (i) => {
      expect(JSON.parse((await i.read(`${defaultPrefix()}/${MARKER_FILE}`)) ?? '{}')).toMatchObject({ build: 2 });
      expect(await i.list('opt')).toEqual([`python-${version}`]);
    },
  },
  {
    name: 'a corrupt state.json (not JSON): a coded error, the file left as it was, no links',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: (i) => i.write('var/lib/cpy/state.json', '{"schemaVersion": 1, "installs": {'),
    expected: { code: 'CPY_INSTALL_BROKEN' },
    after: async (i) => {
      // The parser's own words follow "not JSON:" once (install.sh said it twice).
      expect(i.lastError).toMatch(new RegExp(`^${literal(i.root)}/var/lib/cpy/state\\.json is not a cpy state file \\(not JSON: (?!not JSON)`));
      expect(await i.read('var/lib/cpy/state.json')).toBe('{"schemaVersion": 1, "installs": {');
      expect(await i.list('usr/local/bin')).toEqual([]);
    },
  },
  {
    name: 'a state.json that is JSON but not a cpy state file: the same coded error',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: (i) => i.write('var/lib/cpy/state.json', '{"schemaVersion": 2, "installs": {}, "previous": null}\n'),
    expected: { code: 'CPY_INSTALL_BROKEN' },
    after: async (i) => {
      expect(await i.read('var/lib/cpy/state.json')).toBe('{"schemaVersion": 2, "installs": {}, "previous": null}\n');
      expect(await i.list('usr/local/bin')).toEqual([]);
    },
  },
  // Types count: install.sh read every value as text, and rewrote such a file as if it were right.
  ...[
    ['its schemaVersion the text "1"', '{"schemaVersion": "1", "installs": {}, "previous": null}\n'],
    ['a previous that is a number', '{"schemaVersion": 1, "installs": {}, "previous": 5}\n'],
    ['a prefix that is null', '{"schemaVersion": 1, "installs": {"3.9.1": {"prefix": null}}, "previous": null}\n'],
  ].map(
    ([what, text]): Case => ({
      name: `a state.json of the right shape but ${what}: CPY_INSTALL_BROKEN, the file left as it was`,
      options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
      before: (i) => i.write('var/lib/cpy/state.json', text!),
      expected: { code: 'CPY_INSTALL_BROKEN' },
      after: async (i) => {
        expect(await i.read('var/lib/cpy/state.json')).toBe(text);
        expect(await i.list('usr/local/bin')).toEqual([]);
      },
    }),
  ),
  {
    name: 'lock: a live process holds the prefix lock: the installer says whom it waits for, and installs once it lets go',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    // Held for 5 s; as it lets go, the holder notes whether the prefix was there yet.
    before: (i) => holdLock(i, prefixLock(i, defaultPrefix()), `sleep 5; if [ -e "$ROOT/${defaultPrefix()}" ]; then echo early; else echo waited; fi >"$ROOT/lock-report"; rm -f "$L"`),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(i.waitedFor).toBe(`process ${holder.pid} on ${holder.host}`);
      expect(i.waitedOn).toBe(`${i.root}/${defaultPrefix()}`);
      expect(await i.read('lock-report')).toBe('waited\n');
      // Its own lock and the state lock released.
      expect(await i.list('var/lib/cpy/locks')).toEqual([]);
    },
  },
  {
    name: 'lock: a lock whose process is gone (same host) is taken over without waiting',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) => {
      const lock = prefixLock(i, defaultPrefix());
      expect(await i.sh(`mkdir -p "$(dirname "$ROOT/${lock}")" && printf '%s %s gone' "$(sh -c 'echo $$')" "$(uname -n)" >"$ROOT/${lock}"`)).toBe('');
    },
    expected: { status: 'installed' },
    after: async (i) => {
      expect(i.waitedFor).toBeNull();
      expect(await i.list('var/lib/cpy/locks')).toEqual([]);
    },
  },
  {
    // Its pid namespace is the installer's: the pid is judged here, as with a lock that names none.
    name: 'lock: a lock whose process is gone, on this host and in this pid namespace, is taken over without waiting',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) => {
      const lock = prefixLock(i, defaultPrefix());
      const ns = `"$(readlink /proc/self/ns/pid | tr -dc 0-9)"`;
      expect(await i.sh(`mkdir -p "$(dirname "$ROOT/${lock}")" && printf '%s %s/%s gone' "$(sh -c 'echo $$')" "$(uname -n)" ${ns} >"$ROOT/${lock}"`)).toBe('');
      expect(await i.read(lock)).toMatch(/^\d+ \S+\/\d+ gone$/);
    },
    expected: { status: 'installed' },
    after: async (i) => {
      expect(i.waitedFor).toBeNull();
      expect(await i.list('var/lib/cpy/locks')).toEqual([]);
    },
  },
  {
    // Containers that share a host name (host networking) and a state volume do not share pids:
    // a pid gone here may be a live install there.
    name: 'lock: a lock from another pid namespace on this host is waited for, never taken over, though its pid is gone here',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true, lockTimeoutMs: 2000 }),
    before: async (i) => {
      const lock = prefixLock(i, defaultPrefix());
      const out = await i.sh(`mkdir -p "$(dirname "$ROOT/${lock}")" && printf '%s %s/1 elsewhere' "$(sh -c 'echo $$')" "$(uname -n)" >"$ROOT/${lock}" && cat "$ROOT/${lock}"`);
      const [pid, where] = (out ?? '').split(' ');
      holder = { pid: pid!, host: where!.split('/')[0]!, lock, path: `${i.root}/${lock}`, text: out! };
    },
    expected: { code: 'CPY_INSTALL_LOCKED' },
    message: () => `another install holds ${holder.path} (process ${holder.pid} on ${holder.host})`,
    after: async (i) => {
      expect(i.waitedFor).toBe(`process ${holder.pid} on ${holder.host}`);
      expect(await i.read(holder.lock)).toBe(holder.text);
      await nothingInstalled(i);
    },
  },
  {
    name: 'installPrefix a mount point (a volume mounted there, empty): refused before anything is fetched, naming it (it failed with no code once all was unpacked)',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true, installPrefix: 'small' }),
    before: async (i) => {
      await i.smallDisk('small', 8 * MiB);
      requestsBefore = mirror.requests.length;
    },
    expected: { code: 'CPY_INSTALL_PREFIX_MOUNTED' },
    after: async (i) => {
      expect(i.lastError).toBe(`${i.root}/small is a mount point (a volume or a disk mounted there): cpy puts its tree in place with a rename from beside it, which a mount point does not allow`);
      expect(requestedSince()).toEqual([]);
      expect(await i.list('small')).toEqual([]);
      expect(await i.list('usr/local/bin')).toEqual([]);
    },
  },
  {
    // The library checks the room before it unpacks, from the metadata (ensureSpace); install.sh's
    // one pass unpacks as it reads, then checks the room there was before it began.
    name: 'disk: room for the tree but not for the margin (its bytes x 1.05 + 16 MiB): CPY_INSTALL_DISK_FULL, naming both; nothing left there',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true, installPrefix: 'small/python' }),
    before: (i) => i.smallDisk('small', smallDiskMiB() * MiB),
    expected: { code: 'CPY_INSTALL_DISK_FULL' },
    after: async (i) => {
      expect(i.readOnce).not.toBe(false);
      const need = Math.ceil((good.metadata.contents.bytes * 105) / 100) + 16 * MiB;
      expect(i.lastError).toBe(`${i.root}/small has ${smallDiskMiB()} MiB free; the install needs ${(need / MiB).toFixed(0)} MiB`);
      expect(await i.list('small')).toEqual([]);
      expect(await i.list('usr/local/bin')).toEqual([]);
    },
  },
  ...[
    { how: 'a local path', from: () => good.path },
    { how: 'over http', from: () => U['http']! },
  ].map(
    ({ how, from }): Case => ({
      // The library checks the room before it unpacks; install.sh's one pass meets the full disk
      // first, and then says it as the library does, from the metadata it unpacked first.
      name: `disk: less room than the tree's bytes (${how}): CPY_INSTALL_DISK_FULL, naming the room and the need; nothing left there`,
      options: () => ({ artifactUrl: from(), skipValidation: true, installPrefix: 'small/python' }),
      before: (i) => i.smallDisk('small', 8 * MiB),
      expected: { code: 'CPY_INSTALL_DISK_FULL' },
      after: async (i) => {
        const need = Math.ceil((good.metadata.contents.bytes * 105) / 100) + 16 * MiB;
        expect(i.lastError).toBe(`${i.root}/small has 8 MiB free; the install needs ${(need / MiB).toFixed(0)} MiB`);
        expect(await i.list('small')).toEqual([]);
      },
    }),
  ),
  ...[
    { how: 'a local path', from: () => good.path },
    { how: 'over http', from: () => U['http']! },
  ].map(
    ({ how, from }): Case => ({
      // The room is checked in bytes; the files run out while the one pass unpacks: the disk is
      // the error, not a damaged artifact (which is what both installers said before).
      name: `disk: room for the bytes but not for the files (${how}): CPY_INSTALL_DISK_FULL, naming a file it could not write; nothing left there`,
      options: () => ({ artifactUrl: from(), skipValidation: true, installPrefix: 'small/python' }),
      before: (i) => i.smallDisk('small', 256 * MiB, { inodes: 400 }),
      expected: { code: 'CPY_INSTALL_DISK_FULL' },
      after: async (i) => {
        // In the staging tree beside the prefix, under the tree's root: the first file (or directory) that found no inode.
        const under = `${literal(`${i.root}/small/.cpy-staging-python-`)}[^/]+${literal(good.metadata.prefix)}/\\S+`;
        expect(i.lastError).toMatch(new RegExp(`^cannot write ${under}: no space left on its disk$`));
        expect(await i.list('small')).toEqual([]);
        expect(await i.list('usr/local/bin')).toEqual([]);
        // The library's cache records the verified artifact (it was left there unrecorded): the next
        // run, once there is room, installs from it, offline too. (install.sh keeps no cache.)
        if (i.name === '@cpy/install') expect(await i.list('cache')).toEqual(expect.arrayContaining([`${good.sha256}.json`, `${good.sha256}.tgz`]));
      },
    }),
  ),
  {
    // After the room was checked, another writer fills the disk as the tree is relocated: the
    // python3's own [Errno 28] is the disk's, not a failed relocation (whose hint is about the artifact).
    name: 'disk: fills up as the unpacked tree is relocated: CPY_INSTALL_DISK_FULL, naming the staging directory; nothing of the install left there',
    options: () => ({ artifactUrl: U['fills']!, skipValidation: true, installPrefix: 'small/python' }),
    before: (i) => i.smallDisk('small', (smallDiskMiB() + 32) * MiB),
    expected: { code: 'CPY_INSTALL_DISK_FULL' },
    after: async (i) => {
      expect(i.lastError).toMatch(new RegExp(`^cannot write ${literal(`${i.root}/small/.cpy-staging-python-`)}[^/]+(/\\S+)?: no space left on its disk$`));
      expect(await i.list('small')).toEqual(['filler']);
      expect(await i.list('usr/local/bin')).toEqual([]);
      expect(await i.read('var/lib/cpy/state.json')).toBeNull();
    },
  },
  {
    // Its disk full from the start: the first lock (the prefix's) cannot be written. The disk's
    // error, not a lock someone holds.
    name: "disk: the state directory's is full: CPY_INSTALL_DISK_FULL naming the locks' directory, not CPY_INSTALL_LOCKED; nothing installed",
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async (i) => {
      await i.smallDisk('var/lib/cpy', 64 * 1024);
      await i.sh('cat /dev/zero > "$ROOT/var/lib/cpy/filler" 2>/dev/null; true');
    },
    expected: { code: 'CPY_INSTALL_DISK_FULL' },
    after: async (i) => {
      expect(i.lastError).toBe(`cannot write ${i.root}/var/lib/cpy/locks: no space left on its disk`);
      expect(await i.list(defaultPrefix())).toEqual([]);
      expect(await i.list('var/lib/cpy/locks')).toEqual([]);
    },
  },
  {
    // The tree is in place when the record meets the full disk: the error says which disk, and
    // once there is room, the same install again records it.
    name: "disk: the state directory's fills up as the install is recorded: CPY_INSTALL_DISK_FULL naming it, the install in place; once there is room, the next run records it",
    options: () => ({ artifactUrl: U['fills-state']!, skipValidation: true }),
    before: (i) => i.smallDisk('var/lib/cpy', 256 * 1024),
    expected: { code: 'CPY_INSTALL_DISK_FULL' },
    after: async (i) => {
      expect(i.lastError).toBe(`cannot write ${i.root}/var/lib/cpy: no space left on its disk`);
      expect(await i.python(defaultPrefix(), 'print(1)')).toBe('1');
      expect(await i.read('var/lib/cpy/state.json')).toBeNull();
      expect(await i.sh('rm "$ROOT/var/lib/cpy/filler"')).not.toBeNull();
      expect(await i.install({ artifactUrl: U['fills-state']!, skipValidation: true })).toEqual({ status: 'already-installed' });
      expect(JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}')).toMatchObject({ installs: { [version]: { prefix: `${i.root}/${defaultPrefix()}` } } });
      expect(await i.sh('readlink "$ROOT/usr/local/bin/python3"')).toBe(`${i.root}/${defaultPrefix()}/bin/python3`);
    },
  },
  {
    name: 'disk: a prefix on a read-only file system: CPY_INSTALL_NOT_WRITABLE, naming it (or the staging directory the library could not make in it); nothing installed',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true, installPrefix: 'ro/python' }),
    before: (i) => i.smallDisk('ro', 256 * MiB, { readOnly: true }),
    expected: { code: 'CPY_INSTALL_NOT_WRITABLE' },
    after: async (i) => {
      // The library names the staging directory it could not make in it; install.sh, mktemp's directory.
      expect(i.lastError).toMatch(new RegExp(`^cannot write ${literal(i.root)}/ro(/\\.cpy-staging-python-[^/]+)?: its file system is read-only$`));
      expect(await i.list('usr/local/bin')).toEqual([]);
    },
  },
  {
    name: 'lock: a live process holds the state lock: a new install says whom it waits for and on what, and records itself once it lets go',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    // Held until the install has put its prefix in place (it then asks for the state lock at once), and 3 s more.
    before: (i) => holdLock(i, 'var/lib/cpy/locks/state.lock', `n=0; while [ ! -e "$ROOT/${defaultPrefix()}" ] && [ $n -lt 900 ]; do sleep 0.1; n=$((n + 1)); done; sleep 3; rm -f "$L"`),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(i.waitedFor).toBe(`process ${holder.pid} on ${holder.host}`);
      expect(i.waitedOn).toBe(`${i.root}/var/lib/cpy`);
      expect(JSON.parse((await i.read('var/lib/cpy/state.json')) ?? '{}')).toMatchObject({ installs: { [version]: { prefix: `${i.root}/${defaultPrefix()}` } } });
      expect(await i.sh('readlink "$ROOT/usr/local/bin/python3"')).toBe(`${i.root}/${defaultPrefix()}/bin/python3`);
      expect(await i.list('var/lib/cpy/locks')).toEqual([]);
    },
  },
  {
    name: 'lock: already installed, current, its links right: returns at once, without waiting for a live holder of the state lock',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true, lockTimeoutMs: 3000 }),
    before: async (i) => {
      expect(await i.install({ artifactUrl: U['http']!, skipValidation: true })).toEqual({ status: 'installed' });
      await holdLock(i, 'var/lib/cpy/locks/state.lock', 'exec sleep 60');
    },
    expected: { status: 'already-installed' },
    after: async (i) => {
      expect(i.waitedFor).toBeNull();
      expect(await i.read('var/lib/cpy/locks/state.lock')).toBe(holder.text);
      expect(await i.sh(`kill ${holder.pid}`)).toBe('');
    },
  },
  {
    // A run killed, then its container started again on the same volume: its pid is another
    // process's now (alive), which started at another time.
    name: 'lock: a lock whose pid is now another process (another start: handed on by a restart) is taken over without waiting',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true, lockTimeoutMs: 5000 }),
    before: (i) => holdLock(i, prefixLock(i, defaultPrefix()), 'exec sleep 60', '1@00000000-0000-4000-8000-000000000000'),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await i.sh(`kill ${holder.pid}`)).toBe('');
      expect(i.waitedFor).toBeNull();
      expect(await i.list('var/lib/cpy/locks')).toEqual([]);
    },
  },
  {
    // A library killed as it created the lock (before 2026-12-02 it created the file, then wrote
    // it) left it empty: no holder to ask about, so it counts as abandoned once a minute old.
    name: 'lock: an empty lock file older than a minute is taken over without waiting',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true, lockTimeoutMs: 3000 }),
    before: async (i) => {
      const lock = prefixLock(i, defaultPrefix());
      expect(await i.sh(`mkdir -p "$(dirname "$ROOT/${lock}")" && : >"$ROOT/${lock}" && touch -d '2 minutes ago' "$ROOT/${lock}"`)).toBe('');
    },
    expected: { status: 'installed' },
    after: async (i) => {
      expect(i.waitedFor).toBeNull();
      expect(await i.list('var/lib/cpy/locks')).toEqual([]);
    },
  },
  {
    name: 'lock: a directory where the prefix lock goes: CPY_INSTALL_LOCKED at once, nothing installed',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true, lockTimeoutMs: 600_000 }),
    before: async (i) => {
      const lock = prefixLock(i, defaultPrefix());
      expect(await i.sh(`mkdir -p "$ROOT/${lock}"`)).toBe('');
    },
    expected: { code: 'CPY_INSTALL_LOCKED' },
    after: nothingInstalled,
  },
  {
    name: 'lock: a live holder that does not let go: CPY_INSTALL_LOCKED after the timeout, naming the lock and its holder; nothing installed',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true, lockTimeoutMs: 1500 }),
    before: (i) => holdLock(i, prefixLock(i, defaultPrefix()), 'exec sleep 60'),
    expected: { code: 'CPY_INSTALL_LOCKED' },
    message: () => `another install holds ${holder.path} (process ${holder.pid} on ${holder.host})`,
    after: async (i) => {
      expect(await i.sh(`kill ${holder.pid}`)).toBe('');
      expect(i.waitedFor).toBe(`process ${holder.pid} on ${holder.host}`);
      await nothingInstalled(i);
      // The holder's lock is not touched.
      expect(await i.read(holder.lock)).toBe(holder.text);
    },
  },
  // Signed artifacts and index: with signers pinned, the index (or, without one, the artifact) must
  // carry a signature by a pinned key, checked before anything is extracted (gpgv in install.sh,
  // @cpy/signing in the library).
  {
    name: 'signed: an index signed by the pinned key (cpy-keys.asc beside it): installed; its entry vouches for the artifact, whose .asc is not fetched',
    wget: true,
    options: () => ({ version: '3.11', indexUrl: U['sindex']!, signerFingerprints: K.alice.fingerprint.toLowerCase(), skipValidation: true }),
    before: async () => void (requestsBefore = mirror.requests.length),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: I.d12.fileName, signedBy: K.alice.fingerprint });
      expect(requestedSince()).toEqual(expect.arrayContaining(['/ftp/python/sindex/index.json.asc', '/ftp/python/sindex/cpy-keys.asc', `/ftp/python/d12/${I.d12.fileName}`]));
      expect(requestedSince().filter((p) => p.endsWith(`${I.d12.fileName}.asc`))).toEqual([]);
    },
  },
  {
    name: 'signed: a build installed before the pin counts once its signature is checked, and its marker then names the signer',
    options: () => ({ version: '3.11', indexUrl: U['sindex']!, signerFingerprints: K.alice.fingerprint, skipValidation: true }),
    before: async (i) => {
      expect(await i.install({ version: '3.11', indexUrl: U['sindex']!, skipValidation: true })).toEqual({ status: 'installed' });
      expect((await markerOf(i, defaultPrefix())) as { signedBy?: string }).not.toHaveProperty('signedBy');
      requestsBefore = mirror.requests.length;
    },
    expected: { status: 'already-installed' },
    after: async (i) => {
      expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: I.d12.fileName, signedBy: K.alice.fingerprint });
      expect(requestedSince()).toContain('/ftp/python/sindex/index.json.asc');
    },
  },
  {
    name: 'signed: an index older than the one read at its address before (rolled back, validly signed): CPY_INSTALL_INDEX_ROLLED_BACK; once its record is deleted, it is read',
    options: () => ({ version: '3.11', indexUrl: mirror.fileUrl('roll', 'index.json'), signerFingerprints: K.alice.fingerprint, skipValidation: true }),
    before: async (i) => {
      rollTo('new');
      expect(await i.install({ version: '3.11', indexUrl: mirror.fileUrl('roll', 'index.json'), signerFingerprints: K.alice.fingerprint, skipValidation: true })).toEqual({ status: 'installed' });
      rollTo('old');
    },
    expected: { code: 'CPY_INSTALL_INDEX_ROLLED_BACK' },
    message: () =>
      `the index ${mirror.fileUrl('roll', 'index.json')} was updated at ${new Date(INDEX_UPDATED_AT).toISOString()}, before the signed index this machine read there last (updated at ${new Date(ROLLED_FROM).toISOString()}): an older index is served in its place`,
    after: async (i) => {
      const url = mirror.fileUrl('roll', 'index.json');
      const record = `var/lib/cpy/indexes/${createHash('sha256').update(url).digest('hex').slice(0, 16)}.seen`;
      expect(await i.read(record)).toBe(`${new Date(ROLLED_FROM).toISOString()}\n${url}\n`);
      expect(await i.sh(`rm "$ROOT/${record}"`)).toBe('');
      expect(await i.install({ version: '3.11', indexUrl: url, signerFingerprints: K.alice.fingerprint, skipValidation: true })).toEqual({ status: 'already-installed' });
      expect(await i.read(record)).toBe(`${new Date(INDEX_UPDATED_AT).toISOString()}\n${url}\n`);
    },
  },
  {
    // Two installs reading the index at once: the one that read the older index must not write its
    // record over the newer one. The record changes only under its lock and is read again there.
    name: 'signed: a newer index recorded while this install waited for the record lock: read again under the lock, this older index is CPY_INSTALL_INDEX_ROLLED_BACK',
    options: () => ({ version: '3.11', indexUrl: mirror.fileUrl('roll', 'index.json'), signerFingerprints: K.alice.fingerprint, skipValidation: true }),
    before: async (i) => {
      rollTo('old');
      const url = mirror.fileUrl('roll', 'index.json');
      const record = `var/lib/cpy/indexes/${createHash('sha256').update(url).digest('hex').slice(0, 16)}.seen`;
      // Another install holds the record's lock until 1 s after this one has fetched the index's
      // signature and keys (it reads the record and waits for the lock by then), then records the
      // newer index it read, and lets go. (An installer slower than that reads the newer record
      // first, and refuses as well.)
      await holdLock(i, `${record}.lock`, `n=0; while [ ! -e "$ROOT/index-read" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done; sleep 1; printf '%s\\n%s\\n' '${new Date(ROLLED_FROM).toISOString()}' '${url}' >"$ROOT/${record}"; rm -f "$L"`);
      const from = mirror.requests.length;
      const read = () => ['/ftp/python/roll/index.json.asc', '/ftp/python/roll/cpy-keys.asc'].every((p) => mirror.requests.slice(from).some((r) => r.path === p));
      // Awaited in `after`: it ends once the installer has fetched them (the holder gives up after 60 s).
      indexReadFlag = (async () => {
        for (let n = 0; n < 3000 && !read(); n++) await sleep(20);
        await i.sh('touch "$ROOT/index-read"');
      })();
    },
    expected: { code: 'CPY_INSTALL_INDEX_ROLLED_BACK' },
    message: () =>
      `the index ${mirror.fileUrl('roll', 'index.json')} was updated at ${new Date(INDEX_UPDATED_AT).toISOString()}, before the signed index this machine read there last (updated at ${new Date(ROLLED_FROM).toISOString()}): an older index is served in its place`,
    after: async (i) => {
      await indexReadFlag;
      const url = mirror.fileUrl('roll', 'index.json');
      const record = `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.seen`;
      expect(await i.read(`var/lib/cpy/indexes/${record}`)).toBe(`${new Date(ROLLED_FROM).toISOString()}\n${url}\n`);
      expect(await i.list('var/lib/cpy/indexes')).toEqual([record]);
      // It said whom it waited for, and on what (the record), as for any lock.
      expect(i.waitedFor).toBe(`process ${holder.pid} on ${holder.host}`);
      expect(i.waitedOn).toBe(`${i.root}/var/lib/cpy/indexes/${record}`);
      await nothingInstalled(i);
    },
  },
  {
    // The record only guards against going back: an install does not stop for want of it.
    name: 'signed: the index record cannot be locked (a directory in the lock\'s place): installed, the record not written',
    options: () => ({ version: '3.11', indexUrl: mirror.fileUrl('roll', 'index.json'), signerFingerprints: K.alice.fingerprint, skipValidation: true }),
    before: async (i) => {
      rollTo('old');
      const record = `var/lib/cpy/indexes/${createHash('sha256').update(mirror.fileUrl('roll', 'index.json')).digest('hex').slice(0, 16)}.seen`;
      expect(await i.sh(`mkdir -p "$ROOT/${record}.lock"`)).toBe('');
    },
    expected: { status: 'installed' },
    after: async (i) => {
      const record = `${createHash('sha256').update(mirror.fileUrl('roll', 'index.json')).digest('hex').slice(0, 16)}.seen`;
      expect(await i.list('var/lib/cpy/indexes')).toEqual([`${record}.lock`]);
      expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: I.d12.fileName, signedBy: K.alice.fingerprint });
    },
  },
  {
    name: 'signed: index.json answers 404 while a publish swaps it: index.previous.json is verified against index.previous.json.asc',
    options: () => ({ version: '3.11', indexUrl: mirror.fileUrl('sswap', 'index.json'), signerFingerprints: K.alice.fingerprint, skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: I.d12.fileName, signedBy: K.alice.fingerprint }),
  },
  {
    name: 'signed: index.json answers 404 and index.previous.json is signed by a key not pinned: its refusal is said by both (install.sh said "index not found")',
    options: () => ({ version: '3.11', indexUrl: mirror.fileUrl('sswapbad', 'index.json'), signerFingerprints: K.alice.fingerprint, skipValidation: true }),
    expected: { code: 'CPY_SIGNATURE_UNTRUSTED' },
    after: nothingInstalled,
  },
  {
    name: 'signed: an artifact given by URL, with its .asc and trustedKeysUrl: installed and validated',
    wget: true,
    options: () => ({ artifactUrl: U['signed']!, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: U['keys']! }),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: good.fileName, sha256: good.sha256, signedBy: K.alice.fingerprint });
      expect(await i.python(defaultPrefix(), 'import ssl; print("ok")')).toBe('ok');
    },
  },
  {
    name: 'signed: python3 replaced and the .sha256 regenerated: the signature does not match (refused before extraction)',
    options: () => ({ artifactUrl: U['trojan']!, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: U['keys']! }),
    expected: { code: 'CPY_SIGNATURE_INVALID' },
    after: nothingInstalled,
  },
  {
    name: 'signed: no .asc beside the artifact (its sha256 given does not replace the signature): refused before the download, the tarball never asked for (it was downloaded whole first)',
    options: () => ({ artifactUrl: U['http']!, sha256: good.sha256, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: U['keys']! }),
    before: async () => void (requestsBefore = mirror.requests.length),
    expected: { code: 'CPY_SIGNATURE_MISSING' },
    after: async (i) => {
      await nothingInstalled(i);
      expect(requestedSince().filter((p) => p === new URL(U['http']!).pathname)).toEqual([]);
    },
  },
  {
    name: 'signed: by the pinned key and by another whose public key is not in the keys file (a rotation): installed on the pinned key\'s signature (install.sh refused it)',
    options: () => ({ artifactUrl: U['twosigs']!, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: U['alicekeys']!, skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => expect(await markerOf(i, defaultPrefix())).toMatchObject({ signedBy: K.alice.fingerprint }),
  },
  {
    name: 'signed: by the pinned key, dated six hours ahead of this clock: refused as from the future (install.sh took it)',
    options: () => ({ artifactUrl: U['futuresig']!, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: U['keys']! }),
    expected: { code: 'CPY_SIGNATURE_INVALID' },
    message: () => expect.stringMatching(/^the signature of cpython-\S+ claims to be made in the future \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z\)$/) as unknown as string,
    after: nothingInstalled,
  },
  {
    name: 'signed: the .asc is the artifact itself (17 MB): refused as no signature, by both; the library stops reading it past 1 MiB',
    options: () => ({ artifactUrl: U['bigsig']!, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: U['keys']! }),
    expected: { code: 'CPY_SIGNATURE_INVALID' },
    after: async (i) => {
      // (The library said "the file is empty" of it.)
      if (i.name === '@cpy/install') expect(i.lastError).toMatch(/is larger than 1 MiB: it is no detached signature/);
      await nothingInstalled(i);
    },
  },
  {
    name: 'signed: by a key that is in the keys file but not pinned',
    options: () => ({ artifactUrl: U['mallory']!, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: U['keys']! }),
    expected: { code: 'CPY_SIGNATURE_UNTRUSTED' },
    after: nothingInstalled,
  },
  {
    name: 'signed: the keys file holds another key than the pinned one',
    options: () => ({ artifactUrl: U['signed']!, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: U['wrongkeys']! }),
    expected: { code: 'CPY_SIGNATURE_UNTRUSTED' },
    after: nothingInstalled,
  },
  {
    name: 'signed: made after the key expired (the same key material, its self-signature renewed)',
    options: () => ({ artifactUrl: U['late']!, signerFingerprints: K.old.fingerprint, trustedKeysUrl: U['oldkeys']! }),
    expected: { code: 'CPY_SIGNATURE_KEY_NOT_VALID' },
    after: nothingInstalled,
  },
  {
    name: 'signed: made after the key expired, the keys file holding the expired copy then the renewed one: installed by both (install.sh read the first copy alone)',
    options: () => ({ artifactUrl: U['late']!, signerFingerprints: K.old.fingerprint, trustedKeysUrl: U['renewedkeys']!, skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => expect((await markerOf(i, defaultPrefix())).signedBy).toBe(K.old.fingerprint),
  },
  {
    name: 'signed: before its key was revoked as superseded: refused by both, as gpgv refuses it (the library took it, as OpenPGP keeps it)',
    options: () => ({ artifactUrl: U['revsigned']!, signerFingerprints: K.rev.fingerprint, trustedKeysUrl: U['revsoftkeys']! }),
    expected: { code: 'CPY_SIGNATURE_KEY_NOT_VALID' },
    message: () => `${good.fileName} is signed by ${K.rev.fingerprint}, whose key has been revoked`,
    after: nothingInstalled,
  },
  {
    name: 'signed: before its key was revoked as compromised: refused, said as a revocation (the library said the key was not valid when it signed)',
    options: () => ({ artifactUrl: U['revsigned']!, signerFingerprints: K.rev.fingerprint, trustedKeysUrl: U['revhardkeys']! }),
    expected: { code: 'CPY_SIGNATURE_KEY_NOT_VALID' },
    message: () => `${good.fileName} is signed by ${K.rev.fingerprint}, whose key has been revoked`,
    after: nothingInstalled,
  },
  {
    name: 'signed: a keys file with a copy of the key from before its revocation, then the revoked copy: refused (the first copy does not vouch for it)',
    options: () => ({ artifactUrl: U['revsigned']!, signerFingerprints: K.rev.fingerprint, trustedKeysUrl: U['revstalekeys']! }),
    expected: { code: 'CPY_SIGNATURE_KEY_NOT_VALID' },
    after: nothingInstalled,
  },
  {
    name: 'signed: an index entry changed after signing (pointing at the trojan)',
    options: () => ({ version: '3.11', indexUrl: U['tindex']!, signerFingerprints: K.alice.fingerprint }),
    before: async () => void (requestsBefore = mirror.requests.length),
    expected: { code: 'CPY_SIGNATURE_INVALID' },
    after: async (i) => {
      await nothingInstalled(i);
      expect(requestedSince().filter((p) => p.startsWith('/ftp/python/trojan/'))).toEqual([]);
    },
  },
  {
    name: 'signed: no signer pinned: an unsigned artifact installs as before, and no signature or keys file is asked for',
    options: () => ({ artifactUrl: U['http']!, skipValidation: true }),
    before: async () => void (requestsBefore = mirror.requests.length),
    expected: { status: 'installed' },
    after: async (i) => {
      expect(await markerOf(i, defaultPrefix())).not.toHaveProperty('signedBy');
      expect(requestedSince().filter((p) => p.endsWith('.asc'))).toEqual([]);
    },
  },
  {
    name: 'signed: a short key ID is not a fingerprint',
    options: () => ({ artifactUrl: U['signed']!, signerFingerprints: K.alice.fingerprint.slice(-16), trustedKeysUrl: U['keys']! }),
    expected: { code: 'CPY_SIGNER_INVALID' },
    message: () => `'${K.alice.fingerprint.slice(-16)}' is not a key fingerprint`,
    hint: () => 'pin the signer with the 40 hex digits `cpy keys export` prints (a short key ID is not enough)',
    after: nothingInstalled,
  },
  {
    // Both said to check the network.
    name: 'signed: an artifact whose .asc the server refuses (HTTP 403): access denied, said as such by both, before the artifact is fetched',
    options: () => ({ artifactUrl: mirror.fileUrl('denied-asc', good.fileName), signerFingerprints: K.alice.fingerprint, trustedKeysUrl: U['keys']! }),
    before: async () => {
      served(good, 'denied-asc');
      mirror.refuse(`denied-asc/${good.fileName}.asc`, 403);
    },
    expected: { code: 'CPY_INSTALL_DOWNLOAD_FAILED' },
    message: () => `cannot get the signature ${mirror.fileUrl('denied-asc', `${good.fileName}.asc`)}: HTTP 403, access denied`,
    hint: () => ACCESS_DENIED_HINT,
    after: async (i) => {
      expect(requestedSince().filter((p) => p.endsWith(`denied-asc/${good.fileName}`))).toEqual([]);
      await nothingInstalled(i);
    },
  },
  {
    name: 'signed: trusted keys the server refuses (HTTP 403): access denied, said as such by both (both said to check the network)',
    options: () => ({ artifactUrl: U['signed']!, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: mirror.fileUrl('denied-keys', 'cpy-keys.asc') }),
    before: async () => mirror.refuse('denied-keys/cpy-keys.asc', 403),
    expected: { code: 'CPY_INSTALL_TRUSTED_KEYS_UNAVAILABLE' },
    message: () => `cannot get the trusted keys ${mirror.fileUrl('denied-keys', 'cpy-keys.asc')}: HTTP 403, access denied`,
    hint: () => ACCESS_DENIED_HINT,
    after: nothingInstalled,
  },
  {
    // install.sh said the signerFingerprints option (not set) was malformed, CPY_INSTALL_BAD_OPTIONS.
    name: 'signed: CPY_SIGNER_FINGERPRINTS holding what is no fingerprint (0x..., another separator): that value named, by both',
    options: () => ({ artifactUrl: U['http']!, signerFingerprintsEnv: `0x${K.alice.fingerprint.slice(-16)};${K.alice.fingerprint}`, trustedKeysUrl: U['keys']! }),
    expected: { code: 'CPY_SIGNER_INVALID' },
    message: () => `'0x${K.alice.fingerprint.slice(-16)};${K.alice.fingerprint}' is not a key fingerprint`,
    hint: () => 'pin the signer with the 40 hex digits `cpy keys export` prints (a short key ID is not enough)',
    after: nothingInstalled,
  },
  {
    name: 'signed: an index signed while its key was valid, the key expired since: installed, with a warning saying so (the library said nothing)',
    options: () => ({ version: '3.11', indexUrl: U['oldindex']!, signerFingerprints: K.old.fingerprint, skipValidation: true }),
    expected: { status: 'installed' },
    after: async (i) => expect(i.warnings.join('\n')).toMatch(/expired/),
  },
  {
    name: 'signed: signers of commas only (a list whose items were left empty) pin nobody: refused, where no signature was checked before',
    options: () => ({ artifactUrl: U['http']!, signerFingerprints: ',,', trustedKeysUrl: U['keys']! }),
    expected: { code: 'CPY_SIGNER_INVALID' },
    message: () => "the pinned signers ',,' name no key fingerprint",
    after: nothingInstalled,
  },
  {
    name: 'signed: CPY_SIGNER_FINGERPRINTS written as gpg prints a fingerprint (groups of four): pinned, and the unsigned artifact refused',
    options: () => ({ artifactUrl: U['http']!, signerFingerprintsEnv: K.alice.fingerprint.replace(/(.{4})/g, '$1 ').trim(), trustedKeysUrl: U['keys']! }),
    expected: { code: 'CPY_SIGNATURE_MISSING' },
    after: nothingInstalled,
  },
  {
    name: 'signed: a keys file holding a private key is refused',
    options: () => ({ artifactUrl: U['signed']!, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: U['privkeys']! }),
    expected: { code: 'CPY_KEYS_INVALID' },
    after: nothingInstalled,
  },
  {
    name: 'signed: the keys file is not there',
    wget: true,
    options: () => ({ artifactUrl: U['signed']!, signerFingerprints: K.alice.fingerprint, trustedKeysUrl: mirror.fileUrl('nokeys', 'cpy-keys.asc') }),
    expected: { code: 'CPY_INSTALL_TRUSTED_KEYS_UNAVAILABLE' },
    after: nothingInstalled,
  },
  {
    name: 'signed: an artifact by URL with signers pinned, but no index and no trustedKeysUrl',
    options: () => ({ artifactUrl: U['signed']!, signerFingerprints: K.alice.fingerprint }),
    expected: { code: 'CPY_INSTALL_NO_TRUSTED_KEYS' },
    after: nothingInstalled,
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
  // Its first 60%, with a checksum made of those bytes: published damaged, so the sha256 matches.
  const truncated = join(work, 'truncated', good.fileName);
  await mkdir(dirname(truncated));
  const whole = await readFile(good.path);
  const part = whole.subarray(0, Math.floor(whole.length * 0.6));
  await writeFile(truncated, part);
  await writeFile(`${truncated}.sha256`, `${createHash('sha256').update(part).digest('hex')}  ${good.fileName}\n`);
  U['truncated'] = served({ ...good, path: truncated, checksumPath: `${truncated}.sha256` }, 'truncated');
  const otherSum = join(work, 'other.sha256');
  await writeFile(otherSum, `${good.sha256}  cpython-3.12.0-debian12-build1.tgz\n`);
  mirror.serve('other/other.sha256', otherSum);
  const pathSum = join(work, 'path.sha256');
  await writeFile(pathSum, `${good.sha256}  ./dist/artifacts/${good.fileName}\n`);
  mirror.serve('pathsum/good.sha256', pathSum);
  const glibc = await repackArtifact(good, join(work, 'glibc'), { metadata: (m) => ({ ...m, platform: { ...m.platform, glibcFloor: '9.99' } }) });
  U['glibc'] = served(glibc, 'glibc');
  const arch = await repackArtifact(good, join(work, 'arch'), { metadata: (m) => ({ ...m, platform: { ...m.platform, arch: 'riscv64' } }) });
  U['arch'] = served(arch, 'arch');
  const m = good.metadata;
  const aarch64 = await repackArtifact(good, join(work, 'aarch64'), {
    fileName: artifactFileName({ version: m.version, os: m.platform.os, osVersion: m.platform.osVersion, arch: 'aarch64', build: 7 }),
    metadata: (x) => ({ ...x, build: 7, platform: { ...x.platform, arch: 'aarch64' } }),
  });
  U['aarch64'] = served(aarch64, 'aarch64');
  const noscript = await repackArtifact(good, join(work, 'noscript'), { drop: (name) => name.endsWith(`/${POSTINSTALL_ENTRY}`) });
  U['noscript'] = served(noscript, 'noscript');
  // No _ssl, and a share/cpy/postinstall.py that relocates as cpy's does and whose check passes anything.
  const passAll = (await readFile(POSTINSTALL_SOURCE, 'utf8')).replace(
    'def check(args):\n',
    'def check(args):\n    import json, platform\n    print(json.dumps({"version": platform.python_version(), "failed": [], "checks": []}))\n    return 0\n\n\ndef _real_check(args):\n',
  );
  const fakechecks = await repackArtifact(good, join(work, 'fakechecks'), {
    drop: (name) => name.endsWith(`/${POSTINSTALL_ENTRY}`) || /\/lib-dynload\/_ssl\./.test(name),
    append: [{ name: `${good.metadata.prefix.slice(1)}/${POSTINSTALL_ENTRY}`, body: passAll }],
  });
  U['fakechecks'] = served(fakechecks, 'fakechecks');
  const liar = await repackArtifact(good, join(work, 'liar'), { version: '3.99.1' });
  U['liar'] = served(liar, 'liar');
  const badbuild = await repackArtifact(good, join(work, 'badbuild'), {
    fileName: good.fileName.replace(/-build\d+\.tgz$/, '-build9.tgz'),
    metadata: (m) => ({ ...m, build: `1,\n  "signedBy": "${'A'.repeat(40)}"` as unknown as number }),
  });
  U['badbuild'] = served(badbuild, 'badbuild');
  // Its metadata says a quarter of the bytes its tree holds (a hand-edited or another packer's).
  const understated = await repackArtifact(good, join(work, 'understated'), { metadata: (m) => ({ ...m, contents: { ...m.contents, bytes: Math.floor(m.contents.bytes / 4) } }) });
  U['understated'] = served(understated, 'understated');
  // Its first entry, the metadata, padded past 1 MiB (the .json beside it as it was).
  const heavy = await repackArtifact(good, join(work, 'heavy'), { padMetadata: 2 * 1024 * 1024 });
  U['heavy'] = served(heavy, 'heavy');
  const root = good.metadata.prefix.slice(1);
  const dotdot = await repackArtifact(good, join(work, 'dotdot'), { append: [{ name: `${root}/../../evil.txt`, body: 'x' }] });
  U['dotdot'] = served(dotdot, 'dotdot');
  const symlink = await repackArtifact(good, join(work, 'symlink'), { append: [{ name: `${root}/lib/escape`, type: 'symlink', linkname: '../../../../etc' }] });
  U['symlink'] = served(symlink, 'symlink');
  const tabbed = await repackArtifact(good, join(work, 'tabbed'), { append: [{ name: `${root}/lib/a\tb`, type: 'symlink', linkname: '../../etc' }] });
  U['tabbed'] = served(tabbed, 'tabbed');
  const hardlink = await repackArtifact(good, join(work, 'hardlink'), { append: [{ name: `${root}/lib/twin`, type: 'link', linkname: `${root}/${POSTINSTALL_ENTRY}` }] });
  U['hardlink'] = served(hardlink, 'hardlink');
  // lib/d/s -> ../.. is the tree; lib/d/l -> s/../../etc is lib/etc on paper, and beside the tree followed.
  const chained = await repackArtifact(good, join(work, 'chained'), {
    append: [
      { name: `${root}/lib/d/s`, type: 'symlink', linkname: '../..' },
      { name: `${root}/lib/d/l`, type: 'symlink', linkname: 's/../../etc' },
    ],
  });
  U['chained'] = served(chained, 'chained');
  // A target holding a newline: to a reader of link/target lines, "a" and a link named
  // "../../../../etc" with no target. The tree's other links are left out, so that it is the last.
  const newline = await repackArtifact(good, join(work, 'newline'), {
    drop: (_name, type) => type === 'symlink',
    append: [{ name: `${root}/lib/zz`, type: 'symlink', linkname: 'a\n../../../../etc' }],
  });
  U['newline'] = served(newline, 'newline');
  const fifo = await repackArtifact(good, join(work, 'fifo'), { append: [{ name: `${root}/lib/pipe`, type: 'fifo' }] });
  U['fifo'] = served(fifo, 'fifo');
  const through = await repackArtifact(good, join(work, 'through'), {
    append: [
      { name: `${root}/lib/escape`, type: 'symlink', linkname: '../../../../tmp' },
      { name: `${root}/lib/escape/cpy-pwned`, body: 'x' },
    ],
  });
  U['through'] = served(through, 'through');

  // The index: debian11 and debian12 builds of 3.11.2 and of a newer version (the debian11 ones
  // need libssl1.1, as a bullseye build does), each served with its .sha256 and .json.
  const d11Metadata = (m: ArtifactMetadata): ArtifactMetadata => ({
    ...m,
    platform: { ...m.platform, os: 'debian', osVersion: '11', glibcFloor: '2.31' },
    runtime: { ...m.runtime, needs: [{ soname: 'libssl.so.1.1', packages: ['libssl1.1'], usedBy: [`lib/python${version.split('.').slice(0, 2).join('.')}/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so`] }] },
  });
  const d12Metadata = (m: ArtifactMetadata): ArtifactMetadata => ({ ...m, platform: { ...m.platform, os: 'debian', osVersion: '12' } });
  I.d12 = await repackArtifact(good, join(work, 'd12'), { metadata: d12Metadata });
  I.d11 = await repackArtifact(good, join(work, 'd11'), { metadata: d11Metadata });
  I.d12new = await repackArtifact(good, join(work, 'd12new'), { version: NEWER, metadata: d12Metadata });
  I.d11new = await repackArtifact(good, join(work, 'd11new'), { version: NEWER, metadata: d11Metadata });
  const entry = async (name: keyof typeof I): Promise<IndexEntry> => {
    const a = I[name];
    const url = served(a, name);
    U[name] = url;
    return indexEntryFor(a.metadata, { file: a.fileName, url, sha256: a.sha256, size: (await stat(a.path)).size, publishedAt: new Date(1_700_000_000_000) });
  };
  const entries = { d11: await entry('d11'), d12: await entry('d12'), d11new: await entry('d11new'), d12new: await entry('d12new') };
  const writeIndex = async (dir: string, file: string, artifacts: IndexEntry[], schemaVersion?: number, updatedAt = new Date(INDEX_UPDATED_AT)) => {
    const path = join(work, 'index', dir, file);
    await mkdir(dirname(path), { recursive: true });
    const text = serializeIndex({ ...emptyIndex(updatedAt), artifacts });
    await writeFile(path, schemaVersion ? text.replace('"schemaVersion": 2', `"schemaVersion": ${schemaVersion}`) : text);
    mirror.serve(`${dir}/${file}`, path);
    return mirror.fileUrl(dir, file);
  };
  // debian11 first: the order the builds are tried in is the resolver's, not the file's.
  const all = [entries.d11, entries.d12, entries.d11new, entries.d12new];
  U['index'] = await writeIndex('index', 'index.json', all);
  await writeIndex('swap', 'index.previous.json', all);
  U['nofit'] = await writeIndex('nofit', 'index.json', [entries.d11]);
  // Only a release candidate of a line (3.15 before 3.15.0 is out); never downloaded.
  U['preonly'] = await writeIndex('preonly', 'index.json', [{ ...entries.d12, version: '3.15.0rc1', file: entries.d12.file.replace(/cpython-[^-]+-/, 'cpython-3.15.0rc1-') }]);
  // The good artifact under the name of another version (renamed by hand).
  mirror.serve(`renamed/${RENAMED}`, good.path);
  mirror.serve(`renamed-build/${REBUILT()}`, good.path);
  mirror.serve(`x86-named/${X86_NAMED()}`, good.path);
  // An index whose entry says another build number than the artifact it lists holds.
  U['wrongbuild'] = await writeIndex('wrongbuild', 'index.json', [{ ...entries.d12, build: 7 }]);
  // An index whose build's release was deleted (the artifact answers 404).
  U['gone'] = await writeIndex('gone', 'index.json', [{ ...entries.d12, url: mirror.fileUrl('gone-assets', I.d12.fileName) }]);
  // The builds of one version deprecated by newer ones (retention), another version active.
  U['deprecated'] = await writeIndex('deprecated', 'index.json', [{ ...entries.d11, state: 'deprecated' }, { ...entries.d12, state: 'deprecated' }, entries.d12new]);
  U['future'] = await writeIndex('future', 'index.json', all, 3);
  // An entry whose needs hold an empty one, then a package named like an apt option: not a cpy
  // index (install.sh's check once stopped at the first need with neither soname nor packages).
  const hostile = JSON.parse(serializeIndex({ ...emptyIndex(new Date(INDEX_UPDATED_AT)), artifacts: [entries.d12] })) as { artifacts: { needs: unknown[] }[] };
  hostile.artifacts[0]!.needs = [{}, { soname: 'libcpy-x.so.1', packages: ['-oAPT::Get::X=1'], modules: [], group: 'critical' }];
  const hostilePath = join(work, 'index', 'badneeds', 'index.json');
  await mkdir(dirname(hostilePath), { recursive: true });
  await writeFile(hostilePath, JSON.stringify(hostile, null, 2));
  mirror.serve('badneeds/index.json', hostilePath);
  U['badneeds'] = mirror.fileUrl('badneeds', 'index.json');

  // Signing, with keys made here. Alice is pinned; Mallory's key sits in the same keys file,
  // unpinned; Old expired 20 days ago, and signs today through a renewed self-signature
  // (reformatKey: the same key material, so the same fingerprint) while the published copy of
  // its public key says it expired.
  K.alice = await generateSigningKey({ name: 'cpy test signer', email: 'signer@example.org' });
  K.mallory = await generateSigningKey({ name: 'Mallory', email: 'mallory@example.org' });
  const created = new Date(Date.now() - 30 * 86_400_000);
  K.old = await generateSigningKey({ name: 'Old', email: 'old@example.org', expiresInDays: 10, date: created });
  const alice = await loadSigningKey(K.alice.privateKey, undefined, 'alice.asc');
  const mallory = await loadSigningKey(K.mallory.privateKey, undefined, 'mallory.asc');
  const { privateKey: renewed } = await openpgp.reformatKey({
    privateKey: await openpgp.readPrivateKey({ armoredKey: K.old.privateKey }),
    userIDs: [{ name: 'Old', email: 'old@example.org' }],
    keyExpirationTime: 0,
    date: created,
    format: 'object',
  });
  const signedAfterExpiry = (path: string) => readFile(path).then(async (bytes) => (await openpgp.sign({ message: await openpgp.createMessage({ binary: bytes }), signingKeys: renewed, detached: true })) as string);
  /** A text file served at dir/name. */
  const text = async (dir: string, name: string, body: string) => {
    const path = join(work, 'signing', dir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, body);
    mirror.serve(`${dir}/${name}`, path);
    return mirror.fileUrl(dir, name);
  };
  const keysFile = [K.alice.publicKey, K.mallory.publicKey].join('\n');
  U['keys'] = await text('keys', 'cpy-keys.asc', keysFile);
  U['wrongkeys'] = await text('wrongkeys', 'cpy-keys.asc', K.mallory.publicKey);
  U['oldkeys'] = await text('oldkeys', 'cpy-keys.asc', K.old.publicKey);
  // The stale copy, then the renewed one appended (cpy keys export >> cpy-keys.asc).
  U['renewedkeys'] = await text('renewedkeys', 'cpy-keys.asc', [K.old.publicKey, renewed.toPublic().armor()].join('\n'));
  U['privkeys'] = await text('privkeys', 'cpy-keys.asc', K.alice.privateKey);
  const goodSignature = await signFile(good.path, alice);
  U['signed'] = served(good, 'signed');
  await text('signed', `${good.fileName}.asc`, goodSignature);
  U['mallory'] = served(good, 'mallory');
  await text('mallory', `${good.fileName}.asc`, await signFile(good.path, mallory));
  // Signed by Alice and by Mallory in one .asc (gpg -u A -u B, a rotation); the keys file holds Alice's alone.
  const both = async (date?: Date) =>
    (await openpgp.sign({
      message: await openpgp.createMessage({ binary: await readFile(good.path) }),
      signingKeys: [await openpgp.readPrivateKey({ armoredKey: K.alice.privateKey }), await openpgp.readPrivateKey({ armoredKey: K.mallory.privateKey })],
      detached: true,
      ...(date ? { date } : {}),
    })) as string;
  // The artifact itself served as its .asc (a server that answers every path with it).
  U['bigsig'] = served(good, 'bigsig');
  mirror.serve(`bigsig/${good.fileName}.asc`, good.path);
  U['twosigs'] = served(good, 'twosigs');
  await text('twosigs', `${good.fileName}.asc`, await both());
  U['alicekeys'] = await text('alicekeys', 'cpy-keys.asc', K.alice.publicKey);
  // Signed by Alice, dated six hours ahead (a case runs minutes after this, still well ahead).
  U['futuresig'] = served(good, 'futuresig');
  await text(
    'futuresig',
    `${good.fileName}.asc`,
    (await openpgp.sign({ message: await openpgp.createMessage({ binary: await readFile(good.path) }), signingKeys: await openpgp.readPrivateKey({ armoredKey: K.alice.privateKey }), detached: true, date: new Date(Date.now() + 6 * 3_600_000) })) as string,
  );
  U['late'] = served(good, 'late');
  await text('late', `${good.fileName}.asc`, await signedAfterExpiry(good.path));
  // Rev signed the good artifact five days ago, and was revoked today: as superseded (OpenPGP
  // keeps what such a key signed before), as compromised; and a keys file with the copy from
  // before the revocation first, the revoked one after it.
  K.rev = await generateSigningKey({ name: 'Rev', email: 'rev@example.org', date: created });
  const revSigner = await openpgp.readPrivateKey({ armoredKey: K.rev.privateKey });
  U['revsigned'] = served(good, 'revsigned');
  await text('revsigned', `${good.fileName}.asc`, (await openpgp.sign({ message: await openpgp.createMessage({ binary: await readFile(good.path) }), signingKeys: revSigner, detached: true, date: new Date(Date.now() - 5 * 86_400_000) })) as string);
  const revokedAs = async (flag: openpgp.enums.reasonForRevocation) => (await openpgp.revokeKey({ key: revSigner, reasonForRevocation: { flag }, format: 'armored' })).publicKey;
  const superseded = await revokedAs(openpgp.enums.reasonForRevocation.keySuperseded);
  U['revsoftkeys'] = await text('revsoftkeys', 'cpy-keys.asc', superseded);
  U['revhardkeys'] = await text('revhardkeys', 'cpy-keys.asc', await revokedAs(openpgp.enums.reasonForRevocation.keyCompromised));
  U['revstalekeys'] = await text('revstalekeys', 'cpy-keys.asc', [K.rev.publicKey, superseded].join('\n'));
  const bin = `${root}/bin/python3`;
  trojan = await repackArtifact(good, join(work, 'trojan'), {
    drop: (name) => name === bin,
    append: [{ name: bin, mode: 0o755, body: `#!/bin/sh\n# not what was signed\nexec "$(dirname "$0")/python${version.split('.').slice(0, 2).join('.')}" "$@"\n` }],
  });
  expect(trojan.fileName).toBe(good.fileName);
  U['trojan'] = served(trojan, 'trojan');
  // Its python3 does not start, as one built against libraries this system lacks would not.
  const mute = await repackArtifact(good, join(work, 'mute'), {
    drop: (name) => name === bin,
    append: [{ name: bin, mode: 0o755, body: `#!/bin/sh\necho '${MUTE_SAYS}' >&2\nexit 127\n` }],
  });
  U['mute'] = served(mute, 'mute');
  // Artifacts whose bin/python3 first does something of the test's when its arguments hold a word,
  // then is the real one ($here: its bin directory, <root>/<staging>/opt/python-X.Y.Z/bin).
  const pythonXY = `python${version.split('.').slice(0, 2).join('.')}`;
  const python3Doing = async (name: string, when: string, before: string) => {
    const body = `#!/bin/sh\nhere=\${0%/*}\ncase " $* " in *" ${when} "*) ${before} ;; esac\nexec "$here/${pythonXY}" "$@"\n`;
    U[name] = served(await repackArtifact(good, join(work, name), { drop: (n) => n === bin, append: [{ name: bin, mode: 0o755, body }] }), name);
  };
  /** sh that fills FILE's disk with zeros, then gives back `keep` bytes (another writer). */
  const fillDisk = (file: string, keep: number) =>
    `"$here/${pythonXY}" -I -S -c 'import sys\nf = open(sys.argv[1], "wb", buffering=0)\nfor n in (65536, 4096):\n    try:\n        while True: f.write(bytes(n))\n    except OSError: pass\nf.truncate(max(0, f.tell() - ${keep}))' "${file}"`;
  // Fills the disk the staging tree is on before it relocates the tree: after the installer checked the room.
  await python3Doing('fills', 'relocate', fillDisk('$here/../../../../filler', 0));
  // Its install record's python3 (cpy_state.py serve) fills <root>/var/lib/cpy's disk as it
  // starts, but for one page (the state lock's).
  await python3Doing('fills-state', 'serve', fillDisk('$here/../../../../../var/lib/cpy/filler', 4096));
  // Takes 2 s to start the install record's session.
  await python3Doing('slow', 'serve', 'sleep 2');
  // A script in bin/ that is not Python (no /bin/sh trampoline for it): its #! line names the
  // prefix, so a long enough one makes it longer than Linux reads.
  const tool = await repackArtifact(good, join(work, 'tool'), { append: [{ name: `${root}/bin/cpy-tool`, mode: 0o755, body: `#!/${root}/bin/cpy-tool-helper\n` }] });
  U['tool'] = served(tool, 'tool');
  // Its metadata names a package that is not a package name (install.sh gives names to apt unquoted).
  const badpkg = await repackArtifact(good, join(work, 'badpkg'), {
    metadata: (m) => ({ ...m, runtime: { ...m.runtime, needs: [...m.runtime.needs, { soname: 'libcpy-test.so.1', packages: ['libcpy-test1;touch /tmp/cpy-pwned'], usedBy: ['bin/python3'] }] } }),
  });
  U['badpkg'] = served(badpkg, 'badpkg');
  // Its metadata names an optional library (one _gdbm uses) that no archive has.
  const optpkg = await repackArtifact(good, join(work, 'optpkg'), {
    metadata: (m) => ({ ...m, runtime: { ...m.runtime, needs: [...m.runtime.needs, { soname: 'libcpy-opt.so.1', packages: ['libcpy-opt1'], usedBy: [`lib/python${version.split('.').slice(0, 2).join('.')}/lib-dynload/_gdbm.cpython-311-x86_64-linux-gnu.so`] }] } }),
  });
  // (As a path: the stub apt-get of its case installs no downloader.)
  U['optpkg'] = optpkg.path;
  // And a critical library (python3 uses it) and one of tkinter's, neither on this host.
  const critpkg = await repackArtifact(good, join(work, 'critpkg'), {
    metadata: (m) => ({
      ...m,
      runtime: {
        ...m.runtime,
        needs: [
          ...m.runtime.needs,
          { soname: 'libcpy-crit.so.1', packages: ['libcpy-crit1'], usedBy: ['bin/python3'] },
          { soname: 'libcpy-tk.so.1', packages: ['libcpy-tk1'], usedBy: [`lib/python${version.split('.').slice(0, 2).join('.')}/lib-dynload/_tkinter.cpython-311-x86_64-linux-gnu.so`] },
        ],
      },
    }),
  });
  U['critpkg'] = critpkg.path;
  await text('trojan', `${good.fileName}.asc`, goodSignature);
  // Signed indexes (cpy-keys.asc beside each): as published, read through index.previous.json, and
  // with an entry changed after signing.
  const signIndex = async (dir: string, file: string) => {
    await text(dir, `${file}.asc`, await signFile(join(work, 'index', dir, file), alice));
    await text(dir, 'cpy-keys.asc', keysFile);
  };
  U['sindex'] = await writeIndex('sindex', 'index.json', all);
  await signIndex('sindex', 'index.json');
  // Signed by Old while its key was valid (25 days ago), which has expired since.
  U['oldindex'] = await writeIndex('oldindex', 'index.json', all);
  const whileValid = new Date(created.getTime() + 5 * 86_400_000);
  const oldSigner = await openpgp.readPrivateKey({ armoredKey: K.old.privateKey });
  const oldIndexBytes = await readFile(join(work, 'index', 'oldindex', 'index.json'));
  await text('oldindex', 'index.json.asc', (await openpgp.sign({ message: await openpgp.createMessage({ binary: oldIndexBytes }), signingKeys: oldSigner, detached: true, date: whileValid })) as string);
  await text('oldindex', 'cpy-keys.asc', K.old.publicKey);
  await writeIndex('sswap', 'index.previous.json', all);
  await signIndex('sswap', 'index.previous.json');
  // The same, its previous index signed by Mallory (in the keys file, not pinned).
  await writeIndex('sswapbad', 'index.previous.json', all);
  await text('sswapbad', 'index.previous.json.asc', await signFile(join(work, 'index', 'sswapbad', 'index.previous.json'), mallory));
  await text('sswapbad', 'cpy-keys.asc', keysFile);
  // A signed index whose debian12 build of 3.11 is in the workspace (no .asc beside it there).
  U['wsindex'] = await writeIndex('wsindex', 'index.json', [entries.d11, { ...entries.d12, url: `file://${WORKSPACE_ARTIFACTS}/${I.d12.fileName}` }]);
  U['wswrongbuild'] = await writeIndex('wswrongbuild', 'index.json', [{ ...entries.d12, build: 7, url: `file://${WORKSPACE_ARTIFACTS}/${I.d12.fileName}` }]);
  await signIndex('wsindex', 'index.json');
  // The same address serving a newer signed index, then an older one (rollTo).
  for (const [dir, at] of [['roll-new', ROLLED_FROM], ['roll-old', INDEX_UPDATED_AT]] as const) {
    await writeIndex(dir, 'index.json', all, undefined, new Date(at));
    await signIndex(dir, 'index.json');
  }
  U['tindex'] = await writeIndex('tindex', 'index.json', all);
  await signIndex('tindex', 'index.json');
  await writeIndex('tindex', 'index.json', [entries.d11, { ...entries.d12, url: U['trojan']!, sha256: trojan.sha256 }, entries.d11new, entries.d12new]);
  const osRelease = await readFile('/etc/os-release', 'utf8');
  const { execFile } = await import('node:child_process');
  const hostGlibc = await new Promise<string>((resolve) => execFile('getconf', ['GNU_LIBC_VERSION'], (_e, out) => resolve(out.trim().replace(/^glibc /, ''))));
  // The container is Debian 12; the library's side of the table runs on this host, which must be too.
  expect(/^ID=debian$/m.test(osRelease) && /^VERSION_ID="?12"?$/m.test(osRelease)).toBe(true);
  hostSummary = `debian 12, ${good.metadata.platform.arch}, glibc ${hostGlibc}`;

  const engine = await requireContainerEngine();
  const image = await requireBaseImage(engine, 'bookworm');
  // Host networking: the container reaches the loopback server; the work folder is mounted
  // at the same path, so a local artifact has the same path for both installers.
  const mounts = [
    { host: featureDir(), container: '/feature', readOnly: true },
    { host: work, container: work, readOnly: true },
  ];
  container = await startContainer(engine, image, { network: 'host', mounts });
  // wget from Debian's archive (as an image that has it and not curl would); install.sh then never
  // installs curl, and every http fetch of the cases marked `wget` goes through wget.
  wgetContainer = await startContainer(engine, image, { network: 'host', mounts });
  const wget = await wgetContainer.exec(['sh', '-c', 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends wget >/dev/null && rm -rf /var/lib/apt/lists/* && command -v wget && ! command -v curl']);
  if (wget.exitCode !== 0) throw new Error(`cannot install wget in the second container: ${wget.stderr || wget.stdout}`);
}, 300_000);

afterAll(async () => {
  await container?.remove();
  await wgetContainer?.remove();
  await mirror?.close();
  await rm(work, { recursive: true, force: true });
});

/** Runs one case with a new installer, and undoes what it set up (a lock holder, mounts). */
async function runCase(make: () => Installer, c: Case, also?: (installer: Installer) => Promise<void>): Promise<void> {
  {
    const installer = make();
    await installer.reset();
    let failure: unknown = null;
    try {
      await c.before?.(installer);
      const outcome = await installer.install(c.options());
      // An error is shown with its message; where the case gives it, word for word.
      const got = 'code' in outcome ? { ...outcome, message: installer.lastError, hint: installer.lastHint } : outcome;
      expect(got).toEqual('code' in c.expected ? { ...c.expected, message: c.message ? c.message() : expect.any(String), hint: c.hint ? c.hint() : expect.anything() } : c.expected);
      await c.after?.(installer);
      // Never any staging debris beside the prefix.
      expect((await installer.list('opt')).filter((n) => n.startsWith('.cpy-'))).toEqual([]);
      await also?.(installer);
    } catch (error) {
      failure = error;
    }
    // What the case set up goes, passed or failed: a lock holder still running (it could let go of
    // a later case's lock), then its mounts. The case's own failure is the one reported.
    const cleanup: unknown[] = [];
    if (holder.pid) await installer.sh(`kill ${holder.pid} 2>/dev/null; true`).catch((e: unknown) => cleanup.push(e));
    holder = { ...holder, pid: '' };
    for (let u = unmounts.pop(); u; u = unmounts.pop()) await u().catch((e: unknown) => cleanup.push(e));
    if (failure) throw failure;
    if (cleanup.length > 0) throw cleanup[0];
  }
}

describe.each([
  ['@cpy/install', () => libraryInstaller()],
  ['install.sh', () => scriptInstaller(() => container!)],
])('%s', (_name, make) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_n, c) => runCase(make, c), 180_000);
});

// install.sh's wget paths (an image with wget and no curl: busybox-based ones, some slim ones):
// the same outcomes and the same words, and curl is never installed for it.
describe('install.sh with wget alone', () => {
  it.each(CASES.filter((c) => c.wget).map((c) => [c.name, c] as const))(
    '%s',
    (_n, c) =>
      runCase(
        () => scriptInstaller(() => wgetContainer!),
        c,
        async (installer) => expect(await installer.sh('command -v curl || echo none')).toBe('none'),
      ),
    180_000,
  );
});

// What only the Feature does: Features run while the image is built, before the workspace is
// mounted, so an artifact under /workspaces/ is installed by the Feature's onCreateCommand.
describe('install.sh: an artifact in the workspace (/workspaces/...) is installed by the onCreateCommand', () => {
  const folder = WORKSPACE_ARTIFACTS;
  const box = () => container!;
  const deferredEnv = '/usr/local/share/cpy-feature/deferred.env';
  const inWorkspace = () => [
    'VERSION=',
    'INDEXURL=',
    `ARTIFACTURL=${folder}/${good.fileName}`,
    `CHECKSUMURL=${folder}/${good.fileName}.sha256`,
    'SHA256=',
    'INSTALLPREFIX=',
    'SKIPVALIDATION=false',
    'INSTALLSYSTEMDEPS=true',
    'INSTALLTK=false',
  ];
  const build = (env: string[]) => box().exec(['env', ...env, '/feature/install.sh']);

  it('built: deferred, nothing installed; the hook installs from the mounted workspace and forgets it; again, it does nothing', async () => {
    const i = scriptInstaller(box);
    await i.reset();
    const built = await build(inWorkspace());
    expect([built.exitCode, built.stderr]).toEqual([0, expect.stringContaining("deferred: the Feature's onCreateCommand installs it")]);
    await nothingInstalled(i);
    // Root's only (a URL may carry a token); the saved script beside it.
    expect((await box().exec(['stat', '-c', '%a %U', deferredEnv, '/usr/local/share/cpy-feature/install.sh'])).stdout.trim().split('\n')).toEqual(['600 root', '755 root']);
    // The container is created: the workspace is there.
    await box().exec(['sh', '-c', `mkdir -p ${folder} && cp ${good.path} ${good.checksumPath} ${folder}/`]);
    const hook = await box().exec(['sh', '-c', ON_CREATE_COMMAND]);
    expect([hook.exitCode, hook.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version} in /opt/python-${version}`)]);
    expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: good.fileName, source: `${folder}/${good.fileName}` });
    expect(await i.python(defaultPrefix(), 'import ssl, sqlite3; print("ok")')).toBe('ok');
    expect(await i.read(deferredEnv.slice(1))).toBeNull();
    const again = await box().exec(['sh', '-c', ON_CREATE_COMMAND]);
    expect([again.exitCode, again.stdout, again.stderr]).toEqual([0, '', '']);
  }, 180_000);

  it('a build a signed index chose in the workspace: the hook installs it on the index\'s word, as the build would have (no .asc of its own asked for)', async () => {
    const i = scriptInstaller(box);
    await i.reset();
    const signedIndex = ['VERSION=3.11', `INDEXURL=${U['wsindex']!}`, `SIGNERFINGERPRINTS=${K.alice.fingerprint}`, 'ARTIFACTURL=', 'CHECKSUMURL=', 'SHA256=', 'INSTALLPREFIX=', 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=true', 'INSTALLTK=false'];
    const built = await build(signedIndex);
    expect([built.exitCode, built.stderr]).toEqual([0, expect.stringContaining("deferred: the Feature's onCreateCommand installs it")]);
    await nothingInstalled(i);
    // The workspace holds the artifact only: its signature is the index's.
    await box().exec(['sh', '-c', `mkdir -p ${folder} && cp ${I.d12.path} ${folder}/`]);
    const hook = await box().exec(['sh', '-c', ON_CREATE_COMMAND]);
    expect([hook.exitCode, hook.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version} in /opt/python-${version}`)]);
    expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: I.d12.fileName, sha256: I.d12.sha256, source: `${folder}/${I.d12.fileName}`, signedBy: K.alice.fingerprint });
    expect(await i.read(deferredEnv.slice(1))).toBeNull();
  }, 180_000);

  it('the pinned signers\' keys in the workspace too (trustedKeysUrl under /workspaces/): deferred, and the hook checks the index against them', async () => {
    const i = scriptInstaller(box);
    await i.reset();
    const keysIn = `${folder}/cpy-keys.asc`;
    const env = ['VERSION=3.11', `INDEXURL=${U['wsindex']!}`, `SIGNERFINGERPRINTS=${K.alice.fingerprint}`, `TRUSTEDKEYSURL=${keysIn}`, 'ARTIFACTURL=', 'CHECKSUMURL=', 'SHA256=', 'INSTALLPREFIX=', 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=true', 'INSTALLTK=false'];
    // Before, the build stopped on a shell error (named_build: parameter not set), leaving a temporary file.
    const built = await build(env);
    expect([built.exitCode, built.stderr]).toEqual([0, expect.stringContaining("deferred: the Feature's onCreateCommand installs it")]);
    expect(await i.list('usr/local/share/cpy-feature')).toEqual(['deferred.env', 'install.sh']);
    await nothingInstalled(i);
    await box().exec(['sh', '-c', `mkdir -p ${folder} && cp ${I.d12.path} ${join(work, 'signing', 'keys', 'cpy-keys.asc')} ${folder}/`]);
    const hook = await box().exec(['sh', '-c', ON_CREATE_COMMAND]);
    expect([hook.exitCode, hook.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version} in /opt/python-${version}`)]);
    expect(await markerOf(i, defaultPrefix())).toMatchObject({ artifact: I.d12.fileName, signedBy: K.alice.fingerprint });
  }, 180_000);

  it('a build the index chose whose artifact holds another build than its entry says: the hook refuses it, naming the index, as the build would have', async () => {
    const i = scriptInstaller(box);
    await i.reset();
    const env = ['VERSION=3.11', `INDEXURL=${U['wswrongbuild']!}`, 'SIGNERFINGERPRINTS=', 'ARTIFACTURL=', 'CHECKSUMURL=', 'SHA256=', 'INSTALLPREFIX=', 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=true', 'INSTALLTK=false'];
    expect((await build(env)).exitCode).toBe(0);
    await box().exec(['sh', '-c', `mkdir -p ${folder} && cp ${I.d12.path} ${folder}/`]);
    const hook = await box().exec(['sh', '-c', ON_CREATE_COMMAND]);
    expect([hook.exitCode, hook.stderr]).toEqual([
      1,
      expect.stringContaining(`error CPY_INSTALL_VERSION_MISMATCH: the index ${U['wswrongbuild']!} lists ${I.d12.fileName} as build 7 of CPython ${version}, but it holds build ${I.d12.metadata.build}`),
    ]);
    await nothingInstalled(i);
  }, 180_000);

  it('a build the index chose unpinned: a signer pinned only in the hook\'s environment is still checked (the artifact\'s own .asc, missing here)', async () => {
    const i = scriptInstaller(box);
    await i.reset();
    const unpinned = ['VERSION=3.11', `INDEXURL=${U['wsindex']!}`, 'SIGNERFINGERPRINTS=', 'ARTIFACTURL=', 'CHECKSUMURL=', 'SHA256=', 'INSTALLPREFIX=', 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=true', 'INSTALLTK=false'];
    expect((await build(unpinned)).exitCode).toBe(0);
    await box().exec(['sh', '-c', `mkdir -p ${folder} && cp ${I.d12.path} ${folder}/`]);
    const hook = await box().exec(['env', `CPY_SIGNER_FINGERPRINTS=${K.alice.fingerprint}`, `CPY_TRUSTED_KEYS_URL=${U['keys']!}`, 'sh', '-c', ON_CREATE_COMMAND]);
    expect([hook.exitCode, hook.stderr]).toEqual([1, expect.stringContaining('error CPY_SIGNATURE_MISSING')]);
    await nothingInstalled(i);
  }, 180_000);

  it('the same as a user with sudo (remoteUser vscode): the pin the hook\'s environment carries is kept through sudo, which resets the environment', async () => {
    const i = scriptInstaller(box);
    await i.reset();
    const unpinned = ['VERSION=3.11', `INDEXURL=${U['wsindex']!}`, 'SIGNERFINGERPRINTS=', 'ARTIFACTURL=', 'CHECKSUMURL=', 'SHA256=', 'INSTALLPREFIX=', 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=true', 'INSTALLTK=false'];
    // sudo from the Debian archive, and a user it lets do anything without a password, as base images make one.
    const sudo = await box().exec(['sh', '-c', 'command -v sudo >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sudo; } >/dev/null 2>&1; id dev >/dev/null 2>&1 || useradd -m dev; echo "dev ALL=(root) NOPASSWD:ALL" > /etc/sudoers.d/dev && chmod 440 /etc/sudoers.d/dev && su dev -c "sudo -n true" && echo ok']);
    expect(sudo.stdout.trim()).toBe('ok');
    expect((await build(unpinned)).exitCode).toBe(0);
    await box().exec(['sh', '-c', `mkdir -p ${folder} && cp ${I.d12.path} ${folder}/`]);
    const asDev = (env: string[]) => box().exec(['setpriv', '--reuid=dev', '--regid=dev', '--init-groups', 'env', 'HOME=/home/dev', ...env, 'sh', '-c', ON_CREATE_COMMAND]);
    const hook = await asDev([`CPY_SIGNER_FINGERPRINTS=${K.alice.fingerprint}`, `CPY_TRUSTED_KEYS_URL=${U['keys']!}`]);
    expect([hook.exitCode, hook.stderr]).toEqual([1, expect.stringContaining('error CPY_SIGNATURE_MISSING')]);
    await nothingInstalled(i);
    // With nothing pinned there, it installs as root through sudo.
    const plain = await asDev([]);
    expect([plain.exitCode, plain.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version} in /opt/python-${version}`)]);
  }, 300_000);

  it('the hook as a user without sudo fails with a coded error saying what to do; the deferred install stays for the next try', async () => {
    const i = scriptInstaller(box);
    await i.reset();
    expect((await build(inWorkspace())).exitCode).toBe(0);
    const hook = await box().exec(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', ON_CREATE_COMMAND]);
    expect(hook.exitCode).toBe(1);
    expect(hook.stderr).toMatch(/error CPY_INSTALL_NOT_ROOT: the install deferred to onCreateCommand .* must run as root; this hook runs as nobody/);
    expect(hook.stderr).toMatch(/hint: set "remoteUser": "root" in devcontainer.json, or install sudo/);
    expect(await i.list('usr/local/share/cpy-feature')).toEqual(['deferred.env', 'install.sh']);
    await nothingInstalled(i);
  }, 60_000);

  it('the Feature listed twice, both deferred: the second is refused (it replaced the first, which was then never installed); the same one twice is one', async () => {
    const i = scriptInstaller(box);
    await i.reset();
    expect((await build(inWorkspace())).exitCode).toBe(0);
    expect((await build(inWorkspace())).exitCode).toBe(0);
    const other = await build(inWorkspace().map((e) => (e === 'INSTALLPREFIX=' ? 'INSTALLPREFIX=/opt/second' : e)));
    expect(other.exitCode).toBe(1);
    expect(other.stderr).toContain(`error CPY_INSTALL_BAD_OPTIONS: another install of this Feature in this image is deferred to onCreateCommand already (${deferredEnv})`);
    expect(await i.list('usr/local/share/cpy-feature')).toEqual(['deferred.env', 'install.sh']);
    expect(await i.read(deferredEnv.slice(1))).not.toContain('/opt/second');
  }, 60_000);

  it('a path elsewhere that is not there still fails the build, the hint naming the /workspaces deferral', async () => {
    const i = scriptInstaller(box);
    await i.reset();
    const env = inWorkspace().map((e) => e.replace(folder, '/srv/artifacts'));
    const built = await build(env);
    expect(built.exitCode).toBe(1);
    expect(built.stderr).toContain(`error CPY_INSTALL_NOT_FOUND: the artifact /srv/artifacts/${good.fileName} does not exist`);
    expect(built.stderr).toMatch(/hint: .*a path under \/workspaces\/ is installed later, by the Feature's onCreateCommand/);
    expect(built.stderr).not.toMatch(/mount (it|or copy)/);
    expect(await i.list('usr/local/share/cpy-feature')).toEqual([]);
  }, 60_000);
});

// What only the Feature can meet: an image without gpgv (the library verifies with openpgp.js).
describe('install.sh: signers pinned on an image without gpgv', () => {
  it('is refused before anything is fetched, naming the package to install', async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await i.reset();
    const requests = mirror.requests.length;
    await box.exec(['mv', '/usr/bin/gpgv', '/usr/bin/gpgv.hidden']);
    try {
      const r = await box.exec(['env', `ARTIFACTURL=${U['signed']!}`, `SIGNERFINGERPRINTS=${K.alice.fingerprint}`, `TRUSTEDKEYSURL=${U['keys']!}`, '/feature/install.sh']);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('error CPY_INSTALL_GPGV_MISSING: signerFingerprints is set, but this image has no gpgv (package gpgv) to check signatures with');
      expect(r.stderr).toMatch(/hint: install the gpgv package in the base image \(apt-get install gpgv/);
    } finally {
      await box.exec(['mv', '/usr/bin/gpgv.hidden', '/usr/bin/gpgv']);
    }
    await nothingInstalled(i);
    expect(mirror.requests.length).toBe(requests);
  }, 60_000);
});

// What the table cannot do for the library (it runs in this process): kill install.sh between the
// two renames of a replacement. It must leave the library's journal, and its next run (or a
// `cpy install`, which reads the same journal and lock) finishes the replacement.
describe('install.sh: killed (kill -9) between the two renames of a replacement', () => {
  it("leaves the library's journal and a lock of a dead process; the next run takes the lock over and rolls forward", async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await i.reset();
    expect(await i.install({ artifactUrl: U['http']!, skipValidation: true })).toEqual({ status: 'installed' });
    // An mv that kills install.sh (no trap runs) as it is about to rename the staged tree into place.
    await i.write('tmp/killmv/mv', '#!/bin/sh\ncase " $* " in *"/.cpy-staging-"*) kill -9 "$PPID"; exit 1 ;; esac\nexec /bin/mv "$@"\n');
    const env = [`ARTIFACTURL=${U['build2']!}`, 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=true'];
    const killed = await box.exec(['env', ...env, 'PATH=/tmp/killmv:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'sh', '-c', 'chmod +x /tmp/killmv/mv && exec /feature/install.sh']);
    expect(killed.exitCode).toBe(137);
    const prefix = `/opt/python-${version}`;
    const esc = (s: string) => s.replace(/[.+]/g, '\\$&');
    const journal = JSON.parse((await i.read(`opt/.cpy-journal-python-${version}.json`)) ?? '{}') as Record<string, string>;
    expect(journal).toEqual({
      prefix,
      staged: expect.stringMatching(new RegExp(`^/opt/\\.cpy-staging-python-${esc(version)}-[A-Za-z0-9]{8}${esc(good.metadata.prefix)}$`)),
      aside: expect.stringMatching(new RegExp(`^/opt/\\.cpy-old-python-${esc(version)}-[0-9a-f]{8}$`)),
    });
    expect(await i.list('opt')).toEqual([`.cpy-journal-python-${version}.json`, journal['aside']!.slice(5), journal['staged']!.split('/')[2]!].sort());
    const lock = prefixLock(i, defaultPrefix());
    // pid, host and pid namespace, token, and when the process started.
    expect(await i.read(lock)).toMatch(/^\d+ [^\s/]+\/\d+ \S+ \d+@[-0-9a-f]+$/);
    expect(await i.sh('rm -rf /tmp/killmv')).toBe('');

    const next = await box.exec(['env', ...env, '/feature/install.sh']);
    expect([next.exitCode, next.stderr]).toEqual([0, expect.stringContaining(`finished the replacement of ${prefix} that a killed run left`)]);
    expect(next.stderr).toMatch(/already installed/);
    expect(next.stderr).not.toMatch(/waiting for another install/);
    expect(JSON.parse((await i.read(`${defaultPrefix()}/${MARKER_FILE}`)) ?? '{}')).toMatchObject({ build: 2 });
    expect(await i.python(defaultPrefix(), 'import ssl; print("ok")')).toBe('ok');
    expect(await i.list('opt')).toEqual([`python-${version}`]);
    expect(await i.list('var/lib/cpy/locks')).toEqual([]);
  }, 180_000);
});

/**
 * install.sh run as root in the container, on a fresh root, with a program of its own, `name` (a
 * script), ahead of the system's on PATH: the installer (to look at what it left) and
 * run(artifactUrl). Each case removes /tmp/stand-in when done.
 */
async function withStandIn(name: string, script: string) {
  const box = container!;
  const i = scriptInstaller(() => box);
  await i.reset();
  await i.write(`tmp/stand-in/${name}`, script);
  const run = (artifactUrl: string) =>
    box.exec(['env', `ARTIFACTURL=${artifactUrl}`, 'SKIPVALIDATION=true', 'PATH=/tmp/stand-in:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'sh', '-c', `chmod +x /tmp/stand-in/${name} && exec /feature/install.sh`]);
  return { i, run };
}

// A state volume without hard links (vfat, some FUSE file systems): the lock is created with
// O_EXCL, as the library does where link() says EPERM or ENOTSUP (install.sh refused before).
describe('install.sh: a file system without hard links', () => {
  it('takes its locks with O_EXCL, installs, and leaves no lock behind', async () => {
    const { i, run } = await withStandIn('ln', '#!/bin/sh\ncase " $* " in *" -s"*) exec /bin/ln "$@" ;; esac\necho "ln: failed to create hard link: Operation not permitted" >&2\nexit 1\n');
    const r = await run(U['http']!);
    expect([r.exitCode, r.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version}`)]);
    expect(await i.list('var/lib/cpy/locks')).toEqual([]);
    expect(await i.sh('readlink "$ROOT/usr/local/bin/python3"')).toBe(`${i.root}/${defaultPrefix()}/bin/python3`);
    expect(await i.sh('rm -rf /tmp/stand-in')).toBe('');
  }, 120_000);
});

// BusyBox's readlink takes one link at a time: install.sh's link check then reads each link on its
// own, and still refuses a target that holds a newline.
describe('install.sh: a readlink that reads one link at a time (BusyBox)', () => {
  it('installs a good artifact and refuses one with a symlink whose target holds a newline', async () => {
    const { i, run } = await withStandIn('readlink', '#!/bin/sh\nn=0\nfor a in "$@"; do case $a in -*) ;; *) n=$((n + 1)) ;; esac; done\n[ "$n" -le 1 ] || { echo "readlink: too many arguments" >&2; exit 1; }\nexec /usr/bin/readlink "$@"\n');
    const hostile = await run(U['newline']!);
    expect([hostile.exitCode, hostile.stderr]).toEqual([1, expect.stringContaining('error CPY_ARTIFACT_UNSAFE_ENTRY: the archive holds a symlink whose target holds a newline')]);
    await nothingInstalled(i);
    const good = await run(U['http']!);
    expect([good.exitCode, good.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version}`)]);
    expect(await i.python(defaultPrefix(), 'import ssl; print("ok")')).toBe('ok');
    expect(await i.sh('rm -rf /tmp/stand-in')).toBe('');
  }, 120_000);
});

// install.sh's short ways (one awk over ldconfig's list; needs_lines checks the package names as it
// writes them; a relocation whose #! lines all fit is not read twice) and the long ones beside them.
describe('install.sh: system libraries and relocation', () => {
  it('with no ld.so.cache (ldconfig -p fails): the libraries are looked for in the directories; a good artifact installs and runs, one that needs libssl1.1 is refused', async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await i.reset();
    expect(await i.sh('mv /etc/ld.so.cache /etc/ld.so.cache.aside && { /sbin/ldconfig -p >/dev/null 2>&1 || echo fails; }')).toBe('fails');
    try {
      const refused = await box.exec(['env', `ARTIFACTURL=${U['d11']!}`, '/feature/install.sh']);
      expect([refused.exitCode, refused.stderr]).toEqual([1, expect.stringContaining('error CPY_INSTALL_PACKAGES_UNAVAILABLE')]);
      await nothingInstalled(i);
      const r = await box.exec(['env', `ARTIFACTURL=${U['http']!}`, '/feature/install.sh']);
      expect([r.exitCode, r.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version}`)]);
      expect(r.stderr).not.toMatch(/warning: lib(ssl|sqlite3|z|ffi)\S* is missing/);
      expect(await i.python(defaultPrefix(), 'import ssl, sqlite3; print("ok")')).toBe('ok');
    } finally {
      // Made anew from what is on disk (packages installed meanwhile wrote a cache of their own).
      await box.exec(['sh', '-c', 'rm -f /etc/ld.so.cache.aside && /sbin/ldconfig']);
    }
  }, 180_000);

  /**
   * The libraries the test artifacts need, installed from the archive by a real install (made
   * before a case that puts a stub apt-get first in PATH), then the install reset.
   */
  const withRuntimeLibraries = async (box: RunningContainer, i: ReturnType<typeof scriptInstaller>) => {
    await i.reset();
    const real = await box.exec(['env', `ARTIFACTURL=${U['http']!}`, 'SKIPVALIDATION=true', '/feature/install.sh']);
    expect([real.exitCode, real.stderr]).toEqual([0, expect.stringContaining('installed CPython')]);
    await i.reset();
  };

  it("an image whose apt-get update fails (a broken source of its own): an optional library it cannot install is a warning, and the install goes on (it failed: \"apt-get update failed\")", async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await withRuntimeLibraries(box, i);
    // apt-get as on such an image: the update fails (exit 100), and the archive has no such package.
    const stub = '#!/bin/sh\ncase "$1" in\n  update) echo "E: The repository http://example.invalid bookworm Release is not signed." >&2; exit 100 ;;\n  install) echo "E: Unable to locate package libcpy-opt1" >&2; exit 100 ;;\nesac\n';
    expect(await i.sh(`mkdir -p /tmp/stub && printf '${stub}' > /tmp/stub/apt-get && chmod 755 /tmp/stub/apt-get && echo ok`)).toBe('ok');
    try {
      const r = await box.exec(['env', 'PATH=/tmp/stub:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `ARTIFACTURL=${U['optpkg']!}`, 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=true', '/feature/install.sh']);
      expect([r.exitCode, r.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version}`)]);
      expect(r.stderr).toContain('warning: apt-get could not install all of libcpy-opt1');
      expect(r.stderr).toContain('warning: libcpy-opt.so.1 is missing (package libcpy-opt1)');
      // A critical one it cannot install is the error, naming the update's failure as the likelier
      // cause (it said "could not install", and to check the package names). The archive says it
      // has the package (apt-cache), and there are package lists, as on such an image.
      await i.reset();
      const cache = ["cat > /tmp/stub/apt-cache <<'EOF'", '#!/bin/sh', 'shift', 'for p in "$@"; do printf "%s:\\n  Installed: (none)\\n  Candidate: 1.0\\n" "$p"; done', 'EOF', 'chmod 755 /tmp/stub/apt-cache', 'touch /var/lib/apt/lists/cpy-test_Packages && echo ok'];
      expect(await i.sh(cache.join('\n'))).toBe('ok');
      const critical = await box.exec(['env', 'PATH=/tmp/stub:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `ARTIFACTURL=${U['critpkg']!}`, 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=true', '/feature/install.sh']);
      expect([critical.exitCode, critical.stderr]).toEqual([
        1,
        expect.stringContaining('error CPY_INSTALL_PACKAGES_FAILED: apt-get could not install libcpy-crit1, after apt-get update failed: E: The repository http://example.invalid bookworm Release is not signed.'),
      ]);
      await nothingInstalled(i);
    } finally {
      await i.sh('rm -rf /tmp/stub /var/lib/apt/lists/cpy-test_Packages; echo ok');
    }
  }, 120_000);

  it('installSystemDeps false and installTk true, a critical library missing: refused before any package is installed (Tk\'s were, then the install refused)', async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await withRuntimeLibraries(box, i);
    // An archive that has every package (apt-cache), and an apt-get that says what it was asked to install.
    const stubs = [
      "mkdir -p /tmp/stub && cat > /tmp/stub/apt-get <<'EOF'",
      '#!/bin/sh',
      'echo "$*" >> /tmp/stub/calls',
      'EOF',
      "cat > /tmp/stub/apt-cache <<'EOF'",
      '#!/bin/sh',
      'shift',
      'for p in "$@"; do printf "%s:\\n  Installed: (none)\\n  Candidate: 1.0\\n" "$p"; done',
      'EOF',
      'chmod 755 /tmp/stub/apt-get /tmp/stub/apt-cache && echo ok',
    ].join('\n');
    expect(await i.sh(stubs)).toBe('ok');
    try {
      const r = await box.exec(['env', 'PATH=/tmp/stub:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `ARTIFACTURL=${U['critpkg']!}`, 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=false', 'INSTALLTK=true', '/feature/install.sh']);
      expect([r.exitCode, r.stderr]).toEqual([1, expect.stringContaining('error CPY_INSTALL_MISSING_LIBRARIES: this host lacks libraries the artifact needs: libcpy-crit.so.1')]);
      // (An update may have run, to ask the archive; nothing was installed.)
      expect(await i.sh("grep '^install' /tmp/stub/calls 2>/dev/null; true")).toBe('');
      await nothingInstalled(i);
    } finally {
      await i.sh('rm -rf /tmp/stub; echo ok');
    }
  }, 120_000);

  it('metadata naming a package that is not a package name: CPY_INSTALL_NOT_AN_ARTIFACT, nothing installed or run', async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await i.reset();
    const r = await box.exec(['env', `ARTIFACTURL=${U['badpkg']!}`, '/feature/install.sh']);
    expect([r.exitCode, r.stderr]).toEqual([1, expect.stringContaining('error CPY_INSTALL_NOT_AN_ARTIFACT: the metadata of')]);
    expect(r.stderr).toContain('names packages that are not package names');
    await nothingInstalled(i);
    expect(await i.sh('ls /tmp/cpy-pwned 2>/dev/null; true')).toBe('');
  }, 120_000);

  it("relocated to a prefix so long that a script's #! line passes 255 bytes: installed, with a warning naming the script; with a short prefix, none", async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await i.reset();
    const long = `opt/${'d'.repeat(120)}/${'e'.repeat(120)}`;
    const r = await box.exec(['env', `ARTIFACTURL=${U['tool']!}`, `INSTALLPREFIX=/${long}`, 'SKIPVALIDATION=true', '/feature/install.sh']);
    expect([r.exitCode, r.stderr]).toEqual([0, expect.stringContaining('warning: bin/cpy-tool: its #! line is longer than Linux allows; run it as python3 -m instead')]);
    expect(await i.sh(`head -n 1 "$ROOT/${long}/bin/cpy-tool"`)).toBe(`#!/${long}/bin/cpy-tool-helper`);
    // Python's own scripts (pydoc3) go through /bin/sh (distlib's rule): they run.
    expect(await i.sh(`"$ROOT/${long}/bin/pydoc3" len >/dev/null && head -n 1 "$ROOT/${long}/bin/pydoc3"`)).toBe('#!/bin/sh');
    await i.reset();
    const short = await box.exec(['env', `ARTIFACTURL=${U['tool']!}`, 'INSTALLPREFIX=/opt/short', 'SKIPVALIDATION=true', '/feature/install.sh']);
    expect([short.exitCode, short.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version} in /opt/short`)]);
    expect(short.stderr).not.toContain('#! line is longer');
    expect(await i.sh('head -n 1 "$ROOT/opt/short/bin/cpy-tool"')).toBe('#!/opt/short/bin/cpy-tool-helper');
  }, 180_000);
});

describe('install.sh: a .tar.zst artifact', () => {
  it('on an image without zstd: zstd is installed first, then the artifact, which runs; where zstd cannot be installed, that is said (install.sh ended with exit 1 and not a word)', async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await i.reset();
    const name = good.fileName.replace(/\.tgz$/, '.tar.zst');
    const zst = join(work, 'zstd', name);
    await mkdir(dirname(zst), { recursive: true });
    await promisify(execFile)('sh', ['-c', 'gzip -dc "$1" | zstd -q -3 -o "$2" && cd "$(dirname "$2")" && sha256sum "$(basename "$2")" > "$2.sha256"', 'sh', good.path, zst]);
    mirror.serve(`zstd/${name}`, zst);
    mirror.serve(`zstd/${name}.sha256`, `${zst}.sha256`);
    const url = mirror.fileUrl('zstd', name);
    // An apt-get that cannot install anything, and no zstd (the minimal image has none).
    const stub = '#!/bin/sh\necho "E: Unable to locate package $3" >&2\nexit 100\n';
    expect(await i.sh(`rm -f /usr/bin/zstd && mkdir -p /tmp/stub && printf '${stub}' > /tmp/stub/apt-get && chmod 755 /tmp/stub/apt-get && ! command -v zstd && echo ok`)).toBe('ok');
    try {
      const refused = await box.exec(['env', 'PATH=/tmp/stub:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `ARTIFACTURL=${url}`, 'SKIPVALIDATION=true', '/feature/install.sh']);
      expect([refused.exitCode, refused.stderr]).toEqual([1, expect.stringContaining('error CPY_INSTALL_PACKAGES_FAILED: apt-get could not install zstd')]);
      await nothingInstalled(i);
    } finally {
      await i.sh('rm -rf /tmp/stub; echo ok');
    }
    const r = await box.exec(['env', `ARTIFACTURL=${url}`, '/feature/install.sh']);
    expect([r.exitCode, r.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version}`)]);
    expect(r.stderr).toContain('installing zstd with apt-get');
    expect(await i.python(defaultPrefix(), 'import ssl, sqlite3; print("ok")')).toBe('ok');
  }, 180_000);
});

// install.sh downloads into /tmp (the artifact beside its one pass, a copy of a local artifact it
// cannot read in one pass); the library into its cache, whose own full-disk words the cases cover.
describe('install.sh: a full /tmp', () => {
  it("the download finds no room there: CPY_INSTALL_DISK_FULL naming it, with /tmp's remedy (it said CPY_INSTALL_DOWNLOAD_FAILED, check the network: curl's words were lost on that disk); nothing installed", async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await i.reset();
    try {
      await i.smallDisk('tmp', 2 * MiB);
      const r = await box.exec(['env', `ARTIFACTURL=${U['http']!}`, 'SKIPVALIDATION=true', '/feature/install.sh']);
      expect([r.exitCode, r.stderr]).toEqual([1, expect.stringMatching(/error CPY_INSTALL_DISK_FULL: cannot write \/tmp\/cpy-feature\.\w+(\/artifact)?: no space left on its disk\n.*hint: free some space in \/tmp, where the download/)]);
      await nothingInstalled(i);
    } finally {
      for (let u = unmounts.pop(); u; u = unmounts.pop()) await u();
    }
  }, 180_000);
});

// install.sh writes an install's marker and record with one python3 (cpy_state.py serve, fed
// through two FIFOs), as the library does. One that does not start is the artifact's failure, in
// the library's words; and where mkfifo fails, each command runs in a python3 of its own.
describe("install.sh: the install record's python3", () => {
  it('one that does not start, at the prefix it was built for (skipValidation): CPY_INSTALL_VALIDATION_FAILED with what it printed; nothing installed or left running', async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await i.reset();
    const r = await box.exec(['env', `ARTIFACTURL=${U['mute']!}`, 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=true', '/feature/install.sh']);
    expect([r.exitCode, r.stderr]).toEqual([1, expect.stringContaining(`error CPY_INSTALL_VALIDATION_FAILED: the unpacked python3 does not work: python3 does not run: ${MUTE_SAYS}`)]);
    await nothingInstalled(i);
    expect(await i.read('var/lib/cpy/state.json')).toBeNull();
    // ([e]: not grep's own command line.)
    expect(await i.sh('grep -l "cpy_stat[e]" /proc/[0-9]*/cmdline 2>/dev/null; true')).toBe('');
  }, 120_000);

  // dash runs a TERM trap at once while the script waits in `read` for the session's answer (a
  // command in the foreground is waited for first): cleanup must end the session and wait for it
  // before it lets the locks go and removes the staged tree.
  it('stopped (TERM) while the record waits for its python3: that python3 is waited for, nothing is installed or left running', async () => {
    const box = container!;
    const i = scriptInstaller(() => box);
    await i.reset();
    const r = await box.exec([
      'sh',
      '-c',
      [
        'env ARTIFACTURL="$1" SKIPVALIDATION=true INSTALLSYSTEMDEPS=true /feature/install.sh >/tmp/slow.log 2>&1 & p=$!',
        'n=0; until grep -q "skipValidation: the installed python3" /tmp/slow.log || [ $n -ge 600 ]; do sleep 0.05; n=$((n + 1)); done',
        'sleep 0.2; kill -TERM $p; wait $p; echo "exit $?"',
        // ([e]: not grep's own command line.)
        'grep -l "cpy_stat[e]" /proc/[0-9]*/cmdline 2>/dev/null; true',
        'grep "error CPY_" /tmp/slow.log',
      ].join('\n'),
      'sh',
      U['slow']!,
    ]);
    // Said as the library says it (it ended with no word).
    expect(r.stdout.trim()).toBe('exit 130\n[cpython-prebuilt] error CPY_INSTALL_CANCELLED: the install was stopped before its tree was put in place: nothing was installed');
    await nothingInstalled(i);
    expect(await i.read('var/lib/cpy/state.json')).toBeNull();
    expect(await i.list('var/lib/cpy/locks')).toEqual([]);
  }, 120_000);

  it('where mkfifo fails: installs all the same (the stream read twice, a python3 for each record command)', async () => {
    const { i, run } = await withStandIn('mkfifo', '#!/bin/sh\necho "mkfifo: cannot create fifo: Operation not permitted" >&2\nexit 1\n');
    const r = await run(U['http']!);
    expect([r.exitCode, r.stderr]).toEqual([0, expect.stringContaining(`installed CPython ${version}`)]);
    expect(r.stderr).not.toContain('in one read');
    expect(await markerOf(i, defaultPrefix())).toMatchObject({ sha256: good.sha256, artifact: good.fileName });
    expect(await i.sh('readlink "$ROOT/usr/local/bin/python3"')).toBe(`${i.root}/${defaultPrefix()}/bin/python3`);
    expect(await i.python(defaultPrefix(), 'import ssl; print("ok")')).toBe('ok');
    expect(await i.sh('rm -rf /tmp/stand-in')).toBe('');
  }, 120_000);
});

describe('what to do when no build fits, said alike by both installers', () => {
  it('only a pre-release of the line is published: ask for it by name (it said to build one)', async () => {
    const refused = await installPython({ version: '3.15', indexUrl: U['preonly']!, installPrefix: '/tmp/cpy-preonly', stateDir: join(work, 'preonly-state'), cacheDir: join(work, 'preonly-cache'), binDir: null }).catch((e: unknown) => e);
    const hint = 'only pre-releases of 3.15 are published: ask for one by name (cpy install 3.15.0rc1), or wait for the release';
    expect(refused).toMatchObject({ code: 'CPY_INSTALL_NO_MATCHING_BUILD', hint });
    const env = ['VERSION=3.15', `INDEXURL=${U['preonly']!}`, 'ARTIFACTURL=', 'CHECKSUMURL=', 'SHA256=', 'INSTALLPREFIX=/opt/preonly', 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=false', 'INSTALLTK=false'];
    const r = await container!.exec(['env', ...env, '/feature/install.sh']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('error CPY_INSTALL_NO_MATCHING_BUILD');
    expect(r.stderr).toContain(`hint: ${hint}`);
  }, 60_000);
});

// The library names a host by Node's process.arch (arm -> armhf, ia32 -> i386: host.spec.ts);
// install.sh by uname -m, which says armv7l and i686 where artifacts say armhf and i386.
describe('install.sh: a 32-bit ARM host is armhf, as artifacts name it', () => {
  it('uname -m saying armv7l: an x86_64 artifact is refused naming this host armhf (it said armv7l, and no armhf build could ever fit)', async () => {
    const box = container!;
    const fake = 'mkdir -p /tmp/fake-uname && printf \'#!/bin/sh\\ncase "$*" in "-s -m") echo "Linux armv7l" ;; *) exec /bin/uname "$@" ;; esac\\n\' >/tmp/fake-uname/uname && chmod 755 /tmp/fake-uname/uname';
    expect((await box.exec(['sh', '-c', fake])).exitCode).toBe(0);
    const env = ['VERSION=', 'INDEXURL=', `ARTIFACTURL=${U['http']!}`, 'CHECKSUMURL=', `SHA256=${good.sha256}`, 'INSTALLPREFIX=/opt/armhf-check', 'SKIPVALIDATION=true', 'INSTALLSYSTEMDEPS=false', 'INSTALLTK=false'];
    const r = await box.exec(['sh', '-c', `PATH=/tmp/fake-uname:$PATH exec env ${env.join(' ')} /feature/install.sh`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/error CPY_INSTALL_WRONG_ARCH: .* is built for x86_64; this host is armhf/);
    expect((await box.exec(['sh', '-c', 'rm -rf /tmp/fake-uname; test -e /opt/armhf-check && echo there || echo absent'])).stdout.trim()).toBe('absent');
  }, 60_000);
});
