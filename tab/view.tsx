// The tab's page: one card per image, grouped by job, with the decision in words, copyable references, where a
// promotion put the image, the platform matrix, the build's builder, cache and annotations, a severity bar, a findings
// table to sort and filter, and the evidence attached to the digest as referrers.
import { Button } from 'azure-devops-ui/Button';
import { CardContent } from 'azure-devops-ui/Components/Card/CardContent';
import { CustomCard } from 'azure-devops-ui/Components/Card/CustomCard';
import { Pill, PillSize, PillVariant } from 'azure-devops-ui/Pill';
import { TextField } from 'azure-devops-ui/TextField';
import { useState } from 'preact/hooks';
import { SEVERITY_ORDER, type ContainerReleaseRecord, type RecordSeverity } from '../src/release-record/record';
import {
  evidenceViews,
  findingRows,
  platformMatrix,
  promotionView,
  type CardStatus,
  type ImageCard,
  type JobGroup,
  type SortKey,
} from './model';

export interface PageProps {
  groups: JobGroup[];
  running: boolean;
  problems: string[];
  error?: string;
  loaded: boolean;
}

const STATUS_ICON: Record<CardStatus['kind'], string> = {
  released: '✔',
  passed: '✔',
  rejected: '✖',
  refused: '✖',
  failed: '✖',
  pending: '◷',
  built: '•',
};

export function Page({ groups, running, problems, error, loaded }: PageProps) {
  const images = groups.reduce((n, g) => n + g.cards.length, 0);
  return (
    <main class="cr-page" aria-busy={!loaded}>
      <header class="cr-summary">
        <h1 class="title-m">Container release</h1>
        <p class="secondary-text" data-testid="summary">
          {!loaded
            ? 'Reading the records of this build…'
            : images === 0
              ? running
                ? 'No image has been built yet in this run; the records appear here as the tasks write them.'
                : 'This build wrote no container release records: BuildForPlatform and ScanAndRelease write one per image.'
              : `${images} image${images === 1 ? '' : 's'} in ${groups.length} job${groups.length === 1 ? '' : 's'}${running ? ' · the build is running, this page updates itself' : ''}`}
        </p>
        {error ? (
          <p class="cr-error" role="alert">
            The records could not be read: {error}
          </p>
        ) : null}
        {problems.map((p) => (
          <p class="cr-warning" key={p}>
            {p}
          </p>
        ))}
      </header>
      {groups.map((group) => (
        <section class="cr-job" key={group.id} aria-label={`Job ${group.name}`} data-testid="job">
          <h2 class="title-s cr-job-name">
            Job: {group.name}
            {group.running ? <span class="cr-running"> (running)</span> : null}
          </h2>
          {group.cards.map((card) => (
            <ImageCardView card={card} key={card.key} />
          ))}
        </section>
      ))}
    </main>
  );
}

function title(card: ImageCard): string {
  return `${card.repository}${card.tags[0] ? `:${card.tags[0]}` : ''}`;
}

function ImageCardView({ card }: { card: ImageCard }) {
  const { status } = card;
  return (
    <div class={`cr-card cr-${status.kind}`} data-testid="image-card" data-reference={card.reference}>
      <CustomCard className="flex-grow">
        <h3 class="title-s cr-card-title">{title(card)}</h3>
        <CardContent>
          <div class="cr-card-body">
            <div class={`cr-status cr-status-${status.kind}`} data-testid="status">
              <span aria-hidden="true" class="cr-status-icon">
                {STATUS_ICON[status.kind]}
              </span>
              <strong>{status.label}</strong>
              {card.scan?.quarantineState ? (
                <Pill size={PillSize.compact} variant={PillVariant.outlined} className="cr-state">
                  quarantine: {card.scan.quarantineState}
                </Pill>
              ) : null}
            </div>
            <p class="cr-reason" data-testid="reason">
              {status.reason}
            </p>
            <References card={card} />
            <Promotion card={card} />
            <Platforms card={card} />
            {card.build?.build ? <BuildFacts build={card.build} /> : null}
            {card.scan?.scan ? <Findings record={card.scan} /> : null}
            <Evidence card={card} />
          </div>
        </CardContent>
      </CustomCard>
    </div>
  );
}

function copy(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) return navigator.clipboard.writeText(text).catch(() => copyBySelection(text));
  return Promise.resolve(copyBySelection(text));
}

