#!/usr/bin/env node
// The real `cpy` bin, timed as users run it: whole processes, A and B alternating, medians of
// the times, of the per-pair ratios and of the per-pair differences (what cpy adds to the
// baseline, in ms: a ratio moves with the baseline, which for a local file is the disk's speed).
//
//   node bench/cli.mjs [artifact] [--rounds N] [--rate MB/s] [--no-feature] [--against OTHER]
//
//   cpy --version                       against `node -e 0` (Node's own start-up)    goal < 80 ms
//   cpy install (already installed)     against `node -e 0`                          goal < 120 ms
//   cpy install (first, --skip-validation --no-link, local file)
//                                       against `sha256sum f && tar xzf f`           goal ratio <= 1.0
//   the same over http, the artifact served on loopback at --rate MB/s (default 25) as a
//   download comes (bench/paced-server.mjs), against `curl -o f && sha256sum f && tar xzf f`
//   cpy install from the cache (filled by a first install), at a new prefix: against the same
//   `sha256sum f && tar xzf f` (no goal: the cached artifact is read once, hashed as it unpacks)
//   the Feature's install phase (install.sh as root in the minimal image, skipValidation, the
//   artifact as a local path), against `sha256sum -c f.sha256 && tar xzf f` in the same
//   container: both alternate inside one container, timed there (date +%s%N)      (--no-feature skips it)
//   the same over http, from the same server, against `curl -o f && sha256sum -c && tar xzf f`
//   --against OTHER (another checkout's apps/cli/bin/cpy.cjs, built): both first installs, local
//   and over http, and both installs from the cache, this cpy against that one, alternating in
//   the same run: what a change saved, measured where the machine's swings cancel out; and the
//   Feature rows run that checkout's install.sh in the same rounds, for this install.sh against it
// Run after `npx nx run cli:build`, with an artifact in dist/artifacts; the Feature row needs
// podman and localhost/debian-minbase:bookworm (scripts/setup-containers.sh).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { benchArgs, median, newestArtifact, reportRows, signed } from './common.mjs';

const { values, positionals } = benchArgs(import.meta.url, {
  rounds: { type: 'string', default: '7' },
  rate: { type: 'string', default: '25' },
  'no-feature': { type: 'boolean', default: false },
  against: { type: 'string' },
});
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 3) throw new Error('--rounds takes a whole number of 3 or more');
const rate = Number(values.rate);
if (!(rate > 0)) throw new Error('--rate takes the download rate in MB/s, above 0');
const artifact = resolve(positionals[0] ?? (await newestArtifact()));
const cpy = resolve('apps/cli/bin/cpy.cjs');
const other = values.against ? resolve(values.against) : null;
if (other && !existsSync(other)) throw new Error(`--against: ${other} does not exist (another checkout's apps/cli/bin/cpy.cjs, built)`);
// That checkout's install.sh, for the Feature rows (from apps/cli/bin/cpy.cjs up to its root).
const otherSh = other ? resolve(other, '../../../../apps/feature/src/cpython-prebuilt/install.sh') : null;
if (otherSh && !values['no-feature'] && !existsSync(otherSh)) throw new Error(`--against: ${otherSh} does not exist (the Feature rows run that checkout's install.sh)`);
const work = mkdtempSync(join(tmpdir(), 'cpy-bench-cli-'));

// Node 20 reads NODE_EXTRA_CA_CERTS at every start, before any of cpy's code (about 45 ms on the
// machine this was written on): a cost of that environment, not of cpy. The variable is
// cleared for every command here, the baseline `node -e 0` included.
const baseEnv = { ...process.env, NO_COLOR: '1' };
if (baseEnv.NODE_EXTRA_CA_CERTS) {
  delete baseEnv.NODE_EXTRA_CA_CERTS;
  process.stderr.write('(NODE_EXTRA_CA_CERTS is cleared for these runs)\n');
}

