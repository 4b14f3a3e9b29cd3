import Decimal from 'decimal.js';

/**
 * Every amount in the engine is a decimal.js value in code and a decimal
 * string ("50000.00") across every boundary (HTTP, Temporal payloads, SQL).
 * A JavaScript number never holds money.
 */
export const Dec = Decimal.clone({ precision: 50, rounding: Decimal.ROUND_HALF_UP, toExpNeg: -30, toExpPos: 40 });
export type Dec = Decimal;

export const ZERO = new Dec(0);

/** At most 15 integer digits and 2 decimals, no sign, no exponent. */
const MONEY_PATTERN = /^(0|[1-9]\d{0,14})(\.\d{1,2})?$/;

export function isMoneyString(value: string): boolean {
  return MONEY_PATTERN.test(value);
}

/** Parses a non-negative money string; throws on anything else. */
export function money(value: string | Decimal): Decimal {
  if (value instanceof Decimal) return new Dec(value);
  if (!isMoneyString(value)) throw new RangeError(`not a money amount: ${JSON.stringify(value)}`);
  return new Dec(value);
}

/** Reads a signed amount as stored in PostgreSQL numeric(20,2). */
export function fromDb(value: string | null | undefined): Decimal {
  return new Dec(value ?? 0);
}

/** Rounds half-up to the cent. */
export function cents(value: Decimal): Decimal {
  return value.toDecimalPlaces(2, Decimal.ROUND_HALF_UP);
}

/** Formats an amount as the canonical two-decimal string. */
export function formatMoney(value: Decimal): string {
  return cents(value).toFixed(2);
}

/**
 * Splits `amount` in two: the first leg is `amount * pct` rounded half-up to
 * the cent, the second leg is the remainder, so no cent is created or lost.
 */
export function splitAmount(amount: Decimal, pct: Decimal): [Decimal, Decimal] {
  const first = cents(amount.mul(pct));
  return [first, amount.minus(first)];
}

/** Sum of decimals. */
export function sum(values: Iterable<Decimal>): Decimal {
  let total = new Dec(0);
  for (const v of values) total = total.plus(v);
  return total;
}
