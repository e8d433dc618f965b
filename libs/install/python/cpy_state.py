"""cpy's install record: the marker in a prefix, state.json, the `current` link and the bin links.

Both installers run this one file after extraction, with a python3 cpy installed (the staged or
installed tree's, or the current one's): @cpy/install (libs/install/src/record.ts) and the Dev
Container Feature's install.sh, which carries a copy between its cpy_state_py lines (a test keeps
the copy identical). `cpy use`, `cpy rollback` and `cpy uninstall` change the state through it too,
so what an install records, and how, is written once.

The caller holds the locks: the state lock (<state>/locks/state.lock) for record, use and forget,
and the prefix's lock too for forget. This script takes none.

Usage: python3 -I -S cpy_state.py COMMAND --name value ... (flags without a value: --current,
--force, --check). It prints one JSON document: the result, or {"error": {code, message,
hint, details}} with exit status 3 when it refuses. Any other failure is a traceback and exit 1.
`cpy_state.py serve` runs mark and record as they come on stdin, one python3 for an install's
two (see serve).
Python 3.8 and later; the standard library only.
"""

import errno
import json
import os
import re
import signal
import sys
import time

MARKER_FILE = '.cpy-install.json'
STATE_FILE = 'state.json'
CURRENT_LINK = 'current'
# The links put in the bin directory, and what each runs in the current install (the library's
# LINKS, which a test keeps the same).
LINKS = (
    ('python3', 'python3'),
    ('python', 'python3'),
    ('pip3', 'pip3'),
    ('pip', 'pip3'),
    ('pydoc3', 'pydoc3'),
    ('python3-config', 'python3-config'),
)
# The links named for a release line (python3.13, pip3.13, python3.13-config), as `make install`
# names its programs: one set per installed line, into the current install for the current line and
# into the line's newest install for the others (the library's VERSIONED_LINKS, which a test keeps
# the same). Someone else's entry of that name is left as it is: it refuses nothing.
VERSIONED_LINKS = ('python%s', 'pip%s', 'python%s-config')
HEX = '0123456789abcdef'
# Imported only where needed: each command starts a python3 (random and shutil cost some 12 ms).


class Refusal(Exception):
    def __init__(self, code, message, hint, details=None):
        Exception.__init__(self, message)
        self.code, self.message, self.hint, self.details = code, message, hint, details or {}


def random_id():
    return os.urandom(4).hex()


def write_atomic(path, text):
    """Written beside `path`, synced, then renamed over it: readers see the old file or the new one."""
    tmp = '%s.tmp-%s' % (path, random_id())
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def dumps(value):
    """As JSON.stringify(value, null, 2) + newline: the form both installers have always written."""
    return json.dumps(value, indent=2, ensure_ascii=False) + '\n'


# --- the marker -----------------------------------------------------------------------------

MARKER_STRINGS = ('version', 'sha256', 'artifact', 'source', 'builtFor', 'installedAt')


def marker_ok(m):
    """@cpy/install's markerSchema."""
    if not isinstance(m, dict) or m.get('schemaVersion') != 1 or isinstance(m.get('schemaVersion'), bool):
        return False
    if any(not isinstance(m.get(k), str) for k in MARKER_STRINGS):
        return False
    if not isinstance(m.get('build'), int) or isinstance(m.get('build'), bool):
        return False
    if len(m['sha256']) != 64 or any(c not in HEX for c in m['sha256']):
        return False
    return 'signedBy' not in m or isinstance(m['signedBy'], str)


def read_marker(prefix):
    """The marker of an installed prefix, or None when there is none or it is not valid."""
    try:
        with open(os.path.join(prefix, MARKER_FILE), encoding='utf-8') as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    return m if marker_ok(m) else None


def now_iso():
    t = time.time()
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t)) + '.%03dZ' % (int(t * 1000) % 1000)


