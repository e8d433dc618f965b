// A wheelhouse for `cpy venv upgrade`, made offline with the host's python3: a pure-Python wheel
// with a console script, and two C extensions as source distributions that pip builds with the
// target interpreter. Their build backend is in the tree (no setuptools, no PyPI): it compiles
// with the interpreter's own sysconfig (CC, CFLAGS, LDSHARED, the include directory), which is
// what a relocated CPython must get right. `brokenext` refuses to build for Python 3.12 and later.
import { execFile } from 'node:child_process';
import { copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const MAKE = String.raw`
import base64, hashlib, io, os, sys, tarfile, zipfile
out = sys.argv[1]

def record(files):
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
        lines.append(f'{path},sha256={digest},{len(data)}')
    return '\n'.join(lines) + '\n'

# purepkg 1.0: pure Python, with a console script.
info = 'purepkg-1.0.dist-info'
files = {
    'purepkg/__init__.py': b'VALUE = 42\n\ndef main():\n    print("hello from purepkg")\n',
    f'{info}/METADATA': b'Metadata-Version: 2.1\nName: purepkg\nVersion: 1.0\n',
    f'{info}/WHEEL': b'Wheel-Version: 1.0\nGenerator: cpy-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    f'{info}/entry_points.txt': b'[console_scripts]\npurehello = purepkg:main\n',
    f'{info}/top_level.txt': b'purepkg\n',
}
with zipfile.ZipFile(os.path.join(out, 'purepkg-1.0-py3-none-any.whl'), 'w') as z:
    for p, d in files.items():
        z.writestr(p, d)
    z.writestr(f'{info}/RECORD', record(files) + f'{info}/RECORD,,\n')

BACKEND = '''
import base64, hashlib, os, subprocess, sys, sysconfig, zipfile
NAME, MODULE, VERSION = {name!r}, {module!r}, '1.0'

def _line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
    return f'{{path}},sha256={{digest}},{{len(data)}}'

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    here = os.path.dirname(os.path.abspath(__file__))
    suffix = sysconfig.get_config_var('EXT_SUFFIX')
    so = os.path.join(wheel_directory, MODULE + suffix)
    obj = so + '.o'
    cc = sysconfig.get_config_var('CC').split()
    cflags = sysconfig.get_config_var('CFLAGS').split() + sysconfig.get_config_var('CCSHARED').split()
    subprocess.run(cc + cflags + ['-I', sysconfig.get_path('include'), '-c', os.path.join(here, MODULE + '.c'), '-o', obj], check=True)
    subprocess.run(sysconfig.get_config_var('LDSHARED').split() + [obj, '-o', so], check=True)
    tag = 'cp%d%d' % sys.version_info[:2]
    platform = sysconfig.get_platform().replace('-', '_').replace('.', '_')
    info = f'{{NAME}}-{{VERSION}}.dist-info'
    files = {{
        MODULE + suffix: open(so, 'rb').read(),
        f'{{info}}/METADATA': f'Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n'.encode(),
        f'{{info}}/WHEEL': f'Wheel-Version: 1.0\\nGenerator: cpy-e2e\\nRoot-Is-Purelib: false\\nTag: {{tag}}-{{tag}}-{{platform}}\\n'.encode(),
        f'{{info}}/top_level.txt': (MODULE + '\\n').encode(),
    }}
    name = f'{{NAME}}-{{VERSION}}-{{tag}}-{{tag}}-{{platform}}.whl'
    with zipfile.ZipFile(os.path.join(wheel_directory, name), 'w') as z:
        for p, d in files.items():
            z.writestr(p, d)
        z.writestr(f'{{info}}/RECORD', '\\n'.join(_line(p, d) for p, d in files.items()) + f'\\n{{info}}/RECORD,,\\n')
    os.remove(so)
    os.remove(obj)
    return name
'''

SOURCE = '''#include <Python.h>
{guard}
static PyObject *twice(PyObject *self, PyObject *arg) {{ return PyLong_FromLong(2 * PyLong_AsLong(arg)); }}
static PyMethodDef methods[] = {{{{"twice", twice, METH_O, NULL}}, {{NULL, NULL, 0, NULL}}}};
static struct PyModuleDef mod = {{PyModuleDef_HEAD_INIT, "{module}", NULL, -1, methods}};
PyMODINIT_FUNC PyInit_{module}(void) {{ return PyModule_Create(&mod); }}
'''

def sdist(name, module, guard=''):
    root = f'{name}-1.0'
    members = {
        f'{root}/PKG-INFO': f'Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n',
        f'{root}/pyproject.toml': f'[build-system]\nrequires = []\nbuild-backend = "cpy_e2e_backend"\nbackend-path = ["."]\n\n[project]\nname = "{name}"\nversion = "1.0"\n',
        f'{root}/cpy_e2e_backend.py': BACKEND.format(name=name, module=module),
        f'{root}/{module}.c': SOURCE.format(module=module, guard=guard),
    }
    with tarfile.open(os.path.join(out, f'{root}.tar.gz'), 'w:gz') as t:
        for path, text in members.items():
            data = text.encode()
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))

sdist('fastmath', 'fastmath')
sdist('brokenext', 'brokenext', '#if PY_VERSION_HEX >= 0x030C0000\n#error "brokenext 1.0 does not support Python 3.12 or later"\n#endif')
`;

/** Writes the wheelhouse into `dir` (which must exist), with the setuptools wheel Debian's venvs are seeded with. */
export async function makeWheelhouse(dir: string): Promise<string[]> {
  await run('/usr/bin/python3', ['-c', MAKE, dir]);
  // A Debian 12 venv has setuptools (seeded by ensurepip from python3-setuptools-whl): the upgrade carries it over.
  for (const whl of (await readdir('/usr/share/python-wheels').catch(() => [] as string[])).filter((n) => n.startsWith('setuptools-'))) {
    await copyFile(join('/usr/share/python-wheels', whl), join(dir, whl));
  }
  return (await readdir(dir)).sort();
}
