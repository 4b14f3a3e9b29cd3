import { type EntityManager, IsolationLevel, type MikroORM } from '@mikro-orm/postgresql';
import { DomainError } from '../domain/errors';
import { ZERO, formatMoney, fromDb } from '../domain/money';
import { type PortfolioSettings, type TemplateName, withDefaults } from '../domain/settings';
import { pgIso } from '../db/sql';
import { ACCOUNT_COLUMNS, type AccountRecord, accountView } from './views';

/** Rows read per query while streaming: memory stays bounded whatever the size of the ledger. */
const CHUNK = 5_000;

/** Below every UUID: the keyset start of a portfolio's entries. */
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

const ENTRIES_CSV_HEADER = 'posting_id,entry_id,occurred_at,kind,bucket,amount,balance_after,operation_id,reference,actor';

type Row = Record<string, unknown>;

interface EntryRow {
  id: string; kind: string; occurred_at: string; created_at: string; idempotency_key: string; operation_id: string | null;
  actor: string; reference: string | null; note: string | null; reverses_entry_id: string | null;
  base_changes: { accountId: string; delta: string }[];
  postings: { accountId: string; bucket: string; amount: string }[];
}

interface PostingRow {
  id: string; entry_id: string; occurred_at: string; kind: string; bucket: string; amount: string;
  operation_id: string | null; reference: string | null; actor: string;
}

/**
 * What one process allows its exports. Each running export holds a pool
 * connection and a REPEATABLE READ snapshot (which holds back vacuum) for as
 * long as its client takes to read, so: few at a time, none idle or stuck for
 * long, none longer than the deadline.
 */
export interface ExportLimits {
  /** Exports streamed at once by this process; one more is refused (503) until one ends. */
  concurrent: number;
  /** The Retry-After of that refusal, in seconds. */
  retryAfterSeconds: number;
  /** The snapshot transaction's idle_in_transaction_session_timeout: a client that stops reading for this long loses its export. */
  idleInTransactionMs: number;
  /** The snapshot transaction's statement_timeout: the longest one page may take to read. */
  statementMs: number;
  /** The longest one export may run, from its request to its last byte; then the response is aborted. */
  deadlineMs: number;
}

export const EXPORT_LIMITS: Readonly<ExportLimits> = {
  concurrent: 2,
  retryAfterSeconds: 10,
  idleInTransactionMs: 60_000,
  statementMs: 30_000,
  deadlineMs: 10 * 60_000,
};

/** Refused: this process already streams as many exports as it allows. */
export class ExportsBusy extends Error {
  constructor(readonly limit: number, readonly retryAfterSeconds: number) {
    super(`${limit} exports are already running on this server; retry in ${retryAfterSeconds} seconds`);
    this.name = 'ExportsBusy';
  }
}

/**
 * An export's body: its pieces, read as the client reads, and the signal of
 * its deadline, on which whoever sends it aborts the response. Nothing is
 * read, and no connection or slot taken, until the first piece is asked for;
 * then a full house fails that first read with ExportsBusy. Ending the
 * iteration early (`return()`) ends the snapshot and frees the slot.
 */
export type ExportStream = AsyncGenerator<string> & { readonly deadline: AbortSignal };

/**
 * Whole-portfolio and whole-account exports, streamed: the large parts (the
 * journal) are read in keyset-paginated chunks and written as they are read,
 * so an export of any size never sits in memory whole.
 */
export class ExportService {
  private readonly limits: ExportLimits;
  private running = 0;

  constructor(private readonly orm: MikroORM, limits: Partial<ExportLimits> = {}) {
    this.limits = { ...EXPORT_LIMITS, ...limits };
  }

  /** GET /v1/portfolios/:id/export: the portfolio, its tree, every entry with its postings, and its records, as one JSON document. */
  async portfolioJson(portfolioId: string): Promise<ExportStream> {
    await this.mustExist('select 1 from portfolios where id = ?', portfolioId, new DomainError('NotFound', 'portfolio not found'));
    return this.inSnapshot((em) => portfolioDocument(em, portfolioId));
  }

  /** GET /v1/accounts/:id/entries?format=csv: every posting of the account, oldest first, with the running balance. */
  async accountEntriesCsv(accountId: string): Promise<ExportStream> {
    await this.mustExist('select 1 from accounts where id = ? and unit_id is not null', accountId, new DomainError('AccountNotFound', 'account not found'));
    return this.inSnapshot((em) => entriesCsv(em, accountId));
  }

  /** Checked before streaming starts: once the first piece is out, a failure can only abort the response. */
  private async mustExist(sql: string, id: string, missing: DomainError): Promise<void> {
    const [row] = await this.orm.em.fork().execute(sql, [id]);
    if (!row) throw missing;
  }

