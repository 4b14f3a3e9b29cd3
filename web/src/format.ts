/**
 * Amounts arrive as decimal strings and are formatted with decimal.js, never
 * through a float. Ratios for progress bars are computed the same way.
 */
import Decimal from 'decimal.js';

export { Decimal };

const group = (digits: string) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** "1234567.5" -> "$1,234,567.50"; "-12" -> "−$12.00". */
export function money(value: string | Decimal | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—';
  // Rounded first, so an amount that rounds to zero shows no sign.
  const d = new Decimal(value).toDecimalPlaces(2);
  const [int, frac] = d.abs().toFixed(2).split('.');
  return `${d.isNegative() && !d.isZero() ? '−' : ''}$${group(int!)}.${frac}`;
}

/** Short form for chart axes: $1.2M, $350K. */
export function compactMoney(value: number): string {
  const abs = Math.abs(value);
  const sign = value < 0 ? '−' : '';
  if (abs >= 1e9) return `${sign}$${(abs / 1e9).toFixed(1)}B`;
  if (abs >= 1e6) return `${sign}$${(abs / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${sign}$${(abs / 1e3).toFixed(0)}K`;
  return `${sign}$${abs.toFixed(0)}`;
}

/** A rate as a percentage: "0.012345" -> "1.23%"; null -> "—". */
export function percent(rate: string | Decimal | null | undefined, places = 2): string {
  if (rate === null || rate === undefined || rate === '') return '—';
  const pct = new Decimal(rate).times(100).toDecimalPlaces(places);
  return `${pct.isNegative() && !pct.isZero() ? '−' : ''}${pct.abs().toFixed(places)}%`;
}

/** value / limit as a percentage clamped to 0..100, for a progress bar, and whether the limit is reached. */
export function progress(value: string | Decimal, limit: string | Decimal): { pct: number; label: string; reached: boolean } {
  const v = new Decimal(value);
  const l = new Decimal(limit);
  if (l.lte(0)) return { pct: 100, label: '100.0%', reached: true };
  // Rounded down: 49,999.99 of 50,000 is 99.9%, never a 100% that has not been reached.
  const ratio = Decimal.max(0, v.div(l).times(100)).toDecimalPlaces(1, Decimal.ROUND_DOWN);
  return { pct: Decimal.min(100, ratio).toNumber(), label: `${ratio.toFixed(1)}%`, reached: v.gte(l) };
}

export const sum = (values: (string | Decimal)[]): Decimal => values.reduce<Decimal>((s, v) => s.plus(v), new Decimal(0));

/** Dates and times in the reader's locale. */
export const day = (iso: string) => new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
export const when = (iso: string) =>
  new Date(iso).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });

export const ACCOUNT_NAME: Record<string, string> = { gen: 'Gen-Acc', rev: 'Rev-Acc', com: 'Com-Acc' };
