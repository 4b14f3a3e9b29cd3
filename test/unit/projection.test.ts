import { money } from '../../src/domain/money';
import { freshStart, project } from '../../src/domain/projection';

describe('projection (hand-computed cases)', () => {
  // $100,000 moderate: Gen 40,000.00 earning 1.5% a week on balance less the 5% buffer (1.425% of balance).
  // w1 +570.00 = 40570.00; w2 +578.12 = 41148.12; w3 +586.36 = 41734.48; w4 +594.72 = 42329.20;
  // w5 +603.19 = 42932.39 (surplus 2932.39); w6 +611.79 = 43544.18 -> surplus 3544.18 >= 3000.00 forks.
  const start = freshStart({ initialCapital: money('100000.00'), settings: { forkThreshold: '3000.00' } });

  it('forks first in week 6 for 3544.18, split 1772.09 / 1772.09, and the parent returns to its base', () => {
    const r = project(start, { years: 1 });
    expect(r.forks[0]).toEqual({ week: 6, amount: '3544.18' });
    expect(r.weeks.slice(0, 6).map((w) => w.gen)).toEqual(['40570.00', '41148.12', '41734.48', '42329.20', '42932.39', '40000.00']);
    expect(r.weeks[5]).toMatchObject({ forked: '3544.18', activeForkedUnits: 1 });
  });

  it('merges the forked unit the week after it reaches the merge threshold', () => {
    // Week 7: child Gen 1772.09 + 25.25 (1.425%), child Com 1772.09 + 8.42 (0.475%) = 3577.85 >= 2000.00.
    const r = project(freshStart({ initialCapital: money('100000.00'), settings: { forkThreshold: '3000.00', mergeThreshold: '2000.00' } }), { years: 1 });
    expect(r.merges[0]).toEqual({ week: 7, amount: '3577.85' });
    expect(r.weeks[6]).toMatchObject({ forked: '0.00', activeForkedUnits: 0 });
  });

  it('never forks when the threshold is out of reach, and then the total is just compounding', () => {
    const r = project(freshStart({ initialCapital: money('300000.00'), settings: { forkThreshold: '999999999.00' } }), { years: 10 });
    expect(r.forks).toEqual([]);
    expect(r.years).toHaveLength(10);
    expect(r.years.every((y) => y.activeForkedUnits === 0 && y.forks === 0)).toBe(true);
    const y1 = r.years[0]!;
    expect(money(y1.byType.gen).gt('120000')).toBe(true);
    expect(y1.byType.forked).toBe('0.00');
  });

  it('keeps every cent: year totals equal the sum of their parts, and a seed repeats the same market', () => {
    const a = project(freshStart({ initialCapital: money('300000.00') }), { years: 10, marketMix: true, seed: 42 });
    const b = project(freshStart({ initialCapital: money('300000.00') }), { years: 10, marketMix: true, seed: 42 });
    expect(a).toEqual(b);
    for (const y of a.years) {
      const parts = money(y.byType.gen).plus(y.byType.rev).plus(y.byType.com).plus(y.byType.forked);
      expect(parts.toFixed(2)).toBe(y.total);
    }
    expect(a.years.map((y) => y.marketYear)).toContain('good');
    expect(a.years[9]!.activeForkedUnits).toBeGreaterThan(100);
  });
});
