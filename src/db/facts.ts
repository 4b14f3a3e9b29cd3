import type { EntityManager } from '@mikro-orm/postgresql';
import { balanceOf } from '../domain/buckets';
import { DomainError } from '../domain/errors';
import type { ForkFacts } from '../domain/fork';
import type { AncestorUnit, MergeCandidate } from '../domain/merge';
import { sum } from '../domain/money';
import { type PortfolioSettings, type TemplateName, withDefaults } from '../domain/settings';
import { type LockedAccount, lockAccounts, toLocked } from '../ledger/ledger';
import { startOfDay } from '../shared/calendar';
import { pgDate } from './sql';

/*
 * The one fact loader of the protocol rules. The dry run (API), the
 * workflow's first step and the scan read the same facts through these
 * functions and hand them to the same pure domain decisions, so what a dry
 * run promises is what the engine does. `lock: true` reads under row locks
 * (inside the caller's transaction); the dry run and the scan read without.
 */

export const uuidArray = (ids: string[]) => `{${ids.join(',')}}`;

interface AccountRow {
  id: string; portfolio_id: string; unit_id: string | null; type: LockedAccount['type']; status: string; base_balance: string;
  cash: string; contracts: string; leaps: string; reserve: string; created_at: string; last_fork_at: string | null;
  settings: Partial<PortfolioSettings>; template: TemplateName;
}

export interface LoadedFork {
  accountId: string;
  portfolioId: string;
  unitId: string;
  settings: PortfolioSettings;
  facts: ForkFacts;
  /** The sequence number the next fork of this account takes. */
  nextSeq: number;
  /** The workflow id of a fork of this account that is running now, if any. */
  runningFork: string | null;
}

/**
 * Fork facts of Gen-Accs (missing ids are left out). With `lock`, the
 * portfolios' rows are locked first: the forks-per-day count and the claim
 * that follows in the same transaction are one critical section per portfolio.
 */
export async function loadForkFacts(
  em: EntityManager,
  accountIds: string[],
  opts: { now: Date; lock?: boolean; excludeWorkflowId?: string },
): Promise<Map<string, LoadedFork>> {
  if (accountIds.length === 0) return new Map();
  if (opts.lock) {
    await em.execute(
      `select p.id from portfolios p where p.id in (select portfolio_id from accounts where id = any(?::uuid[])) order by p.id for no key update`,
      [uuidArray(accountIds)],
    );
    await em.execute(`select a.id from accounts a where a.id = any(?::uuid[]) order by a.id for update`, [uuidArray(accountIds)]);
  }
  // The account row and its fork sequence come from one statement (one
  // snapshot, taken after any locks): a fork committing its first step
  // between two reads would otherwise look both active and already running.
  const rows = await em.execute<(AccountRow & { next_seq: string | null; running_fork: string | null })[]>(
    `select a.*, p.settings, p.template, f.next_seq, f.running_fork
       from accounts a join portfolios p on p.id = a.portfolio_id
       left join lateral (select max(seq) + 1 as next_seq, max(workflow_id) filter (where status = 'started') as running_fork
                            from forking_events where parent_account_id = a.id) f on true
      where a.id = any(?::uuid[]) and a.unit_id is not null order by a.id`,
    [uuidArray(accountIds)],
  );
  if (rows.length === 0) return new Map();
  const settingsOf = new Map(rows.map((r) => [r.portfolio_id, withDefaults(r.settings, r.template)]));
  const today = await forksToday(em, settingsOf, opts);
  return new Map(rows.map((r) => {
    const locked = toLocked(r);
    return [r.id, {
      accountId: r.id, portfolioId: r.portfolio_id, unitId: r.unit_id!, settings: settingsOf.get(r.portfolio_id)!,
      facts: {
        account: {
          type: r.type, status: r.status, balance: balanceOf(locked.buckets), baseBalance: locked.baseBalance,
          createdAt: locked.createdAt, lastForkAt: r.last_fork_at ? pgDate(r.last_fork_at) : null,
        },
        forksToday: today.get(r.portfolio_id) ?? 0,
      },
      nextSeq: Number(r.next_seq ?? 1),
      runningFork: r.running_fork ?? null,
    }];
  }));
}

/** Forks started or completed since midnight in each portfolio's own time zone. */
async function forksToday(
  em: EntityManager,
  settingsOf: Map<string, PortfolioSettings>,
  opts: { now: Date; excludeWorkflowId?: string },
): Promise<Map<string, number>> {
  const portfolios = [...settingsOf.keys()];
  const since = portfolios.map((p) => startOfDay(opts.now, settingsOf.get(p)!.timezone).toISOString());
  const rows = await em.execute<{ portfolio_id: string; n: string }[]>(
    `select x.portfolio_id, (select count(*) from forking_events f
                              where f.portfolio_id = x.portfolio_id and f.status in ('started', 'completed')
                                and f.started_at >= x.since and f.workflow_id <> ?) as n
       from unnest(?::uuid[], ?::timestamptz[]) as x(portfolio_id, since)`,
    [opts.excludeWorkflowId ?? '', uuidArray(portfolios), `{${since.join(',')}}`],
  );
  return new Map(rows.map((r) => [r.portfolio_id, Number(r.n)]));
}

