import { gnuTriplet, type PythonRunner } from '@cpy/artifact';
import type { Exec } from '../exec.js';

/**
 * A cross build: the builder (`--build`, e.g. x86_64-linux-gnu) compiles CPython for another
 * architecture (`--host`, e.g. aarch64-linux-gnu) with Debian's multiarch toolchain
 * (crossbuild-essential-arm64 and the :arm64 -dev packages: provision-builder.sh with
 * CPY_PROVISION_TARGET_ARCH), using a native python3 of the same version (CPython requires one).
 */
export interface CrossBuild {
  /** `uname -m` of the target: `aarch64`. */
  readonly arch: string;
  /** GNU triplets: the builder's (`--build`) and the target's (`--host`). */
  readonly build: string;
  readonly host: string;
  /** The native python3 of the same version configure is given (`--with-build-python`). */
  readonly buildPython: string;
  /** The user-mode emulator that runs target code on the builder, with its arguments; null when the builder has none. */
  readonly emulator: { readonly program: string; readonly args: readonly string[] } | null;
}

/** What ran (or not) of the steps that execute target code, for the metadata. */
export interface CrossCheck {
  readonly id: string;
  readonly ran: boolean;
  readonly ok: boolean;
  readonly detail: string;
}

/** qemu's name for an architecture (`qemu-<name>-static`). */
const QEMU: Readonly<Record<string, string>> = { aarch64: 'aarch64', armhf: 'arm', x86_64: 'x86_64', i386: 'i386', ppc64le: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** `qemu-aarch64-static -L /usr/aarch64-linux-gnu`: the target's loader and libc from the cross sysroot, the rest from the multiarch directories. */
export function emulatorFor(arch: string): { program: string; args: string[] } {
  return { program: `qemu-${QEMU[arch] ?? arch}-static`, args: ['-L', `/usr/${gnuTriplet(arch)}`] };
}

/**
 * What configure cannot find out when it cannot run target code, answered for a Linux glibc
 * target (the values a native build of Debian's finds): the pty devices (configure stops
 * without them), and the run-time checks whose cross-compiling defaults are wrong or
 * pessimistic there (getaddrinfo, pthreads, sem_getvalue, tzset, computed gotos).
 */
export function crossAnswers(arch: string): string[] {
  return [
    'ac_cv_file__dev_ptmx=yes',
    'ac_cv_file__dev_ptc=no',
    'ac_cv_buggy_getaddrinfo=no',
    'ac_cv_pthread_is_default=yes',
    'ac_cv_pthread_system_supported=yes',
    'ac_cv_broken_sem_getvalue=no',
    'ac_cv_working_tzset=yes',
    'ac_cv_computed_gotos=yes',
    'ac_cv_aligned_required=no',
    // wchar_t is unsigned on aarch64 and arm, signed on x86.
    ...(arch === 'aarch64' || arch === 'armhf' ? ['ac_cv_wchar_t_signed=no'] : []),
  ];
}

/** configure's arguments for the cross build, before cpy's own (prefix, shared, profile) and the user's. */
export function crossConfigureArguments(cross: Pick<CrossBuild, 'arch' | 'build' | 'host' | 'buildPython'>): string[] {
  return [`--build=${cross.build}`, `--host=${cross.host}`, `--with-build-python=${cross.buildPython}`, ...crossAnswers(cross.arch)];
}

/**
 * The environment of the cross configure and make: the target's compiler, and pkg-config
 * reading the target's .pc files (Debian's multiarch directory) whichever pkg-config runs.
 */
export function crossEnvironment(host: string): Record<string, string> {
  return { CC: `${host}-gcc`, PKG_CONFIG_LIBDIR: `/usr/lib/${host}/pkgconfig:/usr/share/pkgconfig` };
}

/** Whether the builder has the emulator (`command -v`). */
export async function hasEmulator(exec: Exec, program: string): Promise<boolean> {
  const r = await exec('sh', ['-c', 'command -v "$1"', 'probe', program]);
  return r.exitCode === 0 && r.stdout.trim() !== '';
}

/**
 * A runner for target programs: through the emulator, on the builder. For validation and the
 * module check; a target program that starts another target program needs binfmt_misc, which
 * this does not give.
 */
export function emulatedRunner(exec: Exec, emulator: NonNullable<CrossBuild['emulator']>): PythonRunner {
  return async (file, args) => {
    const r = await exec(emulator.program, [...emulator.args, file, ...args], { env: { LC_ALL: 'C.UTF-8' } });
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };
}
