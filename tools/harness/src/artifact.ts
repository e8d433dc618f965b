import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, createGzip } from 'node:zlib';
import { extract as tarExtract, pack as tarPack, type Header } from 'tar-stream';
import { artifactFileName, type ArtifactMetadata, checksumFileName, formatChecksumLine, METADATA_ENTRY } from '@cpy/core';
import { CRITICAL_IMPORTS, packArtifact, RESOLVE_EXECUTABLE_PTH } from '@cpy/artifact';

const run = promisify(execFile);

export interface TestArtifact {
  readonly path: string;
  readonly fileName: string;
  readonly sha256: string;
  readonly checksumPath: string;
  readonly metadataPath: string;
  readonly metadata: ArtifactMetadata;
}

/** Parts of the host's standard library a test artifact leaves out (size, not correctness). */
const LEAVE_OUT = new Set(['site-packages', 'dist-packages', 'test', 'idlelib', 'tkinter', 'turtledemo', 'ensurepip', 'lib2to3', 'pydoc_data', '__pycache__', 'unittest', 'distutils']);

/**
 * Debian's python3 says /usr wherever `make install` would say its prefix, and keeps some of it
 * in /usr/lib/<multiarch> and /usr/local: the copied tree is given the layout a cpy build has,
 * so the installers' relocation and post-install checks see what they see in a real artifact.
 */
