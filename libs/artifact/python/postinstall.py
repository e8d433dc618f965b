"""cpy's post-install step, shipped inside every artifact as share/cpy/postinstall.py.

Both installers (@cpy/install and the Dev Container Feature's install.sh) and artifact
validation run this one file with the unpacked interpreter, so the logic exists once:

  python3 -I -S share/cpy/postinstall.py relocate --from OLD --to NEW
      Rewrites what names the prefix the tree was built for, so the tree works at NEW:
      the sysconfig data (and its bytecode), config-X.Y/Makefile, build-details.json and
      _sysconfig_vars_*.json (3.14+), pkgconfig/*.pc, bin/pythonX.Y-config, the #!
      line of every script in bin/, and the prefix compiled into bin/pythonX.Y and
      libpython (when cpy's build left room for it). Prints one JSON object: what it rewrote.

  python3 -I share/cpy/postinstall.py check --version V --installed-at PREFIX --work DIR
      [--modules a,b,...] [--compile]
      Checks what users rely on, in this (possibly still staged) tree whose files say PREFIX:
      the version, the critical imports, that sysconfig's directories are under PREFIX and
      exist, a venv made through a link outside the prefix (symlinks and --copies), nothing
      of the build machine in the flags users build with, and with --compile (when a C
      compiler is there) a C extension built with sysconfig's own flags that imports and
      carries no RPATH/RUNPATH. Prints one JSON object; exit 0 when every check passed.

Runs on every CPython cpy packs (3.8 and newer), with the standard library only.
"""

import marshal
import os
import sys

# relocate runs on every install, so it imports only the above (no re, json or py_compile:
# with enum, which re and py_compile pull in, they were 20 ms of a 45 ms relocation); what
# check needs (argparse, importlib, json, platform, shutil, struct, subprocess, sysconfig:
# about 30 ms more) is imported there.

# --- relocate ---------------------------------------------------------------------------

# What may follow the prefix for it to be the whole path component: /opt/py matches /opt/py/bin,
# not /opt/py2.
_PREFIX_ENDS = frozenset(b"/'\"\t\n\r\x0b\x0c :;,)]}=")


def _replace_prefix(data, old, new):
    """DATA with each OLD (bytes) that ends a path component replaced by NEW (bytes)."""
    out, at = [], 0
    i = data.find(old)
    while i >= 0:
        end = i + len(old)
        if end == len(data) or data[end] in _PREFIX_ENDS:
            out.append(data[at:i])
            out.append(new)
            at = end
            i = data.find(old, end)
        else:
            i = data.find(old, i + 1)
    if not out:
        return data
    out.append(data[at:])
    return b"".join(out)


def _versioned(name, stem):
    """NAME starts with STEM, digits, a dot and digits (python3.13, python3.13t-config)."""
    if not name.startswith(stem):
        return False
    major, dot, rest = name[len(stem):].partition(".")
    return bool(dot) and major.isdigit() and major.isascii() and rest[:1].isdigit() and rest[:1].isascii()


def _json_text(value):
    """VALUE (str, list, dict) as json.dumps writes it (ASCII, escaped), without importing json."""
    if isinstance(value, dict):
        return "{" + ", ".join(_json_text(k) + ": " + _json_text(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_text(v) for v in value) + "]"
    out = []
    for ch in value:
        code = ord(ch)
        if ch in "\"\\":
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF)))
        else:
            out.append("\\u%04x" % code)
    return '"' + "".join(out) + '"'


def _rewrite(path, old, new, first_line_only=False):
    with open(path, "rb") as f:
        data = f.read()
    if first_line_only:
        end = data.find(b"\n")
        head, rest = (data, b"") if end < 0 else (data[:end], data[end:])
        updated = _replace_prefix(head, old, new) + rest
    else:
        updated = _replace_prefix(data, old, new)
    if updated == data:
        return False
    _replace_file(path, updated)
    return True


def _replace_file(path, data):
    """PATH holds DATA, its mode kept: written beside it, then renamed over it."""
    mode = os.stat(path).st_mode
    tmp = path + ".cpy-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode & 0o7777)
    os.replace(tmp, path)


