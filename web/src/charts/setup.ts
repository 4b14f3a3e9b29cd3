/**
 * Chart.js, tree-shaken: only the controllers, elements, scales and plugins
 * registered here end up in the bundle (never `chart.js/auto`). Chart.js 4
 * draws on a canvas and sets only style properties from JS, so it works under
 * the page's `style-src 'self'`.
 *
 * Colours are CSS custom properties of the global stylesheet (`var(--accent,
 * #fallback)`), resolved against the canvas when a chart is drawn, so the
 * charts follow the page's theme.
 */
import { BarController, BarElement, CategoryScale, Chart, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, BarController, BarElement, Tooltip, Legend, Filler);

export { Chart };

/** The theme's colours, with fallbacks for a page whose stylesheet has not loaded. */
export const COLOR = {
  fg: 'var(--fg, #1f2937)',
  muted: 'var(--muted, #6b7280)',
  border: 'var(--border, #d1d5db)',
  accent: 'var(--accent, #2563eb)',
  ok: 'var(--ok, #15803d)',
  warn: 'var(--warn, #b45309)',
  bad: 'var(--bad, #b91c1c)',
  // Two more for series the theme has no variable for.
  violet: '#7c3aed',
  teal: '#0e7490',
} as const;

const VAR = /^var\(\s*(--[\w-]+)\s*(?:,\s*(.+?)\s*)?\)$/;

/** `var(--accent, #2563eb)` -> the property's value on `el` (or the fallback); any other colour as it is. */
export function resolveColor(value: string, el: Element): string {
  const m = VAR.exec(value.trim());
  if (!m) return value;
  const found = getComputedStyle(el).getPropertyValue(m[1]!).trim();
  return found || m[2] || '#888888';
}

let probe: CanvasRenderingContext2D | null | undefined;

/** A colour with an alpha, for the area under a line: the browser normalises any CSS colour to #rrggbb or rgba(). */
export function withAlpha(color: string, alpha: number): string {
  probe ??= document.createElement('canvas').getContext('2d');
  if (!probe) return color;
  probe.fillStyle = '#000000';
  probe.fillStyle = color;
  const normal = String(probe.fillStyle);
  const hex = /^#([0-9a-f]{6})$/i.exec(normal);
  if (hex) {
    const n = parseInt(hex[1]!, 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  const rgba = /^rgba?\(([^)]+)\)$/.exec(normal);
  if (rgba) {
    const [r, g, b] = rgba[1]!.split(',').map((s) => s.trim());
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  return color;
}

/** Users who asked for less motion get charts that appear without animating. */
export const reducedMotion = (): boolean => typeof window.matchMedia === 'function' && window.matchMedia('(prefers-reduced-motion: reduce)').matches;

/** Axis ticks of a rate ("0.0123" plotted as 0.0123 -> "1.2%"). */
export const rateTick = (n: number): string => `${(n * 100).toFixed(Math.abs(n) < 0.1 ? 1 : 0)}%`;

/**
 * Labels of calendar dates (YYYY-MM-DD, UTC calendar days as the reports
 * use them): formatted in UTC so a reader west of Greenwich does not see
 * the day before.
 */
const utc = (iso: string) => new Date(`${iso.slice(0, 10)}T00:00:00Z`);

export const fullDate = (iso: string): string => utc(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });

export const shortDate = (iso: string, withYear = false): string =>
  utc(iso).toLocaleDateString(undefined, { month: 'short', day: 'numeric', ...(withYear && { year: '2-digit' }), timeZone: 'UTC' });

/** A period's name from its start: "Jan 6" (week), "Jan 2025" (month), "Q1 2025" (quarter), "2025" (year). */
export function periodName(start: string, period: 'week' | 'month' | 'quarter' | 'year', withYear = false): string {
  const d = utc(start);
  switch (period) {
    case 'week':
      return shortDate(start, withYear);
    case 'month':
      return d.toLocaleDateString(undefined, { month: 'short', year: 'numeric', timeZone: 'UTC' });
    case 'quarter':
      return `Q${Math.floor(d.getUTCMonth() / 3) + 1} ${d.getUTCFullYear()}`;
    case 'year':
      return String(d.getUTCFullYear());
  }
}
