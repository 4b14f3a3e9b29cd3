import { displayAmount, esc, px } from '../report/svg';
import type { GrowthRow } from './growth';

/**
 * Dependency-free SVG for the reports: balances per period as lines, and the
 * unit tree as boxes. Amounts arrive as decimal strings and become numbers
 * only for pixel positions; the amounts printed in the tree are the strings
 * themselves.
 */

const PALETTE = ['#2b7bb9', '#e67700', '#2f9e44', '#9c36b5', '#c92a2a', '#0b7285', '#5f3dc4', '#868e96', '#d6336c', '#364fc7'];
/** More series than this get no legend entry of their own (the chart stays readable). */
const MAX_LEGEND = 20;

export interface LineSeries {
  label: string;
  /** One value per category; null where the series has no value (before its first period). */
  values: (string | null)[];
}

/** Lines over categories (periods), one per series, on a shared amount axis. */
export function renderLineChart(opts: { title: string; categories: string[]; series: LineSeries[] }): string {
  const { title, categories, series } = opts;
  const W = 960;
  const PLOT_H = 480; // the chart above the legend
  const m = { l: 80, r: 30, t: 50, b: 60 };
  const legendRows = Math.ceil(Math.min(series.length, MAX_LEGEND + 1) / 4);
  const H = PLOT_H + legendRows * 18;
  const iw = W - m.l - m.r;
  const ih = PLOT_H - m.t - m.b;
  const n = Math.max(categories.length, 2);
  // A loop, not Math.max(...values): thousands of keys × periods would overflow the argument list.
  let top = 1;
  for (const s of series) for (const v of s.values) if (v !== null) top = Math.max(top, Number(v));
  const maxValue = niceCeiling(top);
  const x = (i: number) => m.l + (categories.length === 1 ? iw / 2 : (i / (n - 1)) * iw);
  const y = (v: number) => m.t + ih - (v / maxValue) * ih;

  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = maxValue * f;
    return `<line x1="${m.l}" x2="${m.l + iw}" y1="${px(y(v))}" y2="${px(y(v))}" stroke="#ddd"/><text x="${m.l - 8}" y="${px(y(v) + 4)}" text-anchor="end">${esc(displayAmount(v))}</text>`;
  });
  const every = Math.max(1, Math.ceil(categories.length / 12));
  // The first and last labels align to the plot's edges, so neither is cut off by the canvas.
  const anchor = (i: number) => (categories.length > 1 && i === 0 ? 'start' : i === categories.length - 1 && categories.length > 1 ? 'end' : 'middle');
  const xticks = categories.map((c, i) => (i % every === 0 ? `<text x="${px(x(i))}" y="${m.t + ih + 20}" text-anchor="${anchor(i)}">${esc(c)}</text>` : ''));
  const lines = series.map((s, k) => {
    const color = PALETTE[k % PALETTE.length]!;
    // A null value breaks the line: one polyline per run of values (a lone value is a dot).
    const runs: [number, number][][] = [[]];
    s.values.forEach((v, i) => {
      if (v === null) runs.push([]);
      else runs[runs.length - 1]!.push([x(i), y(Number(v))]);
    });
    const drawn = runs.filter((r) => r.length > 0).map((r) =>
      r.length === 1
        ? `<circle cx="${px(r[0]![0])}" cy="${px(r[0]![1])}" r="3" fill="${color}"/>`
        : `<polyline points="${r.map(([a, b]) => `${px(a)},${px(b)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    return `<g><title>${esc(s.label)}</title>${drawn.join('')}</g>`;
  });
  const legend = series.slice(0, MAX_LEGEND).map((s, k) => {
    const lx = m.l + (k % 4) * 215;
    const ly = PLOT_H + Math.floor(k / 4) * 18;
    return `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${PALETTE[k % PALETTE.length]}"/><text x="${lx + 18}" y="${ly}">${esc(truncate(s.label, 30))}</text>`;
  });
  if (series.length > MAX_LEGEND) {
    legend.push(`<text x="${m.l + (MAX_LEGEND % 4) * 215}" y="${PLOT_H + Math.floor(MAX_LEGEND / 4) * 18}">and ${series.length - MAX_LEGEND} more</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${m.l}" y="28" font-size="16" font-weight="bold">${esc(title)}</text>
${grid.join('\n')}
<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ih}" stroke="#333"/><line x1="${m.l}" x2="${m.l + iw}" y1="${m.t + ih}" y2="${m.t + ih}" stroke="#333"/>
${xticks.join('')}
${lines.join('\n')}
${legend.join('\n')}
</svg>
`;
}

/** The growth report's closing balance per period, one line per key (a key's line starts at its first period). */
export function renderGrowthChart(rows: readonly GrowthRow[], title: string): string {
  const categories = [...new Set(rows.map((r) => r.periodStart))].sort();
  const series = new Map<string, { label: string; closing: Map<string, string> }>();
  for (const r of rows) {
    const s = series.get(r.key) ?? { label: r.label, closing: new Map<string, string>() };
    s.closing.set(r.periodStart, r.closing);
    series.set(r.key, s);
  }
  return renderLineChart({
    title,
    categories,
    series: [...series.values()].map((s) => ({ label: s.label, values: categories.map((c) => s.closing.get(c) ?? null) })),
  });
}

/** The smallest 1, 2, 4, 6 or 8 × 10^k at or above `v`: an axis top whose quarter ticks are round numbers. */
function niceCeiling(v: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 4, 6, 8, 10].map((f) => f * magnitude).find((c) => c >= v)!;
}

const truncate = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** A unit of the tree with its balances (null: the unit has no such account, as a forked unit has no Rev-Acc). */
export interface UnitTreeNode {
  unitId: string;
  kind: 'root' | 'forked';
  status: string;
  balances: { gen: string | null; rev: string | null; com: string | null; total: string };
  children: UnitTreeNode[];
}

/** "1234567.50" → "1,234,567.50" (the exact amount, grouped for reading). */
function grouped(amount: string): string {
  const [int, frac] = amount.split('.');
  const sign = int!.startsWith('-') ? '-' : '';
  return `${sign}${int!.replace('-', '').replace(/\B(?=(\d{3})+$)/g, ',')}${frac === undefined ? '' : `.${frac}`}`;
}

const BOX = { w: 180, h: 96, gapX: 20, gapY: 56 };

interface Placed {
  node: UnitTreeNode;
  x: number;
  depth: number;
}

/** Leaves take the next slot left to right; a parent sits centred over its children. */
function layout(roots: readonly UnitTreeNode[]): { placed: Placed[]; edges: [Placed, Placed][]; slots: number; depth: number } {
  const placed: Placed[] = [];
  const edges: [Placed, Placed][] = [];
  let slot = 0;
  let maxDepth = 0;
  const visit = (node: UnitTreeNode, depth: number): Placed => {
    maxDepth = Math.max(maxDepth, depth);
    const kids = node.children.map((c) => visit(c, depth + 1));
    const x = kids.length ? (kids[0]!.x + kids[kids.length - 1]!.x) / 2 : slot++;
    const p = { node, x, depth };
    placed.push(p);
    for (const k of kids) edges.push([p, k]);
    return p;
  };
  for (const r of roots) visit(r, 0);
  return { placed, edges, slots: Math.max(slot, 1), depth: maxDepth + 1 };
}

/** The unit tree: one box per unit with its Gen/Rev/Com balances and total, a line from each parent to each child. */
export function renderUnitTree(roots: readonly UnitTreeNode[], title: string): string {
  const m = { l: 20, t: 50 };
  const { placed, edges, slots, depth } = layout(roots);
  const W = Math.max(480, m.l * 2 + slots * (BOX.w + BOX.gapX));
  const H = m.t + depth * (BOX.h + BOX.gapY) + 10;
  const left = (p: Placed) => m.l + p.x * (BOX.w + BOX.gapX);
  const top = (p: Placed) => m.t + p.depth * (BOX.h + BOX.gapY);

  const lines = edges.map(([a, b]) => {
    const x1 = left(a) + BOX.w / 2;
    const y1 = top(a) + BOX.h;
    const x2 = left(b) + BOX.w / 2;
    const y2 = top(b);
    const mid = (y1 + y2) / 2;
    return `<path d="M${px(x1)},${px(y1)} V${px(mid)} H${px(x2)} V${px(y2)}" fill="none" stroke="#888"/>`;
  });
  const boxes = placed.map((p) => {
    const { node } = p;
    const live = node.status === 'active';
    const heading = `${node.kind === 'root' ? 'root unit' : `unit …${node.unitId.slice(-6)}`}${live ? '' : ` (${node.status})`}`;
    const rows: [string, string | null][] = [['Gen', node.balances.gen], ['Rev', node.balances.rev], ['Com', node.balances.com], ['Total', node.balances.total]];
    const text = rows
      .filter(([, v]) => v !== null)
      .map(([k, v], i) => `<text x="${px(left(p) + 8)}" y="${px(top(p) + 36 + i * 15)}">${k}</text><text x="${px(left(p) + BOX.w - 8)}" y="${px(top(p) + 36 + i * 15)}" text-anchor="end"${k === 'Total' ? ' font-weight="bold"' : ''}>$${esc(grouped(v!))}</text>`);
    return `<g><title>${esc(node.unitId)}</title><rect x="${px(left(p))}" y="${px(top(p))}" width="${BOX.w}" height="${BOX.h}" rx="6" fill="${live ? '#f1f7fd' : '#f1f3f5'}" stroke="${live ? '#2b7bb9' : '#adb5bd'}"${live ? '' : ' stroke-dasharray="4 3"'}/>`
      + `<text x="${px(left(p) + 8)}" y="${px(top(p) + 18)}" font-weight="bold">${esc(heading)}</text>${text.join('')}</g>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${m.l}" y="28" font-size="16" font-weight="bold">${esc(title)}</text>
${lines.join('\n')}
${boxes.join('\n')}
</svg>
`;
}
