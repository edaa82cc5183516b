// The pure parts of lab:up that decide what it does to a host: which mirror it downloads from, whether an apt install
// would change an installed package, how a QEMU rule is registered, whose lab a running daemon is.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { engineBin, engineCli, labPath } from '../lab/engine';
import { repoRoot } from '../lab/lab';
import { debianArchiveFrom, parseAptSimulation } from '../lab/setup/apt';
import { otherCheckoutOf, parseBinfmtRule, withInterpreter } from '../lab/setup/binfmt';
import { checkoutOfLabProcess } from '../lab/setup/takeover';

describe('lab setup', () => {
  describe("the host's Debian archive", () => {
    const bookworm = [
      'Types: deb',
      '# a snapshot of the same archive',
      'URIs: http://mirror.example/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb',
      'URIs: http://mirror.example/debian-security',
      'Suites: bookworm-security',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
    ].join('\n');

    it('takes the URI and key of the deb822 entry with a release suite and main, not the security archive', () => {
      assert.deepEqual(debianArchiveFrom([{ name: '/etc/apt/sources.list.d/debian.sources', text: bookworm }]), {
        uri: 'http://mirror.example/debian',
        signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
      });
    });

    it('reads one-line sources, skips disabled files and entries without main', () => {
      const files = [
        {
          name: '/etc/apt/sources.list.d/nodesource.sources.disabled-by-farm',
          text: bookworm.replace('mirror.example', 'disabled.example'),
        },
        { name: '/etc/apt/sources.list.d/vendor.list', text: 'deb [arch=amd64] https://vendor.example/apt stable contrib\n' },
        {
          name: '/etc/apt/sources.list',
          text: '# deb http://old.example/debian bookworm main\ndeb [signed-by=/etc/apt/keyrings/d.gpg] http://mirror.example/debian/ trixie main contrib\n',
        },
      ];
      assert.deepEqual(debianArchiveFrom(files), { uri: 'http://mirror.example/debian', signedBy: '/etc/apt/keyrings/d.gpg' });
    });

    it('finds none where no source has a Debian release suite with main', () => {
      assert.equal(debianArchiveFrom([{ name: '/etc/apt/sources.list', text: 'deb http://mirror.example/debian sid main\n' }]), undefined);
      assert.equal(
        debianArchiveFrom([{ name: 'x.sources', text: bookworm.replace(/^Types: deb$/gm, 'Types: deb\nEnabled: no') }]),
        undefined,
      );
    });
  });

  describe('what apt-get -s install would do', () => {
    // as `apt-get -s install docker.io/trixie` printed it on a Debian 12 machine (shortened)
    const simulation = [
      'NOTE: This is only a simulation!',
      'Reading package lists...',
      'The following NEW packages will be installed:',
      '  containerd docker.io runc',
      'The following packages will be upgraded:',
      '  libc6 libc-bin',
      'Inst libc6 [2.36-9+deb12u10] (2.41-12 Debian:13.2/stable [amd64])',
      'Conf libc6 (2.41-12 Debian:13.2/stable [amd64])',
      'Inst libc-bin [2.36-9+deb12u10] (2.41-12 Debian:13.2/stable [amd64])',
      'Inst runc (1.1.15+ds1-2+b4 Debian:13.2/stable [amd64])',
      'Inst containerd (1.7.24~ds1-6+deb13u1 Debian:13.2/stable [amd64])',
      'Inst docker.io (26.1.5+dfsg1-9+deb13u1+b1 Debian:13.2/stable [amd64])',
      'Remv docker-compose [1.29.2-3]',
    ].join('\n');

    it('tells the packages it adds from those it upgrades or removes', () => {
      assert.deepEqual(parseAptSimulation(simulation), {
        added: ['runc', 'containerd', 'docker.io'],
        changed: ['libc6 (2.36-9+deb12u10 -> 2.41-12)', 'libc-bin (2.36-9+deb12u10 -> 2.41-12)', 'docker-compose (1.29.2-3 -> removed)'],
      });
    });

    it('sees nothing to change in an install that only adds', () => {
      assert.deepEqual(
        parseAptSimulation('Inst iproute2 (6.1.0-3 Debian:12.12/stable [amd64])\nConf iproute2 (6.1.0-3 Debian:12.12/stable [amd64])\n')
          .changed,
        [],
      );
    });
  });

  describe('QEMU rules', () => {
    const rule =
      ':qemu-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OCP';

    it('reads a binfmt.d file (comments skipped)', () => {
      const parsed = parseBinfmtRule(`# qemu-user-binfmt\n\n${rule}\n`);
      assert.deepEqual(parsed?.rule, { name: 'qemu-aarch64', interpreter: '/usr/libexec/qemu-binfmt/aarch64-binfmt-P', flags: 'OCP' });
      assert.equal(parsed?.line, rule);
      assert.equal(parseBinfmtRule('# nothing here\n'), undefined);
      assert.equal(parseBinfmtRule(':too:few:fields\n'), undefined);
    });

    it("points a rule at the lab's emulator and makes the kernel open it at once (F)", () => {
      const lab = withInterpreter(rule, '/srv/checkout/.lab/engine/root/usr/bin/qemu-aarch64-static');
      assert.deepEqual(parseBinfmtRule(lab)?.rule, {
        name: 'qemu-aarch64',
        interpreter: '/srv/checkout/.lab/engine/root/usr/bin/qemu-aarch64-static',
        flags: 'OCPF',
      });
      assert.equal(parseBinfmtRule(withInterpreter(lab, '/x'))?.rule.flags, 'OCPF', 'F is not added twice');
    });

    it("tells an emulator of another checkout's lab from this one's and the host's", () => {
      assert.equal(otherCheckoutOf('/srv/other/.lab/engine/root/usr/bin/qemu-aarch64-static'), '/srv/other');
      assert.equal(otherCheckoutOf(path.join(repoRoot, '.lab/engine/root/usr/bin/qemu-aarch64-static')), undefined);
      assert.equal(otherCheckoutOf('/usr/libexec/qemu-binfmt/aarch64-binfmt-P'), undefined);
      assert.equal(otherCheckoutOf(undefined), undefined);
    });
  });

  describe('whose lab a process is', () => {
    it('knows the daemons by their link in .lab/engine/bin and the emulators by their main.ts', () => {
      assert.deepEqual(checkoutOfLabProcess(['/srv/other/.lab/engine/bin/dockerd', '--containerd', '/run/containerd/containerd.sock']), {
        checkout: '/srv/other',
        name: 'dockerd',
      });
      assert.deepEqual(checkoutOfLabProcess(['/usr/bin/node', '--require', 'tsx/cjs', '/srv/other/test/lab/emulators/main.ts']), {
        checkout: '/srv/other',
        name: 'emulators',
      });
      assert.deepEqual(checkoutOfLabProcess(['/srv/other/.lab/engine/bin/docker-registry', 'serve', 'x.yml']), {
        checkout: '/srv/other',
        name: 'docker-registry',
      });
      // a CI clone's lab left its proxies listening on the lab's ports: the next lab:up found 127.0.0.1:3128 taken
      assert.deepEqual(checkoutOfLabProcess(['/tmp/ci1/.lab/proxy/root/usr/bin/tinyproxy', '-d', '-c', '/tmp/ci1/.lab/proxy/proxy.conf']), {
        checkout: '/tmp/ci1',
        name: 'proxy',
      });
    });

    it('claims no other process', () => {
      assert.equal(checkoutOfLabProcess(['/usr/sbin/dockerd']), undefined);
      assert.equal(checkoutOfLabProcess(['/srv/other/.lab/engine/bin/qemu-aarch64-static', 'x']), undefined);
      assert.equal(checkoutOfLabProcess([]), undefined);
    });
  });

  it("puts the engine first and its CLI last on PATH, so the host's own docker CLI wins", () => {
    assert.equal(labPath('/usr/local/bin:/usr/bin'), [engineBin, '/usr/local/bin', '/usr/bin', engineCli].join(':'));
    assert.equal(labPath(labPath('/usr/bin')), labPath('/usr/bin'), 'applied twice, the same');
  });
});
