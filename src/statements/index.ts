import { parseCsv } from './csv';
import { parseFlex } from './flex';
import { MalformedStatement, checkToday, type ParsedStatement, type StatementFormat } from './types';

export { MalformedStatement };
export type { LineProblem, ParsedStatement, StatementFormat, StatementRecord } from './types';

/** NUL, or half of a UTF-16 surrogate pair: not text (PostgreSQL refuses both in text and jsonb). */
// eslint-disable-next-line no-control-regex -- finding the NUL character is the point
const NOT_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A statement is text: a NUL character or a broken surrogate refuses the whole file, with its line. */
function checkText(text: string): void {
  const m = NOT_TEXT.exec(text);
  if (!m) return;
  const line = text.slice(0, m.index).split('\n').length;
  throw new MalformedStatement(m[0] === '\u0000' ? 'a NUL character: the file is not text' : 'a broken UTF-16 character: the file is not valid text', line);
}

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
  checkText(text);
  switch (format) {
    case 'csv':
      return parseCsv(text, opts.today);
    case 'ibkr-flex':
      return parseFlex(text, opts.today);
  }
}
