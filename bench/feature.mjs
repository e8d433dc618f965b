#!/usr/bin/env node
// How long does a Dev Container take to get CPython with the cpython-prebuilt Feature,
// against a Feature that compiles the same CPython from source, on the same base image,
// in the same session? Goal (issue 7): at least 20x faster, and under 20 s.
//
//   node bench/feature.mjs [artifact.tgz] [--base minimal|devbase|both] [--skip-baseline]
//
// Default artifact: the newest dist/artifacts/cpython-*.tgz (`npx nx run cli:build-cpython`
// makes one). Both sides are `devcontainer build --no-cache` of a sample project
// (samples/devcontainer, bench/from-source), with podman behind a docker shim; the artifact
// and the source release (from the fixtures) are served on loopback over plain HTTP.
// Two base images:
//   minimal  localhost/debian-minbase:bookworm, as debootstrap leaves it: no curl, no CA
//            certificates, no libsqlite3. The Feature installs curl and the libraries.
//   devbase  the same plus curl and ca-certificates, like the usual Dev Container base images
//            (mcr.microsoft.com/devcontainers/base has both).
// Both sides install packages from Debian's archive: the prebuilt side what the image lacks,
// the baseline the build dependencies. Run after `npx nx run-many -t build` and
// scripts/setup-containers.sh.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { podmanDockerShim, repoRoot, startPythonMirror } from '@cpy/harness';
import { benchArgs, newestArtifact, reportRows } from './common.mjs';

const run = promisify(execFile);
const { values, positionals } = benchArgs(import.meta.url, { 'skip-baseline': { type: 'boolean', default: false }, base: { type: 'string', default: 'both' } });
if (!['minimal', 'devbase', 'both'].includes(values.base)) throw new Error('--base is minimal, devbase or both');

const artifact = resolve(positionals[0] ?? (await newestArtifact()));
const version = /^cpython-([^-]+)-/.exec(basename(artifact))?.[1];
if (!version || !existsSync(`${artifact}.sha256`)) throw new Error(`${artifact} is not a cpy artifact with its .sha256 beside it`);
const work = await mkdtemp(join(tmpdir(), 'cpy-bench-feature-'));
const mirror = await startPythonMirror();
const env = { ...process.env, PATH: `${await podmanDockerShim(join(work, 'shim'))}:${process.env.PATH}`, NO_COLOR: '1' };
const devcontainer = join(repoRoot(), 'node_modules', '.bin', 'devcontainer');
const images = [];

/** A copy of a sample project, on another base image, with `extra` folders in its .devcontainer. */
async function project(from, name, image, extra = {}) {
  const dir = join(work, name);
  await cp(from, dir, { recursive: true });
  const config = join(dir, '.devcontainer', 'devcontainer.json');
  await writeFile(config, (await readFile(config, 'utf8')).replace('"image": "localhost/debian-minbase:bookworm"', `"image": "${image}"`));
  for (const [folder, source] of Object.entries(extra)) await cp(source, join(dir, '.devcontainer', folder), { recursive: true });
  return dir;
}

async function build(label, folder, extraEnv) {
  const image = `localhost/cpy-bench-feature:${label}`;
  const t = performance.now();
  try {
    await run(devcontainer, ['build', '--no-cache', '--docker-path', 'docker', '--workspace-folder', folder, '--image-name', image], {
      env: { ...env, ...extraEnv },
      maxBuffer: 512 * 1024 * 1024,
    });
  } catch (error) {
    throw new Error(`${label}: devcontainer build failed:\n${String(error.stderr ?? error.message).split('\n').slice(-25).join('\n')}`);
  }
  const seconds = (performance.now() - t) / 1000;
  images.push(image);
  const { stdout } = await run('podman', ['run', '--rm', image, 'python3', '-c', 'import platform, ssl, sqlite3; print(platform.python_version())']);
  if (stdout.trim() !== version) throw new Error(`${label}: the image runs Python ${stdout.trim()}, expected ${version}`);
  process.stderr.write(`${label}: ${seconds.toFixed(1)} s (python3 ${stdout.trim()} imports ssl and sqlite3)\n`);
  return seconds;
}

const rows = [];
try {
  for (const suffix of ['', '.sha256', '.json']) if (existsSync(`${artifact}${suffix}`)) mirror.serve(`artifacts/${basename(artifact)}${suffix}`, `${artifact}${suffix}`);
  const bases = { minimal: 'localhost/debian-minbase:bookworm' };
  if (values.base !== 'minimal') {
    bases.devbase = 'localhost/cpy-bench-feature:devbase';
    const ctx = join(work, 'devbase');
    await mkdir(ctx);
    await writeFile(
      join(ctx, 'Containerfile'),
      'FROM localhost/debian-minbase:bookworm\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*\n',
    );
    await run('podman', ['build', '-q', '-t', bases.devbase, ctx]);
    images.push(bases.devbase);
    if (values.base === 'devbase') delete bases.minimal;
  }
  for (const [name, image] of Object.entries(bases)) {
    // The sample, with a copy of the Feature where its devcontainer.json expects it.
    const sample = await project(join(repoRoot(), 'samples', 'devcontainer'), `sample-${name}`, image, {
      'cpython-prebuilt': join(repoRoot(), 'apps', 'feature', 'src', 'cpython-prebuilt'),
    });
    const prebuilt = await build(`prebuilt-${name}`, sample, { CPY_ARTIFACT_URL: mirror.fileUrl('artifacts', basename(artifact)) });
    let fromSource = null;
    if (!values['skip-baseline']) {
      const baseline = await project(join(repoRoot(), 'bench', 'from-source'), `from-source-${name}`, image);
      fromSource = await build(`from-source-${name}`, baseline, { CPY_SOURCE_URL: mirror.fileUrl(version, `Python-${version}.tar.xz`) });
    }
    rows.push({ name, image, prebuilt, fromSource });
  }
  console.log(`CPython ${version}, devcontainer build --no-cache, same session`);
  console.log('base      prebuilt   from source   ratio    goals: prebuilt < 20 s, ratio >= 20x');
  await reportRows(
    rows.map((r) => ({ bench: `Dev Container build, ${r.name} image`, baseline: 'a Feature compiling from source', unit: 's', baselineValue: r.fromSource, value: r.prebuilt, goal: 'ratio <= 0.05 (20x), value < 20 s' })),
  );
  for (const r of rows) {
    const ratio = r.fromSource === null ? null : r.fromSource / r.prebuilt;
    console.log(
      `${r.name.padEnd(9)} ${`${r.prebuilt.toFixed(1)} s`.padStart(8)}   ${r.fromSource === null ? '—'.padStart(11) : `${r.fromSource.toFixed(1)} s`.padStart(11)}   ${ratio === null ? '—'.padStart(5) : `${ratio.toFixed(1)}x`.padStart(5)}    ${r.prebuilt < 20 ? 'met' : 'NOT met'}, ${ratio === null ? 'not measured' : ratio >= 20 ? 'met' : 'NOT met'}`,
    );
  }
} finally {
  if (images.length) await run('podman', ['rmi', '-f', ...images.reverse()]).catch(() => undefined);
  await mirror.close();
  await rm(work, { recursive: true, force: true });
}
