import type Decimal from 'decimal.js';
import { DomainError } from './errors';
import { Dec, ZERO, cents, formatMoney, splitAmount } from './money';

export const BUCKETS = ['cash', 'contracts', 'leaps', 'reserve'] as const;
export type Bucket = (typeof BUCKETS)[number];
export type Buckets = Record<Bucket, Decimal>;
/** A change per bucket; missing buckets are unchanged. */
export type BucketDelta = Partial<Record<Bucket, Decimal>>;

/** Open positions: what a merge closes to cash (a tax reserve is not a position). */
export const POSITION_BUCKETS = ['contracts', 'leaps'] as const satisfies readonly Bucket[];

/** Order in which a debit larger than cash closes positions. */
export const DEBIT_ORDER: readonly Bucket[] = ['cash', 'contracts', 'leaps', 'reserve'];

export function emptyBuckets(): Buckets {
  return { cash: ZERO, contracts: ZERO, leaps: ZERO, reserve: ZERO };
}

export function balanceOf(b: Buckets): Decimal {
  return b.cash.plus(b.contracts).plus(b.leaps).plus(b.reserve);
}

export function applyDelta(b: Buckets, delta: BucketDelta): Buckets {
  const out = { ...b };
  for (const k of BUCKETS) if (delta[k]) out[k] = out[k].plus(delta[k]);
  return out;
}

export function bufferRequired(balance: Decimal, bufferPct: string): Decimal {
  return cents(balance.mul(bufferPct));
}

/** Opening an account: the buffer stays in cash, the rest goes to work in contracts. */
export function openingBuckets(amount: Decimal, bufferPct: string): Buckets {
  const [buffer, working] = splitAmount(amount, new Dec(bufferPct));
  return { ...emptyBuckets(), cash: buffer, contracts: working };
}

/**
 * A debit takes cash first, then closes contracts, then LEAPS, then the
 * reserve; no bucket goes negative and a debit above the balance is refused.
 */
export function debitDelta(b: Buckets, amount: Decimal): BucketDelta {
  if (amount.gt(balanceOf(b))) {
    throw new DomainError('InsufficientFunds', 'debit exceeds the account balance', {
      amount: formatMoney(amount),
      balance: formatMoney(balanceOf(b)),
    });
  }
  const delta: BucketDelta = {};
  let rest = amount;
  for (const bucket of DEBIT_ORDER) {
    if (rest.isZero()) break;
    const take = Dec.min(rest, b[bucket]);
    if (take.gt(0)) {
      delta[bucket] = take.neg();
      rest = rest.minus(take);
    }
  }
  return delta;
}

export const ACTIVITY_TYPES = ['deposit', 'withdrawal', 'premium', 'realized_gain', 'realized_loss', 'fee', 'assignment'] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];
export type AccountType = 'gen' | 'rev' | 'com';

export interface ActivityEffect {
  delta: BucketDelta;
  baseBalanceDelta: Decimal;
}

/** What one activity does to an account's buckets and base balance (docs/domain.md section 2). */
export function activityEffect(
  type: ActivityType,
  amount: Decimal,
  account: { type: AccountType; buckets: Buckets; baseBalance: Decimal },
  bufferPct: string,
): ActivityEffect {
  if (amount.lte(0)) throw new DomainError('ValidationError', 'amount must be positive');
  switch (type) {
    case 'premium':
    case 'realized_gain':
      return { delta: { cash: amount }, baseBalanceDelta: ZERO };
    case 'deposit':
      return { delta: { cash: amount }, baseBalanceDelta: amount };
    case 'realized_loss':
    case 'fee':
    case 'assignment':
      return { delta: debitDelta(account.buckets, amount), baseBalanceDelta: ZERO };
    case 'withdrawal':
      return withdrawalEffect(amount, account, bufferPct);
  }
}

function withdrawalEffect(
  amount: Decimal,
  account: { type: AccountType; buckets: Buckets; baseBalance: Decimal },
  bufferPct: string,
): ActivityEffect {
  if (account.type === 'com') {
    throw new DomainError('WithdrawalNotAllowed', 'a Com-Acc never pays out except by merge');
  }
  const available = account.buckets.cash.minus(bufferRequired(balanceOf(account.buckets), bufferPct));
  if (amount.gt(available)) {
    throw new DomainError('BufferViolation', 'withdrawal exceeds the cash above the buffer', {
      amount: formatMoney(amount),
      available: formatMoney(Dec.max(available, 0)),
    });
  }
  // The base balance falls by the withdrawal but never below zero.
  return { delta: { cash: amount.neg() }, baseBalanceDelta: Dec.min(amount, account.baseBalance).neg() };
}
