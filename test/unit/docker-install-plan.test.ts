import { strict as assert } from 'node:assert';
import {
  type AptFacts,
  chooseAfterCandidates,
  chooseSourceBeforeCandidates,
  distributionPlan,
  DOCKER_KEYRING,
  DOCKER_SOURCES_FILE,
  dockerRepositoryPlan,
  dockerRepositoryVersion,
  dockerSourcesEntry,
  parseAptPolicy,
  parseOsRelease,
  planAsShell,
  type PlanStep,
  qemuPlan,
  upstreamVersion,
} from '../../src/docker/install-plan';

const bookworm = parseOsRelease(
  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n',
);
const trixie = parseOsRelease('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_ID="13"\nVERSION_CODENAME=trixie\nID=debian\n');
const noble = parseOsRelease(
  'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=noble\n',
);
const mint = parseOsRelease(
  'NAME="Linux Mint"\nVERSION_ID="22"\nVERSION_CODENAME=wilma\nID=linuxmint\nID_LIKE="ubuntu debian"\nUBUNTU_CODENAME=noble\n',
);
const alpine = parseOsRelease('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.0\n');

const facts = (os = bookworm, over: Partial<AptFacts> = {}): AptFacts => ({ os, dpkgArch: 'amd64', hasCaCertificates: true, ...over });
const argvs = (steps: PlanStep[]) => steps.map((s) => (s.kind === 'run' ? s.argv.join(' ') : `${s.kind} ${s.path}`));

describe("install plans: Docker's apt repository (not reachable offline; pinned here command by command)", () => {
  it('writes the deb822 entry for Debian 12 with the keyring and the dpkg architecture', () => {
    assert.equal(
      dockerSourcesEntry(facts()),
      'Types: deb\nURIs: https://download.docker.com/linux/debian\nSuites: bookworm\nComponents: stable\nArchitectures: amd64\nSigned-By: /etc/apt/keyrings/docker.asc\n',
    );
  });

  it('uses the ubuntu repository and UBUNTU_CODENAME for Ubuntu and its derivatives', () => {
    assert.match(
      dockerSourcesEntry(facts(noble, { dpkgArch: 'arm64' })),
      /URIs: https:\/\/download\.docker\.com\/linux\/ubuntu\nSuites: noble\n.*Architectures: arm64/s,
    );
    assert.match(dockerSourcesEntry(facts(mint)), /linux\/ubuntu\nSuites: noble\n/);
  });

  it('installs the keyring, the sources file, then the five packages, in that order, all as root', () => {
    const plan = dockerRepositoryPlan(facts(), ['engine']);
    assert.equal(plan.source, 'dockerRepository');
    assert.deepEqual(argvs(plan.steps), [
      'install -m 0755 -d /etc/apt/keyrings',
      `download ${DOCKER_KEYRING}`,
      `write ${DOCKER_SOURCES_FILE}`,
      'apt-get -o DPkg::Lock::Timeout=300 update',
      'apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin',
    ]);
    const download = plan.steps[1];
    assert.ok(download.kind === 'download' && download.url === 'https://download.docker.com/linux/debian/gpg' && download.mode === 0o644);
    assert.ok(plan.steps.every((s) => s.root));
    const install = plan.steps[4];
    assert.ok(install.kind === 'run' && install.env?.DEBIAN_FRONTEND === 'noninteractive');
  });

  it('installs ca-certificates first when apt cannot fetch over https yet', () => {
    const plan = dockerRepositoryPlan(facts(noble, { hasCaCertificates: false }), ['buildx']);
    assert.deepEqual(argvs(plan.steps).slice(0, 2), [
      'apt-get -o DPkg::Lock::Timeout=300 update',
      'apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends ca-certificates',
    ]);
    assert.match(argvs(plan.steps).at(-1)!, /install -y --no-install-recommends docker-buildx-plugin$/);
  });

  it("pins docker-ce and docker-ce-cli in Docker's version format, allowing a downgrade", () => {
    assert.equal(dockerRepositoryVersion(bookworm, '27.3.1'), '5:27.3.1-1~debian.12~bookworm');
    assert.equal(dockerRepositoryVersion(noble, '27.3.1'), '5:27.3.1-1~ubuntu.24.04~noble');
    const plan = dockerRepositoryPlan(facts(), ['docker-cli', 'buildx'], { pin: '27.3.1' });
    assert.match(
      argvs(plan.steps).at(-1)!,
      /install -y --no-install-recommends --allow-downgrades docker-ce-cli=5:27\.3\.1-1~debian\.12~bookworm docker-buildx-plugin$/,
    );
  });

  it('only refreshes and installs when the repository is already configured; a mirror URL replaces download.docker.com', () => {
    assert.deepEqual(argvs(dockerRepositoryPlan(facts(), ['buildx'], { alreadyConfigured: true }).steps), [
      'apt-get -o DPkg::Lock::Timeout=300 update',
      'apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker-buildx-plugin',
    ]);
    const mirror = dockerRepositoryPlan(facts(), ['buildx'], { repositoryUrl: 'https://artifacts.contoso.com/docker/' });
    assert.ok(mirror.steps.some((s) => s.kind === 'download' && s.url === 'https://artifacts.contoso.com/docker/debian/gpg'));
    assert.ok(mirror.steps.some((s) => s.kind === 'write' && s.content.includes('URIs: https://artifacts.contoso.com/docker/debian\n')));
  });

  it('refuses a distribution that is neither Debian nor Ubuntu', () => {
    assert.throws(
      () => dockerRepositoryPlan(facts(alpine), ['buildx']),
      /Debian and Ubuntu; this agent runs Alpine Linux\. Use installSource static/,
    );
  });

  it('shows the plan as commands a human can paste, with sudo and heredoc files', () => {
    const lines = planAsShell(dockerRepositoryPlan(facts(), ['buildx']).steps, true);
    assert.equal(lines[0], 'sudo install -m 0755 -d /etc/apt/keyrings');
    assert.equal(
      lines[1],
      'sudo curl -fsSL https://download.docker.com/linux/debian/gpg -o /etc/apt/keyrings/docker.asc && sudo chmod 644 /etc/apt/keyrings/docker.asc',
    );
    assert.match(lines[2], /^sudo tee \/etc\/apt\/sources\.list\.d\/docker\.sources > \/dev\/null <<'EOF'\nTypes: deb\n.*\nEOF$/s);
    assert.equal(
      lines[4],
      'sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker-buildx-plugin',
    );
  });
});

