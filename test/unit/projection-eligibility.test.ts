import fc from 'fast-check';
import { forkEligibility, forkPlan } from '../../src/domain/fork';
import { formatMoney, money } from '../../src/domain/money';
import { type ProjectionStart, SIMULATED_EPOCH, type SimulatedFork, freshStart, project } from '../../src/domain/projection';
import { type SettingsOverrides, defaultSettings, resolveSettings } from '../../src/domain/settings';

const DAY = 86_400_000;
const dayOf = (at: Date, start: Date) => (at.getTime() - start.getTime()) / DAY;

function run(start: ProjectionStart, years: number, extra: { marketMix?: boolean; seed?: number } = {}) {
  const events: SimulatedFork[] = [];
  const result = project(start, { years, ...extra, onFork: (f) => events.push(f) });
  return { result, events };
}

describe('projection forks with the live rule (forkEligibility) on a simulated calendar', () => {
  const capital = money('100000.00');

  it('waits for minAccountAgeDays: 60 days forks later than 0', () => {
    // The hand-computed case of projection.test.ts: the root Gen-Acc passes the 3000.00 threshold in week 6.
    const young = run(freshStart({ initialCapital: capital, settings: { forkThreshold: '3000.00' } }), 1);
    const aged = run(freshStart({ initialCapital: capital, settings: { forkThreshold: '3000.00', minAccountAgeDays: 60 } }), 1);
    expect(young.result.forks[0]!.week).toBe(6);
    // Day 60 after the accounts opened is in week 9 (days 56-62): the first day the rule accepts the root Gen-Acc.
    expect(aged.result.forks[0]!.week).toBe(9);
    expect(dayOf(aged.events[0]!.at, SIMULATED_EPOCH)).toBe(60);
    // Its children open at their fork and wait 60 days of their own too.
    for (const e of aged.events) expect(e.at.getTime() - e.candidate.createdAt.getTime()).toBeGreaterThanOrEqual(60 * DAY);
  });

  it('with forkCoolingHours = 720 a Gen-Acc forks at most once per 30 days', () => {
    // A 500.00 threshold: the root Gen-Acc (40,000.00, +1.425% a week) has enough surplus every week.
    const settings: SettingsOverrides = { forkThreshold: '500.00' };
    const weekly = run(freshStart({ initialCapital: capital, settings }), 1);
    const cooled = run(freshStart({ initialCapital: capital, settings: { ...settings, forkCoolingHours: 720 } }), 1);
    expect(weekly.result.forks).toHaveLength(52);
    // The root Gen-Acc forks on days 0, 30, ..., 360 of the 364-day year: 13 times instead of 52.
    const root = cooled.events.filter((e) => e.parentKey === 'root');
    expect(root.map((e) => dayOf(e.at, SIMULATED_EPOCH))).toEqual(Array.from({ length: 13 }, (_, i) => 30 * i));
    expect(root.map((e) => e.week)).toEqual(Array.from({ length: 13 }, (_, i) => Math.floor((30 * i) / 7) + 1));
    // Its larger forks make children that grow a surplus of their own, and each of them keeps 30 days apart too.
    expect(cooled.result.forks.length).toBe(cooled.events.length);
    const byParent = new Map<string, number[]>();
    for (const e of cooled.events) byParent.set(e.parentKey, [...(byParent.get(e.parentKey) ?? []), e.at.getTime()]);
    expect(byParent.size).toBeGreaterThan(1);
    for (const times of byParent.values()) {
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(720 * 3_600_000);
    }
  });

  it('honours cooling above a week (up to 8760 h): one fork of the root Gen-Acc a year', () => {
    const r = run(freshStart({ initialCapital: capital, settings: { forkThreshold: '500.00', forkCoolingHours: 8760 } }), 2);
    expect(r.events.filter((e) => e.parentKey === 'root').map((e) => dayOf(e.at, SIMULATED_EPOCH))).toEqual([0, 365]);
  });

  it('starts an existing portfolio from its accounts\' real age, last fork and the forks already made today', () => {
    const at = new Date('2026-03-02T15:00:00Z');
    const settings = resolveSettings(defaultSettings(), { forkThreshold: '500.00', minAccountAgeDays: 30, forkCoolingHours: 240, maxForksPerDay: 1 });
    const account = (type: 'gen' | 'rev' | 'com', amount: string, base: string, lastForkAt: Date | null) => ({
      type, balance: money(amount), baseBalance: money(base), createdAt: new Date(at.getTime() - 20 * DAY), lastForkAt,
    });
    const start: ProjectionStart = {
      settings, at, forksToday: 1,
      units: [
        { key: 'r', parentKey: null, kind: 'root', accounts: [account('gen', '50000.00', '40000.00', new Date(at.getTime() - 9 * DAY)), account('com', '30000.00', '30000.00', null)] },
      ],
    };
    const r = run(start, 1);
    // Opened 20 days ago with a 30-day minimum age: day 10 is the first day it may fork (its cooling ended on day 1).
    expect(r.events[0]).toMatchObject({ week: 2, day: 3, forksToday: 0, parentKey: 'r' });
    expect(dayOf(r.events[0]!.at, at)).toBe(10);

    const old: ProjectionStart = { ...start, units: [{ ...start.units[0]!, accounts: start.units[0]!.accounts.map((a) => ({ ...a, createdAt: new Date(0) })) }] };
    // Old enough, but it forked 9 days ago (240 h cooling) and today's one fork is used up: day 1.
    expect(dayOf(run(old, 1).events[0]!.at, at)).toBe(1);
    expect(dayOf(run({ ...old, forksToday: 0, units: [{ ...old.units[0]!, accounts: old.units[0]!.accounts.map((a) => ({ ...a, lastForkAt: null })) }] }, 1).events[0]!.at, at)).toBe(0);
  });

  it('property: every fork it makes is one forkEligibility accepts at its simulated instant, on facts the fork history confirms', () => {
    const overrides = fc.record({
      forkThreshold: fc.integer({ min: 200, max: 20_000 }).map((n) => `${n}.00`),
      forkCoolingHours: fc.oneof(fc.constantFrom(0, 24, 167, 168, 169, 720, 8760), fc.integer({ min: 0, max: 8760 })),
      maxForksPerDay: fc.integer({ min: 0, max: 4 }),
      minAccountAgeDays: fc.oneof(fc.constantFrom(0, 1, 6, 7, 8, 60), fc.integer({ min: 0, max: 400 })),
      parentRetainPct: fc.constantFrom('0', '0.25', '0.5'),
      childGenPct: fc.constantFrom('0.5', '0.3', '1'),
      mergeThreshold: fc.integer({ min: 2_000, max: 200_000 }).map((n) => `${n}.00`),
    });
    const scenario = fc.record({
      overrides,
      capital: fc.integer({ min: 20_000, max: 500_000 }).map((n) => money(`${n}.00`)),
      years: fc.integer({ min: 1, max: 2 }),
      marketMix: fc.boolean(),
      seed: fc.integer({ min: 0, max: 1000 }),
      // An existing portfolio: accounts opened some days ago, perhaps a recent fork, perhaps forks already today.
      existing: fc.option(fc.record({ ageDays: fc.integer({ min: 0, max: 100 }), lastForkHoursAgo: fc.option(fc.integer({ min: 0, max: 2000 })), forksToday: fc.integer({ min: 0, max: 3 }) })),
    });
    let forks = 0;
    fc.assert(
      fc.property(scenario, ({ overrides: o, capital: c, years, marketMix, seed, existing }) => {
        let start = freshStart({ initialCapital: c, settings: o });
        if (existing) {
          const at = new Date('2026-06-15T09:30:00Z');
          const createdAt = new Date(at.getTime() - existing.ageDays * DAY);
          const lastForkAt = existing.lastForkHoursAgo === null ? null : new Date(at.getTime() - existing.lastForkHoursAgo * 3_600_000);
          start = { ...start, at, forksToday: existing.forksToday, units: start.units.map((u) => ({ ...u, accounts: u.accounts.map((a) => ({ ...a, createdAt, lastForkAt })) })) };
        }
        const s = start.settings;
        const { result, events } = run(start, years, { marketMix, seed });
        forks += events.length;
        expect(result.forks).toEqual(events.map((e) => ({ week: e.week, amount: e.amount })));

        // What the history says each account's clock was: opened with its unit, last forked at its previous fork.
        const opened = new Map(start.units.map((u) => [u.key, u.accounts.find((a) => a.type === 'gen')!.createdAt.getTime()]));
        const lastFork = new Map(start.units.map((u) => [u.key, u.accounts.find((a) => a.type === 'gen')!.lastForkAt?.getTime() ?? null]));
        const perDay = new Map<number, number>([[start.at.getTime(), start.forksToday ?? 0]]);
        let previous = -Infinity;
        for (const e of events) {
          expect(forkEligibility(e.candidate, s, { now: e.at, forksToday: e.forksToday })).toEqual({ eligible: true, reasons: [] });
          expect(e.day).toBeGreaterThanOrEqual(0);
          expect(e.day).toBeLessThan(7);
          expect(dayOf(e.at, start.at)).toBe(7 * (e.week - 1) + e.day);
          expect(e.at.getTime()).toBeGreaterThanOrEqual(previous);
          previous = e.at.getTime();
          expect(e.forksToday).toBe(perDay.get(e.at.getTime()) ?? 0);
          expect(e.forksToday).toBeLessThan(s.maxForksPerDay);
          perDay.set(e.at.getTime(), e.forksToday + 1);
          expect(e.candidate).toMatchObject({ type: 'gen', status: 'active' });
          expect(e.candidate.createdAt.getTime()).toBe(opened.get(e.parentKey));
          expect(e.candidate.lastForkAt?.getTime() ?? null).toBe(lastFork.get(e.parentKey));
          expect(e.amount).toBe(formatMoney(forkPlan(e.candidate.balance.minus(e.candidate.baseBalance), s).forkAmount));
          lastFork.set(e.parentKey, e.at.getTime());
          opened.set(e.unitKey, e.at.getTime());
          lastFork.set(e.unitKey, null);
        }
      }),
      { numRuns: 60, seed: 20261129 },
    );
    // The generated settings do make the projection fork (the property is not vacuous).
    expect(forks).toBeGreaterThan(100);
  });

  it('property: its shortcuts change nothing: offering every Gen-Acc to the rule every day forks exactly the same', () => {
    const scenario = fc.record({
      forkThreshold: fc.integer({ min: 300, max: 5_000 }).map((n) => `${n}.00`),
      forkCoolingHours: fc.oneof(fc.constantFrom(0, 24, 168, 169, 720, 8760), fc.integer({ min: 0, max: 8760 })),
      maxForksPerDay: fc.integer({ min: 0, max: 3 }),
      minAccountAgeDays: fc.oneof(fc.constantFrom(0, 7, 60), fc.integer({ min: 0, max: 200 })),
      parentRetainPct: fc.constantFrom('0', '0.5'),
      mergeThreshold: fc.integer({ min: 5_000, max: 100_000 }).map((n) => `${n}.00`),
    });
    fc.assert(
      fc.property(scenario, fc.integer({ min: 20_000, max: 200_000 }), fc.integer({ min: 1, max: 2 }), (o, capital, years) => {
        const start = freshStart({ initialCapital: money(`${capital}.00`), settings: o });
        const fast = run(start, years);
        const events: SimulatedFork[] = [];
        const slow = project(start, { years, exhaustive: true, onFork: (f) => events.push(f) });
        expect(fast.result).toEqual(slow);
        expect(fast.events).toEqual(events);
      }),
      { numRuns: 40, seed: 7 },
    );
  });
});
