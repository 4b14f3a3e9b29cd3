import type Decimal from 'decimal.js';
import { ZERO, formatMoney, sum } from '../domain/money';
import { type ExternalFlow, annualize, formatRatio, timeWeightedReturn } from './twr';

/**
 * The growth report (docs/domain.md, reports), pure: calendar periods in UTC,
 * the column each entry kind counts in, and the rows built from per-period
 * totals that the service aggregates in SQL.
 */

export const PERIODS = ['week', 'month', 'quarter', 'year'] as const;
export type Period = (typeof PERIODS)[number];

/** portfolio: every account but `external` (holding included); unit: its Gen/Rev/Com; account: one of those. */
export const SCOPES = ['portfolio', 'unit', 'account'] as const;
export type Scope = (typeof SCOPES)[number];

/** The columns that change a balance: opening + these = closing. */
export const BALANCE_COLUMNS = ['deposits', 'withdrawals', 'income', 'costs', 'forks', 'merges'] as const;
export type BalanceColumn = (typeof BALANCE_COLUMNS)[number];

/** `reinvestment` moves money between an account's own buckets: no balance change, reported as `reinvested`. */
export type EntryClass = BalanceColumn | 'reinvestment';

/**
 * The class of each journal entry kind. A `reversal` counts in the class of
 * the entry it reverses, with its own (opposite) amounts. Merge position
 * closing nets to zero on each account; it sits with the merge it belongs to.
 */
export const ENTRY_KIND_CLASS: Readonly<Record<string, EntryClass>> = {
  opening: 'deposits',
  deposit: 'deposits',
  withdrawal: 'withdrawals',
  premium: 'income',
  realized_gain: 'income',
  realized_loss: 'costs',
  fee: 'costs',
  assignment: 'costs',
  'fork.debit-parent': 'forks',
  'fork.fund-children': 'forks',
  'merge.move': 'merges',
  'merge.close-positions': 'merges',
  'reinvestment.allocate': 'reinvestment',
};

export const isEntryClass = (c: string): c is EntryClass => c === 'reinvestment' || (BALANCE_COLUMNS as readonly string[]).includes(c);

/**
 * The money that enters or leaves a scope from outside it: the TWR cuts its
 * sub-periods there. At portfolio scope forks and merges move money inside
 * the scope (through `holding`), so only deposits and withdrawals are flows.
 */
export function flowColumns(scope: Scope): BalanceColumn[] {
  return scope === 'portfolio' ? ['deposits', 'withdrawals'] : ['deposits', 'withdrawals', 'forks', 'merges'];
}

// Calendar days as 'YYYY-MM-DD' strings, in UTC. They are compared as numbers
// (epoch days), never as text: text order breaks past year 9999 ('+010000-01-01').
const DAY_MS = 86_400_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const msOf = (day: string) => Date.parse(`${day}T00:00:00Z`);

/** Days since 1970-01-01 (UTC): the number dates are compared by. */
export const epochDay = (day: string): number => Math.round(msOf(day) / DAY_MS);
export const addDays = (day: string, n: number): string => dayOf(msOf(day) + n * DAY_MS);
/** Whole days from `a` to `b`. */
export const daysBetween = (a: string, b: string): number => epochDay(b) - epochDay(a);
export const todayUtc = (now = Date.now()): string => dayOf(now);
const later = (a: string, b: string) => (epochDay(a) > epochDay(b) ? a : b);
const earlier = (a: string, b: string) => (epochDay(a) < epochDay(b) ? a : b);

/** The first day the growth report covers: `from` may not be earlier (entries before it count in the first opening balance). */
export const EARLIEST_REPORT_DAY = '2000-01-01';
/** At most this many rows (periods × keys) per report: a larger one is refused, not computed. */
export const MAX_GROWTH_ROWS = 50_000;

/** The first day of the period holding `day`: ISO weeks start on Monday; months, quarters and years are calendar ones. */
export function periodStartOf(day: string, period: Period): string {
  const d = new Date(msOf(day));
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  switch (period) {
    case 'week': return addDays(day, -((d.getUTCDay() + 6) % 7));
    case 'month': return dayOf(Date.UTC(y, m, 1));
    case 'quarter': return dayOf(Date.UTC(y, m - (m % 3), 1));
    case 'year': return dayOf(Date.UTC(y, 0, 1));
  }
}

function nextPeriodStart(start: string, period: Period): string {
  const d = new Date(msOf(start));
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  switch (period) {
    case 'week': return addDays(start, 7);
    case 'month': return dayOf(Date.UTC(y, m + 1, 1));
    case 'quarter': return dayOf(Date.UTC(y, m + 3, 1));
    case 'year': return dayOf(Date.UTC(y + 1, 0, 1));
  }
}

