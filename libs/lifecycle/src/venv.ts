import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, lstat, readdir, readFile, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ATOMIC_TMP_INFIX, CpyError, type LockOwner, withLock, writeFileAtomic } from '@cpy/core';
import { writeFault } from '@cpy/core/faults';
import { findInstalled, installPython, listInstalled, repairHint, type Environment, type InstallOptions, type InstalledVersion, type VersionOptions } from '@cpy/install';
import { runStoppable } from './stoppable.js';

const run = promisify(execFile);

/** What `pyvenv.cfg` says of a venv, and whether its base interpreter is still there. */
export interface VenvInfo {
  readonly path: string;
  /** The base interpreter's version (`version` or `version_info`). */
  readonly version: string | null;
  /** The base interpreter's directory (`home`). */
  readonly home: string | null;
  /**
   * False when the venv's python no longer leads to the interpreter it was made with: bin/python
   * points at nothing, or `home` holds no python<major.minor> of the version pyvenv.cfg names (the
   * base was uninstalled or moved, or an OS upgrade put another Python there).
   */
  readonly baseInstalled: boolean;
  /** The cpy install it is based on, when it is one. */
  readonly cpyVersion: string | null;
}

export type VenvEvent =
  | { readonly type: 'phase'; readonly phase: 'recover' | 'read' | 'target' | 'create' | 'install' | 'check' | 'swap'; readonly detail: string }
  | { readonly type: 'output'; readonly line: string };

export interface VenvOptions extends VersionOptions {
  readonly onEvent?: (event: VenvEvent) => void;
}

const NEXT = '.cpy-next';
const PREVIOUS = '.cpy-previous';
const JOURNAL = '.cpy-upgrade.json';
const LOCK = '.cpy-upgrade.lock';
/** Where the exchange by renames puts a venv aside between its first and third rename. */
const SWAP = '.cpy-swap';
/** The venv an earlier upgrade kept, moved aside to be deleted: `<venv>.cpy-discard-<upgrade id>`. */
const DISCARD = '.cpy-discard-';
const CFG = 'pyvenv.cfg';
/**
 * What this environment may hold that sends the new venv's python, or pip's installs, elsewhere
 * than the new venv: PYTHONHOME (its standard library looked for there), PYTHONPATH (a pip or a
 * package imported from there), PIP_TARGET, PIP_PREFIX and PIP_ROOT (the distributions installed
 * outside the venv, whose import check then failed as if they did not work on the target), PIP_USER
 * (which pip refuses in a venv), PIP_PYTHON (pip 22.3's --python: another interpreter's packages).
 * (The same settings in a pip.conf still apply: they are the user's file.) Left out of the runs that make and fill it; the rest (PIP_INDEX_URL,
 * a proxy, PIP_CERT) is kept.
 */
const REDIRECTS = ['PYTHONHOME', 'PYTHONPATH', 'PIP_TARGET', 'PIP_PREFIX', 'PIP_ROOT', 'PIP_USER', 'PIP_PYTHON'] as const;
/** What a program says when the disk it writes is full (OSError's strerror; errno 28 no space, 122 over quota). */
const FULL = /No space left|Disk quota|\[Errno (28|122)\]/;
/** pip could not reach an index (its retries' warnings): each distribution alone would wait as long again. */
const UNREACHABLE = /NewConnectionError|ConnectTimeoutError|ReadTimeoutError|ProxyError|Temporary failure in name resolution|Name or service not known|Network is unreachable|Connection refused/;
/** pip found no distribution to install for a requirement, or could not read an index page. */
const GAVE_UP = /No matching distribution found|Could not find a version that satisfies|Could not fetch URL/;
/** How a failure for that begins (the hint looks for it). */
const UNREACHED = 'pip cannot reach its index';
/** Why, from pip's warning (urllib3's words, without its object names). */
const unreachedWhy = (line: string) => /Failed to establish a new connection: ([^'"]+)/.exec(line)?.[1]?.trim() ?? UNREACHABLE.exec(line)?.[0] ?? line.trim();

function parseCfg(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_.-]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out.set(m[1]!.toLowerCase(), m[2]!);
  }
  return out;
}

async function readCfg(path: string): Promise<Map<string, string> | null> {
  const text = await readFile(join(path, CFG), 'utf8').catch(() => null);
  return text === null ? null : parseCfg(text);
}

/** Reads a venv's pyvenv.cfg; refuses a directory that is not a venv. */
export async function readVenv(path: string, options: VenvOptions = {}): Promise<VenvInfo> {
  const dir = resolve(path);
  const cfg = await readCfg(dir);
  if (!cfg) {
    // A path with nothing there is said so ("no pyvenv.cfg" read as a directory that is not a venv).
    const why = existsSync(dir) ? `no ${CFG}` : 'nothing is there';
    throw new CpyError('CPY_VENV_NOT_A_VENV', `${dir} is not a virtual environment (${why})`, { hint: 'give the venv directory, the one that holds pyvenv.cfg and bin/python' });
  }
  const home = cfg.get('home') ?? null;
  const version = versionOf(cfg);
  const installed = await listInstalled(options).catch(() => []);
  const cpy = home ? installed.find((i) => resolve(i.prefix, 'bin') === resolve(home)) : undefined;
  const line = minorOf(version);
  const base = home === null ? [] : line ? pythonNames(line) : ['python3'];
  return {
    path: dir,
    version,
    home,
    baseInstalled: existsSync(join(dir, 'bin', 'python')) && base.some((name) => existsSync(join(home!, name))),
    cpyVersion: cpy?.version ?? null,
  };
}

/** The base interpreter's version a pyvenv.cfg names (`version`, or virtualenv's `version_info`). */
const versionOf = (cfg: Map<string, string> | null) => cfg?.get('version') ?? cfg?.get('version_info') ?? null;

/** `3.11` of `3.11.2` (or of `3.11.2.final.0`, a version_info); null for anything else. */
function minorOf(version: string | null): string | null {
  return /^(\d+\.\d+)(\.|$)/.exec(version ?? '')?.[1] ?? null;
}

/** What a release line's interpreter, and its directory in lib/, are named: python3.13, python3.13t (free-threaded). */
const pythonNames = (line: string) => [`python${line}`, `python${line}t`];

const SKIP_DIRS = new Set(['node_modules', '.git', '__pycache__', 'site-packages', 'dist-packages']);

/** The venvs (directories with a pyvenv.cfg) in `dirs` and below them, `depth` levels deep. */
export async function listVenvs(dirs: readonly string[], options: VenvOptions & { depth?: number } = {}): Promise<VenvInfo[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (existsSync(join(dir, CFG))) {
      found.push(dir);
      return;
    }
    if (depth === 0) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      // What an upgrade keeps or leaves beside a venv (a new one, the one kept for rollback, one aside
      // between two renames or to be deleted) is that venv's, not a venv of its own.
      if (SKIP_DIRS.has(e.name) || e.name.endsWith(NEXT) || e.name.endsWith(PREVIOUS) || e.name.endsWith(SWAP) || e.name.includes(DISCARD)) continue;
      // A link to a venv (.venv -> /data/envs/proj) is one too; below a link, only a venv counts.
      if (e.isDirectory()) await walk(join(dir, e.name), depth - 1);
      else if (e.isSymbolicLink() && existsSync(join(dir, e.name, CFG))) found.push(join(dir, e.name));
    }
  };
  for (const dir of dirs.map((d) => resolve(d))) {
    // A directory given that is not one (a typing mistake) is said, not searched as empty.
    const st = await stat(dir).catch(() => null);
    if (!st?.isDirectory()) {
      throw new CpyError('CPY_VENV_NOT_FOUND', `${dir} ${st ? 'is not a directory' : 'does not exist'}: no venv is looked for there`, { hint: 'give a directory that holds venvs (default: this one), or a venv itself' });
    }
    await walk(dir, options.depth ?? 3);
  }
  // A venv and a link to it found both are listed once, by the first path in order.
  const seen = new Set<string>();
  const out: VenvInfo[] = [];
  for (const path of [...new Set(found)].sort()) {
    const real = await realpath(path).catch(() => path);
    if (seen.has(real)) continue;
    seen.add(real);
    out.push(await readVenv(path, options));
  }
  return out;
}

/** One installed distribution of a venv and the top-level modules it provides. */
export interface Distribution {
  readonly name: string;
  readonly version: string;
  readonly modules: readonly string[];
  /**
   * What pip installs it from again, when that is not `name==version` from an index: `-e <dir>`
   * for an editable install (PEP 610's direct_url.json, or an older .egg-link), a directory, a VCS
   * URL at its commit, or an archive's URL.
   */
  readonly source?: readonly string[];
}

/**
 * What pip is given to install `d` again: its source (an editable project, a URL) or `name==version`.
 * Offline (`--no-index`, --find-links alone), a source on the network (a VCS or an https URL,
 * which pip would fetch anyway) is installed by name and version from --find-links.
 */
export function requirement(d: Distribution, offline: boolean): readonly string[] {
  const first = d.source?.[0];
  const remote = first !== undefined && first !== '-e' && !first.startsWith('/') && !first.startsWith('file:');
  return d.source && !(offline && remote) ? d.source : [`${d.name}==${d.version}`];
}

