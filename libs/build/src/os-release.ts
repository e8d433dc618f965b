import { unnameablePlatform } from '@cpy/core';

/** What /etc/os-release says about a system, reduced to what cpy needs. */
export interface OsInfo {
  /** `debian`, `ubuntu`, `fedora`, `alpine`... (`unknown` when not readable). */
  readonly id: string;
  /** `12`, `20.04`... (empty when not given, e.g. Debian testing). */
  readonly versionId: string;
  readonly prettyName: string;
  /** Which package naming applies: drives the install hints. */
  readonly family: 'debian' | 'rhel' | 'alpine' | 'unknown';
}

/** Parses the text of an os-release file (freedesktop.org format). */
export function parseOsRelease(text: string): OsInfo {
  const fields = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(raw.trim());
    if (!m) continue;
    let value = m[2];
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    fields.set(m[1], value);
  }
  const id = (fields.get('ID') ?? 'unknown').toLowerCase();
  const like = (fields.get('ID_LIKE') ?? '').toLowerCase().split(/\s+/);
  const all = [id, ...like];
  const family = all.some((x) => x === 'debian' || x === 'ubuntu')
    ? 'debian'
    : all.some((x) => ['rhel', 'fedora', 'centos'].includes(x))
      ? 'rhel'
      : all.includes('alpine')
        ? 'alpine'
        : 'unknown';
  return {
    id,
    versionId: fields.get('VERSION_ID') ?? '',
    prettyName: fields.get('PRETTY_NAME') ?? id,
    family,
  };
}

/**
 * Why a system cannot name an artifact (cpython-<version>-<id><version>-build<N>.tgz, which
 * installers match against their own /etc/os-release), said after "the builder (...)", with what
 * to do; null when it can. Checked by cpy doctor, before a build, and before a pack.
 */
export function osNamingProblem(os: OsInfo): { readonly what: string; readonly hint: string } | null {
  if (!os.versionId) {
    return {
      what: 'has no VERSION_ID in /etc/os-release, which names the artifact and the hosts it installs on',
      hint: 'build on (or in a container of) a released distribution: debian:bookworm, ubuntu:24.04, almalinux:9...',
    };
  }
  const unnameable = unnameablePlatform(os.id, os.versionId);
  return unnameable
    ? {
        what: `cannot name an artifact: ${unnameable} (cpython-<version>-<id><version>-build<N>.tgz)`,
        hint: 'build on (or in a container of) a released distribution whose /etc/os-release names it with letters and its version with digits: debian:bookworm, ubuntu:24.04, almalinux:9...',
      }
    : null;
}
