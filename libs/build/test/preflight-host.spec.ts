// The preflight of a build on this host, as cpy build runs it before the source is downloaded:
// the real probes (this host has what a build needs: scripts/setup installs it for the e2e's).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { errorOf } from '@cpy/harness';
import { parseBuildSpec, preflightHost } from '../src/index.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-preflight-host-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it('too little room is said before the download; a build of the same directory again is not refused for the room its old trees hold (the build deletes them, then checks)', async () => {
  const spec = parseBuildSpec({ version: '3.13.5', prefix: '/opt/cpy-preflight-test-3.13.5' });
  const more = { minFreeBytes: 1024 ** 5 };
  const fresh = await errorOf(preflightHost(spec, work, more));
  expect([fresh.code, fresh.message]).toEqual(['CPY_BUILD_DISK_FULL', expect.stringMatching(/^the build directory has no room for the build: .* free at .*cpython-3\.13\.5-build1 \(1048576\.0 GiB needed\)$/)]);
  await mkdir(join(work, 'cpython-3.13.5-build1'));
  await expect(preflightHost(spec, work, more)).resolves.toBeUndefined();
});
