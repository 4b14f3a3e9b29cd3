import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { DomainError } from '../domain/errors';
import { ZERO, formatMoney, fromDb, sum } from '../domain/money';
import { pgIso } from '../db/sql';
import type { UnitTreeNode } from '../reports/charts';
import { type ForkItem, type MergeItem, forkEfficiency, mergeOutcome } from '../reports/forks';
import {
  EARLIEST_REPORT_DAY, ENTRY_KIND_CLASS, type GrowthRow, type GrowthSummary, type KeySeries, PERIODS, type Period, type PeriodTotals,
  type Scope, addDays, epochDay, flowColumns, growthRangeProblem, growthReport, growthSizeProblem, isEntryClass, todayUtc,
} from '../reports/growth';
import type { ExternalFlow } from '../reports/twr';

export interface GrowthQuery {
  period: Period;
  by: Scope;
  /** YYYY-MM-DD, not before EARLIEST_REPORT_DAY; default the portfolio's earliest entry date (within EARLIEST_REPORT_DAY..to). */
  from?: string;
  /** YYYY-MM-DD, inclusive, not after today (UTC); default today. */
  to?: string;
}

export interface GrowthReport {
  portfolioId: string;
  portfolioName: string;
  period: Period;
  by: Scope;
  from: string;
  to: string;
  rows: GrowthRow[];
  summary: GrowthSummary[];
}

/** The key a posting counts under, and the accounts each scope covers (`external` never; `holding` only for the portfolio). */
const KEY_SQL: Record<Scope, string> = { portfolio: 'a.portfolio_id', unit: 'a.unit_id', account: 'a.id' };
const SCOPE_SQL: Record<Scope, string> = {
  portfolio: `a.type <> 'external'`,
  unit: 'a.unit_id is not null',
  account: 'a.unit_id is not null',
};
/** An instant as sortable ISO text with PostgreSQL's microseconds (a JS Date would drop them). */
const ISO_US = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
const ACCOUNT_NAMES: Record<string, string> = { gen: 'Gen-Acc', rev: 'Rev-Acc', com: 'Com-Acc' };
const ACCOUNT_ORDER: Record<string, number> = { gen: 0, rev: 1, com: 2 };

/** `day` moved into min..max (compared as days, not as text). */
const clampDay = (day: string, min: string, max: string) =>
  epochDay(day) < epochDay(min) ? min : epochDay(day) > epochDay(max) ? max : day;
/** `?, ?, ?` for a list of bound values. */
const marks = (values: readonly unknown[]) => values.map(() => '?').join(', ');
/** 00:00 UTC of a day, as a bound timestamptz. */
const startOfDay = (day: string) => `${day}T00:00:00Z`;

/**
 * The postings of a scope with their key and class: one CTE the report
 * queries share. A reversal is classified by the entry it reverses; a kind the
 * reports do not know comes out as `unclassified:<kind>`, and the growth
 * report refuses it rather than break opening + columns = closing.
 */
function classifiedPostings(portfolioId: string, scope: Scope, accountIds?: readonly string[]): { sql: string; params: unknown[] } {
  const kinds = Object.entries(ENTRY_KIND_CLASS);
  const sql = `classified as (
    select ${KEY_SQL[scope]} as key, e.occurred_at, p.amount, p.bucket,
           case coalesce(o.kind, e.kind) ${kinds.map(() => 'when ? then ?').join(' ')}
             else 'unclassified:' || coalesce(o.kind, e.kind) end as class
      from accounts a
      join postings p on p.account_id = a.id
      join journal_entries e on e.id = p.entry_id
      left join journal_entries o on o.id = e.reverses_entry_id
     where a.portfolio_id = ? and ${SCOPE_SQL[scope]}${accountIds ? ` and a.id in (${marks(accountIds)})` : ''})`;
  return { sql, params: [...kinds.flat(), portfolioId, ...(accountIds ?? [])] };
}

interface UnitRow { id: string; parent_unit_id: string | null; kind: 'root' | 'forked'; status: string }
interface AccountRow { id: string; unit_id: string; type: string; label: string | null }