/** How many periods from the one holding `from` to the one holding `to` (inclusive; 0 when from is after to), counted without listing them. */
export function periodCount(from: string, to: string, period: Period): number {
  if (epochDay(from) > epochDay(to)) return 0;
  if (period === 'week') return (epochDay(periodStartOf(to, 'week')) - epochDay(periodStartOf(from, 'week'))) / 7 + 1;
  const months = (day: string) => {
    const d = new Date(msOf(day));
    return d.getUTCFullYear() * 12 + d.getUTCMonth();
  };
  const size = { month: 1, quarter: 3, year: 12 }[period];
  return Math.floor(months(to) / size) - Math.floor(months(from) / size) + 1;
}

export interface PeriodSlot {
  /** The calendar period's first day (the key the SQL aggregates use). */
  start: string;
  /** Clipped to from..to; periodEnd inclusive. */
  periodStart: string;
  periodEnd: string;
}

/** The periods from the one holding `from` to the one holding `to`, clipped to from..to. */
export function periodSlots(from: string, to: string, period: Period): PeriodSlot[] {
  const slots: PeriodSlot[] = [];
  const last = epochDay(to);
  for (let start = periodStartOf(from, period); epochDay(start) <= last; start = nextPeriodStart(start, period)) {
    const lastDay = addDays(nextPeriodStart(start, period), -1);
    slots.push({ start, periodStart: later(start, from), periodEnd: earlier(lastDay, to) });
  }
  return slots;
}

/** A request the report refuses, with the query parameter to change. */
export interface RangeProblem {
  path: string;
  message: string;
}

/**
 * The explicit bounds of a report: from..to within EARLIEST_REPORT_DAY..today
 * (UTC) and in order. Checked before anything is read or computed.
 */
export function growthRangeProblem(range: { from: string; to: string }, today: string): RangeProblem | null {
  const { from, to } = range;
  for (const [name, day] of [['to', to], ['from', from]] as const) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || !Number.isFinite(epochDay(day))) return { path: `query.${name}`, message: `${name} ${day} is not a YYYY-MM-DD day` };
  }
  if (epochDay(to) > epochDay(today)) return { path: 'query.to', message: `to ${to} is after today (${today}, UTC)` };
  if (epochDay(to) < epochDay(EARLIEST_REPORT_DAY)) {
    return { path: 'query.to', message: `to ${to} is before ${EARLIEST_REPORT_DAY}, the earliest day the report covers` };
  }
  if (epochDay(from) < epochDay(EARLIEST_REPORT_DAY)) {
    return { path: 'query.from', message: `from ${from} is before ${EARLIEST_REPORT_DAY}, the earliest day the report covers` };
  }
  if (epochDay(from) > epochDay(to)) return { path: 'query.from', message: `from ${from} is after to ${to}` };
  return null;
}

const PERIOD_PLURAL: Record<Period, string> = { week: 'weeks', month: 'months', quarter: 'quarters', year: 'years' };
const SCOPE_PLURAL: Record<Scope, string> = { portfolio: 'portfolio', unit: 'units', account: 'accounts' };

/**
 * Refuses a report of more than MAX_GROWTH_ROWS rows before it is computed.
 * Each key gets a row per period from the one holding `from` (or its first
 * entry, when later) to the one holding `to`; `firstDays` are the keys' first
 * entry days.
 */
export function growthSizeProblem(range: GrowthRange & { by: Scope }, firstDays: readonly string[]): RangeProblem | null {
  const last = epochDay(range.to);
  const reported = firstDays.filter((f) => epochDay(f) <= last);
  const rows = reported.reduce((n, f) => n + periodCount(later(f, range.from), range.to, range.period), 0);
  if (rows <= MAX_GROWTH_ROWS) return null;
  const n = (x: number) => x.toLocaleString('en-US');
  const periods = periodCount(range.from, range.to, range.period);
  return {
    path: 'query',
    message: `the report would have ${n(rows)} rows (up to ${n(periods)} ${PERIOD_PLURAL[range.period]} for each of ${n(reported.length)} ${SCOPE_PLURAL[range.by]}), `
      + `more than the limit of ${n(MAX_GROWTH_ROWS)}: use a longer period, fewer keys (by=portfolio) or a shorter range (from, to)`,
  };
}

/** What one key's postings in one period add up to, per class. */
export interface PeriodTotals {
  columns: Partial<Record<BalanceColumn, Decimal>>;
  /** Moved from cash into contracts, LEAPS and reserve by reinvestments (the allocations' non-cash legs). */
  reinvested: Decimal;
}

/** Everything the rows of one key are built from; the maps are keyed by the period's (unclipped) start. */
export interface KeySeries {
  key: string;
  label: string;
  /** The day of the key's first entry (any date, possibly before `from`). */
  firstDay: string;
  /** Balance at `from` 00:00 UTC: every posting before it. */
  openingBeforeFrom: Decimal;
  totals: ReadonlyMap<string, PeriodTotals>;
  /** The external flows in from..to, in time order, with the balance right after each. */
  flows: ReadonlyMap<string, readonly ExternalFlow[]>;
  /** The broker's valuation and its difference to the engine's balance, when the period has one. */
  valuations: ReadonlyMap<string, { valuation: Decimal; unrealized: Decimal }>;
}

