import type { OsInfo } from './os-release.js';

type Family = OsInfo['family'];
type PackageNames = Readonly<Record<Exclude<Family, 'unknown'>, readonly string[]>>;

/** How a requirement is looked for on the builder. */
export type Probe =
  /** The program answers `<program> --version`. */
  | { readonly kind: 'program'; readonly program: string }
  /** The C preprocessor finds these headers (and the source compiles through -E). */
  | { readonly kind: 'headers'; readonly source: string }
  /** pkg-config knows the module. */
  | { readonly kind: 'pkg-config'; readonly module: string };

export interface Requirement {
  /** `cc`, `make`, `ssl`, `sqlite3`... */
  readonly id: string;
  readonly kind: 'tool' | 'module';
  /** A critical requirement missing stops a build; an optional one is a warning. */
  readonly critical: boolean;
  /** What it is, for people on systems cpy has no package names for. */
  readonly what: string;
  readonly probe: Probe;
  readonly packages: PackageNames;
}

const header = (...files: string[]): Probe => ({
  kind: 'headers',
  source: files.map((f) => `#include <${f}>`).join('\n') + '\n',
});

/**
 * What building CPython with cpy needs. Package names are Debian/Ubuntu, RHEL/Fedora
 * and Alpine; `what` names the library for every other system.
 */
export const BUILD_REQUIREMENTS: readonly Requirement[] = [
  {
    id: 'cc',
    kind: 'tool',
    critical: true,
    what: 'a C compiler (cc)',
    probe: { kind: 'program', program: 'cc' },
    packages: { debian: ['gcc', 'libc6-dev'], rhel: ['gcc'], alpine: ['gcc', 'musl-dev'] },
  },
  {
    id: 'make',
    kind: 'tool',
    critical: true,
    what: 'GNU make',
    probe: { kind: 'program', program: 'make' },
    packages: { debian: ['make'], rhel: ['make'], alpine: ['make'] },
  },
  {
    id: 'pkg-config',
    kind: 'tool',
    critical: true,
    what: 'pkg-config (configure finds libraries with it)',
    probe: { kind: 'program', program: 'pkg-config' },
    packages: { debian: ['pkg-config'], rhel: ['pkgconf-pkg-config'], alpine: ['pkgconf'] },
  },
  {
    id: 'xz',
    kind: 'tool',
    critical: true,
    what: 'xz (to unpack .tar.xz source releases)',
    probe: { kind: 'program', program: 'xz' },
    packages: { debian: ['xz-utils'], rhel: ['xz'], alpine: ['xz'] },
  },
  {
    id: 'ssl',
    kind: 'module',
    critical: true,
    what: 'OpenSSL 1.1.1 or newer, development headers (openssl/ssl.h)',
    probe: {
      kind: 'headers',
      source: [
        '#include <openssl/ssl.h>',
        '#if OPENSSL_VERSION_NUMBER < 0x10101000L',
        '#error "OpenSSL is older than 1.1.1"',
        '#endif',
        '',
      ].join('\n'),
    },
    packages: { debian: ['libssl-dev'], rhel: ['openssl-devel'], alpine: ['openssl-dev'] },
  },
  {
    id: 'sqlite3',
    kind: 'module',
    critical: true,
    what: 'SQLite 3 development headers (sqlite3.h)',
    probe: header('sqlite3.h'),
    packages: { debian: ['libsqlite3-dev'], rhel: ['sqlite-devel'], alpine: ['sqlite-dev'] },
  },
  {
    id: 'uuid',
    kind: 'module',
    critical: true,
    what: 'libuuid development headers (uuid/uuid.h)',
    probe: header('uuid/uuid.h'),
    packages: { debian: ['uuid-dev'], rhel: ['libuuid-devel'], alpine: ['util-linux-dev'] },
  },
  {
    id: 'lzma',
    kind: 'module',
    critical: true,
    what: 'liblzma (xz) development headers (lzma.h)',
    probe: header('lzma.h'),
    packages: { debian: ['liblzma-dev'], rhel: ['xz-devel'], alpine: ['xz-dev'] },
  },
  {
    id: 'bz2',
    kind: 'module',
    critical: true,
    what: 'libbz2 development headers (bzlib.h)',
    probe: header('bzlib.h'),
    packages: { debian: ['libbz2-dev'], rhel: ['bzip2-devel'], alpine: ['bzip2-dev'] },
  },
  {
    id: 'ctypes',
    kind: 'module',
    critical: true,
    what: 'libffi development headers (ffi.h)',
    probe: header('ffi.h'),
    packages: { debian: ['libffi-dev'], rhel: ['libffi-devel'], alpine: ['libffi-dev'] },
  },
  {
    id: 'zlib',
    kind: 'module',
    critical: true,
    what: 'zlib development headers (zlib.h)',
    probe: header('zlib.h'),
    packages: { debian: ['zlib1g-dev'], rhel: ['zlib-devel'], alpine: ['zlib-dev'] },
  },
  {
    id: 'readline',
    kind: 'module',
    critical: true,
    what: 'GNU readline development headers (readline/readline.h)',
    probe: header('stdio.h', 'readline/readline.h'),
    packages: { debian: ['libreadline-dev'], rhel: ['readline-devel'], alpine: ['readline-dev'] },
  },
  {
    id: 'curses',
    kind: 'module',
    critical: false,
    what: 'ncurses development headers (ncurses.h)',
    probe: header('ncurses.h'),
    packages: { debian: ['libncurses-dev'], rhel: ['ncurses-devel'], alpine: ['ncurses-dev'] },
  },
  {
    id: 'dbm',
    kind: 'module',
    critical: false,
    what: 'GNU dbm development headers (gdbm.h)',
    probe: header('gdbm.h'),
    packages: { debian: ['libgdbm-dev', 'libgdbm-compat-dev'], rhel: ['gdbm-devel'], alpine: ['gdbm-dev'] },
  },
  {
    id: 'tkinter',
    kind: 'module',
    critical: false,
    what: 'Tcl/Tk development files (pkg-config module tk)',
    probe: { kind: 'pkg-config', module: 'tk' },
    packages: { debian: ['tk-dev'], rhel: ['tk-devel'], alpine: ['tk-dev'] },
  },
];
