import { workflowInfo } from '@temporalio/workflow';
import type { ForkInput, OperationResult } from '../shared/operations';
import { brokerSteps, steps, undos } from './proxies';
import { Saga } from './saga';

/** DOMAIN.md section 3: a Gen-Acc's surplus opens a new unit (Gen + Com), all or nothing. */
export async function fork(input: ForkInput): Promise<OperationResult> {
  const saga = new Saga();
  const { workflowId, runId } = workflowInfo();
  const ctx = await saga.step('check-eligibility', () => steps.forkBegin({ ...input, workflowId, runId }));
  saga.onFailure('release-parent', (reason) => undos.forkAbort(ctx, reason));
  return saga.run(async () => {
    await saga.step('debit-parent', () => steps.forkDebitParent(ctx), () => undos.forkCreditParentBack(ctx));
    await saga.step('create-unit', () => steps.forkCreateUnit(ctx), () => undos.forkCloseUnit(ctx));
    await saga.step('open-broker-accounts', () => brokerSteps.forkOpenBrokerAccounts(ctx), () => undos.forkCloseBrokerAccounts(ctx));
    await saga.step('broker-transfer', () => brokerSteps.forkBrokerTransfer(ctx), () => undos.forkReverseBrokerTransfer(ctx));
    await saga.step('fund-children', () => steps.forkFundChildren(ctx), () => undos.forkDefundChildren(ctx));
    await saga.step('complete', () => steps.forkComplete(ctx));
    return {
      status: 'completed',
      steps: saga.steps,
      summary: {
        parentAccountId: ctx.parentAccountId, newUnitId: ctx.newUnitId, newGenAccountId: ctx.newGenAccountId,
        newComAccountId: ctx.newComAccountId, surplus: ctx.surplus, retained: ctx.retained, forkAmount: ctx.forkAmount,
        childGen: ctx.childGen, childCom: ctx.childCom,
      },
    };
  });
}
