import { BUILD_REQUIREMENTS } from '../requirements.js';

/**
 * The modules cpy checks in a built tree: the import that proves each works
 * (the C extension, not a pure-Python fallback: `uuid` imports without `_uuid`),
 * and which build requirement (headers, packages) it comes from.
 */
export const MODULE_CHECKS: readonly { readonly id: string; readonly imports: readonly string[]; readonly extensions: readonly string[] }[] = [
  { id: 'ssl', imports: ['ssl', '_ssl', '_hashlib'], extensions: ['_ssl', '_hashlib'] },
  { id: 'sqlite3', imports: ['sqlite3', '_sqlite3'], extensions: ['_sqlite3'] },
  { id: 'uuid', imports: ['uuid', '_uuid'], extensions: ['_uuid'] },
  { id: 'lzma', imports: ['lzma', '_lzma'], extensions: ['_lzma'] },
  { id: 'bz2', imports: ['bz2', '_bz2'], extensions: ['_bz2'] },
  { id: 'ctypes', imports: ['ctypes', '_ctypes'], extensions: ['_ctypes'] },
  { id: 'zlib', imports: ['zlib'], extensions: ['zlib'] },
  { id: 'readline', imports: ['readline'], extensions: ['readline'] },
  { id: 'curses', imports: ['curses', '_curses', '_curses_panel'], extensions: ['_curses', '_curses_panel'] },
  { id: 'dbm', imports: ['dbm.gnu', '_gdbm'], extensions: ['_gdbm', '_dbm'] },
  { id: 'tkinter', imports: ['tkinter', '_tkinter'], extensions: ['_tkinter'] },
];

export interface ModuleReport {
  /** Ids (ssl, curses...) whose imports all work. */
  readonly present: readonly string[];
  readonly missing: readonly {
    readonly id: string;
    readonly critical: boolean;
    /** The import that failed and why. */
    readonly error: string;
    /** Packages that provide its headers on the builder's family (empty when unknown). */
    readonly packages: readonly string[];
  }[];
  /** CPython's own summary from make (missing, failed to build, removed on import). */
  readonly cpython: CPythonModuleSummary;
}

export interface CPythonModuleSummary {
  readonly notFound: readonly string[];
  readonly failedToBuild: readonly string[];
  readonly failedToImport: readonly string[];
}

const SECTIONS: readonly [RegExp, keyof CPythonModuleSummary][] = [
  [/^The necessary bits to build these optional modules were not found:/, 'notFound'],
  [/^Failed to build these modules:/, 'failedToBuild'],
  [/^Following modules built successfully but were removed because they could not be imported:/, 'failedToImport'],
];

/** Reads CPython's end-of-make report of the extension modules it could not build or import. */
export function parseMakeModuleReport(makeLog: string): CPythonModuleSummary {
  const out: Record<keyof CPythonModuleSummary, string[]> = { notFound: [], failedToBuild: [], failedToImport: [] };
  let current: keyof CPythonModuleSummary | null = null;
  for (const raw of makeLog.split('\n')) {
    const line = raw.trimEnd();
    const header = SECTIONS.find(([re]) => re.test(line));
    if (header) {
      current = header[1];
      continue;
    }
    if (current && /^\s*[A-Za-z_][\w.]*(\s+[A-Za-z_][\w.]*)*\s*$/.test(line)) out[current].push(...line.trim().split(/\s+/));
    else current = null;
  }
  return { notFound: [...new Set(out.notFound)], failedToBuild: [...new Set(out.failedToBuild)], failedToImport: [...new Set(out.failedToImport)] };
}

/** A Python program that tries every check's imports and prints {id: error|null} as JSON. */
export const IMPORT_CHECK_SCRIPT = `
import importlib, json
checks = ${JSON.stringify(Object.fromEntries(MODULE_CHECKS.map((m) => [m.id, m.imports])))}
result = {}
for mid, names in checks.items():
    error = None
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as e:
            error = "%s: %s: %s" % (name, type(e).__name__, e)
            break
    result[mid] = error
print(json.dumps(result))
`;

/** Combines the import results with the requirements: which missing modules are critical, and their packages. */
export function moduleReport(
  imports: Readonly<Record<string, string | null>>,
  cpython: CPythonModuleSummary,
  family: 'debian' | 'rhel' | 'alpine' | 'unknown',
): ModuleReport {
  const present: string[] = [];
  const missing: ModuleReport['missing'][number][] = [];
  for (const check of MODULE_CHECKS) {
    const error = imports[check.id];
    if (error === null) {
      present.push(check.id);
      continue;
    }
    const req = BUILD_REQUIREMENTS.find((r) => r.id === check.id);
    missing.push({
      id: check.id,
      critical: req?.critical ?? false,
      error: error ?? 'not checked',
      packages: req && family !== 'unknown' ? req.packages[family] : [],
    });
  }
  return { present, missing, cpython };
}