// What the site-packages directories given (argv[1], a JSON list) hold: each distribution with
// its top-level modules, those that are there (a top_level.txt may name one the wheel never held:
// Debian's setuptools names debian), and where pip took it from when not from an index; the
// names no distribution owns; and what the distributions installed in the venv (argv[2]) outside
// lib/ (their scripts in bin/, data files in share/ or etc/). Any Python 3.8+ reads them: metadata
// does not depend on the version.
const INSPECT = String.raw`
import glob, importlib.metadata as md, json, os, re, sys
from urllib.parse import unquote, urlsplit
site = json.loads(sys.argv[1])
def files(dist):
    # Its RECORD (or installed-files.txt); none where that cannot be read (some 3.12 releases raise
    # on an installed-files.txt that names ../../bin files).
    try:
        return dist.files or []
    except Exception:
        return []
venv = sys.argv[2]
outside = set()
def installed_outside(dist):
    # The files its RECORD names outside lib/ (../../../bin/pip), as paths in the venv; and its
    # console and GUI scripts by name, which pip writes to bin/ even where no RECORD lists them
    # (setup.py develop).
    for f in files(dist):
        if f.parts and f.parts[0] == '..':
            rel = os.path.relpath(os.path.normpath(str(dist.locate_file(f))), venv)
            if not rel.startswith('..') and rel.split(os.sep)[0] not in ('lib', 'lib64'):
                outside.add(rel)
    try:
        outside.update('bin/' + e.name for e in dist.entry_points if e.group in ('console_scripts', 'gui_scripts'))
    except Exception:
        pass
def there(bases, m):
    for base in bases:
        p = os.path.join(base, m)
        if os.path.isdir(p) or os.path.isfile(p + '.py') or glob.glob(glob.escape(p) + '.*.so') or os.path.isfile(p + '.so'):
            return True
    return False
def local(url):
    u = urlsplit(url)
    return unquote(u.path) if u.scheme == 'file' and u.netloc in ('', 'localhost') else None
def pth_dirs(dist):
    # The directories an editable install's .pth puts on sys.path (hatch, flit, setuptools' lenient mode).
    dirs = []
    for f in files(dist):
        if f.suffix == '.pth':
            try:
                lines = f.read_text().splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            dirs += [l.strip() for l in lines if l.strip() and not l.startswith(('import ', 'import\t', '#')) and os.path.isdir(l.strip())]
    return dirs
def source(dist):
    # PEP 610: where pip took it from when not from an index. None: install it by name and version.
    text = dist.read_text('direct_url.json')
    if not text:
        return None, []
    d = json.loads(text)
    url, sub = d.get('url', ''), d.get('subdirectory')
    if 'dir_info' in d and local(url):
        path = os.path.join(local(url), sub) if sub else local(url)
        if d['dir_info'].get('editable'):
            return ['-e', path], [path, os.path.join(path, 'src')] + pth_dirs(dist)
        # A directory since deleted (a build tree, a checkout in /tmp): by name and version, as a
        # local file that is gone, from --find-links or the index.
        return ([path], []) if os.path.isdir(path) else (None, [])
    if 'vcs_info' in d:
        v = d['vcs_info']
        return [v['vcs'] + '+' + url + '@' + v.get('commit_id', v.get('requested_revision', '')) + ('#subdirectory=' + sub if sub else '')], []
    if 'archive_info' in d:
        name = os.path.basename(urlsplit(url).path)
        # A wheel built for one Python (cp311) does not install on another, and a local file may be
        # gone: then by name and version, from --find-links or the index.
        if name.endswith('.whl') and not re.search(r'-(py\d*(\.py\d*)*|cp3\d*)-(none|abi3)-', name):
            return None, []
        if local(url) is not None and not os.path.exists(local(url)):
            return None, []
        return [url + ('#subdirectory=' + sub if sub else '')], []
    return None, []
def modules(dist, bases, editable):
    mods = set()
    top = dist.read_text('top_level.txt')
    if top:
        mods.update(l.strip() for l in top.splitlines() if l.strip())
    else:
        for f in files(dist):
            parts = f.parts
            if not parts or parts[0] in ('..', '__pycache__') or parts[0].endswith(('.dist-info', '.egg-info', '.data')):
                continue
            first = parts[0]
            if len(parts) == 1:
                if first.endswith('.py'):
                    mods.add(first[:-3])
                elif first.endswith('.so'):
                    mods.add(first.split('.')[0])
            else:
                mods.add(first)
    named = [m for m in mods if m.isidentifier() and not m.startswith('_')]
    found = [m for m in named if there(bases, m)]
    # An editable project's modules may be where only its import hook knows: all it names is checked.
    return sorted(found if found or not editable else named)
out, unreadable = [], []
# Editable installs of before PEP 660 (setup.py develop): an .egg-link whose first line is where
# the .egg-info is (src/ in a src layout) and whose second is the project, relative to it.
for base in site:
    for link in glob.glob(os.path.join(glob.escape(base), '*.egg-link')):
        try:
            with open(link) as f:
                lines = [l.strip() for l in f.read().splitlines()]
            egg = lines[0] if lines and os.path.isabs(lines[0]) else None
            if not egg or not os.path.isdir(egg):
                raise ValueError('names no project')
            project = os.path.normpath(os.path.join(egg, lines[1])) if len(lines) > 1 and lines[1] else egg
            for dist in md.distributions(path=[egg]):
                if dist.metadata['Name']:
                    installed_outside(dist)
                    out.append({'name': dist.metadata['Name'], 'version': dist.version, 'modules': modules(dist, [egg, project], True), 'source': ['-e', project]})
        except Exception as e:
            unreadable.append('%s: %s' % (os.path.basename(link), e))
owned = set()
for dist in md.distributions(path=site):
    try:
        name = dist.metadata['Name']
        if not name:
            continue
        for f in files(dist):
            if f.parts:
                owned.add(f.parts[0])
        installed_outside(dist)
        src, bases = source(dist)
        entry = {'name': name, 'version': dist.version, 'modules': modules(dist, [str(dist.locate_file(''))] + bases, bool(src and src[0] == '-e'))}
        if src:
            entry['source'] = src
        out.append(entry)
    except Exception as e:
        unreadable.append('%s: %s' % (getattr(dist, '_path', dist), e))
# What site-packages holds that no distribution owns (a .pth or a sitecustomize.py written by
# hand): an upgrade cannot carry it. virtualenv's own helper and pip's editable hooks are left out.
loose = sorted({n for base in site for n in os.listdir(base)
                if n not in owned and n not in ('__pycache__', 'easy-install.pth') and not n.endswith(('.dist-info', '.egg-info', '.egg-link'))
                and not n.startswith(('_virtualenv.', '__editable__'))})
print(json.dumps({'distributions': sorted(out, key=lambda d: d['name'].lower()), 'loose': loose, 'outside': sorted(outside), 'unreadable': unreadable}))
`;

/**
 * Where a venv's own distributions are: lib/python<X.Y>[t]/site-packages of the version its
 * pyvenv.cfg names, else the only such directory. Read from the disk, not from the venv's
 * sys.path: a venv whose python now is another version (an OS upgrade under a venv made with
 * /usr/bin/python3) puts its own lib/python<new>/site-packages, which does not exist, on sys.path,
 * and would seem to hold nothing.
 */
export async function siteDirs(venv: string, version: string | null): Promise<string[]> {
  const lib = join(venv, 'lib');
  const names = (await readdir(lib).catch(() => [] as string[])).filter((n) => /^python\d+\.\d+t?$/.test(n) && existsSync(join(lib, n, 'site-packages'))).sort();
  const line = minorOf(version);
  const mine = line ? names.filter((n) => pythonNames(line).includes(n)) : [];
  const chosen = mine.length > 0 ? mine : names.length === 1 ? names : [];
  if (chosen.length === 0) {
    throw new CpyError(
      'CPY_VENV_BROKEN',
      names.length === 0
        ? `${venv} has no lib/python<version>/site-packages: there are no packages to carry over`
        : `${venv} holds site-packages for ${names.join(', ')}, and its pyvenv.cfg names ${version ?? 'no version'}: which are its own is not clear`,
      { hint: 'recreate the venv (python3 -m venv) and install its packages again' },
    );
  }
  return chosen.map((n) => join(lib, n, 'site-packages'));
}

const SYS_PATH = 'cpy-sys-path: ';

/**
 * The JSON a python script printed on a last line of its own after `marker`, or null: what else
 * the script's python prints (a .pth at start, a module on import) comes before it.
 */
function markedJson<T>(stdout: string, marker: string): T | null {
  const line = stdout.split('\n').findLast((l) => l.startsWith(marker));
  try {
    return line === undefined ? null : (JSON.parse(line.slice(marker.length)) as T);
  } catch {
    return null;
  }
}

/** Whether the venv's own python runs and imports from `site` (false: it no longer runs its packages). */
export async function runsItsPackages(venv: string, site: readonly string[]): Promise<boolean> {
  // On a line of its own after a marker: a .pth or sitecustomize of the venv may print too.
  const script = `import json, os, sys; print('\\n${SYS_PATH}' + json.dumps([os.path.realpath(p) for p in sys.path]))`;
  const r = await run(join(venv, 'bin', 'python'), ['-I', '-c', script]).catch(() => null);
  const answer = r ? markedJson<string[]>(r.stdout, SYS_PATH) : null;
  if (!answer) return false;
  const path = new Set(answer);
  const real = await Promise.all(site.map((d) => realpath(d).catch(() => d)));
  return real.every((d) => path.has(d));
}

