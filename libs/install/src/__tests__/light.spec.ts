import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const SRC = join(fileURLToPath(new URL('.', import.meta.url)), '..');

describe('@cpy/install stays light', () => {
  it('loads @cpy/signing (OpenPGP) only with import(), so an install without pinned signers never loads it', async () => {
    const files = (await readdir(SRC)).filter((n) => n.endsWith('.ts'));
    const staticImports: string[] = [];
    let dynamic = 0;
    for (const name of files) {
      const text = await readFile(join(SRC, name), 'utf8');
      for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'@cpy\/signing';/gms)) if (!m[1]) staticImports.push(`${name}: ${m[0]}`);
      dynamic += [...text.matchAll(/await import\('@cpy\/signing'\)/g)].length;
    }
    expect(staticImports).toEqual([]);
    expect(dynamic).toBeGreaterThan(0);
  });
});
