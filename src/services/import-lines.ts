import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { ActivityType } from '../domain/buckets';
import { execBound } from '../db/sql';
import { DomainError } from '../domain/errors';
import { formatMoney, fromDb, money } from '../domain/money';
import { type PortfolioSettings, withDefaults } from '../domain/settings';
import type { BatchOutcome, LedgerService } from '../ledger/ledger';
import { emitEvent } from '../notify/events';
import type { ParsedStatement, StatementRecord } from '../statements';
import type { BatchProgress } from '../shared/operations';
import { activityPost } from './accounts';

/**
 * Statement lines as the engine stores and posts them (docs/domain.md section
 * 9). Shared by the API (mapping a parsed file; a dry run posts inside a
 * transaction it rolls back) and the import workflow's activities (posting
 * the pending lines in batches, then reconciling).
 */

export type LineStatus = 'pending' | 'posted' | 'duplicate' | 'rejected' | 'ignored' | 'recorded' | 'not_posted';

/**
 * One row of `import_lines`. `seq` is its order in the file (records of one
 * line keep their order, even when a whole XML file is on one line); `part`
 * -1 is a line that produced no record (its rejection or why it moves nothing).
 */
export interface ImportLine {
  seq: number;
  line: number;
  part: number;
  kind: StatementRecord['kind'];
  accountId: string | null;
  type: ActivityType | null;
  amount: string | null;
  date: string | null;
  idempotencyKey: string | null;
  reference: string | null;
  note: string | null;
  status: LineStatus;
  reason: string | null;
  entryId?: string | null;
}

export interface Reconciliation {
  accountId: string;
  brokerAccountId: string | null;
  date: string;
  line: number;
  statementBalance: string;
  engineBalance: string;
  difference: string;
}

export interface Valuation {
  accountId: string;
  date: string;
  line: number;
  value: string;
  engineBalance: string;
  unrealized: string;
}

export interface ImportCounts {
  lines: number;
  posted: number;
  duplicates: number;
  rejected: number;
  ignored: number;
}

interface PortfolioAccounts {
  byRef: Map<string, { id: string; status: string }>;
}

/** Activity lines are dated at noon UTC of their day: after an opening dated that day, inside that day for every report. */
const lineTime = (date: string) => new Date(Math.min(Date.parse(`${date}T12:00:00Z`), Date.now()));

/**
 * The key that makes a statement line post once: the broker, the account
 * (the engine account the broker account maps to: the same whether the file
 * names it by broker id or engine id, and never shared by two portfolios)
 * and the broker's transaction id (and the part, for a trade's commission).
 */
export function lineKey(broker: string, accountId: string, transactionId: string, part: number): string {
  return `statement:${broker}:${accountId}:${transactionId}${part > 0 ? `:${part}` : ''}`;
}

/** Resolves each record's account (engine id or broker account id) and derives its key; unknown accounts are rejected lines. */
export async function mapStatement(em: EntityManager, portfolioId: string, parsed: ParsedStatement): Promise<ImportLine[]> {
  const accounts = await portfolioAccounts(em, portfolioId);
  const out: ImportLine[] = [];
  for (const r of parsed.records) {
    // A broker id as written; an engine id in any case (a UUID is case-insensitive).
    const account = accounts.byRef.get(r.account) ?? accounts.byRef.get(r.account.toLowerCase());
    const base: ImportLine = {
      seq: 0, line: r.line, part: r.part, kind: r.kind, accountId: account?.id ?? null, type: r.type, amount: r.amount, date: r.date,
      idempotencyKey: null, reference: r.reference, note: r.note, status: 'pending', reason: null,
    };
    if (!account) {
      out.push({
        ...base, status: 'rejected',
        reason: `unknown account "${r.account}": set it as an account's brokerAccountId (PATCH /v1/accounts/:id) or write the engine's account id`,
      });
    } else if (r.kind === 'activity') {
      out.push({ ...base, idempotencyKey: lineKey(parsed.broker, account.id, r.transactionId!, r.part) });
    } else {
      out.push(base);
    }
  }
  const problem = (status: LineStatus) => (p: { line: number; reason: string }): ImportLine => ({
    seq: 0, line: p.line, part: -1, kind: 'activity', accountId: null, type: null, amount: null, date: null, idempotencyKey: null,
    reference: null, note: null, status, reason: p.reason,
  });
  out.push(...parsed.rejected.map(problem('rejected')), ...parsed.ignored.map(problem('ignored')));
  // File order: by line (a stable sort keeps the order of records sharing a line), a line's problem first.
  return out.sort((a, b) => a.line - b.line || Math.min(a.part, 0) - Math.min(b.part, 0)).map((l, i) => ({ ...l, seq: i + 1 }));
}

