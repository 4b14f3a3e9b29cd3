import { createHash } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { chainOf, verifyChain } from '../audit/audit';
import { DomainError } from '../domain/errors';
import { emitEvent } from '../notify/events';

export interface IntegrityCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface IntegrityReport {
  ok: boolean;
  checks: IntegrityCheck[];
}

/**
 * Proves the ledger invariants of docs/domain.md section 6 for one portfolio from
 * the stored rows (never from the services' own bookkeeping).
 */
export class IntegrityService {
  constructor(private readonly orm: MikroORM) {}

  async check(portfolioId: string): Promise<IntegrityReport> {
    const em = this.orm.em.fork();
    const [exists] = await em.execute('select 1 from portfolios where id = ?', [portfolioId]);
    if (!exists) throw new DomainError('NotFound', 'portfolio not found');
    // Each `?` in a check is the portfolio id.
    const q = async (sql: string) =>
      (await em.execute<{ n: string }[]>(sql, sql.split('?').slice(1).map(() => portfolioId)))[0]?.n ?? '0';
    const checks: IntegrityCheck[] = [];
    const add = (name: string, bad: string, detail: string) =>
      checks.push({ name, ok: bad === '0', detail: bad === '0' ? detail : `${bad} ${detail.replace(/^all /, '')} violated` });

    add(
      'ledger-balanced',
      await q(`select count(*) as n from (
        select e.id from journal_entries e left join postings p on p.entry_id = e.id
         where e.portfolio_id = ? group by e.id having coalesce(sum(p.amount), 0) <> 0 or count(p.id) < 2) x`),
      'all journal entries have at least two postings summing to zero',
    );
    add(
      'cached-balances-match-postings',
      await q(`select count(*) as n from accounts a
        left join lateral (
          select coalesce(sum(amount) filter (where bucket = 'cash'), 0) as cash,
                 coalesce(sum(amount) filter (where bucket = 'contracts'), 0) as contracts,
                 coalesce(sum(amount) filter (where bucket = 'leaps'), 0) as leaps,
                 coalesce(sum(amount) filter (where bucket = 'reserve'), 0) as reserve
            from postings p where p.account_id = a.id) s on true
        where a.portfolio_id = ? and a.type <> 'external'
          and (a.cash, a.contracts, a.leaps, a.reserve) is distinct from (s.cash, s.contracts, s.leaps, s.reserve)`),
      'all cached bucket balances equal the sum of their postings',
    );
    add(
      'no-negative-bucket',
      await q(`select count(*) as n from accounts where portfolio_id = ? and type <> 'external'
        and (cash < 0 or contracts < 0 or leaps < 0 or reserve < 0)`),
      'all buckets are non-negative',
    );
    add(
      'no-money-outside-active-accounts',
      await q(`select count(*) as n from accounts a
        where a.portfolio_id = ? and a.unit_id is not null and a.status <> 'active'
          and (a.cash <> 0 or a.contracts <> 0 or a.leaps <> 0 or a.reserve <> 0)
          and not (a.status = 'forking' and exists (
                     select 1 from forking_events f where f.status = 'started'
                        and a.id in (f.parent_account_id, f.new_gen_account_id, f.new_com_account_id)))
          and not (a.status = 'merging' and exists (
                     select 1 from merging_events m where m.status = 'started' and m.unit_id = a.unit_id))`),
      'all money sits in active accounts (or in accounts a running fork or merge holds)',
    );
    add(
      'held-accounts-have-running-operation',
      await q(`select count(*) as n from accounts a
        where a.portfolio_id = ? and a.status in ('forking', 'merging')
          and not exists (select 1 from forking_events f where f.status = 'started'
                             and a.id in (f.parent_account_id, f.new_gen_account_id, f.new_com_account_id))
          and not exists (select 1 from merging_events m where m.status = 'started' and m.unit_id = a.unit_id)`),
      'all accounts held in forking or merging belong to a running operation',
    );
    add(
      'hierarchy-consistent',
      await q(`select count(*) as n from units u
        where u.portfolio_id = ? and (
          (select count(*) from accounts a where a.unit_id = u.id and a.portfolio_id = u.portfolio_id)
            <> case u.kind when 'root' then 3 else 2 end
          or (u.kind = 'root' and (select count(*) from accounts a where a.unit_id = u.id and a.type = 'rev') <> 1)
          or (u.kind = 'forked' and not exists (
                select 1 from accounts g join units pu on pu.id = g.unit_id
                 where g.id = u.forked_from_account_id and g.type = 'gen' and pu.portfolio_id = u.portfolio_id))
          or (u.parent_unit_id is not null and not exists (
                select 1 from units pu where pu.id = u.parent_unit_id and pu.portfolio_id = u.portfolio_id)))`),
      'all units hold their accounts and link to a parent unit and forking Gen-Acc of the same portfolio',
    );
    add(
      'completed-operations-have-entries',
      await q(`select count(*) as n from (
        select workflow_id from forking_events where portfolio_id = ? and status = 'completed'
        union all select workflow_id from merging_events where portfolio_id = ? and status = 'completed'
        union all select workflow_id from reinvestment_events where portfolio_id = ? and status = 'completed') ops
        where not exists (select 1 from journal_entries e where e.operation_id = ops.workflow_id)`),
      'all completed operations have their journal entries',
    );
    const chain = await verifyChain(em, chainOf(portfolioId));
    checks.push({
      name: 'audit-chain-intact',
      ok: chain.ok,
      detail: chain.ok ? `${chain.rows} audit rows, every hash and link verified` : `audit chain broken at seq ${chain.firstBadSeq}`,
    });
    const ok = checks.every((c) => c.ok);
    if (!ok) {
      // One integrity.failed event per distinct failure: re-running the check on the same failure emits nothing new.
      const failing = checks.filter((c) => !c.ok);
      const digest = createHash('sha256').update(JSON.stringify(failing)).digest('hex').slice(0, 32);
      await this.orm.em.fork().transactional((tx) =>
        emitEvent(tx, { type: 'integrity.failed', portfolioId, dedupeKey: `integrity:${portfolioId}:${digest}`, data: { portfolioId, checks: failing } }),
      );
    }
    return { ok, checks };
  }
}
