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
  /** Statuses of the unit's accounts (every one must be active). */
  accountStatuses?: string[];
  /** Reinvestments of the unit's accounts running now (their money is moving between buckets). */
  runningReinvestments?: number;
}

const HOUR = 3_600_000;

/** docs/domain.md section 4: every reason a unit may not merge now. */
export function mergeEligibility(
  unit: MergeCandidate,
  settings: PortfolioSettings,
  ctx: { now: Date; lastMergeAt: Date | null },
): Eligibility {
  const reasons: string[] = [];
  if (unit.kind !== 'forked') reasons.push('only a forked unit merges');
  if (unit.status !== 'active') reasons.push(`unit is ${unit.status}, not active`);
  const held = (unit.accountStatuses ?? []).filter((s) => s !== 'active');
  if (unit.status === 'active' && held.length) reasons.push(`an account of the unit is ${held[0]}, not active`);
  if (unit.runningReinvestments) reasons.push('a reinvestment of an account of the unit is running');
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

export interface MergeSourcePlan {
  accountId: string;
  /** The source's whole balance. */
  amount: Decimal;
  /** Positions closed to cash first: contracts and LEAPS (a tax reserve stays a reserve). */
  closePositions: Decimal;
  /** The part that moves as cash (everything but the reserve). */
  cash: Decimal;
  /** The tax reserve, moved into the target's reserve. */
  reserve: Decimal;
}

export interface MergePlan {
  sources: MergeSourcePlan[];
  total: Decimal;
}

/**
 * Every source's whole balance moves. Its positions (contracts and LEAPS) are
 * closed to cash first; its tax reserve is not a position and moves as a
 * reserve into the target's reserve bucket.
 */
export function mergePlan(sources: MergeSource[]): MergePlan {
  const planned = sources.map((s) => {
    const closePositions = s.buckets.contracts.plus(s.buckets.leaps);
    return {
      accountId: s.accountId,
      amount: balanceOf(s.buckets),
      closePositions,
      cash: s.buckets.cash.plus(closePositions),
      reserve: s.buckets.reserve,
    };
  });
  return { sources: planned, total: sum(planned.map((p) => p.amount)) };
}

/** A unit above the merging one, nearest first, as seen under its lock. */
export interface AncestorUnit {
  unitId: string;
  status: string;
  comAccountId: string | null;
}

/**
 * Where a merge's money lands: the Com-Acc of the nearest ancestor unit that
 * is active. A parent that is itself merging or merged is skipped (its own
 * money is on its way up the same chain). Null when no ancestor qualifies.
 */
export function mergeTarget(ancestors: AncestorUnit[]): { unitId: string; comAccountId: string } | null {
  const target = ancestors.find((u) => u.status === 'active' && u.comAccountId);
  return target ? { unitId: target.unitId, comAccountId: target.comAccountId! } : null;
}

export interface MergeFacts {
  candidate: MergeCandidate;
  lastMergeAt: Date | null;
  sources: MergeSource[];
}

export interface MergeDecision extends Eligibility {
  plan: MergePlan;
}

/** The one merge decision: eligibility and the plan it would run. `now` is the cooling reference. */
export function decideMerge(facts: MergeFacts, settings: PortfolioSettings, now: Date): MergeDecision {
  return { ...mergeEligibility(facts.candidate, settings, { now, lastMergeAt: facts.lastMergeAt }), plan: mergePlan(facts.sources) };
}