export class ReportService {
  constructor(
    private readonly orm: MikroORM,
    private readonly clock: () => number = Date.now,
  ) {}

  private async portfolio(em: EntityManager, id: string): Promise<{ name: string; firstDay: string | null }> {
    const [row] = await em.execute<{ name: string; first_day: string | null }[]>(
      `select p.name, (select to_char(min(e.occurred_at) at time zone 'UTC', 'YYYY-MM-DD') from journal_entries e where e.portfolio_id = p.id) as first_day
         from portfolios p where p.id = ?`,
      [id],
    );
    if (!row) throw new DomainError('NotFound', 'portfolio not found');
    return { name: row.name, firstDay: row.first_day };
  }

  /** Units in creation order and their Gen/Rev/Com accounts (Gen, Rev, Com within a unit). */
  private async structure(em: EntityManager, portfolioId: string): Promise<{ units: UnitRow[]; accounts: AccountRow[] }> {
    const units = await em.execute<UnitRow[]>(
      'select id, parent_unit_id, kind, status from units where portfolio_id = ? order by created_at, id', [portfolioId],
    );
    const unitOrder = new Map(units.map((u, i) => [u.id, i]));
    const accounts = (await em.execute<AccountRow[]>(
      'select id, unit_id, type, label from accounts where portfolio_id = ? and unit_id is not null', [portfolioId],
    )).sort((a, b) => unitOrder.get(a.unit_id)! - unitOrder.get(b.unit_id)! || ACCOUNT_ORDER[a.type]! - ACCOUNT_ORDER[b.type]!);
    return { units, accounts };
  }