def mark(a):
    """
    Writes the install marker into a tree before it is renamed into place; prints it. With
    --bin-dir (an install that makes links) and --prefix (where the tree goes), every program the
    tree has is first checked against the bin dir: someone else's pip3 refuses the install before
    the tree is in place; so does a bin dir that cannot take the links it needs (at the record,
    the tree would be in place, and not recorded).
    """
    bin_dir = a.get('bin-dir')
    recorded = ()
    if bin_dir and 'state-dir' in a:
        try:
            recorded = recorded_prefixes(read_state(a['state-dir']))
        except (Refusal, OSError):
            pass  # a state that cannot be read is refused where it is written (record)
    check_links(bin_dir, a['tree'], recorded)
    if link_changes(bin_dir, a.get('prefix', a['tree']), False, a['tree']):
        ready_bin_dir(bin_dir)
    try:
        build = int(a['build'])
    except ValueError:
        build = -1
    if build < 1 or str(build) != a['build']:
        raise Refusal('CPY_INSTALL_NOT_AN_ARTIFACT', 'the metadata is not valid: build %r' % a['build'], 'its metadata is damaged or was edited: install an artifact made by cpy build or cpy artifact pack')
    m = {'schemaVersion': 1, 'version': a['version'], 'build': build, 'sha256': a['sha256'], 'artifact': a['artifact'], 'source': a['source'],
         'builtFor': a['built-for'], 'installedAt': a.get('installed-at') or now_iso()}
    if a.get('signed-by'):
        m['signedBy'] = a['signed-by']
    if not marker_ok(m):
        raise Refusal('CPY_INSTALL_NOT_AN_ARTIFACT', 'the install marker would not be valid (sha256 %r)' % a['sha256'], 'install an artifact made by cpy')
    write_atomic(os.path.join(a['tree'], MARKER_FILE), dumps(m))
    return m


def sign_marker(a):
    """The same bytes, verified again with a signature: the marker of the install says who signed them."""
    m = read_marker(a['prefix'])
    if m is None:
        raise Refusal('CPY_INSTALL_BROKEN', '%s has no valid install marker' % a['prefix'], 'install it again: a broken install is replaced atomically')
    if m.get('signedBy') != a['signed-by']:
        m['signedBy'] = a['signed-by']
        write_atomic(os.path.join(a['prefix'], MARKER_FILE), dumps(m))
    return m


# --- the state ------------------------------------------------------------------------------

def broken_state(path, problem):
    return Refusal('CPY_INSTALL_BROKEN', '%s is not a cpy state file (%s)' % (path, problem),
                   'move it aside (mv %s %s.broken), then run again; the installed versions stay in place, and cpy install <version> records each again' % (path, path),
                   {'path': path, 'problem': problem})


def read_state(state_dir):
    """state.json (@cpy/install's stateSchema); none yet reads as empty. Never rewritten when it is not a state."""
    path = os.path.join(state_dir, STATE_FILE)
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except FileNotFoundError:
        return {'schemaVersion': 1, 'installs': {}, 'previous': None}
    except UnicodeDecodeError as e:
        raise broken_state(path, 'not JSON: not UTF-8 text (%s)' % e.reason)
    try:
        s = json.loads(text)
    except ValueError as e:
        raise broken_state(path, 'not JSON: %s' % e)
    if not isinstance(s, dict):
        raise broken_state(path, 'the document: not an object')
    if s.get('schemaVersion') != 1 or isinstance(s.get('schemaVersion'), bool):
        raise broken_state(path, 'schemaVersion: not 1')
    installs = s.get('installs')
    if not isinstance(installs, dict):
        raise broken_state(path, 'installs: not an object')
    for version, entry in installs.items():
        if not isinstance(entry, dict) or not isinstance(entry.get('prefix'), str):
            raise broken_state(path, 'installs.%s: not { prefix: <path> }' % version)
    if 'previous' not in s or not (s['previous'] is None or isinstance(s['previous'], str)):
        raise broken_state(path, 'previous: not a version or null')
    state = {'schemaVersion': 1, 'installs': {v: {'prefix': e['prefix']} for v, e in installs.items()}, 'previous': s['previous']}
    # Where the current version's links are (the last install or use that made them), for the
    # commands not told a bin dir; absent until links are made.
    if 'binDir' in s:
        if not isinstance(s['binDir'], str) or not s['binDir'].startswith('/'):
            raise broken_state(path, 'binDir: not an absolute path')
        state['binDir'] = s['binDir']
    return state


def write_state(state_dir, state):
    os.makedirs(state_dir, exist_ok=True)
    write_atomic(os.path.join(state_dir, STATE_FILE), dumps(state))


def current_prefix(state_dir):
    try:
        return os.readlink(os.path.join(state_dir, CURRENT_LINK))
    except OSError:
        return None


def version_of(state_dir, state, prefix):
    """The version installed at `prefix`: the state's, else its marker's (a state.json moved aside)."""
    if not prefix:
        return None
    for version, entry in state['installs'].items():
        if entry['prefix'] == prefix:
            return version
    m = read_marker(prefix)
    return m['version'] if m else None


