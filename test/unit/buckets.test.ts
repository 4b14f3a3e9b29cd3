import fc from 'fast-check';
import { type Buckets, BUCKETS, activityEffect, applyDelta, balanceOf, bufferRequired, debitDelta } from '../../src/domain/buckets';
import { DomainError } from '../../src/domain/errors';
import { Dec, formatMoney, money } from '../../src/domain/money';
import { centsArb } from '../support/arbitraries';

const b = (cash: string, contracts = '0', leaps = '0', reserve = '0'): Buckets => ({
  cash: money(cash), contracts: money(contracts), leaps: money(leaps), reserve: money(reserve),
});
const show = (x: Buckets) => BUCKETS.map((k) => formatMoney(x[k]));
const gen = (buckets: Buckets, base = '0') => ({ type: 'gen' as const, buckets, baseBalance: money(base) });

describe('bucket rules', () => {
  it('takes a debit from cash, then contracts, then LEAPS', () => {
    const start = b('100.00', '50.00', '30.00', '10.00');
    expect(show(applyDelta(start, debitDelta(start, money('170.00'))))).toEqual(['0.00', '0.00', '10.00', '10.00']);
  });

  it('refuses a debit above the balance', () => {
    expect(() => debitDelta(b('1.00', '1.00'), money('2.01'))).toThrow(DomainError);
  });

  it('credits premium and gains to cash without touching the base balance', () => {
    const e = activityEffect('premium', money('5.00'), gen(b('1.00'), '1.00'), '0.05');
    expect(formatMoney(e.delta.cash!)).toBe('5.00');
    expect(e.baseBalanceDelta.isZero()).toBe(true);
  });

  it('raises the base balance on a deposit and lowers it on a withdrawal', () => {
    expect(formatMoney(activityEffect('deposit', money('7.00'), gen(b('0')), '0.05').baseBalanceDelta)).toBe('7.00');
    const w = activityEffect('withdrawal', money('4.00'), gen(b('10.00', '90.00'), '100.00'), '0.05');
    // buffer = 5% of 100 = 5.00, so 5.00 is withdrawable
    expect(formatMoney(w.baseBalanceDelta)).toBe('-4.00');
  });

  it('refuses a withdrawal into the buffer and any Com-Acc withdrawal', () => {
    expect(() => activityEffect('withdrawal', money('5.01'), gen(b('10.00', '90.00'), '100.00'), '0.05')).toThrow(/buffer/);
    expect(() =>
      activityEffect('withdrawal', money('1.00'), { type: 'com', buckets: b('1000.00'), baseBalance: money('0') }, '0.05'),
    ).toThrow(/Com-Acc/);
  });

  it('computes the buffer half-up to the cent', () => {
    expect(formatMoney(bufferRequired(money('100.10'), '0.05'))).toBe('5.01'); // 5.005
  });

  it('never makes a bucket negative and moves exactly the amount (property)', () => {
    fc.assert(
      fc.property(centsArb, centsArb, centsArb, centsArb, centsArb, (cash, contracts, leaps, reserve, amount) => {
        const start = { cash, contracts, leaps, reserve };
        if (amount.gt(balanceOf(start))) {
          expect(() => debitDelta(start, amount)).toThrow(DomainError);
          return;
        }
        const after = applyDelta(start, debitDelta(start, amount));
        expect(BUCKETS.every((k) => after[k].gte(0))).toBe(true);
        expect(balanceOf(start).minus(balanceOf(after)).eq(amount)).toBe(true);
      }),
    );
  });

  it('withdrawals never dip into the buffer (property)', () => {
    fc.assert(
      fc.property(centsArb, centsArb, centsArb, (cash, contracts, amount) => {
        const start = { cash, contracts, leaps: new Dec(0), reserve: new Dec(0) };
        try {
          const e = activityEffect('withdrawal', amount, gen(start, '0'), '0.05');
          const after = applyDelta(start, e.delta);
          expect(after.cash.gte(bufferRequired(balanceOf(start), '0.05'))).toBe(true);
        } catch (err) {
          expect((err as DomainError).type).toBe('BufferViolation');
        }
      }),
    );
  });
});
