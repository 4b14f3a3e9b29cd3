/**
 * Arguments checked before anything is sent: an amount the API would refuse
 * is a usage error (exit 2) that says how to write it, not a round trip.
 */
import { InvalidArgumentError } from 'commander';
import { isMoneyString } from '../domain/money';
import type { Context } from './context';
import { CliError, EXIT, usage } from './exit-codes';

/** A positive amount with at most 2 decimals, no separators or sign: "50000", "50000.5", "50000.00". */
export function amount(value: string): string {
  if (!isMoneyString(value)) {
    throw new InvalidArgumentError(`"${value}" is not an amount: write digits with at most 2 decimals and no separators, sign or currency, e.g. 50000.00`);
  }
  if (!/[1-9]/.test(value)) throw new InvalidArgumentError('the amount must be greater than zero');
  return value;
}

export function positiveInt(value: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return Number(value);
}

export function wholeNumber(value: string): number {
  if (!/^\d{1,10}$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  return Number(value);
}

export function seconds(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError(`"${value}" is not a number of seconds`);
  return Number(value);
}

export function date(value: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a date: write YYYY-MM-DD`);
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An id given on the command line: a malformed one is a usage error here rather than a 400 from the API. */
export function id(what: string) {
  return (value: string): string => {
    if (!UUID.test(value)) throw new InvalidArgumentError(`"${value}" is not ${what} id (a UUID such as 0192f3e4-5a6b-7c8d-9e0f-1a2b3c4d5e6f)`);
    return value.toLowerCase();
  };
}

/**
 * A portfolio by id, or by its name or an id prefix when that names exactly
 * one (typing a UUID is no fun): an ambiguous name is a usage error listing
 * the candidates, an unknown one exit 4.
 */
export async function resolvePortfolio(ctx: Context, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref.toLowerCase();
  const { items } = await ctx.call(ctx.api.GET('/v1/portfolios'));
  const byName = items.filter((p) => p.name === ref);
  const matches = byName.length ? byName : items.filter((p) => p.id.startsWith(ref.toLowerCase()));
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length === 0) throw new CliError(`no portfolio named or with an id starting "${ref}"`, EXIT.notFound, ['list them with `alluse portfolios`']);
  throw usage(`"${ref}" names ${matches.length} portfolios: ${matches.map((p) => `${p.id} (${p.name})`).join(', ')}`, 'give the full id');
}
