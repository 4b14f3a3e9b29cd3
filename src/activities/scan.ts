import type { EntityManager } from '@mikro-orm/postgresql';
import { type LoadedMerge, loadForkFacts, loadMergeFacts, uuidArray } from '../db/facts';
import { DomainError } from '../domain/errors';
import { decideFork } from '../domain/fork';
import { decideMerge, rankMergeCandidates } from '../domain/merge';
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
 * loading every account; the SQL only narrows by threshold. Every candidate
 * is then decided by the same fact loader and domain decision as a dry run
 * and the workflow's first step (which decides again, under locks).
 */
export function createScanActivities({ orm, now = () => new Date() }: ActivityDeps) {
  async function scanForkCandidates(input: { portfolioId?: string; afterId?: string; limit?: number }): Promise<{
    candidates: ForkCandidate[];
    skipped: ScanReport['skipped'];
    nextAfterId: string | null;
  }> {
    const limit = input.limit ?? SCAN_BATCH;
    const em = orm.em.fork();
    const { filter, params } = batchFilter('a', input);
    const rows = await em.execute<{ id: string }[]>(
      `select a.id from accounts a join portfolios p on p.id = a.portfolio_id
        where a.type = 'gen' and a.status = 'active'
          and a.balance - a.base_balance >= (p.settings->>'forkThreshold')::numeric
          ${filter}
        order by a.id limit ?`,
      [...params, limit],
    );
    if (rows.length === 0) return { candidates: [], skipped: [], nextAfterId: null };
    const at = now();
    const loaded = await loadForkFacts(em, rows.map((r) => r.id), { now: at });
    const declined = await recentlyDeclined(em, 'fork', rows.map((r) => r.id), at);
    // Forks this batch will start count toward each portfolio's daily limit.
    const startedNow = new Map<string, number>();
    const candidates: ForkCandidate[] = [];
    const skipped: ScanReport['skipped'] = [];
    for (const { id } of rows) {
      const f = loaded.get(id);
      if (!f) continue;
      if (f.runningFork) {
        skipped.push({ id, type: 'fork', reason: `a fork of this account is already running (${f.runningFork})` });
        continue;
      }
      if (declined.has(id)) {
        skipped.push({ id, type: 'fork', reason: 'its last fork was rejected or expired within the fork cooling period' });
        continue;
      }
      const extra = startedNow.get(f.portfolioId) ?? 0;
      const decision = decideFork({ ...f.facts, forksToday: f.facts.forksToday + extra }, f.settings, at);
      if (!decision.eligible) {
        skipped.push({ id, type: 'fork', reason: decision.reasons.join('; ') });
        continue;
      }
      startedNow.set(f.portfolioId, extra + 1);
      candidates.push({ accountId: id, portfolioId: f.portfolioId, unitId: f.unitId, seq: f.nextSeq });
    }
    return { candidates, skipped, nextAfterId: rows.length === limit ? rows[rows.length - 1]!.id : null };
  }

  async function scanMergeCandidates(input: { portfolioId?: string; scanStartedAt: string }): Promise<{
    candidates: MergeCandidateRef[];
    skipped: ScanReport['skipped'];
  }> {
    const em = orm.em.fork();
    const rows = await em.execute<{ id: string }[]>(
      `select u.id from units u
         join portfolios p on p.id = u.portfolio_id
         join lateral (select sum(a.balance) as total from accounts a where a.unit_id = u.id) t on true
        where u.kind = 'forked' and u.status = 'active' ${input.portfolioId ? 'and u.portfolio_id = ?' : ''}
          and t.total >= (p.settings->>'mergeThreshold')::numeric
        order by u.id`,
      input.portfolioId ? [input.portfolioId] : [],
    );
    // A scan's merges all count their cooling period from the scan's start.
    const reference = new Date(input.scanStartedAt);
    const declined = await recentlyDeclined(em, 'merge', rows.map((r) => r.id), reference);
    const byPortfolio = new Map<string, LoadedMerge[]>();
    const skipped: ScanReport['skipped'] = [];
    for (const { id } of rows.filter((r) => !declined.has(r.id))) {
      const loaded = await loadMergeFacts(em, id, { now: reference, coolingReference: reference });
      const decision = decideMerge({ candidate: loaded.candidate, lastMergeAt: loaded.lastMergeAt, sources: [] }, loaded.settings, reference);
      if (!decision.eligible) {
        skipped.push({ id, type: 'merge', reason: decision.reasons.join('; ') });
        continue;
      }
      byPortfolio.set(loaded.portfolioId, [...(byPortfolio.get(loaded.portfolioId) ?? []), loaded]);
    }
    const candidates: MergeCandidateRef[] = [];
    for (const [portfolioId, list] of byPortfolio) {
      const settings = list[0]!.settings;
      const chosen = new Set(rankMergeCandidates(list.map((l) => l.candidate), settings).map((c) => c.unitId));
      for (const l of list) {
        if (chosen.has(l.unitId)) candidates.push({ unitId: l.unitId, portfolioId });
        else skipped.push({ id: l.unitId, type: 'merge', reason: `beyond the ${settings.maxMergesPerScan} merges a scan may start` });
      }
    }
    for (const id of declined) skipped.push({ id, type: 'merge', reason: 'its last merge was rejected or expired within the merge cooling period' });
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

/**
 * Accounts (forks) or units (merges) whose last approval was rejected or
 * expired within the portfolio's cooling period: the scan does not ask the
 * operator again at every run; a manual request still can.
 */
async function recentlyDeclined(em: EntityManager, type: 'fork' | 'merge', ids: string[], at: Date): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const prefix = type === 'fork' ? 6 : 7; // operation ids are fork-<accountId>-<seq> and merge-<unitId>
  const cooling = type === 'fork' ? 'forkCoolingHours' : 'mergeCoolingHours';
  const rows = await em.execute<{ id: string }[]>(
    `select distinct substring(t.operation_id from ${prefix} for 36) as id from tasks t join portfolios p on p.id = t.portfolio_id
      where t.kind = 'approval' and t.operation_type = ? and (t.decision = 'reject' or t.status = 'expired')
        and t.decided_at > ?::timestamptz - make_interval(hours => coalesce((p.settings->>'${cooling}')::int, 24))
        and substring(t.operation_id from ${prefix} for 36) = any(?::text[])`,
    [type, at, uuidArray(ids)],
  );
  return new Set(rows.map((r) => r.id));
}