/** What a venv's site-packages (`site`) hold, read by `python`. */
export interface SiteContents {
  readonly distributions: Distribution[];
  /** The names in site-packages no distribution owns. */
  readonly loose: string[];
  /** What the distributions installed in the venv outside lib/, as paths in it: `bin/pip`, `share/man/man1/x.1`. */
  readonly outside: string[];
}

/** What a venv's site-packages (`site`) hold, read by `python`: its distributions, the names no distribution owns, and what they put outside lib/. */
export async function readSite(python: string, venv: string, site: readonly string[]): Promise<SiteContents> {
  let read: SiteContents & { unreadable: string[] };
  try {
    const { stdout } = await run(python, ['-I', '-c', INSPECT, JSON.stringify(site), venv], { maxBuffer: 16 * 1024 * 1024 });
    read = JSON.parse(stdout) as typeof read;
  } catch (cause) {
    throw new CpyError('CPY_VENV_BROKEN', `cannot read the packages of ${venv} with ${python}: ${((cause as { stderr?: string }).stderr || (cause as Error).message).trim().split('\n').pop()}`, {
      hint: 'their metadata (the *.dist-info directories in site-packages) may be damaged: recreate the venv and install its packages again',
      cause,
    });
  }
  // A distribution that cannot be read cannot be installed again: said, not dropped.
  if (read.unreadable.length > 0) {
    throw new CpyError('CPY_VENV_BROKEN', `cannot read what ${venv} holds: ${read.unreadable.join('; ')}`, {
      hint: 'the venv is as it was; repair or remove what is named (pip uninstall it, or delete that entry of site-packages), then run the command again',
    });
  }
  return { distributions: read.distributions, loose: read.loose, outside: read.outside };
}

/** A distribution a venv's python sees outside the venv: its base's, through --system-site-packages. */
export interface SeenDistribution {
  readonly name: string;
  readonly version: string;
  /** The directory it is in (/usr/lib/python3/dist-packages for Debian's python3). */
  readonly location: string;
}

// Prints what the venv's python imports a distribution from, in sys.path order (the first of a
// name is what an import finds): {"inside": [names], "outside": [{name, version, location}]}, on a
// line of its own after SEEN_MARK: a .pth of the venv or its base may print too, even at exit.
const SEEN_MARK = 'cpy-seen: ';
const SEEN = String.raw`
import json, os, re, sys
from importlib import metadata
prefix = os.path.realpath(sys.prefix) + os.sep
inside, outside, found = [], [], set()
for d in metadata.distributions():
    name = d.metadata['Name']
    key = re.sub(r'[-_.]+', '-', name or '').lower()
    if not key or key in found:
        continue
    found.add(key)
    where = os.path.realpath(str(d.locate_file('')))
    if (where + os.sep).startswith(prefix):
        inside.append(name)
    else:
        outside.append({'name': name, 'version': d.version or '', 'location': where})
outside.sort(key=lambda d: d['name'].lower())
sys.stdout.flush()
sys.stdout.write('\n${SEEN_MARK}' + json.dumps({'inside': inside, 'outside': outside}) + '\n')
`;

/**
 * The distributions a venv's own python finds, its own and those outside it (its base's, through
 * include-system-site-packages); -I: the environment adds nothing. Null when it cannot say: it
 * does not run, or has no importlib.metadata (3.7).
 */
async function seenBy(venv: string): Promise<{ inside: string[]; outside: SeenDistribution[] } | null> {
  // (What it printed after its answer, an atexit print of a .pth, was read as the answer: a JSON
  // error thrown where nothing waited for it yet, and the process ended, the upgrade half made.)
  return run(join(venv, 'bin', 'python'), ['-I', '-c', SEEN], { cwd: venv, maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout }) => markedJson<{ inside: string[]; outside: SeenDistribution[] }>(stdout, SEEN_MARK),
    () => null,
  );
}

// Imports each module (argv[1], a JSON list), saying on lines of their own which it begins
// (IMPORTING) and why one failed (IMPORT_FAILED), flushed as they happen, and DONE at the end: a
// module may print on import (pygame does), end python, or never finish, and the lines before
// say which one it was.
const IMPORTING = 'cpy-importing: ';
const IMPORT_FAILED = 'cpy-import-failed: ';
const IMPORTS_DONE = 'cpy-imports-done';
const IMPORT_ALL = String.raw`
import importlib, json, sys
def say(line):
    sys.stdout.write('\n' + line + '\n')
    sys.stdout.flush()
for m in json.loads(sys.argv[1]):
    say('${IMPORTING}' + json.dumps(m))
    try:
        importlib.import_module(m)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        say('${IMPORT_FAILED}' + json.dumps([m, f'{type(e).__name__}: {e}']))
say('${IMPORTS_DONE}')
`;

/** How long one python may take over its imports: past it, an import hangs (on a network, a lock, input). */
const IMPORT_TIMEOUT_MS = 5 * 60_000;

/**
 * The modules of `modules` that fail to import in the venv, with why. A stop (`signal`) ends the
 * python importing (its whole group) and throws: the imports went on, a module at a time (each
 * one's KeyboardInterrupt was taken for its import error), in the old venv and then the new. A
 * module whose import ends python (a crash, os._exit), or is still running after `timeoutMs` (it
 * waits on a network, a lock, input: the upgrade waited for it forever), is named with that, and
 * the modules after it are imported by another python.
 */
export async function importErrors(venv: string, modules: readonly string[], signal?: AbortSignal, timeoutMs = IMPORT_TIMEOUT_MS): Promise<Record<string, string>> {
  const python = join(venv, 'bin', 'python');
  const errors: Record<string, string> = {};
  let left = [...modules];
  while (left.length > 0) {
    const run = await importRun(python, left, signal, timeoutMs);
    Object.assign(errors, run.errors);
    if (run.stopped === null) break;
    // The one it was importing when python ended or was ended (none said: the first, before any could be).
    const at = run.importing === null ? 0 : Math.max(0, left.indexOf(run.importing));
    errors[left[at]!] = run.stopped;
    left = left.slice(at + 1);
  }
  return errors;
}

/**
 * One python (isolated: -I, so that neither PYTHONPATH nor a module in the working directory, the
 * venv's own, stands in for what the venv holds) importing `modules`: the errors it said, and, when
 * it did not get to the end, why (`stopped`) and the module it was importing then.
 */
async function importRun(python: string, modules: readonly string[], signal: AbortSignal | undefined, timeoutMs: number): Promise<{ errors: Record<string, string>; stopped: string | null; importing: string | null }> {
  if (signal?.aborted) throw new Error('stopped');
  const late = AbortSignal.timeout(timeoutMs);
  const stop = signal ? AbortSignal.any([signal, late]) : late;
  const r = await runStoppable(python, ['-I', '-c', IMPORT_ALL, JSON.stringify(modules)], { cwd: dirname(dirname(python)), maxBuffer: 64 * 1024 * 1024, signal: stop }).then(
    ({ stdout }) => ({ stdout, ended: null }),
    (e: { stdout?: string; stderr?: string; code?: number | string; signal?: string | null; message: string }) => ({
      stdout: e.stdout ?? '',
      ended: e.signal ? `the import ended python (${e.signal})` : `the import ended python (exit ${e.code ?? '?'}${e.stderr?.trim() ? `: ${e.stderr.trim().split('\n').pop()}` : ''})`,
    }),
  );
  const errors: Record<string, string> = {};
  let importing: string | null = null;
  let done = false;
  for (const line of r.stdout.split('\n')) {
    try {
      if (line.startsWith(IMPORTING)) importing = JSON.parse(line.slice(IMPORTING.length)) as string;
      else if (line.startsWith(IMPORT_FAILED)) {
        const [m, why] = JSON.parse(line.slice(IMPORT_FAILED.length)) as [string, string];
        errors[m] = why;
      } else if (line === IMPORTS_DONE) done = true;
    } catch {
      // A module's own output that looks like ours: not ours.
    }
  }
  if (r.ended !== null && late.aborted && !signal?.aborted) {
    const after = timeoutMs >= 60_000 ? `${timeoutMs / 60_000} minutes` : `${timeoutMs / 1000} s`;
    return { errors, importing, stopped: `the import did not finish in ${after} (it hangs: on the network, a lock or input?)` };
  }
  if (r.ended === null && done) return { errors, importing: null, stopped: null };
  return { errors, importing, stopped: r.ended ?? 'python gave no answer' };
}

// Swaps two directories in one step (renameat2 RENAME_EXCHANGE), so that a kill leaves one or the
// other in place, never neither; exit 3 where the kernel or filesystem cannot.
const EXCHANGE = String.raw`
import ctypes, os, signal, sys
# Once begun, the swap ends: a Ctrl-C at the terminal reaches this process too, and so do a
# closed terminal (SIGHUP) and a cancelled job (SIGTERM to the process group).
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
libc = ctypes.CDLL(None, use_errno=True)
f = getattr(libc, 'renameat2', None)
if f is None:
    sys.exit(3)
if f(-100, os.fsencode(sys.argv[1]), -100, os.fsencode(sys.argv[2]), 2) != 0:
    e = ctypes.get_errno()
    if e in (22, 38, 95):
        sys.exit(3)
    sys.stderr.write(os.strerror(e))
    sys.exit(5 if e == 18 else 4)
`;

/**
 * EXDEV from a rename within one directory: an overlay file system (a container's) whose lower
 * layer (the image) holds the directory, which it cannot rename.
 */
