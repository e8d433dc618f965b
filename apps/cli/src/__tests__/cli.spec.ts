import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { COMMAND_TABLE, loadCommands, main, type CliIO } from '../index.js';
import { readInput } from '../main.js';
import { closingOpenLines } from '../io.js';

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: { write: (t: string) => (stdout += t), isTTY: false },
    stderr: { write: (t: string) => (stderr += t), isTTY: false },
    env,
    cwd: process.cwd(),
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

describe('cpy command line', () => {
  it('prints help with every command, exit 0; no arguments is a usage error (exit 2)', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: cpy <command>/);
    expect(help.stdout).toMatch(/doctor\s+Check this host/);
    expect(help.stdout).toMatch(/build\s+Build CPython/);
    expect(help.stdout).toMatch(/publish\s+Publish an artifact as a GitHub Release/);
    expect(help.stdout).not.toMatch(/not available yet/);
    expect((await run([])).code).toBe(2);
  });

  it('dispatches from a light command table that agrees with every command it loads', async () => {
    const specs = await loadCommands();
    expect(specs.map((s) => [s.name, s.summary])).toEqual(COMMAND_TABLE.map((c) => [c.name, c.summary]));
    const help = (await run(['--help'])).stdout;
    for (const c of COMMAND_TABLE) expect(help).toContain(`${c.name.padEnd(Math.max(...COMMAND_TABLE.map((x) => x.name.length)))}  ${c.summary}\n`);
  });

  it('has --help on every command', async () => {
    for (const argv of [['doctor', '--help'], ['source', 'fetch', '-h'], ['help', 'install'], ['vm', '--help']]) {
      const r = await run(argv);
      expect([r.code, r.stdout]).toEqual([0, expect.stringMatching(/Usage: cpy /)]);
    }
  });

  it("every example in every command's help is a command line its schema takes (the help cannot show what cpy refuses)", async () => {
    const specs = await loadCommands();
    const checked: string[] = [];
    for (const spec of specs) {
      for (const example of spec.examples ?? []) {
        // The command line a shell would hand cpy: no VAR=... before it, no # comment or > after it, quotes
        // removed, a variable ($GITHUB_SHA) as the 40 hex digits CI sets it to.
        const line = example.replace(/\s+#.*$/, '').replace(/\s+>.*$/, '').replace(/^(\w+=\S+\s+)+/, '').replace(/\$\w+/g, 'a'.repeat(40));
        const words = [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
        expect([example, words.slice(0, 1 + spec.name.split(' ').length).join(' ')]).toEqual([example, `cpy ${spec.name}`]);
        const read = readInput(spec, words.slice(1 + spec.name.split(' ').length));
        expect([example, read.ok ? 'takes it' : read.message]).toEqual([example, 'takes it']);
        checked.push(example);
      }
    }
    expect(checked.length).toBeGreaterThan(40);
  });

  it('every cpy command line in the README and docs/ is one cpy takes (a placeholder a user would copy is refused)', async () => {
    const specs = await loadCommands();
    const root = fileURLToPath(new URL('../../../../', import.meta.url));
    const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
    const refused: string[] = [];
    let checked = 0;
    // The shell blocks, fence by fence (a regex over the text took a jsonc block's closing fence for an opening one).
    const shellBlocks = (text: string): string[] => {
      const blocks: string[] = [];
      let open: string | null = null;
      let lines: string[] = [];
      for (const line of text.split('\n')) {
        const fence = /^\s*```(\w*)/.exec(line);
        if (!fence) lines.push(line);
        else if (open === null) [open, lines] = [fence[1]!, []];
        else {
          if (['', 'sh', 'bash', 'console', 'shell'].includes(open)) blocks.push(lines.join('\n'));
          open = null;
        }
      }
      return blocks;
    };
    for (const file of files) {
      for (const block of shellBlocks(readFileSync(join(root, file), 'utf8'))) {
        for (const raw of block.replace(/\\\n\s*/g, ' ').split('\n')) {
          const line = raw.replace(/^\$ /, '').trim().replace(/\s+#.*$/, '').replace(/\s+[>|].*$/, '').replace(/^(\w+=\S+\s+)+/, '').replace(/\$\w+/g, 'a'.repeat(40));
          if (!line.startsWith('cpy ')) continue;
          const words = [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
          const spec = specs.filter((s) => words.slice(1, 1 + s.name.split(' ').length).join(' ') === s.name).sort((a, b) => b.name.length - a.name.length)[0];
          checked++;
          if (!spec) refused.push(`${file}: no such command: ${raw}`);
          else if (!words.includes('--help')) {
            const read = readInput(spec, words.slice(1 + spec.name.split(' ').length));
            if (!read.ok) refused.push(`${file}: ${read.message}: ${raw}`);
          }
        }
      }
    }
    expect(refused).toEqual([]);
    expect(checked).toBeGreaterThan(30);
  });

  it('--help --json gives the help as one JSON document, with what the text says (it printed the text)', async () => {
    const top = await run(['--help', '--json']);
    expect(top.code).toBe(0);
    const topHelp = JSON.parse(top.stdout);
    expect(topHelp).toMatchObject({ outcome: 'success', command: null, help: { exitCodes: { 0: 'success', 2: expect.stringContaining('usage') } } });
    expect(topHelp.help.commands).toEqual(COMMAND_TABLE.map((c) => ({ name: c.name, summary: c.summary })));
    const verify = JSON.parse((await run(['artifact', 'verify', '--help', '--json'])).stdout);
    expect(verify).toMatchObject({ outcome: 'success', command: 'artifact verify', help: { usage: 'cpy artifact verify <file> [options]', available: true, arguments: [{ name: 'file', required: true, description: 'the signed file' }] } });
    // Required and repeatable as the text marks them, from the same data.
    expect(verify.help.options).toEqual(
      expect.arrayContaining([
        { name: '--signer', value: '<fingerprint>', required: true, repeatable: true, description: 'a pinned signer (40 hex digits)' },
        { name: '--signature', value: '<file>', required: false, repeatable: false, description: 'the signature (default <file>.asc)' },
        { name: '--help', short: '-h', required: false, repeatable: false, description: 'show help' },
      ]),
    );
    const group = JSON.parse((await run(['help', 'source', '--json'])).stdout);
    expect([group.command, group.help.map((h: { command: string }) => h.command)]).toEqual(['source', ['source fetch', 'source verify']]);
    // No command at all, with --json: a usage error as JSON (exit 2), not the help called a success.
    const none = await run(['--json']);
    expect([none.code, JSON.parse(none.stdout).error.code]).toEqual([2, 'CPY_CLI_USAGE']);
  });

  it('prints its version', async () => {
    expect((await run(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(JSON.parse((await run(['--version', '--json'])).stdout)).toMatchObject({ outcome: 'success' });
  });

  it('rejects unknown commands and flags with exit 2 and a hint, on stderr', async () => {
    const unknown = await run(['frobnicate']);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/\[CPY_CLI_USAGE\]: unknown command 'frobnicate'\n\s+hint: run `cpy --help`/);

    const flag = await run(['doctor', '--frob']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/Unknown option '--frob'/);

    const bad = await run(['doctor', '--min-free-gb', 'lots', '--json']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({
      outcome: 'error',
      error: { code: 'CPY_CLI_USAGE', message: '--min-free-gb: must be a number of GiB, e.g. 3' },
    });

    const sub = await run(['source', 'frob']);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toMatch(/unknown command 'cpy source frob'.*\n.*source fetch, source verify/);
    // With --help too: it printed every source command's help and exited 0.
    const subHelp = await run(['source', 'frob', '--help']);
    expect([subHelp.code, subHelp.stdout]).toEqual([2, '']);
    expect(subHelp.stderr).toMatch(/unknown command 'cpy source frob'/);
    // The group's help says first what it holds, a line each (the first command's long help read as the group's).
    const groupHelp = await run(['venv', '--help']);
    expect(groupHelp.code).toBe(0);
    expect(groupHelp.stdout).toMatch(/^The commands of cpy venv:\n {2}cpy venv upgrade {2,}\S.*\n {2}cpy venv rollback +\S.*\n {2}cpy venv list +\S.*\n\nUsage: cpy venv upgrade /);

    // An argument too many, and an option given empty, in the user's terms (they were zod's:
    // "Too big: expected array to have <=0 items", "Too small: expected string to have >=1 characters").
    for (const [argv, said] of [
      [['rollback', '3.13'], 'unexpected argument: 3.13 (cpy rollback takes none)'],
      [['outdated', 'a', 'b'], 'unexpected arguments: a b (cpy outdated takes none)'],
      [['index', 'show', 'index.json'], 'unexpected argument: index.json (cpy index show takes none)'],
      [['index', 'add', 'a.tgz', 'b.tgz', '--url', 'https://mirror.example/a.tgz', '--index', 'index.json'], 'unexpected argument: b.tgz (cpy index add takes one)'],
      [['list', '--available', '--index', ''], '--index: must not be empty'],
      [['outdated', '--index', ''], '--index: must not be empty'],
      [['artifact', 'validate', ''], '<file>: must not be empty'],
      [['compare', '3.12', '3.13', '3.14'], 'unexpected argument: 3.14 (cpy compare takes 2)'],
      [['install', '--from', 'a.tgz', '--sha256', 'a'.repeat(64), '--checksum-url', 'a.tgz.sha256'], '--checksum-url: cannot go with --sha256 (both give the expected sha256): give one'],
      [['install', '--from', 'a.tgz', '--prefix=~/py'], '--prefix: cpy does not expand ~ (a shell does only at the start of a word: --prefix ~/py, not --prefix=~/py); give $HOME/... or the whole path'],
      [['use', '3.13', '--bin-dir=~/bin'], expect.stringMatching(/^--bin-dir: cpy does not expand ~/)],
      // A bad argument is said with what was read; an artifact where the version goes, where it goes.
      [['use', '3.1x'], "version '3.1x': must be a CPython version (3.13.5, 3.14.0rc2), a release line (3.13, 3), or latest"],
      [['install', 'dist/artifacts/cpython-3.13.5-debian12-build1.tgz'], "version 'dist/artifacts/cpython-3.13.5-debian12-build1.tgz': an artifact, not a version: give it with --from (cpy install --from <file|url>)"],
      [['install', 'https://example.com/python.tgz'], expect.stringMatching(/^version 'https:\/\/example.com\/python.tgz': an artifact, not a version: give it with --from/)],
      // A builder's option without that builder: the build ran on the host without a word.
      [['build', '3.13.5', '--engine', 'docker'], '--engine: is for --builder container (the engine that runs its container)'],
      [['build', '3.13.5', '--builder', 'host', '--vagrant-dir', 'vm'], '--vagrant-dir: is for --builder vagrant (the folder of its Vagrantfile)'],
      // Another architecture on this host: a cross build, which needs the container builder (said after the fetch, exit 1).
      [['build', '3.13.5', '--arch', 'sparc64'], expect.stringMatching(/^--arch sparc64: a build for sparc64 on this \S+ host is a cross build, which cpy runs in a container it provisions$/)],
      // Numbers written as numbers (a coercion took 1e2 and 0x10); a pattern's own words, not zod's.
      [['artifact', 'test', 'x.tgz', '--jobs', '1e2'], '--jobs: must be a number of jobs, 1 to 256'],
      [['artifact', 'test', 'x.tgz', '--jobs', '300'], '--jobs: must be a number of jobs, 1 to 256'],
      [['publish', 'x.tgz', '--tag', 'a b'], expect.stringMatching(/^--tag: must be a tag name of letters, digits and \. _ -/)],
      // A cross build's tests cannot run: said before the build (it was said when packing, after the build).
      [['build', '3.13.5', '--arch', 'sparc64', '--builder', 'container', '--image', 'img', '--run-tests', 'critical'], expect.stringMatching(/^--run-tests runs CPython's tests, which start python3 from python3: not possible for a cross build \(--arch sparc64\)/)],
      // The global flags before the command, as after it.
      [['--json', 'rollback', '3.13'], 'unexpected argument: 3.13 (cpy rollback takes none)'],
      // Names no one version to remove: said as usage before anything is read (it exited 1).
      [['uninstall', '3'], "version '3': must be an installed version (3.13.5) or its release line (3.13)"],
      [['uninstall', 'latest'], "version 'latest': must be an installed version (3.13.5) or its release line (3.13)"],
    ] as const) {
      const r = await run([...argv, '--json']);
      expect([argv.join(' '), r.code, JSON.parse(r.stdout).error]).toEqual([argv.join(' '), 2, expect.objectContaining({ code: 'CPY_CLI_USAGE', message: said })]);
    }
    // No index from a flag or CPY_INDEX_URL: a usage error, as index show says it (they exited 1).
    const noIndex = await run(['list', '--available', '--json'], { CPY_INDEX_URL: '' });
    expect([noIndex.code, JSON.parse(noIndex.stdout).error.code]).toEqual([2, 'CPY_INSTALL_NO_INDEX']);
    // Signers pinned and no keys named (no --trusted-keys, no index beside which cpy-keys.asc is): the same (it exited 1).
    const home = await mkdtemp(join(tmpdir(), 'cpy-cli-keys-'));
    try {
      const noKeys = await run(['install', '--from', join(home, 'cpython-3.13.5-debian12-build1.tgz'), '--sha256', 'a'.repeat(64), '--signer', '0123456789ABCDEF0123456789ABCDEF01234567', '--json'], { CPY_HOME: home, CPY_CACHE_DIR: join(home, 'cache'), CPY_INDEX_URL: '', CPY_TRUSTED_KEYS_URL: '' });
      expect([noKeys.code, JSON.parse(noKeys.stdout).error.code]).toEqual([2, 'CPY_INSTALL_NO_TRUSTED_KEYS']);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('cpy build with a file where its work directory goes says so before any download (it said CPY_BUILD_BUSY, another build, after the fetch)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-cli-workdir-'));
    try {
      const file = join(dir, 'a-file');
      await writeFile(file, '');
      // A mirror nothing answers on: had the fetch run, the error would be the download's.
      const r = await run(['build', '3.13.5', '--builder', 'host', '--work-dir', file, '-o', join(dir, 'out'), '--json'], { CPY_PYTHON_MIRRORS: 'http://127.0.0.1:9/ftp/python', CPY_CACHE_DIR: join(dir, 'cache') });
      expect([r.code, JSON.parse(r.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_CLI_CANNOT_WRITE', message: `cannot build in ${file}: a file is where that directory goes` })]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a required flag left out is said to be required, and a repeated flag is named as typed', async () => {
    const missing = await run(['keys', 'generate', '--json']);
    expect([missing.code, JSON.parse(missing.stdout).error]).toEqual([2, expect.objectContaining({ code: 'CPY_CLI_USAGE', message: '--name is required' })]);
    const to = await run(['venv', 'upgrade', '/tmp/v', '--json']);
    expect(JSON.parse(to.stdout).error.message).toBe('--to is required');
    const repeated = await run(['venv', 'upgrade', '/tmp/v', '--to', '3.13', '--exclude', 'ok', '--exclude', 'not ok', '--json']);
    expect([repeated.code, JSON.parse(repeated.stdout).error.message]).toEqual([2, '--exclude: a distribution name (letters, digits, . _ -)']);
    // a flag given but empty is wrong, not missing: the schema's own words
    const empty = await run(['keys', 'generate', '--name', '', '--json']);
    expect(JSON.parse(empty.stdout).error.message).toMatch(/^--name: give the owner/);
    // What openpgp.js cannot take is said by the flag, not as a bug in cpy: an expiry past what
    // OpenPGP can say (it wrapped round), an address without a dotted domain; signers that are only commas.
    for (const [argv, said] of [
      [['keys', 'generate', '--name', 'A', '--email', 'a@b.example', '--expires-days', '49711'], /^--expires-days: at most 49710 days/],
      [['keys', 'generate', '--name', 'A', '--email', 'a@b'], /^--email: must be an e-mail address/],
      [['artifact', 'verify', 'f', '--signer', ', ,', '--trusted-keys', 'k.asc'], /^--signer: pin at least one signer/],
      // A signer that is no fingerprint is the flag's fault wherever it is given (it was exit 1, CPY_SIGNER_INVALID, but for publish's --index-signer).
      [['artifact', 'verify', 'f', '--signer', 'ABCDEF12', '--trusted-keys', 'k.asc'], /^--signer: 'ABCDEF12' is not a key fingerprint: give the 40 hex digits/],
      [['install', '3.13', '--signer', `${'A'.repeat(40)},abc`], /^--signer: 'abc' is not a key fingerprint/],
      [['list', '--available', '--index', 'index.json', '--signer', 'abc'], /^--signer: 'abc' is not a key fingerprint/],
      // Given but empty (`--signer "$FPR"` with FPR unset): it pinned nobody, and nothing was checked.
      [['install', '3.13', '--signer', ''], /^--signer: pin at least one signer: --signer <fingerprint> \(an empty value pins nobody/],
      [['list', '--available', '--index', 'index.json', '--signer', ' , '], /^--signer: pin at least one signer/],
      [['venv', 'upgrade', '/tmp/v', '--to', '3.13', '--signer', ''], /^--signer: pin at least one signer/],
    ] as const) {
      const r = await run([...argv, '--json']);
      expect([argv[2], r.code, JSON.parse(r.stdout).error.code, JSON.parse(r.stdout).error.message]).toEqual([argv[2], 2, 'CPY_CLI_USAGE', expect.stringMatching(said)]);
    }
    // Each command's help marks what its schema cannot do without, and only that.
    const verify = (await run(['artifact', 'verify', '--help'])).stdout;
    expect(verify).toMatch(/--signer <fingerprint>\s+\(required\) a pinned signer/);
    expect(verify).toMatch(/--trusted-keys <file>\s+\(required\) /);
    expect(verify).toMatch(/--signature <file>\s+the signature/);
    expect((await run(['keys', 'generate', '--help'])).stdout).toMatch(/--email <email>\s+\(required\) /);
    expect((await run(['venv', 'upgrade', '--help'])).stdout).toMatch(/--to <version>\s+\(required\) /);
    expect((await run(['install', '--help'])).stdout).not.toContain('(required)');
  });

  it('publish: --prerelease with --no-prerelease is a usage error (the last one silently won)', async () => {
    const r = await run(['publish', 'x.tgz', '--prerelease', '--no-prerelease', '--json']);
    expect([r.code, JSON.parse(r.stdout).error]).toEqual([2, expect.objectContaining({ code: 'CPY_CLI_USAGE', message: '--prerelease: cannot go with --no-prerelease (they say opposite things): give one' })]);
  });

  it('cpy help <group> lists the group as cpy <group> --help does', async () => {
    const asked = await run(['help', 'source']);
    expect(asked).toMatchObject({ code: 0, stdout: (await run(['source', '--help'])).stdout });
    expect(asked.stdout).toMatch(/Usage: cpy source fetch/);
  });

  it("what the user gave that cannot be read or written is said as such, never as a bug in cpy", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-cli-io-'));
    try {
      // build: the spec's own limits, named by the option (usage, exit 2).
      for (const [flag, value] of [['--prefix', 'opt/py'], ['--jobs', '300'], ['--build', '10000']] as const) {
        const r = await run(['build', '3.13.5', flag, value, '--json']);
        expect([flag, r.code, JSON.parse(r.stdout).error.code, JSON.parse(r.stdout).error.message]).toEqual([flag, 2, 'CPY_CLI_USAGE', expect.stringMatching(new RegExp(`^${flag}: `))]);
      }
      // build: what would fail only once the build is done is refused before it starts (a build
      // takes minutes): packing options that cannot go together, the prefix as a configure
      // argument (configure would install where nothing is packed from), an -o that is a file.
      for (const [args, message] of [
        [['--no-strip', '--debug-symbols'], /drop --no-strip or --debug-symbols/],
        [['--run-tests', 'critical', '--no-tests-asset'], /--run-tests needs the tests asset/],
        [['--configure-arg=--prefix=/x'], /the install prefix is the prefix option \(cpy build --prefix\)/],
      ] as const) {
        const r = await run(['build', '3.13.5', ...args, '--json']);
        expect([args, r.code, JSON.parse(r.stdout).error]).toEqual([args, 2, expect.objectContaining({ code: 'CPY_CLI_USAGE', message: expect.stringMatching(message) })]);
      }
      await writeFile(join(dir, 'a-file'), 'notes\n');
      // (Before the source is fetched: the mirror here answers nothing.)
      const out = await run(['build', '3.13.5', '-o', join(dir, 'a-file'), '--mirror', 'http://127.0.0.1:9/', '--json']);
      expect([out.code, JSON.parse(out.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_CLI_CANNOT_WRITE', message: `cannot put the artifact in ${join(dir, 'a-file')}: a file is where that directory goes` })]);
      // install: the library's rules on its options, named by the flag (usage, exit 2).
      for (const [flag, value] of [['--prefix', '/tmp/a b'], ['--from', 'http://example.test/%zz/cpython-3.13.5-debian12-build1.tgz']] as const) {
        const r = await run(['install', '3.13.5', flag, value, '--json'], { CPY_HOME: join(dir, 'home') });
        expect([flag, r.code, JSON.parse(r.stdout).error.code, JSON.parse(r.stdout).error.message]).toEqual([flag, 2, 'CPY_CLI_USAGE', expect.stringMatching(new RegExp(`^${flag}: `))]);
      }
      // source verify: a directory is not a tarball (it was EISDIR, an internal error); a private
      // key given as a trusted key is refused, as artifact verify's --trusted-keys refuses one.
      const dirVerify = await run(['source', 'verify', dir, '--version', '3.13.5', '--json']);
      expect([dirVerify.code, JSON.parse(dirVerify.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_CLI_CANNOT_READ', message: `${dir} is not a file` })]);
      expect((await run(['keys', 'generate', '--name', 'T', '--email', 't@example.org', '--out', join(dir, 'private.asc'), '--json'])).code).toBe(0);
      await writeFile(join(dir, 'Python-3.13.5.tar.xz'), 'not really a tarball');
      const privateKey = await run(['source', 'verify', join(dir, 'Python-3.13.5.tar.xz'), '--trusted-key', join(dir, 'private.asc'), '--json']);
      expect([privateKey.code, JSON.parse(privateKey.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_SOURCE_BAD_KEY', message: `cannot use ${join(dir, 'private.asc')} as a trusted key: it holds a private key` })]);
      // artifact sign checks every file first: one missing after the first left that one signed and an error.
      await writeFile(join(dir, 'a.txt'), 'a\n');
      const partly = await run(['artifact', 'sign', join(dir, 'a.txt'), join(dir, 'nope.txt'), '--signing-key', join(dir, 'private.asc'), '--json']);
      expect([partly.code, JSON.parse(partly.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_ARTIFACT_NOT_FOUND', message: `${join(dir, 'nope.txt')} does not exist` })]);
      expect(existsSync(join(dir, 'a.txt.asc'))).toBe(false);
      // publish: a --notes-template that is not there (before any token or network).
      const notes = await run(['publish', join(dir, 'x.tgz'), '--notes-template', join(dir, 'missing.md'), '--json'], { GITHUB_TOKEN: 'unused' });
      expect(JSON.parse(notes.stdout).error).toMatchObject({ code: 'CPY_CLI_CANNOT_READ', message: expect.stringContaining('--notes-template') });
      // keys generate: a public key file in the way leaves no private key behind.
      await writeFile(join(dir, 'k.pub.asc'), 'theirs');
      const keys = await run(['keys', 'generate', '--name', 'T', '--email', 't@example.org', '--out', join(dir, 'k.asc'), '--json']);
      expect(JSON.parse(keys.stdout).error.code).toBe('CPY_KEYS_EXISTS');
      expect(existsSync(join(dir, 'k.asc'))).toBe(false);
      // source fetch -o: a file where the directory should be.
      await mkdir(join(dir, 'mirror', '3.13.5'), { recursive: true });
      await writeFile(join(dir, 'mirror', '3.13.5', 'Python-3.13.5.tar.xz'), 'not really a tarball');
      await writeFile(join(dir, 'taken'), '');
      const fetched = await run(['source', 'fetch', '3.13.5', '--mirror', join(dir, 'mirror'), '--allow-unsigned', '--cache-dir', join(dir, 'cache'), '-o', join(dir, 'taken'), '--json']);
      expect([fetched.code, JSON.parse(fetched.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_CLI_CANNOT_WRITE', message: `cannot write the source into ${join(dir, 'taken')}: a file is where that directory goes` })]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a URL of a scheme cpy does not read (ftp://, s3://) is refused as such, never read as a path under the working directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-cli-scheme-'));
    try {
      const env = { CPY_HOME: join(dir, 'home'), CPY_CACHE_DIR: join(dir, 'cache') };
      // Read by the library: its code, the URL without the password, what to do.
      for (const argv of [['index', 'show', '--index', 'ftp://me:secret@mirror.example/index.json'], ['outdated', '--index', 'ftp://me:secret@mirror.example/index.json']]) {
        const r = await run([...argv, '--json'], env);
        expect([argv[0], r.code, JSON.parse(r.stdout).error]).toEqual([
          argv[0],
          1,
          expect.objectContaining({ code: 'CPY_INSTALL_BAD_OPTIONS', message: 'ftp://mirror.example/index.json: cpy reads http://, https:// and file:// URLs and paths, not ftp://' }),
        ]);
        expect(r.stdout).not.toContain('secret');
      }
      // An install's options: a usage error named by the flag.
      const from = await run(['install', '--from', 's3://bucket/cpython-3.13.5-debian12-build1.tgz', '--json'], env);
      expect([from.code, JSON.parse(from.stdout).error.code, JSON.parse(from.stdout).error.message]).toEqual([2, 'CPY_CLI_USAGE', expect.stringMatching(/^--from: must be an http\(s\) or file URL/)]);
      expect(existsSync(join(process.cwd(), 'ftp:'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('validates source fetch/verify input before doing anything (exit 2)', async () => {
    const version = await run(['source', 'fetch', '3.13', '--json']);
    expect(version.code).toBe(2);
    expect(JSON.parse(version.stdout).error).toMatchObject({ code: 'CPY_CLI_USAGE', message: expect.stringMatching(/^version '3.13': expected a CPython release version/) });
    const pin = await run(['source', 'fetch', '3.13.5', '--sha256', 'abc']);
    expect([pin.code, pin.stderr]).toEqual([2, expect.stringMatching(/--sha256: must be a sha256/)]);
    expect((await run(['source', 'fetch'])).code).toBe(2);
    expect((await run(['source', 'verify', 'a', 'b'])).code).toBe(2);
    const named = await run(['source', 'verify', 'package.json']);
    expect([named.code, named.stderr]).toEqual([2, expect.stringMatching(/cannot tell the version of package\.json/)]);
  });

  it('publish: no artifact is a usage error (exit 2); no token is an operational error that says what to set', async () => {
    const usage = await run(['publish', '--json']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toMatchObject({ outcome: 'error', command: 'publish', error: { code: 'CPY_CLI_USAGE' } });
    const { fileURLToPath } = await import('node:url');
    const artifact = fileURLToPath(new URL('../../package.json', import.meta.url));
    const noRepo = await run(['releases', 'list', '--json'], { GITHUB_REPOSITORY: '', GITHUB_TOKEN: '', GH_TOKEN: '' });
    expect([noRepo.code, JSON.parse(noRepo.stdout).error.code]).toEqual([2, 'CPY_PUBLISH_NO_REPOSITORY']);
    // Set, but not owner/name: said as given; an API URL of another scheme, as such.
    const badRepo = await run(['releases', 'list', '--json'], { GITHUB_REPOSITORY: 'builds', GITHUB_TOKEN: '', GH_TOKEN: '' });
    expect([badRepo.code, JSON.parse(badRepo.stdout).error]).toEqual([2, expect.objectContaining({ code: 'CPY_PUBLISH_NO_REPOSITORY', message: "GITHUB_REPOSITORY is 'builds', not owner/name" })]);
    const ftp = await run(['releases', 'list', '--repo', 'acme/builds', '--api-url', 'ftp://github.example/api', '--json']);
    expect([ftp.code, JSON.parse(ftp.stdout).error.message]).toEqual([2, expect.stringMatching(/^--api-url: must be an http\(s\) URL/)]);
    // The token would cross the network in the clear: http is for a server on this machine only.
    const http = await run(['releases', 'list', '--repo', 'acme/builds', '--api-url', 'http://github.example/api/v3', '--json'], { GITHUB_TOKEN: 'ghp_x' });
    expect([http.code, JSON.parse(http.stdout).error.message]).toEqual([2, expect.stringMatching(/^--api-url: must be https:\/\/ \(http:\/\/ would send the token in the clear/)]);
    const noToken = await run(['releases', 'prune', '--repo', 'acme/builds', '--json'], { GITHUB_TOKEN: '', GH_TOKEN: '' });
    expect([noToken.code, JSON.parse(noToken.stdout).error]).toEqual([1, expect.objectContaining({ code: 'CPY_PUBLISH_NO_TOKEN', message: expect.stringMatching(/GITHUB_TOKEN/) })]);
    expect((await run(['publish', artifact, '--repo', 'acme/builds', '--json'])).code).toBe(1);
  });

  it('artifact pack refuses a directory that holds no finished build, and reads a damaged result as such', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'cpy-pack-'));
    try {
      const none = await run(['artifact', 'pack', dir, '--json']);
      expect(none.code).toBe(1);
      expect(JSON.parse(none.stdout).error).toMatchObject({ code: 'CPY_BUILD_NOT_FINISHED', message: expect.stringContaining('build-result.json') });
      await writeFile(join(dir, 'build-result.json'), JSON.stringify({ version: '3.13.5', build: 0 }));
      const bad = await run(['artifact', 'pack', dir, '--json']);
      expect(JSON.parse(bad.stdout).error).toMatchObject({ code: 'CPY_BUILD_RESULT_INVALID', message: expect.stringMatching(/build: /) });
      // Its record a directory: said so (it was "does not exist").
      const { mkdir } = await import('node:fs/promises');
      await mkdir(join(dir, 'odd', 'build-result.json'), { recursive: true });
      const odd = await run(['artifact', 'pack', join(dir, 'odd'), '--json']);
      expect(JSON.parse(odd.stdout).error).toMatchObject({ code: 'CPY_BUILD_NOT_FINISHED', message: `${join(dir, 'odd', 'build-result.json')} is a directory: ${join(dir, 'odd')} is not a finished build` });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('doctor --json prints exactly one JSON document with an outcome, logs stay off stdout', async () => {
    const r = await run(['doctor', '--json', '--min-free-gb', '0']);
    const doc = JSON.parse(r.stdout);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(doc.command).toBe('doctor');
    expect(doc.outcome).toBe(doc.report.ok ? 'success' : 'error');
    expect(r.code).toBe(doc.report.ok ? 0 : 1);
    expect(doc.report.checks.map((c: { id: string }) => c.id)).toEqual(
      expect.arrayContaining(['cc', 'make', 'pkg-config', 'ssl', 'sqlite3', 'uuid', 'lzma', 'bz2', 'ctypes', 'zlib', 'readline', 'disk']),
    );
  });

  it('doctor fails with exit 1, naming what is missing and how to fix it', async () => {
    const r = await run(['doctor', '--min-free-gb', '1000000']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/MISS disk\s+.* free at .*\(1000000\.0 GiB needed\)$/m);
    expect(r.stdout).toMatch(/Missing: .*disk/);
    // Its code and what to do, as every error says them (only --json carried them).
    expect(r.stderr).toMatch(/^error \[CPY_BUILD_HOST_INCOMPLETE\]: .+\n {2}hint: .+\n$/);
  });

  it('colours only when asked, and never with NO_COLOR', async () => {
    const esc = '\u001b[';
    expect((await run(['doctor', '--min-free-gb', '0'], { FORCE_COLOR: '1' })).stdout).toContain(esc);
    expect((await run(['doctor', '--min-free-gb', '0'], { FORCE_COLOR: '1', NO_COLOR: '1' })).stdout).not.toContain(esc);
    expect((await run(['doctor', '--min-free-gb', '0', '--no-color'], { FORCE_COLOR: '1' })).stdout).not.toContain(esc);
    expect((await run(['doctor', '--min-free-gb', '0'])).stdout).not.toContain(esc);
    // Four real doctor runs (each asks the host's compiler and tools): about 1 s each when the
    // machine is busy, more than Jest's default 5 s in all (a fresh-clone run on 2026-12-02).
  }, 30_000);
});

describe('stderr with a progress line drawn on it', () => {
  it('ends the open line before a log line or an error, and lets redraws through (they were glued: "45%error [...]")', () => {
    let out = '';
    const io = closingOpenLines({ stdout: { write: () => true }, stderr: { write: (t: string) => (out += t), isTTY: true }, env: {}, cwd: '/' });
    io.stderr.write('\r\u001b[2Kf.tgz  [###...]  10%');
    io.stderr.write('\r\u001b[2Kf.tgz  [######]  45%');
    io.stderr.write('cpy stopping the install (Ctrl-C again to stop at once)...\n');
    io.stderr.write('error [CPY_INSTALL_CANCELLED]: stopped\n');
    expect(out).toBe('\r\u001b[2Kf.tgz  [###...]  10%\r\u001b[2Kf.tgz  [######]  45%\ncpy stopping the install (Ctrl-C again to stop at once)...\nerror [CPY_INSTALL_CANCELLED]: stopped\n');
    expect(io.stderr.isTTY).toBe(true);
  });
});