def _recompile(path):
    """The bytecode beside PATH compiled again, as py_compile writes it (a timestamp .pyc: PEP
    552's header, then the marshalled code), when the tree has one."""
    head, name = os.path.split(path)
    tag = sys.implementation.cache_tag
    cached = os.path.join(head, "__pycache__", name[:-3] + "." + tag + ".pyc")
    if not tag or not os.path.exists(cached):
        return
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    st = os.stat(path)
    magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
    header = magic + (0).to_bytes(4, "little") + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    tmp = cached + ".cpy-tmp"
    with open(tmp, "wb") as f:
        f.write(header + marshal.dumps(code))
    os.chmod(tmp, os.stat(cached).st_mode & 0o7777)
    os.replace(tmp, cached)


def _config_files(root):
    """The files that record the prefix for people and tools that build against Python."""
    lib = os.path.join(root, "lib")
    for name in sorted(os.listdir(lib)) if os.path.isdir(lib) else []:
        stdlib = os.path.join(lib, name)
        if not _versioned(name, "python") or not os.path.isdir(stdlib):
            continue
        for entry in sorted(os.listdir(stdlib)):
            full = os.path.join(stdlib, entry)
            if (entry.startswith("_sysconfigdata_") and entry.endswith(".py")) or (entry.startswith("_sysconfig_vars_") and entry.endswith(".json")) or entry == "build-details.json":
                yield full
            elif entry.startswith("config-") and os.path.isdir(full):
                for inner in ("Makefile", "python-config.py"):
                    if os.path.isfile(os.path.join(full, inner)):
                        yield os.path.join(full, inner)
    pc = os.path.join(lib, "pkgconfig")
    if os.path.isdir(pc):
        for entry in sorted(os.listdir(pc)):
            if entry.endswith(".pc") and not os.path.islink(os.path.join(pc, entry)):
                yield os.path.join(pc, entry)
    binary = os.path.join(root, "bin")
    for entry in sorted(os.listdir(binary)) if os.path.isdir(binary) else []:
        full = os.path.join(binary, entry)
        if _versioned(entry, "python") and entry.endswith("-config") and os.path.isfile(full) and not os.path.islink(full):
            yield full


def _scripts(root):
    """Regular files in bin/ that start with #!."""
    binary = os.path.join(root, "bin")
    for entry in sorted(os.listdir(binary)) if os.path.isdir(binary) else []:
        full = os.path.join(binary, entry)
        if os.path.islink(full) or not os.path.isfile(full):
            continue
        with open(full, "rb") as f:
            if f.read(2) == b"#!":
                yield full


# Linux's #! limits: a path with a space is cut at it (the kernel splits the line at the first
# blank), and kernels before 5.1 read 127 bytes of the line (255 since). pip's own scripts then
# start from /bin/sh (distlib's rule), and so do ours.
_SHEBANG_READ = 127


def _trampoline(path, new):
    """The #! line of the Python script PATH, whose interpreter is under NEW, as distlib writes it
    when the interpreter's path has a space or the line is too long: /bin/sh, which runs the
    interpreter on the script (the second line is a string to Python). True when it was written."""
    with open(path, "rb") as f:
        data = f.read()
    end = data.find(b"\n")
    line, rest = (data, b"") if end < 0 else (data[:end], data[end:])
    if not line.startswith(b"#!" + new + b"/bin/python"):
        return False
    if b" " not in new and len(line) <= _SHEBANG_READ:
        return False
    interpreter, _, args = line[2 + len(new):].partition(b" ")
    interpreter = new + interpreter
    if b"'" in interpreter or b"'" in args:
        return False
    quote = b"'" * 3
    exec_line = quote + b"exec' '" + interpreter + b"'" + (b" " + args if args else b"") + b' "$0" "$@"'
    _replace_file(path, b"#!/bin/sh\n" + exec_line + b"\n' " + quote + rest)
    return True