const inImageLayer = (a: string, b: string, cause: unknown) =>
  new CpyError('CPY_VENV_SWAP_FAILED', `cannot swap ${a} and ${b}: the venv is in a container image's layer (an overlay file system), where a directory cannot be renamed`, {
    hint: 'nothing was swapped; recreate the venv on the new version (python3 -m venv), or keep venvs on a volume or in the workspace, where cpy venv upgrade can swap them',
    cause,
  });

/**
 * A venv that is a mount point (a volume at /app/.venv) cannot be swapped by a rename: the kernel
 * refuses (EBUSY), after the whole new venv was built. Said before anything is built.
 */
async function swappable(venv: string): Promise<void> {
  if (await isMountPoint(venv)) {
    throw new CpyError('CPY_VENV_SWAP_FAILED', `${venv} is a mount point: a venv is upgraded by renaming a new one into its place, which a mount point does not allow`, {
      hint: `nothing was changed; mount the directory above the venv instead (${dirname(venv)}), or recreate the venv on the new version in place`,
    });
  }
}

/**
 * Whether `dir` (a real path) is a mount point: a line of /proc/self/mountinfo names it (a bind
 * mount of the same file system too; a btrfs subvolume, which renames, not). Where /proc does not
 * say, a device other than its parent's.
 */
async function isMountPoint(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => null);
  if (info === null) {
    const [own, parent] = await Promise.all([stat(dir), stat(dirname(dir))]);
    return own.dev !== parent.dev;
  }
  // The fifth field, its blanks and backslashes written as octal escapes (\040).
  const points = info.split('\n').map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  return points.includes(dir);
}

/** Swaps directories a and b in one step where the kernel can, else by three renames (journaled by the caller). */
export async function exchange(python: string, a: string, b: string): Promise<void> {
  try {
    await run(python, ['-I', '-S', '-c', EXCHANGE, a, b]);
  } catch (error) {
    const { code, signal, stderr } = error as { code?: number | string | null; signal?: string | null; stderr?: string };
    // The kernel refused the swap itself: nothing moved.
    if (code === 5) throw inImageLayer(a, b, error);
    if (code === 4) throw swapRefused(a, b, stderr?.trim() || 'renameat2 failed', error);
    // Exit 3 (no renameat2, or a file system without the exchange), or a python that cannot run
    // the swap (gone: ENOENT, EACCES; no ctypes: exit 1, before any rename): three renames, which
    // the journal lets the next run finish.
    if (code !== 3 && code !== 1 && code !== 'ENOENT' && code !== 'EACCES') {
      // Ended otherwise (a signal it cannot ignore): it may have swapped; the journal tells the next run.
      throw new CpyError('CPY_VENV_SWAP_FAILED', `the swap of ${a} and ${b} was cut short (${signal ? `killed by ${signal}` : `exit ${code ?? '?'}`})`, {
        hint: 'run the command again: it finishes or undoes what this run left (its journal beside the venv)',
        cause: error,
      });
    }
    const aside = `${a}${SWAP}`;
    // The first rename failing has moved nothing.
    await rename(a, aside).catch((cause: NodeJS.ErrnoException) => {
      throw cause.code === 'EXDEV' ? inImageLayer(a, b, cause) : swapRefused(a, b, cause.message, cause);
    });
    await rename(b, a);
    await rename(aside, b);
  }
}

const swapRefused = (a: string, b: string, why: string, cause: unknown) =>
  new CpyError('CPY_VENV_SWAP_FAILED', `cannot swap ${a} and ${b}: ${why}`, {
    hint: 'nothing was swapped; fix what the message names (a process using the directory, its permissions), then run the command again: it finishes or undoes what this run left',
    cause,
  });

interface Journal {
  readonly id: string;
  readonly from: string | null;
  readonly to: string;
}

const journalPath = (venv: string) => `${venv}${JOURNAL}`;

/**
 * The journal an upgrade wrote before its swap, or null. The swap starts only once the journal is
 * whole (written atomically; before 2026-12-02 with a plain writeFile, which a kill could leave
 * empty), so a journal that does not parse was never followed by a swap and counts as none.
 */
async function readJournal(venv: string): Promise<Journal | null> {
  const text = await readFile(journalPath(venv), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const journal = JSON.parse(text) as Partial<Journal> | null;
    return typeof journal?.id === 'string' ? (journal as Journal) : null;
  } catch {
    return null;
  }
}

/**
 * What a killed run left running on `dir` (the venv it was building: `python3 -m venv`, ensurepip,
 * pip), found by the paths in their command lines: they ran in sessions of their own, which a
 * SIGKILL of cpy does not reach. Their process groups are killed, and waited for (up to 2 s), so
 * that nothing writes into the directory as it is removed, or into the one built there next.
 */
async function stopLeftRunning(dir: string): Promise<void> {
  const ours = process.pid;
  const groupOf = (stat: string) => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  const ownGroup = groupOf(await readFile('/proc/self/stat', 'utf8').catch(() => ') x x 0'));
  const groups = new Set<number>();
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === ours) continue;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!argv.some((a) => a === dir || a.startsWith(`${dir}/`))) continue;
    const group = groupOf(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ') x x 0'));
    if (group > 1 && group !== ownGroup) groups.add(group);
  }
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (const started = Date.now(); groups.size > 0 && Date.now() - started < 2000; await new Promise((r) => setTimeout(r, 25))) {
    for (const g of groups) {
      try {
        process.kill(-g, 0);
      } catch {
        groups.delete(g);
      }
    }
  }
}

/**
 * Finishes or undoes what an interrupted upgrade left beside `venv`: after the swap (the venv
 * holds the upgrade's id), the old venv is kept as `.cpy-previous`; before it, the half-built
 * `.cpy-next` is removed. Either way the venv at `venv` is whole.
 */
async function recover(venv: string): Promise<string | null> {
  const next = `${venv}${NEXT}`;
  if (existsSync(next)) await stopLeftRunning(next);
  const seen = [next, `${venv}${SWAP}`, journalPath(venv)].filter((p) => existsSync(p));
  const journal = await readJournal(venv);
  // The exchange by three renames (no renameat2), killed after its first or its second rename:
  // after the first, the venv is put back; after the second, the third is made. An upgrade's
  // exchange (its journal is there) ends with the old venv at .cpy-next, a rollback's (no journal)
  // at .cpy-previous. A .cpy-swap beside a venv and such a directory is left alone.
  const aside = `${venv}${SWAP}`;
  const previous = `${venv}${PREVIOUS}`;
  if (existsSync(aside)) {
    if (!existsSync(venv)) await rename(aside, venv);
    else if (journal && !existsSync(next)) await rename(aside, next);
    else if (!journal && !existsSync(previous)) await rename(aside, previous);
  }
  if (journal && existsSync(next)) {
    const swapped = (await readCfg(venv))?.get('cpy-upgrade') === journal.id;
    if (swapped) {
      // The kept venv aside first, as the upgrade does: a delete that fails leaves the swap finished.
      if (existsSync(previous)) await rename(previous, `${venv}${DISCARD}${journal.id}`);
      await rename(next, previous);
    }
  }
  await rm(next, { recursive: true, force: true });
  await rm(journalPath(venv), { force: true });
  // A journal's temporary file, when a kill came while it was written.
  const tmp = `${basename(journalPath(venv))}${ATOMIC_TMP_INFIX}`;
  const beside = await readdir(dirname(venv)).catch(() => [] as string[]);
  await Promise.all(beside.filter((n) => n.startsWith(tmp)).map((n) => rm(join(dirname(venv), n), { force: true })));
  // The venv an earlier upgrade kept, moved aside by one stopped before its swap: kept again. Those
  // a finished upgrade moved aside and could not delete: tried again, never an error.
  const discarded = beside.filter((n) => n.startsWith(`${basename(venv)}${DISCARD}`)).map((n) => join(dirname(venv), n));
  if (discarded.length === 1 && !existsSync(previous)) await rename(discarded.pop()!, previous);
  await Promise.all(discarded.map((d) => rm(d, { recursive: true, force: true }).catch(() => undefined)));
  // What it took away (a .cpy-swap it leaves alone is not said to be done).
  const done = seen.filter((p) => !existsSync(p)).map((p) => basename(p));
  return done.length > 0 ? `what an interrupted upgrade left beside ${venv} (${done.join(', ')}) is finished or undone` : null;
}

export interface UpgradeOptions extends VenvOptions {
  /** A version or release line (`3.13`): an installed one, else installed from the index. */
  readonly to: string;
  readonly findLinks?: readonly string[];
  /** Only --find-links, never an index (pip --no-index). */
  readonly offline?: boolean;
  /** The cpy index, to install the target version when it is not installed (default CPY_INDEX_URL). */
  readonly indexUrl?: string;
  /** Distributions left out of the new venv (names as pip knows them; pip itself always is). */
  readonly exclude?: readonly string[];
  /**
   * What installing the target from the index trusts, as `cpy install` takes it: pinned signers
   * (else CPY_SIGNER_FINGERPRINTS), their keys, extra CA certificates. (Without them an upgrade
   * installed what an index served unsigned, though the user pinned signers on cpy install.)
   */
  readonly install?: Pick<InstallOptions, 'signerFingerprints' | 'trustedKeysUrl' | 'caFile'>;
  /**
   * Stops the upgrade (Ctrl-C) until the swap begins: the program running (pip) is stopped, the
   * new venv removed, and the error is CPY_VENV_CANCELLED; the venv is as it was. Once the swap
   * has begun (its journal is written), it runs to its end.
   */
  readonly signal?: AbortSignal;
  readonly env?: Environment;
}

