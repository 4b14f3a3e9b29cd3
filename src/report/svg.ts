/**
 * A dependency-free SVG chart: balances by account type as stacked areas and
 * the number of active forked units as a line, week by week. Amounts arrive as
 * decimal strings; they become numbers only for pixel positions (display).
 */
export interface ChartPoint {
  week: number;
  gen: string;
  rev: string;
  com: string;
  forked: string;
  activeForkedUnits: number;
}

const SERIES = [
  { key: 'gen', label: 'Gen-Acc (root)', color: '#2b7bb9' },
  { key: 'rev', label: 'Rev-Acc', color: '#2f9e44' },
  { key: 'com', label: 'Com-Acc (root)', color: '#e67700' },
  { key: 'forked', label: 'forked units', color: '#9c36b5' },
] as const;

/** Pixel coordinates (display only). */
export const px = (n: number) => n.toFixed(1);
/**
 * Escapes text for an SVG text node or a double-quoted attribute; control
 * characters XML does not allow are dropped (labels are user input).
 */
export const esc = (s: string) =>
  s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '') // eslint-disable-line no-control-regex -- exactly what XML forbids
    .replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** A short axis label for an amount ("$1.23M"); display only. */
export function displayAmount(v: number): string {
  if (v >= 1e9) return `$${(v / 1e9).toPrecision(3)}B`;
  if (v >= 1e6) return `$${(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `$${(v / 1e3).toPrecision(3)}k`;
  return `$${Math.round(v)}`;
}

export function renderChart(points: ChartPoint[], title: string): string {
  const W = 960;
  const H = 520;
  const m = { l: 80, r: 70, t: 50, b: 60 };
  const iw = W - m.l - m.r;
  const ih = H - m.t - m.b;
  const n = Math.max(points.length, 2);
  const stacks = points.map((p) => {
    let acc = 0;
    return SERIES.map((s) => {
      const lo = acc;
      acc += Number(p[s.key]);
      return [lo, acc] as const;
    });
  });
  const maxTotal = Math.max(1, ...stacks.map((s) => s[s.length - 1]![1]));
  const maxUnits = Math.max(1, ...points.map((p) => p.activeForkedUnits));
  const x = (i: number) => m.l + (i / (n - 1)) * iw;
  const y = (v: number) => m.t + ih - (v / maxTotal) * ih;
  const yu = (v: number) => m.t + ih - (v / maxUnits) * ih;

  const areas = SERIES.map((s, k) => {
    const top = stacks.map((st, i) => `${px(x(i))},${px(y(st[k]![1]))}`);
    const bottom = stacks.map((st, i) => `${px(x(i))},${px(y(st[k]![0]))}`).reverse();
    return `<polygon points="${[...top, ...bottom].join(' ')}" fill="${s.color}" fill-opacity="0.75"/>`;
  });
  const units = `<polyline points="${points.map((p, i) => `${px(x(i))},${px(yu(p.activeForkedUnits))}`).join(' ')}" fill="none" stroke="#111" stroke-width="2" stroke-dasharray="6 3"/>`;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = maxTotal * f;
    return `<line x1="${m.l}" x2="${m.l + iw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${m.l - 8}" y="${y(v) + 4}" text-anchor="end">${displayAmount(v)}</text>`
      + `<text x="${m.l + iw + 8}" y="${yu(maxUnits * f) + 4}">${Math.round(maxUnits * f)}</text>`;
  });
  const step = Math.max(1, Math.ceil(points.length / 10 / 52) * 52);
  const xticks = points
    .map((p, i) => (p.week % step === 0 || i === 0 ? `<text x="${x(i)}" y="${m.t + ih + 20}" text-anchor="middle">w${p.week}</text>` : ''))
    .join('');
  const legend = [...SERIES.map((s, i) => `<rect x="${m.l + i * 150}" y="${H - 22}" width="12" height="12" fill="${s.color}"/><text x="${m.l + i * 150 + 18}" y="${H - 12}">${esc(s.label)}</text>`),
    `<line x1="${m.l + 600}" x2="${m.l + 620}" y1="${H - 16}" y2="${H - 16}" stroke="#111" stroke-width="2" stroke-dasharray="6 3"/><text x="${m.l + 626}" y="${H - 12}">active forked units (right axis)</text>`];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${m.l}" y="28" font-size="16" font-weight="bold">${esc(title)}</text>
${ticks.join('\n')}
${areas.join('\n')}
${units}
<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ih}" stroke="#333"/><line x1="${m.l}" x2="${m.l + iw}" y1="${m.t + ih}" y2="${m.t + ih}" stroke="#333"/>
${xticks}
${legend.join('\n')}
</svg>
`;
}
