// The "Container release" build results tab: the SDK's handshake, the build of the page, then the records read
// through the Build REST client and shown (view.tsx); read again every few seconds while the build runs.
import * as SDK from 'azure-devops-extension-sdk';
import { CommonServiceIds, getClient, type IProjectPageService } from 'azure-devops-extension-api/Common';
import { BuildRestClient, BuildServiceIds, type IBuildPageDataService } from 'azure-devops-extension-api/Build';
import { Surface, SurfaceBackground } from 'azure-devops-ui/Surface';
import { render } from 'preact';
import { groupRecords } from './model';
import { loadRecords } from './load';
import { Page, type PageProps } from './view';
import './tab.css';

/** While the build runs, the records are read again this often. */
const POLL_MS = 3000;

function show(props: PageProps): void {
  render(
    <Surface background={SurfaceBackground.neutral}>
      <Page {...props} />
    </Surface>,
    document.getElementById('root')!,
  );
}

/** The build id the host gives through onBuildChanged (the older contract of build results tabs), within a few seconds. */
function buildFromConfiguration(): Promise<number | undefined> {
  const config = SDK.getConfiguration() as { buildId?: number; onBuildChanged?: (callback: (build: { id: number }) => void) => void };
  if (config.buildId) return Promise.resolve(config.buildId);
  const onBuildChanged = config.onBuildChanged;
  if (typeof onBuildChanged !== 'function') return Promise.resolve(undefined);
  return new Promise((resolve) => {
    setTimeout(() => resolve(undefined), 10_000);
    onBuildChanged((build) => resolve(build?.id));
  });
}

/** The build of the page: the build page data service, else the tab's configuration; the project from the page. */
async function buildOfPage(): Promise<{ project: string; buildId: number }> {
  const pageData = await SDK.getService<IBuildPageDataService>(BuildServiceIds.BuildPageDataService);
  const buildId = (await pageData.getBuildPageData())?.build?.id ?? (await buildFromConfiguration());
  if (!buildId) throw new Error('the page named no build');
  const projectService = await SDK.getService<IProjectPageService>(CommonServiceIds.ProjectPageService);
  const project = (await projectService.getProject())?.name ?? SDK.getWebContext().project.name;
  return { project, buildId };
}

async function main(): Promise<void> {
  show({ groups: [], running: false, problems: [], loaded: false });
  await SDK.init({ loaded: false, applyTheme: true });
  await SDK.ready();
  let build: { project: string; buildId: number };
  try {
    build = await buildOfPage();
  } catch (error) {
    show({ groups: [], running: false, problems: [], loaded: true, error: (error as Error).message });
    await SDK.notifyLoadFailed(error as Error);
    return;
  }
  const client = getClient(BuildRestClient);
  let notified = false;
  const refresh = async (): Promise<void> => {
    let running = true;
    try {
      const loaded = await loadRecords(client, build.project, build.buildId);
      const groups = groupRecords(loaded.timeline, loaded.records);
      running = loaded.timeline.some((r) => r.state !== 2 && r.state !== 'completed');
      show({ groups, running, problems: loaded.problems, loaded: true });
    } catch (error) {
      show({ groups: [], running, problems: [], loaded: true, error: (error as Error).message });
    }
    if (!notified) {
      notified = true;
      await SDK.notifyLoadSucceeded();
    }
    SDK.resize();
    if (running) setTimeout(refresh, POLL_MS);
  };
  await refresh();
}

void main();
