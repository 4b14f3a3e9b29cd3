/**
 * Test-only workflow bundle: the engine's workflows plus a driver that plays
 * the quarterly schedule for a year (sleeping to 01:00 on each quarter's first
 * day, as the schedule does), so time skipping can run a year in seconds.
 */
import { executeChild, sleep, workflowInfo } from '@temporalio/workflow';
import { quarterlyReinvestment } from '../../src/workflows/quarterly';

export * from '../../src/workflows';

function nextQuarterStart(now: Date): Date {
  const q = Math.floor(now.getUTCMonth() / 3);
  return new Date(Date.UTC(now.getUTCFullYear(), (q + 1) * 3, 1, 1, 0, 0));
}

export async function reinvestmentYear(input: { portfolioId: string; quarters: number }): Promise<string[]> {
  const quarters: string[] = [];
  for (let i = 0; i < input.quarters; i++) {
    const now = new Date();
    await sleep(nextQuarterStart(now).getTime() - now.getTime());
    const r = await executeChild(quarterlyReinvestment, {
      workflowId: `${workflowInfo().workflowId}-q${i}`,
      args: [{ portfolioId: input.portfolioId, actor: 'system:scheduler' }],
    });
    quarters.push(r.quarter);
  }
  return quarters;
}
