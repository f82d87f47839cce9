/** Human-readable rendering of a bundle summary for `bundle inspect` and `bundle verify`. */
import type { BundleSummary } from '../src/bundle/summary.js';
import { formatBytes } from '../src/units.js';

export function renderSummary(s: BundleSummary & { archiveBytes: number }, signersLabel: string): string {
  const lines = [
    `name:      ${s.name}`,
    `channel:   ${s.channel}`,
    `sequence:  ${s.sequence}`,
    `created:   ${s.created}`,
    `expires:   ${s.expires ?? 'never'}`,
    ...(s.base ? [`base:      ${s.base}`] : []),
    `root:      ${s.rootDigest}`,
    `${signersLabel.padEnd(10)} ${s.signers.join(', ') || 'none'}`,
    `size:      ${formatBytes(s.archiveBytes)} archive, ${formatBytes(s.contentBytes)} in ${s.blobs} blobs`,
    `images (${s.images.length}):`,
    ...s.images.map((i) => `  ${i.ref}  ${i.digest}  ${formatBytes(i.size)}`),
    `git snapshots (${s.git.length}):`,
    ...s.git.map((g) => `  ${g.name}  ${g.ref}  ${g.commit}${g.manifests ? `  manifests: ${g.manifests}` : ''}`),
    `manifest sets (${s.manifests.length}):`,
    ...s.manifests.map((m) => `  ${m.name}  (${m.files.length} file${m.files.length === 1 ? '' : 's'})`),
    ...(s.charts?.length ? [`charts (${s.charts.length}):`, ...s.charts.map((c) => `  ${c.name}  ${c.chart} ${c.version}${c.requested ? ` (asked ${c.requested})` : ''}  served as ${c.ref}  from ${c.from}`)] : []),
  ];
  return `${lines.join('\n')}\n`;
}
