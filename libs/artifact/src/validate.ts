import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { machine, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { type ArtifactMetadata, artifactMetadataSchema, checksumFileName, compareDotted, isCpyError, METADATA_ENTRY, parseArtifactFileName, parseChecksumLine, runtimeGlibc } from '@cpy/core';
import { artifactNameProblem } from './artifact-index.js';
import { compressionOf } from './archive.js';
import { sha256File } from './hash.js';
import { glibcFloor } from './elf.js';
import { extractArtifact, extractLimit, isDestinationFault } from './extract.js';
import { checkSideMetadata, checksumNameProblem, readArtifactMetadata } from './read.js';
import { checkPythonTree, hostRunner, relocateTree, type PythonRunner, type ValidationCheck } from './postinstall.js';
import { scanTree, type TreeEntry } from './tree.js';

export interface ValidationReport {
  readonly ok: boolean;
  readonly artifact: string;
  readonly sha256: string | null;
  readonly metadata: ArtifactMetadata | null;
  readonly checks: readonly ValidationCheck[];
  /** Checks not run, and why (`emulated`: those that need python3 to start python3, or a target compiler). */
  readonly skipped: readonly { readonly id: string; readonly why: string }[];
  /** `[SUCCESS]`, or `[FAILED]` and one line per failed check. */
  readonly summary: string;
}

export interface ValidateOptions {
  /** The checksum file; default `<artifact>.sha256` beside it. */
  readonly checksumFile?: string;
  /** Where to extract for the runtime checks; default a temporary directory, removed afterwards. */
  readonly workDir?: string;
  /**
   * Runs the tree's python3 somewhere else: where the artifact is meant to run (the builder's
   * container for a container build). workDir must then be visible there at the same path.
   */
  readonly runner?: PythonRunner;
  /**
   * The artifact is for another architecture and `runner` runs its programs under a user-mode
   * emulator (qemu-aarch64-static) on a host without binfmt_misc: only what runs in one python3
   * process is checked (relocation, the version, the critical imports, sysconfig, pip, and a C
   * extension built with sysconfig's compiler, the builder's cross compiler, which the emulated
   * python3 starts natively, then imported by that python3). The venvs and pip in a venv
   * (python3 starting python3) are listed in `skipped`.
   */
  readonly emulated?: boolean;
  /**
   * Stops the validation (Ctrl-C): it rejects with the signal's reason once the python3 running
   * on this host, and what it started, have ended, and the temporary directory is removed. (A
   * `runner` elsewhere is the caller's to stop.)
   */
  readonly signal?: AbortSignal;
}

const SECRET_PATTERNS: readonly [string, RegExp][] = [
  ['private key', /-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----/],
  ['GitHub token', /\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40,})\b/],
  ['AWS access key', /\bAKIA[0-9A-Z]{16}\b/],
  ['Slack token', /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/],
  ['npm token', /\bnpm_[A-Za-z0-9]{36}\b/],
];

/** Whether this host runs `arch`'s programs: its own, i686 on x86_64, one the kernel has an emulator for. */
function runsHere(arch: string): boolean {
  const host = machine();
  if (arch === host || (host === 'x86_64' && /^i[3-6]86$/.test(arch))) return true;
  return existsSync(`/proc/sys/fs/binfmt_misc/qemu-${arch}`);
}

/**
 * Validates an artifact the way a user relies on it: its checksum, name and
 * metadata, the LICENSE, no secrets inside, and, extracted to a temporary
 * directory, that python3 runs, imports the critical modules, has pip and
 * makes a venv, and that its glibc floor is what the metadata says.
 */
