import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { type QuarterlyInput, workflowIds } from '../shared/operations';
import { lastClosedQuarter } from '../shared/quarters';
import { startOperation } from './children';
import { BUSINESS_ERRORS } from './proxies';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '500ms', maximumInterval: '10s', maximumAttempts: 10, nonRetryableErrorTypes: BUSINESS_ERRORS },
});

/**
 * docs/domain.md section 5: after a quarter closes, starts `reinvest-<account>-<quarter>`
 * for every active Rev-Acc and Com-Acc (a second run for the same quarter
 * starts nothing new) and waits for each batch to finish. The quarter is the
 * last one closed at the run's start on the calendar of `timeZone` (the
 * schedule's own zone: at 01:00 on 1 July in Berlin, Q2 has closed although
 * it is still 30 June in UTC). Runs without a zone (older schedules) use UTC.
 */
export async function quarterlyReinvestment(input: QuarterlyInput): Promise<{ quarter: string; started: number; skipped: number }> {
  const carry = input.carry ?? { quarter: input.quarter ?? lastClosedQuarter(new Date(), input.timeZone ?? 'UTC'), started: 0, skipped: 0 };
  let afterId = input.afterId;
  for (;;) {
    const batch = await acts.scanReinvestCandidates({ portfolioId: input.portfolioId, afterId });
    const results = await Promise.all(
      batch.accounts.map((a) =>
        startOperation('reinvest', 'reinvestment', workflowIds.reinvest(a.accountId, carry.quarter), {
          accountId: a.accountId, portfolioId: a.portfolioId, quarter: carry.quarter, trigger: 'scan', actor: input.actor,
        }, { portfolio: a.portfolioId, account: a.accountId, unit: a.unitId }),
      ),
    );
    for (const r of results) {
      if (r.started) carry.started++;
      else carry.skipped++;
    }
    // Each batch waits for its reinvestments, so a quarter's run reports when its work is done.
    await Promise.allSettled(results.map((r) => (r.started ? r.result() : undefined)));
    if (!batch.nextAfterId) return carry;
    afterId = batch.nextAfterId;
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 8000) {
      await continueAsNew<typeof quarterlyReinvestment>({ ...input, afterId, carry });
    }
  }
}
