import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { archiveUnreachable, installPackages, loadableLibraries } from '../compat.js';

// Real programs standing in for ldconfig (the lines `ldconfig -p` prints), and a real directory.
describe('loadableLibraries: the rule install.sh follows too', () => {
  let dir: string;
  const program = async (name: string, body: string) => {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };
  let lists: string;
  let fails: string;
  let silent: string;
  let libDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cpy-compat-'));
    lists = await program(
      'ldconfig-lists',
      "printf '3 libs found in cache `/etc/ld.so.cache'\"'\"'\\n\\tlibssl.so.3 (libc6,x86-64) => /usr/lib/libssl.so.3\\n\\tlibz.so.1 (libc6,x86-64) => /usr/lib/libz.so.1\\n\\tlibz.so.1 (libc6) => /usr/lib32/libz.so.1\\n'",
    );
    // As ldconfig -p without /etc/ld.so.cache: nothing listed, status 1.
    fails = await program('ldconfig-fails', "echo \"ldconfig: Can't open cache file /etc/ld.so.cache\" >&2; exit 1");
    silent = await program('ldconfig-silent', 'exit 0');
    libDir = join(dir, 'lib');
    await mkdir(libDir);
    await writeFile(join(libDir, 'libsqlite3.so.0'), '');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("is what the first ldconfig lists, each name once; the directories are not read then", async () => {
    expect([...(await loadableLibraries({ ldconfigs: [lists], dirs: [libDir] }))].sort()).toEqual(['libssl.so.3', 'libz.so.1']);
  });

  it('tries the next ldconfig when one fails or lists nothing, then reads the directories', async () => {
    expect([...(await loadableLibraries({ ldconfigs: [fails, lists], dirs: [libDir] }))].sort()).toEqual(['libssl.so.3', 'libz.so.1']);
    expect([...(await loadableLibraries({ ldconfigs: [fails, silent, join(dir, 'no-such-ldconfig')], dirs: [libDir, join(dir, 'no-such-dir')] }))]).toEqual(['libsqlite3.so.0']);
  });
});

describe('archiveUnreachable', () => {
  it("names what apt-get update said of an archive it could not reach (it exits 0 then, and the install's \"Unable to locate package\" blamed the package names)", () => {
    // What apt-get update -qq and install print in a container with no network (Debian 12).
    const said = [
      "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'",
      'W: Some index files failed to download. They have been ignored, or old ones used instead.',
      'E: Unable to locate package curl',
    ].join('\n');
    expect(archiveUnreachable(said)).toBe("W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease Temporary failure resolving 'deb.debian.org'");
    expect(archiveUnreachable('E: Unable to locate package libcpy-nonesuch1')).toBeNull();
  });
});

// An apt-get standing in for an image's whose own source is broken: its update fails, and then
// the package is not in the lists (as install.sh's conformance case has it).
describe('installPackages after an apt-get update that failed', () => {
  const asRoot = process.getuid?.() === 0;
  (asRoot ? it : it.skip)('names the update\'s failure as the cause, not the package names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-apt-stub-'));
    const path = process.env['PATH'];
    try {
      await writeFile(
        join(dir, 'apt-get'),
        '#!/bin/sh\ncase "$1" in\n  update) echo "E: The repository http://example.invalid bookworm Release is not signed." >&2; exit 100 ;;\n  install) echo "E: Unable to locate package libcpy-crit1" >&2; exit 100 ;;\nesac\n',
        { mode: 0o755 },
      );
      process.env['PATH'] = `${dir}:${path ?? ''}`;
      await expect(installPackages(['libcpy-crit1'])).rejects.toMatchObject({
        code: 'CPY_INSTALL_PACKAGES_FAILED',
        message: 'apt-get could not install libcpy-crit1, after apt-get update failed: E: The repository http://example.invalid bookworm Release is not signed.',
        hint: expect.stringContaining("check the image's package sources"),
      });
    } finally {
      process.env['PATH'] = path;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
