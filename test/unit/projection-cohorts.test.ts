import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { money } from '../../src/domain/money';
import {
  type ProjectionOptions, type ProjectionResult, type ProjectionStart, ProjectionRangeError, type SimulatedFork, type StartAccount, freshStart, project,
} from '../../src/domain/projection';
import { TEMPLATE_NAMES, type SettingsOverrides, type TemplateName, defaultSettings, resolveSettings } from '../../src/domain/settings';
import { projectByUnit } from '../support/projection-by-unit';

/**
 * The projection simulates cohorts of identical units (src/domain/projection.ts);
 * these tests hold it to the unit-by-unit simulation it replaced, kept as
 * test/support/projection-by-unit.ts: the same result to the cent, the same
 * forks in the same order on the same facts, the same refusal past the exact range.
 */

type Outcome = { result: ProjectionResult; forks: unknown[] } | { error: { week: number; message: string } };

/** A fork as plain data (Decimals and Dates as strings), to compare two runs field by field. */
const plainFork = (f: SimulatedFork) => ({
  ...f,
  at: f.at.toISOString(),
  candidate: {
    ...f.candidate,
    balance: f.candidate.balance.toFixed(2),
    baseBalance: f.candidate.baseBalance.toFixed(2),
    createdAt: f.candidate.createdAt.toISOString(),
    lastForkAt: f.candidate.lastForkAt?.toISOString() ?? null,
  },
});

function outcome(run: (start: ProjectionStart, opts: ProjectionOptions) => ProjectionResult, start: ProjectionStart, opts: ProjectionOptions): Outcome {
  const forks: SimulatedFork[] = [];
  try {
    return { result: run(start, { ...opts, onFork: (f) => forks.push(f) }), forks: forks.map(plainFork) };
  } catch (err) {
    if (!(err instanceof ProjectionRangeError)) throw err;
    return { error: { week: err.week, message: err.message } };
  }
}

/** Both simulations of one start; the test fails on any difference. */
function expectSame(start: ProjectionStart, opts: ProjectionOptions): Outcome {
  const byCohort = outcome(project, start, opts);
  const byUnit = outcome(projectByUnit, start, opts);
  expect(byCohort).toEqual(byUnit);
  return byCohort;
}

const DAY = 86_400_000;