function copyBySelection(text: string): void {
  const area = document.createElement('textarea');
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

function CopyButton({ label, value }: { label: string; value: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <Button
      text={copied ? 'Copied' : 'Copy'}
      ariaLabel={`Copy ${label}: ${value}`}
      subtle
      onClick={() => copy(value).then(() => setCopied(true))}
    />
  );
}

function CopyRow({ label, value }: { label: string; value: string }) {
  return (
    <div class="cr-copy-row">
      <span class="cr-copy-label secondary-text">{label}</span>
      <code class="cr-reference" data-testid="reference">
        {value}
      </code>
      <CopyButton label={label} value={value} />
    </div>
  );
}

function References({ card }: { card: ImageCard }) {
  const name = `${card.registry}/${card.repository}`;
  return (
    <div class="cr-references">
      <CopyRow label={card.digest ? 'by digest' : 'reference'} value={card.digest ? `${name}@${card.digest}` : card.reference} />
      {card.tags.slice(0, 3).map((tag) => (
        <CopyRow key={tag} label="by tag" value={`${name}:${tag}`} />
      ))}
    </div>
  );
}

/** release: promote: where the scanned digest went, whether it read back as itself, and what travelled. */
function Promotion({ card }: { card: ImageCard }) {
  const view = promotionView(card.scan);
  if (!view) return null;
  return (
    <div class="cr-section" data-testid="promotion">
      <h4 class="cr-section-title">Release repository</h4>
      <p class="cr-promoted">
        <span aria-hidden="true" class={`cr-status-icon ${view.verified ? 'cr-good' : 'cr-bad'}`}>
          {view.verified ? '✔' : '✖'}
        </span>
        <span data-testid="promoted">{view.text}</span>
      </p>
      <CopyRow label="by digest" value={view.byDigest} />
      {view.byTag.slice(0, 3).map((tag) => (
        <CopyRow key={tag} label="by tag" value={tag} />
      ))}
      <p class="secondary-text cr-copied" data-testid="copied">
        {view.copied}
      </p>
    </div>
  );
}

const short = (digest: string) => digest.replace(/^(sha256[:-][0-9a-f]{12})[0-9a-f]{52}$/, '$1…');

/** The evidence attached to the digest as OCI 1.1 referrers: what, which referrer, and how a client finds it. */
function Evidence({ card }: { card: ImageCard }) {
  const rows = evidenceViews(card.scan);
  if (rows.length === 0) return null;
  return (
    <div class="cr-section">
      <h4 class="cr-section-title">Evidence attached to the digest</h4>
      <table class="cr-table cr-evidence" data-testid="evidence">
        <thead>
          <tr>
            <th scope="col">Evidence</th>
            <th scope="col">Artifact type</th>
            <th scope="col">Referrer</th>
            <th scope="col">Found by</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.digest}>
              <th scope="row">
                {row.label}
                {row.title ? <div class="secondary-text cr-evidence-title">{row.title}</div> : null}
              </th>
              <td>
                <code>{row.artifactType}</code>
              </td>
              <td class="cr-referrer">
                <code title={row.reference}>{short(row.digest)}</code>
                <CopyButton label={`the ${row.label} referrer`} value={row.reference} />
              </td>
              <td>
                {row.fallbackTag ? (
                  <>
                    fallback tag <code title={row.fallbackTag}>{short(row.fallbackTag)}</code>
                  </>
                ) : (
                  row.how
                )}
                {row.quarantineState ? <div class="secondary-text">quarantine: {row.quarantineState}</div> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const yesNo = (value: boolean | undefined, unknown = 'not checked') => (value === undefined ? unknown : value ? 'yes' : 'no');

function Platforms({ card }: { card: ImageCard }) {
  const rows = platformMatrix(card);
  if (rows.length === 0) return null;
  return (
    <div class="cr-section">
      <h4 class="cr-section-title">Platforms</h4>
      <table class="cr-table" data-testid="platforms">
        <thead>
          <tr>
            <th scope="col">Platform</th>
            <th scope="col">Asked</th>
            <th scope="col">Pushed</th>
            <th scope="col">Proven</th>
            <th scope="col">Proved by</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.platform} class={row.proven === false ? 'cr-row-bad' : ''}>
              <th scope="row">{row.platform}</th>
              <td>{yesNo(row.asked)}</td>
              <td>{yesNo(row.pushed)}</td>
              <td class={row.proven === false ? 'cr-bad' : row.proven ? 'cr-good' : ''}>{yesNo(row.proven)}</td>
              <td>
                {row.evidence.map((e) => (
                  <div key={e.path}>
                    <code>{e.path}</code> {e.what} <span class="secondary-text">({e.role})</span>
                  </div>
                ))}
                {row.problem ? <div class="cr-bad">{row.problem}</div> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : `${(ms / 1000).toFixed(1)} s`);

function BuildFacts({ build }: { build: ContainerReleaseRecord }) {
  const b = build.build!;
  const parts = [
    `builder ${b.builder ?? 'default'}${b.driver ? ` (${b.driver} driver)` : ''}`,
    `${b.mode} build`,
    `cache ${b.cache.mode}: ${b.cache.cached} of ${b.cache.steps} steps cached`,
    seconds(b.buildMs) && `built in ${seconds(b.buildMs)}`,
    seconds(b.pushMs) && `pushed in ${seconds(b.pushMs)}`,
  ].filter(Boolean);
  const annotations = Object.entries(b.annotations ?? {});
  return (
    <>
      <p class="cr-build secondary-text" data-testid="build">
        {parts.join(' · ')}
      </p>
      {annotations.length > 0 ? (
        <details class="cr-annotations" data-testid="annotations">
          <summary>OCI annotations on the pushed image ({annotations.length})</summary>
          <table class="cr-table">
            <tbody>
              {annotations.map(([key, value]) => (
                <tr key={key}>
                  <th scope="row">
                    <code>{key}</code>
                  </th>
                  <td class="cr-annotation-value">{value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ) : null}
    </>
  );
}

function SeverityBar({ counts }: { counts: Record<RecordSeverity, number> }) {
  const total = SEVERITY_ORDER.reduce((n, s) => n + counts[s], 0);
  return (
    <div class="cr-severity">
      <div
        class="cr-bar"
        role="img"
        aria-label={total === 0 ? 'No findings' : SEVERITY_ORDER.map((s) => `${counts[s]} ${s}`).join(', ')}
        data-testid="severity-bar"
      >
        {total === 0 ? <span class="cr-bar-none" style={{ width: '100%' }} /> : null}
        {SEVERITY_ORDER.filter((s) => counts[s] > 0).map((s) => (
          <span key={s} class={`cr-sev-${s.toLowerCase()}`} style={{ width: `${(100 * counts[s]) / total}%` }} />
        ))}
      </div>
      <ul class="cr-legend" data-testid="severity-counts">
        {SEVERITY_ORDER.map((s) => (
          <li key={s}>
            <span class={`cr-dot cr-sev-${s.toLowerCase()}`} aria-hidden="true" />
            {s} <strong>{counts[s]}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}

const COLUMNS: { key: SortKey; label: string }[] = [
  { key: 'severity', label: 'Severity' },
  { key: 'id', label: 'ID' },
  { key: 'package', label: 'Package' },
  { key: 'installed', label: 'Installed' },
  { key: 'fixed', label: 'Fixed in' },
  { key: 'image', label: 'Image' },
];

function Findings({ record }: { record: ContainerReleaseRecord }) {
  const scan = record.scan!;
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; descending: boolean }>({ key: 'severity', descending: false });
  const rows = findingRows(scan.top, filter, sort.key, sort.descending);
  const policy = `Fails on ${scan.policy.threshold.join(', ') || 'nothing'}${scan.policy.ignoreUnfixed ? ', unfixed ignored' : ''} · trivy ${scan.trivyVersion}`;
  return (
    <div class="cr-section">
      <h4 class="cr-section-title">Findings</h4>
      <SeverityBar counts={scan.counts} />
      <p class="secondary-text cr-policy" data-testid="policy">
        {policy}
      </p>
      {scan.top.length > 0 ? (
        <>
          <div class="cr-filter">
            <TextField
              value={filter}
              onChange={(_event, value) => setFilter(value)}
              placeholder="Filter findings"
              ariaLabel={`Filter the findings of ${record.repository}`}
            />
            <span class="secondary-text" data-testid="finding-count" aria-live="polite">
              {rows.length} of {scan.total} finding{scan.total === 1 ? '' : 's'}
              {scan.total > scan.top.length ? ` (the ${scan.top.length} most severe listed)` : ''}
            </span>
          </div>
          <table class="cr-table cr-findings" data-testid="findings">
            <thead>
              <tr>
                {COLUMNS.map((c) => (
                  <th scope="col" key={c.key} aria-sort={sort.key === c.key ? (sort.descending ? 'descending' : 'ascending') : 'none'}>
                    <button
                      type="button"
                      class="cr-sort"
                      onClick={() => setSort({ key: c.key, descending: sort.key === c.key ? !sort.descending : false })}
                    >
                      {c.label}
                      <span aria-hidden="true">{sort.key === c.key ? (sort.descending ? ' ▼' : ' ▲') : ''}</span>
                    </button>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((f) => (
                <tr key={`${f.image} ${f.id} ${f.package}`}>
                  <td>
                    <span class={`cr-dot cr-sev-${f.severity.toLowerCase()}`} aria-hidden="true" />
                    {f.severity}
                  </td>
                  <td>
                    {f.link ? (
                      <a href={f.link} target="_blank" rel="noopener noreferrer" title={f.title}>
                        {f.id}
                      </a>
                    ) : (
                      <span title={f.title}>{f.id}</span>
                    )}
                  </td>
                  <td>{f.package ?? f.kind}</td>
                  <td>{f.installed ?? ''}</td>
                  <td>{f.fixed ?? 'no fix'}</td>
                  <td>{f.image}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </div>
  );
}
