// Just enough of the ELF format to say which machine a program was built for and which dynamic loader it asks for.
// Layout from the System V ABI (elf.h): e_ident[16], e_type, e_machine, ... e_phoff, ... e_phentsize, e_phnum.

export interface ElfHeader {
  bits: 32 | 64;
  endianness: 'little' | 'big';
  /** e_type: 2 executable, 3 shared object or position-independent executable. */
  type: number;
  /** e_machine, the number the kernel compares with its own before it runs the file. */
  machine: number;
  /** The OCI architecture the machine number stands for, when it is one an image can carry. */
  architecture: string | undefined;
  /** A name for messages: the OCI architecture, or the machine's ELF name. */
  machineName: string;
  /** PT_INTERP: the dynamic loader the kernel starts first ('/lib64/ld-linux-x86-64.so.2'); undefined when static. */
  interpreter?: string;
  /** False when the program headers lay beyond the bytes read, so `interpreter` could not be looked for. */
  programHeadersRead: boolean;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const PT_INTERP = 3;

// e_machine numbers (elf.h) and what OCI calls them; word size and byte order pick among the ambiguous ones.
const MACHINE_NAMES: Record<number, string> = {
  3: 'x86 (EM_386)',
  8: 'MIPS (EM_MIPS)',
  20: 'PowerPC (EM_PPC)',
  21: 'PowerPC64 (EM_PPC64)',
  22: 'S/390 (EM_S390)',
  40: 'ARM (EM_ARM)',
  62: 'x86-64 (EM_X86_64)',
  183: 'AArch64 (EM_AARCH64)',
  243: 'RISC-V (EM_RISCV)',
  258: 'LoongArch (EM_LOONGARCH)',
};

function ociArchitecture(machine: number, bits: 32 | 64, endianness: 'little' | 'big'): string | undefined {
  switch (machine) {
    case 62:
      return bits === 64 ? 'amd64' : undefined; // a 32-bit x86-64 file is the x32 ABI, which no image platform names
    case 3:
      return '386';
    case 183:
      return 'arm64';
    case 40:
      return 'arm';
    case 21:
      return endianness === 'little' ? 'ppc64le' : 'ppc64';
    case 22:
      return bits === 64 ? 's390x' : undefined;
    case 243:
      return bits === 64 ? 'riscv64' : undefined;
    case 8:
      return bits === 64 ? (endianness === 'little' ? 'mips64le' : 'mips64') : undefined;
    case 258:
      return bits === 64 ? 'loong64' : undefined;
    default:
      return undefined;
  }
}

export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head.subarray(0, 4).equals(ELF_MAGIC);
}

/**
 * Reads the ELF header from the first bytes of a file (64 are enough for the machine; about 1 KiB usually also
 * covers the program headers and the loader path). Throws when the bytes are not a well-formed ELF header.
 */
export function parseElfHeader(head: Buffer): ElfHeader {
  if (!isElf(head)) throw new Error('not an ELF file (no \\x7fELF magic)');
  if (head.length < 52) throw new Error(`ELF header cut short (${head.length} bytes)`);
  const elfClass = head[4];
  const elfData = head[5];
  if (elfClass !== 1 && elfClass !== 2) throw new Error(`unknown ELF class ${elfClass}`);
  if (elfData !== 1 && elfData !== 2) throw new Error(`unknown ELF byte order ${elfData}`);
  const bits = elfClass === 1 ? 32 : 64;
  const endianness = elfData === 1 ? 'little' : 'big';
  if (bits === 64 && head.length < 64) throw new Error(`ELF64 header cut short (${head.length} bytes)`);
  const u16 = (offset: number) => (endianness === 'little' ? head.readUInt16LE(offset) : head.readUInt16BE(offset));
  const u32 = (offset: number) => (endianness === 'little' ? head.readUInt32LE(offset) : head.readUInt32BE(offset));
  const u64 = (offset: number) => Number(endianness === 'little' ? head.readBigUInt64LE(offset) : head.readBigUInt64BE(offset));
  const type = u16(16);
  const machine = u16(18);
  const architecture = ociArchitecture(machine, bits, endianness);
  const machineName = architecture ?? MACHINE_NAMES[machine] ?? `ELF machine ${machine}`;

  // Program headers: e_phoff, e_phentsize, e_phnum sit at different offsets in the two classes.
  const phoff = bits === 64 ? u64(32) : u32(28);
  const phentsize = bits === 64 ? u16(54) : u16(42);
  const phnum = bits === 64 ? u16(56) : u16(44);
  const header: ElfHeader = { bits, endianness, type, machine, architecture, machineName, programHeadersRead: false };
  if (phnum === 0 || phentsize === 0) return { ...header, programHeadersRead: true };
  if (phoff + phnum * phentsize > head.length) return header;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (u32(at) !== PT_INTERP) continue;
    const offset = bits === 64 ? u64(at + 8) : u32(at + 4);
    const size = bits === 64 ? u64(at + 32) : u32(at + 16);
    if (offset + size > head.length) return { ...header, programHeadersRead: true };
    const interpreter = head
      .subarray(offset, offset + size)
      .toString('latin1')
      .replace(/\0.*$/s, '');
    return { ...header, interpreter, programHeadersRead: true };
  }
  return { ...header, programHeadersRead: true };
}

/** ELF OS/ABI (e_ident[7]) values of other systems; SYSV (0) and GNU/Linux (3) are what Linux runs. */
const OTHER_OSABI: Record<number, string> = { 1: 'hpux', 2: 'netbsd', 6: 'solaris', 9: 'freebsd', 12: 'openbsd' };
const MACH_O_MAGICS = [0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe];

/**
 * The operating system a program file is made for, by its first bytes, in OCI's os names: an ELF file is linux (unless
 * its OS/ABI names another system), `MZ` is a Windows PE file, a Mach-O magic is darwin; undefined for anything else.
 */
export function programOs(head: Buffer | undefined): string | undefined {
  if (!head || head.length < 4) return undefined;
  if (isElf(head)) return OTHER_OSABI[head[7]] ?? 'linux';
  if (head[0] === 0x4d && head[1] === 0x5a) return 'windows';
  if (MACH_O_MAGICS.includes(head.readUInt32BE(0))) return 'darwin';
  return undefined;
}
