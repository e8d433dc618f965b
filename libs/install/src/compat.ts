import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { type ArtifactMetadata, CpyError, type NeedGroup, runtimeNeeds } from '@cpy/core';
import { aptListsPresent } from './archive.js';
import { glibcSatisfies, hostArch, multiarchTriplet, type HostPlatform } from './host.js';
import { runProgram } from './lazy.js';

/** What a build is for, as far as the platform rule goes. */
export interface PlatformTarget {
  readonly arch: string;
  readonly libc: string;
  readonly glibcFloor?: string | null | undefined;
}

/** Why a build cannot run on a host: the code to refuse it with, what to say, and what to do. */
export interface PlatformMismatch {
  readonly code: 'CPY_INSTALL_UNSUPPORTED_OS' | 'CPY_INSTALL_WRONG_ARCH' | 'CPY_INSTALL_WRONG_LIBC' | 'CPY_INSTALL_GLIBC_TOO_OLD';
  readonly message: string;
  readonly hint: string;
  readonly details?: Record<string, unknown>;
}

/**
 * The one platform rule, for choosing a build (resolve.ts's fitOf) and for refusing an artifact
 * (checkCompatibility): Linux, the host's architecture and C library, and a glibc floor at or
 * below the host's glibc. `artifact` names the build in the message. Null when it can run here.
 */
export function platformMismatch(artifact: string, target: PlatformTarget, host: HostPlatform): PlatformMismatch | null {
  if (host.os !== 'linux') {
    return { code: 'CPY_INSTALL_UNSUPPORTED_OS', message: `${artifact} is a Linux build; this host runs ${host.os}`, hint: 'install it on Linux (a container, a VM or a CI runner)' };
  }
  if (target.arch !== host.arch) {
    return {
      code: 'CPY_INSTALL_WRONG_ARCH',
      message: `${artifact} is built for ${target.arch}; this host is ${host.arch}`,
      hint: `use an artifact built for ${host.arch}`,
      details: { artifact: target.arch, host: host.arch },
    };
  }
  if (target.libc !== host.libc) {
    return { code: 'CPY_INSTALL_WRONG_LIBC', message: `${artifact} needs ${target.libc}; this host has ${host.libc}`, hint: `use an artifact built on a ${host.libc} system` };
  }
  const floor = target.glibcFloor;
  if (floor && host.glibcVersion && !glibcSatisfies(host, floor)) {
    return {
      code: 'CPY_INSTALL_GLIBC_TOO_OLD',
      message: `${artifact} needs glibc ${floor}; this host has glibc ${host.glibcVersion}`,
      hint: `use an artifact built on a system with glibc ${host.glibcVersion} or older (build it in a container of your oldest distro: cpy build --builder container --image ...)`,
      details: { needs: floor, host: host.glibcVersion },
    };
  }
  return null;
}

/**
 * Refuses, before anything is written, an artifact this host cannot run: another
 * OS or architecture, another C library, or a glibc floor above the host's glibc.
 */
export function checkCompatibility(metadata: ArtifactMetadata, host: HostPlatform): void {
  const what = `CPython ${metadata.version} build ${metadata.build} (${metadata.platform.os} ${metadata.platform.osVersion}, ${metadata.platform.arch})`;
  const mismatch = platformMismatch(what, metadata.platform, host);
  if (mismatch) throw new CpyError(mismatch.code, mismatch.message, { hint: mismatch.hint, ...(mismatch.details ? { details: mismatch.details } : {}) });
}

export interface MissingLibrary {
  readonly soname: string;
  readonly packages: readonly string[];
  /** critical: the install is refused without it; optional (curses, dbm) and tk: reported. */
  readonly group: NeedGroup;
  /** The modules that will not import without it. */
  readonly modules: readonly string[];
}

/** Where loadableLibraries looks: the ldconfigs, in order, then the directories. */
export interface LibrarySources {
  readonly ldconfigs: readonly string[];
  readonly dirs: readonly string[];
}

const HOST_ARCH = hostArch();
const LIBRARY_SOURCES: LibrarySources = {
  ldconfigs: ['/sbin/ldconfig', '/usr/sbin/ldconfig'],
  dirs: ['/lib', '/usr/lib', '/lib64', '/usr/lib64', '/usr/local/lib', `/lib/${multiarchTriplet(HOST_ARCH)}`, `/usr/lib/${multiarchTriplet(HOST_ARCH)}`],
};

/**
 * The shared libraries the dynamic loader can find: what the first ldconfig that lists any says
 * (`ldconfig -p`; without /etc/ld.so.cache it fails and lists none), else the names in the
 * standard directories. install.sh's loadable_libraries follows the same rule.
 */