export interface UpgradeResult {
  /**
   * upgraded: the venv was rebuilt on the target and swapped in. already: its python already is the
   * target (the same interpreter: base prefix, full version and ABI), so nothing was rebuilt and the
   * venv an earlier upgrade kept is untouched; a rebuild would only have replaced that one with a copy
   * of the venv as it is.
   */
  readonly status: 'upgraded' | 'already';
  readonly path: string;
  readonly from: string | null;
  readonly to: string;
  /** The target's install prefix: the base of the venv now. */
  readonly prefix: string;
  /**
   * Where the venv the upgrade replaced is kept (`rollbackVenv` swaps back). With `already`, the one
   * an earlier upgrade kept, untouched, or null when there is none.
   */
  readonly previous: string | null;
  /**
   * The venv an earlier upgrade kept at `previous`, which this one removed to keep the venv it
   * replaced instead (a rollback now returns to that one): its Python version (null when its
   * pyvenv.cfg names none). Null when there was none.
   */
  readonly replaced: { readonly version: string | null } | null;
  readonly distributions: readonly Distribution[];
  /** What the old venv's site-packages held that no distribution owns (a .pth, a sitecustomize.py): not in the new venv. */
  readonly leftBehind: readonly string[];
  /**
   * What the old venv held outside site-packages that is not in the new venv, as paths in it: what
   * neither venv creation made nor a distribution installed (a hand-written bin/my-hook, an etc/ of
   * the project's). It stays in the kept venv (`previous`), to copy over by hand.
   */
  readonly notCarried: readonly string[];
  /**
   * A venv that sees its base's packages (include-system-site-packages): what the old one saw
   * there that the new one does not (the new base is the target's prefix, not the old python's
   * /usr/lib/python3/dist-packages). Code in the venv that imports them no longer finds them.
   */
  readonly noLongerSeen: readonly SeenDistribution[];
  /**
   * The venv an earlier upgrade kept, moved aside (`<venv>.cpy-discard-<id>`) and then not deleted
   * (a read-only directory in it): for its owner to delete. Null when there was none, or it went.
   */
  readonly undeleted?: { readonly path: string; readonly why: string } | null;
}

export interface FailedDistribution {
  readonly name: string;
  readonly version: string;
  /** install: pip could not install it (a compiled extension that did not build...); import: a module does not import. */
  readonly stage: 'install' | 'import';
  readonly detail: string;
}

/**
 * The target's python3, when it does not start (`-I -c pass`: its standard library damaged, a
 * library it needs gone): CPY_VENV_TARGET_BROKEN, naming what it said; null when it starts. Its
 * marker is there, so `cpy install` would find it installed: it is removed and installed again.
 */
async function targetFault(python: string, target: { version: string; prefix: string }): Promise<CpyError | null> {
  try {
    await run(python, ['-I', '-c', 'pass']);
    return null;
  } catch (cause) {
    const said = ((cause as { stderr?: string }).stderr || (cause as Error).message).trim().split('\n').pop();
    return new CpyError('CPY_VENV_TARGET_BROKEN', `CPython ${target.version} in ${target.prefix} does not start: ${python}: ${said}`, {
      hint: `the venv is as it was; install CPython ${target.version} again where it is (cpy uninstall ${target.version}, with --force if it is the current version, then cpy install ${target.version} --prefix ${target.prefix}), then run the upgrade again`,
      cause,
    });
  }
}

/**
 * The prefix of the installed version that answers `to` (`installed`, what findInstalled found),
 * installing it from the index when it is missing.
 */
async function targetPrefix(options: UpgradeOptions, installed: InstalledVersion | null): Promise<{ version: string; prefix: string }> {
  if (installed) return { version: installed.version, prefix: installed.prefix };
  const env = options.env ?? process.env;
  // Installed but broken (its tree changed or half removed): said so, not "not installed".
  const broken = !options.indexUrl && !env['CPY_INDEX_URL'] ? await findInstalled(options.to, options) : null;
  if (broken) {
    const why = broken.holds ? `it holds CPython ${broken.holds} now` : broken.damage ? `${broken.damage} is missing` : 'its install marker is gone or damaged';
    throw new CpyError('CPY_VENV_TARGET_BROKEN', `CPython ${broken.version} is installed at ${broken.prefix}, but broken (${why}), and no index is given to install it again from`, {
      hint: `${repairHint(broken.version, broken.prefix, broken.holds)}; then run the upgrade again`,
    });
  }
  if (!options.indexUrl && !env['CPY_INDEX_URL']) {
    throw new CpyError('CPY_VENV_TARGET_NOT_INSTALLED', `CPython ${options.to} is not installed, and no index is given to install it from`, {
      hint: `install it first (cpy install ${options.to}), or give the index: --index <url> (or CPY_INDEX_URL)`,
    });
  }
  const r = await installPython(
    {
      version: options.to,
      activate: false,
      ...options.install,
      ...(options.indexUrl ? { indexUrl: options.indexUrl } : {}),
      ...(options.stateDir ? { stateDir: options.stateDir } : {}),
      ...(options.binDir !== undefined ? { binDir: options.binDir } : {}),
    },
    { env, ...(options.signal ? { signal: options.signal } : {}) },
  );
  return { version: r.version, prefix: r.prefix };
}

/** Rewrites the new venv's own path in what `venv` and pip wrote (activate scripts, #! lines, pyvenv.cfg). */
async function retarget(dir: string, from: string, to: string): Promise<void> {
  const files = [join(dir, CFG), ...(await readdir(join(dir, 'bin'))).map((n) => join(dir, 'bin', n))];
  for (const file of files) {
    const st = await stat(file).catch(() => null);
    if (!st?.isFile() || st.size > 1024 * 1024) continue;
    const buf = await readFile(file);
    if (buf.includes(0)) continue;
    const text = buf.toString('utf8');
    if (text.includes(from)) await writeFile(file, text.split(from).join(to), { mode: st.mode });
  }
}

/**
 * An editable project inside the venv (pip clones `-e git+...` into <venv>/src/<name>) is
 * installed again from the same path, which after the swap is the new venv's: the directories of
 * the old venv that hold such projects (src/) are copied into the new one first.
 */
async function carrySourcesInside(venv: string, next: string, dists: readonly Distribution[]): Promise<Set<string>> {
  const tops = new Set<string>();
  for (const d of dists) {
    const path = d.source?.[0] === '-e' ? d.source[1] : undefined;
    // As pip wrote it, inside the venv (src/ may be a link to a checkout elsewhere: carried as
    // the link it is); else through the link the venv was reached by (venv is the real path).
    let rel = path ? relative(venv, path) : '';
    if (path && (rel.startsWith('..') || isAbsolute(rel))) rel = relative(venv, await realpath(path).catch(() => path));
    if (rel && !rel.startsWith('..') && !isAbsolute(rel)) tops.add(rel.split(sep)[0]!);
  }
  for (const top of tops) if (!existsSync(join(next, top))) await cp(join(venv, top), join(next, top), { recursive: true, verbatimSymlinks: true });
  return tops;
}

/** What venv creation (python -m venv, virtualenv, uv) makes at the top of a venv. */
const VENV_TOP = new Set(['bin', 'include', 'lib', 'lib64', 'share', CFG]);
/** pip's configuration file of a venv (its site-level one: sys.prefix/pip.conf). */
const PIP_CONF = 'pip.conf';
/** What it makes in bin/: the interpreter under its names, and the activation scripts. */
const VENV_BIN = /^(python(\d+(\.\d+)?t?)?|\u{1D70B}thon|activate(\.(bat|csh|fish|nu|ps1|xsh))?|Activate\.ps1|activate_this\.py|deactivate\.(bat|nu)|pydoc\.bat|__pycache__)$/u;

/**
 * A .gitignore or CACHEDIR.TAG at the top of a venv that venv creation wrote (python -m venv since
 * 3.13, virtualenv, uv): one that ignores everything, or the cache directory tag.
 */
async function venvMade(path: string): Promise<boolean> {
  const name = basename(path);
  if (name !== '.gitignore' && name !== 'CACHEDIR.TAG') return false;
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return false;
  if (name === 'CACHEDIR.TAG') return text.startsWith('Signature: 8a477f597d28d172789f06886806bc55');
  return text.split('\n').every((l) => l.trim() === '' || l.trim() === '*' || l.startsWith('#'));
}

/** The files (and links, not followed) below `rel` in `root`, as paths in it. */
async function filesUnder(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true }).catch(() => [])) {
    const path = join(rel, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(root, path)));
    else out.push(path);
  }
  return out;
}

/**
 * What a venv holds outside site-packages that an upgrade does not carry over, as paths in it:
 * what neither venv creation made nor a distribution installed (`outside`, as readSite reads it),
 * and that is not copied over (`carried`: the top-level directories of editable projects inside
 * it). The new venv is made by venv and pip alone: a hand-written bin/my-hook or an etc/my.conf
 * is not in it. A top-level directory that holds nothing a distribution installed is named whole
 * (`etc`); one that does (etc/jupyter of a distribution) names its other files one by one. In
 * share/, include/ and lib/ (less lib/pythonX.Y), each directory none of whose files a distribution
 * installed is named whole, and the other files one by one.
 */