# The prefix compiled into the interpreter and libpython (getpath's PREFIX and EXEC_PREFIX): where
# Python looks for its standard library when it finds none beside the program that runs it (a
# program that embeds libpython, a copy of python3.X elsewhere, a venv made with -S). A build
# configured at the prefix has it right; cpy's build pads each with NULs up to this marker
# (libs/build's prefix slot), so that the prefix can be rewritten in place, as conda does.
# (Searched for without the NUL before it: a pattern that starts with a byte so common in
# binaries makes the search many times slower.)
_PREFIX_SLOT_MARKER = b"cpy-prefix-slot\0"


def _patch_compiled_prefix(path, old, new):
    """Writes NEW over each prefix slot of PATH that holds OLD: in place, or, for the interpreter
    running this (which cannot be written to), in a copy renamed over it. False when PATH has no
    such slot, or NEW (with its NUL) does not fit in one: then nothing is written."""
    import mmap

    # Found in a read-only map: reading the 6 MB file into memory cost more than the search.
    spots = []
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            i = m.find(_PREFIX_SLOT_MARKER)
            while i >= 0:
                # The slot is the prefix, then NULs up to the marker; what is before it is not ours to read.
                end = i
                while end > 0 and m[end - 1] == 0:
                    end -= 1
                start = end - len(old)
                if end < i and start >= 0 and m[start:end] == old:
                    if len(new) >= i - start:
                        return False
                    spots.append((start, i - start))
                i = m.find(_PREFIX_SLOT_MARKER, i + 1)
    if not spots:
        return False
    running = os.path.realpath(sys.executable) == os.path.realpath(path)
    target = path + ".cpy-tmp" if running else path
    if running:
        with open(path, "rb") as src, open(target, "wb") as dst:
            size, done = os.fstat(src.fileno()).st_size, 0
            while done < size:
                done += os.sendfile(dst.fileno(), src.fileno(), done, size - done)
        os.chmod(target, os.stat(path).st_mode & 0o7777)
    fd = os.open(target, os.O_WRONLY)
    try:
        for start, size in spots:
            os.pwrite(fd, new + b"\0" * (size - len(new)), start)
    finally:
        os.close(fd)
    if running:
        os.replace(target, path)
    return True


def _compiled_prefix_files(root):
    """The interpreter and libpython: the ELF files that carry getpath's compiled-in prefix."""
    seen = set()
    for folder, stem in (("bin", "python"), ("lib", "libpython")):
        full_folder = os.path.join(root, folder)
        for entry in sorted(os.listdir(full_folder)) if os.path.isdir(full_folder) else []:
            full = os.path.join(full_folder, entry)
            if not entry.startswith(stem) or entry.endswith(("-config", ".a", ".py")) or os.path.islink(full) or not os.path.isfile(full):
                continue
            with open(full, "rb") as f:
                if f.read(4) != b"\x7fELF":
                    continue
            st = os.stat(full)
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                yield full


def relocate(root, old, new):
    old = old.rstrip("/") or "/"
    new = new.rstrip("/") or "/"
    rewritten, too_long = [], []
    if old == new:
        return {"rewritten": rewritten, "tooLong": too_long}
    old_bytes, new_bytes = os.fsencode(old), os.fsencode(new)
    config = set()
    for path in _config_files(root):
        config.add(path)
        if _rewrite(path, old_bytes, new_bytes):
            rewritten.append(os.path.relpath(path, root))
            if path.endswith(".py"):
                _recompile(path)
    for path in _compiled_prefix_files(root):
        if _patch_compiled_prefix(path, old_bytes, new_bytes):
            rewritten.append(os.path.relpath(path, root))
    for path in _scripts(root):
        if path in config:
            continue
        if _rewrite(path, old_bytes, new_bytes, first_line_only=True):
            rewritten.append(os.path.relpath(path, root))
            if _trampoline(path, new_bytes):
                continue
            with open(path, "rb") as f:
                # Linux reads at most 255 bytes of a #! line (BINPRM_BUF_SIZE 256).
                if len(f.readline().rstrip(b"\n")) > 255:
                    too_long.append(os.path.basename(path))
    return {"rewritten": rewritten, "tooLong": too_long}


# --- check -------------------------------------------------------------------------------