  /**
   * Balances per key and period (docs/domain.md, reports). Four aggregate
   * queries whatever the number of entries: the balance before `from` and the
   * first entry per key; the change per key, period and class; the external
   * flows with the running balance after each; the latest valuation per
   * account and period. Rows are filled in from those.
   */
  async growth(portfolioId: string, q: GrowthQuery): Promise<GrowthReport> {
    // The period unit is spliced into SQL (date_trunc groups by it), so it is checked against the list here too.
    if (!PERIODS.includes(q.period)) throw new DomainError('ValidationError', 'unknown period', { path: 'query.period' });
    const em = this.orm.em.fork();
    const p = await this.portfolio(em, portfolioId);
    const today = todayUtc(this.clock());
    const to = q.to ?? today;
    // By default from the first entry, but within EARLIEST_REPORT_DAY..to (earlier entries count in the first opening).
    const from = q.from ?? clampDay(p.firstDay ?? to, EARLIEST_REPORT_DAY, to);
    const invalid = growthRangeProblem({ from, to }, today);
    if (invalid) throw new DomainError('ValidationError', invalid.message, { path: invalid.path });

    const cte = classifiedPostings(portfolioId, q.by);
    const start = startOfDay(from);
    const end = startOfDay(addDays(to, 1));
    const flowClasses = flowColumns(q.by);

    const firsts = await em.execute<{ key: string; first_day: string; before: string }[]>(
      `with ${cte.sql}
       select key, to_char(min(occurred_at) at time zone 'UTC', 'YYYY-MM-DD') as first_day,
              coalesce(sum(amount) filter (where occurred_at < ?::timestamptz), 0) as before
         from classified group by key`,
      [...cte.params, start],
    );
    // The rows are counted before the per-period queries: a report too large is refused, not computed.
    const tooLarge = growthSizeProblem({ from, to, period: q.period, by: q.by }, firsts.map((f) => f.first_day));
    if (tooLarge) throw new DomainError('ValidationError', tooLarge.message, { path: tooLarge.path });
    const totals = await em.execute<{ key: string; period: string; class: string; amount: string; non_cash: string }[]>(
      `with ${cte.sql}
       select key, to_char(date_trunc('${q.period}', occurred_at at time zone 'UTC'), 'YYYY-MM-DD') as period, class,
              sum(amount) as amount, coalesce(sum(amount) filter (where bucket <> 'cash'), 0) as non_cash
         from classified where occurred_at >= ?::timestamptz and occurred_at < ?::timestamptz
        group by 1, 2, 3`,
      [...cte.params, start, end],
    );
    const flows = await em.execute<{ key: string; at: string; period: string; flow: string; balance_after: string }[]>(
      `with ${cte.sql}
       select key, at, period, flow, balance_after from (
         select key, occurred_at, to_char(occurred_at at time zone 'UTC', ${ISO_US}) as at,
                to_char(date_trunc('${q.period}', occurred_at at time zone 'UTC'), 'YYYY-MM-DD') as period,
                sum(amount) filter (where class in (${marks(flowClasses)})) as flow,
                sum(sum(amount)) over (partition by key order by occurred_at) as balance_after
           from classified group by key, occurred_at
       ) t where flow <> 0 and occurred_at >= ?::timestamptz and occurred_at < ?::timestamptz
       order by key, occurred_at`,
      [...cte.params, ...flowClasses, start, end],
    );
    const valuations = await this.valuations(em, portfolioId, q, from, to);

    const firstByKey = new Map(firsts.map((f) => [f.key, f]));
    const totalsByKey = groupBy(totals, (t) => t.key, (t) => t);
    const flowsByKey = groupBy(flows, (f) => f.key, (f) => f);
    const valuationsByKey = groupBy(valuations, (v) => v.key, (v) => v);
    const keys = (await this.keysOf(em, portfolioId, q.by, p.name)).filter((k) => firstByKey.has(k.key));
    const report = growthReport(
      keys.map((k): KeySeries => ({
        ...k,
        firstDay: firstByKey.get(k.key)!.first_day,
        openingBeforeFrom: fromDb(firstByKey.get(k.key)!.before),
        totals: periodTotals(totalsByKey.get(k.key) ?? []),
        flows: groupBy(flowsByKey.get(k.key) ?? [], (f) => f.period,
          (f): ExternalFlow => ({ at: f.at, flow: fromDb(f.flow), balanceAfter: fromDb(f.balance_after) })),
        valuations: new Map((valuationsByKey.get(k.key) ?? [])
          .map((v) => [v.period, { valuation: fromDb(v.valuation), unrealized: fromDb(v.unrealized) }])),
      })),
      { from, to, period: q.period },
    );
    return { portfolioId, portfolioName: p.name, period: q.period, by: q.by, from, to, ...report };
  }

  /**
   * Per key and period: the sum of each account's latest valuation in the
   * period, and that sum minus the same accounts' engine balances at their
   * valuation dates (postings before the next day, 00:00 UTC).
   */
  private async valuations(em: EntityManager, portfolioId: string, q: GrowthQuery, from: string, to: string) {
    return em.execute<{ key: string; period: string; valuation: string; unrealized: string }[]>(
      `with latest as (
         select distinct on (v.account_id, date_trunc('${q.period}', v.as_of::timestamp))
                v.account_id, v.as_of, v.value, ${KEY_SQL[q.by]} as key,
                to_char(date_trunc('${q.period}', v.as_of::timestamp), 'YYYY-MM-DD') as period
           from valuations v join accounts a on a.id = v.account_id
          where a.portfolio_id = ? and ${SCOPE_SQL[q.by]} and v.as_of between ?::date and ?::date
          order by v.account_id, date_trunc('${q.period}', v.as_of::timestamp), v.as_of desc
       ),
       daily as (
         select p.account_id, (e.occurred_at at time zone 'UTC')::date as day, sum(p.amount) as amount
           from postings p join journal_entries e on e.id = p.entry_id
          where p.account_id in (select account_id from latest)
          group by 1, 2
       ),
       valued as (
         select l.key, l.period, l.value,
                (select coalesce(sum(d.amount), 0) from daily d where d.account_id = l.account_id and d.day <= l.as_of) as balance
           from latest l
       )
       select key, period, sum(value) as valuation, sum(value) - sum(balance) as unrealized from valued group by 1, 2`,
      [portfolioId, from, to],
    );
  }

