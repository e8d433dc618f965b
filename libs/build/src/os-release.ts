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
