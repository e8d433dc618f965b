// The container builder's choice of engine, with stand-in engines on PATH: what each says when it
// does not work, and which other one does.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { errorOf } from '@cpy/harness';
import { createBuilder } from '../compile/builders.js';

let work: string;
const path = process.env['PATH'];
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cpy-builders-'));
  // docker: a client without its daemon; podman: works (its `run` is never reached here).
  await writeFile(join(work, 'docker'), '#!/bin/sh\necho "Client: Docker Engine"\necho "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2\nexit 1\n');
  await writeFile(join(work, 'podman'), '#!/bin/sh\n[ "$1" = version ] && exit 0\necho "podman: not in this test" >&2\nexit 125\n');
  for (const f of ['docker', 'podman']) await chmod(join(work, f), 0o755);
  process.env['PATH'] = `${work}:${path}`;
});
afterAll(async () => {
  process.env['PATH'] = path;
  await rm(work, { recursive: true, force: true });
});

it("an engine asked for that does not work is said in its own words, and the one that works is named (it said to install podman, which was there)", async () => {
  const builder = createBuilder({ kind: 'container', image: 'localhost/none', engine: 'docker', provision: false, provisionExclude: [] });
  const e = await errorOf(builder.start(work, join(work, 'start.log')));
  expect(e).toMatchObject({
    code: 'CPY_BUILD_NO_CONTAINER_ENGINE',
    message: 'no working container engine (docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?)',
    hint: 'podman works here: use --engine podman',
  });
});
