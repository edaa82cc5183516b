import { strict as assert } from 'node:assert';
import {
  formatReference,
  type ImageReference,
  isLoginServer,
  parseImageReference,
  validateLoginServer,
  validateRepository,
  validateTag,
} from '../../src/registry/reference';

const digest = `sha256:${'a'.repeat(64)}`;

describe('image references (OCI distribution grammar)', () => {
  const good: [string, ImageReference][] = [
    ['contoso.azurecr.io/app:1', { registry: 'contoso.azurecr.io', repository: 'app', tag: '1' }],
    [`contoso.azurecr.io/team/app@${digest}`, { registry: 'contoso.azurecr.io', repository: 'team/app', digest }],
    [`contoso.azurecr.io/team/app:v1.2@${digest}`, { registry: 'contoso.azurecr.io', repository: 'team/app', tag: 'v1.2', digest }],
    ['127.0.0.1:5000/demo/multi:1', { registry: '127.0.0.1:5000', repository: 'demo/multi', tag: '1' }],
    ['localhost/app', { registry: 'localhost', repository: 'app' }],
    ['localhost:5000/a.b/c_d/e__f/g---h:_tag', { registry: 'localhost:5000', repository: 'a.b/c_d/e__f/g---h', tag: '_tag' }],
    ['[::1]:5000/app:latest', { registry: '[::1]:5000', repository: 'app', tag: 'latest' }],
    [`  contoso.azurecr.io/app:${'x'.repeat(128)}  `, { registry: 'contoso.azurecr.io', repository: 'app', tag: 'x'.repeat(128) }],
  ];
  for (const [text, expected] of good) {
    it(`parses ${text.trim().slice(0, 60)}`, () => assert.deepEqual(parseImageReference(text), expected));
  }

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['contoso.azurecr.io/App:1', /path component 'App' must be lower-case.*write it in lower case: 'app'/],
    ['contoso.azurecr.io/app_:1', /path component 'app_'/],
    ['contoso.azurecr.io/a___b', /path component 'a___b'/],
    ['contoso.azurecr.io/a..b', /path component 'a..b'/],
    ['contoso.azurecr.io/-app', /path component '-app'/],
    ['contoso.azurecr.io//app', /empty path component/],
    ['contoso.azurecr.io/app/', /empty path component/],
    ['contoso.azurecr.io/app:.tag', /tag '.tag' is not valid.*not starting with "." or "-"/],
    ['contoso.azurecr.io/app:-tag', /tag '-tag' is not valid/],
    [`contoso.azurecr.io/app:${'x'.repeat(129)}`, /up to 128/],
    ['contoso.azurecr.io/app:', /tag is empty/],
    ['contoso.azurecr.io/app@sha256:abc', /digest 'sha256:abc' is not valid.*64 lower-case hex/],
    [`contoso.azurecr.io/app@sha256:${'A'.repeat(64)}`, /not valid/],
    [`contoso.azurecr.io/app@sha512:${'a'.repeat(128)}`, /algorithm this task does not support/],
    ['https://contoso.azurecr.io/app:1', /URL scheme/],
    ['app:1', /names no registry.*contoso\.azurecr\.io\/app/],
    ['team/app:1', /names no registry/],
    ['contoso.azurecr.io/app name', /white space/],
    ['contoso.azurecr.io:99999/app', /'99999' is not a port number/],
    ['contoso_acr.io/app', /host name/],
    [`contoso.azurecr.io/${'a/'.repeat(128)}b`, /at most 255/],
  ];
  for (const [text, reason] of bad) {
    it(`refuses ${JSON.stringify(text.slice(0, 60))}`, () => assert.throws(() => parseImageReference(text), reason));
  }

  it('applies a default registry the way docker does', () => {
    assert.deepEqual(parseImageReference('busybox:1', { defaultRegistry: 'docker.io' }), {
      registry: 'docker.io',
      repository: 'library/busybox',
      tag: '1',
    });
    assert.deepEqual(parseImageReference('team/app', { defaultRegistry: 'contoso.azurecr.io' }), {
      registry: 'contoso.azurecr.io',
      repository: 'team/app',
    });
  });

  it('formats what it parses back to the same text', () => {
    for (const text of ['contoso.azurecr.io/app:1', `contoso.azurecr.io/team/app:v1@${digest}`, '127.0.0.1:5000/a/b']) {
      assert.equal(formatReference(parseImageReference(text)), text);
    }
  });

  it('validates repositories and tags on their own', () => {
    assert.equal(validateRepository('team/app-1'), 'team/app-1');
    assert.throws(() => validateRepository('Team/app'), /lower-case letters and digits/);
    assert.throws(() => validateRepository(''), /empty/);
    assert.equal(validateTag('v1.0_rc-1'), 'v1.0_rc-1');
    assert.throws(() => validateTag('v1+build'), /tag 'v1\+build' is not valid/);
  });

  it('tells a login server from a URL or a reference', () => {
    for (const name of ['contoso.azurecr.io', '127.0.0.1:5000', 'localhost', 'registry-1.docker.io', '[::1]:5000'])
      assert.ok(isLoginServer(name), name);
    for (const name of ['https://contoso.azurecr.io', 'contoso.azurecr.io/app', '', 'contoso.azurecr.io:port', 'bad_host.io'])
      assert.ok(!isLoginServer(name), name);
    assert.throws(() => validateLoginServer('https://contoso.azurecr.io/'), /has a scheme; write 'contoso\.azurecr\.io'/);
    assert.throws(() => validateLoginServer('contoso.azurecr.io/team'), /has a path; the login server is only 'contoso\.azurecr\.io'/);
  });
});