  private inSnapshot(read: (em: EntityManager) => AsyncGenerator<string>): ExportStream {
    const deadline = AbortSignal.timeout(this.limits.deadlineMs);
    return Object.assign(this.snapshot(read, deadline), { deadline });
  }

  /**
   * Runs `read` in one read-only REPEATABLE READ transaction: every chunk
   * sees the same snapshot, so an entry committed mid-export is in every part
   * (and in the balances) or in none. Takes one of the process's export slots
   * first, and gives it back with the connection however the export ends.
   */
  private async *snapshot(read: (em: EntityManager) => AsyncGenerator<string>, deadline: AbortSignal): AsyncGenerator<string> {
    const { concurrent, retryAfterSeconds, idleInTransactionMs, statementMs } = this.limits;
    if (this.running >= concurrent) throw new ExportsBusy(concurrent, retryAfterSeconds);
    this.running++;
    try {
      const em = this.orm.em.fork();
      await em.begin({ isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true });
      try {
        // For this transaction only: PostgreSQL itself ends a snapshot whose client stopped reading, or a page that hangs.
        await em.execute(
          `select set_config('idle_in_transaction_session_timeout', ?, true), set_config('statement_timeout', ?, true)`,
          [String(idleInTransactionMs), String(statementMs)],
        );
        for await (const piece of read(em)) {
          deadline.throwIfAborted();
          yield piece;
        }
      } finally {
        // Nothing to commit; ending the transaction returns the connection, also when the client leaves mid-way.
        // Its error (the session already ended by a timeout) would hide the one that ended the export.
        await em.rollback().catch(() => undefined);
      }
    } finally {
      this.running--;
    }
  }
}

/**
 * The export document. Its small parts are read whole; the entries are
 * written chunk by chunk between them. Amounts are PostgreSQL's exact decimal
 * text (numeric(20,2)), timestamps ISO 8601.
 */
async function* portfolioDocument(em: EntityManager, portfolioId: string): AsyncGenerator<string> {
  const timestamps = await timestampColumns(em);
  const records = async (table: string, where: string, orderBy: string) =>
    (await em.execute<Row[]>(`select t.* from ${table} t ${where} order by ${orderBy}`, [portfolioId])).map((r) => camelRecord(r, timestamps.get(table)));

  const [p] = await em.execute<(Row & { settings: PortfolioSettings; template: TemplateName; now: string })[]>(
    'select *, now() as now from portfolios where id = ?', [portfolioId],
  );
  const settings = withDefaults(p!.settings, p!.template);
  const { now, ...portfolio } = p!;
  const accounts = await em.execute<(AccountRecord & { last_fork_at: string | null })[]>(
    `select ${ACCOUNT_COLUMNS}, last_fork_at from accounts where portfolio_id = ? order by created_at, id`, [portfolioId],
  );
  // The ledger does not cache the external account's buckets (the counterpart of every trading result): they are its postings.
  for (const a of accounts) if (a.type === 'external') Object.assign(a, await postedBuckets(em, a.id));
  const head = {
    // The snapshot's instant: the transaction's now().
    exportedAt: pgIso(now),
    portfolio: { ...camelRecord(portfolio, timestamps.get('portfolios')), settings },
    units: await records('units', 'where portfolio_id = ?', 'created_at, id'),
    accounts: accounts.map((a) => ({ ...accountView(a, settings), lastForkAt: a.last_fork_at && pgIso(a.last_fork_at) })),
  };
  // JSON.stringify writes the fields in order; the last brace is left open for the entries.
  yield `${JSON.stringify(head).slice(0, -1)},"entries":[`;
  let separator = '';
  for await (const rows of pages<EntryRow>(em, ENTRIES_PAGE, [portfolioId], NIL_UUID, (r) => r.id)) {
    yield separator + rows.map((r) => JSON.stringify(entryOf(r))).join(',');
    separator = ',';
  }
  const tail = {
    events: {
      forks: await records('forking_events', 'where portfolio_id = ?', 'started_at, id'),
      merges: await records('merging_events', 'where portfolio_id = ?', 'started_at, id'),
      reinvestments: await records('reinvestment_events', 'where portfolio_id = ?', 'started_at, id'),
    },
    tasks: await records('tasks', 'where portfolio_id = ?', 'created_at, id'),
    imports: await records('imports', 'where portfolio_id = ?', 'created_at, id'),
    valuations: await records('valuations', 'join accounts a on a.id = t.account_id where a.portfolio_id = ?', 't.account_id, t.as_of'),
  };
  // The same trick the other way: the tail's opening brace is the entries' closing bracket and a comma.
  yield `],${JSON.stringify(tail).slice(1)}`;
}

type PostedBuckets = Pick<AccountRecord, 'cash' | 'contracts' | 'leaps' | 'reserve' | 'balance'>;

