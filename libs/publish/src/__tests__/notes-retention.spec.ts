import { describe, expect, it } from '@jest/globals';
import { type ArtifactMetadata, isCpyError } from '@cpy/core';
import { rateLimitWaitMs, type GitHubRelease } from '../github.js';
import { DEFAULT_NOTES_TEMPLATE, renderNotes } from '../notes.js';
import { planPrune } from '../retention.js';

const metadata = {
  schemaVersion: 1,
  name: 'cpython',
  version: '3.13.5',
  build: 2,
  prefix: '/opt/python-3.13.5',
  platform: { os: 'debian', osVersion: '12', arch: 'x86_64', libc: 'glibc', glibcFloor: '2.34' },
  runtime: { needs: [] },
  builtWith: { profile: 'release', configureArgs: [], compiler: 'gcc 12', builder: { kind: 'host', description: 'this host', identity: 'host' }, finishedAt: '2026-11-20T10:00:00.000Z' },
  source: {
    fileName: 'Python-3.13.5.tar.xz',
    sha256: 'a'.repeat(64),
    verification: { method: 'openpgp+sigstore', allowUnsigned: false, openpgp: { fingerprint: 'F', signer: 'Thomas Wouters', signedAt: '2025-06-11T00:00:00.000Z' }, sigstore: null },
  },
  modules: { present: ['ssl', 'sqlite3'], missing: [{ id: 'tkinter', critical: false, packages: ['tk-dev'] }] },
  contents: { files: 1, bytes: 1, stripped: true, tests: false, license: 'opt/python-3.13.5/LICENSE.txt' },
  createdAt: '2026-11-20T10:00:00.000Z',
} satisfies ArtifactMetadata;

const input = {
  metadata,
  tag: 'cpython-3.13.5-build2',
  artifactUrl: 'https://github.com/acme/builds/releases/download/cpython-3.13.5-build2/cpython-3.13.5-debian12-build2.tgz',
  assets: [{ name: 'cpython-3.13.5-debian12-build2.tgz', sha256: 'b'.repeat(64), size: 17 * 2 ** 20 }],
};

describe('renderNotes', () => {
  it("shows CPython's test results when the artifact records them, and nothing when it does not", () => {
    const tested = {
      ...metadata,
      tests: { level: 'full' as const, files: { run: 480, passed: 445, failed: 2, skipped: 33 }, passRate: 99.6, failed: ['test_socket', 'test_subprocess'], skipped: ['test_winreg'], durationMs: 586_000 },
    };
    const notes = renderNotes(DEFAULT_NOTES_TEMPLATE, { ...input, metadata: tested });
    expect(notes).toContain("**CPython's test suite (full, in a relocated prefix):** 99.6% of 447 test files passed; 33 skipped.");
    expect(notes).toContain('Failed: test_socket, test_subprocess');
    expect(renderNotes(DEFAULT_NOTES_TEMPLATE, input)).not.toContain('test suite');
  });

  it('shows the version, optimizations, base system, architecture, date, modules, artifacts and the devcontainer snippet', () => {
    const notes = renderNotes(DEFAULT_NOTES_TEMPLATE, { ...input, changelog: 'OpenSSL 3.0.17' });
    for (const text of [
      '## CPython 3.13.5 (build 2)',
      '| optimizations | PGO + LTO (--enable-optimizations --with-lto) |',
      '| base system | debian 12 (glibc) |',
      '| needs glibc | 2.34 or newer |',
      '| built | 2026-11-20T10:00:00.000Z |',
      '**Native modules included:** ssl, sqlite3',
      '**Not included:** tkinter',
      `| cpython-3.13.5-debian12-build2.tgz | 17.0 MiB | \`${'b'.repeat(64)}\` |`,
      `"artifactUrl": "${input.artifactUrl}"`,
      'sha256sum -c cpython-3.13.5-debian12-build2.tgz.sha256',
      'signed by Thomas Wouters',
      '### Changelog\n\nOpenSSL 3.0.17',
    ]) {
      expect(notes).toContain(text);
    }
  });

  it('signed: the notes say how to check the signature, and the Dev Container snippet pins the signer; unsigned: neither', () => {
    const fingerprint = 'A'.repeat(40);
    const signed = renderNotes(DEFAULT_NOTES_TEMPLATE, { ...input, signer: fingerprint });
    const keysUrl = 'https://github.com/acme/builds/releases/download/cpy-index/cpy-keys.asc';
    for (const text of [
      `curl -fsSLO ${input.artifactUrl}.asc`,
      `curl -fsSLO ${keysUrl}`,
      `cpy artifact verify cpython-3.13.5-debian12-build2.tgz --signer ${fingerprint} --trusted-keys cpy-keys.asc`,
      `"signerFingerprints": "${fingerprint}"`,
      `"trustedKeysUrl": "${keysUrl}"`,
    ]) {
      expect(signed).toContain(text);
    }
    const unsigned = renderNotes(DEFAULT_NOTES_TEMPLATE, input);
    for (const text of ['.asc', 'signerFingerprints', 'cpy-keys.asc']) expect(unsigned).not.toContain(text);
  });

  it('a template of your own; an unknown field is an error that lists the known ones', () => {
    expect(renderNotes('Python {{ version }} on {{arch}}', input)).toBe('Python 3.13.5 on x86_64');
    let error: unknown;
    try {
      renderNotes('{{version}} {{colour}}', input);
    } catch (e) {
      error = e;
    }
    expect(isCpyError(error) && error.code).toBe('CPY_PUBLISH_BAD_TEMPLATE');
    expect(isCpyError(error) && error.hint).toMatch(/version, build, tag/);
  });
});

