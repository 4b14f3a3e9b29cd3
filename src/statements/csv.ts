import { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { ACTIVITY_TYPES, type ActivityType } from '../domain/buckets';
import { formatMoney, isMoneyString, money } from '../domain/money';
import {
  MAX_NOTE_LENGTH,
  MalformedStatement,
  StatementCollector,
  calendarDate,
  chunksOf,
  futureDateProblem,
  type ParsedStatement,
  type StatementRecord,
} from './types';

/**
 * The generic CSV statement: a header naming the columns (any order, extra
 * columns ignored), then one movement, balance or valuation per line.
 */
const COLUMNS = ['date', 'account', 'type', 'amount', 'reference', 'note'] as const;
type Column = (typeof COLUMNS)[number];
const REQUIRED_COLUMNS: readonly Column[] = ['date', 'account', 'type', 'amount'];

const BALANCE_KINDS = ['statement_balance', 'valuation'] as const;
type BalanceKind = (typeof BALANCE_KINDS)[number];
const TYPES: readonly string[] = [...ACTIVITY_TYPES, ...BALANCE_KINDS];

/** Stored in varchar columns of these sizes (accounts.broker_account_id, import_lines.reference). */
const MAX_ACCOUNT_LENGTH = 64;
const MAX_REFERENCE_LENGTH = 200;

interface Header {
  /** Where each known column is; reference and note may be absent. */
  index: Partial<Record<Column, number>>;
  width: number;
}

export async function parseCsv(text: string, today: string): Promise<ParsedStatement> {
  // csv-parse counts a CRLF inside a quoted field as two lines; with LF only, its line numbers are exact.
  const normalized = text.replace(/\r\n?/g, '\n');
  const out = new StatementCollector();
  let header: Header | undefined;
  // The line where each row ends, noted as csv-parse completes the row: the stream hands rows
  // over later, and on a syntax error drops those it had not handed over yet.
  const rowEnds: number[] = [];
  const parser = Readable.from(chunksOf(normalized)).pipe(
    parse({
      bom: true,
      trim: true,
      skip_empty_lines: true,
      // Spreadsheets export blank rows as ",,,,,".
      skip_records_with_empty_values: true,
      // A row with the wrong number of fields is that line's problem, not the whole file's.
      relax_column_count: true,
      on_record: (row, context) => {
        rowEnds.push(context.lines);
        return row;
      },
    }),
  );
  try {
    let index = 0;
    for await (const record of parser as AsyncIterable<string[]>) {
      const line = startLine(record, rowEnds[index++]!);
      if (!header) {
        header = readHeader(record, line);
      } else {
        out.lines++;
        readRow(record, header, line, today, out);
      }
    }
  } catch (error) {
    throw error instanceof CsvError ? syntaxError(error, normalized, rowEnds.at(-1) ?? 0) : error;
  }
  if (!header) throw new MalformedStatement(`the file is empty: no lines (expected a header ${COLUMNS.join(',')} and one line per movement)`);
  return out.result('csv');
}

/**
 * csv-parse reports the line where a row ends; a row starts as many lines
 * earlier as there are line breaks inside its quoted fields.
 */
function startLine(cells: string[], endLine: number): number {
  let breaks = 0;
  for (const cell of cells) for (let i = cell.indexOf('\n'); i >= 0; i = cell.indexOf('\n', i + 1)) breaks++;
  return endLine - breaks;
}

function readHeader(cells: string[], line: number): Header {
  const names = cells.map((c) => c.toLowerCase());
  const index: Header['index'] = {};
  for (const column of COLUMNS) {
    const at = names.indexOf(column);
    if (at < 0) continue;
    if (names.lastIndexOf(column) !== at) throw new MalformedStatement(`the header names the column "${column}" twice`, line);
    index[column] = at;
  }
  const missing = REQUIRED_COLUMNS.filter((c) => index[c] === undefined);
  if (missing.length > 0) {
    throw new MalformedStatement(
      `the header has no ${missing.map((c) => `"${c}"`).join(', ')} column; expected the columns ${COLUMNS.join(',')} (reference and note may be left out)`,
      line,
    );
  }
  return { index, width: cells.length };
}

function readRow(cells: string[], header: Header, line: number, today: string, out: StatementCollector): void {
  if (cells.length !== header.width) {
    out.reject(line, `has ${cells.length} fields; the header has ${header.width}`);
    return;
  }
  const cell = (column: Column) => {
    const at = header.index[column];
    return at === undefined ? '' : cells[at]!.trim();
  };
  const problems = new Problems();
  const date = readDate(cell('date'), problems);
  const account = readAccount(cell('account'), problems);
  const type = readType(cell('type'), problems);
  const isActivity = type !== undefined && !isBalanceKind(type);
  const amount = readAmount(cell('amount'), type, problems);
  const reference = readReference(cell('reference'), isActivity, problems);
  const note = cell('note');
  if (note.length > MAX_NOTE_LENGTH) problems.add(`note is ${note.length} characters; at most ${MAX_NOTE_LENGTH} are allowed`);
  const future = date === undefined ? null : futureDateProblem(date, today);
  if (future) problems.add(future);
  if (problems.list.length > 0 || date === undefined || account === undefined || type === undefined || amount === undefined) {
    out.reject(line, problems.list.join('; '));
    return;
  }
  const record: StatementRecord = {
    line,
    part: 0,
    kind: isBalanceKind(type) ? type : 'activity',
    account,
    type: isBalanceKind(type) ? null : type,
    amount,
    date,
    // On an activity line the reference is the broker's transaction id: what makes a re-import post nothing twice.
    transactionId: isActivity ? reference : null,
    reference,
    note: note === '' ? null : note,
  };
  out.add(record);
}

/** Every field of a line is checked, so that its reason lists all that is wrong. */
class Problems {
  readonly list: string[] = [];

  add(reason: string): undefined {
    this.list.push(reason);
    return undefined;
  }
}

function isBalanceKind(type: string): type is BalanceKind {
  return (BALANCE_KINDS as readonly string[]).includes(type);
}

const DATE_OR_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:\d{2})?)?$/i;