async function portfolioAccounts(em: EntityManager, portfolioId: string): Promise<PortfolioAccounts> {
  const rows = await em.execute<{ id: string; broker_account_id: string | null; status: string }[]>(
    'select id, broker_account_id, status from accounts where portfolio_id = ? and unit_id is not null', [portfolioId],
  );
  const byRef = new Map<string, { id: string; status: string }>();
  for (const r of rows) {
    const a = { id: r.id, status: r.status };
    byRef.set(r.id, a);
    if (r.broker_account_id) byRef.set(r.broker_account_id, a);
  }
  return { byRef };
}

/** Writes the lines of a new import (multi-row statements). */
export async function storeLines(em: EntityManager, importId: string, lines: ImportLine[]): Promise<void> {
  for (let i = 0; i < lines.length; i += 5000) {
    const chunk = lines.slice(i, i + 5000);
    await execBound(em,
      `insert into import_lines (import_id, seq, line, part, kind, account_id, type, amount, occurred_on, idempotency_key, reference, note, status, reason)
       select ?, x.* from jsonb_to_recordset(?::jsonb) as x(seq int, line int, part int, kind text, account_id uuid, type text, amount numeric,
         occurred_on date, idempotency_key text, reference text, note text, status text, reason text)`,
      [importId, JSON.stringify(chunk.map((l) => ({
        seq: l.seq, line: l.line, part: l.part, kind: l.kind, account_id: l.accountId, type: l.type, amount: l.amount, occurred_on: l.date,
        idempotency_key: l.idempotencyKey, reference: l.reference, note: l.note, status: l.status, reason: l.reason,
      })))],
    );
  }
}

/**
 * Posts activity lines through the ledger's multi-row path in the caller's
 * transaction (non-atomic: a refused line is an outcome, not an error).
 */
export async function postLines(
  em: EntityManager,
  ledger: LedgerService,
  portfolio: { id: string; settings: PortfolioSettings; externalId: string },
  lines: readonly ImportLine[],
  ctx: { importId: string; actor: string },
): Promise<BatchOutcome[]> {
  const reqs = lines.map((l) =>
    activityPost(
      { accountId: l.accountId!, portfolioId: portfolio.id, externalId: portfolio.externalId, settings: portfolio.settings,
        idempotencyKey: l.idempotencyKey!, userKey: l.idempotencyKey!, actor: ctx.actor },
      { type: l.type!, amount: money(l.amount!), occurredAt: lineTime(l.date!), reference: l.reference ?? undefined, note: l.note ?? undefined },
      { action: `import.line.${l.type}`, details: { importId: ctx.importId, line: l.line } },
    ),
  );
  return ledger.postManyIn(em, reqs, {
    atomic: false,
    auditAs: { action: 'import.lines.posted', targetType: 'import', targetId: ctx.importId, details: { importId: ctx.importId } },
  });
}

export async function portfolioForPosting(em: EntityManager, portfolioId: string): Promise<{ id: string; settings: PortfolioSettings; externalId: string }> {
  const [row] = await em.execute<{ settings: PortfolioSettings; external_id: string }[]>(
    `select p.settings, x.id as external_id from portfolios p join accounts x on x.portfolio_id = p.id and x.type = 'external' where p.id = ?`,
    [portfolioId],
  );
  if (!row) throw new DomainError('NotFound', 'portfolio not found');
  return { id: portfolioId, settings: withDefaults(row.settings), externalId: row.external_id };
}

