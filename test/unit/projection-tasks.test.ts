import { money } from '../../src/domain/money';
import { ProjectionRangeError, freshStart, project, projectionCsv } from '../../src/domain/projection';
import { defaultSettings, resolveSettings } from '../../src/domain/settings';
import { documentOf, runTask, startData, startFrom, valueOf } from '../../src/projection/tasks';

/** The projection tasks (src/projection/tasks.ts) cross a thread boundary as plain data: structuredClone is that boundary. */
describe('projection tasks: plain data to the worker thread and back', () => {
  const options = { years: 3, marketMix: true, seed: 11 };

  it('carries a start exactly: amounts as decimal strings, instants as milliseconds, and projects it to the same result', () => {
    const at = new Date('2026-04-01T10:15:00Z');
    const account = (type: 'gen' | 'rev' | 'com', amount: string, lastForkAt: Date | null = null) => ({
      type, balance: money(amount), baseBalance: money('40000.01'), createdAt: new Date(at.getTime() - 86_400_000 * 12), lastForkAt,
    });
    const start = {
      settings: resolveSettings(defaultSettings('aggressive'), { forkThreshold: '5000.00', minAccountAgeDays: 20 }), at, forksToday: 2,
      units: [
        { key: 'r', parentKey: null, kind: 'root' as const, accounts: [account('gen', '123456.78', new Date(at.getTime() - 3_600_000)), account('rev', '90000.00'), account('com', '90000.00')] },
        { key: 'f', parentKey: 'r', kind: 'forked' as const, accounts: [{ ...account('gen', '48000.05'), noFork: true }, account('com', '25000.50')] },
      ],
    };
    const data = structuredClone(startData(start));
    expect(data.units[0]!.accounts[0]).toEqual({ type: 'gen', balance: '123456.78', baseBalance: '40000.01', createdAt: at.getTime() - 86_400_000 * 12, lastForkAt: at.getTime() - 3_600_000 });
    expect(data.units[1]!.accounts[0]!.noFork).toBe(true);
    expect(startFrom(data)).toEqual(start);
    const outcome = runTask({ kind: 'project', start: data, options });
    expect(outcome).toEqual({ value: project(start, options) });
  });

  it('answers a comparison\'s range error with the variant that left the exact range, not as a thrown error', () => {
    const calm = startData(freshStart({ initialCapital: money('100000.00') }));
    const wild = startData(freshStart({ initialCapital: money('100000.00'), settings: { weeklyReturns: { gen: '0.5', rev: '0.5', com: '0.5' } } }));
    const outcome = structuredClone(runTask({ kind: 'compare', starts: [calm, wild, calm], options: { years: 5, marketMix: false, seed: 1 } }));
    expect(outcome).toEqual({ outOfRange: { week: expect.any(Number), variant: 1 } });
    if (!('outOfRange' in outcome)) throw new Error('expected a range error');
    // valueOf turns it back into the error a projection in this thread would have thrown.
    const here = (() => {
      try {
        project(startFrom(wild), { years: 5 });
      } catch (err) {
        return err as ProjectionRangeError;
      }
      throw new Error('expected a range error');
    })();
    expect(outcome.outOfRange.week).toBe(here.week);
    expect(() => valueOf(outcome)).toThrow(here.message);
    expect(() => valueOf(outcome)).toThrow(ProjectionRangeError);
  });

  it('writes the response body on the worker: JSON by year (weeks only when asked) or the weekly CSV', () => {
    const r = project(freshStart({ initialCapital: money('300000.00') }), { years: 2 });
    expect(documentOf(r, { format: 'csv', granularity: 'year' })).toEqual({ contentType: 'text/csv; charset=utf-8', body: projectionCsv(r) });
    expect(JSON.parse(documentOf(r, { format: 'json', granularity: 'year' }).body)).toEqual({ years: r.years, forks: r.forks, merges: r.merges });
    expect(JSON.parse(documentOf(r, { format: 'json', granularity: 'week' }).body)).toEqual(r);
  });
});
