import type Decimal from 'decimal.js';
import { type Buckets, balanceOf, bufferRequired } from './buckets';
import { Dec, ZERO, cents, formatMoney, splitAmount } from './money';
import type { PortfolioSettings, StrategyName } from './settings';

export type FixedStrategy = Exclude<StrategyName, 'dynamic'>;

export const STRATEGY_SPLITS: Record<FixedStrategy, { contracts: string; leaps: string }> = {
  standard: { contracts: '0.75', leaps: '0.25' },
  aggressive: { contracts: '0.85', leaps: '0.15' },
  conservative: { contracts: '0.65', leaps: '0.35' },
  balanced: { contracts: '0.50', leaps: '0.50' },
};

export interface MarketInputs {
  /** Volatility index at the quarter's close. */
  volatility: string;
  /** Average of the volatility index over the last year. */
  volatilityAvg1y: string;
  /** Reference index close. */
  price: string;
  /** Reference index 200-day average. */
  ma200: string;
}

export type Regime = 'high-volatility' | 'falling' | 'rising-calm' | 'neutral';

/** docs/domain.md section 5: the dynamic strategy's choice, first matching rule wins. */
export function chooseDynamicStrategy(m: MarketInputs): { regime: Regime; strategy: FixedStrategy } {
  const vol = new Dec(m.volatility);
  const volAvg = new Dec(m.volatilityAvg1y);
  const price = new Dec(m.price);
  const ma200 = new Dec(m.ma200);
  if (vol.gt(volAvg.mul('1.5'))) return { regime: 'high-volatility', strategy: 'conservative' };
  if (price.lt(ma200)) return { regime: 'falling', strategy: 'balanced' };
  if (vol.lt(volAvg)) return { regime: 'rising-calm', strategy: 'aggressive' };
  return { regime: 'neutral', strategy: 'standard' };
}

export interface ReinvestmentPlan {
  reinvestable: Decimal;
  reserve: Decimal;
  contracts: Decimal;
  leaps: Decimal;
  strategy: FixedStrategy;
  skipped: boolean;
  reason?: string;
}

/**
 * The cash above the buffer is reinvested: the tax reserve share moves to
 * `reserve`, the rest splits between contracts and LEAPS by strategy.
 * Skipped (with the reason) when the reinvestable cash is below the minimum.
 */
export function reinvestmentPlan(buckets: Buckets, settings: PortfolioSettings, strategy: FixedStrategy): ReinvestmentPlan {
  const reinvestable = Dec.max(ZERO, buckets.cash.minus(bufferRequired(balanceOf(buckets), settings.bufferPct)));
  if (reinvestable.lt(settings.minReinvestment)) {
    return {
      reinvestable,
      reserve: ZERO,
      contracts: ZERO,
      leaps: ZERO,
      strategy,
      skipped: true,
      reason: `reinvestable cash ${formatMoney(reinvestable)} is below the minimum ${formatMoney(new Dec(settings.minReinvestment))}`,
    };
  }
  const [reserve, invested] = splitAmount(reinvestable, new Dec(settings.taxReservePct));
  const [contracts, leaps] = splitAmount(invested, new Dec(STRATEGY_SPLITS[strategy].contracts));
  return { reinvestable: cents(reinvestable), reserve, contracts, leaps, strategy, skipped: false };
}

/** Every reason an account may not be reinvested (empty when it may). */
export function reinvestEligibility(account: { type: string; status: string }): string[] {
  const reasons: string[] = [];
  if (account.type !== 'rev' && account.type !== 'com') reasons.push('only a Rev-Acc or a Com-Acc is reinvested');
  if (account.status !== 'active') reasons.push(`account is ${account.status}, not active`);
  return reasons;
}

export interface StrategyChoice {
  /** As requested or configured: a fixed strategy or `dynamic`. */
  requested: StrategyName;
  strategy: FixedStrategy;
  regime: Regime | null;
}

/**
 * The strategy a reinvestment runs: the one requested, else the portfolio's;
 * `dynamic` resolves through the market regime (the caller loads the market
 * inputs only when `needsMarket` says so).
 */
export function chooseStrategy(requested: StrategyName, market: MarketInputs | null): StrategyChoice {
  if (requested !== 'dynamic') return { requested, strategy: requested, regime: null };
  if (!market) throw new Error('the dynamic strategy needs market inputs');
  const { strategy, regime } = chooseDynamicStrategy(market);
  return { requested, strategy, regime };
}

/** The stored name of a choice: `standard`, or `dynamic:aggressive`. */
export const strategyLabel = (c: StrategyChoice): string => (c.requested === 'dynamic' ? `dynamic:${c.strategy}` : c.strategy);