  /** The keys of a scope in display order, with a readable label. */
  private async keysOf(em: EntityManager, portfolioId: string, by: Scope, portfolioName: string): Promise<{ key: string; label: string }[]> {
    if (by === 'portfolio') return [{ key: portfolioId, label: portfolioName }];
    const { units, accounts } = await this.structure(em, portfolioId);
    const unitLabels = new Map(units.map((u) => [u.id, unitLabel(u)]));
    if (by === 'unit') return units.map((u) => ({ key: u.id, label: unitLabels.get(u.id)! }));
    return accounts.map((a) => ({ key: a.id, label: a.label ?? `${ACCOUNT_NAMES[a.type]} · ${unitLabels.get(a.unit_id)}` }));
  }

  /** Completed forks: what each forked unit started with and what it holds now (or held when it merged). */
  async forks(portfolioId: string): Promise<{ items: ForkItem[] }> {
    const em = this.orm.em.fork();
    await this.portfolio(em, portfolioId);
    const rows = await em.execute<{
      workflow_id: string; completed_at: string; amount: string; new_unit_id: string; parent_account_id: string;
      balance: string; merged_total: string | null; merged_at: string | null;
    }[]>(
      `select f.workflow_id, f.completed_at, f.child_gen + f.child_com as amount, f.new_unit_id, f.parent_account_id,
              (select coalesce(sum(p.amount), 0) from postings p join accounts a on a.id = p.account_id where a.unit_id = f.new_unit_id) as balance,
              m.total as merged_total, m.completed_at as merged_at
         from forking_events f
         left join merging_events m on m.unit_id = f.new_unit_id and m.status = 'completed'
        where f.portfolio_id = ? and f.status = 'completed'
        order by f.completed_at, f.workflow_id`,
      [portfolioId],
    );
    const now = this.clock();
    return {
      items: rows.map((r) => forkEfficiency({
        operationId: r.workflow_id,
        forkedAt: pgIso(r.completed_at),
        amount: fromDb(r.amount),
        unitId: r.new_unit_id,
        parentAccountId: r.parent_account_id,
        balance: fromDb(r.balance),
        merge: r.merged_at ? { at: pgIso(r.merged_at), total: fromDb(r.merged_total) } : null,
      }, now)),
    };
  }

  /** Completed merges: the target Com-Acc's TWR before the merge and since (account scope: the merge is a flow). */
  async merges(portfolioId: string): Promise<{ items: MergeItem[] }> {
    const em = this.orm.em.fork();
    await this.portfolio(em, portfolioId);
    const merges = await em.execute<{
      workflow_id: string; completed_at: string; unit_id: string; target_account_id: string; total: string; move_at: string | null;
    }[]>(
      // The money landed with the operation's last `merge.move` (an earlier attempt's move was reversed).
      `select m.workflow_id, m.completed_at, m.unit_id, m.target_account_id, m.total,
              (select to_char(max(e.occurred_at) at time zone 'UTC', ${ISO_US}) from journal_entries e
                where e.operation_id = m.workflow_id and e.kind = 'merge.move') as move_at
         from merging_events m
        where m.portfolio_id = ? and m.status = 'completed'
        order by m.completed_at, m.workflow_id`,
      [portfolioId],
    );
    const targets = [...new Set(merges.map((m) => m.target_account_id))];
    const movements = groupBy(targets.length ? await this.movements(em, portfolioId, targets) : [], (mv) => mv.key,
      (mv) => ({ at: mv.at, change: fromDb(mv.change), flow: fromDb(mv.flow) }));
    const now = this.clock();
    return {
      items: merges.map((m) => mergeOutcome({
        operationId: m.workflow_id,
        mergedAt: pgIso(m.completed_at),
        unitId: m.unit_id,
        targetAccountId: m.target_account_id,
        amount: fromDb(m.total),
        // A merge of an empty unit posts no move: it landed when it completed.
        moveAt: m.move_at ?? pgIso(m.completed_at),
        movements: movements.get(m.target_account_id) ?? [],
      }, now)),
    };
  }

