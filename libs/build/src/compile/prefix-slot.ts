import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PREFIX_SLOT_LITERAL } from '@cpy/artifact';

/** How Makefile.pre.in passes the prefix to Modules/getpath.c (the same from 3.8 to 3.14). */
const DEFINES = [`-DPREFIX='"$(prefix)"'`, `-DEXEC_PREFIX='"$(exec_prefix)"'`];

/**
 * The source tree's Makefile.pre.in with room after the prefix getpath.c compiles in
 * (PREFIX_SLOT_LITERAL, @cpy/artifact): C reads the same string, and the artifact's relocation
 * writes the install prefix there, so that a program embedding libpython, or a copy of the
 * interpreter, finds the standard library where it was installed, as a build configured there
 * would. False when the tree has no such defines (or no Makefile.pre.in) (it is left as it is; its artifacts relocate
 * all the rest as before).
 */
export async function makeRoomForPrefix(srcDir: string): Promise<boolean> {
  const file = join(srcDir, 'Makefile.pre.in');
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (text === null || !DEFINES.every((d) => text.includes(d))) return false;
  let out = text;
  for (const d of DEFINES) out = out.replace(d, () => `${d.slice(0, -1)} ${PREFIX_SLOT_LITERAL}'`);
  await writeFile(file, out);
  return true;
}
