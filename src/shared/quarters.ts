import { localTime } from './calendar';

/** Calendar quarters as "2026Q3". Workflow-safe. */
export const QUARTER_PATTERN = /^(\d{4})Q([1-4])$/;

/** The quarter that contains instant `d` on the calendar of time zone `tz` (default UTC). */
export function quarterOf(d: Date, tz = 'UTC'): string {
  const { year, month } = localTime(d, tz);
  return `${year}Q${Math.floor((month - 1) / 3) + 1}`;
}

/**
 * The most recent quarter that has closed before instant `d`, on the calendar
 * of `tz`: 01:00 on 1 July in Asia/Tokyo is still 30 June in UTC, yet Q2 has
 * closed in Tokyo.
 */
export function lastClosedQuarter(d: Date, tz = 'UTC'): string {
  const { year, month } = localTime(d, tz);
  const q = Math.floor((month - 1) / 3) + 1;
  return q === 1 ? `${year - 1}Q4` : `${year}Q${q - 1}`;
}

/** Sorts as strings: "2026Q3" < "2026Q4" < "2027Q1". */
export const compareQuarters = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
