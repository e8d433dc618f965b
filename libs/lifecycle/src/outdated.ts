import { compareVersions, CpyError, parseVersion } from '@cpy/core';
import { compareEntries, type ArtifactIndex, type IndexEntry } from '@cpy/artifact';
import { loadIndex, type Environment } from '@cpy/install';
import { createHttpClient, displayUrl } from '@cpy/transfer';
import { endOfLife, END_OF_LIFE } from './release-lines.js';
import { mirrorUrl, newestReleases, PYTHON_ORG } from './upstream.js';

/** BR-004: a build is rebuilt every 6 months (a critical CVE aside). */
export const MAX_BUILD_AGE_DAYS = 183;

export interface OutdatedOptions {
  /** The index (default CPY_INDEX_URL). */
  readonly indexUrl?: string;
  /** Upstream releases: python.org (default), or a mirror with its layout (http(s), file://, a directory). */
  readonly mirror?: string;
  readonly caFile?: string;
  readonly env?: Environment;
  readonly cwd?: string;
  /** Default: now. */
  readonly now?: Date;
  readonly maxAgeDays?: number;
}

export interface MissingRelease {
  readonly line: string;
  /** The newest final release upstream, which has no active build. */
  readonly version: string;
  /** The newest version with an active build, if any. */
  readonly published: string | null;
  readonly nextBuild: number;
}

export interface StaleBuild {
  readonly version: string;
  /** The builds of that version older than the limit (one per platform). */
  readonly files: readonly string[];
  readonly publishedAt: string;
  readonly ageDays: number;
  readonly nextBuild: number;
}

export interface EndOfLifeLine {
  readonly line: string;
  /** The last day of support. */
  readonly ended: string;
  /** Active builds of the line, which get no more fixes upstream. */
  readonly activeBuilds: readonly string[];
}

export interface OutdatedReport {
  readonly index: string;
  readonly upstream: string;
  readonly checkedAt: string;
  /** The end-of-life table used, and when it was checked against the developer's guide. */
  readonly endOfLifeData: { readonly checked: string; readonly source: string };
  readonly missing: readonly MissingRelease[];
  readonly stale: readonly StaleBuild[];
  readonly endOfLife: readonly EndOfLifeLine[];
  /** Release lines the index publishes (not past their end of life) of which the mirror has no release: not compared. */
  readonly unchecked: readonly string[];
  /** What to build: one release workflow run per build number (release.yml's `versions` and `build`). */
  readonly dispatch: readonly { readonly versions: readonly string[]; readonly build: number }[];
  /** True when there is nothing to do. */
  readonly upToDate: boolean;
}

const DAY = 86_400_000;
const lineOf = (e: IndexEntry) => parseVersion(e.version)!.line;
const nextBuildOf = (index: ArtifactIndex, version: string) => Math.max(0, ...index.artifacts.filter((e) => e.version === version).map((e) => e.build)) + 1;

/**
 * Compares the index with upstream (pure): each release line the index publishes whose newest
 * upstream release has no active build; each newest active build older than `maxAgeDays`
 * (BR-004: rebuilt with the next build number); each line past its end of life that still has
 * active builds (reported, never rebuilt).
 */