BUILD_LDFLAGS = ("LDSHARED", "BLDSHARED", "LDFLAGS", "CONFIGURE_LDFLAGS", "PY_LDFLAGS", "LDFLAGS_NODIST", "PY_CORE_LDFLAGS")
BUILD_CFLAGS = ("CFLAGS", "CONFIGURE_CFLAGS", "PY_CFLAGS", "CPPFLAGS", "CONFIGURE_CPPFLAGS", "PY_CPPFLAGS", "CC", "LDSHARED", "BLDSHARED")
COMPILER_VARS = ("CC", "CXX", "LDSHARED", "LDCXXSHARED", "BLDSHARED", "LINKCC")
COMPILER_LAUNCHERS = ("ccache", "sccache", "distcc", "icecc")

EXTENSION_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cpyprobe", NULL, -1, methods};
PyMODINIT_FUNC PyInit_cpyprobe(void) { return PyModule_Create(&module); }
"""


class Report:
    def __init__(self):
        self.checks = []

    def add(self, id, ok, detail):
        self.checks.append({"id": id, "ok": bool(ok), "detail": detail})


def _run(argv, extra_env=None, timeout=300, **kwargs):
    import subprocess

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    env.update(extra_env or {})
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env, timeout=timeout, **kwargs)


def _tail(text, lines=3):
    return " ".join(text.strip().splitlines()[-lines:])


def _under(path, prefix):
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def check_modules(report, modules):
    import importlib

    failed = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as e:  # noqa: BLE001 - any failure to import is the finding
            failed[name] = "%s: %s" % (type(e).__name__, e)
    missing = ["%s (%s)" % item for item in sorted(failed.items())]
    report.add("critical-modules", not failed, "cannot import " + "; ".join(missing) if failed else " ".join(modules))
    return failed


def check_sysconfig(report, installed_at, here):
    """sysconfig's directories must name the install prefix and exist (here is where the tree is now).

    The scheme paths (get_path) follow where the interpreter runs, so in a staged tree they
    name `here`; so may `prefix` and `exec_prefix`, which sysconfig takes from sys.prefix on
    releases where it sets them after reading the sysconfig data (CPython's "FIXME: this gets
    overwritten by _init_posix" is resolved one way or the other, depending on the release). The
    other configuration variables come from the relocated sysconfig data and must name the
    install prefix.
    """
    import sysconfig

    base = installed_at.rstrip("/")

    def now(path):
        return here + path[len(base):] if base else here + path

    def final(path):
        """PATH, where it will be once the staged tree is in place."""
        return installed_at + path[len(here):] if _under(path, here) and here != installed_at else path

    wanted = {}
    for key in ("stdlib", "platstdlib", "purelib", "platlib", "include", "scripts", "data"):
        wanted["paths." + key] = final(os.path.realpath(sysconfig.get_path(key)))
    for var in ("prefix", "exec_prefix", "BINDIR", "LIBDIR", "LIBPL", "INCLUDEPY", "CONFINCLUDEPY", "LIBDEST"):
        value = sysconfig.get_config_var(var)
        if value:
            wanted[var] = final(os.path.normpath(value)) if var in ("prefix", "exec_prefix") else value
    wrong, missing = [], []
    for key, value in sorted(wanted.items()):
        if not _under(value, installed_at):
            wrong.append("%s=%s" % (key, value))
        elif key != "paths.data" and not os.path.isdir(now(value)):
            missing.append("%s=%s" % (key, value))
    include = sysconfig.get_config_var("INCLUDEPY")
    if include and _under(include, installed_at) and not os.path.isfile(now(include) + "/Python.h"):
        missing.append("Python.h in INCLUDEPY")
    problems = (["not under %s: %s" % (installed_at, ", ".join(wrong))] if wrong else []) + (["missing: " + ", ".join(missing)] if missing else [])
    report.add("sysconfig", not problems, "; ".join(problems) if problems else "directories under %s exist (include, lib, stdlib, scripts)" % installed_at)


def check_build_leaks(report):
    """Nothing of the build machine in the flags extensions are built with."""
    import sysconfig

    leaks = []
    for var in BUILD_LDFLAGS:
        value = sysconfig.get_config_var(var) or ""
        if "ORIGIN" in value or "-rpath" in value or "-R/" in value:
            leaks.append("%s has an rpath (%s)" % (var, value))
    build_dirs = {d for d in (sysconfig.get_config_var("abs_builddir"), sysconfig.get_config_var("abs_srcdir")) if d and len(d) > 1}
    for var in BUILD_CFLAGS:
        value = sysconfig.get_config_var(var) or ""
        for d in build_dirs:
            if d in value:
                leaks.append("%s names the build directory %s" % (var, d))
        # Built for the build machine's processor: the interpreter, and every extension built with these flags.
        for flag in ("-march=native", "-mcpu=native"):
            if flag in value.split():
                leaks.append("%s has %s" % (var, flag))
    # A compiler launcher of the build machine (CC="ccache gcc"): pip fails where it is not installed.
    for var in COMPILER_VARS:
        words = (sysconfig.get_config_var(var) or "").split()
        # ccache gcc, or /usr/lib/ccache/gcc (a link in ccache's directory of compiler names)
        if words and ((len(words) > 1 and os.path.basename(words[0]) in COMPILER_LAUNCHERS) or os.path.basename(os.path.dirname(words[0])) == "ccache"):
            leaks.append("%s starts with %s, a compiler launcher of the build machine" % (var, words[0]))
    report.add("build-leaks", not leaks, "; ".join(leaks) if leaks else "no rpath in LDSHARED/LDFLAGS, no build directory or -march=native in CFLAGS, no compiler launcher in CC")


def check_venvs(report, work, here):
    """A venv made through a link outside the prefix, the way users reach python3; and --copies."""
    import json
    import shutil

    link_dir = os.path.join(work, "link-bin")
    os.makedirs(link_dir, exist_ok=True)
    link = os.path.join(link_dir, "python3")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.join(here, "bin", "python3"), link)
    for kind, extra in (("venv", []), ("venv-copies", ["--copies"])):
        target = os.path.join(work, kind)
        shutil.rmtree(target, ignore_errors=True)
        made = _run([link, "-m", "venv", "--without-pip"] + extra + [target])
        if made.returncode != 0:
            report.add(kind, False, "%s -m venv %s failed (exit %d): %s" % (link, " ".join(extra), made.returncode, _tail(made.stdout)))
            continue
        probe = _run([os.path.join(target, "bin", "python"), "-c", "import encodings, json, sys; print(json.dumps([sys.prefix, sys.base_prefix]))"])
        if probe.returncode != 0:
            report.add(kind, False, "the venv's python does not start (exit %d): %s" % (probe.returncode, _tail(probe.stdout)))
            continue
        prefix, base = json.loads(probe.stdout.strip().splitlines()[-1])
        ok = os.path.realpath(prefix) == os.path.realpath(target) and os.path.realpath(base) == os.path.realpath(here)
        how = "through a link outside the prefix" + (", --copies" if extra else "")
        report.add(kind, ok, "python3 -m venv %s works (base %s)" % (how, base) if ok else "the venv's base is %s, not %s" % (base, here))


def _elf_rpaths(path):
    """DT_RPATH/DT_RUNPATH of a 64- or 32-bit ELF file (little or big endian)."""
    import struct

    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        return []
    is64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
    sections = []
    for i in range(shnum):
        base = shoff + i * shentsize
        if is64:
            _, stype, _, _, off, size, link = struct.unpack_from(end + "IIQQQQI", data, base)
        else:
            _, stype, _, _, off, size, link = struct.unpack_from(end + "IIIIIII", data, base)
        sections.append((stype, off, size, link))
    found = []
    for stype, off, size, link in sections:
        if stype != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link][1]
        step = 16 if is64 else 8
        for pos in range(off, off + size, step):
            tag, val = struct.unpack_from(end + ("qQ" if is64 else "iI"), data, pos)
            if tag == 0:
                break
            if tag in (15, 29):  # DT_RPATH, DT_RUNPATH
                stop = data.index(b"\0", strtab + val)
                found.append(data[strtab + val:stop].decode("latin-1"))
    return found


def check_extension(report, work, installed_at, here, in_process=False):
    """Builds a C extension the way setuptools does, with sysconfig's own compiler and flags.

    It is imported by a new python3, or (in_process: under a user-mode emulator, where python3
    cannot start python3) by this one. A cross build's compiler is a program of the build
    machine, which an emulated python3 starts natively."""
    import shutil
    import sysconfig

    cc = (sysconfig.get_config_var("CC") or "cc").split()
    if not shutil.which(cc[0]):
        report.add("c-extension", True, "skipped: no C compiler (%s) on this host" % cc[0])
        return
    build = os.path.join(work, "ext")
    shutil.rmtree(build, ignore_errors=True)
    os.makedirs(build)
    # A compiler that cannot build plain C here (gcc without libc6-dev) says nothing about Python.
    plain = os.path.join(build, "plain.c")
    with open(plain, "w") as f:
        f.write("int main(void) { return 0; }\n")
    if _run(cc + [plain, "-o", os.path.join(build, "plain")]).returncode != 0:
        report.add("c-extension", True, "skipped: %s cannot build a plain C program on this host (no C library headers?)" % cc[0])
        return
    source = os.path.join(build, "cpyprobe.c")
    with open(source, "w") as f:
        f.write(EXTENSION_SOURCE)

    def var(name):
        value = sysconfig.get_config_var(name) or ""
        return value.replace(installed_at.rstrip("/") + "/", here + "/") if installed_at != here else value

    include = var("INCLUDEPY")
    obj = os.path.join(build, "cpyprobe.o")
    ext = os.path.join(build, "cpyprobe" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    compile_cmd = cc + var("CFLAGS").split() + var("CCSHARED").split() + ["-I" + include, "-c", source, "-o", obj]
    link_cmd = var("LDSHARED").split() + [obj, "-o", ext]
    for what, argv in (("compiling", compile_cmd), ("linking", link_cmd)):
        r = _run(argv)
        if r.returncode != 0:
            report.add("c-extension", False, "%s a C extension with sysconfig's flags failed: %s" % (what, _tail(r.stdout)))
            return
    rpaths = _elf_rpaths(ext)
    if in_process:
        failure = _import_probe(build)
    else:
        probe = _run([sys.executable, "-c", "import sys; sys.path.insert(0, %r); import cpyprobe; assert cpyprobe.answer() == 42" % build])
        failure = _tail(probe.stdout) if probe.returncode != 0 else None
    if failure is not None:
        report.add("c-extension", False, "the built extension does not import: %s" % failure)
    elif rpaths:
        report.add("c-extension", False, "the built extension carries RPATH/RUNPATH %s" % ", ".join(rpaths))
    else:
        report.add("c-extension", True, "built with %s and sysconfig's flags, imports%s, no RPATH/RUNPATH" % (cc[0], " (in this python3)" if in_process else ""))


EMBED_SOURCE = r"""
#include <Python.h>
int main(void) {
    Py_Initialize();
    int failed = PyRun_SimpleString("import encodings, sys; print(sys.prefix)");
    return Py_FinalizeEx() < 0 || failed ? 1 : 0;
}
"""


def check_compiled_prefix(report, work, installed_at, here, compile=False):
    """Where the tree is installed (not a staged copy): what finds the standard library by the
    prefix compiled into the interpreter and libpython, as a build configured there does, not
    by the tree around it: a copy of python3.X elsewhere, and (with compile) a program that
    embeds libpython."""
    import shutil
    import sysconfig

    if os.path.realpath(installed_at) != here:
        return
    folder = os.path.join(work, "elsewhere")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    real = os.path.realpath(os.path.join(here, "bin", "python3"))
    copy = os.path.join(folder, os.path.basename(real))
    shutil.copy2(real, copy)
    probes = [("interpreter-copy", "a copy of bin/%s outside the prefix" % os.path.basename(real), [copy, "-c", "import encodings, sys; print(sys.prefix)"], None)]
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    library = sysconfig.get_config_var("LDLIBRARY") or ""
    if compile and shutil.which(cc[0]) and library.endswith(".so") and os.path.isfile(os.path.join(libdir, library)):
        source = os.path.join(folder, "embed.c")
        with open(source, "w") as f:
            f.write(EMBED_SOURCE)
        program = os.path.join(folder, "embed")
        name = library[3:-3]
        built = _run(cc + ["-I" + (sysconfig.get_config_var("INCLUDEPY") or ""), source, "-o", program, "-L" + libdir, "-l" + name] + (sysconfig.get_config_var("LIBS") or "").split())
        if built.returncode != 0:
            report.add("embedding", False, "a program embedding %s does not build: %s" % (library, _tail(built.stdout)))
        else:
            probes.append(("embedding", "a program embedding %s (found through LD_LIBRARY_PATH)" % library, [program], libdir))
    slotless = None
    for id, what, argv, library_path in probes:
        r = _run(argv, {"LD_LIBRARY_PATH": library_path} if library_path else None, timeout=120)
        found = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else None
        if found is not None and os.path.realpath(found) == here:
            report.add(id, True, "%s finds the standard library at %s (the prefix compiled in)" % (what, here))
        else:
            if slotless is None:
                slotless = not any(_has_prefix_slot(p) for p in (real, os.path.join(libdir, library)) if os.path.isfile(p))
            # A tree built without the slot can hold only the prefix it was built for: its build is to blame, not the packing.
            why = "; its interpreter and libpython have no prefix slot (built by a cpy before it wrote one, or from a Makefile.pre.in cpy does not know): build it again" if slotless else ""
            report.add(id, False, "%s does not find the standard library at %s: %s%s" % (what, here, found or _tail(r.stdout), why))


def _has_prefix_slot(path):
    """Whether PATH holds a prefix slot (its marker), read through a map."""
    import mmap

    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(_PREFIX_SLOT_MARKER) >= 0


def _import_probe(directory):
    """Imports the probe extension from `directory` in this process: None, or why it failed."""
    sys.path.insert(0, directory)
    try:
        import cpyprobe

        return None if cpyprobe.answer() == 42 else "cpyprobe.answer() is not 42"
    except Exception as e:  # an ImportError, or what the module raised
        return "%s: %s" % (type(e).__name__, e)
    finally:
        sys.path.remove(directory)


def check(args):
    import json
    import platform

    report = Report()
    version = platform.python_version()
    report.add("python3", version == args.version, "Python %s" % version if version == args.version else "Python %s, expected %s" % (version, args.version))
    modules = [m for m in (args.modules or "").split(",") if m]
    failed = check_modules(report, modules)
    here = os.path.realpath(sys.base_prefix)
    installed_at = args.installed_at.rstrip("/") or "/"
    os.makedirs(args.work, exist_ok=True)
    check_sysconfig(report, installed_at, here)
    check_build_leaks(report)
    if not args.no_venvs:
        check_venvs(report, args.work, here)
    if args.compile:
        check_extension(report, args.work, installed_at, here, in_process=args.no_venvs)
    if not args.no_venvs:
        check_compiled_prefix(report, args.work, installed_at, here, compile=args.compile)
    ok = all(c["ok"] for c in report.checks)
    print(json.dumps({"version": version, "failed": failed, "checks": report.checks}))
    return 0 if ok else 1


def _root():
    """The tree this script is in (it is share/cpy/postinstall.py)."""
    return os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main(argv):
    # The installers call `relocate --from OLD --to NEW`, on every install: no argparse for that.
    if len(argv) == 5 and argv[0] == "relocate" and argv[1] == "--from" and argv[3] == "--to" and argv[2] and argv[4]:
        print(_json_text(relocate(_root(), argv[2], argv[4])))
        return 0
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="postinstall.py")
    sub = parser.add_subparsers(dest="command")
    r = sub.add_parser("relocate")
    r.add_argument("--from", dest="old", required=True)
    r.add_argument("--to", dest="new", required=True)
    c = sub.add_parser("check")
    c.add_argument("--version", required=True)
    c.add_argument("--installed-at", required=True)
    c.add_argument("--work", required=True)
    c.add_argument("--modules", default="")
    c.add_argument("--compile", action="store_true")
    # Under a user-mode emulator without binfmt_misc, python3 cannot start another python3: no
    # venvs, and the C extension (with --compile) is imported by this process.
    c.add_argument("--no-venvs", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "relocate":
        print(json.dumps(relocate(_root(), args.old, args.new)))
        return 0
    if args.command == "check":
        return check(args)
    parser.print_usage(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