def version_key(version):
    """Orders versions as people read them (3.9.1 before 3.13.0; a pre-release before its release)."""
    parts = re.match(r'(\d+)\.(\d+)\.(\d+)(?:(a|b|rc)(\d+))?', version)
    if not parts:
        return ((), version)
    major, minor, micro, pre, n = parts.groups()
    return ((int(major), int(minor), int(micro), (pre or 'z', int(n or 0))), version)


def not_installed(version, known, removing=False):
    known = sorted(known, key=version_key)
    return Refusal('CPY_INSTALL_NOT_INSTALLED', 'CPython %s is not installed%s' % (version, ' (installed: %s)' % ', '.join(known) if known else ''),
                   'nothing to remove: cpy list shows what is installed' if removing else 'install it first: cpy install %s (from the index: --index or CPY_INDEX_URL), or cpy install --from <artifact>' % version)


# --- links ----------------------------------------------------------------------------------

def swap_link(link, target):
    """
    Points `link` at `target` by renaming a new symlink over it: readers see the old or the new
    target, never none. The new symlinks a killed run left for it (`<link>.tmp-<8 hex>`, made
    under the same state lock) are removed first.
    """
    directory, name = os.path.split(link)
    os.makedirs(directory, exist_ok=True)
    half_made = re.compile(re.escape(name) + r'\.tmp-[0-9a-f]{8}')
    for entry in os.listdir(directory):
        if half_made.fullmatch(entry) and os.path.islink(os.path.join(directory, entry)):
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:
                pass
    tmp = '%s.tmp-%s' % (link, random_id())
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        os.unlink(tmp)
        raise


def bin_entry(path, recorded=()):
    """What a bin entry is: absent, a link cpy made (into a prefix with a marker, or into one of
    `recorded`, the prefixes the state records: an install whose marker is gone is still the one
    those links were made for), dangling (replaceable), or someone else's."""
    try:
        os.lstat(path)
    except OSError:
        return 'absent', None
    if not os.path.islink(path):
        return 'foreign', None
    target = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    into = os.path.dirname(os.path.dirname(target))
    if os.path.exists(os.path.join(into, MARKER_FILE)) or into in recorded:
        return 'cpy', target
    return ('foreign' if os.path.exists(target) else 'dangling'), target


def recorded_prefixes(state):
    """The prefixes the state records."""
    return frozenset(entry['prefix'] for entry in state['installs'].values())


def check_links(bin_dir, prefix, recorded=()):
    """Refuses to take over a bin entry that is not cpy's (a system python3, a user's script): every
    such entry at once (one a run, after a whole unpack each, took four runs for pip, pip3, pip3.13
    and python that pip install --user had written). `recorded`: as bin_entry's."""
    if not bin_dir:
        return
    foreign = []
    for name, runs in LINKS:
        if not os.path.exists(os.path.join(prefix, 'bin', runs)) and name != 'python3':
            continue
        path = os.path.join(bin_dir, name)
        kind, target = bin_entry(path, recorded)
        if kind == 'foreign':
            foreign.append((path, target))
    if not foreign:
        return
    path, target = foreign[0]
    if len(foreign) == 1:
        message = '%s exists and is not a cpy link%s' % (path, ' (it points to %s)' % target if target else '')
    else:
        message = '%s and %s exist and are not cpy links' % (', '.join(p for p, _ in foreign[:-1]), foreign[-1][0])
    paths = [p for p, _ in foreign]
    raise Refusal('CPY_INSTALL_BIN_CONFLICT', message, "remove %s (not cpy's), then run again" % ' '.join(paths), {'path': path, 'paths': paths})


def ready_bin_dir(bin_dir):
    """The bin dir made, and able to take a link (one made and removed): refused before the state changes,
    since after it `current` would name a version its links do not run."""
    if not bin_dir:
        return
    hint = 'make the links where this user can write (cpy: --bin-dir), or run as the user who owns %s' % bin_dir
    probe = os.path.join(bin_dir, '.cpy-probe-%s' % random_id())
    try:
        os.makedirs(bin_dir, exist_ok=True)
        os.symlink('.', probe)
        os.unlink(probe)
    except FileExistsError:
        raise Refusal('CPY_INSTALL_NOT_WRITABLE', 'cannot make the python3 links in %s: it is not a directory' % bin_dir, hint)
    except OSError as e:
        said = (e.strerror or str(e)).lower()
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise Refusal('CPY_INSTALL_DISK_FULL', 'cannot make the python3 links in %s: %s' % (bin_dir, said), 'free some space there (df -h; df -i), then run again')
        if e.errno == errno.ENOTDIR:
            said = 'a file is in the way of it'
        raise Refusal('CPY_INSTALL_NOT_WRITABLE', 'cannot make the python3 links in %s: %s' % (bin_dir, said), hint)


