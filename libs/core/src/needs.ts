import type { ArtifactMetadata } from './metadata.js';

/**
 * Why a tree needs a system library, which decides what installers do when it is missing:
 * - `critical`: the interpreter or a critical module (ssl, sqlite3, readline...): installed, or the install is refused;
 * - `optional`: curses, dbm, nis, crypt: small, installed with the critical ones, reported when they cannot be;
 * - `tk`: tkinter: installed only when asked (it pulls X11 into the image), reported otherwise.
 */
export type NeedGroup = 'critical' | 'optional' | 'tk';

export interface RuntimeNeed {
  readonly soname: string;
  /** The packages that provided it on the builder (Debian names for a Debian build). */
  readonly packages: readonly string[];
  /** The modules (or tree paths) that need it. */
  readonly modules: readonly string[];
  readonly group: NeedGroup;
}

const TK = /^lib\/python\d+\.\d+\/lib-dynload\/_tkinter\.[^/]+\.so$/;
const OPTIONAL = /^lib\/python\d+\.\d+\/lib-dynload\/(_curses|_curses_panel|_dbm|_gdbm|nis|_crypt)\.[^/]+\.so$/;

/** The group of one library from the tree paths that use it: the most demanding user decides. */
export function needGroup(usedBy: readonly string[]): NeedGroup {
  if (usedBy.length === 0 || usedBy.some((p) => !TK.test(p) && !OPTIONAL.test(p))) return 'critical';
  return usedBy.some((p) => OPTIONAL.test(p)) ? 'optional' : 'tk';
}

/** The system libraries an artifact needs, grouped (one rule for the installers, the index and the Feature). */
export function runtimeNeeds(metadata: Pick<ArtifactMetadata, 'runtime'>): RuntimeNeed[] {
  return metadata.runtime.needs.map((need) => ({
    soname: need.soname,
    packages: need.packages,
    modules: need.usedBy.map((p) => /lib-dynload\/([^./]+)\./.exec(p)?.[1] ?? p),
    group: needGroup(need.usedBy),
  }));
}
