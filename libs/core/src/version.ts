import * as z from 'zod/mini';

/**
 * A CPython release version as python.org names it: `3.13.5`, `3.14.0rc2`,
 * `3.14.0a1`, `3.14.0b3`.
 */
export interface PythonVersion {
  /** The version string exactly as given, e.g. `3.14.0rc2`. */
  readonly full: string;
  readonly major: number;
  readonly minor: number;
  readonly micro: number;
  /** Pre-release tag and number, e.g. `{ kind: 'rc', number: 2 }`. */
  readonly pre: { readonly kind: 'a' | 'b' | 'rc'; readonly number: number } | null;
  /** `3.13`: the release line. */
  readonly line: string;
  /** `3.13.5`: the directory python.org keeps the files in (no pre-release tag). */
  readonly directory: string;
}

const VERSION_RE = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})(?:(a|b|rc)(0|[1-9]\d{0,2}))?$/;

/** A glibc version as an artifact's floor and a host report it: `2.36`, `2.17.1`. */
export const GLIBC_VERSION_RE = /^\d+\.\d+(\.\d+)?$/;

export const pythonVersionSchema = z.string().check(z.regex(VERSION_RE, 'expected a CPython release version such as 3.13.5 or 3.14.0rc2'));

/** Parses a version; returns null when the text is not a CPython release version. */
export function parseVersion(text: string): PythonVersion | null {
  const m = VERSION_RE.exec(text);
  if (!m) return null;
  const [, major, minor, micro, kind, num] = m;
  return {
    full: text,
    major: Number(major),
    minor: Number(minor),
    micro: Number(micro),
    pre: kind ? { kind: kind as 'a' | 'b' | 'rc', number: Number(num) } : null,
    line: `${major}.${minor}`,
    directory: `${major}.${minor}.${micro}`,
  };
}

const PRE_RANK = { a: 0, b: 1, rc: 2 } as const;

/**
 * The one order of CPython versions, ascending: 3.14.0a1 < 3.14.0b2 < 3.14.0rc1 < 3.14.0 < 3.14.1
 * (numbers compared as numbers, a pre-release before its final release). Text that is not a
 * version sorts before every version, by itself.
 */
export function compareVersions(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (!va || !vb) return va ? 1 : vb ? -1 : a < b ? -1 : a > b ? 1 : 0;
  const rank = (v: PythonVersion) => (v.pre ? PRE_RANK[v.pre.kind] * 1000 + v.pre.number : 9999);
  return Math.sign(va.major - vb.major || va.minor - vb.minor || va.micro - vb.micro || rank(va) - rank(vb));
}

/** Compares dotted versions numerically, as -1, 0 or 1: `2.31` < `2.36` < `2.100`, `2.36` = `2.36.0`. */
export function compareDotted(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/**
 * The glibc this process runs on (`2.36`), from Node's diagnostic report; null on another C
 * library or OS. The report's network section (interfaces, DNS) is left out: it is not needed,
 * and costs time.
 */
export function runtimeGlibc(): string | null {
  // excludeNetwork is in Node 20.20 and 22.13+ (not in @types/node 20); elsewhere it is ignored.
  const report = process.report as (NodeJS.ProcessReport & { excludeNetwork?: boolean }) | undefined;
  if (!report) return null;
  const exclude = report.excludeNetwork;
  report.excludeNetwork = true;
  try {
    return (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime ?? null;
  } finally {
    report.excludeNetwork = exclude;
  }
}