async function asStandardLayout(tree: string, lib: string, prefix: string, version: string): Promise<void> {
  const sysconfigData = (await readdir(lib)).find((n) => /^_sysconfigdata_.*\.py$/.test(n));
  if (sysconfigData) {
    const path = join(lib, sysconfigData);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace(/(?<=['" ])\/usr(?=[/'" ])/g, prefix));
  }
  const multiarch = (await run('gcc', ['-print-multiarch']).catch(() => ({ stdout: '' }))).stdout.trim();
  const include = `/usr/include/python${version}`;
  if (!existsSync(join(include, 'Python.h'))) {
    throw new Error(`the host's Python headers (${include}) are missing: install python3-dev (scripts/setup-containers.sh does)`);
  }
  await cp(include, join(tree, 'include', `python${version}`), { recursive: true, dereference: true });
  // Debian's pyconfig.h only includes the one for its architecture: the tree gets that one.
  const archConfig = `/usr/include/${multiarch}/python${version}/pyconfig.h`;
  if (multiarch && existsSync(archConfig)) await cp(archConfig, join(tree, 'include', `python${version}`, 'pyconfig.h'));
  for (const dir of [join('lib', multiarch || 'x86_64-linux-gnu'), join('local', 'lib', `python${version}`, 'dist-packages'), join('local', 'bin'), join('lib', 'python3', 'dist-packages')]) {
    await mkdir(join(tree, dir), { recursive: true });
  }
  // Debian's site.py reads lib/python3/dist-packages, not site-packages: the .pth goes there too.
  await writeFile(join(tree, 'lib', 'python3', 'dist-packages', RESOLVE_EXECUTABLE_PTH.name), RESOLVE_EXECUTABLE_PTH.text);
}

/**
 * The Debian packages that ship each library (`dpkg -S`, one call), as a real
 * build records them: installers install these on hosts that lack them.
 */
async function dpkgPackages(sonames: readonly string[]): Promise<Record<string, readonly string[]>> {
  const out: Record<string, string[]> = Object.fromEntries(sonames.map((so) => [so, [] as string[]]));
  const r = await run('dpkg', ['-S', ...sonames.map((so) => `*/${so}`)], { maxBuffer: 16 * 1024 * 1024 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  for (const line of r.stdout.split('\n')) {
    const m = /^([^:,]+)(?::[^:]+)?(?:, [^:]+)*: (.*)$/.exec(line);
    const so = m ? basename(m[2]!) : '';
    if (m && out[so]?.length === 0) out[so] = [m[1]!];
  }
  return out;
}

/** What the host's python3 is: its version, executable, and standard library directories. */
async function hostPython(): Promise<{ version: string; executable: string; stdlib: string; dynload: string }> {
  const script = 'import json, platform, sys, sysconfig; print(json.dumps([platform.python_version(), sys.executable, sysconfig.get_paths()["stdlib"], sysconfig.get_config_var("DESTSHARED")]))';
  // The distribution's python3 (scripts/test.sh installs it), not a pyenv or venv shim on PATH.
  const { stdout } = await run(existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', ['-c', script]);
  const [version, executable, stdlib, dynload] = JSON.parse(stdout) as string[];
  return { version: version!, executable: await realpath(executable!), stdlib: stdlib!, dynload: dynload! };
}

/**
 * A real, small artifact made from the host's own CPython: its interpreter and
 * standard library (extension modules included, the big pure-Python packages
 * left out), relocated under `/opt/python-<version>` and packed with
 * packArtifact. CPython finds its prefix from where the executable is, so the
 * tree runs wherever it is installed: installers can be tested end to end in
 * seconds, without building CPython. The version is the host's (3.11.2 on
 * Debian 12, whose /usr/bin/python3 it prefers).
 */
export async function makeHostPythonArtifact(outDir: string, options: { build?: number; withPackages?: boolean; keep?: readonly string[] } = {}): Promise<TestArtifact> {
  const py = await hostPython();
  // `keep`: parts of LEAVE_OUT a test needs (ensurepip, for `python -m venv` with pip).
  const leaveOut = new Set([...LEAVE_OUT].filter((name) => !options.keep?.includes(name)));
  const [major, minor] = py.version.split('.');
  const prefix = `/opt/python-${py.version}`;
  const work = await mkdtemp(join(tmpdir(), 'cpy-test-artifact-'));
  try {
    const tree = join(work, 'staging', prefix);
    const lib = join(tree, 'lib', `python${major}.${minor}`);
    await mkdir(join(tree, 'bin'), { recursive: true });
    await cp(py.executable, join(tree, 'bin', `python${major}.${minor}`));
    await symlink(`python${major}.${minor}`, join(tree, 'bin', 'python3'));
    // Like `make install`: a script whose #! names the prefix it was built for.
    await writeFile(join(tree, 'bin', `pydoc${major}.${minor}`), `#!${prefix}/bin/python${major}.${minor}\nimport pydoc\nif __name__ == '__main__':\n    pydoc.cli()\n`, { mode: 0o755 });
    await symlink(`pydoc${major}.${minor}`, join(tree, 'bin', 'pydoc3'));
    await cp(py.stdlib, lib, {
      recursive: true,
      verbatimSymlinks: true,
      filter: async (src) => {
        // The config dir's static libraries and object file are big, and unused by a shared build.
        if (leaveOut.has(basename(src)) || /\/config-[^/]*\/(.*\.a|python\.o|libpython[^/]*\.so[^/]*)$/.test(src)) return false;
        const st = await lstat(src);
        // Debian links sitecustomize.py to /etc: an artifact never carries an absolute link.
        return !st.isSymbolicLink() || !(await readlink(src)).startsWith('/');
      },
    });
    if (!py.dynload.startsWith(py.stdlib)) await cp(py.dynload, join(lib, 'lib-dynload'), { recursive: true });
    // Debian's ensurepip installs the wheels in WHEEL_PKG_DIR (/usr/share/python-wheels), which the
    // artifact's sysconfig names as <prefix>/share/python-wheels.
    if (!leaveOut.has('ensurepip')) await cp('/usr/share/python-wheels', join(tree, 'share', 'python-wheels'), { recursive: true });
    await asStandardLayout(tree, lib, prefix, `${major}.${minor}`);
    const packed = await packArtifact({
      installDir: tree,
      outDir,
      strip: false,
      sourceDateEpoch: 1_700_000_000,
      ...(options.withPackages ? { packagesFor: dpkgPackages } : {}),
      metadata: {
        version: py.version,
        build: options.build ?? 1,
        prefix,
        platform: { os: 'testhost', osVersion: '1', arch: (await run('uname', ['-m'])).stdout.trim(), libc: 'glibc' },
        builtWith: {
          profile: 'fast',
          configureArgs: [],
          compiler: 'the host python3, repacked for tests',
          builder: { kind: 'host', description: 'test fixture', identity: 'test' },
          finishedAt: new Date(1_700_000_000_000).toISOString(),
        },
        source: {
          fileName: basename(py.executable),
          sha256: '0'.repeat(64),
          verification: { method: 'unsigned', allowUnsigned: true, openpgp: null, sigstore: null },
        },
        modules: { present: [...CRITICAL_IMPORTS], missing: [] },
      },
    });
    return { path: packed.path, fileName: packed.fileName, sha256: packed.sha256, checksumPath: packed.checksumPath, metadataPath: packed.metadataPath, metadata: packed.metadata };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export type ExtraEntry = Partial<Header> & { readonly name: string; readonly body?: string };

export interface RepackOptions {
  /** Change the metadata (the first entry, and the .json beside the tarball). */
  readonly metadata?: (m: ArtifactMetadata) => ArtifactMetadata;
  /** Blanks after the first entry's JSON (still JSON, and the .json beside it as it was): a metadata entry that weighs more. */
  readonly padMetadata?: number;
  /** Entries appended after the tree, e.g. a hostile one. */
  readonly append?: readonly ExtraEntry[];
  /** Entries left out (by their name in the source artifact, and their tar type: file, symlink, directory...). */
  readonly drop?: (name: string, type: string) => boolean;
  /** Name of the new artifact; default from the (changed) metadata, in `outDir`. */
  readonly fileName?: string;
  /**
   * Claim another CPython version: the metadata, the name and the tree's
   * root (`opt/python-<version>/`) change; the interpreter inside does not,
   * so install it with skipValidation. For tests of switching versions.
   */
  readonly version?: string;
}

/**
 * Copies an artifact entry by entry into `outDir` with changes, then writes a
 * matching `.sha256` and `.json`: a crafted artifact whose checksum is right,
 * so the installer's later defences (compatibility, extraction) are what is tested.
 */
export async function repackArtifact(source: TestArtifact, outDir: string, options: RepackOptions): Promise<TestArtifact> {
  const oldRoot = source.metadata.prefix.replace(/^\//, '');
  // Another version's tree has that version's landmark, lib/python3.X/os.py, as the installers
  // check a tree can start by (treeDamage): an empty one beside the interpreter's own stdlib,
  // counted in the metadata's files (cpy index add and cpy publish check the count).
  const line = options.version ? /^(\d+\.\d+)/.exec(options.version)?.[1] : undefined;
  const own = /^(\d+\.\d+)/.exec(source.metadata.version)?.[1];
  const landmarks = line && line !== own ? 1 : 0;
  const retarget = (m: ArtifactMetadata): ArtifactMetadata =>
    options.version
      ? { ...m, version: options.version, prefix: `/opt/python-${options.version}`, contents: { ...m.contents, files: m.contents.files + landmarks, license: `opt/python-${options.version}/LICENSE.txt` } }
      : m;
  let metadata = retarget(source.metadata);
  if (options.metadata) metadata = options.metadata(metadata);
  const newRoot = metadata.prefix.replace(/^\//, '');
  const fileName =
    options.fileName ?? artifactFileName({ version: metadata.version, os: metadata.platform.os, osVersion: metadata.platform.osVersion, arch: metadata.platform.arch, build: metadata.build });
  await mkdir(outDir, { recursive: true });
  const path = join(outDir, fileName);
  const out = tarPack();
  const hash = createHash('sha256');
  const writing = pipeline(out, createGzip(), async function* (chunks: AsyncIterable<Buffer>) {
    for await (const c of chunks) {
      hash.update(c);
      yield c;
    }
  }, createWriteStream(path));
  const extractor = tarExtract();
  extractor.on('entry', (header, stream, next) => {
    if (header.name === METADATA_ENTRY) {
      stream.resume();
      stream.on('end', () => void out.entry({ ...header, size: undefined }, JSON.stringify(metadata, null, 2) + '\n' + ' '.repeat(options.padMetadata ?? 0), next));
      return;
    }
    if (options.drop?.(header.name, header.type ?? 'file')) {
      stream.on('end', next);
      stream.resume();
      return;
    }
    const name = header.name === oldRoot || header.name.startsWith(`${oldRoot}/`) ? newRoot + header.name.slice(oldRoot.length) : header.name;
    stream.pipe(out.entry({ ...header, name }, next));
  });
  await pipeline(createReadStream(source.path), createGunzip(), extractor);
  const landmark: ExtraEntry[] = landmarks ? [{ name: `${newRoot}/lib/python${line}/os.py`, body: '' }] : [];
  for (const { body, ...header } of [...landmark, ...(options.append ?? [])]) {
    if ((header.type ?? 'file') === 'file') out.entry({ mode: 0o644, mtime: new Date(0), ...header }, body ?? '');
    else out.entry({ mode: 0o644, mtime: new Date(0), ...header });
  }
  out.finalize();
  await writing;
  const sha256 = hash.digest('hex');
  const checksumPath = join(dirname(path), checksumFileName(fileName));
  const metadataPath = `${path}.json`;
  await writeFile(checksumPath, formatChecksumLine(sha256, fileName));
  await writeFile(metadataPath, JSON.stringify(metadata, null, 2) + '\n');
  return { path, fileName, sha256, checksumPath, metadataPath, metadata };
}
