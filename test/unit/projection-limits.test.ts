import { DomainError } from '../../src/domain/errors';
import { money } from '../../src/domain/money';
import {
  MAX_EXACT_AMOUNT, MAX_EXACT_AMOUNT_TEXT, MAX_EXACT_CENTS, type ProjectionStart, ProjectionRangeError, SIMULATED_EPOCH, freshStart, project,
} from '../../src/domain/projection';
import { defaultSettings, resolveSettings } from '../../src/domain/settings';

/** What `run` threw (the test fails if it did not throw). */
function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (err) {
    return err;
  }
  throw new Error('expected the projection to throw');
}

const flat = { weeklyReturns: { gen: '0', rev: '0', com: '0' }, forkThreshold: '999999999999999.00' };

describe('projection limits: amounts it cannot compute exactly are a typed OutOfRange error, never a RangeError of arithmetic', () => {
  it('computes exactly up to 2^53 - 1 cents, $90,071,992,547,409.91', () => {
    expect(MAX_EXACT_CENTS).toBe(2 ** 53 - 1);
    expect(MAX_EXACT_AMOUNT).toBe('90071992547409.91');
    expect(MAX_EXACT_AMOUNT_TEXT).toBe('$90,071,992,547,409.91');
    const r = project(freshStart({ initialCapital: money(MAX_EXACT_AMOUNT), settings: flat }), { years: 1 });
    expect(r.years[0]!.total).toBe(MAX_EXACT_AMOUNT);
  });

  it('refuses a starting amount past the limit with week 0', () => {
    const err = thrown(() => project(freshStart({ initialCapital: money('999999999999999.00') }), { years: 30 }));
    expect(err).toBeInstanceOf(ProjectionRangeError);
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ type: 'OutOfRange', week: 0, year: 0 });
    expect((err as Error).message).toBe('an amount at the start is above $90,071,992,547,409.91, the largest amount a projection computes exactly');
  });

  it('stops in the week the growth would pass the limit, and the years before it stay exact', () => {
    // 50% a week on balance less the 5% buffer: $100,000 passes $90 trillion in the second year.
    const start = freshStart({ initialCapital: money('100000.00'), settings: { ...flat, weeklyReturns: { gen: '0.5', rev: '0.5', com: '0.5' } } });
    const err = thrown(() => project(start, { years: 5 })) as ProjectionRangeError;
    expect(err).toBeInstanceOf(ProjectionRangeError);
    expect(err.year).toBe(2);
    expect(err.message).toMatch(/^the projection would exceed \$90,071,992,547,409\.91, the largest amount it computes exactly, in year 2 \(week \d+\)$/);
    const exact = project(start, { years: err.year - 1 });
    expect(money(exact.years[0]!.total).lte(MAX_EXACT_AMOUNT)).toBe(true);
  });

  it('checks the portfolio total, not only each account: three accounts in range whose sum is not', () => {
    const at = SIMULATED_EPOCH;
    const acct = (type: 'gen' | 'rev' | 'com') => ({ type, balance: money('40000000000000.00'), baseBalance: money('40000000000000.00'), createdAt: at, lastForkAt: null });
    const start: ProjectionStart = {
      settings: resolveSettings(defaultSettings(), flat), at,
      units: [{ key: 'root', parentKey: null, kind: 'root', accounts: [acct('gen'), acct('rev'), acct('com')] }],
    };
    // $120 trillion in all: the old loop summed it past 2^53 and printed a total off by cents.
    expect(thrown(() => project(start, { years: 1 }))).toMatchObject({ type: 'OutOfRange', week: 1 });
  });

  it('treats a merge threshold beyond the limit as "never merges" instead of failing', () => {
    const r = project(freshStart({ initialCapital: money('100000.00'), settings: { forkThreshold: '3000.00', mergeThreshold: '999999999999999.00' } }), { years: 1 });
    expect(r.forks.length).toBeGreaterThan(0);
    expect(r.merges).toEqual([]);
  });
});