export async function notCarried(venv: string, outside: readonly string[], carried: ReadonlySet<string> = new Set()): Promise<string[]> {
  const owned = new Set(outside);
  const out: string[] = [];
  for (const e of await readdir(venv, { withFileTypes: true })) {
    if (VENV_TOP.has(e.name) || e.name.startsWith('.cpy-') || carried.has(e.name) || (await venvMade(join(venv, e.name)))) continue;
    const files = e.isDirectory() ? await filesUnder(venv, e.name) : [e.name];
    const stray = files.filter((f) => !owned.has(f));
    if (stray.length > 0) out.push(...(stray.length === files.length ? [e.name] : stray));
  }
  const bin = await readdir(join(venv, 'bin')).catch(() => [] as string[]);
  for (const name of bin) if (!VENV_BIN.test(name) && !owned.has(`bin/${name}`)) out.push(`bin/${name}`);
  // Inside the directories venv makes (or pip installs data into): what is in them by hand (a
  // kernel of ipykernel install --sys-prefix in share/jupyter, nodeenv's lib/node_modules). They
  // were skipped whole, and what they held was neither carried nor said. lib/pythonX.Y is read
  // apart (site-packages); lib64, a link to lib, is lib.
  for (const top of ['include', 'share', 'lib', 'lib64']) {
    if (!(await lstat(join(venv, top)).catch(() => null))?.isDirectory()) continue;
    for (const e of await readdir(join(venv, top), { withFileTypes: true })) {
      const path = join(top, e.name);
      if (top.startsWith('lib') && /^python\d/.test(e.name)) continue;
      if (e.isDirectory()) out.push(...(await strayUnder(venv, path, owned)));
      else if (!owned.has(path)) out.push(path);
    }
  }
  return out.sort();
}

/** The paths below `rel` in `root` that no distribution installed (not in `owned`): a directory none of whose files one did, whole. */
async function strayUnder(root: string, rel: string, owned: ReadonlySet<string>): Promise<string[]> {
  const files = await filesUnder(root, rel);
  const stray = files.filter((f) => !owned.has(f));
  if (stray.length === 0) return [];
  if (stray.length === files.length) return [rel];
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const path = join(rel, e.name);
    if (e.isDirectory()) out.push(...(await strayUnder(root, path, owned)));
    else if (!owned.has(path)) out.push(path);
  }
  return out;
}

// What interpreter a python is: its base prefix (a real path), full version and ABI flags (t:
// free-threaded), on a line of its own after a marker (a .pth of a venv may print too).
const WHICH = 'cpy-interpreter: ';
const INTERPRETER = `import json, os, platform, sys; print('\\n${WHICH}' + json.dumps([os.path.realpath(sys.base_prefix), platform.python_version(), getattr(sys, 'abiflags', '')]))`;

/** Whether two pythons run one interpreter: the same base prefix, full version and ABI (false when either does not run). */
async function sameInterpreter(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all(
    [a, b].map((python) =>
      run(python, ['-I', '-c', INTERPRETER]).then(
        ({ stdout }) => markedJson<string[]>(stdout, WHICH),
        () => null,
      ),
    ),
  );
  return x !== null && y !== null && JSON.stringify(x) === JSON.stringify(y);
}

/** A distribution's name as pip compares them (PEP 503): `Foo_Bar` and `foo-bar` are one. */
const normalized = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

/**
 * The distributions an upgrade installs again: all but pip (the new venv has its own) and those
 * excluded. Excluding what the venv does not hold is refused: a misspelt name would keep, and then
 * fail on, the distribution it meant.
 */
export function keptDistributions(dists: readonly Distribution[], exclude: readonly string[], venv: string): Distribution[] {
  const held = new Set(dists.map((d) => normalized(d.name)));
  const unknown = exclude.filter((name) => !held.has(normalized(name)));
  if (unknown.length > 0) {
    throw new CpyError('CPY_VENV_NOT_INSTALLED', `${venv} holds no ${unknown.join(', ')} to leave out`, {
      hint: `--exclude takes the names of its distributions: ${dists.filter((d) => normalized(d.name) !== 'pip').map((d) => d.name).join(', ') || '(it holds none but pip, which is always left out)'}`,
    });
  }
  const out = new Set(['pip', ...exclude.map(normalized)]);
  return dists.filter((d) => !out.has(normalized(d.name)));
}

/**
 * Moves a venv to another CPython version without losing it: a new venv is made beside it on the
 * target version, the same distributions are installed there (`pip install --no-deps name==version`,
 * or from where pip took them: `-e <project>` for an editable install, a directory, a VCS URL at
 * its commit; so compiled extensions are rebuilt for the new version), every top-level module of
 * them must import; only then are the two swapped in one step, and the old one kept as `<venv>.cpy-previous`
 * (`rollbackVenv` swaps back). On any failure the old venv is untouched and the error names each
 * distribution that failed and why.
 */
export async function upgradeVenv(path: string, options: UpgradeOptions): Promise<UpgradeResult> {
  await checkFindLinks(options);
  const venv = await venvDir(path);
  return venvLock(venv, () => upgradeLocked(venv, options));
}

