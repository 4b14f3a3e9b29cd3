import type Decimal from 'decimal.js';
import { Dec, formatMoney, splitAmount } from './money';
import type { PortfolioSettings } from './settings';

export function surplus(balance: Decimal, baseBalance: Decimal): Decimal {
  return balance.minus(baseBalance);
}

export interface ForkCandidate {
  type: string;
  status: string;
  balance: Decimal;
  baseBalance: Decimal;
  createdAt: Date;
  lastForkAt: Date | null;
}

export interface Eligibility {
  eligible: boolean;
  reasons: string[];
}

const HOUR = 3_600_000;

/** docs/domain.md section 3: every reason a fork may not start now (empty when eligible). */
export function forkEligibility(
  account: ForkCandidate,
  settings: PortfolioSettings,
  ctx: { now: Date; forksToday: number },
): Eligibility {
  const reasons: string[] = [];
  if (account.type !== 'gen') reasons.push('only a Gen-Acc forks');
  if (account.status !== 'active') reasons.push(`account is ${account.status}, not active`);
  const s = surplus(account.balance, account.baseBalance);
  if (s.lt(settings.forkThreshold)) {
    reasons.push(`surplus ${formatMoney(s)} is below the fork threshold ${formatMoney(new Dec(settings.forkThreshold))}`);
  }
  if (account.lastForkAt && ctx.now.getTime() - account.lastForkAt.getTime() < settings.forkCoolingHours * HOUR) {
    reasons.push(`last fork is within the ${settings.forkCoolingHours} h cooling period`);
  }
  if (ctx.forksToday >= settings.maxForksPerDay) {
    reasons.push(`the portfolio reached its forks-per-day limit (${ctx.forksToday} of ${settings.maxForksPerDay} today)`);
  }
  if (ctx.now.getTime() - account.createdAt.getTime() < settings.minAccountAgeDays * 24 * HOUR) {
    reasons.push(`account is younger than ${settings.minAccountAgeDays} days`);
  }
  return { eligible: reasons.length === 0, reasons };
}

export interface ForkPlan {
  surplus: Decimal;
  retained: Decimal;
  forkAmount: Decimal;
  childGen: Decimal;
  childCom: Decimal;
}

/** Splits a surplus into what the parent keeps and the new unit's two accounts. */
export function forkPlan(surplusAmount: Decimal, settings: PortfolioSettings): ForkPlan {
  const [retained, forkAmount] = splitAmount(surplusAmount, new Dec(settings.parentRetainPct));
  const [childGen, childCom] = splitAmount(forkAmount, new Dec(settings.childGenPct));
  return { surplus: surplusAmount, retained, forkAmount, childGen, childCom };
}

/**
 * Everything the fork rule reads, as loaded by one fact loader for the dry
 * run, the workflow's first step and the scan alike.
 */
export interface ForkFacts {
  account: ForkCandidate;
  /** Forks of the portfolio started or completed since midnight in its time zone (this run excluded). */
  forksToday: number;
}

export interface ForkDecision extends Eligibility {
  surplus: Decimal;
  plan: ForkPlan;
}

/** The one fork decision: eligibility and the plan it would run. */
export function decideFork(facts: ForkFacts, settings: PortfolioSettings, now: Date): ForkDecision {
  const eligibility = forkEligibility(facts.account, settings, { now, forksToday: facts.forksToday });
  const s = surplus(facts.account.balance, facts.account.baseBalance);
  return { ...eligibility, surplus: s, plan: forkPlan(Dec.max(s, 0), settings) };
}