/** The line's status after posting (a rejection keeps the ledger's reason). */
export function settle(line: ImportLine, outcome: BatchOutcome): ImportLine {
  if (outcome.status === 'rejected') return { ...line, status: 'rejected', reason: outcome.error.message };
  return { ...line, status: outcome.status, entryId: outcome.entryId };
}

/** Statement balances against the engine's balance of each account at the end of that date (every bucket: realized money). */
export async function reconcile(em: EntityManager, lines: readonly ImportLine[]): Promise<{ reconciliation: Reconciliation[]; valuations: Valuation[] }> {
  const wanted = lines.filter((l) => l.status !== 'rejected' && l.accountId && (l.kind === 'statement_balance' || l.kind === 'valuation'));
  if (wanted.length === 0) return { reconciliation: [], valuations: [] };
  const rows = await execBound<{ seq: number; engine: string; broker_account_id: string | null }>(em,
    `select v.seq, a.broker_account_id,
            (select coalesce(sum(p.amount), 0) from postings p join journal_entries e on e.id = p.entry_id
              where p.account_id = v.account_id and e.occurred_at < (v.d + 1)::timestamp at time zone 'UTC') as engine
       from jsonb_to_recordset(?::jsonb) as v(seq int, account_id uuid, d date)
       join accounts a on a.id = v.account_id`,
    [JSON.stringify(wanted.map((l) => ({ seq: l.seq, account_id: l.accountId, d: l.date })))],
  );
  const engine = new Map(rows.map((r) => [r.seq, r]));
  const reconciliation: Reconciliation[] = [];
  const valuations: Valuation[] = [];
  for (const l of wanted) {
    const row = engine.get(l.seq)!;
    const engineBalance = fromDb(row.engine);
    const amount = money(l.amount!);
    if (l.kind === 'statement_balance') {
      reconciliation.push({
        accountId: l.accountId!, brokerAccountId: row.broker_account_id, date: l.date!, line: l.line,
        statementBalance: formatMoney(amount), engineBalance: formatMoney(engineBalance), difference: formatMoney(amount.minus(engineBalance)),
      });
    } else {
      valuations.push({
        accountId: l.accountId!, date: l.date!, line: l.line, value: formatMoney(amount),
        engineBalance: formatMoney(engineBalance), unrealized: formatMoney(amount.minus(engineBalance)),
      });
    }
  }
  return { reconciliation, valuations };
}

export function countLines(lines: readonly ImportLine[], total: number): ImportCounts {
  const n = (s: LineStatus) => lines.filter((l) => l.status === s).length;
  return { lines: total, posted: n('posted'), duplicates: n('duplicate'), rejected: n('rejected'), ignored: n('ignored') };
}

interface LineRow {
  seq: number; line: number; part: number; kind: StatementRecord['kind']; account_id: string | null; type: ActivityType | null; amount: string | null;
  occurred_on: string | Date | null; idempotency_key: string | null; reference: string | null; note: string | null; status: LineStatus;
  reason: string | null; entry_id: string | null;
}

const isoDate = (d: string | Date | null) => (d === null ? null : typeof d === 'string' ? d.slice(0, 10) : d.toISOString().slice(0, 10));

function fromRow(r: LineRow): ImportLine {
  return {
    seq: r.seq, line: r.line, part: r.part, kind: r.kind, accountId: r.account_id, type: r.type, amount: r.amount === null ? null : formatMoney(fromDb(r.amount)),
    date: isoDate(r.occurred_on), idempotencyKey: r.idempotency_key, reference: r.reference, note: r.note, status: r.status, reason: r.reason,
    entryId: r.entry_id,
  };
}


/**
 * The import workflow's database work. Each method is one transaction and
 * idempotent: a retried batch finds its lines no longer pending; a batch cut
 * short by a crash rolled back whole.
 */
export class ImportRunner {
  constructor(
    private readonly orm: MikroORM,
    private readonly ledger: LedgerService,
  ) {}

