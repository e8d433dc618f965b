import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const SRC = join(fileURLToPath(new URL('.', import.meta.url)), '..');

/** Static (non-type) imports of `specifier` in the library's modules, and how many import() calls load it. */
async function importsOf(specifier: string): Promise<{ staticImports: string[]; dynamic: number }> {
  const files = (await readdir(SRC)).filter((n) => n.endsWith('.ts'));
  const quoted = `'${specifier.replace(/[/.]/g, (c) => `\\${c}`)}'`;
  const staticRe = new RegExp(`^import\\s+(type\\s+)?[^;]*?from\\s+${quoted};`, 'gms');
  const dynamicRe = new RegExp(`import\\(${quoted}\\)`, 'g');
  const staticImports: string[] = [];
  let dynamic = 0;
  for (const name of files) {
    const text = await readFile(join(SRC, name), 'utf8');
    for (const m of text.matchAll(staticRe)) if (!m[1]) staticImports.push(`${name}: ${m[0]}`);
    dynamic += [...text.matchAll(dynamicRe)].length;
  }
  return { staticImports, dynamic };
}

describe('@cpy/install stays light', () => {
  it('loads @cpy/signing (OpenPGP) only with import(), so an install without pinned signers never loads it', async () => {
    const { staticImports, dynamic } = await importsOf('@cpy/signing');
    expect(staticImports).toEqual([]);
    expect(dynamic).toBeGreaterThan(0);
  });

  it("loads @cpy/artifact's main entry (tar) and node:child_process only with import(), so an already-installed `cpy install` loads neither", async () => {
    for (const specifier of ['@cpy/artifact', 'node:child_process']) {
      const { staticImports, dynamic } = await importsOf(specifier);
      expect({ specifier, staticImports }).toEqual({ specifier, staticImports: [] });
      expect({ specifier, dynamic }).toEqual({ specifier, dynamic: 1 });
    }
    // What it reads before it unpacks comes from the light entry.
    expect((await importsOf('@cpy/artifact/index-format')).staticImports.length).toBeGreaterThan(0);
  });

  it('loads @cpy/transfer (node:stream, undici) only with import(), and node:crypto not at all (@cpy/core loads it on first use), so an already-installed `cpy install` loads neither', async () => {
    const transfer = await importsOf('@cpy/transfer');
    expect(transfer.staticImports).toEqual([]);
    expect(transfer.dynamic).toBe(1);
    expect((await importsOf('node:crypto')).staticImports).toEqual([]);
  });
});
