import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeRoomForPrefix } from '../compile/prefix-slot.js';

const run = promisify(execFile);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cpy-prefix-slot-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

// Modules/getpath.o's rule, as CPython 3.8 to 3.14 write it in Makefile.pre.in.
const RULE = `Modules/getpath.o: $(srcdir)/Modules/getpath.c Python/frozen_modules/getpath.h Makefile $(PYTHON_HEADERS)
\t$(CC) -c $(PY_CORE_CFLAGS) -DPYTHONPATH='"$(PYTHONPATH)"' \\
\t\t-DPREFIX='"$(prefix)"' \\
\t\t-DEXEC_PREFIX='"$(exec_prefix)"' \\
\t\t-DVERSION='"$(VERSION)"' \\
\t\t-o $@ $(srcdir)/Modules/getpath.c
`;

describe('makeRoomForPrefix (the prefix slot in getpath.o)', () => {
  it('pads -DPREFIX and -DEXEC_PREFIX with NULs and the marker: the same string to C, with room after it', async () => {
    const src = join(dir, 'src');
    await run('mkdir', ['-p', src]);
    await writeFile(join(src, 'Makefile.pre.in'), RULE);
    expect(await makeRoomForPrefix(src)).toBe(true);
    const text = await readFile(join(src, 'Makefile.pre.in'), 'utf8');
    const define = /-DPREFIX='("\$\(prefix\)" "(?:\\000){512}cpy-prefix-slot")'/.exec(text);
    expect(define).not.toBeNull();
    expect(text).toContain(`-DEXEC_PREFIX='"$(exec_prefix)" "${'\\000'.repeat(512)}cpy-prefix-slot"'`);
    expect(text).toContain(`-DVERSION='"$(VERSION)"'`);
    // What a C compiler makes of it, as the shell passes it on: the prefix to C, the room in the binary.
    const macro = define![1]!.replace('$(prefix)', '/opt/python-3.99.0');
    await writeFile(join(dir, 'p.c'), '#include <stdio.h>\n#include <string.h>\nstatic const char p[] = PREFIX;\nint main(void) { printf("%s %zu\\n", p, sizeof p); return 0; }\n');
    await run('cc', [`-DPREFIX=${macro}`, join(dir, 'p.c'), '-o', join(dir, 'p')]);
    expect((await run(join(dir, 'p'))).stdout).toBe(`/opt/python-3.99.0 ${'/opt/python-3.99.0'.length + 512 + 'cpy-prefix-slot'.length + 1}\n`);
  });

  it('leaves a tree without those defines (or without Makefile.pre.in) as it is', async () => {
    const other = join(dir, 'other');
    await run('mkdir', ['-p', other]);
    expect(await makeRoomForPrefix(other)).toBe(false);
    await writeFile(join(other, 'Makefile.pre.in'), 'all:\n\ttrue\n');
    expect(await makeRoomForPrefix(other)).toBe(false);
    expect(await readFile(join(other, 'Makefile.pre.in'), 'utf8')).toBe('all:\n\ttrue\n');
  });
});
