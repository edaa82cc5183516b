// Which agents the tasks can serve: Linux only (docker's Linux engine, buildx, QEMU's binfmt_misc, apt and the static
// Linux binaries). task.json demands `Agent.OS -equals Linux`, so a pool picks a Linux agent; a Microsoft-hosted pool
// ignores demands, so each task's first line also refuses another OS, naming it, before anything runs.

/** Agent.OS as the agent reports it, by Node's process.platform. */
const AGENT_OS_NAMES: Record<string, string> = { win32: 'Windows_NT', darwin: 'Darwin', linux: 'Linux' };
const READABLE: Record<string, string> = { Windows_NT: 'Windows', Darwin: 'macOS' };

/** The demand every task declares in task.json. */
export const LINUX_DEMAND = 'Agent.OS -equals Linux';

/**
 * Why a task cannot run on this agent, or undefined on Linux. `agentOs` is the Agent.OS variable (Windows_NT, Darwin,
 * Linux); Node's process.platform decides when the two disagree, since it is what the task's programs would run on.
 */
export function unsupportedAgentMessage(task: string, platform: string, agentOs: string | undefined): string | undefined {
  if (platform === 'linux') return undefined;
  const os = AGENT_OS_NAMES[platform] ?? agentOs ?? platform;
  const name = READABLE[os] ?? os;
  return (
    `${task} runs on Linux agents only, and this agent runs ${name} (Agent.OS ${agentOs ?? os}, Node.js platform ${platform}). ` +
    `The task needs a Linux Docker engine, buildx and Linux binaries, which ${name} agents do not run. ` +
    `Fix: run this job on a Linux agent: \`pool: { vmImage: ubuntu-latest }\`, or for a self-hosted pool \`demands: ${LINUX_DEMAND}\`.`
  );
}
