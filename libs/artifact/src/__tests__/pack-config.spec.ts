import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { extractArtifact, packArtifact } from '../index.js';
import { packMetadata } from './pack-metadata.js';

const run = promisify(execFile);

// How CPython's bin/pythonX.Y-config (Misc/python-config.sh.in, 3.8 to 3.14) finds its prefix,
// word for word, and a --prefix that prints it.
const CONFIG_SCRIPT = `#!/bin/sh
installed_prefix ()
{
    RESULT=$(dirname $(cd $(dirname "$1") && pwd -P))
    if which readlink >/dev/null 2>&1 ; then
        if readlink -f "$RESULT" >/dev/null 2>&1; then
          RESULT=$(readlink -f "$RESULT")
        fi
    fi
    echo $RESULT
}

prefix_real=$(installed_prefix "$0")
case "$1" in --prefix) echo "$prefix_real" ;; esac
`;

const metadata = packMetadata();

let work: string;
beforeAll(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'cpy-pack-config-')));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** What `<link> --prefix` prints, `link` a symlink in a directory of its own to `script`. */
async function prefixThrough(script: string, linkDir: string): Promise<string> {
  await mkdir(linkDir, { recursive: true });
  await symlink(script, join(linkDir, 'python3-config'));
  return (await run(join(linkDir, 'python3-config'), ['--prefix'])).stdout.trim();
}

describe("packing a tree's pythonX.Y-config", () => {
  it('resolves its own link: run as a python3-config link in another directory, it names the tree it belongs to', async () => {
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'lib', 'python3.13'), { recursive: true });
    await mkdir(join(tree, 'bin'));
    await writeFile(join(tree, 'lib', 'python3.13', 'LICENSE.txt'), 'PSF\n');
    await writeFile(join(tree, 'bin', 'python3.13-config'), CONFIG_SCRIPT);
    await chmod(join(tree, 'bin', 'python3.13-config'), 0o755);
    // CPython's script, as `make install` leaves it: through the link, the link directory's parent.
    expect(await prefixThrough(join(tree, 'bin', 'python3.13-config'), join(work, 'usr', 'local', 'bin'))).toBe(join(work, 'usr', 'local'));

    const packed = await packArtifact({ installDir: tree, metadata, outDir: join(work, 'out'), strip: false, sourceDateEpoch: 1_700_000_000 });
    const dest = join(work, 'installed');
    const extracted = await extractArtifact(packed.path, { dest });
    const installed = join(dest, 'opt', 'python-3.13.5');
    expect(await prefixThrough(join(installed, 'bin', 'python3.13-config'), join(work, 'links', 'bin'))).toBe(installed);
    // Run where it is, it still names its tree; the metadata counts the bytes packed (installers
    // refuse a tree larger than it says).
    expect((await run(join(installed, 'bin', 'python3.13-config'), ['--prefix'])).stdout.trim()).toBe(installed);
    expect(await readFile(join(installed, 'bin', 'python3.13-config'), 'utf8')).toContain('readlink -f "$0"');
    expect(packed.metadata.contents).toMatchObject({ bytes: extracted.bytes, files: extracted.files });
  });
});
