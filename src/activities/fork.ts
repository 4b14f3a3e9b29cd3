import type { EntityManager } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { appendAudit } from '../audit/audit';
import { BUCKETS, balanceOf, debitDelta, openingBuckets } from '../domain/buckets';
import { DomainError } from '../domain/errors';
import { decideFork, surplus } from '../domain/fork';
import { formatMoney, fromDb, money } from '../domain/money';
import { loadForkFacts } from '../db/facts';
import type { Leg } from '../ledger/ledger';
import { type ForkContext, type ForkInput, type RunRef, stepKey } from '../shared/operations';
import { type ActivityDeps, claimEvent, portfolioContext, upsertRow } from './common';

interface ForkRow {
  id: string; portfolio_id: string; parent_account_id: string; parent_unit_id: string; seq: number; attempt: number;
  run_id: string; status: string; new_unit_id: string; new_gen_account_id: string; new_com_account_id: string;
  surplus: string; retained: string; fork_amount: string; child_gen: string; child_com: string; actor: string;
}

const keyBase = (c: ForkContext) => `fork:${c.parentAccountId}:${c.seq}`;
const key = (c: ForkContext, step: string) => stepKey(keyBase(c), c.attempt, step);

function contextOf(r: ForkRow, workflowId: string, holdingAccountId: string): ForkContext {
  return {
    workflowId, eventId: r.id, portfolioId: r.portfolio_id, parentAccountId: r.parent_account_id, parentUnitId: r.parent_unit_id,
    holdingAccountId, seq: r.seq, attempt: r.attempt, actor: r.actor, newUnitId: r.new_unit_id,
    newGenAccountId: r.new_gen_account_id, newComAccountId: r.new_com_account_id,
    surplus: formatMoney(fromDb(r.surplus)), retained: formatMoney(fromDb(r.retained)), forkAmount: formatMoney(fromDb(r.fork_amount)),
    childGen: formatMoney(fromDb(r.child_gen)), childCom: formatMoney(fromDb(r.child_com)),
  };
}

