import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { planRetention, readRegister, upsertRow, writeRegister, type Register, type RegisterRow } from '../index.js';

const row = (version: string, build: number, distro = 'debian12', state: RegisterRow['state'] = 'current'): RegisterRow => ({
  version,
  build,
  distro,
  date: '2026-11-22',
  file: `cpython-${version}-${distro}-build${build}.tgz`,
  sha256: String(build).repeat(64).slice(0, 64).replace(/[^0-9]/g, '0'),
  url: `https://github.com/o/r/releases/download/v${version}-build${build}/cpython-${version}-${distro}-build${build}.tgz`,
  state,
});

describe('the artifact register', () => {
  it('adds and replaces rows by file name, newest first', () => {
    let reg: Register = { rows: [] };
    reg = upsertRow(reg, row('3.12.9', 1));
    reg = upsertRow(reg, row('3.13.5', 1));
    reg = upsertRow(reg, row('3.13.5', 2));
    reg = upsertRow(reg, { ...row('3.13.5', 1), date: '2026-11-23' });
    expect(reg.rows.map((r) => `${r.version}-${r.build}-${r.date}`)).toEqual(['3.13.5-2-2026-11-22', '3.13.5-1-2026-11-23', '3.12.9-1-2026-11-22']);
    expect(() => upsertRow(reg, { ...row('3.13.5', 3), file: 'python.tgz' })).toThrow(/not an artifact file name/);
  });

  it('keeps the last 3 builds per release line and distro, and deprecates older ones (a plan, applied only when written)', () => {
    let reg: Register = { rows: [] };
    for (const [v, b] of [['3.13.4', 1], ['3.13.4', 2], ['3.13.5', 1], ['3.13.5', 2], ['3.12.9', 1]] as const) reg = upsertRow(reg, row(v, b));
    reg = upsertRow(reg, row('3.13.5', 1, 'debian11'));
    const plan = planRetention(reg);
    expect(plan.deprecate.map((r) => r.file)).toEqual(['cpython-3.13.4-debian12-build1.tgz']);
    expect(plan.keep.filter((r) => r.distro === 'debian12' && r.version.startsWith('3.13'))).toHaveLength(3);
    expect(reg.rows.every((r) => r.state === 'current')).toBe(true);
    expect(plan.register.rows.filter((r) => r.state === 'deprecated')).toHaveLength(1);
    expect(planRetention(plan.register).deprecate).toEqual([]);
  });

  it('writes ARTIFACTS.md and artifacts.json with the same rows, and reads them back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpy-register-'));
    try {
      const reg = upsertRow({ rows: [] }, row('3.13.5', 1));
      await writeRegister(dir, reg);
      expect(await readRegister(dir)).toEqual(reg);
      const md = await readFile(join(dir, 'ARTIFACTS.md'), 'utf8');
      expect(md).toContain('| version | build | distro | date | file | sha256 | URL | state |');
      expect(md).toContain('| 3.13.5 | 1 | debian12 | 2026-11-22 | cpython-3.13.5-debian12-build1.tgz |');
      await writeFile(join(dir, 'artifacts.json'), '{"schemaVersion":2}');
      await expect(readRegister(dir)).rejects.toMatchObject({ code: 'CPY_REGISTER_INVALID' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
