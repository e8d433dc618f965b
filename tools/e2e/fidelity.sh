#!/bin/sh
# Checks that an installed cpy Python works like one built where it lands, the way a
# developer uses it, through every python3 they may type:
#
#   sh fidelity.sh PREFIX BUILT_FOR ENTRY [ENTRY...]
#
# PREFIX: where it is installed; BUILT_FOR: the prefix it was built for; ENTRY: each path a
# user reaches python3 by (a link in /usr/local/bin or ~/.local/bin, <state>/current/bin,
# the prefix itself). FIDELITY_USER_BASE=<dir> keeps the user base the pip check installs into.
# Needs a C compiler, readelf, pkg-config and Debian's python3-setuptools
# (pure Python, put on PYTHONPATH for the setuptools step: no PyPI). Prints one line per
# check, `ok <check>` or `FAIL <check>: <why>`, and exits 1 if any failed.
set -u
prefix=$1
built_for=$2
shift 2
work=$(mktemp -d /tmp/cpy-fidelity.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
ok() { printf 'ok %s\n' "$1"; }
bad() { printf 'FAIL %s: %s\n' "$1" "$2"; failures=$((failures + 1)); }
real() { readlink -f "$1"; }
prefix_real=$(real "$prefix")
setuptools=/usr/lib/python3/dist-packages

i=0
for entry in "$@"; do
  i=$((i + 1))
  label="entry $entry"
  got=$("$entry" -c 'import sys; print(sys.prefix)' 2>&1) || { bad "$label: runs" "$got"; continue; }
  [ "$(real "$got")" = "$prefix_real" ] && ok "$label: sys.prefix is the prefix" || bad "$label: sys.prefix" "$got, not $prefix"
  exe=$("$entry" -c 'import sys; print(sys.executable)')
  case $(real "$exe") in "$prefix_real"/bin/*) ok "$label: sys.executable is the real interpreter ($exe)" ;; *) bad "$label: sys.executable" "$exe" ;; esac
  v=$work/venv-$i
  if out=$("$entry" -m venv "$v" 2>&1) && out=$("$v/bin/python" -m pip --version 2>&1); then
    ok "$label: venv with pip ($out)"
  else
    bad "$label: venv with pip" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
  fi
  c=$work/copies-$i
  if out=$("$entry" -m venv --copies --without-pip "$c" 2>&1) && out=$("$c/bin/python" -c 'import encodings, ssl, sys; print(sys.base_prefix)' 2>&1) && [ "$(real "$out")" = "$prefix_real" ]; then
    ok "$label: venv --copies"
  else
    bad "$label: venv --copies" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
  fi
done

py=$1
# sysconfig's directories: under the prefix, and there.
out=$("$py" - "$prefix" <<'EOF'
import os, sys, sysconfig
prefix = sys.argv[1].rstrip("/")
bad = []
values = {k: sysconfig.get_config_var(k) for k in ("prefix", "BINDIR", "LIBDIR", "LIBPL", "INCLUDEPY", "CONFINCLUDEPY", "LIBDEST")}
values.update({"paths." + k: sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "include", "scripts")})
for k, v in sorted(values.items()):
    if not v or not (v == prefix or v.startswith(prefix + "/")) or not os.path.isdir(v):
        bad.append("%s=%s" % (k, v))
for k in ("LDSHARED", "BLDSHARED", "LDFLAGS", "CONFIGURE_LDFLAGS", "PY_LDFLAGS"):
    v = sysconfig.get_config_var(k) or ""
    if "ORIGIN" in v or "rpath" in v:
        bad.append("%s has an rpath: %s" % (k, v))
print("; ".join(bad))
EOF
)
[ -z "$out" ] && ok "sysconfig: directories under the prefix exist, no rpath in the link flags" || bad sysconfig "$out"

inc=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --variable=includedir python3 2>&1)
cflags=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags python3 2>&1 | sed 's/ *$//')
case "$inc|$cflags" in
  "$prefix/include|-I$prefix/include/python"*) [ -f "${cflags#-I}/Python.h" ] && ok "pkg-config python3: $cflags" || bad pkg-config "no Python.h in ${cflags#-I}" ;;
  *) bad pkg-config "includedir=$inc cflags=$cflags" ;;
esac
# python3-config beside each python3 a user types (the link in /usr/local/bin included): CPython's
# script found its prefix from the directory it was run from, not the tree its link points into.
for entry in "$@"; do
  # python3.13-config beside python3.13, python3-config beside python3.
  config=$entry-config
  [ -e "$config" ] || config=$(dirname "$entry")/python3-config
  [ -e "$config" ] || continue
  includes=$("$config" --includes 2>&1 | cut -d' ' -f1)
  [ "$(real "$("$config" --prefix)")" = "$prefix_real" ] && [ -f "${includes#-I}/Python.h" ] && ok "python3-config beside $entry: --prefix $prefix, $includes" || bad "python3-config beside $entry" "--prefix $("$config" --prefix) --includes $includes"
done

# A C extension built with setuptools in a venv, as a project's setup.py does.
proj=$work/proj
mkdir -p "$proj"
cat >"$proj/hello.c" <<'EOF'
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *greet(PyObject *self, PyObject *args) { return PyUnicode_FromString("hello from C"); }
static PyMethodDef methods[] = {{"greet", greet, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "hello", NULL, -1, methods};
PyMODINIT_FUNC PyInit_hello(void) { return PyModule_Create(&module); }
EOF
cat >"$proj/setup.py" <<'EOF'
from setuptools import Extension, setup
setup(name="hello", version="1.0", ext_modules=[Extension("hello", ["hello.c"])], entry_points={"console_scripts": ["hello-cpy=hello:greet"]})
EOF
venv=$work/venv-1
if out=$(cd "$proj" && PYTHONPATH=$setuptools "$venv/bin/python" setup.py -q build_ext --inplace 2>&1) &&
  out=$(cd "$proj" && "$venv/bin/python" -c 'import hello; print(hello.greet())' 2>&1) && [ "$out" = "hello from C" ]; then
  so=$(ls "$proj"/hello*.so)
  if readelf -d "$so" | grep -Eq 'RPATH|RUNPATH'; then
    bad "C extension" "$(basename "$so") carries $(readelf -d "$so" | grep -E 'RPATH|RUNPATH' | tr -s ' ')"
  else
    ok "C extension built with setuptools imports and has no RPATH/RUNPATH ($(basename "$so"))"
  fi
else
  bad "C extension" "$(printf '%s' "$out" | tail -n 4 | tr '\n' ' ')"
fi

# A program that embeds Python, built as pkg-config says (python3-embed), finds its home alone at
# any prefix, without PYTHONHOME: CPython on Linux does not look beside libpython, it falls back to
# the prefix compiled into it, which the relocation wrote (docs/installing.md, "Relocation").
cat >"$work/embed.c" <<'EOF'
#include <Python.h>
int main(void) { Py_Initialize(); PyRun_SimpleString("import sys, json; print(sys.prefix)"); return Py_FinalizeEx() < 0 ? 1 : 0; }
EOF
# shellcheck disable=SC2046 # pkg-config's flags, one word each
# (Linked with an rpath to the prefix's lib: python3-embed.pc gives -L without one, as a CPython
# built from source does, and the docs say so.)
if out=$(cc "$work/embed.c" -o "$work/embed" $(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs python3-embed) -Wl,-rpath,"$prefix/lib" 2>&1) &&
  out=$(env -u PYTHONHOME "$work/embed" 2>&1) && [ "$(real "$out")" = "$prefix_real" ]; then
  ok "a program that embeds Python (pkg-config python3-embed) starts without PYTHONHOME: sys.prefix $out"
else
  bad "embedding" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
fi

# A script pip installs for the user names the real interpreter, so `cpy use` does not change
# what runs it. The wheel is made here (a console script, no build backend, no network).
wheel=$work/cpy_hello-1.0-py3-none-any.whl
"$py" - "$wheel" <<'EOF'
import base64, hashlib, sys, zipfile
files = {
    "cpy_hello.py": "def main():\n    print('hello from a script')\n",
    "cpy_hello-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: cpy-hello\nVersion: 1.0\n",
    "cpy_hello-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: fidelity.sh\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "cpy_hello-1.0.dist-info/entry_points.txt": "[console_scripts]\ncpy-hello = cpy_hello:main\n",
}
record = []
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
    record.append("cpy_hello-1.0.dist-info/RECORD,,")
    z.writestr("cpy_hello-1.0.dist-info/RECORD", "\n".join(record) + "\n")
EOF
# FIDELITY_USER_BASE keeps that user base (and the script) for the caller to run again later.
user_base=${FIDELITY_USER_BASE:-$work/userbase}
if out=$(PYTHONUSERBASE=$user_base "$py" -m pip install -q --user --no-index --no-warn-script-location "$wheel" 2>&1) && out=$(PYTHONUSERBASE=$user_base "$user_base/bin/cpy-hello" 2>&1); then
  shebang=$(head -n 1 "$user_base/bin/cpy-hello")
  case $(real "${shebang#\#!}") in "$prefix_real"/bin/*) ok "a script pip installs runs and names the real interpreter: $shebang" ;; *) bad "pip-installed script" "$shebang" ;; esac
else
  bad "pip install --user" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
fi

# What still names the build prefix (relocated installs only); each one is explained in docs/installing.md, "Relocation".
if [ "$prefix" != "$built_for" ]; then
  left=$(grep -rlF "$built_for" "$prefix" --exclude='*.pyc' 2>/dev/null | sed "s#^$prefix/##" | sort | tr '\n' ' ')
  printf 'left %s\n' "$left"
fi
[ "$failures" -eq 0 ]
