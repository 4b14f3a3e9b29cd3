import { patched, workflowInfo } from '@temporalio/workflow';
import type { ForkContext, ForkInput, OperationResult } from '../shared/operations';
import { forkPlanOf } from '../shared/start-plan';
import { PATCHES } from './patches';
import { broker, db, legacyUndo, undo } from './proxies';
import { Operator } from './operator';
import { Saga } from './saga';
import { StartPlan } from './start-plan';

type Undos = typeof undo;

/** docs/domain.md section 3: a Gen-Acc's surplus opens a new unit (Gen + Com), all or nothing. */
export async function fork(input: ForkInput): Promise<OperationResult> {
  const saga = new Saga();
  const { workflowId, runId } = workflowInfo();
  const run = { workflowId, runId };
  if (patched(PATCHES.operatorsInTheLoop)) {
    const plan = new StartPlan();
    const op = await Operator.start('fork', input.portfolioId, input.accountId);
    return plan.track(() => op.track(async () => {
      await op.approve(saga, () => db.approvalPlan({ type: 'fork', input }), plan);
      return saga.run(async () => {
        const ctx = await saga.step('check-eligibility', () => db.forkBegin({ ...input, ...run }), (reason) => undo.forkRelease(run, reason));
        plan.fix(forkPlanOf(ctx));
        return forkSteps(saga, ctx, undo, op);
      });
    }));
  }
  if (patched(PATCHES.forkUndoBeforeBegin)) {
    return saga.run(async () => {
      const ctx = await saga.step('check-eligibility', () => db.forkBegin({ ...input, ...run }), (reason) => undo.forkRelease(run, reason));
      return forkSteps(saga, ctx, undo);
    });
  }
  // Runs started before the patch: the release registered after the first step, undos as local activities.
  const ctx = await saga.step('check-eligibility', () => db.forkBegin({ ...input, ...run }));
  saga.onFailure('release-parent', (reason) => legacyUndo.forkAbort(ctx, reason));
  return saga.run(() => forkSteps(saga, ctx, legacyUndo));
}

async function forkSteps(saga: Saga, ctx: ForkContext, u: Undos, op?: Operator): Promise<OperationResult> {
  await saga.step('debit-parent', () => db.forkDebitParent(ctx), () => u.forkCreditParentBack(ctx));
  await saga.step('create-unit', () => db.forkCreateUnit(ctx), () => u.forkCloseUnit(ctx));
  if (op?.manual) {
    // A person at the broker: each step a task; the ledger mirrors the transfers only once both are reported done.
    const children = [{ id: ctx.newGenAccountId, type: 'gen' }, { id: ctx.newComAccountId, type: 'com' }];
    await op.brokerStep(saga, 'open-broker-accounts', { action: 'open-accounts', accountIds: children }, { action: 'close-accounts', accountIds: children });
    for (const [name, to, amount] of [['transfer-gen', ctx.newGenAccountId, ctx.childGen], ['transfer-com', ctx.newComAccountId, ctx.childCom]] as const) {
      await op.brokerStep(saga, name, { action: 'transfer', fromAccountId: ctx.parentAccountId, toAccountId: to, amount },
        { action: 'transfer', fromAccountId: to, toAccountId: ctx.parentAccountId, amount, reversal: true });
    }
  } else {
    await saga.step('open-broker-accounts', () => broker.forkOpenBrokerAccounts(ctx), () => u.forkCloseBrokerAccounts(ctx));
    await saga.step('broker-transfer', () => broker.forkBrokerTransfer(ctx), () => u.forkReverseBrokerTransfer(ctx));
  }
  await saga.step('fund-children', () => db.forkFundChildren(ctx), () => u.forkDefundChildren(ctx));
  await saga.step('complete', () => db.forkComplete(ctx));
  return {
    status: 'completed',
    steps: saga.steps,
    summary: {
      parentAccountId: ctx.parentAccountId, newUnitId: ctx.newUnitId, newGenAccountId: ctx.newGenAccountId,
      newComAccountId: ctx.newComAccountId, surplus: ctx.surplus, retained: ctx.retained, forkAmount: ctx.forkAmount,
      childGen: ctx.childGen, childCom: ctx.childCom,
    },
  };
}
