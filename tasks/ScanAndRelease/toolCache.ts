// The agent's tool cache through azure-pipelines-tool-lib (downloads honour the agent's proxy and certificate
// settings; the cache is Agent.ToolsDirectory/<tool>/<version>/<arch> with a .complete marker).
import * as toolLib from 'azure-pipelines-tool-lib/tool';
import type { ToolCache } from '../../src/trivy/install';

export const agentToolCache: ToolCache = {
  find: (tool, version, arch) => toolLib.findLocalTool(tool, version, arch) || undefined,
  download: (url) => toolLib.downloadTool(url),
  extract: (archive, kind) => (kind === 'zip' ? toolLib.extractZip(archive) : toolLib.extractTar(archive)),
  cacheDirectory: (dir, tool, version, arch) => toolLib.cacheDir(dir, tool, version, arch),
};
