// Failures that slip past the input checks, told with the input behind them: a platform of another operating system
// than the builder's (refused before the build), an option buildx does not know, a registry that wants a sign-in the
// step cannot give.
import { strict as assert } from 'node:assert';
import { parseBuildxInspect } from '../../src/buildx/builder';
import { otherOsPlatformMessage, otherOsPlatforms } from '../../src/buildx/capabilities';
import { explainBuildFailure } from '../../src/buildx/failures';
import { InputError } from '../../src/inputs';
import { formatPlatform, parsePlatformList } from '../../src/platform/platform';
import { CommandError } from '../../src/process/exec';

const linuxBuilder = parseBuildxInspect(`Name:   default
Driver: docker

Nodes:
Name:      default
Endpoint:  default
Status:    running
Platforms: linux/amd64, linux/386, linux/arm64
`);

const failed = (stderr: string) =>
  new CommandError('docker', ['buildx', 'build'], { exitCode: 1, signal: null, stdout: '', stderr, timedOut: false, durationMs: 5 });

describe('platforms of another operating system than the builder', () => {
  it('finds windows/amd64 on a Linux builder, and nothing in a Linux list', () => {
    assert.deepEqual(otherOsPlatforms(parsePlatformList('linux/amd64,windows/amd64'), linuxBuilder).map(formatPlatform), ['windows/amd64']);
    // QEMU may add linux/riscv64 later: an architecture is not an operating system.
    assert.deepEqual(otherOsPlatforms(parsePlatformList('linux/amd64,linux/riscv64'), linuxBuilder), []);
  });

  it('says why no emulation helps, and the fix', () => {
    assert.equal(
      otherOsPlatformMessage(parsePlatformList('windows/amd64'), linuxBuilder),
      "the builder 'default' (docker driver) builds linux images only, and cannot build windows/amd64: an image for windows built here would hold linux programs under a windows label. Nothing was built. Fix: remove windows/amd64 from platforms, or build windows images on a builder of that system (the builder input).",
    );
  });
});

describe('a failed build told with the input behind it', () => {
  const given = { extraArguments: ['--frobnicate', 'yes', '--no-cache'], registry: 'contoso.azurecr.io', signedIn: true };

  it("names 'arguments' for an option buildx does not know", () => {
    const error = explainBuildFailure(failed("unknown flag: --frobnicate\nSee 'docker buildx build --help'."), given);
    assert.ok(error instanceof InputError);
    assert.match(
      (error as Error).message,
      /^Input 'arguments': buildx does not know the option --frobnicate \(it said: unknown flag: --frobnicate\)\. Fix: remove --frobnicate from 'arguments'/,
    );
  });

  it('names it for a shorthand flag too', () => {
    const error = explainBuildFailure(failed("unknown shorthand flag: 'Z' in -Z"), { ...given, extraArguments: ['-Z'] });
    assert.match((error as Error).message, /^Input 'arguments': buildx does not know the option -Z/);
  });

  it('leaves an unknown flag the task itself passed as it was (a task bug, not the input)', () => {
    const original = failed('unknown flag: --sbom');
    assert.equal(explainBuildFailure(original, given), original);
  });

  const anonymous =
    'ERROR: failed to solve: failed to push contoso.azurecr.io/team/app:1: failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://contoso.azurecr.io/oauth2/token?scope=repository%3Ateam%2Fapp%3Apull%2Cpush&service=contoso.azurecr.io: 401 Unauthorized';

  it('names the connection inputs for a 401 on the anonymous token when no connection was given', () => {
    const error = explainBuildFailure(failed(anonymous), { ...given, signedIn: false });
    assert.ok(error instanceof InputError);
    assert.match(
      (error as Error).message,
      /^Input 'azureSubscription': contoso\.azurecr\.io, the registry this step pushes to, refused an anonymous sign-in \(401 Unauthorized.*\), and the step has no service connection\. Fix: set azureSubscription .* AcrPush on contoso\.azurecr\.io .*or dockerRegistryServiceConnection/,
    );
  });

  it('says when the 401 came from a registry the build reads from', () => {
    const error = explainBuildFailure(failed(anonymous.replace(/contoso\.azurecr\.io\/oauth2/, 'private.example.com/oauth2')), {
      ...given,
      signedIn: false,
    });
    assert.match((error as Error).message, /private\.example\.com, a registry the build reads from, refused/);
  });

  it('leaves a 401 alone when the step signed in (the connection is there; its rights are another story)', () => {
    const original = failed(anonymous);
    assert.equal(explainBuildFailure(original, given), original);
  });

  it('leaves other failures as they were', () => {
    const original = failed('ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3');
    assert.equal(explainBuildFailure(original, { ...given, signedIn: false }), original);
    const plain = new Error('boom');
    assert.equal(explainBuildFailure(plain, given), plain);
  });
});