describe('projection by cohorts: the unit-by-unit results, to the cent', () => {
  it('keeps the ten-year oracle figures (computed unit by unit before cohorts) to the cent', () => {
    const oracle = JSON.parse(readFileSync(join(__dirname, 'fixtures/projection-10-years.json'), 'utf8')) as {
      scenarios: {
        name: string;
        input: { initialCapital: string; template: TemplateName; settings?: SettingsOverrides; years: number; marketMix: boolean; seed: number };
        expected: { years: ProjectionResult['years']; forks: number; merges: number; sha256: string };
      }[];
    };
    expect(oracle.scenarios.length).toBeGreaterThanOrEqual(7);
    for (const { name, input, expected } of oracle.scenarios) {
      const { initialCapital, template, settings, ...opts } = input;
      const r = project(freshStart({ initialCapital: money(initialCapital), template, settings }), opts);
      expect({ name, years: r.years, forks: r.forks.length, merges: r.merges.length }).toEqual({ name, years: expected.years, forks: expected.forks, merges: expected.merges });
      // Every week, fork and merge too, through their digest.
      expect({ name, sha256: createHash('sha256').update(JSON.stringify(r)).digest('hex') }).toEqual({ name, sha256: expected.sha256 });
    }
    // The oracle has merges and market years in it, not only forks.
    expect(oracle.scenarios.some((s) => s.expected.merges > 0)).toBe(true);
    expect(oracle.scenarios.some((s) => s.input.marketMix)).toBe(true);
  });

  it('matches unit by unit over 15 years of $300,000 with the defaults (thousands of units, forks at the day\'s limit, merges)', () => {
    const out = expectSame(freshStart({ initialCapital: money('300000.00') }), { years: 15 });
    if (!('result' in out)) throw new Error('expected a result');
    // Large enough to mean something: units by the thousand, the day's limit reached, merges made.
    expect(out.result.years.at(-1)!.activeForkedUnits).toBeGreaterThan(2000);
    expect(out.result.merges.length).toBeGreaterThan(0);
  });

  it('splits a cohort whose members diverge: 40 identical units, one fork a day, merges crediting some parents only', () => {
    const at = new Date('2026-05-04T12:00:00Z');
    const settings = resolveSettings(defaultSettings(), {
      forkThreshold: '2000.00', maxForksPerDay: 1, mergeThreshold: '30000.00', mergeCoolingHours: 48, maxMergesPerScan: 2,
    });
    const account = (type: StartAccount['type'], amount: string, base = amount): StartAccount => ({
      type, balance: money(amount), baseBalance: money(base), createdAt: new Date(at.getTime() - 90 * DAY), lastForkAt: null,
    });
    const twins = Array.from({ length: 40 }, (_, i) => ({
      key: `twin-${i}`, parentKey: i < 20 ? 'root' : `twin-${i - 20}`, kind: 'forked' as const,
      accounts: [account('gen', '12000.00', '10000.00'), account('com', '10000.00')],
    }));
    const start: ProjectionStart = {
      settings, at, forksToday: 0,
      units: [{ key: 'root', parentKey: null, kind: 'root', accounts: [account('gen', '80000.00'), account('rev', '60000.00'), account('com', '60000.00')] }, ...twins],
    };
    const out = expectSame(start, { years: 3 });
    if (!('result' in out)) throw new Error('expected a result');
    // One fork a day cannot serve 40 equal surpluses at once, and two merges a week cannot take every twin together.
    expect(out.result.forks.length).toBeGreaterThan(40);
    expect(out.result.merges.length).toBeGreaterThan(20);
  });

  it('credits merges to each parent: a cohort all of whose members receive the same stays alike, one some receive splits', () => {
    const at = new Date('2026-05-04T12:00:00Z');
    const account = (type: StartAccount['type'], amount: string): StartAccount => ({
      type, balance: money(amount), baseBalance: money(amount), createdAt: new Date(at.getTime() - 400 * DAY), lastForkAt: null,
    });
    // 12 alike parents under the root, each with one child over the merge threshold; no forks.
    const units = [
      { key: 'root', parentKey: null, kind: 'root' as const, accounts: [account('gen', '90000.00'), account('rev', '70000.00'), account('com', '70000.00')] },
      ...Array.from({ length: 12 }, (_, i) => ({ key: `p${i}`, parentKey: 'root', kind: 'forked' as const, accounts: [account('gen', '20000.00'), account('com', '20000.00')] })),
      ...Array.from({ length: 12 }, (_, i) => ({ key: `c${i}`, parentKey: `p${i}`, kind: 'forked' as const, accounts: [account('gen', '30000.00'), account('com', '40000.00')] })),
    ];
    const rules = { forkThreshold: '999999999.00', mergeThreshold: '60000.00', maxMergesPerScan: 10 };
    // No merge cooling: 70 merges a week, every child merges in week 1 and every parent receives the same.
    const together = expectSame({ settings: resolveSettings(defaultSettings(), { ...rules, mergeCoolingHours: 0 }), at, units }, { years: 1 });
    // 72 h cooling: 2 merges a week, so the parents are credited two by two, weeks apart, and then merge in turn.
    const apart = expectSame({ settings: resolveSettings(defaultSettings(), { ...rules, mergeCoolingHours: 72 }), at, units }, { years: 2 });
    if (!('result' in together) || !('result' in apart)) throw new Error('expected results');
    expect(together.result.merges.filter((m) => m.week === 1)).toHaveLength(12);
    expect(new Set(apart.result.merges.slice(0, 12).map((m) => m.week)).size).toBe(6);
    expect(apart.result.merges.length).toBeGreaterThan(12);
  });

  it('moves a merge\'s credit on when the credited unit merges later the same week, for a whole cohort and for some of its members', () => {
    const at = new Date('2026-05-04T12:00:00Z');
    const account = (type: StartAccount['type'], amount: string): StartAccount => ({
      type, balance: money(amount), baseBalance: money(amount), createdAt: new Date(at.getTime() - 400 * DAY), lastForkAt: null,
    });
    // 12 alike parents over the merge threshold, each with a larger child (two kinds: 70,000 and 66,000) that merges
    // first and credits it; no forks.
    const units = [
      { key: 'root', parentKey: null, kind: 'root' as const, accounts: [account('gen', '90000.00'), account('rev', '70000.00'), account('com', '70000.00')] },
      ...Array.from({ length: 12 }, (_, i) => ({ key: `p${i}`, parentKey: 'root', kind: 'forked' as const, accounts: [account('gen', '30000.00'), account('com', '32000.00')] })),
      ...Array.from({ length: 12 }, (_, i) => ({
        key: `c${i}`, parentKey: `p${i}`, kind: 'forked' as const, accounts: [account('gen', '30000.00'), account('com', i < 6 ? '40000.00' : '36000.00')],
      })),
    ];
    const settings = (mergeThreshold: string, maxMergesPerScan: number) =>
      resolveSettings(defaultSettings(), { forkThreshold: '999999999.00', mergeThreshold, maxMergesPerScan, mergeCoolingHours: 0 });
    const staying = project({ settings: settings('999999999.00', 10), at, units }, { years: 1 });
    // 70 merges a week: every child, then every parent with its child's credit, in week 1.
    const all = expectSame({ settings: settings('60000.00', 10), at, units }, { years: 1 });
    // 14 merges a week: the 12 children and the first 2 parents (with their credits); the parents' cohort splits
    // between those credited 70,000 and those credited 66,000 (both plus returns).
    const some = expectSame({ settings: settings('60000.00', 2), at, units }, { years: 1 });
    if (!('result' in all) || !('result' in some)) throw new Error('expected results');
    expect(all.result.merges.filter((m) => m.week === 1)).toHaveLength(24);
    expect(some.result.merges.filter((m) => m.week === 1)).toHaveLength(14);
    expect(some.result.weeks[0]!.activeForkedUnits).toBe(10);
    // Merges move money, nothing more: week 1 ends with the total it has without them.
    expect(all.result.weeks[0]).toMatchObject({ total: staying.weeks[0]!.total, forked: '0.00' });
    expect(some.result.weeks[0]!.total).toBe(staying.weeks[0]!.total);
  });

  it('property: any rules, market and start (a new portfolio or an existing tree with look-alike units) give the same result and forks', () => {
    const overrides = fc.record({
      forkThreshold: fc.integer({ min: 3_000, max: 60_000 }).map((n) => `${n}.00`),
      forkCoolingHours: fc.oneof(fc.constantFrom(0, 24, 168, 720), fc.integer({ min: 0, max: 2000 })),
      maxForksPerDay: fc.integer({ min: 0, max: 6 }),
      minAccountAgeDays: fc.oneof(fc.constantFrom(0, 7, 30), fc.integer({ min: 0, max: 120 })),
      parentRetainPct: fc.constantFrom('0', '0.25', '0.5'),
      childGenPct: fc.constantFrom('0.3', '0.5', '1'),
      mergeThreshold: fc.integer({ min: 5_000, max: 300_000 }).map((n) => `${n}.00`),
      mergeCoolingHours: fc.constantFrom(0, 24, 72, 168),
      maxMergesPerScan: fc.integer({ min: 0, max: 3 }),
    }, { requiredKeys: [] });
    // An existing portfolio: units drawn from a few amounts, so some are alike (one cohort) and some tie on surplus
    // or total without being alike (ties the rankings break by age).
    const amount = fc.constantFrom('4000.00', '6000.00', '9000.00', '15000.00');
    const tree = fc.record({
      units: fc.array(fc.record({ gen: amount, genBase: fc.constantFrom('3000.00', '4000.00'), com: amount, parent: fc.nat(), ageDays: fc.constantFrom(3, 40, 200), forkedHoursAgo: fc.option(fc.constantFrom(5, 100, 1000)) }), { minLength: 1, maxLength: 24 }),
      forksToday: fc.integer({ min: 0, max: 3 }),
      noFork: fc.option(fc.nat()),
    });
    const scenario = fc.record({
      template: fc.constantFrom(...TEMPLATE_NAMES),
      capital: fc.integer({ min: 20_000, max: 600_000 }).map((n) => money(`${n}.00`)),
      overrides,
      years: fc.integer({ min: 1, max: 4 }),
      marketMix: fc.boolean(),
      seed: fc.integer({ min: 0, max: 10_000 }),
      existing: fc.option(tree),
    });
    let forks = 0;
    let merges = 0;
    let trees = 0;
    fc.assert(
      fc.property(scenario, ({ template, capital, overrides: o, years, marketMix, seed, existing }) => {
        let start = freshStart({ initialCapital: capital, template, settings: o });
        if (existing) {
          trees++;
          const at = new Date('2026-06-15T09:30:00Z');
          const account = (type: StartAccount['type'], balance: string, base: string, ageDays: number, forkedHoursAgo: number | null): StartAccount => ({
            type, balance: money(balance), baseBalance: money(base), createdAt: new Date(at.getTime() - ageDays * DAY),
            lastForkAt: forkedHoursAgo === null ? null : new Date(at.getTime() - forkedHoursAgo * 3_600_000),
          });
          const units = existing.units.map((u, i) => ({
            key: `u${i}`, parentKey: i === 0 ? 'root' : (u.parent % (i + 1) === 0 ? 'root' : `u${u.parent % i}`), kind: 'forked' as const,
            accounts: [
              { ...account('gen', u.gen, u.genBase, u.ageDays, u.forkedHoursAgo), noFork: existing.noFork === i },
              account('com', u.com, u.com, u.ageDays, null),
            ],
          }));
          start = { ...start, at, forksToday: existing.forksToday, units: [...start.units, ...units] };
        }
        const out = expectSame(start, { years, marketMix, seed });
        if ('result' in out) {
          forks += out.result.forks.length;
          merges += out.result.merges.length;
        }
      }),
      { numRuns: 80, seed: 20261130 },
    );
    // The generated cases do fork, merge and start from existing trees (the property is not vacuous).
    expect(forks).toBeGreaterThan(500);
    expect(merges).toBeGreaterThan(50);
    expect(trees).toBeGreaterThan(20);
  });

  it('refuses past the exact range in the same week as unit by unit', () => {
    const start = freshStart({ initialCapital: money('1000000.00'), settings: { weeklyReturns: { gen: '0.3', rev: '0.3', com: '0.3' }, forkThreshold: '100000.00' } });
    const out = expectSame(start, { years: 3 });
    expect(out).toMatchObject({ error: { week: expect.any(Number) } });
  });
});
