import fc from 'fast-check';
import { forkEligibility, forkPlan } from '../../src/domain/fork';
import { mergeEligibility, mergePlan, mergeTarget, rankMergeCandidates } from '../../src/domain/merge';
import { Dec, formatMoney, money } from '../../src/domain/money';
import { chooseDynamicStrategy, reinvestmentPlan } from '../../src/domain/reinvest';
import { defaultSettings, resolveSettings } from '../../src/domain/settings';
import { centsArb } from '../support/arbitraries';

const settings = defaultSettings('moderate');
const now = new Date('2026-11-27T12:00:00Z');
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
const plain = (p: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v instanceof Dec ? formatMoney(v) : v]));

describe('fork', () => {
  const account = { type: 'gen', status: 'active', balance: money('170001.01'), baseBalance: money('120000.00'), createdAt: hoursAgo(1000), lastForkAt: null };

  it('forks a $50,001.01 surplus into Gen 25000.51 + Com 25000.50 with nothing retained', () => {
    expect(forkEligibility(account, settings, { now, forksToday: 0 })).toEqual({ eligible: true, reasons: [] });
    expect(plain({ ...forkPlan(money('50001.01'), settings) })).toEqual({
      surplus: '50001.01', retained: '0.00', forkAmount: '50001.01', childGen: '25000.51', childCom: '25000.50',
    });
  });

  it('keeps half in the parent with parentRetainPct 0.5', () => {
    const s = resolveSettings(settings, { parentRetainPct: '0.5' });
    expect(plain({ ...forkPlan(money('60000.00'), s) })).toMatchObject({ retained: '30000.00', forkAmount: '30000.00', childGen: '15000.00', childCom: '15000.00' });
  });

  it('lists every reason a fork cannot start', () => {
    const r = forkEligibility(
      { ...account, status: 'forking', balance: money('169999.99'), lastForkAt: hoursAgo(23), createdAt: hoursAgo(1) },
      resolveSettings(settings, { minAccountAgeDays: 1 }),
      { now, forksToday: 5 },
    );
    expect(r.eligible).toBe(false);
    expect(r.reasons).toHaveLength(5);
    expect(r.reasons.join('; ')).toMatch(/forking.*49999\.99.*cooling.*forks-per-day limit \(5 of 5.*younger/);
  });

  it('is eligible exactly at the threshold and after the cooling period', () => {
    const r = forkEligibility({ ...account, balance: money('170000.00'), lastForkAt: hoursAgo(24) }, settings, { now, forksToday: 4 });
    expect(r.eligible).toBe(true);
  });

  it('plans legs that sum to the surplus (property)', () => {
    fc.assert(
      fc.property(centsArb, fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), (s, retain, gen) => {
        const p = forkPlan(s, resolveSettings(settings, { parentRetainPct: String(retain / 100), childGenPct: String(gen / 100) }));
        expect(p.retained.plus(p.forkAmount).eq(s)).toBe(true);
        expect(p.childGen.plus(p.childCom).eq(p.forkAmount)).toBe(true);
        expect([p.retained, p.childGen, p.childCom].every((x) => x.gte(0) && x.decimalPlaces() <= 2)).toBe(true);
      }),
    );
  });
});