/** One key in one period: amounts are decimal strings, `twr` a 6-place ratio; null where undefined. */
export interface GrowthRow extends Record<BalanceColumn, string> {
  key: string;
  label: string;
  periodStart: string;
  periodEnd: string;
  opening: string;
  closing: string;
  reinvested: string;
  twr: string | null;
  valuation: string | null;
  unrealized: string | null;
}

/** The order of the fields in JSON rows and of the CSV columns. */
export const GROWTH_COLUMNS = [
  'key', 'label', 'periodStart', 'periodEnd', 'opening', 'closing', 'deposits', 'withdrawals', 'income', 'costs',
  'forks', 'merges', 'reinvested', 'twr', 'valuation', 'unrealized',
] as const satisfies readonly (keyof GrowthRow)[];

export interface GrowthSummary {
  key: string;
  label: string;
  from: string;
  to: string;
  opening: string;
  closing: string;
  twr: string | null;
  annualized: string | null;
}

export interface GrowthRange {
  from: string;
  to: string;
  period: Period;
}

/** One key's row for one period, from the balance it opens with; the closing and the period's flows go on to the next. */
function periodRow(s: KeySeries, slot: PeriodSlot, opening: Decimal): { row: GrowthRow; closing: Decimal; flows: readonly ExternalFlow[] } {
  const totals = s.totals.get(slot.start);
  const columns = Object.fromEntries(BALANCE_COLUMNS.map((c) => [c, totals?.columns[c] ?? ZERO])) as Record<BalanceColumn, Decimal>;
  const closing = opening.plus(sum(Object.values(columns)));
  const flows = s.flows.get(slot.start) ?? [];
  const valued = s.valuations.get(slot.start);
  const row: GrowthRow = {
    key: s.key,
    label: s.label,
    periodStart: slot.periodStart,
    periodEnd: slot.periodEnd,
    opening: formatMoney(opening),
    closing: formatMoney(closing),
    ...(Object.fromEntries(BALANCE_COLUMNS.map((c) => [c, formatMoney(columns[c])])) as Record<BalanceColumn, string>),
    reinvested: formatMoney(totals?.reinvested ?? ZERO),
    twr: formatRatio(timeWeightedReturn(opening, flows, closing)),
    valuation: valued ? formatMoney(valued.valuation) : null,
    unrealized: valued ? formatMoney(valued.unrealized) : null,
  };
  return { row, closing, flows };
}

/** One key over from..to (from its first entry when later): the TWR through every flow, annualized past 365 days. */
function keySummary(s: KeySeries, range: GrowthRange, flows: readonly ExternalFlow[], closing: Decimal): GrowthSummary {
  const from = later(s.firstDay, range.from);
  const twr = timeWeightedReturn(s.openingBeforeFrom, flows, closing);
  const days = daysBetween(from, range.to) + 1;
  return {
    key: s.key,
    label: s.label,
    from,
    to: range.to,
    opening: formatMoney(s.openingBeforeFrom),
    closing: formatMoney(closing),
    twr: formatRatio(twr),
    annualized: twr !== null && days > 365 ? formatRatio(annualize(twr, days)) : null,
  };
}

/**
 * Rows per key and period, from the period of the key's first entry on:
 * opening, the signed change of each column, closing = opening + the
 * columns, the period's TWR; and a summary per key over from..to.
 */
export function growthReport(series: readonly KeySeries[], range: GrowthRange): { rows: GrowthRow[]; summary: GrowthSummary[] } {
  const rows: GrowthRow[] = [];
  const summary: GrowthSummary[] = [];
  const slots = periodSlots(range.from, range.to, range.period);
  for (const s of series) {
    if (epochDay(s.firstDay) > epochDay(range.to)) continue;
    let balance = s.openingBeforeFrom;
    const flows: ExternalFlow[] = [];
    const first = epochDay(s.firstDay);
    for (const slot of slots.filter((sl) => epochDay(sl.periodEnd) >= first)) {
      const period = periodRow(s, slot, balance);
      rows.push(period.row);
      flows.push(...period.flows);
      balance = period.closing;
    }
    summary.push(keySummary(s, range, flows, balance));
  }
  return { rows, summary };
}

/**
 * A CSV field, quoted when needed. The label is user input: when it starts
 * with = + - @ or a tab it gets a leading quote, so a spreadsheet never runs
 * it as a formula (amounts, negative ones included, stay as they are).
 */
function csvField(value: string | null, userText: boolean): string {
  if (value === null) return '';
  const safe = userText && /^[=+\-@\t]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A header line and one line per row, in the JSON's column order; null is an empty field. */
export function growthCsv(rows: readonly GrowthRow[]): string {
  const lines = [GROWTH_COLUMNS.join(','), ...rows.map((r) => GROWTH_COLUMNS.map((c) => csvField(r[c], c === 'label')).join(','))];
  return `${lines.join('\n')}\n`;
}