  /**
   * The workflow is started before the API commits the import's rows (so a
   * stored import always has its workflow): until they are visible this
   * throws a retryable error, and a workflow whose import never committed
   * gives up after its retries.
   */
  async begin(importId: string): Promise<void> {
    for (;;) {
      const rows = await this.orm.em.fork().execute<{ id: string }[]>(
        `update imports set status = 'running' where id = ? and status in ('queued', 'running') returning id`, [importId],
      );
      if (rows.length) return;
      const [row] = await this.orm.em.fork().execute<{ status: string }[]>('select status from imports where id = ?', [importId]);
      if (!row) throw new Error(`import ${importId} is not stored (yet)`);
      // The API's transaction committed between the two statements: update again.
      if (row.status === 'queued' || row.status === 'running') continue;
      // A reset run of an import that failed (or completed) does not post again; import the file anew instead.
      throw new DomainError('Conflict', `import ${importId} is ${row.status}; send the file again to import it anew`);
    }
  }

  /**
   * Posts the pending lines among the next `limit` activity lines after
   * `after` (their `seq`, file order). The window depends only on the cursor,
   * so a retry after a crash that followed the commit answers for the same
   * lines (they are no longer pending) and the workflow's cursor stays exact.
   */
  async postNext(importId: string, after: number, limit: number): Promise<BatchProgress> {
    return this.orm.em.fork().transactional(async (em) => {
      const imp = await this.header(em, importId);
      const window = (await em.execute<LineRow[]>(
        `select * from import_lines where import_id = ? and kind = 'activity' and seq > ? order by seq limit ? for update`,
        [importId, after, limit],
      )).map(fromRow);
      const pending = window.filter((l) => l.status === 'pending');
      if (pending.length) {
        const portfolio = await portfolioForPosting(em, imp.portfolio_id);
        const outcomes = await postLines(em, this.ledger, portfolio, pending, { importId, actor: imp.actor });
        await this.saveStatuses(em, importId, pending.map((l, i) => settle(l, outcomes[i]!)));
      }
      const cursor = window.at(-1)?.seq ?? after;
      const [left] = await em.execute<{ n: string }[]>(
        `select count(*) as n from import_lines where import_id = ? and kind = 'activity' and seq > ?`, [importId, cursor],
      );
      return { processed: window.length, remaining: Number(left!.n), cursor, firstLine: window[0]?.line ?? null, lastLine: window.at(-1)?.line ?? null };
    });
  }

  /**
   * All or nothing: every pending line posts in one transaction, or, when any
   * line of the file is refused, none does: the refusals are recorded and the
   * other lines are `not_posted`.
   */
  async postAll(importId: string): Promise<{ committed: boolean; rejected: number }> {
    const em0 = this.orm.em.fork();
    const imp = await this.header(em0, importId);
    const [refusedAtParse] = await em0.execute<{ n: string }[]>(
      `select count(*) as n from import_lines where import_id = ? and status = 'rejected'`, [importId],
    );
    if (Number(refusedAtParse!.n) > 0) {
      await this.refuse(importId, [], Number(refusedAtParse!.n));
      return { committed: false, rejected: Number(refusedAtParse!.n) };
    }
    const refused = await this.orm.em.fork().transactional(async (em) => {
      const lines = (await em.execute<LineRow[]>(
        `select * from import_lines where import_id = ? and status = 'pending' and kind = 'activity' order by seq for update`, [importId],
      )).map(fromRow);
      if (lines.length === 0) return [];
      const portfolio = await portfolioForPosting(em, imp.portfolio_id);
      const settled = (await postLines(em, this.ledger, portfolio, lines, { importId, actor: imp.actor })).map((o, i) => settle(lines[i]!, o));
      const bad = settled.filter((l) => l.status === 'rejected');
      if (bad.length) throw new AtomicRefusal(bad);
      await this.saveStatuses(em, importId, settled);
      return [];
    }).catch((err: unknown) => {
      if (err instanceof AtomicRefusal) return err.lines;
      throw err;
    });
    if (refused.length === 0) return { committed: true, rejected: 0 };
    await this.refuse(importId, refused, refused.length);
    return { committed: false, rejected: refused.length };
  }

