import { strict as assert } from 'node:assert';
import {
  binfmtEntryName,
  type BinfmtState,
  EmulationError,
  type EmulationContext,
  ensureEmulation,
  exitZeroProgram,
  parseBinfmtEntry,
  runsNatively,
} from '../../src/buildx/qemu';
import { RecordingLogger } from '../../src/log';
import { parsePlatform, parsePlatformList, type Platform } from '../../src/platform/platform';

const p = parsePlatform;

/** A machine with binfmt entries (name -> state) whose kernel runs what is enabled. */
function machine(entries: Record<string, BinfmtState['state']>, over: Partial<EmulationContext> = {}) {
  const did: string[] = [];
  const log = new RecordingLogger();
  let mounted = !Object.values(entries).includes('unmounted');
  const state = (entry: string): BinfmtState =>
    !mounted
      ? { state: 'unmounted' }
      : entries[entry] && entries[entry] !== 'unmounted'
        ? { state: entries[entry] as 'enabled' | 'disabled' }
        : { state: 'unregistered' };
  const deps: EmulationContext = {
    logger: log,
    server: p('linux/amd64'),
    daemonIsLocal: true,
    daemonAddress: 'unix:///var/run/docker.sock',
    builderPlatforms: async () => parsePlatformList('linux/amd64,linux/amd64/v2,linux/arm64'),
    canExecute: async (platform: Platform) => state(binfmtEntryName(platform)).state === 'enabled',
    binfmtState: state,
    mountBinfmt: async () => {
      did.push('mount');
      mounted = true;
    },
    enableEntry: async (entry) => {
      did.push(`enable ${entry}`);
      entries[entry] = 'enabled';
    },
    installQemu: async () => {
      did.push('apt install qemu-user-static binfmt-support');
    },
    registerEntry: async (entry) => {
      did.push(`update-binfmts --enable ${entry}`);
      entries[entry] = 'enabled';
    },
    qemuInstalled: () => false,
    ...over,
  };
  return { deps, did, log };
}

