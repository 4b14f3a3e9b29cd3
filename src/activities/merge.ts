import { v7 as uuidv7 } from 'uuid';
import { appendAudit } from '../audit/audit';
import { pgDate } from '../db/sql';
import { BUCKETS, balanceOf } from '../domain/buckets';
import { DomainError } from '../domain/errors';
import { mergeEligibility, mergePlan } from '../domain/merge';
import { formatMoney, fromDb, money, sum } from '../domain/money';
import { type Leg, lockAccounts } from '../ledger/ledger';
import { type MergeContext, type MergeInput, stepKey } from '../shared/operations';
import { type ActivityDeps, claimEvent, portfolioContext, upsertRow } from './common';

interface MergeRow {
  id: string; portfolio_id: string; unit_id: string; target_unit_id: string; target_account_id: string; attempt: number;
  run_id: string; status: string; actor: string; sources: MergeContext['sources']; total: string;
}

const key = (c: MergeContext, step: string) => stepKey(`merge:${c.unitId}`, c.attempt, step);

const contextOf = (r: MergeRow, workflowId: string): MergeContext => ({
  workflowId, eventId: r.id, portfolioId: r.portfolio_id, unitId: r.unit_id, targetUnitId: r.target_unit_id,
  targetAccountId: r.target_account_id, attempt: r.attempt, actor: r.actor, sources: r.sources, total: formatMoney(fromDb(r.total)),
});

