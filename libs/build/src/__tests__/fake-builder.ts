import type { Exec } from '../exec.js';

export const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';
export const FEDORA = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=40\n';
export const GENTOO = 'NAME=Gentoo\nID=gentoo\n';

/** A pretend builder: which programs exist, which headers the preprocessor finds. */
export function fakeBuilder(opts: { osRelease: string; programs: string[]; headers: string[]; pkgConfig?: string[] }): Exec {
  const exec: Exec = async (file, args, options = {}) => {
    if (file === 'cat' && args[0] === '/etc/os-release') return { exitCode: 0, stdout: opts.osRelease, stderr: '' };
    if (!opts.programs.includes(file)) return { exitCode: 127, stdout: '', stderr: `${file}: command not found` };
    // A compiler launcher runs the compiler after it.
    if (file === 'ccache' && args.length > 0) return exec(args[0]!, args.slice(1), options);
    if (args[0] === '--version') return { exitCode: 0, stdout: `${file} 1.0\n`, stderr: '' };
    if (file === 'cc' && args[0] === '-E') {
      const wanted = [...(options.input ?? '').matchAll(/#include <([^>]+)>/g)].map((m) => m[1]);
      const absent = wanted.find((h) => !opts.headers.includes(h));
      return absent
        ? { exitCode: 1, stdout: '', stderr: `<stdin>:1:10: fatal error: ${absent}: No such file or directory\n` }
        : { exitCode: 0, stdout: '', stderr: '' };
    }
    if (file === 'pkg-config' && args[0] === '--modversion') {
      return (opts.pkgConfig ?? []).includes(args[1])
        ? { exitCode: 0, stdout: '8.6\n', stderr: '' }
        : { exitCode: 1, stdout: '', stderr: '' };
    }
    throw new Error(`unexpected command ${file} ${args.join(' ')}`);
  };
  return exec;
}

export const ALL_HEADERS = [
  'openssl/ssl.h',
  'sqlite3.h',
  'uuid/uuid.h',
  'lzma.h',
  'bzlib.h',
  'ffi.h',
  'zlib.h',
  'stdio.h',
  'readline/readline.h',
  'ncurses.h',
  'gdbm.h',
];
export const TOOLS = ['cc', 'make', 'pkg-config', 'xz'];
