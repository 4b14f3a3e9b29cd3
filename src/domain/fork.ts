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

/** DOMAIN.md section 3: every reason a fork may not start now (empty when eligible). */
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
    reasons.push(`portfolio already had ${ctx.forksToday} forks today (max ${settings.maxForksPerDay})`);
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
