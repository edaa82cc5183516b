import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  parseAnnotations,
  parseBuildArgs,
  parseBuilder,
  parseCacheRef,
  parseLabels,
  parseRepository,
  parseSecrets,
  parseTags,
  parseTarget,
  pipelineAnnotations,
  pipelineLabels,
  publicRepositoryUri,
  resolveContext,
  resolveDockerfile,
} from '../../src/buildx/options';

describe('build inputs', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bfp-options-'));
    mkdirSync(path.join(dir, 'app'));
    writeFileSync(path.join(dir, 'app', 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(path.join(dir, 'Custom.Dockerfile'), 'FROM scratch\n');
    writeFileSync(path.join(dir, 'npmrc'), 'token');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads build args as KEY=VALUE, values may hold = and spaces', () => {
    assert.deepEqual(parseBuildArgs(['A=1', 'URL=http://x/?a=b', 'MSG=hello world', 'EMPTY=']), [
      { name: 'A', value: '1' },
      { name: 'URL', value: 'http://x/?a=b' },
      { name: 'MSG', value: 'hello world' },
      { name: 'EMPTY', value: '' },
    ]);
  });

  it('refuses a build arg without = and a bad name', () => {
    assert.throws(() => parseBuildArgs(['VERSION']), /'VERSION' has no '='\. Write each build argument as KEY=VALUE/);
    assert.throws(() => parseBuildArgs(['1X=2']), /'1X' is not a build argument name/);
  });

  it('reads secrets from the environment and from files', () => {
    const secrets = parseSecrets(['npm=env:NPM_TOKEN', 'rc=file:npmrc'], { NPM_TOKEN: 's3cret' }, dir);
    assert.deepEqual(secrets, [
      { id: 'npm', kind: 'env', variable: 'NPM_TOKEN' },
      { id: 'rc', kind: 'file', path: path.join(dir, 'npmrc') },
    ]);
  });

  const badSecrets: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['npm'], {}, /'npm' is not a secret\. Write id=env:VARIABLE or id=file:path/],
    [['npm=s3cret'], {}, /is not a secret/],
    [['npm=env:NPM_TOKEN'], {}, /reads the environment variable NPM_TOKEN, which is not set\. Map it on the step/],
    [['rc=file:missing'], {}, /reads the file missing, which does not exist/],
    [['a b=env:X'], { X: '1' }, /'a b' is not a secret id/],
    [['x=env:A', 'x=env:A'], { A: '1' }, /the secret id 'x' is given twice/],
  ];
  for (const [lines, env, reason] of badSecrets) {
    it(`refuses the secrets ${JSON.stringify(lines)}`, () => assert.throws(() => parseSecrets(lines, env, dir), reason));
  }

  it('reads labels, a later key winning', () => {
    assert.deepEqual(
      [...parseLabels(['a=1', 'org.opencontainers.image.title=My App', 'a=2'])],
      [
        ['a', '2'],
        ['org.opencontainers.image.title', 'My App'],
      ],
    );
    assert.throws(() => parseLabels(['novalue']), /'novalue' is not a label/);
  });

  it('reads tags, dropping duplicates, and refuses ones the distribution spec forbids', () => {
    assert.deepEqual(parseTags(['4711', 'latest', '4711']), ['4711', 'latest']);
    assert.throws(() => parseTags([]), /no tag was given/);
    assert.throws(() => parseTags(['-bad']), /The tag '-bad' is not valid/);
    assert.throws(() => parseTags(['a'.repeat(129)]), /is not valid/);
    assert.throws(() => parseTags(['has space']), /is not valid/);
    assert.throws(() => parseTags(['$(Build.Missing)']), /pipeline variable the agent did not expand/);
  });

  it('reads repositories and refuses forbidden ones with the fix', () => {
    assert.equal(parseRepository('team/app'), 'team/app');
    assert.throws(() => parseRepository('Team/App'), /lower case: 'team\/app'/);
    assert.throws(() => parseRepository('team//app'), /empty path component/);
    assert.throws(
      () => parseRepository('contoso.azurecr.io/team/app'),
      /put the registry into 'registry' and only the path \(team\/app\) here/,
    );
    assert.throws(() => parseRepository('team/app:1'), /holds a tag or digest/);
    assert.throws(() => parseRepository('app_'), /is not valid/);
  });

  it('reads the target stage, the cache image and the builder', () => {
    assert.equal(parseTarget('runtime'), 'runtime');
    assert.equal(parseTarget(undefined), undefined);
    assert.throws(() => parseTarget('bad stage'), /not a build stage name/);
    assert.equal(parseCacheRef(undefined, 'r.io', 'a/b'), 'r.io/a/b:buildcache');
    assert.equal(parseCacheRef('r.io/a/cache:main', 'r.io', 'a/b'), 'r.io/a/cache:main');
    assert.throws(() => parseCacheRef('cache', 'r.io', 'a/b'), /not an image reference with a tag/);
    assert.deepEqual(parseBuilder(undefined), { kind: 'default' });
    assert.deepEqual(parseBuilder('multi'), { kind: 'named', name: 'multi' });
    assert.deepEqual(parseBuilder('tcp://buildkitd:1234'), { kind: 'endpoint', endpoint: 'tcp://buildkitd:1234' });
    assert.throws(() => parseBuilder('http://x'), /not a BuildKit endpoint/);
  });

  it('finds the Dockerfile in the working directory, then in the context', () => {
    const context = path.join(dir, 'app');
    assert.equal(resolveDockerfile('Dockerfile', dir, context), path.join(context, 'Dockerfile'));
    assert.equal(resolveDockerfile('Custom.Dockerfile', dir, context), path.join(dir, 'Custom.Dockerfile'));
    assert.throws(() => resolveDockerfile('Nope', dir, context), /'Nope' was not found \(looked at .*Nope and .*app\/Nope\)/);
  });

  it('checks the context is a directory', () => {
    assert.equal(resolveContext('app', dir), path.join(dir, 'app'));
    assert.throws(() => resolveContext('missing', dir), /the directory 'missing' does not exist/);
    assert.throws(() => resolveContext('npmrc', dir), /'npmrc' is not a directory/);
    assert.throws(() => resolveContext('https://github.com/x/y.git', dir), /remote context/);
  });

  it('labels the image from the pipeline run, without user names in URLs', () => {
    const labels = pipelineLabels({
      repositoryUri: publicRepositoryUri('https://contoso@dev.azure.com/contoso/shop/_git/shop'),
      sourceVersion: 'abc',
      version: '4711',
      created: new Date('2026-01-02T03:04:05Z'),
    });
    assert.deepEqual(
      [...labels],
      [
        ['org.opencontainers.image.source', 'https://dev.azure.com/contoso/shop/_git/shop'],
        ['org.opencontainers.image.revision', 'abc'],
        ['org.opencontainers.image.created', '2026-01-02T03:04:05.000Z'],
        ['org.opencontainers.image.version', '4711'],
      ],
    );
    assert.deepEqual([...pipelineLabels({ created: new Date(0) }).keys()], ['org.opencontainers.image.created']);
  });

  it('reads annotations in reverse-domain notation, a later key winning, values may hold = , and spaces', () => {
    assert.deepEqual(
      [
        ...parseAnnotations([
          'org.opencontainers.image.description=Shop front end, v2',
          'com.contoso.team=checkout',
          'com.example.myKey_2=a=b',
          'io.artifacthub.package.readme-url = https://x/y?a=b',
          'com.contoso.team=payments',
          'org.opencontainers.image.created=',
        ]),
      ],
      [
        ['org.opencontainers.image.description', 'Shop front end, v2'],
        ['com.contoso.team', 'payments'],
        ['com.example.myKey_2', 'a=b'],
        ['io.artifacthub.package.readme-url', 'https://x/y?a=b'],
        ['org.opencontainers.image.created', ''],
      ],
    );
  });

  const badAnnotations: [string, RegExp][] = [
    ['novalue', /'novalue' is not an annotation\. Write each one as key=value on its own line/],
    ['=value', /'=value' is not an annotation/],
    ['team=checkout', /'team' is not an annotation key\. Use reverse-domain notation/],
    ['Com.Contoso.team=x', /'Com\.Contoso\.team' is not an annotation key/],
    ['com.contoso.my key=x', /'com\.contoso\.my key' is not an annotation key.*no '=', ':' or spaces/],
    ['com..contoso=x', /is not an annotation key/],
    ['com.contoso.=x', /is not an annotation key/],
    [
      'index:org.opencontainers.image.title=x',
      /names where the annotation goes \(index:\); write the key alone \(org\.opencontainers\.image\.title\)/,
    ],
    ['manifest[linux/amd64]:com.contoso.a=x', /names where the annotation goes \(manifest\[linux\/amd64\]:\)/],
    ['com.contoso.build=$(Build.Missing)', /pipeline variable the agent did not expand/],
  ];
  for (const [line, reason] of badAnnotations) {
    it(`refuses the annotation line ${JSON.stringify(line)}`, () => assert.throws(() => parseAnnotations([line]), reason));
  }

  it("annotates with the image's OCI labels, the user's annotations over them, an empty value dropping one", () => {
    const labels = new Map([
      ['org.opencontainers.image.source', 'https://dev.azure.com/contoso/shop/_git/shop'],
      ['org.opencontainers.image.created', '2026-01-02T03:04:05.000Z'],
      ['org.opencontainers.image.version', '4711'],
      ['team', 'shop'],
      ['org.opencontainers.image.title', 'Shop'],
    ]);
    const user = parseAnnotations([
      'org.opencontainers.image.version=1.2.0',
      'org.opencontainers.image.created=',
      'com.contoso.team=checkout',
    ]);
    assert.deepEqual(
      [...pipelineAnnotations(labels, user)],
      [
        ['org.opencontainers.image.source', 'https://dev.azure.com/contoso/shop/_git/shop'],
        ['org.opencontainers.image.version', '1.2.0'],
        ['org.opencontainers.image.title', 'Shop'],
        ['com.contoso.team', 'checkout'],
      ],
    );
  });
});
