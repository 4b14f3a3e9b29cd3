import fc from 'fast-check';
import { Dec, formatMoney, isMoneyString, money, splitAmount, sum } from '../../src/domain/money';
import { centsArb } from '../support/arbitraries';
import { openingSplit } from '../../src/domain/opening';
import { BUCKETS, balanceOf, openingBuckets } from '../../src/domain/buckets';
import { TEMPLATE_NAMES } from '../../src/domain/settings';

const pctArb = fc.integer({ min: 0, max: 1_000_000 }).map((n) => new Dec(n).div(1_000_000));

describe('money', () => {
  it('splits $50,001.01 50/50 into 25,000.51 + 25,000.50 (half-up first leg, remainder second)', () => {
    const [a, b] = splitAmount(money('50001.01'), new Dec('0.5'));
    expect([formatMoney(a), formatMoney(b)]).toEqual(['25000.51', '25000.50']);
  });

  it('rounds a half cent up', () => {
    const [a, b] = splitAmount(money('0.01'), new Dec('0.5'));
    expect([formatMoney(a), formatMoney(b)]).toEqual(['0.01', '0.00']);
  });

  it.each(['0', '0.5', '50000.00', '999999999999999.99'])('accepts %s', (v) => expect(isMoneyString(v)).toBe(true));
  it.each(['', '-1', '1.001', '1e3', 'NaN', 'Infinity', '01', '1234567890123456', ' 1', '1.'])('rejects %j', (v) =>
    expect(isMoneyString(v)).toBe(false),
  );

  it('never creates or loses a cent in a split (property)', () => {
    fc.assert(
      fc.property(centsArb, pctArb, (amount, pct) => {
        const [a, b] = splitAmount(amount, pct);
        expect(a.plus(b).eq(amount)).toBe(true);
        expect(a.decimalPlaces()).toBeLessThanOrEqual(2);
        expect(b.decimalPlaces()).toBeLessThanOrEqual(2);
        expect(a.gte(0) && b.gte(0)).toBe(true);
      }),
    );
  });
});

describe('opening', () => {
  it('opens $300,000 moderate as 120,000 / 90,000 / 90,000', () => {
    const s = openingSplit(money('300000'), 'moderate');
    expect([s.gen, s.rev, s.com].map(formatMoney)).toEqual(['120000.00', '90000.00', '90000.00']);
  });

  it('opens $100,000.01 conservative with the odd cent in Com', () => {
    const s = openingSplit(money('100000.01'), 'conservative');
    // gen 30% = 30000.003 -> 30000.00; rev 50% = 50000.005 -> 50000.01; com = remainder 20000.00
    expect([s.gen, s.rev, s.com].map(formatMoney)).toEqual(['30000.00', '50000.01', '20000.00']);
  });

  it('keeps the buffer in cash and the rest in contracts: 120,000 at 5% = 6,000 + 114,000', () => {
    const b = openingBuckets(money('120000.00'), '0.05');
    expect(BUCKETS.map((k) => formatMoney(b[k]))).toEqual(['6000.00', '114000.00', '0.00', '0.00']);
  });

  it('legs always sum to the capital and no bucket is negative (property)', () => {
    fc.assert(
      fc.property(centsArb, fc.constantFrom(...TEMPLATE_NAMES), (capital, template) => {
        const s = openingSplit(capital, template);
        expect(sum([s.gen, s.rev, s.com]).eq(capital)).toBe(true);
        for (const part of [s.gen, s.rev, s.com]) {
          expect(part.gte(0)).toBe(true);
          const b = openingBuckets(part, '0.05');
          expect(balanceOf(b).eq(part)).toBe(true);
          expect(BUCKETS.every((k) => b[k].gte(0))).toBe(true);
        }
      }),
    );
  });
});
