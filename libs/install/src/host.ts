import { existsSync } from 'node:fs';
import { compareDotted, runtimeGlibc } from '@cpy/core';

/** The machine an artifact is about to be installed on. */
export interface HostPlatform {
  /** `linux`, `darwin`... as Node names it. */
  readonly os: string;
  /** Architecture in the names artifacts use (`uname -m`): `x86_64`, `aarch64`... */
  readonly arch: string;
  readonly libc: 'glibc' | 'musl' | 'unknown';
  /** `2.36` on Debian 12; null unless libc is glibc. */
  readonly glibcVersion: string | null;
}

// As artifacts name them (elf.ts in @cpy/artifact, from the files' e_machine): 32-bit ARM is
// Debian's armhf and 32-bit x86 its i386 (uname -m says armv7l and i686; install.sh maps those).
const ARCH: Readonly<Record<string, string>> = {
  x64: 'x86_64',
  arm64: 'aarch64',
  arm: 'armhf',
  ia32: 'i386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loongarch64',
};

/** Node's name for an architecture (process.arch) as artifacts name it (`uname -m`, but armhf and i386). */
export function hostArch(nodeArch: string = process.arch): string {
  return ARCH[nodeArch] ?? nodeArch;
}

/** Debian's multiarch directory name of an architecture: `/usr/lib/<this>` (`armhf` -> `arm-linux-gnueabihf`). */
export function multiarchTriplet(arch: string): string {
  return arch === 'armhf' ? 'arm-linux-gnueabihf' : arch === 'ppc64le' ? 'powerpc64le-linux-gnu' : `${arch}-linux-gnu`;
}

export interface DetectHostOptions {
  /** The running glibc's version, or null; defaults to core's runtimeGlibc (Node's diagnostic report). */
  readonly glibc?: () => string | null;
  readonly platform?: string;
  readonly arch?: string;
  /** Defaults to checking for the musl dynamic loader. */
  readonly hasMuslLoader?: () => boolean;
}

function muslLoaderPresent(): boolean {
  return ['x86_64', 'aarch64', 'armhf', 'i386', 'ppc64le', 's390x', 'riscv64'].some((a) =>
    existsSync(`/lib/ld-musl-${a}.so.1`),
  );
}

/** Reads the host's OS, architecture and C library (no processes, no network). */
export function detectHost(options: DetectHostOptions = {}): HostPlatform {
  const os = options.platform ?? process.platform;
  const arch = hostArch(options.arch);
  if (os !== 'linux') return { os, arch, libc: 'unknown', glibcVersion: null };
  const glibc = (options.glibc ?? runtimeGlibc)();
  if (glibc) return { os, arch, libc: 'glibc', glibcVersion: glibc };
  return { os, arch, libc: (options.hasMuslLoader ?? muslLoaderPresent)() ? 'musl' : 'unknown', glibcVersion: null };
}


/**
 * Whether binaries whose newest glibc symbol is `floor` run on this host:
 * glibc is backward compatible, so any host glibc at or above the floor works.
 */
export function glibcSatisfies(host: HostPlatform, floor: string): boolean {
  return host.libc === 'glibc' && host.glibcVersion !== null && compareDotted(host.glibcVersion, floor) >= 0;
}
