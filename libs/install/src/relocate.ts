import { open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Scripts in bin/ (pip3, pydoc3, idle3...) start with `#!<built-for prefix>/bin/python3.X`.
 * Installed elsewhere, they must name the new prefix. The interpreter and its
 * libraries need nothing: they find each other through $ORIGIN. Returns the
 * scripts rewritten and those whose new `#!` line is too long for the kernel.
 */
export async function relocateScripts(tree: string, builtFor: string, prefix: string): Promise<{ rewritten: string[]; tooLong: string[] }> {
  const rewritten: string[] = [];
  const tooLong: string[] = [];
  const bin = join(tree, 'bin');
  const old = `#!${builtFor}/`;
  for (const entry of await readdir(bin, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(bin, entry.name);
    const fh = await open(path, 'r');
    const head = Buffer.alloc(old.length);
    try {
      await fh.read(head, 0, old.length, 0);
    } finally {
      await fh.close();
    }
    if (head.toString('latin1') !== old) continue;
    const text = await readFile(path, 'latin1');
    const updated = `#!${prefix}/${text.slice(old.length)}`;
    if (updated.indexOf('\n') > 255) tooLong.push(entry.name);
    await writeFile(path, updated, 'latin1');
    rewritten.push(entry.name);
  }
  return { rewritten, tooLong };
}
