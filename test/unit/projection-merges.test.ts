import fc from 'fast-check';
import { money, sum } from '../../src/domain/money';
import { type ProjectionOptions, type ProjectionResult, type ProjectionStart, type StartAccount, project } from '../../src/domain/projection';
import { type SettingsOverrides, defaultSettings, resolveSettings } from '../../src/domain/settings';
import { projectByUnit } from '../support/projection-by-unit';

/**
 * A merge moves money and creates none: a unit's whole total goes to the
 * Com-Acc of its nearest active ancestor. Money enters or leaves a projection
 * only through the weekly returns, so these tests state conservation exactly:
 * against the same start projected without merges, and, with every return at
 * zero, as a total that never changes. Both simulations are held to it (the
 * cohort one and the unit-by-unit reference the cohort tests compare it with).
 */

type Run = (start: ProjectionStart, opts: ProjectionOptions) => ProjectionResult;
const simulations: [string, Run][] = [['by cohorts', project], ['unit by unit', projectByUnit]];

const DAY = 86_400_000;
const at = new Date('2026-05-04T12:00:00Z');
const account = (type: StartAccount['type'], balance: string, base = balance): StartAccount => ({
  type, balance: money(balance), baseBalance: money(base), createdAt: new Date(at.getTime() - 400 * DAY), lastForkAt: null,
});
const startTotal = (start: ProjectionStart): string => sum(start.units.flatMap((u) => u.accounts.map((a) => a.balance))).toFixed(2);

describe.each(simulations)('projection merges keep every cent (%s)', (_name, run) => {
  /**
   * A chain root <- p <- c <- g, every forked unit over the merge threshold in
   * week 1, the deepest the largest: g merges first and credits c, then c
   * merges and must move g's credit too, then p moves both.
   */
  const chain = (overrides: SettingsOverrides): ProjectionStart => ({
    settings: resolveSettings(defaultSettings(), { forkThreshold: '999999999.00', maxMergesPerScan: 10, mergeCoolingHours: 0, ...overrides }),
    at,
    units: [
      { key: 'root', parentKey: null, kind: 'root', accounts: [account('gen', '90000.00'), account('rev', '70000.00'), account('com', '70000.00')] },
      { key: 'p', parentKey: 'root', kind: 'forked', accounts: [account('gen', '20000.00'), account('com', '45000.00')] },
      { key: 'c', parentKey: 'p', kind: 'forked', accounts: [account('gen', '30000.00'), account('com', '40000.00')] },
      { key: 'g', parentKey: 'c', kind: 'forked', accounts: [account('gen', '35000.00'), account('com', '40000.00')] },
    ],
  });

  it('a parent that merges after its child in the same week moves the child\'s credit too', () => {
    const merging = run(chain({ mergeThreshold: '60000.00' }), { years: 1 });
    // The same week without merges: the same returns (they are credited before the week's merges), the money left in place.
    const staying = run(chain({ mergeThreshold: '999999999.00' }), { years: 1 });
    const [merged, kept] = [merging.weeks[0]!, staying.weeks[0]!];
    expect(merging.merges.filter((m) => m.week === 1)).toHaveLength(3);
    expect(staying.merges).toEqual([]);
    expect(kept.forked).not.toBe('0.00');

    // Nothing appeared or disappeared: the week's total is the total without merges, to the cent.
    expect(merged.total).toBe(kept.total);
    // Every forked cent went to the root's Com-Acc, and the last merge (p's) moved all of it.
    expect(merged).toMatchObject({ forked: '0.00', activeForkedUnits: 0, gen: kept.gen, rev: kept.rev });
    expect(merged.com).toBe(money(kept.com).plus(kept.forked).toFixed(2));
    expect(merging.merges[2]!.amount).toBe(kept.forked);
    // Each merge moved more than the one before it: what it held plus what it had just received.
    const amounts = merging.merges.map((m) => money(m.amount));
    expect(amounts[1]!.gt(amounts[0]!) && amounts[2]!.gt(amounts[1]!)).toBe(true);
  });

  it('a parent that merges before its child in the same week passes the child on to the grandparent', () => {
    // The deepest unit now the smallest: p merges first, then c and g each go to the nearest active ancestor, the root.
    const start = chain({ mergeThreshold: '60000.00' });
    const resized: Record<string, StartAccount[]> = {
      p: [account('gen', '50000.00'), account('com', '40000.00')],
      g: [account('gen', '25000.00'), account('com', '40000.00')],
    };
    const reversed = { ...start, units: start.units.map((u) => ({ ...u, accounts: resized[u.key] ?? u.accounts })) };
    const merging = run(reversed, { years: 1 });
    const staying = run({ ...reversed, settings: { ...reversed.settings, mergeThreshold: '999999999.00' } }, { years: 1 });
    expect(merging.merges.filter((m) => m.week === 1)).toHaveLength(3);
    expect(merging.weeks[0]!.total).toBe(staying.weeks[0]!.total);
    expect(sum(merging.merges.map((m) => money(m.amount))).toFixed(2)).toBe(staying.weeks[0]!.forked);
  });

  it('property: with every return at zero, forks and merges in any tree leave the total unchanged every week', () => {
    const amount = fc.constantFrom('4000.00', '6000.00', '9000.00', '15000.00', '24000.00');
    const scenario = fc.record({
      units: fc.array(
        fc.record({ gen: amount, genBase: fc.constantFrom('3000.00', '4000.00'), com: amount, parent: fc.nat() }),
        { minLength: 1, maxLength: 20 },
      ),
      settings: fc.record({
        forkThreshold: fc.constantFrom('2000.00', '5000.00', '999999999.00'),
        mergeThreshold: fc.constantFrom('8000.00', '12000.00', '20000.00', '30000.00'),
        mergeCoolingHours: fc.constantFrom(0, 24, 72),
        maxMergesPerScan: fc.integer({ min: 1, max: 5 }),
        parentRetainPct: fc.constantFrom('0', '0.25', '0.5'),
        childGenPct: fc.constantFrom('0.3', '0.5', '1'),
      }),
    });
    let merges = 0;
    let crowdedWeeks = 0;
    fc.assert(
      fc.property(scenario, ({ units, settings }) => {
        const start: ProjectionStart = {
          settings: resolveSettings(defaultSettings(), { ...settings, minAccountAgeDays: 0, weeklyReturns: { gen: '0', rev: '0', com: '0' } }),
          at,
          units: [
            { key: 'root', parentKey: null, kind: 'root', accounts: [account('gen', '50000.00'), account('rev', '30000.00'), account('com', '30000.00')] },
            ...units.map((u, i) => ({
              // Parents are earlier units (or the root), so chains of several levels are common.
              key: `u${i}`, parentKey: u.parent % (i + 1) === 0 ? 'root' : `u${u.parent % i}`, kind: 'forked' as const,
              accounts: [account('gen', u.gen, u.genBase), account('com', u.com)],
            })),
          ],
        };
        const r = run(start, { years: 1 });
        const total = startTotal(start);
        for (const w of r.weeks) expect({ week: w.week, total: w.total }).toEqual({ week: w.week, total });
        merges += r.merges.length;
        const perWeek = new Map<number, number>();
        for (const m of r.merges) perWeek.set(m.week, (perWeek.get(m.week) ?? 0) + 1);
        crowdedWeeks += [...perWeek.values()].filter((n) => n > 1).length;
      }),
      { numRuns: 150, seed: 20261201 },
    );
    // Not vacuous: merges happened, many weeks with several of them (where a credited unit may merge in turn).
    expect(merges).toBeGreaterThan(300);
    expect(crowdedWeeks).toBeGreaterThan(50);
  });
});
