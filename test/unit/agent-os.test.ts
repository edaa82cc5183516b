import { strict as assert } from 'node:assert';
import { unsupportedAgentMessage } from '../../src/platform/agent-os';

describe('agents the tasks cannot serve', () => {
  it('a Linux agent is served', () => {
    assert.equal(unsupportedAgentMessage('EnsureDocker', 'linux', 'Linux'), undefined);
    assert.equal(unsupportedAgentMessage('EnsureDocker', 'linux', undefined), undefined);
  });

  const refused: [string, string | undefined, RegExp][] = [
    [
      'win32',
      'Windows_NT',
      /^BuildForPlatform runs on Linux agents only, and this agent runs Windows \(Agent\.OS Windows_NT, Node\.js platform win32\)\./,
    ],
    [
      'darwin',
      'Darwin',
      /^BuildForPlatform runs on Linux agents only, and this agent runs macOS \(Agent\.OS Darwin, Node\.js platform darwin\)\./,
    ],
    ['freebsd', undefined, /this agent runs freebsd \(Agent\.OS freebsd, Node\.js platform freebsd\)/],
    // Node's platform decides: it is what the task's programs would run on.
    ['win32', 'Linux', /this agent runs Windows \(Agent\.OS Linux, Node\.js platform win32\)/],
  ];
  for (const [platform, agentOs, expected] of refused) {
    it(`refuses ${platform} (Agent.OS ${agentOs}) naming the OS and the fix`, () => {
      const message = unsupportedAgentMessage('BuildForPlatform', platform, agentOs) ?? '';
      assert.match(message, expected);
      assert.match(
        message,
        /Fix: run this job on a Linux agent: `pool: \{ vmImage: ubuntu-latest \}`, or .*`demands: Agent\.OS -equals Linux`/,
      );
    });
  }
});