def link_changes(bin_dir, prefix, keep_foreign, tree=None):
    """
    Link by link, what activate changes: (path, target), or (path, None) to remove cpy's link to a
    program this version lacks. `tree`: where its programs are now, when not yet at `prefix` (mark).
    """
    if not bin_dir:
        return []
    changes = []
    for name, runs in LINKS:
        path = os.path.join(bin_dir, name)
        if not os.path.exists(os.path.join(tree or prefix, 'bin', runs)):
            if bin_entry(path)[0] == 'cpy':
                changes.append((path, None))
            continue
        # Into the real prefix, not through `current`: CPython derives sys.prefix from the path it
        # was started by, and pip writes that interpreter into the #! lines of the scripts it installs.
        target = os.path.join(prefix, 'bin', runs)
        try:
            if os.readlink(path) == target:
                continue
        except OSError:
            pass
        if keep_foreign and bin_entry(path)[0] == 'foreign':
            continue
        changes.append((path, target))
    return changes


def release_line(version):
    parts = re.match(r'(\d+\.\d+)\.', version)
    return parts.group(1) if parts else None


def versioned_changes(bin_dir, state, current):
    """
    What the links named for a release line need, as link_changes says it: (path, target) for each
    installed line's programs, into the current install for its line, else into the line's newest.
    Only links to make or to point elsewhere: the ones of a version removed go in forget. (The
    library's versionedTargets chooses the same.)
    """
    if not bin_dir:
        return []
    chosen = {}
    for version, entry in state['installs'].items():
        line = release_line(version)
        # A tree deleted by hand (or another version's since) leaves the line to its other installs.
        if not line or not os.path.exists(os.path.join(entry['prefix'], 'bin', 'python%s' % line)):
            continue
        rank = (entry['prefix'] == current, version_key(version))
        if line not in chosen or rank > chosen[line][0]:
            chosen[line] = (rank, entry['prefix'])
    changes = []
    for line in sorted(chosen):
        prefix = chosen[line][1]
        for template in VERSIONED_LINKS:
            name = template % line
            target = os.path.join(prefix, 'bin', name)
            path = os.path.join(bin_dir, name)
            if not os.path.exists(target):
                continue
            try:
                if os.readlink(path) == target:
                    continue
            except OSError:
                pass
            if bin_entry(path)[0] != 'foreign':
                changes.append((path, target))
    return changes


def links_to(state, bin_dir):
    """
    Whether making links in `bin_dir` changes the bin dir the state records (recording: it is to
    be written, record_bin_dir), and whether that moves them from another directory (moving: what
    is there now is cpy's links, which record_bin_dir removes once the new ones are checked).
    """
    old = state.get('binDir')
    recording = bool(bin_dir) and old != bin_dir
    return recording, recording and bool(old) and os.path.realpath(old) != os.path.realpath(bin_dir)


def record_bin_dir(state, bin_dir, moving):
    """
    The links are made in `bin_dir` from now on: recorded as the state's bin dir, for the caller to
    write. `moving` (links_to): cpy's links in the bin dir recorded before (to any install it
    records) are removed, so that no python3 there runs the version that was current. Says where
    they were, when any was removed.
    """
    old = state.get('binDir')
    state['binDir'] = bin_dir
    if not moving:
        return None
    prefixes = [entry['prefix'] + '/bin/' for entry in state['installs'].values()]
    lines = sorted(set(filter(None, (release_line(v) for v in state['installs']))))
    removed = False
    for name in [n for n, _ in LINKS] + [t % line for line in lines for t in VERSIONED_LINKS]:
        path = os.path.join(old, name)
        try:
            if any(os.readlink(path).startswith(p) for p in prefixes):
                os.unlink(path)
                removed = True
        except OSError:
            pass
    return old if removed else None


def linked_into(state, prefix):
    """The state's bin dir when its python3 is cpy's link into `prefix` (python3 runs that tree), else None."""
    bin_dir = state.get('binDir')
    if not bin_dir or not prefix:
        return None
    try:
        return bin_dir if os.readlink(os.path.join(bin_dir, 'python3')).startswith(prefix + '/bin/') else None
    except OSError:
        return None