describe('QEMU emulation', () => {
  it('does nothing for the native platform', async () => {
    const { deps, did } = machine({});
    assert.deepEqual(await ensureEmulation([p('linux/amd64')], deps), [{ platform: 'linux/amd64', how: 'native' }]);
    assert.deepEqual(did, []);
  });

  it('does nothing when a foreign program already runs', async () => {
    const { deps, did } = machine({ 'qemu-aarch64': 'enabled' });
    assert.deepEqual(await ensureEmulation(parsePlatformList('linux/amd64,linux/arm64'), deps), [
      { platform: 'linux/amd64', how: 'native' },
      { platform: 'linux/arm64', how: 'ready' },
    ]);
    assert.deepEqual(did, []);
  });

  it('switches a disabled entry back on', async () => {
    const { deps, did } = machine({ 'qemu-aarch64': 'disabled' });
    assert.deepEqual(await ensureEmulation([p('linux/arm64')], deps), [{ platform: 'linux/arm64', how: 'enabled' }]);
    assert.deepEqual(did, ['enable qemu-aarch64']);
  });

  it('installs qemu-user-static and registers a missing entry', async () => {
    const { deps, did } = machine({});
    assert.deepEqual(
      await ensureEmulation([p('linux/riscv64')], {
        ...deps,
        builderPlatforms: async () => parsePlatformList('linux/amd64,linux/riscv64'),
      }),
      [{ platform: 'linux/riscv64', how: 'installed' }],
    );
    assert.deepEqual(did, ['apt install qemu-user-static binfmt-support', 'update-binfmts --enable qemu-riscv64']);
  });

  it('registers without installing when QEMU is already there', async () => {
    const { deps, did } = machine({}, { qemuInstalled: () => true });
    await ensureEmulation([p('linux/s390x')], { ...deps, builderPlatforms: async () => [p('linux/s390x')] });
    assert.deepEqual(did, ['update-binfmts --enable qemu-s390x']);
  });

  it('mounts binfmt_misc when it is not mounted', async () => {
    const { deps, did } = machine({ 'qemu-aarch64': 'unmounted' });
    await ensureEmulation([p('linux/arm64')], deps);
    assert.equal(did[0], 'mount');
  });

  it('fails clearly where binfmt_misc cannot be mounted (an unprivileged container)', async () => {
    const { deps } = machine(
      { 'qemu-riscv64': 'unmounted' },
      { mountBinfmt: async () => Promise.reject(new Error('mount: permission denied')) },
    );
    const error = await ensureEmulation([p('linux/riscv64')], deps).catch((e) => e);
    assert.ok(error instanceof EmulationError);
    assert.match(
      error.message,
      /QEMU emulation of linux\/riscv64 cannot be set up from this agent: \/proc\/sys\/fs\/binfmt_misc is not mounted here and mounting it failed \(mount: permission denied\)\. This is what an unprivileged container looks like/,
    );
    assert.match(error.message, /apt-get install qemu-user-static binfmt-support.*--privileged/s);
  });

  it('fails when the program still does not run after switching on', async () => {
    const { deps } = machine({ 'qemu-aarch64': 'disabled' }, { canExecute: async () => false });
    await assert.rejects(ensureEmulation([p('linux/arm64')], deps), /still does not run here \(exec format error\).*F flag/);
  });

  it('warns (not fails) when the kernel runs the platform but the builder does not list it yet', async () => {
    const { deps, log } = machine({ 'qemu-aarch64': 'disabled' }, { builderPlatforms: async () => [p('linux/amd64')] });
    await ensureEmulation([p('linux/arm64')], deps);
    assert.ok(
      log.lines.some(
        (l) =>
          l.level === 'warn' &&
          /builder does not list it yet: BuildKit in dockerd detects emulators when the daemon starts/.test(l.message),
      ),
    );
  });

  it('for a remote daemon, trusts only its builder and says to register there', async () => {
    const { deps, did } = machine({}, { daemonIsLocal: false, daemonAddress: 'tcp://arm-box:2376' });
    assert.deepEqual(await ensureEmulation([p('linux/arm64')], deps), [{ platform: 'linux/arm64', how: 'builder' }]);
    await assert.rejects(
      ensureEmulation([p('linux/ppc64le')], deps),
      /builder of the daemon at tcp:\/\/arm-box:2376 cannot build for linux\/ppc64le, and that daemon runs on another machine/,
    );
    assert.deepEqual(did, []);
  });

  it('refuses a platform QEMU cannot emulate before changing anything', async () => {
    const { deps, did } = machine({});
    await assert.rejects(
      ensureEmulation([p('linux/amd64'), p('linux/wasm')], { ...deps, server: p('linux/arm64') }),
      /QEMU cannot emulate linux\/wasm/,
    );
    await assert.rejects(ensureEmulation([p('windows/amd64')], deps), /QEMU cannot emulate windows\/amd64/);
    assert.deepEqual(did, []);
  });

  it('runs only the same architecture natively (32-bit x86 on x86-64 depends on the kernel, so it is probed)', () => {
    assert.ok(runsNatively(p('linux/amd64'), p('linux/amd64/v3')));
    assert.ok(!runsNatively(p('linux/amd64'), p('linux/386')));
    assert.ok(!runsNatively(p('linux/arm64'), p('linux/arm/v7')));
  });

  it('reads binfmt_misc entries', () => {
    assert.deepEqual(parseBinfmtEntry('enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n'), {
      state: 'enabled',
      interpreter: '/usr/libexec/qemu-binfmt/aarch64-binfmt-P',
      flags: 'PF',
    });
    assert.equal(parseBinfmtEntry('disabled\n').state, 'disabled');
  });

  describe('the exit-0 programs', () => {
    const expected: [string, number, number, 'LE' | 'BE', number][] = [
      ['linux/amd64', 2, 62, 'LE', 0x400078],
      ['linux/386', 1, 3, 'LE', 0x10054],
      ['linux/arm64', 2, 183, 'LE', 0x400078],
      ['linux/arm/v7', 1, 40, 'LE', 0x10054],
      ['linux/ppc64le', 2, 21, 'LE', 0x400078],
      ['linux/s390x', 2, 22, 'BE', 0x400078],
      ['linux/riscv64', 2, 243, 'LE', 0x400078],
    ];
    for (const [platform, elfClass, machineId, endian, entry] of expected) {
      it(`${platform}: ELF class ${elfClass}, machine ${machineId}, ${endian}, entry right after the headers`, () => {
        const elf = exitZeroProgram(p(platform))!;
        assert.deepEqual([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
        assert.equal(elf[4], elfClass);
        assert.equal(elf[5], endian === 'LE' ? 1 : 2);
        const u16 = (o: number) => (endian === 'LE' ? elf.readUInt16LE(o) : elf.readUInt16BE(o));
        assert.equal(u16(16), 2, 'ET_EXEC');
        assert.equal(u16(18), machineId);
        const entryPoint =
          elfClass === 2 ? Number(endian === 'LE' ? elf.readBigUInt64LE(24) : elf.readBigUInt64BE(24)) : elf.readUInt32LE(24);
        assert.equal(entryPoint, entry);
      });
    }
    it('has none for architectures without a known exit sequence', () => assert.equal(exitZeroProgram(p('linux/mips64le')), undefined));
  });
});
