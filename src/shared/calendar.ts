/**
 * Calendar arithmetic in an IANA time zone, with `Intl` only: pure and
 * workflow-safe (the quarterly workflow and the domain rules both use it).
 */

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

export interface LocalTime {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock date and time of instant `d` in time zone `tz`. */
export function localTime(d: Date, tz: string): LocalTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(d)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second! };
}

/** How far `tz`'s wall clock is ahead of UTC at instant `d`, in milliseconds. */
function offsetMs(d: Date, tz: string): number {
  const t = localTime(d, tz);
  const asUtc = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second);
  return asUtc - Math.floor(d.getTime() / 1000) * 1000;
}

/** The instant the calendar day containing `d` began in `tz` (local midnight, or the first instant after a DST gap). */
export function startOfDay(d: Date, tz: string): Date {
  const t = localTime(d, tz);
  const midnightAsUtc = Date.UTC(t.year, t.month - 1, t.day);
  // Two passes settle the offset across a DST change between midnight and `d`.
  let guess = midnightAsUtc - offsetMs(d, tz);
  guess = midnightAsUtc - offsetMs(new Date(guess), tz);
  const g = localTime(new Date(guess), tz);
  // Midnight skipped by a DST gap: the day began at the first instant that shows this date.
  if (g.day !== t.day) guess += 3_600_000;
  return new Date(guess);
}