/** An http(s) --find-links: a page of links, given to pip as it is. */
const isLinksUrl = (given: string) => /^https?:\/\//i.test(given);
/** A --find-links that is a directory: a path, or a file:// URL. */
const findLinksPath = (given: string) => (/^file:\/\//i.test(given) ? fileURLToPath(given) : resolve(given));

/**
 * Each --find-links must be a directory that can be read (an http(s) one is pip's to fetch), checked before anything is made: pip
 * would find out only once the new venv is built, and either fail then (--offline: it is all pip
 * installs from) or ignore it with a warning and take everything from the index.
 */
async function checkFindLinks(options: UpgradeOptions): Promise<void> {
  for (const given of options.findLinks ?? []) {
    // A page of links (https://download.pytorch.org/whl/torch_stable.html) is pip's to read.
    if (isLinksUrl(given)) continue;
    let dir: string;
    try {
      dir = findLinksPath(given);
    } catch {
      // file://wheels/ (a relative path written as a URL: "wheels" reads as a host).
      throw new CpyError('CPY_VENV_BAD_OPTION', `--find-links ${given} is not a file:// URL of a directory on this machine: nothing was changed`, {
        hint: 'give the directory as a path (--find-links ./wheels), or as file:///absolute/path',
      });
    }
    const st = await stat(dir).catch(() => null);
    const problem = !st ? 'does not exist' : !st.isDirectory() ? 'is not a directory' : await readdir(dir).then(() => null, (e: NodeJS.ErrnoException) => `cannot be read (${e.code ?? e.message})`);
    if (problem) {
      throw new CpyError('CPY_VENV_BAD_OPTION', `--find-links ${dir} ${problem}: nothing was changed`, {
        hint: options.offline
          ? 'give a directory that holds the wheels or sources to install: with --offline, pip installs from --find-links alone'
          : 'give a directory that holds the wheels or sources to install, or leave --find-links out to install from the index',
      });
    }
  }
}

function cancelledUpgrade(venv: string): CpyError {
  return new CpyError('CPY_VENV_CANCELLED', `the upgrade of ${venv} was stopped before the swap: the venv is as it was`, {
    hint: 'run the same command again to upgrade it',
  });
}

async function upgradeLocked(venv: string, options: UpgradeOptions): Promise<UpgradeResult> {
  const events = options.onEvent ?? (() => undefined);
  const signal = options.signal;
  // Once its journal is written, the swap runs to its end, stopped or not (UpgradeOptions.signal).
  let swapping = false;
  // Each step begins only if no stop was asked for.
  const emit = (event: VenvEvent) => {
    if (signal?.aborted && !swapping) throw cancelledUpgrade(venv);
    events(event);
  };
  const next = `${venv}${NEXT}`;
  const id = randomUUID();
  const recovered = await recover(venv);
  try {
    if (recovered) emit({ type: 'phase', phase: 'recover', detail: recovered });
    const info = await readVenv(venv, options);
    const site = await siteDirs(venv, info.version);
    // A venv whose python no longer runs its packages (its base is gone, or is another version
    // now) is rescued: its modules are checked on the new venv alone.
    const live = await runsItsPackages(venv, site);
    emit({ type: 'phase', phase: 'read', detail: `${venv} (Python ${info.version ?? 'unknown'})${live ? '' : `: its python no longer runs its packages (${site.map((d) => relative(venv, d)).join(', ')}); they are read from there`}` });
    const previous = `${venv}${PREVIOUS}`;
    // A venv whose python already is the target (upgraded before, or made by it) is left as it is:
    // rebuilt, it would be the same, and the venv an earlier upgrade kept, often the only copy of
    // the venv of before, would be replaced by a copy of this one.
    const installed = await findInstalled(options.to, { ...options, complete: true });
    if (installed && live && (await sameInterpreter(join(venv, 'bin', 'python'), join(installed.prefix, 'bin', 'python3')))) {
      // An --exclude of a name it does not hold is refused here too (it was told to pip uninstall it).
      if (options.exclude?.length) keptDistributions((await readSite(join(installed.prefix, 'bin', 'python3'), venv, site)).distributions, options.exclude, venv);
      emit({ type: 'phase', phase: 'target', detail: `CPython ${installed.version} in ${installed.prefix}: the venv's python already is it` });
      return {
        status: 'already',
        path: venv,
        from: info.version,
        to: installed.version,
        prefix: installed.prefix,
        previous: existsSync(join(previous, CFG)) ? previous : null,
        replaced: null,
        distributions: [],
        leftBehind: [],
        notCarried: [],
        noLongerSeen: [],
      };
    }
    await swappable(venv);
    const target = await targetPrefix(options, installed);
    emit({ type: 'phase', phase: 'target', detail: `CPython ${target.version} in ${target.prefix}` });
    const python = join(target.prefix, 'bin', 'python3');
    // Read by the target's python: the venv's may not run, or be too old for importlib.metadata (3.7).
    // Where it cannot read them, a target that does not start is the cause, not the venv.
    const held = await readSite(python, venv, site).catch(async (error: unknown) => {
      throw (await targetFault(python, target)) ?? error;
    });
    const dists = keptDistributions(held.distributions, options.exclude ?? [], venv);
    // pip is never carried (the new venv has its base's own), but a venv made without it
    // (python -m venv --without-pip, or pip uninstalled) is made without it again: it came back with pip.
    const withPip = held.distributions.some((d) => normalized(d.name) === 'pip');
    const failed: FailedDistribution[] = [];
    emit({ type: 'phase', phase: 'create', detail: next });
    // The old venv's prompt (its name by default), not the temporary directory's.
    const cfg = await readCfg(venv);
    const prompt = cfg?.get('prompt')?.replace(/^['"]|['"]$/g, '') ?? basename(venv);
    // A venv that sees the system's packages keeps seeing them (its own base's, now the new one's).
    const seesSystem = cfg?.get('include-system-site-packages')?.toLowerCase() === 'true';
    const system = seesSystem ? ['--system-site-packages'] : [];
    // A venv made with --copies (its python a copy, not a link: it runs after its base is removed
    // or moved) is made so again; it came back with links.
    const python0 = await lstat(join(venv, 'bin', 'python')).catch(() => null);
    const copies = python0 !== null && !python0.isSymbolicLink() ? ['--copies'] : [];
    // What it sees there now, read before anything changes (where its python still runs them).
    const sawBefore = seesSystem && live ? seenBy(venv) : Promise.resolve(null);
    // The directory beside the venv, not the interpreter or a distribution, when it cannot be written there.
    const roomHint = `the venv is as it was; the new venv is made beside the old one, in ${dirname(venv)}: that directory must be writable by you and have room for a second copy of the venv`;
    // pip installs its distributions into it, then goes (below); with none to install it never comes.
    const noPip = !withPip && dists.length === 0 ? ['--without-pip'] : [];
    await runStoppable(python, ['-m', 'venv', '--prompt', prompt, ...system, ...copies, ...noPip, next], { maxBuffer: 16 * 1024 * 1024, signal, unset: REDIRECTS }).catch((cause: { stderr?: string; message: string }) => {
      const why = (cause.stderr || cause.message).trim().split('\n').pop() ?? '';
      throw new CpyError('CPY_VENV_CREATE_FAILED', `CPython ${target.version} cannot create a venv at ${next}: ${why}`, {
        hint: FULL.test(why) || /Permission denied|Read-only file system/.test(why) ? roomHint : `check that install: cpy install ${target.version} (it validates venvs)`,
      });
    });
    await writeFile(join(next, CFG), `${(await readFile(join(next, CFG), 'utf8')).trimEnd()}\ncpy-upgrade = ${id}\n`);
    // The venv's own pip configuration (<venv>/pip.conf: a private index, find-links) is pip's in
    // the new venv before pip runs there: without it pip went to PyPI, and the packages from that
    // index were "not found".
    const pipConf = (await lstat(join(venv, PIP_CONF)).catch(() => null))?.isFile() ? await cp(join(venv, PIP_CONF), join(next, PIP_CONF), { preserveTimestamps: true }).then(() => true) : false;
    // --no-color: what pip says is read and quoted (FORCE_COLOR in the environment coloured it).
    const pip = [join(next, 'bin', 'python'), '-m', 'pip', 'install', '--no-deps', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off', '--no-color'];
    for (const d of options.findLinks ?? []) pip.push('--find-links', isLinksUrl(d) ? d : findLinksPath(d));
    if (options.offline) pip.push('--no-index');
    if (dists.length > 0) {
      const reqs = (d: Distribution) => requirement(d, options.offline ?? false);
      emit({ type: 'phase', phase: 'install', detail: dists.map((d) => reqs(d).join(' ')).join(' ') });
      const all = await runStoppable(pip[0]!, [...pip.slice(1), ...dists.flatMap(reqs)], { maxBuffer: 64 * 1024 * 1024, signal, unset: REDIRECTS }).then(
        () => null,
        (e: { stderr?: string }) => e.stderr ?? '',
      );
      // A full disk (or quota) is no distribution's fault: said once, not as each one failing in turn.
      const full = all?.split('\n').find((l) => FULL.test(l));
      if (full) {
        throw new CpyError('CPY_VENV_CREATE_FAILED', `pip cannot write the new venv at ${next}: ${full.trim()}`, {
          // The line names the file: beside the venv, or in the temporary directory pip builds in.
          hint: `the venv is as it was; free space where that says, then run again: the new venv is made beside the old one, in ${dirname(venv)}, and pip unpacks and builds in ${tmpdir()} (TMPDIR)`,
        });
      }
      // Only where pip also gave up on a distribution it looked for there (a retry that then got
      // through is no unreachable index: the distribution that failed is found one at a time).
      const unreachable = all && GAVE_UP.test(all) ? all.split('\n').find((l) => UNREACHABLE.test(l)) : undefined;
      if (all !== null && unreachable) {
        // Not one at a time: each would wait for the same index as long again (pip retries each
        // connection five times), minutes for every distribution.
        failed.push({ name: dists.map((d) => d.name).join(', '), version: '', stage: 'install', detail: `${UNREACHED} (${unreachedWhy(unreachable)}): ${pipReason(all)}` });
      } else if (all !== null) {
        // One at a time, to say exactly which ones fail and why.
        for (const d of dists) {
          if (signal?.aborted) throw cancelledUpgrade(venv);
          const err = await runStoppable(pip[0]!, [...pip.slice(1), ...reqs(d)], { maxBuffer: 64 * 1024 * 1024, signal, unset: REDIRECTS }).then(
            () => null,
            (e: { stderr?: string; message: string }) => e.stderr || e.message,
          );
          if (err !== null) failed.push({ name: d.name, version: d.version, stage: 'install', detail: pipReason(err) });
        }
        if (failed.length === 0) failed.push({ name: dists.map((d) => d.name).join(', '), version: '', stage: 'install', detail: pipReason(all) });
      }
    }
    // What ensurepip seeds the new venv with that the venv did not hold goes: pip (above), and on
    // 3.11 and older its setuptools (a venv made --without-pip came back with both).
    const seeded = withPip ? [] : ['setuptools', 'pip'].filter((name) => !held.distributions.some((d) => normalized(d.name) === name));
    if (failed.length === 0 && seeded.length > 0 && dists.length > 0) {
      await runStoppable(pip[0]!, ['-m', 'pip', 'uninstall', '--yes', '--disable-pip-version-check', '--no-input', '--no-color', ...seeded], { maxBuffer: 16 * 1024 * 1024, signal, unset: REDIRECTS }).catch((cause: { stderr?: string; message: string }) => {
        const why = (cause.stderr || cause.message).trim().split('\n').pop() ?? '';
        throw new CpyError('CPY_VENV_CREATE_FAILED', `cannot remove pip from the new venv at ${next} (${venv} has none): ${why}`, {
          hint: FULL.test(why) || /Permission denied|Read-only file system/.test(why) ? roomHint : 'the venv is as it was; run again, or install pip into the venv first (python -m ensurepip) to keep it',
        });
      });
    }
    if (failed.length === 0) {
      emit({ type: 'phase', phase: 'check', detail: `${dists.reduce((n, d) => n + d.modules.length, 0)} modules import` });
      // What imports in the old venv must import in the new one (a top_level.txt may name modules
      // that never did). Where the old venv's python no longer runs its packages, every module must.
      const named = dists.flatMap((d) => d.modules.map((m) => [d.name, d.version, m] as const));
      const before = live ? await importErrors(venv, named.map(([, , m]) => m), signal) : {};
      const modules = named.filter(([, , m]) => !before[m]);
      const errors = await importErrors(next, modules.map(([, , m]) => m), signal);
      for (const [name, version, m] of modules) if (errors[m]) failed.push({ name, version, stage: 'import', detail: `import ${m}: ${errors[m]}` });
    }
    if (failed.length > 0) {
      throw new CpyError(
        'CPY_VENV_UPGRADE_FAILED',
        `${venv} was not upgraded to CPython ${target.version}: ${failed.map((f) => `${f.name}${f.version ? ` ${f.version}` : ''} (${f.stage}): ${f.detail}`).join('; ')}`,
        {
          hint: upgradeHint(failed, dists),
          details: { failed },
        },
      );
    }
    const saw = (await sawBefore)?.outside ?? [];
    const now = saw.length > 0 ? await seenBy(next) : null;
    const seesNow = new Set([...(now?.inside ?? []), ...(now?.outside ?? []).map((d) => d.name)].map(normalized));
    const noLongerSeen = saw.filter((d) => !seesNow.has(normalized(d.name)));
    await retarget(next, next, venv);
    const carried = await carrySourcesInside(venv, next, dists);
    if (pipConf) carried.add(PIP_CONF);
    const stray = await notCarried(venv, held.outside, carried);
    // One venv is kept: the one an earlier upgrade kept gives way to this one's, and is said to.
    const replaced = existsSync(previous) ? { version: versionOf(await readCfg(previous)) } : null;
    emit({
      type: 'phase',
      phase: 'swap',
      detail: `${venv} <-> ${basename(next)}${replaced ? `; the venv an earlier upgrade kept (Python ${replaced.version ?? 'unknown'}) is replaced in ${basename(previous)} by this one (Python ${info.version ?? 'unknown'})` : ''}`,
    });
    // The venv an earlier upgrade kept goes aside before the swap and is deleted after it: a delete
    // that fails (a read-only directory in it) is said, never the upgrade's failure. It was deleted
    // between the swap and the rename of the old venv into its place: the upgrade then failed,
    // swapped but said not to be, and every later upgrade or rollback failed the same delete.
    const discard = existsSync(previous) ? `${venv}${DISCARD}${id}` : null;
    if (discard) await rename(previous, discard);
    swapping = true;
    await writeFileAtomic(journalPath(venv), JSON.stringify({ id, from: info.version, to: target.version } satisfies Journal));
    await exchange(python, venv, next);
    await rename(next, previous);
    await rm(journalPath(venv), { force: true });
    const undeleted = discard ? await rm(discard, { recursive: true, force: true }).then(() => null, (e: Error) => ({ path: discard, why: e.message })) : null;
    return {
      status: 'upgraded',
      path: venv,
      from: info.version,
      to: target.version,
      prefix: target.prefix,
      previous,
      replaced,
      distributions: dists,
      leftBehind: held.loose,
      notCarried: stray,
      noLongerSeen,
      undeleted,
    };
  } catch (error) {
    // Stopped before the swap: whatever the stop made fail (a pip stopped by the same Ctrl-C) is
    // not the cause. Judged here, where it was thrown: a stop asked for while a failed upgrade
    // removes its new venv (below) does not make its failure a stop.
    throw signal?.aborted && !swapping ? cancelledUpgrade(venv) : error;
  } finally {
    if (!existsSync(journalPath(venv))) await rm(next, { recursive: true, force: true });
  }
}

/**
 * What to do after a failed upgrade. Leaving out what failed (--exclude) helps when some
 * distributions failed; when every one failed to install, pip found none of them (no index,
 * no network, a wrong --find-links), and leaving them all out would make an empty venv.
 */
function upgradeHint(failed: readonly FailedDistribution[], dists: readonly Distribution[]): string {
  const installFailed = failed.filter((f) => f.stage === 'install');
  if (installFailed.some((f) => f.detail.startsWith(UNREACHED))) {
    return 'the venv is as it was; check the network and its proxy (HTTPS_PROXY, pip config list), or give pip the wheels and sources: --find-links <dir> --offline';
  }
  if (installFailed.length === 1 && installFailed[0]!.version === '' && dists.length > 1) {
    return `the venv is as it was; each distribution installs alone, but pip refused them together (${installFailed[0]!.detail}): look for two versions of one distribution in the venv (pip list), remove the stray one, and run again`;
  }
  if (dists.length > 1 && installFailed.length === dists.length) {
    return 'the venv is as it was; pip could install none of its distributions: give it where they are (--find-links with wheels or sources), or check its index and network (pip config list); --offline uses --find-links alone';
  }
  return `the venv is as it was; make those distributions available for the new version (--find-links with wheels or sources that build), or leave them out: ${[...new Set(failed.flatMap((f) => f.name.split(', ')))].map((n) => `--exclude ${n}`).join(' ')}`;
}

/** The last lines of pip's error that say why (its ERROR lines, else its last line). */
function pipReason(stderr: string): string {
  // Without colour codes, whoever coloured it (a build backend, a pip that ignored --no-color).
  // eslint-disable-next-line no-control-regex
  const lines = stderr.replace(/\x1b\[[0-9;]*m/g, '').split('\n').map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => /^(ERROR|error):/.test(l) || /error: /.test(l));
  return (errors.length ? errors.slice(-3) : lines.slice(-1)).join(' ').slice(0, 600);
}

export interface RollbackResult {
  readonly path: string;
  /** The version of the venv now in place (the one the last upgrade kept). */
  readonly version: string | null;
  /** The version of the venv it replaced; null when there was none (deleted) or it names none. */
  readonly was: string | null;
  /** Where the replaced venv is kept now (a second rollback returns to it); null when there was none. */
  readonly kept: string | null;
  /** The base interpreter's directory of the venv now in place when that base is gone (it does not run until it is installed again); else null. */
  readonly baseMissing?: string | null;
}

/**
 * Swaps a venv back with the one its last upgrade kept (`<venv>.cpy-previous`): the exact old
 * directory returns. When the upgraded venv was deleted, the kept one is renamed into its place.
 */
export async function rollbackVenv(path: string, options: VenvOptions = {}): Promise<RollbackResult> {
  const venv = await venvDir(path);
  return venvLock(venv, () => rollbackLocked(venv, options));
}

async function rollbackLocked(venv: string, options: VenvOptions): Promise<RollbackResult> {
  // What an interrupted upgrade or rollback left is finished or undone first, and said, as an upgrade says it.
  const recovered = await recover(venv);
  if (recovered) options.onEvent?.({ type: 'phase', phase: 'recover', detail: recovered });
  const previous = `${venv}${PREVIOUS}`;
  if (!existsSync(join(previous, CFG))) {
    if (!existsSync(venv)) {
      throw new CpyError('CPY_VENV_NOT_A_VENV', `${venv} is not a virtual environment (nothing is there, nor a venv an upgrade kept beside it)`, { hint: 'give the venv directory, the one that holds pyvenv.cfg and bin/python' });
    }
    throw new CpyError('CPY_VENV_NOTHING_TO_ROLL_BACK', `${venv} has no earlier venv kept (${basename(previous)})`, {
      hint: 'rollback returns to the venv an upgrade replaced: cpy venv upgrade keeps it',
    });
  }
  // The upgraded venv deleted (rm -rf .venv, to start again): the kept one simply returns.
  if (!existsSync(venv)) {
    const back = await readVenv(previous, options);
    await rename(previous, venv);
    return { path: venv, version: back.version, was: null, kept: null, baseMissing: missingBase(back) };
  }
  const now = await readVenv(venv, options);
  const back = await readVenv(previous, options);
  // Any python can make the exchange; the base of either venv, else the system's.
  const python = [now.home, back.home].map((h) => (h ? join(h, 'python3') : '')).find((p) => p && existsSync(p)) ?? 'python3';
  await exchange(python, venv, previous);
  return { path: venv, version: back.version, was: now.version, kept: previous, baseMissing: missingBase(back) };
}

/** Where a venv's base was, when it is gone (rolled back to, such a venv does not start: said, not found out later); null when it is there. */
function missingBase(venv: VenvInfo): string | null {
  return venv.baseInstalled ? null : (venv.home ?? 'its base interpreter');
}

/**
 * The venv's directory: where a link given leads (.venv -> /data/envs/proj), so that an upgrade
 * builds beside the venv, on its file system, and swaps the directory, not the link.
 */
async function venvDir(path: string): Promise<string> {
  const given = resolve(path);
  const dir = await realpath(given).catch(() => danglingTarget(given));
  // The lock is made beside the venv: a mistyped path must not make directories.
  if (!existsSync(dirname(dir))) {
    throw new CpyError('CPY_VENV_NOT_A_VENV', `${given} is not a virtual environment (${dirname(given)} does not exist)`, { hint: 'give the venv directory, the one that holds pyvenv.cfg and bin/python' });
  }
  return dir;
}

/**
 * Where a link whose venv is gone points (rolled back where it leads: the kept venv is beside that,
 * not beside the link), its own directory resolved; the path itself when it is no link.
 */
async function danglingTarget(given: string): Promise<string> {
  const target = await readlink(given).catch(() => null);
  if (target === null) return given;
  const parent = await realpath(dirname(given)).catch(() => dirname(given));
  return resolve(parent, target);
}

/**
 * One upgrade or rollback of a venv at a time: a second one would remove the first one's half-built
 * venv, or move its swapped venv aside as it deletes that. Refused at once (CPY_VENV_BUSY).
 */
const VENV_LOCK: LockOwner = {
  code: 'CPY_VENV_BUSY',
  holds: 'venv upgrade or rollback',
  whenHeld: (path) => `wait for it to finish; if no cpy is running there, remove ${path}`,
};

/**
 * Runs `work` holding the venv's lock (VENV_LOCK). A lock its directory refuses (not writable by
 * this user, read-only, full) is that directory's fault, CPY_VENV_CREATE_FAILED: it was
 * CPY_VENV_BUSY, "another upgrade is running", which a script retries for ever.
 */
async function venvLock<T>(venv: string, work: () => Promise<T>): Promise<T> {
  let working = false;
  return withLock(VENV_LOCK, `${venv}${LOCK}`, { timeoutMs: 0 }, () => {
    working = true;
    return work();
  }).catch((error: unknown) => {
    const cause = (error as { cause?: unknown }).cause;
    const fault = !working && error instanceof CpyError && error.code === 'CPY_VENV_BUSY' ? writeFault(cause, dirname(venv)) : null;
    if (!fault) throw error;
    throw new CpyError('CPY_VENV_CREATE_FAILED', `${fault.message}: the lock of ${venv} goes beside it, with the new venv an upgrade makes`, {
      hint: `the venv is as it was; ${dirname(venv)} must be writable by you and have room for a second copy of the venv`,
      cause,
    });
  });
}
