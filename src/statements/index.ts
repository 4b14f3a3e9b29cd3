import { parseCsv } from './csv';
import { parseFlex } from './flex';
import { MalformedStatement, checkToday, type ParsedStatement, type StatementFormat } from './types';

export { MalformedStatement };
export type { LineProblem, ParsedStatement, StatementFormat, StatementRecord } from './types';

/** The largest statement accepted, in UTF-8 bytes. */
const MAX_STATEMENT_BYTES = 20 * 1024 * 1024;

/**
 * Reads a broker statement into records, one or more per line, each with the
 * line it came from. Pure: no database, no I/O. A line that cannot be posted
 * is listed in `rejected` or `ignored` with its reason; a file that cannot be
 * read at all throws MalformedStatement.
 *
 * @param opts.today the current date (YYYY-MM-DD, UTC): a line dated later is rejected.
 */
export async function parseStatement(text: string, format: StatementFormat, opts: { today: string }): Promise<ParsedStatement> {
  checkToday(opts.today);
  if (Buffer.byteLength(text, 'utf8') > MAX_STATEMENT_BYTES) throw new MalformedStatement('the statement is larger than 20 MiB');
  switch (format) {
    case 'csv':
      return parseCsv(text, opts.today);
    case 'ibkr-flex':
      return parseFlex(text, opts.today);
  }
}