/** An account's buckets and balance as the sums of its postings. */
async function postedBuckets(em: EntityManager, accountId: string): Promise<PostedBuckets> {
  const [sums] = await em.execute<PostedBuckets[]>(
    `select coalesce(sum(amount) filter (where bucket = 'cash'), 0) as cash, coalesce(sum(amount) filter (where bucket = 'contracts'), 0) as contracts,
            coalesce(sum(amount) filter (where bucket = 'leaps'), 0) as leaps, coalesce(sum(amount) filter (where bucket = 'reserve'), 0) as reserve,
            coalesce(sum(amount), 0) as balance
       from postings where account_id = ?`, [accountId],
  );
  return sums!;
}

/** A page of entries in id order, each with its postings (amounts as text: JSON numbers would lose cents). */
const ENTRIES_PAGE = `
  select e.id, e.kind, e.occurred_at, e.created_at, e.idempotency_key, e.operation_id, e.actor, e.reference, e.note,
         e.reverses_entry_id, e.base_changes,
         (select json_agg(json_build_object('accountId', p.account_id, 'bucket', p.bucket, 'amount', p.amount::text) order by p.id)
            from postings p where p.entry_id = e.id) as postings
    from journal_entries e
   where e.portfolio_id = ? and e.id > ?
   order by e.id limit ?`;

function entryOf(r: EntryRow) {
  return {
    id: r.id,
    kind: r.kind,
    occurredAt: pgIso(r.occurred_at),
    createdAt: pgIso(r.created_at),
    idempotencyKey: r.idempotency_key,
    operationId: r.operation_id,
    actor: r.actor,
    reference: r.reference,
    note: r.note,
    reversesEntryId: r.reverses_entry_id,
    baseChanges: r.base_changes,
    postings: r.postings.map((p) => ({ accountId: p.accountId, bucket: p.bucket, amount: formatMoney(fromDb(p.amount)) })),
  };
}

/** The CSV: the header, then each page of postings with the balance after each, carried across pages exactly. */
async function* entriesCsv(em: EntityManager, accountId: string): AsyncGenerator<string> {
  yield `${ENTRIES_CSV_HEADER}\n`;
  let balance = ZERO;
  const query = `
    select p.id, p.entry_id, e.occurred_at, e.kind, p.bucket, p.amount, e.operation_id, e.reference, e.actor
      from postings p join journal_entries e on e.id = p.entry_id
     where p.account_id = ? and p.id > ?
     order by p.id limit ?`;
  for await (const rows of pages<PostingRow>(em, query, [accountId], '0', (r) => r.id)) {
    yield rows.map((r) => {
      balance = balance.plus(fromDb(r.amount));
      return `${[
        r.id, textCell(r.entry_id), textCell(pgIso(r.occurred_at)), textCell(r.kind), textCell(r.bucket),
        formatMoney(fromDb(r.amount)), formatMoney(balance), textCell(r.operation_id), textCell(r.reference), textCell(r.actor),
      ].join(',')}\n`;
    }).join('');
  }
}

/**
 * A query's rows in pages of CHUNK by keyset: `query` ends with
 * `<key> > ? order by <key> limit ?`, `keyOf` reads the key of a row. Unlike
 * an offset, a keyset never skips or repeats a row and costs the same on every page.
 */
async function* pages<R>(em: EntityManager, query: string, params: unknown[], start: string, keyOf: (row: R) => string): AsyncGenerator<R[]> {
  for (let after = start; ;) {
    const rows = await em.execute<R[]>(query, [...params, after, CHUNK]);
    if (rows.length > 0) yield rows;
    if (rows.length < CHUNK) return;
    after = keyOf(rows[rows.length - 1]!);
  }
}

/**
 * A spreadsheet runs a cell starting with one of these as a formula (OWASP
 * "CSV injection"): such text gets a leading single quote.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** A text cell, neutralised and quoted as RFC 4180 requires; null is empty. */
function textCell(value: string | null): string {
  if (value === null) return '';
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/**
 * The timestamptz columns of every table: raw queries return timestamps as
 * PostgreSQL text, and a record is exported with ISO 8601 ones like the rest
 * of the API. Read from the catalogue, so a column added later is covered.
 */
async function timestampColumns(em: EntityManager): Promise<Map<string, Set<string>>> {
  const rows = await em.execute<{ table_name: string; column_name: string }[]>(
    `select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and data_type = 'timestamp with time zone'`,
  );
  const byTable = new Map<string, Set<string>>();
  for (const r of rows) byTable.set(r.table_name, (byTable.get(r.table_name) ?? new Set()).add(r.column_name));
  return byTable;
}

/** A row with camelCase keys and ISO 8601 timestamps (`timestamps`: its timestamp columns). */
function camelRecord(row: Row, timestamps = new Set<string>()): Row {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [
      k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
      v !== null && timestamps.has(k) ? pgIso(v as string) : v,
    ]),
  );
}