describe('rateLimitWaitMs', () => {
  it('Retry-After first, then the reset time when no requests remain; other errors do not wait', () => {
    const now = 1_700_000_000_000;
    expect(rateLimitWaitMs(429, { 'retry-after': '12' }, now)).toBe(12_000);
    expect(rateLimitWaitMs(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 60) }, now)).toBe(61_000);
    expect(rateLimitWaitMs(403, { 'x-ratelimit-remaining': '12' }, now)).toBeNull();
    expect(rateLimitWaitMs(404, {}, now)).toBeNull();
    // A secondary rate limit with neither header: at least a minute; another 403 is no rate limit.
    expect(rateLimitWaitMs(403, { 'x-ratelimit-remaining': '4999' }, now, { message: 'You have exceeded a secondary rate limit.' })).toBe(60_000);
    expect(rateLimitWaitMs(403, { 'x-ratelimit-remaining': '4999' }, now, { message: 'Resource not accessible by integration' })).toBeNull();
  });
});

describe('planPrune', () => {
  const rel = (tag: string, id: number, draft = false) => ({ id, tag_name: tag, draft }) as GitHubRelease;
  it('orders by version then build, a final release after its release candidates', () => {
    const plan = planPrune(
      [rel('cpython-3.14.0rc2-build1', 1), rel('cpython-3.14.0-build1', 2), rel('cpython-3.14.0rc1-build3', 3), rel('cpython-3.14.1-build1', 4), rel('cpython-3.13.5-build9', 5)],
      2,
    );
    expect(plan.keep.map((r) => r.tag_name)).toEqual(['cpython-3.14.1-build1', 'cpython-3.14.0-build1', 'cpython-3.13.5-build9']);
    expect(plan.remove.map((r) => r.tag_name)).toEqual(['cpython-3.14.0rc2-build1', 'cpython-3.14.0rc1-build3']);
  });

  it('counts builds per os, os version and architecture, as the index does: a release goes only when every platform it holds has newer builds', () => {
    /** A release of `version` build 1 holding an artifact (and its .sha256) for each platform. */
    const holding = (version: string, id: number, ...platforms: string[]) =>
      ({
        ...rel(`cpython-${version}-build1`, id),
        assets: platforms.flatMap((p) => [`cpython-${version}-${p}-build1.tgz`, `cpython-${version}-${p}-build1.tgz.sha256`].map((name) => ({ name }))),
      }) as GitHubRelease;
    // 3.12.9 is the only build for debian11: the later ones were built for ubuntu22.04 alone.
    const releases = [
      holding('3.12.9', 1, 'debian11', 'ubuntu22.04'),
      holding('3.12.10', 2, 'ubuntu22.04'),
      holding('3.12.11', 3, 'ubuntu22.04'),
      holding('3.12.12', 4, 'ubuntu22.04', 'ubuntu22.04-aarch64'),
      holding('3.12.8', 5, 'ubuntu22.04'),
    ];
    const plan = planPrune(releases, 3);
    expect(plan.keep.map((r) => r.tag_name)).toEqual(['cpython-3.12.12-build1', 'cpython-3.12.11-build1', 'cpython-3.12.10-build1', 'cpython-3.12.9-build1']);
    expect(plan.remove.map((r) => r.tag_name)).toEqual(['cpython-3.12.8-build1']);
    // Once debian11 has three newer builds, 3.12.9 goes too.
    const later = [...releases, holding('3.12.13', 6, 'debian11'), holding('3.12.14', 7, 'debian11'), holding('3.12.15', 8, 'debian11')];
    expect(planPrune(later, 3).remove.map((r) => r.tag_name).sort()).toEqual(['cpython-3.12.8-build1', 'cpython-3.12.9-build1']);
  });
});