  /** Ends an import that cannot finish (its workflow failed): `failed` with the reason; what was posted stays posted. */
  async fail(importId: string, error: string): Promise<void> {
    await this.orm.em.fork().execute(
      `update imports set status = 'failed', error = ?, completed_at = coalesce(completed_at, now()) where id = ? and status <> 'completed'`,
      [error, importId],
    );
  }

  /**
   * Records valuations (unless an atomic import was refused), reconciles the
   * statement balances, stores the counts, ends the import and emits
   * `import.completed`, in one transaction.
   */
  async finish(importId: string): Promise<ImportCounts & { status: string }> {
    return this.orm.em.fork().transactional(async (em) => {
      const imp = await this.header(em, importId);
      const lines = (await em.execute<LineRow[]>('select * from import_lines where import_id = ? order by seq', [importId])).map(fromRow);
      const failed = imp.status === 'failed';
      const { reconciliation, valuations } = await reconcile(em, lines);
      if (!failed) {
        if (valuations.length) {
          await em.execute(
            `insert into valuations (account_id, as_of, value, import_id)
             select v.account_id, v.as_of, v.value, ? from jsonb_to_recordset(?::jsonb) as v(account_id uuid, as_of date, value numeric)
             on conflict (account_id, as_of) do update set value = excluded.value, import_id = excluded.import_id, recorded_at = now()`,
            [importId, JSON.stringify(valuations.map((v) => ({ account_id: v.accountId, as_of: v.date, value: v.value })))],
          );
        }
        await em.execute(
          `update import_lines set status = 'recorded' where import_id = ? and kind in ('statement_balance', 'valuation') and status = 'pending'`, [importId],
        );
      }
      const counts = countLines(lines, imp.lines);
      const status = failed ? 'failed' : 'completed';
      await em.execute(
        `update imports set status = ?, posted = ?, duplicates = ?, rejected = ?, ignored = ?, reconciliation = ?::jsonb,
                completed_at = coalesce(completed_at, now()) where id = ?`,
        [status, counts.posted, counts.duplicates, counts.rejected, counts.ignored, JSON.stringify({ balances: reconciliation, valuations }), importId],
      );
      await emitEvent(em, {
        type: 'import.completed', portfolioId: imp.portfolio_id, dedupeKey: `import:${importId}:completed`,
        data: { importId, status, ...counts, differences: reconciliation.filter((r) => r.difference !== '0.00').length },
      });
      return { ...counts, status };
    });
  }

  /** An atomic import refused: its refusals recorded, every other pending line `not_posted`, the import `failed`. */
  private async refuse(importId: string, refused: ImportLine[], count: number): Promise<void> {
    await this.orm.em.fork().transactional(async (em) => {
      if (refused.length) await this.saveStatuses(em, importId, refused);
      await em.execute(
        `update import_lines set status = 'not_posted', reason = 'not posted: the atomic import was refused' where import_id = ? and status = 'pending'`,
        [importId],
      );
      await em.execute(`update imports set status = 'failed', error = ? where id = ?`,
        [`atomic import refused: ${count} line(s) rejected; nothing was posted`, importId]);
    });
  }

  private async header(em: EntityManager, importId: string): Promise<{ portfolio_id: string; actor: string; lines: number; status: string }> {
    const [row] = await em.execute<{ portfolio_id: string; actor: string; lines: number; status: string }[]>(
      'select portfolio_id, actor, lines, status from imports where id = ?', [importId],
    );
    if (!row) throw new DomainError('NotFound', `import ${importId} not found`);
    return row;
  }

  private async saveStatuses(em: EntityManager, importId: string, lines: readonly ImportLine[]): Promise<void> {
    await execBound(em,
      `update import_lines l set status = v.status, reason = v.reason, entry_id = v.entry_id::uuid
         from jsonb_to_recordset(?::jsonb) as v(seq int, status text, reason text, entry_id text)
        where l.import_id = ? and l.seq = v.seq`,
      [JSON.stringify(lines.map((l) => ({ seq: l.seq, status: l.status, reason: l.reason, entry_id: l.entryId ?? null }))), importId],
    );
  }
}

class AtomicRefusal extends Error {
  constructor(readonly lines: ImportLine[]) {
    super('atomic import refused');
  }
}
