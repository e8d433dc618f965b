import { open, type FileHandle } from 'node:fs/promises';
import { compareDotted } from '@cpy/core';

/** What an ELF file asks of the system it runs on. */
export interface ElfInfo {
  /** e_machine: 62 (EM_X86_64), 183 (EM_AARCH64)... See elfArch. */
  readonly machine: number;
  /** DT_NEEDED: the shared libraries it links (`libssl.so.3`). */
  readonly needed: readonly string[];
  /** Its own DT_SONAME, for shared libraries. */
  readonly soname: string | null;
  /** Symbol versions it needs, per library: `{ 'libc.so.6': ['GLIBC_2.34', ...] }`. */
  readonly versions: Readonly<Record<string, readonly string[]>>;
}

/** e_machine values and the architecture names artifacts use for them (`uname -m`). */
const MACHINES: Readonly<Record<number, string>> = { 3: 'i386', 20: 'ppc', 21: 'ppc64le', 22: 's390x', 40: 'armhf', 62: 'x86_64', 183: 'aarch64', 243: 'riscv64', 258: 'loongarch64' };

/** The architecture (`uname -m` spelling: `x86_64`, `aarch64`) of an ELF e_machine, or null for one cpy does not name. */
export function elfArch(machine: number): string | null {
  return MACHINES[machine] ?? null;
}

/** The GNU triplet of an architecture's Linux glibc target: `aarch64` -> `aarch64-linux-gnu` (`armhf` -> `arm-linux-gnueabihf`). */
export function gnuTriplet(arch: string): string {
  return arch === 'armhf' ? 'arm-linux-gnueabihf' : arch === 'ppc64le' ? 'powerpc64le-linux-gnu' : arch === 'i386' ? 'i686-linux-gnu' : `${arch}-linux-gnu`;
}

/**
 * The one architecture of a tree's ELF files (`uname -m` spelling), null when it has none that
 * cpy names (files of other machines say nothing: test data, say). Throws when they mix architectures.
 */
export function treeArch(infos: Iterable<ElfInfo>): string | null {
  const found = new Set<string>();
  for (const info of infos) {
    const arch = elfArch(info.machine);
    if (arch) found.add(arch);
  }
  if (found.size > 1) throw new Error(`the ELF files are of ${[...found].sort().join(', ')}`);
  return found.size ? [...found][0]! : null;
}

const SHT_DYNAMIC = 6;
const SHT_GNU_VERNEED = 0x6ffffffe;
const DT_NEEDED = 1;
const DT_SONAME = 14;

async function read(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buffer, 0, length, offset);
  if (bytesRead !== length) throw new Error('truncated ELF file');
  return buffer;
}

function cstring(table: Buffer, offset: number): string {
  const end = table.indexOf(0, offset);
  return table.toString('utf8', offset, end < 0 ? table.length : end);
}

/**
 * Reads the dynamic section and the version requirements (.gnu.version_r) of
 * an ELF file, reading only its headers and those sections, whatever its machine
 * (x86_64, aarch64...: the layout is the same). Returns null for files that are
 * not 64- or 32-bit little-endian ELF.
 */
export async function readElf(path: string): Promise<ElfInfo | null> {
  const fh = await open(path, 'r');
  try {
    const ident = Buffer.alloc(64);
    const { bytesRead } = await fh.read(ident, 0, 64, 0);
    if (bytesRead < 52 || ident.readUInt32BE(0) !== 0x7f454c46 || ident[5] !== 1) return null;
    const is64 = ident[4] === 2;
    const machine = ident.readUInt16LE(0x12);
    const shoff = is64 ? Number(ident.readBigUInt64LE(0x28)) : ident.readUInt32LE(0x20);
    const shentsize = ident.readUInt16LE(is64 ? 0x3a : 0x2e);
    const shnum = ident.readUInt16LE(is64 ? 0x3c : 0x30);
    if (!shoff || !shnum) return { machine, needed: [], soname: null, versions: {} };
    const headers = await read(fh, shoff, shentsize * shnum);
    const section = (i: number) => {
      const b = i * shentsize;
      return is64
        ? { type: headers.readUInt32LE(b + 4), offset: Number(headers.readBigUInt64LE(b + 0x18)), size: Number(headers.readBigUInt64LE(b + 0x20)), link: headers.readUInt32LE(b + 0x28), info: headers.readUInt32LE(b + 0x2c) }
        : { type: headers.readUInt32LE(b + 4), offset: headers.readUInt32LE(b + 0x10), size: headers.readUInt32LE(b + 0x14), link: headers.readUInt32LE(b + 0x18), info: headers.readUInt32LE(b + 0x1c) };
    };
    const needed: string[] = [];
    let soname: string | null = null;
    const versions: Record<string, string[]> = {};
    for (let i = 0; i < shnum; i++) {
      const s = section(i);
      if (s.type !== SHT_DYNAMIC && s.type !== SHT_GNU_VERNEED) continue;
      const strings = section(s.link);
      const table = await read(fh, strings.offset, strings.size);
      const data = await read(fh, s.offset, s.size);
      if (s.type === SHT_DYNAMIC) {
        const entry = is64 ? 16 : 8;
        for (let off = 0; off + entry <= data.length; off += entry) {
          const tag = is64 ? Number(data.readBigInt64LE(off)) : data.readInt32LE(off);
          const value = is64 ? Number(data.readBigUInt64LE(off + 8)) : data.readUInt32LE(off + 4);
          if (tag === 0) break;
          if (tag === DT_NEEDED) needed.push(cstring(table, value));
          if (tag === DT_SONAME) soname = cstring(table, value);
        }
      } else {
        // Elf_Verneed { vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32 }
        // Elf_Vernaux { vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32 }
        let off = 0;
        for (let n = 0; n < s.info && off + 16 <= data.length; n++) {
          const count = data.readUInt16LE(off + 2);
          const file = cstring(table, data.readUInt32LE(off + 4));
          let aux = off + data.readUInt32LE(off + 8);
          const names = (versions[file] ??= []);
          for (let k = 0; k < count && aux + 16 <= data.length; k++) {
            names.push(cstring(table, data.readUInt32LE(aux + 8)));
            const next = data.readUInt32LE(aux + 12);
            if (!next) break;
            aux += next;
          }
          const next = data.readUInt32LE(off + 12);
          if (!next) break;
          off += next;
        }
      }
    }
    return { machine, needed, soname, versions };
  } finally {
    await fh.close();
  }
}

/** The highest GLIBC_x.y version the given ELF infos need, or null when none needs glibc. */
export function glibcFloor(infos: Iterable<ElfInfo>): string | null {
  let floor: string | null = null;
  for (const info of infos) {
    for (const names of Object.values(info.versions)) {
      for (const name of names) {
        const m = /^GLIBC_(\d+\.\d+(?:\.\d+)?)$/.exec(name);
        if (m && (floor === null || compareDotted(m[1]!, floor) > 0)) floor = m[1]!;
      }
    }
  }
  return floor;
}