export function createMergeActivities({ orm, ledger, broker, now = () => new Date() }: ActivityDeps) {
  /**
   * Locks the unit's accounts and the target Com-Acc, checks eligibility,
   * records the event and holds the unit and its accounts in `merging`.
   */
  async function mergeBegin(input: MergeInput & { workflowId: string; runId: string }): Promise<MergeContext> {
    const outcome = await orm.em.fork().transactional(async (em): Promise<{ ctx: MergeContext } | { rejected: string[] }> => {
      const [ev] = await em.execute<MergeRow[]>('select * from merging_events where workflow_id = ? for update', [input.workflowId]);
      const claim = claimEvent(ev, input.runId);
      if (claim === 'refuse') throw new DomainError('Compensated', 'this merge run was already compensated');
      if (claim.existing) return { ctx: contextOf(ev!, input.workflowId) };
      const { settings } = await portfolioContext(em, input.portfolioId);

      const [unit] = await em.execute<{ id: string; kind: 'root' | 'forked'; status: string; parent_unit_id: string | null; created_at: string }[]>(
        'select * from units where id = ? and portfolio_id = ? for update', [input.unitId, input.portfolioId],
      );
      if (!unit) throw new DomainError('NotFound', 'unit not found');
      const [target] = unit.parent_unit_id
        ? await em.execute<{ id: string }[]>(`select id from accounts where unit_id = ? and type = 'com'`, [unit.parent_unit_id])
        : [];
      const sourceRows = await em.execute<{ id: string; status: string }[]>(
        `select id, status from accounts where unit_id = ? order by type desc`, [input.unitId],
      );
      const locked = await lockAccounts(em, [...sourceRows.map((r) => r.id), ...(target ? [target.id] : [])]);
      const sources = sourceRows.map((r) => locked.get(r.id)!);
      // A scan's merges all count their cooling period from before the scan started.
      const reference = input.coolingReference ? new Date(input.coolingReference) : now();
      const [last] = await em.execute<{ at: string | null }[]>(
        `select max(completed_at) as at from merging_events where portfolio_id = ? and status = 'completed' and completed_at < ?`,
        [input.portfolioId, reference],
      );
      const total = sum(sources.map((s) => balanceOf(s.buckets)));
      const eligibility = mergeEligibility(
        { unitId: unit.id, kind: unit.kind, status: unit.status, total, createdAt: pgDate(unit.created_at) },
        settings,
        { now: reference, lastMergeAt: last?.at ? pgDate(last.at) : null },
      );
      const reasons = [...eligibility.reasons];
      for (const s of sources) if (s.status !== 'active') reasons.push(`account ${s.id} is ${s.status}, not active`);
      if (!target && unit.kind === 'forked') reasons.push('the parent unit has no Com-Acc');
      const plan = mergePlan(sources.map((s) => ({ accountId: s.id, buckets: s.buckets })));
      const fields = {
        id: ev?.id ?? uuidv7(), workflow_id: input.workflowId, portfolio_id: input.portfolioId, unit_id: input.unitId,
        target_unit_id: unit.parent_unit_id, target_account_id: target?.id ?? null,
        sources: plan.sources.map((s) => ({ accountId: s.accountId, amount: formatMoney(s.amount), closePositions: formatMoney(s.closePositions) })),
        total: formatMoney(plan.total), reason: input.reason ?? null, trigger: input.trigger, actor: input.actor,
        status: reasons.length ? 'failed' : 'started', error: reasons.length ? reasons.join('; ') : null,
        run_id: input.runId, attempt: claim.attempt, completed_at: reasons.length ? new Date() : null,
      };
      if (!target) throw new DomainError('NotEligible', `not eligible to merge: ${reasons.join('; ')}`, { reasons });
      await upsertRow(em, 'merging_events', fields, ev !== undefined);
      if (reasons.length) {
        await appendAudit(em, { actor: input.actor, portfolioId: input.portfolioId, action: 'merge.rejected', targetType: 'unit', targetId: input.unitId, details: { workflowId: input.workflowId, reasons } });
        return { rejected: reasons };
      }
      await em.execute(`update units set status = 'merging' where id = ?`, [input.unitId]);
      await em.execute(`update accounts set status = 'merging', updated_at = now() where unit_id = ?`, [input.unitId]);
      await appendAudit(em, {
        actor: input.actor, portfolioId: input.portfolioId, action: 'merge.started', targetType: 'unit', targetId: input.unitId,
        details: { workflowId: input.workflowId, attempt: claim.attempt, total: fields.total, targetAccountId: target.id },
      });
      return { ctx: contextOf(fields as unknown as MergeRow, input.workflowId) };
    });
    if ('rejected' in outcome) {
      throw new DomainError('NotEligible', `not eligible to merge: ${outcome.rejected.join('; ')}`, { reasons: outcome.rejected });
    }
    return outcome.ctx;
  }

  async function mergeBrokerClosePositions(ctx: MergeContext): Promise<void> {
    for (const s of ctx.sources) {
      if (money(s.closePositions).isZero()) continue;
      await broker.placeOrder({ key: key(ctx, `close-${s.accountId}`), accountId: s.accountId, kind: 'close_positions', amount: s.closePositions });
    }
  }

  async function mergeBrokerReopenPositions(ctx: MergeContext): Promise<void> {
    for (const s of [...ctx.sources].reverse()) await broker.reverseOrder({ key: key(ctx, `close-${s.accountId}`) });
  }

  /** In the ledger: every source's contracts, LEAPS and reserve return to cash. */
  async function mergeClosePositions(ctx: MergeContext): Promise<void> {
    if (ctx.sources.every((s) => money(s.closePositions).isZero())) return;
    await ledger.post({
      idempotencyKey: key(ctx, 'close-positions'),
      compensable: true,
      portfolioId: ctx.portfolioId,
      kind: 'merge.close-positions',
      actor: ctx.actor,
      operationId: ctx.workflowId,
      accountIds: ctx.sources.map((s) => s.accountId),
      plan: (locked) => {
        const legs: Leg[] = [];
        for (const s of ctx.sources) {
          const a = locked.get(s.accountId)!;
          const positions = BUCKETS.filter((b) => b !== 'cash' && !a.buckets[b].isZero());
          for (const b of positions) legs.push({ accountId: s.accountId, bucket: b, amount: a.buckets[b].neg() });
          const closed = sum(positions.map((b) => a.buckets[b]));
          if (!closed.isZero()) legs.push({ accountId: s.accountId, bucket: 'cash', amount: closed });
        }
        return { legs };
      },
    });
  }

  async function mergeReopenPositions(ctx: MergeContext): Promise<void> {
    await ledger.reverse({ forwardKey: key(ctx, 'close-positions'), actor: ctx.actor, operationId: ctx.workflowId });
  }

  async function mergeBrokerTransfer(ctx: MergeContext): Promise<void> {
    for (const s of ctx.sources) {
      if (money(s.amount).isZero()) continue;
      await broker.transferCash({ key: key(ctx, `transfer-${s.accountId}`), fromAccountId: s.accountId, toAccountId: ctx.targetAccountId, amount: s.amount });
    }
  }

  async function mergeReverseBrokerTransfer(ctx: MergeContext): Promise<void> {
    for (const s of [...ctx.sources].reverse()) await broker.reverseTransfer({ key: key(ctx, `transfer-${s.accountId}`) });
  }

  /** One entry moves every source's whole balance into the target Com-Acc: all or nothing. */
  async function mergeMoveBalances(ctx: MergeContext): Promise<void> {
    if (money(ctx.total).isZero()) return;
    await ledger.post({
      idempotencyKey: key(ctx, 'move'),
      compensable: true,
      portfolioId: ctx.portfolioId,
      kind: 'merge.move',
      actor: ctx.actor,
      operationId: ctx.workflowId,
      accountIds: [...ctx.sources.map((s) => s.accountId), ctx.targetAccountId],
      plan: (locked) => {
        const legs: Leg[] = [];
        for (const s of ctx.sources) {
          const a = locked.get(s.accountId)!;
          if (!balanceOf(a.buckets).eq(a.buckets.cash)) throw new DomainError('InvariantViolation', 'positions must be closed before the move');
          if (!a.buckets.cash.isZero()) legs.push({ accountId: s.accountId, bucket: 'cash', amount: a.buckets.cash.neg() });
        }
        legs.push({ accountId: ctx.targetAccountId, bucket: 'cash', amount: money(ctx.total) });
        return {
          legs,
          baseBalanceChanges: [
            ...ctx.sources.map((s) => ({ accountId: s.accountId, delta: locked.get(s.accountId)!.baseBalance.neg() })),
            { accountId: ctx.targetAccountId, delta: money(ctx.total) },
          ],
        };
      },
    });
  }

  async function mergeMoveBack(ctx: MergeContext): Promise<void> {
    await ledger.reverse({ forwardKey: key(ctx, 'move'), actor: ctx.actor, operationId: ctx.workflowId });
  }

  /** Marks the sources merged and re-parents units forked from the merged unit to the target's unit. */
  async function mergeComplete(ctx: MergeContext): Promise<void> {
    await orm.em.fork().transactional(async (em) => {
      const done = await em.execute<{ id: string }[]>(
        `update merging_events set status = 'completed', completed_at = now() where id = ? and status = 'started' returning id`, [ctx.eventId],
      );
      if (done.length === 0) return;
      await em.execute(`update accounts set status = 'merged', updated_at = now() where unit_id = ?`, [ctx.unitId]);
      await em.execute(`update units set status = 'merged' where id = ?`, [ctx.unitId]);
      const moved = await em.execute<{ id: string }[]>(`update units set parent_unit_id = ? where parent_unit_id = ? returning id`, [ctx.targetUnitId, ctx.unitId]);
      await appendAudit(em, {
        actor: ctx.actor, portfolioId: ctx.portfolioId, action: 'merge.completed', targetType: 'unit', targetId: ctx.unitId,
        details: { workflowId: ctx.workflowId, total: ctx.total, targetAccountId: ctx.targetAccountId, reparentedUnits: moved.map((m) => m.id) },
      });
    });
  }

  async function mergeAbort(ctx: MergeContext, reason: string): Promise<void> {
    await orm.em.fork().transactional(async (em) => {
      const aborted = await em.execute<{ id: string }[]>(
        `update merging_events set status = 'compensated', error = ?, completed_at = now() where id = ? and status = 'started' returning id`,
        [reason.slice(0, 2000), ctx.eventId],
      );
      if (aborted.length === 0) return;
      await em.execute(`update accounts set status = 'active', updated_at = now() where unit_id = ? and status = 'merging'`, [ctx.unitId]);
      await em.execute(`update units set status = 'active' where id = ? and status = 'merging'`, [ctx.unitId]);
      await appendAudit(em, { actor: ctx.actor, portfolioId: ctx.portfolioId, action: 'merge.compensated', targetType: 'unit', targetId: ctx.unitId, details: { workflowId: ctx.workflowId, reason } });
    });
  }

  return {
    mergeBegin, mergeBrokerClosePositions, mergeBrokerReopenPositions, mergeClosePositions, mergeReopenPositions,
    mergeBrokerTransfer, mergeReverseBrokerTransfer, mergeMoveBalances, mergeMoveBack, mergeComplete, mergeAbort,
  };
}
