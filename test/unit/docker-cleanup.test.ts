import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BUILT_BY_JOB_LABEL,
  buildLabelArgs,
  builtImagesFile,
  readBuiltImageRecords,
  recordBuiltImage,
} from '../../src/docker/built-images';
import { type ImageStore, type LocalImage, parseSize, pruneArgs, removeBuiltImages } from '../../src/docker/cleanup';
import { RecordingLogger } from '../../src/log';

/** An image store with images by id, each with tags and labels. */
function store(images: (LocalImage & { labels: Record<string, string> })[], failing: string[] = []) {
  const removed: string[] = [];
  const s: ImageStore = {
    listByLabel: async (label) => {
      const [key, value] = label.split('=');
      return images.filter((i) => i.labels[key] === value).map(({ id, tags }) => ({ id, tags }));
    },
    remove: async (reference, force) => {
      if (failing.includes(reference))
        throw new Error('conflict: unable to remove repository reference (must force) - container 1234 is using its referenced image');
      const image = images.find((i) => i.id === reference || i.tags.includes(reference));
      if (!image) return 'missing';
      if (image.id === reference) {
        assert.ok(force, 'removing by id needs force when the image has several tags');
        images.splice(images.indexOf(image), 1);
      } else {
        image.tags = image.tags.filter((t) => t !== reference);
        if (!image.tags.length) images.splice(images.indexOf(image), 1);
      }
      removed.push(reference);
      return 'removed';
    },
  };
  return { s, images, removed };
}

describe('post-job cleanup', () => {
  const job = '7f3c0a5e-0000-4000-8000-00000000c0de';
  const other = '11111111-0000-4000-8000-000000000bad';

  it('removes exactly the images labelled with this job, with all their tags, and leaves other jobs and base images', async () => {
    const { s, images } = store([
      {
        id: 'sha256:a',
        tags: ['contoso.azurecr.io/shop/api:1.2.3', 'contoso.azurecr.io/shop/api:latest'],
        labels: { [BUILT_BY_JOB_LABEL]: job },
      },
      { id: 'sha256:b', tags: [], labels: { [BUILT_BY_JOB_LABEL]: job } },
      { id: 'sha256:c', tags: ['contoso.azurecr.io/shop/web:9'], labels: { [BUILT_BY_JOB_LABEL]: other } },
      { id: 'sha256:d', tags: ['debian:bookworm'], labels: {} },
    ]);
    const report = await removeBuiltImages(s, job, [], new RecordingLogger());
    assert.deepEqual(report.removed, ['contoso.azurecr.io/shop/api:1.2.3, contoso.azurecr.io/shop/api:latest', 'sha256:b']);
    assert.deepEqual(
      images.map((i) => i.id),
      ['sha256:c', 'sha256:d'],
    );
  });

  it('untags recorded references (deleting an image with its last tag), and skips ones already gone', async () => {
    const { s, images } = store([
      { id: 'sha256:e', tags: ['127.0.0.1:5000/tools/x:1', 'keep/me:1'], labels: {} },
      { id: 'sha256:f', tags: ['127.0.0.1:5000/tools/y:1'], labels: {} },
    ]);
    const log = new RecordingLogger();
    const report = await removeBuiltImages(s, job, ['127.0.0.1:5000/tools/x:1', '127.0.0.1:5000/tools/y:1', 'gone/already:1'], log);
    assert.deepEqual(report.removed, ['127.0.0.1:5000/tools/x:1', '127.0.0.1:5000/tools/y:1']);
    assert.deepEqual(images, [{ id: 'sha256:e', tags: ['keep/me:1'], labels: {} }]);
    assert.match(log.text(), /gone\/already:1 is already gone/);
  });

  it('warns about an image it cannot remove and goes on', async () => {
    const { s } = store(
      [
        { id: 'sha256:g', tags: ['a:1'], labels: { [BUILT_BY_JOB_LABEL]: job } },
        { id: 'sha256:h', tags: ['b:1'], labels: { [BUILT_BY_JOB_LABEL]: job } },
      ],
      ['sha256:g'],
    );
    const log = new RecordingLogger();
    const report = await removeBuiltImages(s, job, [], log);
    assert.deepEqual(report, { removed: ['b:1'], failed: ['a:1'] });
    assert.ok(log.lines.some((l) => l.level === 'warn' && /could not remove image a:1: conflict/.test(l.message)));
  });

  it('finds nothing by label without a job id', async () => {
    const { s, images } = store([{ id: 'sha256:i', tags: ['a:1'], labels: { [BUILT_BY_JOB_LABEL]: '' } }]);
    await removeBuiltImages(s, '', [], new RecordingLogger());
    assert.equal(images.length, 1);
  });

  it('keeps the record file under Agent.TempDirectory, one reference per line', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-temp-'));
    assert.deepEqual(readBuiltImageRecords(dir), []);
    recordBuiltImage(dir, 'contoso.azurecr.io/shop/api:1.2.3');
    recordBuiltImage(dir, 'contoso.azurecr.io/shop/api:1.2.3');
    recordBuiltImage(dir, 'sha256:0123');
    assert.equal(builtImagesFile(dir), path.join(dir, 'container-release-built-images.txt'));
    assert.deepEqual(readBuiltImageRecords(dir), ['contoso.azurecr.io/shop/api:1.2.3', 'sha256:0123']);
    assert.throws(() => recordBuiltImage(dir, 'two words'), /not an image reference/);
    assert.deepEqual(buildLabelArgs(job), ['--label', `com.azure.pipelines.jobid=${job}`]);
  });

  it('reads sizes in binary units and prunes down to them', () => {
    assert.equal(parseSize('10GB'), 10 * 1024 ** 3);
    assert.equal(parseSize('512mb'), 512 * 1024 ** 2);
    assert.equal(parseSize('1.5g'), 1.5 * 1024 ** 3);
    assert.equal(parseSize('1048576'), 1048576);
    for (const bad of ['', 'ten GB', '10 XB', '-1GB']) assert.throws(() => parseSize(bad), /not a size.*10GB/);
    assert.deepEqual(pruneArgs(parseSize('10GB')), ['buildx', 'prune', '--force', '--keep-storage', '10737418240']);
  });
});
