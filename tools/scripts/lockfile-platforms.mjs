// Adds the optional platform binaries (darwin, win32, musl...) that package-lock.json
// lacks when it was written against a registry mirror that only carries some
// platforms' packages. Without them `npm ci` refuses the lockfile ("Missing: ...
// from lock file"). Each entry gets os/cpu/libc from its package name, so npm skips
// it on other platforms and fetches it by version where it applies.
//
//   node tools/scripts/lockfile-platforms.mjs          fix package-lock.json
//   node tools/scripts/lockfile-platforms.mjs --check  exit 1 if anything is missing
import { readFileSync, writeFileSync } from 'node:fs';

const OS = ['darwin', 'linux', 'win32', 'freebsd', 'android', 'openharmony', 'sunos', 'aix', 'netbsd', 'openbsd'];
const CPU = ['arm64', 'x64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64', 'wasm32'];

function platformOf(name) {
  const tokens = name.split('/').pop().split('-');
  const os = tokens.find((t) => OS.includes(t));
  const cpu = tokens.find((t) => CPU.includes(t));
  if (!os || !cpu) return null;
  const entry = { os: [os], cpu: [cpu] };
  if (os === 'linux') {
    if (tokens.some((t) => t.startsWith('musl'))) entry.libc = ['musl'];
    else if (tokens.some((t) => t.startsWith('gnu'))) entry.libc = ['glibc'];
  }
  return entry;
}

const file = new URL('../../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;

/** Where node resolution from `from` finds `name`, or null. */
function resolve(from, name) {
  let dir = from;
  for (;;) {
    const at = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (pkgs[at]) return at;
    if (!dir) return null;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i === -1 ? '' : dir.slice(0, i);
  }
}

const added = [];
for (const [location, entry] of Object.entries(pkgs)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    if (resolve(location, name)) continue;
    const platform = platformOf(name);
    if (!platform) continue;
    const at = pkgs[`node_modules/${name}`] ? `${location}/node_modules/${name}` : `node_modules/${name}`;
    pkgs[at] = { version, ...platform, ...(entry.dev ? { dev: true } : {}), optional: true };
    added.push(`${at}@${version}`);
  }
}

if (process.argv.includes('--check')) {
  if (added.length) {
    console.error(`package-lock.json lacks ${added.length} optional platform packages; run node tools/scripts/lockfile-platforms.mjs`);
    process.exit(1);
  }
} else if (added.length) {
  lock.packages = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
  writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
  console.log(`added ${added.length} optional platform entries:\n  ${added.join('\n  ')}`);
}
