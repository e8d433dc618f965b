import { execa } from 'execa';
import { CpyError } from '@cpy/core';

/**
 * What release a source tarball holds: its `Python-<version>/Include/patchlevel.h`, read with
 * tar (as the build unpacks it; xz for a .tar.xz). A release manager's signature names no file
 * and no version: a mirror can serve another release that manager signed (3.13.0, with its CVEs)
 * under this release's name, and its signature verifies. Checked before the cache records it as
 * this version (`cpy source fetch -o` hands it on under that name; the build checked it only
 * once unpacked).
 *
 * Returns null with the reason when it cannot be read here (no tar or xz: the build checks the
 * unpacked tree again); throws CPY_SOURCE_WRONG_RELEASE when it holds another release, or when tar
 * runs and cannot read it (a damaged file, or no tarball: with --allow-unsigned it was "verified").
 */
export async function checkReleaseInside(file: string, fileName: string, version: string): Promise<string | null> {
  const member = `Python-${version}/Include/patchlevel.h`;
  const r = await execa('tar', ['-xOf', file, member], { reject: false, timeout: 300_000, maxBuffer: 1024 * 1024, extendEnv: false, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C' } });
  if (r.exitCode === 0) {
    const found = /^#define\s+PY_VERSION\s+"([^"]+)"/m.exec(r.stdout)?.[1] ?? null;
    if (found === version) return null;
    throw wrongRelease(fileName, version, found ? `its ${member} says ${found}` : `its ${member} names no PY_VERSION`);
  }
  if (/not found in archive/i.test(r.stderr)) throw wrongRelease(fileName, version, `it holds no ${member}: another release, or not a CPython source tarball`);
  // GNU tar without xz says `xz: Cannot exec`, then only "Error is not recoverable" last.
  const noXz = /\bxz\b.*cannot exec|cannot exec.*\bxz\b/i.test(r.stderr);
  if (r.code === 'ENOENT' || noXz || r.timedOut) {
    const why = r.code === 'ENOENT' ? 'tar is not installed' : noXz ? 'xz is not installed' : 'tar took more than 5 minutes';
    return `the release inside ${fileName} was not checked here (${why}); the build checks its Include/patchlevel.h when it unpacks it`;
  }
  // tar and xz ran, and could not read it.
  const said = r.stderr.trim().split('\n').find((l) => !/not recoverable|exiting now|child returned status/i.test(l)) ?? r.stderr.trim().split('\n').pop() ?? `tar exit ${r.exitCode}`;
  throw wrongRelease(fileName, version, `tar cannot read it (${said.replace(/^tar: /, '')}): a damaged file, or not a CPython source tarball`, 'do not build it: fetch it again (cpy source fetch), from python.org or another mirror (--mirror, or CPY_PYTHON_MIRRORS)');
}

function wrongRelease(fileName: string, version: string, why: string, hint?: string): CpyError {
  return new CpyError('CPY_SOURCE_WRONG_RELEASE', `${fileName} is not CPython ${version}: ${why}`, {
    hint: hint ?? 'the mirror serves another release under this name (its signature verifies: the same release manager signed it); nothing of it was kept: fetch from python.org or another mirror (--mirror, or CPY_PYTHON_MIRRORS)',
    details: { version },
  });
}