def activate(state_dir, bin_dir, prefix, keep_foreign):
    """`current` first (one rename: the record of what is current), then each bin link. Without
    `keep_foreign`, its callers (record, use) have checked the links, before the state changed."""
    swap_link(os.path.join(state_dir, CURRENT_LINK), prefix)
    apply_links(link_changes(bin_dir, prefix, keep_foreign))


def apply_links(changes):
    """Each (path, target) of link_changes or versioned_changes: linked, or with no target removed."""
    for path, target in changes:
        if target:
            swap_link(path, target)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


# --- the commands ---------------------------------------------------------------------------

def record(a):
    """Records an install in the state and, with --current, makes it current (the one before it is kept for rollback)."""
    state_dir, bin_dir, version, prefix, make_current = a['state-dir'], a.get('bin-dir'), a['version'], a['prefix'], 'current' in a
    # The marker was read before the state lock, without the prefix's (an install already there):
    # a cpy uninstall (which renames the tree away under this lock) may have run since.
    m = read_marker(prefix)
    if not m or m['version'] != version:
        raise Refusal('CPY_INSTALL_NOT_INSTALLED', '%s no longer holds CPython %s (a cpy uninstall, or another install of that prefix, at the same time)' % (prefix, version),
                      'run the install again: it installs CPython %s anew' % version)
    state = read_state(state_dir)
    now = current_prefix(state_dir)
    # The current version installed again at another prefix, not to be made current (--no-activate):
    # its one entry moves to the new tree, so `current` and its links follow it. They stayed on the
    # old tree, which cpy then no longer listed: no version was current, python3 ran a tree cpy did
    # not know, and `use` of the version said "already using" as it switched.
    was = state['installs'].get(version, {}).get('prefix')
    if not make_current and now and was and was != prefix and os.path.realpath(was) == os.path.realpath(now):
        make_current = True
    # --no-link (no bin dir) changes no links. Where the recorded links run the current version,
    # making another one current would have cpy say one version and python3 run another: it is
    # recorded and not made current (`held`: cpy use switches). The same version at another prefix
    # moves its one entry, and python3 still runs the old tree (`stillLinked`, said with `left`).
    still_linked = linked_into(state, now) if make_current and not bin_dir and now and now != prefix else None
    held = version_of(state_dir, state, now) if still_linked else None
    if held == version:
        held = None
    elif held:
        make_current = False
    switching = make_current and now != prefix
    # An install that is not made current leaves the links where they are (only its line's are made).
    if bin_dir and not make_current and state.get('binDir'):
        bin_dir = state['binDir']
    recording, moving = links_to(state, bin_dir)
    # Someone else's entry in the bin dir refuses a switch, or a move of the links into it, before
    # the state changes (after it, the state would name as previous the version still current).
    if switching or (make_current and moving):
        check_links(bin_dir, prefix, recorded_prefixes(state))
    keep_foreign = not (switching or moving)
    before = state['installs'].get(version, {}).get('prefix')
    # The links named for release lines, as they are to be once this is recorded.
    versioned = versioned_changes(bin_dir, dict(state, installs=dict(state['installs'], **{version: {'prefix': prefix}})), prefix if make_current else now)
    if 'check' not in a and ((make_current and link_changes(bin_dir, prefix, keep_foreign)) or versioned):
        ready_bin_dir(bin_dir)
    entered = before == prefix
    # Other versions recorded at this very prefix: this install replaced their tree (an upgrade in
    # place, --prefix /opt/python). They are no longer installed: their entries go, and `previous`
    # if it named one (a rollback to it would run this version, or nothing once uninstalled).
    real = os.path.realpath(prefix)
    replaced = sorted(v for v, entry in state['installs'].items() if v != version and os.path.realpath(entry['prefix']) == real)
    # As they were recorded (the same tree by another spelling: a link, a trailing slash): their links name that.
    replaced_at = {v: state['installs'][v]['prefix'] for v in replaced}
    if 'check' in a:
        # Whether a record under the state lock would change anything (install.sh asks first, so
        # an install already there takes no lock, as the library's cheap check).
        return {'changes': not entered or switching or recording or bool(replaced) or (make_current and bool(link_changes(bin_dir, prefix, True))) or bool(versioned)}
    moved = None
    if not entered or switching or recording or replaced:
        for gone in replaced:
            del state['installs'][gone]
        if state['previous'] in replaced:
            state['previous'] = None
        state['installs'][version] = {'prefix': prefix}
        if switching:
            leaving = version_of(state_dir, state, now)
            if leaving and leaving != version:
                state['previous'] = leaving
        moved = record_bin_dir(state, bin_dir, moving) if recording else None
        write_state(state_dir, state)
    # Current already: only its links are made whole, around what is not cpy's.
    if make_current:
        activate(state_dir, bin_dir, prefix, keep_foreign=keep_foreign)
    apply_links(versioned)
    # The links named for a replaced version's line ran its programs, gone with its tree: they go,
    # or point at another install of the line (python3.12 was left leading nowhere, for tox to find).
    # (--no-link changes no link.)
    for gone in replaced if bin_dir else ():
        relink_line(bin_dir, state, current_prefix(state_dir), unlink_into(bin_dir, replaced_at[gone], gone, only_dangling=True))
    done = {'current': make_current or now == prefix}
    if moved:
        done['movedFrom'] = moved
    # The version was recorded at another prefix, whose tree is still there: one version has one
    # entry, so that tree is no longer listed, used or uninstalled by cpy. Said, for the caller to warn.
    # (The same tree by another name, a link or a trailing slash, is no other tree.)
    old = read_marker(before) if before and not entered and os.path.realpath(before) != os.path.realpath(prefix) else None
    if old and old.get('version') == version:
        done['left'] = before
        if still_linked:
            done['stillLinked'] = still_linked
    if held:
        done['held'] = {'version': held, 'binDir': still_linked}
    if replaced:
        done['replaced'] = replaced
    return done