export function compareWithUpstream(index: ArtifactIndex, upstream: ReadonlyMap<string, string>, now: Date, maxAgeDays = MAX_BUILD_AGE_DAYS): Omit<OutdatedReport, 'index' | 'upstream' | 'checkedAt' | 'endOfLifeData'> {
  const active = index.artifacts.filter((e) => e.state === 'active');
  const lines = [...new Set(index.artifacts.map(lineOf))].sort((a, b) => Number(b.split('.')[1]) - Number(a.split('.')[1]));
  const missing: MissingRelease[] = [];
  const stale: StaleBuild[] = [];
  const ended: EndOfLifeLine[] = [];
  const unchecked: string[] = [];
  for (const line of lines) {
    const ends = endOfLife(line);
    const ofLine = active.filter((e) => lineOf(e) === line).sort(compareEntries);
    if (ends && ends.getTime() < now.getTime()) {
      if (ofLine.length > 0) ended.push({ line, ended: ends.toISOString().slice(0, 10), activeBuilds: ofLine.map((e) => e.file) });
      continue;
    }
    const newest = upstream.get(line);
    const published = ofLine.find((e) => !parseVersion(e.version)!.pre)?.version ?? null;
    if (!newest) unchecked.push(line);
    // Missing: no active build of the newest release, nor of one newer (a mirror behind the index).
    if (newest && !ofLine.some((e) => compareVersions(e.version, newest) >= 0)) {
      missing.push({ line, version: newest, published, nextBuild: nextBuildOf(index, newest) });
      continue;
    }
    // The newest published version's builds: rebuilt when the newest of them is too old.
    const target = newest && (!published || compareVersions(newest, published) > 0) ? newest : published;
    const current = ofLine.filter((e) => e.version === target);
    const old = current.filter((e) => now.getTime() - Date.parse(e.publishedAt) > maxAgeDays * DAY);
    if (old.length > 0 && old.length === current.length) {
      const newestAt = Math.max(...old.map((e) => Date.parse(e.publishedAt)));
      stale.push({
        version: old[0]!.version,
        files: old.map((e) => e.file),
        publishedAt: new Date(newestAt).toISOString(),
        ageDays: Math.floor((now.getTime() - newestAt) / DAY),
        nextBuild: nextBuildOf(index, old[0]!.version),
      });
    }
  }
  const runs = new Map<number, string[]>();
  for (const w of [...missing, ...stale]) runs.set(w.nextBuild, [...(runs.get(w.nextBuild) ?? []), w.version]);
  const dispatch = [...runs.entries()].sort(([a], [b]) => a - b).map(([build, versions]) => ({ versions, build }));
  return { missing, stale, endOfLife: ended, unchecked, dispatch, upToDate: missing.length + stale.length + ended.length === 0 };
}

/** `cpy outdated`: reads the index and the upstream release tree, and compares them. */
export async function findOutdated(options: OutdatedOptions = {}): Promise<OutdatedReport> {
  const env = options.env ?? process.env;
  const indexUrl = options.indexUrl ?? env['CPY_INDEX_URL'];
  if (!indexUrl) {
    throw new CpyError('CPY_OUTDATED_NO_INDEX', 'which index? Pass --index <url|file>, or set CPY_INDEX_URL', {
      hint: 'cpy publish keeps it at https://github.com/<owner>/<repo>/releases/download/cpy-index/index.json',
    });
  }
  const { index, source } = await loadIndex(indexUrl, { env, ...(options.caFile ? { caFile: options.caFile } : {}) });
  // Nothing to compare is not "up to date": a new or mistyped index read as healthy.
  if (index.artifacts.length === 0) {
    throw new CpyError('CPY_OUTDATED_EMPTY_INDEX', `the index ${source} lists no builds: there is nothing to compare with upstream`, {
      hint: 'check --index (or CPY_INDEX_URL); a new index gets its first build with cpy publish or cpy index add',
    });
  }
  const mirror = mirrorUrl(options.mirror ?? PYTHON_ORG, options.cwd);
  const now = options.now ?? new Date();
  const lines = [...new Set(index.artifacts.map(lineOf))].filter((line) => (endOfLife(line)?.getTime() ?? Infinity) >= now.getTime());
  const client = await createHttpClient({ env, userAgent: 'cpy (outdated)', ...(options.caFile ? { caFile: options.caFile } : {}) });
  let upstream: Map<string, string>;
  try {
    upstream = await newestReleases(mirror, lines, client);
  } finally {
    await client.close();
  }
  const compared = compareWithUpstream(index, upstream, now, options.maxAgeDays);
  // No line the index builds found upstream (a mirror of other releases, a wrong --mirror): nothing
  // was compared, which is not "up to date" (it said so, exit 0, as an empty index did).
  if (lines.length > 0 && compared.unchecked.length === lines.length) {
    throw new CpyError('CPY_OUTDATED_UPSTREAM_UNAVAILABLE', `${displayUrl(mirror)} has no release of ${lines.join(', ')}, the lines the index builds: nothing was compared`, {
      hint: 'check --mirror (the CPython release tree: https://www.python.org/ftp/python/, or a mirror of it that holds those lines)',
    });
  }
  return {
    index: source,
    upstream: displayUrl(mirror),
    checkedAt: now.toISOString(),
    endOfLifeData: { checked: END_OF_LIFE.checked, source: END_OF_LIFE.source },
    ...compared,
  };
}
