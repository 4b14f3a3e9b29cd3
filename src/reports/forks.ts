import type Decimal from 'decimal.js';
import { ZERO, formatMoney } from '../domain/money';
import { type Movement, annualize, formatRatio, twrOfMovements } from './twr';

/**
 * Fork efficiency and merge outcomes (docs/domain.md, reports), pure: what a
 * forked unit made of the money it started with, and how a Com-Acc did
 * before and after a merge landed in it.
 */

const DAY_MS = 86_400_000;

/** Below this many days a yearly rate says more about noise than about growth: annualized is null. */
export const MIN_DAYS_TO_ANNUALIZE = 30;

const annualizedOver = (r: Decimal | null, days: number): string | null =>
  r !== null && days >= MIN_DAYS_TO_ANNUALIZE ? formatRatio(annualize(r, days)) : null;

export interface ForkRecord {
  operationId: string;
  /** ISO instant the fork completed (the new unit was funded). */
  forkedAt: string;
  /** child Gen + child Com: what the forked unit started with. */
  amount: Decimal;
  unitId: string;
  parentAccountId: string;
  /** The sum of the unit's accounts' postings now. */
  balance: Decimal;
  /** Set when the unit has merged: its balance then ended at zero, so its growth is measured at the merge. */
  merge: { at: string; total: Decimal } | null;
}

export interface ForkItem {
  operationId: string;
  forkedAt: string;
  amount: string;
  unitId: string;
  parentAccountId: string;
  balanceNow: string;
  mergedAt: string | null;
  growth: string;
  annualized: string | null;
}

/** growth = balanceNow / amount − 1; annualized over the unit's life (to now, or to its merge) when it is at least 30 days. */
export function forkEfficiency(f: ForkRecord, now: number): ForkItem {
  const balanceNow = f.merge ? f.merge.total : f.balance;
  const growth = balanceNow.div(f.amount).minus(1);
  const days = ((f.merge ? Date.parse(f.merge.at) : now) - Date.parse(f.forkedAt)) / DAY_MS;
  return {
    operationId: f.operationId,
    forkedAt: f.forkedAt,
    amount: formatMoney(f.amount),
    unitId: f.unitId,
    parentAccountId: f.parentAccountId,
    balanceNow: formatMoney(balanceNow),
    mergedAt: f.merge?.at ?? null,
    growth: formatRatio(growth)!,
    annualized: annualizedOver(growth, days),
  };
}

export interface MergeRecord {
  operationId: string;
  /** ISO instant the merge completed. */
  mergedAt: string;
  unitId: string;
  targetAccountId: string;
  amount: Decimal;
  /** The instant the money landed (the `merge.move` entry), in the same representation as the movements' `at`. */
  moveAt: string;
  /** Every change of the target account's balance, per instant, in time order, with its external flows. */
  movements: readonly (Movement & { at: string })[];
}

export interface MergeItem {
  operationId: string;
  mergedAt: string;
  unitId: string;
  targetAccountId: string;
  amount: string;
  growthBefore: string | null;
  annualizedBefore: string | null;
  growthSince: string | null;
  annualizedSince: string | null;
}

/**
 * The target Com-Acc's TWR from its first entry to just before the merge,
 * and from the merge (an external flow into the account, not a return) to now.
 */
export function mergeOutcome(m: MergeRecord, now: number): MergeItem {
  const before = m.movements.filter((mv) => mv.at < m.moveAt);
  const since = m.movements.filter((mv) => mv.at >= m.moveAt);
  const b = twrOfMovements(ZERO, before);
  const s = twrOfMovements(b.end, since);
  const moveMs = Date.parse(m.moveAt);
  const daysBefore = before.length ? (moveMs - Date.parse(before[0]!.at)) / DAY_MS : 0;
  return {
    operationId: m.operationId,
    mergedAt: m.mergedAt,
    unitId: m.unitId,
    targetAccountId: m.targetAccountId,
    amount: formatMoney(m.amount),
    growthBefore: formatRatio(b.twr),
    annualizedBefore: annualizedOver(b.twr, daysBefore),
    growthSince: formatRatio(s.twr),
    annualizedSince: annualizedOver(s.twr, (now - moveMs) / DAY_MS),
  };
}