def repair_hint(version, prefix, holds=None):
    """What repairs an install with no valid marker of its version (the library's repairHint)."""
    again = 'cpy install %s --prefix %s' % (version, prefix)
    if holds:
        return ('%s holds CPython %s now: forget %s (cpy uninstall %s; that tree stays), and record %s there (cpy install %s --prefix %s)'
                % (prefix, holds, version, version, holds, holds, prefix))
    if not os.path.exists(prefix):
        return '%s is gone: install it again (%s), or forget it (cpy uninstall %s)' % (prefix, again, version)
    if os.path.exists(os.path.join(prefix, MARKER_FILE)):
        return 'install it again (%s): its tree is replaced' % again
    return ('its install marker is gone, so cpy does not replace the files in %s: if they are that install, delete %s yourself, '
            'then install it again (%s)' % (prefix, prefix, again))


def use(a):
    """Makes an installed version the one python3 runs."""
    state_dir, bin_dir, version = a['state-dir'], a.get('bin-dir'), a['version']
    state = read_state(state_dir)
    entry = state['installs'].get(version)
    if not entry:
        raise not_installed(version, list(state['installs']))
    m = read_marker(entry['prefix'])
    if not m:
        raise Refusal('CPY_INSTALL_BROKEN', '%s (CPython %s) is not a complete install' % (entry['prefix'], version), repair_hint(version, entry['prefix']))
    # Another version installed over it (its record not written): used, python3 would run that one.
    if m['version'] != version:
        raise Refusal('CPY_INSTALL_BROKEN', '%s (CPython %s) holds CPython %s now: it is not made the one python3 runs' % (entry['prefix'], version, m['version']),
                      repair_hint(version, entry['prefix'], m['version']))
    came_from = version_of(state_dir, state, current_prefix(state_dir))
    recording, moving = links_to(state, bin_dir)
    if came_from != version or moving:
        check_links(bin_dir, entry['prefix'], recorded_prefixes(state))
    keep_foreign = came_from == version and not moving
    versioned = versioned_changes(bin_dir, state, entry['prefix'])
    relinked = bool(link_changes(bin_dir, entry['prefix'], keep_foreign) or versioned)
    if relinked:
        ready_bin_dir(bin_dir)
    moved = None
    if came_from != version or recording:
        if came_from != version:
            state['previous'] = came_from
        moved = record_bin_dir(state, bin_dir, moving) if recording else None
        write_state(state_dir, state)
    # Also when it is current already: its links may be missing (a run killed between the
    # `current` link and them); only what differs changes.
    activate(state_dir, bin_dir, entry['prefix'], keep_foreign=keep_foreign)
    apply_links(versioned)
    done = {'version': version, 'prefix': entry['prefix'], 'from': came_from, 'relinked': relinked or bool(moved)}
    if moved:
        done['movedFrom'] = moved
    return done