export async function loadableLibraries(sources: LibrarySources = LIBRARY_SOURCES): Promise<Set<string>> {
  for (const ldconfig of sources.ldconfigs) {
    if (!existsSync(ldconfig)) continue;
    const stdout = await runProgram(ldconfig, ['-p'], { maxBuffer: 16 * 1024 * 1024 }).then(
      (r) => r.stdout,
      () => '',
    );
    const listed = new Set([...stdout.matchAll(/^\s+(\S+) \(/gm)].map((m) => m[1]!));
    if (listed.size > 0) return listed;
  }
  const found = new Set<string>();
  for (const dir of sources.dirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) found.add(name);
  }
  return found;
}

/** The libraries the metadata says the tree needs and this host lacks. */
export async function missingLibraries(metadata: ArtifactMetadata, available?: ReadonlySet<string>): Promise<MissingLibrary[]> {
  const have = available ?? (await loadableLibraries());
  return runtimeNeeds(metadata).filter((need) => !have.has(need.soname));
}

/** Installs packages with the host's package manager (as root). */
export async function installPackages(packages: readonly string[]): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const manager = ['apt-get', 'dnf', 'apk'].find((m) => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(`${d}/${m}`)));
  if (!asRoot || !manager) {
    throw new CpyError('CPY_INSTALL_CANNOT_INSTALL_PACKAGES', `cannot install ${packages.join(' ')}: ${asRoot ? 'no apt-get, dnf or apk here' : 'not running as root'}`, {
      hint: `install them yourself (${packages.join(' ')}), then run again`,
    });
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // apt-get update exits 0 when it cannot reach the archive (it warns, and keeps no lists): what it
  // said, for the install's failure to name (it said "Unable to locate package", and the hint was
  // to check the package names).
  let updateSaid = '';
  // What a failed update said (its first E: line), when it failed.
  let updateFailed: string | null = null;
  try {
    if (manager === 'apt-get') {
      // With package lists present (fetched moments ago to check the build's packages, or by the
      // image), install at once; only on failure fetch them again and retry: one update, not two.
      // An update that fails (one broken source of the image's: an expired key, a signed-by file
      // gone) still fetched the others' lists: the install is tried, and its failure is the error.
      const install = () => runProgram('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env, maxBuffer: 64 * 1024 * 1024 });
      if (!(await aptListsPresent()) || !(await install().then(() => true, () => false))) {
        const update = await runProgram('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 }).then(
          (r) => ({ ...r, failed: false }),
          (e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '', failed: true }),
        );
        updateSaid = `${update.stdout}\n${update.stderr}`;
        if (update.failed) updateFailed = (updateSaid.split('\n').find((l) => l.startsWith('E: ')) ?? (updateSaid.trim().split('\n').pop() || 'it failed')).trim().slice(0, 300);
        await install();
      }
    } else if (manager === 'dnf') {
      await runProgram('dnf', ['install', '-y', '-q', ...packages], { env, maxBuffer: 64 * 1024 * 1024 });
    } else {
      await runProgram('apk', ['add', '--no-cache', ...packages], { env, maxBuffer: 64 * 1024 * 1024 });
    }
  } catch (cause) {
    const e = cause as { stdout?: string; stderr?: string; message: string };
    const unreachable = archiveUnreachable(`${updateSaid}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    if (unreachable) {
      throw new CpyError('CPY_INSTALL_PACKAGES_FAILED', `${manager} could not install ${packages.join(' ')}: the package archive could not be reached (${unreachable})`, {
        hint: 'check the network to the distribution archive (a proxy: http_proxy, https_proxy), then run again; or install them in the base image',
        cause,
      });
    }
    // A failed update is the likelier cause ("Unable to locate package" after it): said first.
    if (updateFailed) {
      throw new CpyError('CPY_INSTALL_PACKAGES_FAILED', `${manager} could not install ${packages.join(' ')}, after apt-get update failed: ${updateFailed}`, {
        hint: "check the image's package sources (/etc/apt/sources.list, /etc/apt/sources.list.d: a key expired or missing, a clock behind) and the network to them, then run again; or install them in the base image",
        cause,
      });
    }
    throw new CpyError('CPY_INSTALL_PACKAGES_FAILED', `${manager} could not install ${packages.join(' ')}: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' ')}`, {
      hint: 'check the package names for this distribution and the network to its archive, or install them yourself',
      cause,
    });
  }
}

/**
 * What apt-get (or dnf, apk) said of an archive it could not reach: its first such line, trimmed
 * (`W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure
 * resolving 'deb.debian.org'`); null when it said none. install.sh reads its log the same way.
 */
export function archiveUnreachable(said: string): string | null {
  const line = said.split('\n').find((l) => ARCHIVE_UNREACHABLE_RE.test(l));
  return line ? line.trim().replace(/\s+/g, ' ').slice(0, 300) : null;
}
const ARCHIVE_UNREACHABLE_RE = /Failed to fetch|Temporary failure resolving|Could not resolve|Unable to connect|Network is unreachable|Cannot find a valid baseurl|Curl error|temporary error \(try again later\)/;