  /** Every change of the accounts' balances per instant, with its external-flow part (account scope). */
  private async movements(em: EntityManager, portfolioId: string, accountIds: readonly string[]) {
    const cte = classifiedPostings(portfolioId, 'account', accountIds);
    const flowClasses = flowColumns('account');
    return em.execute<{ key: string; at: string; change: string; flow: string }[]>(
      `with ${cte.sql}
       select key, to_char(occurred_at at time zone 'UTC', ${ISO_US}) as at, sum(amount) as change,
              coalesce(sum(amount) filter (where class in (${marks(flowClasses)})), 0) as flow
         from classified group by key, occurred_at order by key, occurred_at`,
      [...cte.params, ...flowClasses],
    );
  }

  /** The unit tree (parent → children) with each unit's Gen/Rev/Com balances (sums of postings). */
  async tree(portfolioId: string): Promise<{ portfolioId: string; portfolioName: string; root: UnitTreeNode }> {
    const em = this.orm.em.fork();
    const p = await this.portfolio(em, portfolioId);
    const { units } = await this.structure(em, portfolioId);
    const balances = groupBy(
      await em.execute<{ unit_id: string; type: string; balance: string }[]>(
        `select a.unit_id, a.type, coalesce(sum(p.amount), 0) as balance
           from accounts a left join postings p on p.account_id = a.id
          where a.portfolio_id = ? and a.unit_id is not null group by a.id, a.unit_id, a.type`,
        [portfolioId],
      ),
      (b) => b.unit_id,
      (b): [string, string] => [b.type, b.balance],
    );
    const nodes = new Map(units.map((u): [string, UnitTreeNode] => {
      const own = new Map((balances.get(u.id) ?? []).map(([type, balance]) => [type, fromDb(balance)]));
      const shown = (t: string) => (own.has(t) ? formatMoney(own.get(t)!) : null);
      return [u.id, {
        unitId: u.id, kind: u.kind, status: u.status,
        balances: { gen: shown('gen'), rev: shown('rev'), com: shown('com'), total: formatMoney(sum(own.values())) },
        children: [],
      }];
    }));
    let root: UnitTreeNode | undefined;
    for (const u of units) {
      const node = nodes.get(u.id)!;
      if (u.parent_unit_id) nodes.get(u.parent_unit_id)!.children.push(node);
      else root = node;
    }
    // Every portfolio is created with its root unit (one per portfolio, the only unit without a parent).
    if (!root) throw new DomainError('InvariantViolation', 'the portfolio has no root unit');
    return { portfolioId, portfolioName: p.name, root };
  }
}

const unitLabel = (u: UnitRow) => (u.kind === 'root' ? 'root unit' : `unit …${u.id.slice(-6)}`);

/** The SQL totals of one key, per period: the balance columns and the reinvested amount. */
function periodTotals(rows: readonly { period: string; class: string; amount: string; non_cash: string }[]): Map<string, PeriodTotals> {
  const out = new Map<string, PeriodTotals>();
  for (const r of rows) {
    if (!isEntryClass(r.class)) {
      throw new DomainError('InvariantViolation', `the growth report does not classify journal entries of kind ${r.class.replace(/^unclassified:/, '')}`);
    }
    const t = out.get(r.period) ?? { columns: {}, reinvested: ZERO };
    if (r.class === 'reinvestment') t.reinvested = t.reinvested.plus(fromDb(r.non_cash));
    else t.columns[r.class] = (t.columns[r.class] ?? ZERO).plus(fromDb(r.amount));
    out.set(r.period, t);
  }
  return out;
}

function groupBy<T, V>(items: readonly T[], keyOf: (t: T) => string, valueOf: (t: T) => V): Map<string, V[]> {
  const out = new Map<string, V[]>();
  for (const t of items) {
    const list = out.get(keyOf(t)) ?? [];
    list.push(valueOf(t));
    out.set(keyOf(t), list);
  }
  return out;
}
