import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { isElf, parseElfHeader } from '../../src/image/elf';
import { busybox, craftedElf } from './image-fixtures';

describe('ELF headers', () => {
  it('reads a static busybox-like amd64 executable as a static 64-bit little-endian amd64 executable', () => {
    const elf = parseElfHeader(busybox.amd64().subarray(0, 1024));
    assert.equal(elf.bits, 64);
    assert.equal(elf.endianness, 'little');
    assert.equal(elf.machine, 62);
    assert.equal(elf.architecture, 'amd64');
    assert.equal(elf.interpreter, undefined);
    assert.equal(elf.programHeadersRead, true);
  });

  it('reads a static busybox-like arm64 executable as AArch64', () => {
    const elf = parseElfHeader(busybox.arm64().subarray(0, 1024));
    assert.equal(elf.machine, 183);
    assert.equal(elf.architecture, 'arm64');
    assert.equal(elf.interpreter, undefined);
  });

  it('reads /bin/ls of this machine as dynamically linked, with its loader', () => {
    const elf = parseElfHeader(readFileSync('/bin/ls').subarray(0, 1024));
    const expected = process.arch === 'arm64' ? 'arm64' : 'amd64';
    assert.equal(elf.architecture, expected);
    assert.equal(elf.type, 3); // position-independent executable
    assert.match(elf.interpreter ?? '', /^\/lib(64)?\/ld-linux-(x86-64|aarch64)\.so\.\d$/);
  });

  it('says the program headers were not read when only the first 64 bytes are given', () => {
    const elf = parseElfHeader(readFileSync('/bin/ls').subarray(0, 64));
    assert.equal(elf.programHeadersRead, false);
    assert.equal(elf.interpreter, undefined);
  });

  const crafted: [string, Parameters<typeof craftedElf>[0], string | undefined, string][] = [
    ['32-bit ARM', { bits: 32, endianness: 'little', machine: 40 }, 'arm', 'arm'],
    ['x86', { bits: 32, endianness: 'little', machine: 3 }, '386', '386'],
    ['ppc64le', { bits: 64, endianness: 'little', machine: 21 }, 'ppc64le', 'ppc64le'],
    ['big-endian ppc64', { bits: 64, endianness: 'big', machine: 21 }, 'ppc64', 'ppc64'],
    ['s390x (big-endian)', { bits: 64, endianness: 'big', machine: 22 }, 's390x', 's390x'],
    ['riscv64', { bits: 64, endianness: 'little', machine: 243 }, 'riscv64', 'riscv64'],
    ['the x32 ABI (EM_X86_64 in a 32-bit file)', { bits: 32, endianness: 'little', machine: 62 }, undefined, 'x86-64 (EM_X86_64)'],
    ['an unknown machine', { bits: 64, endianness: 'little', machine: 9999 }, undefined, 'ELF machine 9999'],
  ];
  for (const [name, options, architecture, machineName] of crafted) {
    it(`maps ${name}`, () => {
      const elf = parseElfHeader(craftedElf(options));
      assert.equal(elf.architecture, architecture);
      assert.equal(elf.machineName, machineName);
      assert.equal(elf.bits, options.bits);
      assert.equal(elf.endianness, options.endianness);
    });
  }

  it('finds PT_INTERP in crafted 32-bit big-endian and 64-bit little-endian files', () => {
    assert.equal(
      parseElfHeader(craftedElf({ bits: 32, endianness: 'big', machine: 8, interpreter: '/lib/ld.so.1' })).interpreter,
      '/lib/ld.so.1',
    );
    assert.equal(
      parseElfHeader(craftedElf({ bits: 64, endianness: 'little', machine: 183, interpreter: '/lib/ld-linux-aarch64.so.1' })).interpreter,
      '/lib/ld-linux-aarch64.so.1',
    );
  });

  it('refuses what is not ELF, and cut-short or malformed headers', () => {
    assert.equal(isElf(Buffer.from('#!/bin/sh\n')), false);
    assert.throws(() => parseElfHeader(Buffer.from('#!/bin/sh\n')), /not an ELF file/);
    assert.throws(() => parseElfHeader(busybox.amd64().subarray(0, 40)), /cut short/);
    const badClass = craftedElf({ bits: 64, endianness: 'little', machine: 62 });
    badClass[4] = 7;
    assert.throws(() => parseElfHeader(badClass), /unknown ELF class 7/);
    const badOrder = craftedElf({ bits: 64, endianness: 'little', machine: 62 });
    badOrder[5] = 0;
    assert.throws(() => parseElfHeader(badOrder), /unknown ELF byte order 0/);
  });
});
