import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadVerified, findChecksum, parseChecksums, sha256File } from '../../src/tools/cache';

const a = 'a'.repeat(64);
const B = 'B'.repeat(64);

describe('tool cache: checksums and verified downloads (docker static, buildx, trivy)', () => {
  const rows: [string, string | string[], { sha256: string; name: string }[]][] = [
    ['sha256sum text mode', `${a}  x86_64/docker-27.3.1.tgz`, [{ sha256: a, name: 'x86_64/docker-27.3.1.tgz' }]],
    [
      'sha256sum binary mode, upper case hex',
      `${B} *buildx-v0.21.2.linux-amd64`,
      [{ sha256: B.toLowerCase(), name: 'buildx-v0.21.2.linux-amd64' }],
    ],
    ['a ./ prefix', `${a}  ./trivy_0.74.0_Linux-64bit.tar.gz`, [{ sha256: a, name: 'trivy_0.74.0_Linux-64bit.tar.gz' }]],
    [
      "goreleaser's checksums.txt with garbage and comments",
      `${a}  trivy_0.74.0_Linux-64bit.tar.gz\n# comment\ngarbage\n\n${B}  trivy_0.74.0_Linux-ARM64.tar.gz\r\n`,
      [
        { sha256: a, name: 'trivy_0.74.0_Linux-64bit.tar.gz' },
        { sha256: B.toLowerCase(), name: 'trivy_0.74.0_Linux-ARM64.tar.gz' },
      ],
    ],
    ['a short hash', 'abc  docker.tgz', []],
    ['lines given one by one', [`${a}  f`, '# no'], [{ sha256: a, name: 'f' }]],
  ];
  for (const [name, text, expected] of rows) {
    it(`parses ${name}`, () => assert.deepEqual(parseChecksums(text), expected));
  }

  it('finds the checksum of the first name that has one (a path under the base URL before a file name)', () => {
    const entries = parseChecksums([`${a}  x86_64/docker-27.3.1.tgz`, `${B}  docker-27.3.1.tgz`]);
    assert.equal(findChecksum(entries, 'x86_64/docker-27.3.1.tgz', 'docker-27.3.1.tgz'), a);
    assert.equal(findChecksum(entries, 'aarch64/docker-27.3.1.tgz', 'docker-27.3.1.tgz'), B.toLowerCase());
    assert.equal(findChecksum(entries, 'aarch64/docker-27.3.1.tgz'), undefined);
  });

  describe('downloadVerified', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'verified-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const cache = (content: string) => ({
      download: async () => {
        const file = path.join(dir, 'download');
        writeFileSync(file, content);
        return file;
      },
    });
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');

    it('keeps a download whose sha256 matches', async () => {
      const verified = await downloadVerified(cache('tool'), 'https://mirror.test/tool', sha('tool'), () => new Error('refused'));
      assert.equal(verified.sha256, sha('tool'));
      assert.equal(await sha256File(verified.file), sha('tool'));
    });

    it("deletes a download whose sha256 differs and throws the caller's error with the actual sha256", async () => {
      await assert.rejects(
        downloadVerified(cache('tampered'), 'https://mirror.test/tool', sha('tool'), (actual) => new Error(`refused: ${actual}`)),
        new RegExp(`^Error: refused: ${sha('tampered')}$`),
      );
      assert.equal(existsSync(path.join(dir, 'download')), false);
    });
  });
});
