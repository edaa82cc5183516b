// A plain-text table with aligned columns, for the demo's closing summary.

export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)];
}

/** `sha256:0123456789ab`: enough of a digest to recognise it. */
export function shortDigest(digest: string | undefined): string {
  if (!digest) return '-';
  const match = /^(sha256:)([0-9a-f]{12})[0-9a-f]*$/.exec(digest);
  return match ? `${match[1]}${match[2]}` : digest;
}

/** trivy's counts by severity ({"CRITICAL":1,"HIGH":0,...}) as `CRITICAL 1`, only the non-zero ones; `none` when clean. */
export function formatFindings(countsJson: string | undefined): string {
  if (!countsJson) return 'not scanned';
  const counts = JSON.parse(countsJson) as Record<string, number>;
  const found = Object.entries(counts).filter(([, count]) => count > 0);
  return found.length ? found.map(([severity, count]) => `${severity} ${count}`).join(', ') : 'none';
}