describe("install plans: the distribution's packages", () => {
  const trixieCandidates = {
    'docker.io': '26.1.5+dfsg1-9+deb13u1',
    'docker-cli': '26.1.5+dfsg1-9+deb13u1',
    'docker-buildx': '0.13.1+ds1-3',
  };
  const bookwormCandidates = { 'docker.io': '20.10.24+dfsg1-1+deb12u1', 'docker-cli': undefined, 'docker-buildx': undefined };

  it('installs docker-buildx on Debian 13', () => {
    assert.deepEqual(argvs(distributionPlan(facts(trixie), ['buildx'], trixieCandidates).steps), [
      'apt-get -o DPkg::Lock::Timeout=300 update',
      'apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker-buildx',
    ]);
  });

  it('takes docker-cli where the release split it out, docker.io where it did not, and the engine as docker.io', () => {
    assert.match(
      argvs(distributionPlan(facts(trixie), ['docker-cli', 'engine'], trixieCandidates, { listsRefreshed: true }).steps)[0],
      /install -y --no-install-recommends docker-cli docker\.io$/,
    );
    assert.match(
      argvs(distributionPlan(facts(), ['docker-cli'], bookwormCandidates).steps)[1],
      /install -y --no-install-recommends docker\.io$/,
    );
  });

  it('refuses buildx on Debian 12, which ships none, and says what to use instead', () => {
    assert.throws(
      () => distributionPlan(facts(), ['buildx'], bookwormCandidates),
      /Debian GNU\/Linux 12 \(bookworm\) has no docker-buildx package.*Use installSource dockerRepository or static/,
    );
  });

  it('accepts a pin only when the release ships exactly that version', () => {
    assert.ok(distributionPlan(facts(trixie), ['docker-cli'], trixieCandidates, { pin: '26.1.5' }));
    assert.throws(
      () => distributionPlan(facts(trixie), ['docker-cli'], trixieCandidates, { pin: '27.3.1' }),
      /offers docker-cli 26\.1\.5\+dfsg1-9\+deb13u1, not 27\.3\.1/,
    );
  });

  it('reads apt-cache policy, including packages apt does not know', () => {
    const text =
      'docker-buildx:\n  Installed: (none)\n  Candidate: 0.13.1+ds1-3\n  Version table:\n     0.13.1+ds1-3 100\ndocker.io:\n  Installed: 26.1.5+dfsg1-9+deb13u1+b1\n  Candidate: 26.1.5+dfsg1-9+deb13u1+b1\n';
    assert.deepEqual(parseAptPolicy(text), {
      'docker-buildx': { installed: undefined, candidate: '0.13.1+ds1-3' },
      'docker.io': { installed: '26.1.5+dfsg1-9+deb13u1+b1', candidate: '26.1.5+dfsg1-9+deb13u1+b1' },
    });
    assert.equal(upstreamVersion('5:27.3.1-1~debian.12~bookworm'), '27.3.1');
    assert.equal(upstreamVersion('26.1.5+dfsg1-9+b1'), '26.1.5');
  });

  it('installs QEMU from qemu-user-static and binfmt-support', () => {
    assert.deepEqual(argvs(qemuPlan()), [
      'apt-get -o DPkg::Lock::Timeout=300 update',
      'apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends qemu-user-static binfmt-support',
    ]);
  });
});

describe('install plans: what auto chooses', () => {
  const base = { hasApt: true, canBeRoot: true, dockerRepositoryConfigured: false };
  it('keeps an explicit source', () =>
    assert.equal(chooseSourceBeforeCandidates('distribution', { ...base, hasApt: false }).source, 'distribution'));
  it('takes static without apt or without root', () => {
    assert.equal(chooseSourceBeforeCandidates('auto', { ...base, hasApt: false }).source, 'static');
    assert.equal(chooseSourceBeforeCandidates('auto', { ...base, canBeRoot: false }).source, 'static');
  });
  it("takes Docker's repository where the agent already uses it", () =>
    assert.equal(chooseSourceBeforeCandidates('auto', { ...base, dockerRepositoryConfigured: true }).source, 'dockerRepository'));
  it('then the distribution when it has everything, static otherwise', () => {
    assert.equal(chooseSourceBeforeCandidates('auto', base).source, 'auto');
    assert.equal(chooseAfterCandidates(['buildx'], { 'docker-buildx': '0.13.1' }, undefined).source, 'distribution');
    assert.deepEqual(chooseAfterCandidates(['buildx'], {}, undefined), {
      source: 'static',
      reason: 'the distribution has no package for buildx',
    });
    assert.equal(chooseAfterCandidates(['docker-cli'], { 'docker-cli': '26.1.5+dfsg1-9' }, '27.3.1').source, 'static');
  });
});
