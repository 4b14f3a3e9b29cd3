import type { ForkContext, MergeContext, ReinvestContext } from './operations';

/**
 * The plan an operation has fixed, as the `plan` update answers it and the
 * API returns it in its 202: decided by the workflow's own steps under their
 * locks, not by the dry run. Amounts are decimal strings.
 */

/** A fork's plan, fixed by its first step under the portfolio lock; the new unit and its accounts are already named. */
export interface ForkPlan {
  surplus: string;
  forkAmount: string;
  retained: string;
  childGen: string;
  childCom: string;
  newUnitId: string;
  newGenAccountId: string;
  newComAccountId: string;
}

/** A merge's plan, fixed by its first step (the unit and its accounts are held): what each source gives. The target is decided later, by the move. */
export interface MergePlan {
  total: string;
  sources: { accountId: string; amount: string; closePositions: string; reserve?: string }[];
}

/** A reinvestment's plan: the amounts its allocation moved under the account's lock (or, with a manual broker, the amounts it will buy), or why it moves nothing. */
export interface ReinvestPlan {
  strategy: string;
  regime?: string;
  reinvestable: string;
  reserve: string;
  contracts: string;
  leaps: string;
  skipped: boolean;
  reason?: string;
}

export type FixedPlan = ForkPlan | MergePlan | ReinvestPlan;

/**
 * The `plan` update's (and query's) answer: the fixed plan, or why there is
 * none. `approval`: the operation waits for a person's approval first (its
 * plan is fixed once approved; a later update answers it). `ended`: the run
 * ended before it fixed a plan (its first step refused, or it was
 * cancelled). `pending`: not decided yet (only the query answers this; the
 * update waits instead).
 */
export type PlanAnswer = { plan: FixedPlan } | { plan: null; reason: 'approval' | 'ended' | 'pending' };

export const forkPlanOf = (ctx: ForkContext): ForkPlan => ({
  surplus: ctx.surplus, forkAmount: ctx.forkAmount, retained: ctx.retained, childGen: ctx.childGen, childCom: ctx.childCom,
  newUnitId: ctx.newUnitId, newGenAccountId: ctx.newGenAccountId, newComAccountId: ctx.newComAccountId,
});

export const mergePlanOf = (ctx: MergeContext): MergePlan => ({ total: ctx.total, sources: ctx.sources });

export const reinvestPlanOf = (ctx: ReinvestContext): ReinvestPlan => ({
  strategy: ctx.strategy, ...(ctx.regime !== undefined && { regime: ctx.regime }), reinvestable: ctx.reinvestable, reserve: ctx.reserve,
  contracts: ctx.contracts, leaps: ctx.leaps, skipped: ctx.skipped, ...(ctx.reason !== undefined && { reason: ctx.reason }),
});