/** Runs argv as a whole process; its wall time in ms. */
function time(argv, env = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env: { ...baseEnv, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${String(r.stderr).slice(-500)}`);
  return ms;
}

/** A and B in turn (the order alternating), `before` run untimed ahead of each. */
function pair(name, a, b, { before = () => undefined, warmup = 1 } = {}) {
  for (let i = 0; i < warmup; i++) {
    before();
    a();
    before();
    b();
  }
  const as = [];
  const bs = [];
  const ratios = [];
  const diffs = [];
  for (let i = 0; i < rounds; i++) {
    let x;
    let y;
    if (i % 2) {
      before();
      x = a();
      before();
      y = b();
    } else {
      before();
      y = b();
      before();
      x = a();
    }
    as.push(x);
    bs.push(y);
    ratios.push(x / y);
    diffs.push(x - y);
  }
  const row = { name, a: median(as), b: median(bs), ratio: median(ratios), excess: median(diffs) };
  console.log(`${name}: ${row.a.toFixed(1)} ms vs ${row.b.toFixed(1)} ms, ratio ${row.ratio.toFixed(3)}, ${signed(row.excess)} ms (medians of ${rounds} pairs)`);
  return row;
}

/**
 * install.sh as the Dev Containers CLI runs it (root, in the image), against a plain hash and
 * unpack, alternating inside one container of the minimal image; each run gets a new prefix or
 * directory. A warm-up round first, install.sh first: it installs the runtime packages the
 * minimal image lacks (from Debian's archive, and curl for a URL), which later runs find present.
 * `base`: the artifact's directory over http (the paced server), else the artifact as a local path.
 * `otherSh`: another checkout's install.sh, run in the same rounds (every order in turn), for a
 * row of this install.sh against it.
 */
function featureInstallPhase(base, otherSh) {
  const name = basename(artifact);
  const from = base ? `${base}/${name}` : `/a/${name}`;
  const raw = base
    ? 'raw() { mkdir -p /tmp/raw-$1 && cd /tmp/raw-$1 && curl -fsS -o $NAME $FROM && curl -fsS -o $NAME.sha256 $FROM.sha256 && sha256sum -c --quiet $NAME.sha256 && tar xzf $NAME && cd /; }'
    : 'raw() { mkdir -p /tmp/raw-$1 && sha256sum -c --quiet /a/$NAME.sha256 && tar xzf /a/$NAME -C /tmp/raw-$1; }';
  // Round 0 (the warm-up) runs install.sh first; round i, the (i-1)th of every order of the kinds
  // in turn: each kind first, and after each other kind, as often (with --rounds a multiple of 2,
  // or of 6 with --against).
  const kinds = otherSh ? ['feature', 'raw', 'other'] : ['feature', 'raw'];
  const orders = (xs) => (xs.length <= 1 ? [xs] : xs.flatMap((x, i) => orders([...xs.slice(0, i), ...xs.slice(i + 1)]).map((o) => [x, ...o])));
  const every = orders(kinds);
  if (rounds % every.length) process.stderr.write(`(the Feature rows: ${every.length} orders, ${rounds} rounds: some orders run once more than others)\n`);
  const script = [
    'set -e',
    'cd /a',
    'run_sh() { INSTALLPREFIX=/opt/cpy-bench-$2-$3 ARTIFACTURL=$FROM SKIPVALIDATION=true sh $1 >/tmp/$2-$3.log 2>&1 || { tail -n 20 /tmp/$2-$3.log >&2; exit 1; }; }',
    'feature() { run_sh /f/install.sh feature $1; }',
    'other() { run_sh /g/install.sh other $1; }',
    raw,
    'timed() { sync; s=$(date +%s%N); "$1" "$2"; e=$(date +%s%N); echo "$1 $2 $(( (e - s) / 1000000 ))"; }',
    `for kind in ${kinds.join(' ')}; do timed $kind 0; done`,
    'i=1',
    'while [ $i -le $ROUNDS ]; do',
    `  for kind in $(printf '%s' "$ORDERS" | cut -d';' -f$(( (i - 1) % ${every.length} + 1 ))); do timed $kind $i; done`,
    '  i=$((i + 1))',
    'done',
  ].join('\n');
  const feature = resolve('apps/feature/src/cpython-prebuilt/install.sh');
  const r = spawnSync(
    'podman',
    [
      'run',
      '--rm',
      '--network=host',
      '-e',
      `NAME=${name}`,
      '-e',
      `FROM=${from}`,
      '-e',
      `ROUNDS=${rounds}`,
      '-e',
      `ORDERS=${every.map((o) => o.join(' ')).join(';')}`,
      '-v',
      `${dirname(artifact)}:/a:ro`,
      '-v',
      `${feature}:/f/install.sh:ro`,
      ...(otherSh ? ['-v', `${otherSh}:/g/install.sh:ro`] : []),
      FEATURE_IMAGE,
      'sh',
      '-c',
      script,
    ],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`the Feature row failed (exit ${r.status}): ${String(r.stderr).slice(-1500)}`);
  // Round 0 is the warm-up.
  const runs = r.stdout.trim().split('\n').map((l) => l.split(' ')).filter(([, i]) => i !== '0');
  const ms = (kind) => new Map(runs.filter(([k]) => k === kind).map(([, i, t]) => [Number(i), Number(t)]));
  const mine = ms('feature');
  /** This install.sh against the runs of `kind`: medians, and the median of the per-round ratios. */
  const against = (kind) => {
    const theirs = ms(kind);
    return {
      a: median([...mine.values()]),
      b: median([...theirs.values()]),
      ratio: median([...mine].map(([i, t]) => t / theirs.get(i))),
      excess: median([...mine].map(([i, t]) => t - theirs.get(i))),
    };
  };
  const row = against('raw');
  const label = base ? `over http at ${rate} MB/s / curl -o f && sha256sum -c && tar xzf` : '/ sha256sum -c && tar xzf';
  console.log(`the Feature's install phase ${label} (in the container): ${row.a.toFixed(1)} ms vs ${row.b.toFixed(1)} ms, ratio ${row.ratio.toFixed(3)}, ${signed(row.excess)} ms (medians of ${rounds} rounds)`);
  if (otherSh) {
    row.other = against('other');
    console.log(`the Feature's install phase${base ? ` over http at ${rate} MB/s` : ''} / ${otherSh}: ${row.other.a.toFixed(1)} ms vs ${row.other.b.toFixed(1)} ms, ratio ${row.other.ratio.toFixed(3)}, ${signed(row.other.excess)} ms (medians of ${rounds} rounds)`);
  }
  return row;
}

const FEATURE_IMAGE = 'localhost/debian-minbase:bookworm';

/** bench/paced-server.mjs serving the artifact's directory; its URL and a way to stop it. */
async function pacedServer() {
  const child = spawn(process.execPath, [resolve('bench/paced-server.mjs'), dirname(artifact), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(createInterface({ input: child.stdout }), 'line');
  return { url: line, stop: () => child.kill() };
}

let server = null;
try {
  const node = () => time([process.execPath, '-e', '0']);
  const version = pair('cpy --version / node -e 0', () => time([process.execPath, cpy, '--version']), node);

  const home = join(work, 'home');
  const env = { CPY_HOME: home, CPY_CACHE_DIR: join(work, 'cache') };
  time([process.execPath, cpy, 'install', '--from', artifact, '--no-link', '--skip-validation'], env);
  const noop = pair('cpy install, already installed / node -e 0', () => time([process.execPath, cpy, 'install', '--from', artifact, '--no-link', '--skip-validation'], env), node);

  // A first install each time: a new CPY_HOME and cache, against a plain hash and unpack into a
  // new directory. Nothing is deleted between runs (on this disk a deletion slows the writes
  // that follow it), and `sync` before each run writes back what the previous run left dirty.
  let n = 0;
  const fresh = () => {
    n++;
    mkdirSync(join(work, `raw-${n}`), { recursive: true });
    spawnSync('sync');
  };
  /** A first install by the cpy `bin` of the artifact at `from`, into this run's new CPY_HOME and cache. */
  const freshInstall = (bin, from) => () =>
    time([process.execPath, bin, 'install', '--from', from, '--no-link', '--skip-validation'], { CPY_HOME: join(work, `fresh-${n}`), CPY_CACHE_DIR: join(work, `fresh-${n}`, 'cache') });
  /** The baseline of a local install: a plain hash and unpack of the artifact into this run's new directory. */
  const rawUnpack = () => time(['sh', '-c', 'sha256sum "$1" >/dev/null && tar xzf "$1" -C "$2"', 'sh', artifact, join(work, `raw-${n}`)]);
  const first = pair('cpy install, first / sha256sum && tar xzf', freshInstall(cpy, artifact), rawUnpack, { before: fresh });
  // An install from the cache (filled by the run above) at a new prefix: the artifact is read once
  // from there, hashed as it is unpacked, against the same plain hash and unpack.
  const cachedInstall = (bin) => () =>
    time([process.execPath, bin, 'install', '--from', artifact, '--prefix', join(work, `cached-${n}`, 'p'), '--no-link', '--skip-validation'], { CPY_HOME: join(work, `cached-${n}`), CPY_CACHE_DIR: join(work, 'cache') });
  const cached = pair('cpy install, from the cache / sha256sum && tar xzf', cachedInstall(cpy), rawUnpack, { before: fresh });
  // The same over http, the artifact served at --rate MB/s: the download, the hash and the
  // unpacking overlap in cpy; the baseline downloads, then hashes, then unpacks.
  server = await pacedServer();
  const url = `${server.url}/${basename(artifact)}`;
  const firstHttp = pair(
    `cpy install over http at ${rate} MB/s, first / curl -o f && sha256sum && tar xzf`,
    freshInstall(cpy, url),
    () => time(['sh', '-c', 'curl -fsS -o "$2/f" "$1" && sha256sum "$2/f" >/dev/null && tar xzf "$2/f" -C "$2"', 'sh', url, join(work, `raw-${n}`)]),
    { before: fresh },
  );
  const against = [];
  if (other) {
    for (const [label, from] of [['local', artifact], [`over http at ${rate} MB/s`, url]]) {
      const row = pair(`cpy install, first, ${label} / ${other}`, freshInstall(cpy, from), freshInstall(other, from), { before: fresh });
      against.push({ bench: `cpy install, first, ${label} (whole process, no validation)`, baseline: `the cpy of --against (${other})`, unit: 'ms', baselineValue: row.b, value: row.a, ratio: row.ratio, excess: row.excess, goal: '—' });
    }
    const row = pair(`cpy install, from the cache / ${other}`, cachedInstall(cpy), cachedInstall(other), { before: fresh });
    against.push({ bench: 'cpy install, from the cache, at a new prefix (whole process, no validation)', baseline: `the cpy of --against (${other})`, unit: 'ms', baselineValue: row.b, value: row.a, ratio: row.ratio, excess: row.excess, goal: '—' });
  }
  process.stderr.write(`(${n} fresh installs)\n`);
  let feature = null;
  let featureHttp = null;
  if (values['no-feature']) {
    // skipped, as asked
  } else if (spawnSync('podman', ['image', 'exists', FEATURE_IMAGE]).status !== 0) {
    process.stderr.write(`(the Feature rows are skipped: no podman image ${FEATURE_IMAGE}; scripts/setup-containers.sh makes it)\n`);
  } else {
    feature = featureInstallPhase(null, otherSh);
    featureHttp = featureInstallPhase(server.url, otherSh);
  }
  await reportRows([
    { bench: 'cpy --version (whole process)', baseline: 'node -e 0', unit: 'ms', baselineValue: version.b, value: version.a, ratio: version.ratio, excess: version.excess, goal: 'value < 80 ms' },
    { bench: 'cpy install, already installed (whole process)', baseline: 'node -e 0', unit: 'ms', baselineValue: noop.b, value: noop.a, ratio: noop.ratio, excess: noop.excess, goal: 'value < 120 ms' },
    { bench: 'cpy install, first (whole process, no validation)', baseline: 'sha256sum && tar xzf', unit: 'ms', baselineValue: first.b, value: first.a, ratio: first.ratio, excess: first.excess, goal: 'ratio <= 1.0' },
    { bench: 'cpy install from the cache, at a new prefix (whole process, no validation)', baseline: 'sha256sum && tar xzf', unit: 'ms', baselineValue: cached.b, value: cached.a, ratio: cached.ratio, excess: cached.excess, goal: '—' },
    {
      bench: `cpy install over http at ${rate} MB/s, first (whole process, no validation)`,
      baseline: 'curl -o f && sha256sum && tar xzf (same server)',
      unit: 'ms',
      baselineValue: firstHttp.b,
      value: firstHttp.a,
      ratio: firstHttp.ratio,
      excess: firstHttp.excess,
      goal: 'ratio <= 1.0',
    },
    ...(feature
      ? [{ bench: "the Feature's install phase (install.sh, minimal image, no validation)", baseline: 'sha256sum -c && tar xzf (same container)', unit: 'ms', baselineValue: feature.b, value: feature.a, ratio: feature.ratio, excess: feature.excess, goal: 'ratio <= 1.0' }]
      : []),
    ...(featureHttp
      ? [
          {
            bench: `the Feature's install phase over http at ${rate} MB/s (install.sh, minimal image, no validation)`,
            baseline: 'curl -o f && sha256sum -c && tar xzf (same container, same server)',
            unit: 'ms',
            baselineValue: featureHttp.b,
            value: featureHttp.a,
            ratio: featureHttp.ratio,
            excess: featureHttp.excess,
            goal: 'ratio <= 1.0',
          },
        ]
      : []),
    ...against,
    ...[
      [feature, 'local path'],
      [featureHttp, `over http at ${rate} MB/s`],
    ]
      .filter(([row]) => row?.other)
      .map(([row, label]) => ({ bench: `the Feature's install phase, ${label} (install.sh, minimal image, no validation)`, baseline: `the install.sh of --against (${otherSh})`, unit: 'ms', baselineValue: row.other.b, value: row.other.a, ratio: row.other.ratio, excess: row.other.excess, goal: '—' })),
  ]);
} finally {
  server?.stop();
  rmSync(work, { recursive: true, force: true });
}
