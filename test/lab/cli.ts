// The lab's command line: up | down [--purge] | status | qemu <on|off> [platform] | restart-emulators | host-packages
// (see README.md).
import { readLab } from './lab';
import { qemuState, setQemu } from './qemu';
import { restartEmulators } from './setup/daemons';
import { down } from './setup/down';
import { purge } from './setup/purge';
import { withLabLock } from './setup/lock';
import { status } from './setup/status';
import { LAB_HOST_PACKAGES, up } from './setup/up';
import { ensureHostPackages } from './setup/apt';

const usage = 'usage: tsx test/lab/cli.ts up | down [--purge] | status | qemu <on|off> [linux/arm64] | restart-emulators | host-packages';

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case 'up':
      await withLabLock(up);
      return 0;
    case 'down':
      if (rest.length > 0 && rest.join(' ') !== '--purge') break;
      await withLabLock(async () => {
        await down();
        if (rest[0] === '--purge') purge();
      });
      return 0;
    case 'status':
      return (await status()) ? 0 : 1;
    case 'qemu': {
      const [mode, platform = 'linux/arm64'] = rest;
      if (mode !== 'on' && mode !== 'off') break;
      setQemu(platform, mode === 'on');
      process.stdout.write(`qemu ${platform}: ${qemuState(platform)}\n`);
      return 0;
    }
    case 'host-packages':
      // lab:up's first step alone: the host tools it adds (apt-guarded: nothing installed changes)
      ensureHostPackages(LAB_HOST_PACKAGES);
      return 0;
    case 'restart-emulators':
      await withLabLock(() => restartEmulators(readLab()));
      return 0;
  }
  process.stderr.write(`${usage}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`lab: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