describe('merge', () => {
  const unit = { unitId: 'u', kind: 'forked' as const, status: 'active', total: money('500000.00'), createdAt: hoursAgo(100) };

  it('merges a forked unit at $500,000.00 and not a cent below', () => {
    expect(mergeEligibility(unit, settings, { now, lastMergeAt: null }).eligible).toBe(true);
    expect(mergeEligibility({ ...unit, total: money('499999.99') }, settings, { now, lastMergeAt: null }).eligible).toBe(false);
    expect(mergeEligibility({ ...unit, kind: 'root' }, settings, { now, lastMergeAt: null }).reasons).toContain('only a forked unit merges');
    expect(mergeEligibility(unit, settings, { now, lastMergeAt: hoursAgo(2) }).eligible).toBe(false);
  });

  it('ranks by total, then age, and caps at maxMergesPerScan', () => {
    const c = (id: string, total: string, age: number) => ({ ...unit, unitId: id, total: money(total), createdAt: hoursAgo(age) });
    const ranked = rankMergeCandidates([c('a', '600000', 1), c('b', '700000', 1), c('c', '600000', 5)], resolveSettings(settings, { maxMergesPerScan: 2 }));
    expect(ranked.map((r) => r.unitId)).toEqual(['b', 'c']);
  });

  it('moves every source whole, closing positions first; a tax reserve stays a reserve', () => {
    const p = mergePlan([
      { accountId: 'g', buckets: { cash: money('100.00'), contracts: money('200000.00'), leaps: money('50.00'), reserve: money('0') } },
      { accountId: 'c', buckets: { cash: money('300000.00'), contracts: money('0'), leaps: money('0'), reserve: money('1.00') } },
    ]);
    expect(formatMoney(p.total)).toBe('500151.00');
    expect(p.sources.map((s) => [formatMoney(s.amount), formatMoney(s.closePositions), formatMoney(s.cash), formatMoney(s.reserve)])).toEqual([
      ['200150.00', '200050.00', '200150.00', '0.00'],
      ['300001.00', '0.00', '300000.00', '1.00'],
    ]);
  });

  it('refuses a unit one of whose accounts is held by another workflow', () => {
    const r = mergeEligibility({ ...unit, accountStatuses: ['active', 'reinvesting'] }, settings, { now, lastMergeAt: null });
    expect(r.reasons).toEqual(['an account of the unit is reinvesting, not active']);
  });

  it('merges into the nearest active ancestor, skipping a parent that is merging or merged', () => {
    expect(mergeTarget([{ unitId: 'p', status: 'active', comAccountId: 'pc' }, { unitId: 'r', status: 'active', comAccountId: 'rc' }]))
      .toEqual({ unitId: 'p', comAccountId: 'pc' });
    expect(mergeTarget([{ unitId: 'p', status: 'merging', comAccountId: 'pc' }, { unitId: 'g', status: 'merged', comAccountId: 'gc' }, { unitId: 'r', status: 'active', comAccountId: 'rc' }]))
      .toEqual({ unitId: 'r', comAccountId: 'rc' });
    expect(mergeTarget([{ unitId: 'p', status: 'merged', comAccountId: 'pc' }])).toBeNull();
  });
});

describe('reinvestment', () => {
  const buckets = (cash: string, contracts = '0') => ({ cash: money(cash), contracts: money(contracts), leaps: money('0'), reserve: money('0') });

  it('splits the cash above the buffer 75/25 by default', () => {
    // balance 100000, buffer 5000, cash 15000 -> 10000 reinvestable -> 7500 / 2500
    const p = reinvestmentPlan(buckets('15000.00', '85000.00'), settings, 'standard');
    expect(plain({ ...p })).toMatchObject({ reinvestable: '10000.00', reserve: '0.00', contracts: '7500.00', leaps: '2500.00', skipped: false });
  });

  it('reserves tax first and rounds the contracts leg half-up', () => {
    const s = resolveSettings(settings, { taxReservePct: '0.3' });
    // reinvestable 10000.01 -> reserve 3000.00 (3000.003), invested 7000.01 -> 85% = 5950.0085 -> 5950.01, leaps 1050.00
    const p = reinvestmentPlan(buckets('15000.01', '85000.00'), s, 'aggressive');
    expect(plain({ ...p })).toMatchObject({ reinvestable: '10000.01', reserve: '3000.00', contracts: '5950.01', leaps: '1050.00' });
  });

  it('skips below the minimum and says why', () => {
    const p = reinvestmentPlan(buckets('5999.99', '94000.00'), settings, 'standard');
    expect(p.skipped).toBe(true);
    expect(p.reason).toMatch(/999\.99 is below the minimum 1000\.00/);
  });

  it('chooses the dynamic strategy by regime, first rule wins', () => {
    const m = (volatility: string, price: string) => ({ volatility, volatilityAvg1y: '20', price, ma200: '100' });
    expect(chooseDynamicStrategy(m('31', '90'))).toEqual({ regime: 'high-volatility', strategy: 'conservative' });
    expect(chooseDynamicStrategy(m('30', '99.99'))).toEqual({ regime: 'falling', strategy: 'balanced' });
    expect(chooseDynamicStrategy(m('19', '101'))).toEqual({ regime: 'rising-calm', strategy: 'aggressive' });
    expect(chooseDynamicStrategy(m('25', '101'))).toEqual({ regime: 'neutral', strategy: 'standard' });
  });

  it('legs sum to the reinvestable cash (property)', () => {
    fc.assert(
      fc.property(centsArb, centsArb, fc.constantFrom('standard', 'aggressive', 'conservative', 'balanced') , (cash, contracts, strategy) => {
        const p = reinvestmentPlan({ cash, contracts, leaps: new Dec(0), reserve: new Dec(0) }, settings, strategy as 'standard');
        if (p.skipped) return;
        expect(p.reserve.plus(p.contracts).plus(p.leaps).eq(p.reinvestable)).toBe(true);
        expect([p.reserve, p.contracts, p.leaps].every((x) => x.gte(0))).toBe(true);
      }),
    );
  });
});
