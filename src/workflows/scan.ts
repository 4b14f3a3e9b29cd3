import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { type ScanInput, type ScanReport, workflowIds } from '../shared/operations';
import { startOperation } from './children';
import { BUSINESS_ERRORS } from './proxies';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '500ms', maximumInterval: '10s', maximumAttempts: 10, nonRetryableErrorTypes: BUSINESS_ERRORS },
});

/** Report lists are capped so a large scan's result stays small; the counts are complete. */
const REPORT_CAP = 200;

/**
 * The threshold scan (docs/domain.md sections 3 and 4): finds Gen-Accs whose
 * surplus reached the fork threshold and forked units that reached the merge
 * threshold, and starts their workflows under business-key ids. Batches of
 * candidates; continues as new before the history grows large.
 */
export async function scan(input: ScanInput): Promise<ScanReport> {
  const report: ScanReport = input.carry ?? {
    startedAt: new Date().toISOString(),
    started: [],
    skipped: [],
    counts: { forkCandidates: 0, mergeCandidates: 0, started: 0, skipped: 0 },
  };
  if (input.portfolioId && !input.carry) await acts.assertPortfolio(input.portfolioId);
  const skip = (s: ScanReport['skipped'][number]) => {
    report.counts.skipped++;
    if (report.skipped.length < REPORT_CAP) report.skipped.push(s);
  };
  const started = (operationId: string, type: 'fork' | 'merge') => {
    report.counts.started++;
    if (report.started.length < REPORT_CAP) report.started.push({ operationId, type });
  };
  const phase = input.phase ?? (input.kinds.includes('fork') ? 'fork' : 'merge');

  if (phase === 'fork' && input.kinds.includes('fork')) {
    let afterId = input.afterId;
    for (;;) {
      const batch = await acts.scanForkCandidates({ portfolioId: input.portfolioId, afterId });
      report.counts.forkCandidates += batch.candidates.length + batch.skipped.length;
      batch.skipped.forEach(skip);
      const results = await Promise.all(
        batch.candidates.map(async (c) => {
          const id = workflowIds.fork(c.accountId, c.seq);
          const input2 = { accountId: c.accountId, portfolioId: c.portfolioId, seq: c.seq, trigger: 'scan' as const, actor: input.actor };
          return { id, c, r: await startOperation('fork', 'fork', id, input2, { portfolio: c.portfolioId, account: c.accountId, unit: c.unitId }) };
        }),
      );
      for (const { id, c, r } of results) {
        if (r.started) started(id, 'fork');
        else skip({ id: c.accountId, type: 'fork', reason: r.reason });
      }
      if (!batch.nextAfterId) break;
      afterId = batch.nextAfterId;
      if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 8000) {
        await continueAsNew<typeof scan>({ ...input, phase: 'fork', afterId, carry: report });
      }
    }
  }

  if (input.kinds.includes('merge')) {
    const batch = await acts.scanMergeCandidates({ portfolioId: input.portfolioId, scanStartedAt: report.startedAt });
    report.counts.mergeCandidates += batch.candidates.length + batch.skipped.length;
    batch.skipped.forEach(skip);
    for (const c of batch.candidates) {
      const id = workflowIds.merge(c.unitId);
      const r = await startOperation('merge', 'merge', id, {
        unitId: c.unitId, portfolioId: c.portfolioId, trigger: 'scan', actor: input.actor, coolingReference: report.startedAt,
      }, { portfolio: c.portfolioId, unit: c.unitId });
      if (r.started) started(id, 'merge');
      else skip({ id: c.unitId, type: 'merge', reason: r.reason });
    }
  }
  return report;
}