def forget(a):
    """Removes an installed version (renamed away first, then deleted; where no valid marker says the
    files are still cpy's, they stay); its state entry, and with --force when current, its links."""
    state_dir, bin_dir, version, locked = a['state-dir'], a.get('bin-dir'), a['version'], a['prefix']
    state = read_state(state_dir)
    entry = state['installs'].get(version)
    if not entry:
        raise not_installed(version, list(state['installs']), removing=True)
    prefix = entry['prefix']
    if prefix != locked:
        return {'moved': prefix}
    # Another version installed at the same prefix since: its tree stays; only this entry goes.
    there = read_marker(prefix)
    if there and there['version'] != version:
        del state['installs'][version]
        if state['previous'] == version:
            state['previous'] = None
        write_state(state_dir, state)
        # Its links into that prefix run nothing now (the other version's tree has other programs).
        unlinked = unlink_into(bin_dir, prefix, version, only_dangling=True)
        relink_line(bin_dir, state, current_prefix(state_dir), unlinked)
        return {'version': version, 'prefix': prefix, 'wasCurrent': False, 'unlinked': unlinked}
    current = current_prefix(state_dir)
    was_current = current == prefix
    # Before the tree is renamed away: the python3 running this may be the one being removed.
    import shutil
    # No marker there: nothing says those files are still the install cpy made (its marker deleted,
    # or another Python built in its place), so the version and its links go and the files stay.
    kept = not there and holds_something(prefix)
    if was_current and 'force' not in a:
        raise Refusal('CPY_INSTALL_IN_USE', 'CPython %s is the current version (%s)' % (version, prefix),
                      'switch first (cpy use <other version>), or pass --force to remove it and its python3 links'
                      + (' (its files stay: it has no valid install marker)' if kept else ''))
    # python3 in the bin dir leads into it though another version is current (a link made by hand, or
    # by an install of another state): removed, it would leave python3 running nothing.
    python3_link = os.path.join(bin_dir, 'python3') if bin_dir else None
    try:
        runs_it = python3_link is not None and os.readlink(python3_link) == os.path.join(prefix, 'bin', 'python3')
    except OSError:
        runs_it = False
    if runs_it and not was_current and 'force' not in a:
        raise Refusal('CPY_INSTALL_IN_USE', 'CPython %s is what %s runs (the link leads into %s), though the current version is %s'
                      % (version, python3_link, prefix, version_of(state_dir, state, current) or 'none'),
                      'point python3 at the current version first (cpy use <version>), or pass --force to remove it and its links')
    # A prefix that is a link (made by hand: the tree moved to another disk): the tree it points to
    # goes, then the link (the link alone was renamed, and the tree left unrecorded).
    # A link that leads nowhere (that tree deleted) holds nothing: it goes.
    tree = os.path.realpath(prefix) if not kept and os.path.islink(prefix) else prefix
    gone = os.path.join(os.path.dirname(tree), '.cpy-old-%s-%s' % (os.path.basename(tree), random_id()))
    link = os.readlink(prefix) if tree != prefix else None
    if not kept:
        try:
            os.rename(tree, gone)
        except FileNotFoundError:
            pass
        if link is not None:
            try:
                os.unlink(prefix)
            except FileNotFoundError:
                pass
    del state['installs'][version]
    if state['previous'] == version:
        state['previous'] = None
    try:
        write_state(state_dir, state)
    except BaseException:
        # The state still records it (a full or read-only disk): its tree goes back where it was,
        # not left hidden beside it for ever.
        if not kept:
            try:
                os.rename(gone, tree)
                if link is not None and not os.path.lexists(prefix):
                    os.symlink(link, prefix)
            except OSError:
                pass
        raise
    if was_current:
        try:
            os.unlink(os.path.join(state_dir, CURRENT_LINK))
        except FileNotFoundError:
            pass
    # Every link into its tree goes, current or not (a link made by hand, or one a --no-link
    # install of the same version at another prefix left on the old tree); those named for its
    # line then point at another install of the line, if there is one.
    try:
        unlinked = unlink_into(bin_dir, prefix, version)
        relink_line(bin_dir, state, current_prefix(state_dir), unlinked)
    finally:
        shutil.rmtree(gone, ignore_errors=True)
    # Which links went: none when it was linked from another bin dir than the state records, which this one cannot know.
    done = {'version': version, 'prefix': prefix, 'wasCurrent': was_current, 'unlinked': unlinked}
    if kept:
        done['kept'] = True
    return done


