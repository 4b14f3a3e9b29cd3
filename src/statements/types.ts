import type { ActivityType } from '../domain/buckets';

export type StatementFormat = 'csv' | 'ibkr-flex';

export interface StatementRecord {
  /** 1-based line in the file where this record's row or element starts. */
  line: number;
  /** 0, or 1.. for further records derived from the same line (a trade's commission). */
  part: number;
  kind: 'activity' | 'statement_balance' | 'valuation';
  /** As written in the file: the engine account id or the broker's account id. */
  account: string;
  /** Activity records only. */
  type: ActivityType | null;
  /** Cents, two decimals ("1234.50"): > 0 for activity, >= 0 for a balance or valuation. */
  amount: string;
  /** YYYY-MM-DD. */
  date: string;
  /** The broker's transaction id; always set on activity records. */
  transactionId: string | null;
  reference: string | null;
  note: string | null;
}

export interface LineProblem {
  line: number;
  reason: string;
}

export interface ParsedStatement {
  broker: 'csv' | 'ibkr';
  /** Statement lines examined: CSV data rows, or the Flex elements that can carry a record. */
  lines: number;
  /** In file order. */
  records: StatementRecord[];
  /** Lines that post nothing because something is wrong with them. */
  rejected: LineProblem[];
  /** Lines that move no money by design (an option expiring worthless). */
  ignored: LineProblem[];
}

/** The whole file is unusable (the API answers 400 with this message). */
export class MalformedStatement extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.name = 'MalformedStatement';
  }
}

/*
 * What both parsers share.
 */

/** Notes are stored in a varchar(1000). */
export const MAX_NOTE_LENGTH = 1000;

/**
 * Collects one statement's results. Records and problems may be found out of
 * order (a Flex cash report is decided at its closing tag), so `result` sorts
 * them into file order.
 */
export class StatementCollector {
  lines = 0;
  private readonly records: StatementRecord[] = [];
  private readonly rejected: LineProblem[] = [];
  private readonly ignored: LineProblem[] = [];

  add(record: StatementRecord): void {
    this.records.push(record);
  }

  reject(line: number, reason: string): void {
    this.rejected.push({ line, reason });
  }

  ignore(line: number, reason: string): void {
    this.ignored.push({ line, reason });
  }

  result(broker: ParsedStatement['broker']): ParsedStatement {
    if (this.lines === 0) throw new MalformedStatement('the statement has no lines');
    const byLine = (a: { line: number }, b: { line: number }) => a.line - b.line;
    return {
      broker,
      lines: this.lines,
      records: this.records.sort((a, b) => a.line - b.line || a.part - b.part),
      rejected: this.rejected.sort(byLine),
      ignored: this.ignored.sort(byLine),
    };
  }
}

/** `YYYY-MM-DD` when the parts name a real calendar day, else null. */
export function calendarDate(year: string, month: string, day: string): string | null {
  const iso = `${year}-${month}-${day}`;
  const date = new Date(`${iso}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === iso ? iso : null;
}

/** The reason a line dated `date` cannot be posted yet, or null. ISO dates compare as strings. */
export function futureDateProblem(date: string, today: string): string | null {
  return date > today ? `dated ${date}, in the future (today is ${today}, UTC)` : null;
}

/** Checks the caller's `today`; a bad one is a programming error, not a statement problem. */
export function checkToday(today: string): void {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(today);
  if (!m || !calendarDate(m[1]!, m[2]!, m[3]!)) throw new RangeError(`today must be a YYYY-MM-DD date, got ${JSON.stringify(today)}`);
}

const CHUNK_CHARS = 256 * 1024;

/**
 * Cuts a large statement into ~256 KiB pieces at line ends and waits for the
 * event loop after each one, so that parsing a 20 MiB file lets other work
 * (requests, heartbeats) run in between instead of blocking for seconds.
 */
export async function* chunksOf(text: string): AsyncGenerator<string> {
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start + CHUNK_CHARS);
    const end = newline < 0 ? text.length : newline + 1;
    yield text.slice(start, end);
    start = end;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