export function createForkActivities({ orm, ledger, broker, now = () => new Date() }: ActivityDeps) {
  /**
   * Checks eligibility on the locked parent (the portfolio locked first, so the
   * forks-per-day count and this claim are one critical section), records the
   * event, and holds the parent in `forking`.
   */
  async function forkBegin(input: ForkInput & { workflowId: string; runId: string }): Promise<ForkContext> {
    const { runId } = input;
    const outcome = await orm.em.fork().transactional(async (em): Promise<{ ctx: ForkContext } | { rejected: string[] }> => {
      const [ev] = await em.execute<ForkRow[]>('select * from forking_events where workflow_id = ? for update', [input.workflowId]);
      const claim = claimEvent(ev, runId);
      if (claim === 'refuse') throw new DomainError('Compensated', 'this fork run was already compensated');
      const { holdingId } = await portfolioContext(em, input.portfolioId);
      if (claim.existing) return { ctx: contextOf(ev!, input.workflowId, holdingId) };

      const loaded = (await loadForkFacts(em, [input.accountId], { now: now(), lock: true, excludeWorkflowId: input.workflowId })).get(input.accountId);
      if (!loaded || loaded.portfolioId !== input.portfolioId) throw new DomainError('AccountNotFound', 'account not found');
      const decision = decideFork(loaded.facts, loaded.settings, now());
      const { plan } = decision;
      const fields = {
        id: ev?.id ?? uuidv7(), workflow_id: input.workflowId, portfolio_id: input.portfolioId, parent_account_id: input.accountId,
        parent_unit_id: loaded.unitId, seq: input.seq, new_unit_id: uuidv7(), new_gen_account_id: uuidv7(), new_com_account_id: uuidv7(),
        surplus: formatMoney(plan.surplus), retained: formatMoney(plan.retained), fork_amount: formatMoney(plan.forkAmount),
        child_gen: formatMoney(plan.childGen), child_com: formatMoney(plan.childCom), threshold: loaded.settings.forkThreshold,
        trigger: input.trigger, actor: input.actor, status: decision.eligible ? 'started' : 'failed',
        reason: decision.eligible ? input.reason ?? null : decision.reasons.join('; '), run_id: runId, attempt: claim.attempt,
        completed_at: decision.eligible ? null : new Date(),
      };
      await upsertRow(em, 'forking_events', fields, ev !== undefined);
      if (!decision.eligible) {
        await appendAudit(em, {
          actor: input.actor, portfolioId: input.portfolioId, action: 'fork.rejected', targetType: 'account', targetId: input.accountId,
          details: { workflowId: input.workflowId, reasons: decision.reasons },
        });
        return { rejected: decision.reasons };
      }
      await em.execute(`update accounts set status = 'forking', updated_at = now() where id = ?`, [input.accountId]);
      await appendAudit(em, {
        actor: input.actor, portfolioId: input.portfolioId, action: 'fork.started', targetType: 'account', targetId: input.accountId,
        details: { workflowId: input.workflowId, attempt: claim.attempt, surplus: fields.surplus, forkAmount: fields.fork_amount },
      });
      return { ctx: contextOf(fields as unknown as ForkRow, input.workflowId, holdingId) };
    });
    // Recorded as `failed` (committed above), then reported as a business rejection.
    if ('rejected' in outcome) {
      throw new DomainError('NotEligible', `not eligible to fork: ${outcome.rejected.join('; ')}`, { reasons: outcome.rejected });
    }
    return outcome.ctx;
  }

  /**
   * The undo of forkBegin, registered before it runs: it needs only the
   * workflow id, so it also releases a parent held by a begin that committed
   * but never reported back. It releases by the `started` event of the id (not
   * by run id: after a Temporal reset the new run owns the row an earlier run
   * wrote; two runs of one id never run at once). Nothing to do when no run
   * of the id holds anything.
   */
  async function forkRelease(run: RunRef, reason: string): Promise<void> {
    const [ev] = await orm.em.fork().execute<ForkRow[]>(
      `select * from forking_events where workflow_id = ? and status = 'started'`, [run.workflowId],
    );
    if (ev) await forkAbort(contextOf(ev, run.workflowId, ''), reason);
  }

  /** Moves the fork amount out of the parent into the holding account; the retained share raises the parent's base. */
  async function forkDebitParent(ctx: ForkContext): Promise<void> {
    await ledger.post({
      idempotencyKey: key(ctx, 'debit-parent'),
      compensable: true,
      portfolioId: ctx.portfolioId,
      kind: 'fork.debit-parent',
      actor: ctx.actor,
      operationId: ctx.workflowId,
      accountIds: [ctx.parentAccountId, ctx.holdingAccountId],
      plan: (locked) => {
        const parent = locked.get(ctx.parentAccountId)!;
        if (surplus(balanceOf(parent.buckets), parent.baseBalance).lt(ctx.surplus)) {
          throw new DomainError('NotEligible', 'the surplus fell below the planned fork since the fork started');
        }
        const delta = debitDelta(parent.buckets, money(ctx.forkAmount));
        const legs: Leg[] = BUCKETS.filter((b) => delta[b]).map((b) => ({ accountId: ctx.parentAccountId, bucket: b, amount: delta[b]! }));
        legs.push({ accountId: ctx.holdingAccountId, bucket: 'cash', amount: money(ctx.forkAmount) });
        return { legs, baseBalanceChanges: [{ accountId: ctx.parentAccountId, delta: money(ctx.retained) }] };
      },
    });
  }

  async function forkCreditParentBack(ctx: ForkContext): Promise<void> {
    await ledger.reverse({ forwardKey: key(ctx, 'debit-parent'), actor: ctx.actor, operationId: ctx.workflowId });
  }

  /** Creates the forked unit and its two accounts (held in `forking` until the fork completes). */
  async function forkCreateUnit(ctx: ForkContext): Promise<void> {
    await orm.em.fork().transactional(async (em) => {
      await assertStarted(em, ctx.eventId);
      const created = await em.execute<{ id: string }[]>(
        `insert into units (id, portfolio_id, parent_unit_id, forked_from_account_id, kind) values (?, ?, ?, ?, 'forked')
         on conflict (id) do nothing returning id`,
        [ctx.newUnitId, ctx.portfolioId, ctx.parentUnitId, ctx.parentAccountId],
      );
      if (created.length === 0) return;
      for (const [id, type] of [[ctx.newGenAccountId, 'gen'], [ctx.newComAccountId, 'com']] as const) {
        await em.execute(
          `insert into accounts (id, portfolio_id, unit_id, type, status, parent_account_id) values (?, ?, ?, ?, 'forking', ?)`,
          [id, ctx.portfolioId, ctx.newUnitId, type, ctx.parentAccountId],
        );
      }
      await appendAudit(em, { actor: ctx.actor, portfolioId: ctx.portfolioId, action: 'unit.created', targetType: 'unit', targetId: ctx.newUnitId, details: { workflowId: ctx.workflowId } });
    });
  }

  /** Undo of forkCreateUnit: closes the (empty) unit and accounts. */
  async function forkCloseUnit(ctx: ForkContext): Promise<void> {
    await orm.em.fork().transactional(async (em) => {
      const closed = await em.execute<{ id: string }[]>(
        `update accounts set status = 'closed', updated_at = now() where unit_id = ? and status <> 'closed' and balance = 0 returning id`,
        [ctx.newUnitId],
      );
      await em.execute(`update units set status = 'closed' where id = ?`, [ctx.newUnitId]);
      if (closed.length) await appendAudit(em, { actor: ctx.actor, portfolioId: ctx.portfolioId, action: 'unit.closed', targetType: 'unit', targetId: ctx.newUnitId, details: { workflowId: ctx.workflowId } });
    });
  }

  async function forkOpenBrokerAccounts(ctx: ForkContext): Promise<void> {
    await broker.openAccount({ key: key(ctx, 'open-gen'), accountId: ctx.newGenAccountId });
    await broker.openAccount({ key: key(ctx, 'open-com'), accountId: ctx.newComAccountId });
  }

  async function forkCloseBrokerAccounts(ctx: ForkContext): Promise<void> {
    await broker.closeAccount({ key: key(ctx, 'open-com'), accountId: ctx.newComAccountId });
    await broker.closeAccount({ key: key(ctx, 'open-gen'), accountId: ctx.newGenAccountId });
  }

  async function forkBrokerTransfer(ctx: ForkContext): Promise<void> {
    await broker.transferCash({ key: key(ctx, 'transfer-gen'), fromAccountId: ctx.parentAccountId, toAccountId: ctx.newGenAccountId, amount: ctx.childGen });
    await broker.transferCash({ key: key(ctx, 'transfer-com'), fromAccountId: ctx.parentAccountId, toAccountId: ctx.newComAccountId, amount: ctx.childCom });
  }

  async function forkReverseBrokerTransfer(ctx: ForkContext): Promise<void> {
    await broker.reverseTransfer({ key: key(ctx, 'transfer-com') });
    await broker.reverseTransfer({ key: key(ctx, 'transfer-gen') });
  }

  /** Opens the child accounts from the holding account with the opening bucket split. */
  async function forkFundChildren(ctx: ForkContext): Promise<void> {
    const { settings } = await portfolioContext(orm.em.fork(), ctx.portfolioId);
    await ledger.post({
      idempotencyKey: key(ctx, 'fund-children'),
      compensable: true,
      portfolioId: ctx.portfolioId,
      kind: 'fork.fund-children',
      actor: ctx.actor,
      operationId: ctx.workflowId,
      accountIds: [ctx.holdingAccountId, ctx.newGenAccountId, ctx.newComAccountId],
      plan: () => {
        const legs: Leg[] = [{ accountId: ctx.holdingAccountId, bucket: 'cash', amount: money(ctx.forkAmount).neg() }];
        for (const [id, amount] of [[ctx.newGenAccountId, ctx.childGen], [ctx.newComAccountId, ctx.childCom]] as const) {
          const b = openingBuckets(money(amount), settings.bufferPct);
          for (const bucket of BUCKETS) if (!b[bucket].isZero()) legs.push({ accountId: id, bucket, amount: b[bucket] });
        }
        return {
          legs,
          baseBalanceChanges: [
            { accountId: ctx.newGenAccountId, delta: money(ctx.childGen) },
            { accountId: ctx.newComAccountId, delta: money(ctx.childCom) },
          ],
        };
      },
    });
  }

  async function forkDefundChildren(ctx: ForkContext): Promise<void> {
    await ledger.reverse({ forwardKey: key(ctx, 'fund-children'), actor: ctx.actor, operationId: ctx.workflowId });
  }

  /** Activates the new unit, releases the parent, and closes the event. */
  async function forkComplete(ctx: ForkContext): Promise<void> {
    await orm.em.fork().transactional(async (em) => {
      const done = await em.execute<{ id: string }[]>(
        `update forking_events set status = 'completed', completed_at = now() where id = ? and status = 'started' returning id`,
        [ctx.eventId],
      );
      if (done.length === 0) return;
      await em.execute(`update accounts set status = 'active', updated_at = now() where id in (?, ?) and status = 'forking'`, [ctx.newGenAccountId, ctx.newComAccountId]);
      await em.execute(`update accounts set status = 'active', last_fork_at = now(), updated_at = now() where id = ? and status = 'forking'`, [ctx.parentAccountId]);
      await appendAudit(em, {
        actor: ctx.actor, portfolioId: ctx.portfolioId, action: 'fork.completed', targetType: 'account', targetId: ctx.parentAccountId,
        details: { workflowId: ctx.workflowId, newUnitId: ctx.newUnitId, childGen: ctx.childGen, childCom: ctx.childCom },
      });
    });
  }

  /** The last undo: releases the parent and records the compensation with its reason. */
  async function forkAbort(ctx: ForkContext, reason: string): Promise<void> {
    await orm.em.fork().transactional(async (em) => {
      const aborted = await em.execute<{ id: string }[]>(
        `update forking_events set status = 'compensated', reason = ?, completed_at = now() where id = ? and status = 'started' returning id`,
        [reason.slice(0, 2000), ctx.eventId],
      );
      if (aborted.length === 0) return;
      await em.execute(`update accounts set status = 'active', updated_at = now() where id = ? and status = 'forking'`, [ctx.parentAccountId]);
      await appendAudit(em, { actor: ctx.actor, portfolioId: ctx.portfolioId, action: 'fork.compensated', targetType: 'account', targetId: ctx.parentAccountId, details: { workflowId: ctx.workflowId, reason } });
    });
  }

  return {
    steps: { forkBegin, forkDebitParent, forkCreateUnit, forkOpenBrokerAccounts, forkBrokerTransfer, forkFundChildren, forkComplete },
    undos: { forkCreditParentBack, forkCloseUnit, forkCloseBrokerAccounts, forkReverseBrokerTransfer, forkDefundChildren, forkAbort, forkRelease },
  };
}

async function assertStarted(em: EntityManager, eventId: string): Promise<void> {
  const [ev] = await em.execute<{ status: string }[]>('select status from forking_events where id = ?', [eventId]);
  if (ev?.status !== 'started') throw new DomainError('Compensated', `the fork is ${ev?.status ?? 'unknown'}, not started`);
}
