import { v7 as uuidv7 } from 'uuid';
import { appendAudit } from '../audit/audit';
import { loadMergeFacts, lockAncestors } from '../db/facts';
import { POSITION_BUCKETS } from '../domain/buckets';
import { DomainError } from '../domain/errors';
import { decideMerge, mergeTarget } from '../domain/merge';
import { ZERO, formatMoney, fromDb, money, sum } from '../domain/money';
import type { EntryPlan, Leg, LockedAccount } from '../ledger/ledger';
import { type MergeContext, type MergeInput, type MergeTargetRef, type RunRef, stepKey } from '../shared/operations';
import { type ActivityDeps, claimEvent, upsertRow } from './common';

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
   * Locks the unit and its accounts, checks eligibility, records the event with
   * the target as it stands now (the move step decides it finally, under its
   * own locks) and holds the unit and its accounts in `merging`.
   */
  async function mergeBegin(input: MergeInput & { workflowId: string; runId: string }): Promise<MergeContext> {
    const outcome = await orm.em.fork().transactional(async (em): Promise<{ ctx: MergeContext } | { rejected: string[] }> => {
      const [ev] = await em.execute<MergeRow[]>('select * from merging_events where workflow_id = ? for update', [input.workflowId]);
      const claim = claimEvent(ev, input.runId);
      if (claim === 'refuse') throw new DomainError('Compensated', 'this merge run was already compensated');
      if (claim.existing) return { ctx: contextOf(ev!, input.workflowId) };

      // A scan's merges all count their cooling period from before the scan started.
      const reference = input.coolingReference ? new Date(input.coolingReference) : now();
      const loaded = await loadMergeFacts(em, input.unitId, { now: now(), lock: true, coolingReference: reference });
      if (loaded.portfolioId !== input.portfolioId) throw new DomainError('NotFound', 'unit not found');
      const decision = decideMerge(
        { candidate: loaded.candidate, lastMergeAt: loaded.lastMergeAt, sources: loaded.accounts.map((a) => ({ accountId: a.id, buckets: a.buckets })) },
        loaded.settings, reference,
      );
      const target = mergeTarget(await lockAncestors(em, input.unitId));
      const reasons = [...decision.reasons];
      if (!target && loaded.candidate.kind === 'forked') reasons.push('no active ancestor unit has a Com-Acc to merge into');
      if (!target) throw new DomainError('NotEligible', `not eligible to merge: ${reasons.join('; ')}`, { reasons });
      const fields = {
        id: ev?.id ?? uuidv7(), workflow_id: input.workflowId, portfolio_id: input.portfolioId, unit_id: input.unitId,
        target_unit_id: target.unitId, target_account_id: target.comAccountId,
        sources: decision.plan.sources.map((s) => ({
          accountId: s.accountId, amount: formatMoney(s.amount), closePositions: formatMoney(s.closePositions), reserve: formatMoney(s.reserve),
        })),
        total: formatMoney(decision.plan.total), reason: input.reason ?? null, trigger: input.trigger, actor: input.actor,
        status: reasons.length ? 'failed' : 'started', error: reasons.length ? reasons.join('; ') : null,
        run_id: input.runId, attempt: claim.attempt, completed_at: reasons.length ? new Date() : null,
      };
      await upsertRow(em, 'merging_events', fields, ev !== undefined);
      if (reasons.length) {
        await appendAudit(em, { actor: input.actor, portfolioId: input.portfolioId, action: 'merge.rejected', targetType: 'unit', targetId: input.unitId, details: { workflowId: input.workflowId, reasons } });
        return { rejected: reasons };
      }
      await em.execute(`update units set status = 'merging' where id = ?`, [input.unitId]);
      await em.execute(`update accounts set status = 'merging', updated_at = now() where unit_id = ?`, [input.unitId]);
      await appendAudit(em, {
        actor: input.actor, portfolioId: input.portfolioId, action: 'merge.started', targetType: 'unit', targetId: input.unitId,
        details: { workflowId: input.workflowId, attempt: claim.attempt, total: fields.total, targetAccountId: target.comAccountId },
      });
      return { ctx: contextOf(fields as unknown as MergeRow, input.workflowId) };
    });
    if ('rejected' in outcome) {
      throw new DomainError('NotEligible', `not eligible to merge: ${outcome.rejected.join('; ')}`, { reasons: outcome.rejected });
    }
    return outcome.ctx;
  }

  /** The undo of mergeBegin, registered before it runs: releases whatever this run holds. */
  async function mergeRelease(run: RunRef, reason: string): Promise<void> {
    const [ev] = await orm.em.fork().execute<MergeRow[]>(
      `select * from merging_events where workflow_id = ? and status = 'started'`, [run.workflowId],
    );
    if (ev) await mergeAbort(contextOf(ev, run.workflowId), reason);
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

  /** In the ledger: every source's contracts and LEAPS return to cash (a tax reserve stays a reserve). */
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
          const positions = POSITION_BUCKETS.filter((b) => !a.buckets[b].isZero());
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

  /**
   * One entry moves every source's whole balance (cash to cash, reserve to
   * reserve) into the Com-Acc of the nearest active ancestor unit: all or
   * nothing. The target is decided here, under the locks of the ancestor units,
   * so it cannot start merging (or be merged) before the money lands; the
   * event records where it went.
   */
  async function mergeMoveBalances(ctx: MergeContext): Promise<MergeTargetRef> {
    return orm.em.fork().transactional(async (em) => {
      // A run started before targets were decided here already paid its broker transfer to the recorded target.
      const target = ctx.targetFixed
        ? { unitId: ctx.targetUnitId, comAccountId: ctx.targetAccountId }
        : mergeTarget(await lockAncestors(em, ctx.unitId));
      if (!target) throw new DomainError('NotEligible', 'no active ancestor unit has a Com-Acc to merge into');
      const posted = money(ctx.total).isZero() ? null : await ledger.postIn(em, {
        idempotencyKey: key(ctx, 'move'),
        compensable: true,
        portfolioId: ctx.portfolioId,
        kind: 'merge.move',
        actor: ctx.actor,
        operationId: ctx.workflowId,
        accountIds: [...ctx.sources.map((s) => s.accountId), target.comAccountId],
        plan: (locked) => moveLegs(ctx, locked, target.comAccountId),
      });
      if (posted && !posted.created) {
        // A retry after the move committed: the money went where the event says.
        const [ev] = await em.execute<MergeRow[]>('select target_unit_id, target_account_id from merging_events where id = ?', [ctx.eventId]);
        return { targetUnitId: ev!.target_unit_id, targetAccountId: ev!.target_account_id };
      }
      await em.execute('update merging_events set target_unit_id = ?, target_account_id = ? where id = ?', [target.unitId, target.comAccountId, ctx.eventId]);
      return { targetUnitId: target.unitId, targetAccountId: target.comAccountId };
    });
  }

  async function mergeMoveBack(ctx: MergeContext): Promise<void> {
    await ledger.reverse({ forwardKey: key(ctx, 'move'), actor: ctx.actor, operationId: ctx.workflowId });
  }

  /** Marks the sources merged and re-parents units forked from the merged unit to the unit its money went to. */
  async function mergeComplete(ctx: MergeContext): Promise<void> {
    await orm.em.fork().transactional(async (em) => {
      const done = await em.execute<{ target_unit_id: string; target_account_id: string }[]>(
        `update merging_events set status = 'completed', completed_at = now() where id = ? and status = 'started'
         returning target_unit_id, target_account_id`, [ctx.eventId],
      );
      if (done.length === 0) return;
      const target = done[0]!;
      // Units before accounts, and a unit's children before the unit: the lock order every merge step keeps.
      await em.execute('select id from units where parent_unit_id = ? order by id for no key update', [ctx.unitId]);
      await em.execute(`update units set status = 'merged' where id = ?`, [ctx.unitId]);
      const moved = await em.execute<{ id: string }[]>(`update units set parent_unit_id = ? where parent_unit_id = ? returning id`, [target.target_unit_id, ctx.unitId]);
      await em.execute(`update accounts set status = 'merged', updated_at = now() where unit_id = ?`, [ctx.unitId]);
      await appendAudit(em, {
        actor: ctx.actor, portfolioId: ctx.portfolioId, action: 'merge.completed', targetType: 'unit', targetId: ctx.unitId,
        details: { workflowId: ctx.workflowId, total: ctx.total, targetAccountId: target.target_account_id, reparentedUnits: moved.map((m) => m.id) },
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
    steps: { mergeBegin, mergeBrokerClosePositions, mergeClosePositions, mergeBrokerTransfer, mergeMoveBalances, mergeComplete },
    undos: { mergeBrokerReopenPositions, mergeReopenPositions, mergeReverseBrokerTransfer, mergeMoveBack, mergeAbort, mergeRelease },
    /** After the move, the point of no return: the same steps, retried until done. */
    untilDone: { mergeSettleBrokerTransfer: mergeBrokerTransfer, mergeFinish: mergeComplete },
  };
}

/** Sources drained (cash and reserve), the target credited in the same buckets; base balances follow the money. */
function moveLegs(ctx: MergeContext, locked: ReadonlyMap<string, LockedAccount>, targetId: string): EntryPlan {
  const legs: Leg[] = [];
  let cash = ZERO;
  let reserve = ZERO;
  for (const s of ctx.sources) {
    const a = locked.get(s.accountId)!;
    if (!a.buckets.contracts.isZero() || !a.buckets.leaps.isZero()) {
      throw new DomainError('InvariantViolation', 'positions must be closed before the move');
    }
    if (!a.buckets.cash.isZero()) legs.push({ accountId: s.accountId, bucket: 'cash', amount: a.buckets.cash.neg() });
    if (!a.buckets.reserve.isZero()) legs.push({ accountId: s.accountId, bucket: 'reserve', amount: a.buckets.reserve.neg() });
    cash = cash.plus(a.buckets.cash);
    reserve = reserve.plus(a.buckets.reserve);
  }
  if (!cash.isZero()) legs.push({ accountId: targetId, bucket: 'cash', amount: cash });
  if (!reserve.isZero()) legs.push({ accountId: targetId, bucket: 'reserve', amount: reserve });
  const moved = cash.plus(reserve);
  if (!moved.eq(money(ctx.total))) {
    throw new DomainError('InvariantViolation', `the unit holds ${formatMoney(moved)}, not the planned ${ctx.total}`);
  }
  return {
    legs,
    baseBalanceChanges: [
      ...ctx.sources.map((s) => ({ accountId: s.accountId, delta: locked.get(s.accountId)!.baseBalance.neg() })),
      { accountId: targetId, delta: moved },
    ],
  };
}
