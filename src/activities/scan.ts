import { pgDate } from '../db/sql';
import { DomainError } from '../domain/errors';
import { type PortfolioSettings, withDefaults } from '../domain/settings';
import { rankMergeCandidates } from '../domain/merge';
import { fromDb } from '../domain/money';
import type { ForkCandidate, MergeCandidateRef, ScanReport } from '../shared/operations';
import type { ActivityDeps } from './common';

export const SCAN_BATCH = 500;

/** The optional portfolio restriction and the keyset cursor (`id > afterId`) of a batched account scan. */
function batchFilter(alias: string, input: { portfolioId?: string; afterId?: string }): { filter: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (input.portfolioId) {
    clauses.push(`${alias}.portfolio_id = ?`);
    params.push(input.portfolioId);
  }
  if (input.afterId) {
    clauses.push(`${alias}.id > ?`);
    params.push(input.afterId);
  }
  return { filter: clauses.map((c) => ` and ${c}`).join(''), params };
}

/**
 * The threshold scans. Candidates are found by indexed SQL in batches (the
 * partial indexes on active Gen-Accs and active forked units), never by
 * loading every account; the per-portfolio limits are applied here, and the
 * fork/merge `begin` steps check eligibility again on the locked rows.
 */
export function createScanActivities({ orm }: ActivityDeps) {
  async function scanForkCandidates(input: { portfolioId?: string; afterId?: string; limit?: number }): Promise<{
    candidates: ForkCandidate[];
    skipped: ScanReport['skipped'];
    nextAfterId: string | null;
  }> {
    const limit = input.limit ?? SCAN_BATCH;
    const em = orm.em.fork();
    const { filter, params } = batchFilter('a', input);
    const rows = await em.execute<{ id: string; portfolio_id: string; unit_id: string }[]>(
      `select a.id, a.portfolio_id, a.unit_id
         from accounts a join portfolios p on p.id = a.portfolio_id
        where a.type = 'gen' and a.status = 'active'
          and a.balance - a.base_balance >= (p.settings->>'forkThreshold')::numeric
          and (a.last_fork_at is null
               or a.last_fork_at <= now() - make_interval(hours => coalesce((p.settings->>'forkCoolingHours')::int, 24)))
          and a.created_at <= now() - make_interval(days => coalesce((p.settings->>'minAccountAgeDays')::int, 0))
          ${filter}
        order by a.id limit ?`,
      [...params, limit],
    );
    if (rows.length === 0) return { candidates: [], skipped: [], nextAfterId: null };
    const ids = rows.map((r) => r.id);
    const portfolios = [...new Set(rows.map((r) => r.portfolio_id))];
    const today = await em.execute<{ portfolio_id: string; n: string; max_per_day: string }[]>(
      `select p.id as portfolio_id, coalesce((p.settings->>'maxForksPerDay')::int, 5) as max_per_day,
              (select count(*) from forking_events f where f.portfolio_id = p.id and f.status in ('started','completed')
                  and f.started_at >= date_trunc('day', now())) as n
         from portfolios p where p.id = any(?::uuid[])`,
      [`{${portfolios.join(',')}}`],
    );
    const room = new Map(today.map((t) => [t.portfolio_id, Number(t.max_per_day) - Number(t.n)]));
    const seqs = await em.execute<{ parent_account_id: string; next: string }[]>(
      `select parent_account_id, max(seq) + 1 as next from forking_events where parent_account_id = any(?::uuid[]) group by 1`,
      [`{${ids.join(',')}}`],
    );
    const nextSeq = new Map(seqs.map((s) => [s.parent_account_id, Number(s.next)]));
    const candidates: ForkCandidate[] = [];
    const skipped: ScanReport['skipped'] = [];
    for (const r of rows) {
      const left = room.get(r.portfolio_id) ?? 0;
      if (left <= 0) {
        skipped.push({ id: r.id, type: 'fork', reason: 'the portfolio reached its forks-per-day limit' });
        continue;
      }
      room.set(r.portfolio_id, left - 1);
      candidates.push({ accountId: r.id, portfolioId: r.portfolio_id, unitId: r.unit_id, seq: nextSeq.get(r.id) ?? 1 });
    }
    return { candidates, skipped, nextAfterId: rows.length === limit ? rows[rows.length - 1]!.id : null };
  }

  async function scanMergeCandidates(input: { portfolioId?: string; scanStartedAt: string }): Promise<{
    candidates: MergeCandidateRef[];
    skipped: ScanReport['skipped'];
  }> {
    const em = orm.em.fork();
    const rows = await em.execute<{ id: string; portfolio_id: string; created_at: string; total: string; settings: PortfolioSettings; last_merge: string | null }[]>(
      `select u.id, u.portfolio_id, u.created_at, t.total, p.settings,
              (select max(m.completed_at) from merging_events m where m.portfolio_id = u.portfolio_id and m.status = 'completed') as last_merge
         from units u
         join portfolios p on p.id = u.portfolio_id
         join lateral (select sum(a.balance) as total from accounts a where a.unit_id = u.id) t on true
        where u.kind = 'forked' and u.status = 'active' ${input.portfolioId ? 'and u.portfolio_id = ?' : ''}
          and t.total >= (p.settings->>'mergeThreshold')::numeric`,
      input.portfolioId ? [input.portfolioId] : [],
    );
    const byPortfolio = new Map<string, typeof rows>();
    for (const r of rows) byPortfolio.set(r.portfolio_id, [...(byPortfolio.get(r.portfolio_id) ?? []), r]);
    const candidates: MergeCandidateRef[] = [];
    const skipped: ScanReport['skipped'] = [];
    const scanStart = new Date(input.scanStartedAt).getTime();
    for (const [portfolioId, list] of byPortfolio) {
      const settings = withDefaults(list[0]!.settings);
      const last = list[0]!.last_merge ? pgDate(list[0]!.last_merge).getTime() : null;
      if (last !== null && scanStart - last < settings.mergeCoolingHours * 3_600_000) {
        for (const r of list) skipped.push({ id: r.id, type: 'merge', reason: `the portfolio's last merge is within the ${settings.mergeCoolingHours} h cooling period` });
        continue;
      }
      const ranked = rankMergeCandidates(
        list.map((r) => ({ unitId: r.id, kind: 'forked' as const, status: 'active', total: fromDb(r.total), createdAt: pgDate(r.created_at) })),
        settings,
      );
      const chosen = new Set(ranked.map((c) => c.unitId));
      for (const r of list) {
        if (chosen.has(r.id)) candidates.push({ unitId: r.id, portfolioId });
        else skipped.push({ id: r.id, type: 'merge', reason: `beyond the ${settings.maxMergesPerScan} merges a scan may start` });
      }
    }
    return { candidates, skipped };
  }

  /** Active Rev-Accs and Com-Accs, in id batches, for the quarterly reinvestment. */
  async function scanReinvestCandidates(input: { portfolioId?: string; afterId?: string; limit?: number }): Promise<{
    accounts: { accountId: string; portfolioId: string; unitId: string }[];
    nextAfterId: string | null;
  }> {
    const limit = input.limit ?? SCAN_BATCH;
    const { filter, params } = batchFilter('a', input);
    const rows = await orm.em.fork().execute<{ id: string; portfolio_id: string; unit_id: string }[]>(
      `select a.id, a.portfolio_id, a.unit_id from accounts a where a.type in ('rev','com') and a.status = 'active' ${filter} order by a.id limit ?`,
      [...params, limit],
    );
    return {
      accounts: rows.map((r) => ({ accountId: r.id, portfolioId: r.portfolio_id, unitId: r.unit_id })),
      nextAfterId: rows.length === limit ? rows[rows.length - 1]!.id : null,
    };
  }

  async function assertPortfolio(portfolioId: string): Promise<void> {
    const [row] = await orm.em.fork().execute('select 1 from portfolios where id = ?', [portfolioId]);
    if (!row) throw new DomainError('NotFound', 'portfolio not found');
  }

  return { scanForkCandidates, scanMergeCandidates, scanReinvestCandidates, assertPortfolio };
}
