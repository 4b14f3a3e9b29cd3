import type Decimal from 'decimal.js';
import { Dec } from '../domain/money';

/**
 * Time-weighted return (docs/domain.md, reports): the growth of one unit of
 * money left in a scope, whatever was added or taken out on the way. The span
 * is cut at every external flow; each sub-period's factor is its end value
 * over its start value, and the factors are chained:
 *
 *   TWR = Π (V_end_i / V_start_i) − 1
 *
 * A sub-period ends just before a flow (V_end = balance after the flow minus
 * the flow) and the next starts just after it (V_start = balance after the
 * flow). Pure: exact decimals in, an exact decimal out.
 */

/** One external flow: money entering (> 0) or leaving (< 0) the scope at one instant. */
export interface ExternalFlow {
  /** The instant; flows with equal `at` are one flow. Any totally ordered representation (ISO text, ms). */
  at: string | number;
  flow: Decimal;
  /** The scope's balance right after the flow (and after everything else at the same instant). */
  balanceAfter: Decimal;
}

/** Every change of a scope's balance at one instant, and the part of it that is an external flow. */
export interface Movement {
  at: string | number;
  change: Decimal;
  flow: Decimal;
}

/** Flows at the same instant are one flow: their amounts add up, the balance after is the last one's. */
function mergeSimultaneous(flows: readonly ExternalFlow[]): ExternalFlow[] {
  const merged: ExternalFlow[] = [];
  for (const f of flows) {
    const last = merged[merged.length - 1];
    if (last && last.at === f.at) merged[merged.length - 1] = { at: f.at, flow: last.flow.plus(f.flow), balanceAfter: f.balanceAfter };
    else merged.push(f);
  }
  return merged;
}

/**
 * The TWR from a starting balance, through `flows` (in time order), to an end
 * balance. A sub-period that starts at zero holds no money to earn on, so it
 * contributes nothing (factor 1). Null when no sub-period held any money: the
 * return is undefined, not zero.
 */
export function timeWeightedReturn(start: Decimal, flows: readonly ExternalFlow[], end: Decimal): Decimal | null {
  let factor = new Dec(1);
  let defined = false;
  let vStart = start;
  const chain = (vEnd: Decimal) => {
    if (vStart.gt(0)) {
      factor = factor.mul(vEnd.div(vStart));
      defined = true;
    }
  };
  for (const f of mergeSimultaneous(flows)) {
    chain(f.balanceAfter.minus(f.flow));
    vStart = f.balanceAfter;
  }
  chain(end);
  return defined ? factor.minus(1) : null;
}

/**
 * The TWR of a window given as its starting balance and every movement in it
 * (grouped per instant, in time order): the running balance gives each
 * flow's balance after. Also returns the end balance.
 */
export function twrOfMovements(start: Decimal, movements: readonly Movement[]): { twr: Decimal | null; end: Decimal } {
  let balance = start;
  const flows: ExternalFlow[] = [];
  for (const m of movements) {
    balance = balance.plus(m.change);
    if (!m.flow.isZero()) flows.push({ at: m.at, flow: m.flow, balanceAfter: balance });
  }
  return { twr: timeWeightedReturn(start, flows, balance), end: balance };
}

/** (1 + r)^(365 / days) − 1: the yearly rate that compounds to `r` over `days` days. */
export function annualize(r: Decimal, days: number): Decimal {
  if (!(days > 0)) throw new RangeError(`cannot annualize over ${days} days`);
  return r.plus(1).pow(new Dec(365).div(days)).minus(1);
}

/** A ratio as a decimal string with 6 places, rounded half-up ("0.012345" is 1.2345%); null stays null. */
export function formatRatio(r: Decimal | null): string | null {
  if (r === null) return null;
  const text = r.toFixed(6, Dec.ROUND_HALF_UP);
  // A tiny negative return rounds to zero: print it without a sign.
  return text === '-0.000000' ? '0.000000' : text;
}
