import type Decimal from 'decimal.js';
import type { Eligibility } from './fork';
import { type Buckets, balanceOf } from './buckets';
import { Dec, formatMoney, sum } from './money';
import type { PortfolioSettings } from './settings';

export interface MergeCandidate {
  unitId: string;
  kind: 'root' | 'forked';
  status: string;
  total: Decimal;
  createdAt: Date;
}

const HOUR = 3_600_000;

/** DOMAIN.md section 4: every reason a unit may not merge now. */
export function mergeEligibility(
  unit: MergeCandidate,
  settings: PortfolioSettings,
  ctx: { now: Date; lastMergeAt: Date | null },
): Eligibility {
  const reasons: string[] = [];
  if (unit.kind !== 'forked') reasons.push('only a forked unit merges');
  if (unit.status !== 'active') reasons.push(`unit is ${unit.status}, not active`);
  if (unit.total.lt(settings.mergeThreshold)) {
    reasons.push(`unit total ${formatMoney(unit.total)} is below the merge threshold ${formatMoney(new Dec(settings.mergeThreshold))}`);
  }
  if (ctx.lastMergeAt && ctx.now.getTime() - ctx.lastMergeAt.getTime() < settings.mergeCoolingHours * HOUR) {
    reasons.push(`last merge of the portfolio is within the ${settings.mergeCoolingHours} h cooling period`);
  }
  return { eligible: reasons.length === 0, reasons };
}

/** Highest total over threshold first, then the oldest; at most `maxMergesPerScan`. */
export function rankMergeCandidates<T extends MergeCandidate>(candidates: T[], settings: PortfolioSettings): T[] {
  return [...candidates]
    .sort((a, b) => b.total.cmp(a.total) || a.createdAt.getTime() - b.createdAt.getTime())
    .slice(0, settings.maxMergesPerScan);
}

export interface MergeSource {
  accountId: string;
  buckets: Buckets;
}

export interface MergePlan {
  sources: { accountId: string; amount: Decimal; closePositions: Decimal }[];
  total: Decimal;
}

/** Every source's whole balance moves; its positions (everything not in cash) are closed first. */
export function mergePlan(sources: MergeSource[]): MergePlan {
  const planned = sources.map((s) => ({
    accountId: s.accountId,
    amount: balanceOf(s.buckets),
    closePositions: balanceOf(s.buckets).minus(s.buckets.cash),
  }));
  return { sources: planned, total: sum(planned.map((p) => p.amount)) };
}