/** A date, or a timestamp whose UTC date is taken (a timestamp without a zone is read as UTC). */
function readDate(value: string, problems: Problems): string | undefined {
  const expected = 'expected a date such as 2026-11-06 (or an ISO timestamp such as 2026-11-06T15:30:00Z)';
  if (value === '') return problems.add(`date is missing; ${expected}`);
  const m = DATE_OR_TIMESTAMP.exec(value);
  const day = m && calendarDate(m[1]!, m[2]!, m[3]!);
  if (!m || !day) return problems.add(`date "${value}" is not a date; ${expected}`);
  if (m[4] === undefined) return day;
  const instant = new Date(`${day}T${m[4]}${(m[5] ?? 'Z').toUpperCase()}`);
  if (Number.isNaN(instant.getTime())) return problems.add(`date "${value}" is not a valid timestamp; ${expected}`);
  return instant.toISOString().slice(0, 10);
}

function readAccount(value: string, problems: Problems): string | undefined {
  if (value === '') return problems.add("account is missing; expected the engine account id or the broker's account id");
  if (value.length > MAX_ACCOUNT_LENGTH) return problems.add(`account is ${value.length} characters; at most ${MAX_ACCOUNT_LENGTH} are allowed`);
  return value;
}

function readType(value: string, problems: Problems): ActivityType | BalanceKind | undefined {
  const type = value.toLowerCase();
  if (TYPES.includes(type)) return type as ActivityType | BalanceKind;
  const expected = `expected one of ${TYPES.join(', ')}`;
  return problems.add(value === '' ? `type is missing; ${expected}` : `unknown type "${value}"; ${expected}`);
}

/** Amounts are written positive; an activity's type gives the direction. */
function readAmount(value: string, type: ActivityType | BalanceKind | undefined, problems: Problems): string | undefined {
  const expected = 'a decimal amount such as 1234.50 (no sign, thousands separator or currency symbol; at most 2 decimals)';
  if (value === '') return problems.add(`amount is missing; expected ${expected}`);
  const isBalance = type !== undefined && isBalanceKind(type);
  if (value.startsWith('-') && isMoneyString(value.slice(1))) {
    return problems.add(
      isBalance
        ? `amount "${value}" is negative; a ${type} must be 0 or more`
        : `amount "${value}" is negative; write it positive: the type gives the direction (money out is withdrawal,2500.00)`,
    );
  }
  if (!isMoneyString(value)) return problems.add(`amount "${value}" is not ${expected}`);
  const amount = money(value);
  if (!isBalance && amount.isZero()) return problems.add(`amount ${value} moves no money; an activity amount must be greater than 0`);
  return formatMoney(amount);
}

function readReference(value: string, isActivity: boolean, problems: Problems): string | null {
  if (value.length > MAX_REFERENCE_LENGTH) {
    problems.add(`reference is ${value.length} characters; at most ${MAX_REFERENCE_LENGTH} are allowed`);
    return null;
  }
  if (value === '' && isActivity) {
    problems.add("reference is missing: an activity line needs the broker's transaction id, which is what makes a re-import post nothing twice");
  }
  return value === '' ? null : value;
}

function syntaxError(error: CsvError, text: string, lastRowEnd: number): MalformedStatement {
  if (error.code === 'CSV_QUOTE_NOT_CLOSED') {
    // csv-parse notices at the end of the file; the row that opened the quote is more useful.
    return new MalformedStatement('a quoted field on this line is never closed (expected a closing ")', firstContentLineAfter(text, lastRowEnd));
  }
  const line = typeof error.lines === 'number' ? error.lines : undefined;
  return new MalformedStatement(`CSV syntax error: ${error.message}`, line);
}

/** The first line after `line` that csv-parse does not skip (blank, or only commas). */
function firstContentLineAfter(text: string, line: number): number {
  const lines = text.split('\n');
  let i = line;
  while (i < lines.length - 1 && /^[\s,]*$/.test(lines[i]!)) i++;
  return i + 1;
}