def holds_something(prefix):
    """Whether anything is at `prefix` besides an empty directory or a link that leads nowhere (a
    file or another link counts; so does what cannot be read)."""
    try:
        if os.path.islink(prefix) or not os.path.isdir(prefix):
            return os.path.exists(prefix)
        return bool(os.listdir(prefix))
    except OSError:
        return True


def unlink_into(bin_dir, prefix, version, only_dangling=False):
    """Removes the bin links (LINKS, and those named for the version's line) that run a program of `prefix`'s; says which."""
    line = release_line(version)
    names = [(name, runs) for name, runs in LINKS] + [(t % line, t % line) for t in VERSIONED_LINKS if line]
    unlinked = []
    for name, runs in names if bin_dir else ():
        path, target = os.path.join(bin_dir, name), os.path.join(prefix, 'bin', runs)
        try:
            if os.readlink(path) == target and not (only_dangling and os.path.exists(target)):
                os.unlink(path)
                unlinked.append(name)
        except OSError:
            pass
    return unlinked


def relink_line(bin_dir, state, current, unlinked):
    """The links named for release lines made whole (versioned_changes); one that cannot be made is left
    (the version is removed already). A name made again is taken out of `unlinked`."""
    if not bin_dir or not os.path.isdir(bin_dir):
        return
    for path, target in versioned_changes(bin_dir, state, current):
        try:
            swap_link(path, target)
        except OSError:
            continue
        if os.path.basename(path) in unlinked:
            unlinked.remove(os.path.basename(path))


COMMANDS = {'mark': mark, 'sign-marker': sign_marker, 'record': record, 'use': use, 'forget': forget}
FLAGS = ('current', 'force', 'check')
# What serve runs: an install's marker, then its record. Both need nothing imported after start-up.
SERVED = ('mark', 'record')


def parse(argv):
    args, i = {}, 0
    while i < len(argv):
        name = argv[i][2:] if argv[i].startswith('--') else None
        if not name:
            raise SystemExit('cpy_state.py: unexpected argument %r' % argv[i])
        if name in FLAGS:
            args[name], i = True, i + 1
        elif i + 1 < len(argv):
            args[name], i = argv[i + 1], i + 2
        else:
            raise SystemExit('cpy_state.py: --%s needs a value' % name)
    if args.get('bin-dir') == '':
        del args['bin-dir']
    return args


def refused(r):
    return {'error': {'code': r.code, 'message': r.message, 'hint': r.hint, 'details': r.details}}


def serve():
    """
    Runs commands read from stdin, one a line as a JSON array (["mark", "--tree", ...]), in turn,
    and prints one JSON line for each: {"ok": result}, or {"error": ...} for a refusal. Ends at the
    end of stdin. The library starts it while the tree is relocated and checked (its start-up off
    the install's path), then runs mark, and record once the tree it runs from has been renamed into
    place: one python3 start for both. So it runs only what needs nothing imported after start-up
    (an import after the rename would look in the staging directory, gone by then).
    """
    while True:
        line = sys.stdin.readline()
        if not line:
            return 0
        argv = json.loads(line)
        if not argv or argv[0] not in SERVED:
            raise SystemExit('cpy_state.py serve: runs %s, not %r' % (' and '.join(SERVED), argv[:1]))
        try:
            reply = {'ok': COMMANDS[argv[0]](parse(argv[1:]))}
        except Refusal as r:
            reply = refused(r)
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()


def main(argv):
    # Each command changes the state in steps (a tree renamed away, state.json, `current`, the
    # links, a tree deleted): a Ctrl-C, which reaches the whole process group, a closed terminal or
    # a SIGTERM sent to the group (timeout, systemd's stop) does not stop one half way (an
    # uninstall left a hidden copy of the tree and no record of it). They take well under a
    # second; serve ends when its stdin does, and the caller stops on those signals itself.
    for stop in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    if argv == ['serve']:
        return serve()
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write('usage: cpy_state.py {%s} --name value ... | cpy_state.py serve\n' % ','.join(COMMANDS))
        return 2
    try:
        result = COMMANDS[argv[0]](parse(argv[1:]))
    except Refusal as r:
        sys.stdout.write(json.dumps(refused(r)) + '\n')
        return 3
    sys.stdout.write(json.dumps(result) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