export interface LoadedMerge {
  unitId: string;
  portfolioId: string;
  parentUnitId: string | null;
  settings: PortfolioSettings;
  candidate: MergeCandidate;
  accounts: LockedAccount[];
  lastMergeAt: Date | null;
}

/**
 * Merge facts of one unit. With `lock`, the unit row and then its accounts are
 * locked (units before accounts, the order every merge step keeps). The
 * cooling period counts merges completed before `coolingReference` (a scan's
 * start, so one scan's merges do not block each other).
 */
export async function loadMergeFacts(
  em: EntityManager,
  unitId: string,
  opts: { now: Date; lock?: boolean; coolingReference?: Date },
): Promise<LoadedMerge> {
  const [unit] = await em.execute<{
    id: string; portfolio_id: string; kind: 'root' | 'forked'; status: string; parent_unit_id: string | null; created_at: string;
    settings: Partial<PortfolioSettings>; template: TemplateName;
  }[]>(
    `select u.*, p.settings, p.template from units u join portfolios p on p.id = u.portfolio_id where u.id = ? ${opts.lock ? 'for no key update of u' : ''}`,
    [unitId],
  );
  if (!unit) throw new DomainError('NotFound', 'unit not found');
  const ids = (await em.execute<{ id: string }[]>('select id from accounts where unit_id = ? order by type desc', [unitId])).map((r) => r.id);
  const accounts = opts.lock ? [...(await lockAccounts(em, ids)).values()] : await readAccounts(em, ids);
  const ordered = ids.map((id) => accounts.find((a) => a.id === id)!);
  const [running] = await em.execute<{ n: string }[]>(
    `select count(*) as n from reinvestment_events where account_id = any(?::uuid[]) and status = 'started'`, [uuidArray(ids)],
  );
  const reference = opts.coolingReference ?? opts.now;
  const [last] = await em.execute<{ at: string | null }[]>(
    `select max(completed_at) as at from merging_events where portfolio_id = ? and status = 'completed' and completed_at < ?`,
    [unit.portfolio_id, reference],
  );
  return {
    unitId, portfolioId: unit.portfolio_id, parentUnitId: unit.parent_unit_id, settings: withDefaults(unit.settings, unit.template),
    accounts: ordered,
    candidate: {
      unitId, kind: unit.kind, status: unit.status, createdAt: pgDate(unit.created_at),
      total: sum(ordered.map((a) => balanceOf(a.buckets))), accountStatuses: ordered.map((a) => a.status),
      runningReinvestments: Number(running?.n ?? 0),
    },
    lastMergeAt: last?.at ? pgDate(last.at) : null,
  };
}

async function readAccounts(em: EntityManager, ids: string[]): Promise<LockedAccount[]> {
  if (ids.length === 0) return [];
  const rows = await em.execute<AccountRow[]>('select * from accounts where id = any(?::uuid[])', [uuidArray(ids)]);
  return rows.map(toLocked);
}

/**
 * The units above `unitId`, nearest first, up to the nearest active one, each
 * locked on the way up (child before parent, the order every merge keeps),
 * with its Com-Acc.
 * A unit's status cannot change under these locks, so a target chosen from
 * them stays what it was until the transaction ends.
 */
export async function lockAncestors(em: EntityManager, unitId: string): Promise<AncestorUnit[]> {
  const chain: AncestorUnit[] = [];
  const [self] = await em.execute<{ parent_unit_id: string | null }[]>('select parent_unit_id from units where id = ?', [unitId]);
  let next = self?.parent_unit_id ?? null;
  while (next && chain.length < 10_000) {
    const [u] = await em.execute<{ id: string; status: string; parent_unit_id: string | null; com_id: string | null }[]>(
      `select u.id, u.status, u.parent_unit_id,
              (select a.id from accounts a where a.unit_id = u.id and a.type = 'com') as com_id
         from units u where u.id = ? for no key update of u`,
      [next],
    );
    if (!u) break;
    chain.push({ unitId: u.id, status: u.status, comAccountId: u.com_id });
    // The nearest active ancestor is the target; the units above it need no lock.
    if (u.status === 'active' && u.com_id) break;
    next = u.parent_unit_id;
  }
  return chain;
}

export interface LoadedAccount {
  account: LockedAccount;
  settings: PortfolioSettings;
}

/** One Rev-Acc or Com-Acc with its portfolio's settings, for the reinvestment rules. */
export async function loadReinvestFacts(em: EntityManager, accountId: string, opts: { lock?: boolean } = {}): Promise<LoadedAccount> {
  const [row] = await em.execute<AccountRow[]>(
    `select a.*, p.settings, p.template from accounts a join portfolios p on p.id = a.portfolio_id
      where a.id = ? and a.unit_id is not null ${opts.lock ? 'for update of a' : ''}`,
    [accountId],
  );
  if (!row) throw new DomainError('AccountNotFound', 'account not found');
  return { account: toLocked(row), settings: withDefaults(row.settings, row.template) };
}