export async function validateArtifact(artifact: string, options: ValidateOptions = {}): Promise<ValidationReport> {
  const checks: ValidationCheck[] = [];
  const skipped: { id: string; why: string }[] = [];
  const check = (id: string, ok: boolean, detail: string) => void checks.push({ id, ok, detail });
  let digest: string | null = null;
  let metadata: ArtifactMetadata | null = null;

  const signal = options.signal;
  try {
    digest = await sha256File(artifact);
  } catch (error) {
    check('readable', false, `cannot read ${artifact}: ${(error as Error).message}`);
  }
  signal?.throwIfAborted();
  if (digest) {
    const sumFile = options.checksumFile ?? join(artifact, '..', checksumFileName(basename(artifact)));
    let unread = 'no checksum file';
    const line = await readFile(sumFile, 'utf8').then(parseChecksumLine, (error: NodeJS.ErrnoException) => {
      if (error.code === 'EISDIR') unread = 'the checksum file is a directory:';
      else if (error.code !== 'ENOENT') unread = `cannot read the checksum file (${error.code}):`;
      return undefined;
    });
    if (line === undefined) check('checksum', false, `${unread} ${sumFile}`);
    else if (line === null) check('checksum', false, `${sumFile} is not a sha256sum line`);
    else if (line.sha256 !== digest) check('checksum', false, `sha256 is ${digest}, but ${basename(sumFile)} says ${line.sha256}`);
    else {
      const named = checksumNameProblem(line, basename(artifact));
      check('checksum', !named, named ? `${basename(sumFile)} ${named}` : `sha256 ${digest}`);
    }

    try {
      const raw = await readArtifactMetadata(artifact);
      const parsed = artifactMetadataSchema.safeParse(raw);
      if (parsed.success) {
        metadata = parsed.data;
        check('metadata', true, `schema v${metadata.schemaVersion}: CPython ${metadata.version} build ${metadata.build}, ${metadata.platform.os} ${metadata.platform.osVersion} ${metadata.platform.arch}`);
        // The copy beside it, which installers read before they download, as index add checks it.
        // (None beside it: nothing to check, and no check.)
        const side = await checkSideMetadata(artifact, raw).then(
          (there) => (there ? { ok: true, detail: `${basename(artifact)}.json is a copy of it` } : null),
          (error: unknown) => ({ ok: false, detail: isCpyError(error) ? `${error.message}; ${error.hint}` : String(error) }),
        );
        if (side) check('side-metadata', side.ok, side.detail);
      } else {
        const issue = parsed.error.issues[0]!;
        check('metadata', false, `${METADATA_ENTRY} does not match the schema: ${issue.path.join('.')}: ${issue.message}`);
      }
    } catch (error) {
      // A missing zstd is this machine's, not the artifact's: said as it is (it was a failed check, "rebuild").
      if (isCpyError(error, 'CPY_ARTIFACT_NO_ZSTD')) throw error;
      check('metadata', false, `cannot read ${METADATA_ENTRY}: ${(error as Error).message}`);
    }
    // The name as index add and publish check it (artifactNameProblem): version, os, arch, build and the compression.
    // With the metadata, a name that is none (cpython-...-x86_64-build1.tgz: x86_64 is left out)
    // is said with the name it should have.
    if (metadata) {
      const problem = artifactNameProblem(basename(artifact), metadata, (await compressionOf(artifact)) ?? undefined);
      check('name', !problem, problem ? `${problem.message}; ${problem.hint}` : basename(artifact));
    } else if (!parseArtifactFileName(basename(artifact))) check('name', false, `${basename(artifact)} is not named cpython-<version>-<os><osversion>[-<arch>]-build<N>.tgz`);
  }

  if (digest && metadata) {
    const work = options.workDir ?? (await mkdtemp(join(tmpdir(), 'cpy-validate-')));
    const root = metadata.prefix.replace(/^\//, '');
    try {
      const tree = join(work, 'tree');
      let extracted = false;
      try {
        const r = await extractArtifact(artifact, { dest: tree, root, maxBytes: extractLimit(metadata) });
        extracted = true;
        check('structure', true, `${r.files} entries under ${root}/, none unsafe`);
      } catch (error) {
        // A disk that cannot take the tree (full, read-only, not ours to write) says nothing of
        // the artifact: that is the error, naming where, not a failed check.
        if (isDestinationFault(error)) throw error;
        check('structure', false, (error as Error).message);
      }
      signal?.throwIfAborted();
      if (extracted) await runtimeChecks(join(tree, root), metadata, work, options, check, skipped);
    } finally {
      if (!options.workDir) await rm(work, { recursive: true, force: true });
    }
  }

  const failed = checks.filter((c) => !c.ok);
  const ok = failed.length === 0 && checks.length > 0;
  const summary = ok ? '[SUCCESS]' : ['[FAILED]', ...failed.map((c) => `- ${c.id}: ${c.detail}`)].join('\n');
  return { ok, artifact, sha256: digest, metadata, checks, skipped, summary };
}

/** Timestamp-based .pyc files whose recorded source mtime or size does not match the source beside them. */
async function staleBytecode(prefix: string, entries: readonly TreeEntry[]): Promise<string[]> {
  const stale: string[] = [];
  for (const e of entries) {
    const m = /^(.*?)\/?__pycache__\/([^/.]+)\.[^/]+\.pyc$/.exec(e.path);
    if (!m || e.type !== 'file') continue;
    const source = join(prefix, m[1]!, `${m[2]}.py`);
    const st = await stat(source).catch(() => null);
    if (!st) continue;
    const fh = await open(join(prefix, e.path), 'r');
    const head = Buffer.alloc(16);
    try {
      await fh.read(head, 0, 16, 0);
    } finally {
      await fh.close();
    }
    if (head.readUInt32LE(4) !== 0) continue;
    if (head.readUInt32LE(8) !== Math.floor(st.mtimeMs / 1000) >>> 0 || head.readUInt32LE(12) !== st.size >>> 0) stale.push(e.path);
  }
  return stale;
}

async function runtimeChecks(
  prefix: string,
  metadata: ArtifactMetadata,
  work: string,
  options: ValidateOptions,
  check: (id: string, ok: boolean, detail: string) => void,
  skipped: { id: string; why: string }[] = [],
): Promise<void> {
  const license = await readFile(join(prefix, 'LICENSE.txt'), 'utf8').catch(() => null);
  check('license', Boolean(license?.includes('PYTHON SOFTWARE FOUNDATION LICENSE')), license ? 'LICENSE.txt (PSF)' : 'no LICENSE.txt at the top of the tree');

  const entries = await scanTree(prefix);
  const floor = glibcFloor(entries.flatMap((e) => (e.elf ? [e.elf] : [])));
  check('glibc-floor', floor === metadata.platform.glibcFloor, floor === metadata.platform.glibcFloor ? `needs glibc ${floor}` : `the ELF files need glibc ${floor}, the metadata says ${metadata.platform.glibcFloor}`);

  const found: string[] = [];
  for (const e of entries) {
    options.signal?.throwIfAborted();
    if (e.type !== 'file' || e.size > 8 * 1024 * 1024) continue;
    if (metadata.contents.tests && /^lib\/python\d+\.\d+\/test\//.test(e.path)) continue;
    const text = (await readFile(join(prefix, e.path))).toString('latin1');
    for (const [what, re] of SECRET_PATTERNS) if (re.test(text)) found.push(`${what} in ${e.path}`);
  }
  check('secrets', found.length === 0, found.length ? `must never ship: ${found.join(', ')}` : 'no private keys or tokens');

  // Run here, another architecture's python3 would not start ("Exec format error", said as a
  // failed relocation): said as what it is. (Not where it does: i686 code on x86_64, or an
  // emulator registered with the kernel for it, binfmt_misc's qemu-<arch>.)
  if (!options.runner && !runsHere(metadata.platform.arch)) {
    check('runs', false, `this host is ${machine()}, the artifact is for ${metadata.platform.arch}: validate it on an ${metadata.platform.arch} system like its builder (${metadata.platform.os} ${metadata.platform.osVersion})`);
    return;
  }
  const host = options.runner ? null : runtimeGlibc();
  if (metadata.platform.glibcFloor && host && compareDotted(host, metadata.platform.glibcFloor) < 0) {
    check('runs', false, `this host has glibc ${host}, the artifact needs ${metadata.platform.glibcFloor}: validate it on a system like its builder (${metadata.platform.os} ${metadata.platform.osVersion})`);
    return;
  }
  // Before python3 runs: importing rewrites the stale .pyc files it touches.
  const stale = await staleBytecode(prefix, entries);
  check('bytecode', stale.length === 0, stale.length ? `${stale.length} .pyc files do not match their sources' mtimes and would be recompiled on every start, e.g. ${stale.slice(0, 3).join(', ')}` : 'every .pyc matches its source');
  options.signal?.throwIfAborted();
  const runner = options.runner ?? hostRunner(options.signal);
  // Unpacked away from its build prefix, as a user installs it: relocated first, then checked.
  try {
    const moved = await relocateTree(prefix, metadata.prefix, prefix, runner);
    check('relocation', moved.tooLong.length === 0, moved.tooLong.length ? `#! lines too long: ${moved.tooLong.join(', ')}` : `relocated to ${prefix} (${moved.rewritten.length} files rewritten)`);
  } catch (error) {
    options.signal?.throwIfAborted();
    check('relocation', false, (error as Error).message);
    return;
  }
  const emulated = Boolean(options.emulated && options.runner);
  for (const c of await checkPythonTree(prefix, metadata.version, { workDir: join(work, 'checks'), runner, ...(emulated ? { venvs: false } : {}) })) check(c.id, c.ok, c.detail);
  const pip = await runner(join(prefix, 'bin', 'python3'), ['-m', 'pip', '--version']);
  check('pip', pip.exitCode === 0, (pip.stdout + pip.stderr).trim().split('\n').slice(-2).join(' '));
  if (emulated) {
    const why = `${metadata.platform.arch} code runs here only under an emulator, which cannot start a second ${metadata.platform.arch} program (no binfmt_misc)`;
    skipped.push({ id: 'venv', why }, { id: 'venv-copies', why }, { id: 'venv-pip', why });
    return;
  }
  // pip in a venv made through a link outside the prefix (ensurepip runs in the venv).
  const venvDir = join(work, 'venv-pip');
  const made = await runner(join(work, 'checks', 'link-bin', 'python3'), ['-m', 'venv', venvDir]);
  const inVenv = made.exitCode === 0 ? await runner(join(venvDir, 'bin', 'python'), ['-m', 'pip', '--version']) : made;
  const venvOk = inVenv.exitCode === 0 && inVenv.stdout.includes(venvDir);
  check('venv-pip', venvOk, venvOk ? 'pip works in a venv made through a link outside the prefix' : `python3 -m venv with pip failed: ${(inVenv.stderr || inVenv.stdout).trim().split('\n').slice(-2).join(' ')}`);
}

