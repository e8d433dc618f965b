"""Which standard library modules import on this interpreter. Run by `cpy compare`
(@cpy/lifecycle), once per interpreter, in a fresh process.

The names are sys.stdlib_module_names (3.10 and newer: every module of the standard
library, for every platform), or on older versions the built-in modules and what the
standard library directories hold. Each is imported with importlib; what it prints is
swallowed (`this`, `__hello__`), and `antigravity` is never imported (it opens a web
browser). Some extension modules write to the terminal directly (readline), so the result
is one line after a marker: MARKER + a JSON object
{"source", "tried", "imported": [...], "failed": {name: reason}, "skipped": [...]}.
Standard library only, and Python 3.6 or newer."""
import contextlib
import importlib
import io
import json
import os
import sys
import warnings

MARKER = "@@cpy-inventory@@"
# Imported, they act: antigravity starts a web browser.
SKIP = {"antigravity"}


def names():
    if hasattr(sys, "stdlib_module_names"):
        return "sys.stdlib_module_names", set(sys.stdlib_module_names)
    import pkgutil
    import sysconfig

    paths = sysconfig.get_paths()
    dirs = [paths["stdlib"], paths["platstdlib"], os.path.join(paths["stdlib"], "lib-dynload")]
    found = set(sys.builtin_module_names)
    found.update(m.name for m in pkgutil.iter_modules([d for d in dirs if os.path.isdir(d)]))
    return "stdlib directories", {n for n in found if n.isidentifier()}


def main():
    source, candidates = names()
    imported, failed, skipped = [], {}, []
    sink = io.StringIO()
    warnings.simplefilter("ignore")
    for name in sorted(candidates):
        if name in SKIP:
            skipped.append(name)
            continue
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                importlib.import_module(name)
            imported.append(name)
        except BaseException as e:  # noqa: BLE001 - any failure means "does not import here"
            failed[name] = ("%s: %s" % (type(e).__name__, e))[:300]
        sink.seek(0)
        sink.truncate()
    result = {"source": source, "tried": len(candidates) - len(skipped), "imported": imported, "failed": failed, "skipped": skipped}
    out = sys.__stdout__
    out.write("\n" + MARKER + json.dumps(result, sort_keys=True) + "\n")
    out.flush()
    # Modules imported above may have registered exit handlers: none of them is ours to run.
    os._exit(0)


if __name__ == "__main__":
    main()
