import fc from 'fast-check';
import { localTime, startOfDay } from '../../src/shared/calendar';
import { lastClosedQuarter, quarterOf } from '../../src/shared/quarters';

describe('quarters on a time zone calendar', () => {
  it('reinvests Q2 at 01:00 on 1 July east of UTC, where UTC is still in June', () => {
    const berlin = new Date('2026-06-30T23:00:00Z'); // 01:00 on 1 July in Berlin (CEST)
    expect(lastClosedQuarter(berlin, 'Europe/Berlin')).toBe('2026Q2');
    expect(lastClosedQuarter(berlin, 'UTC')).toBe('2026Q1');
    const tokyo = new Date('2026-06-30T16:00:00Z'); // 01:00 on 1 July in Tokyo
    expect(lastClosedQuarter(tokyo, 'Asia/Tokyo')).toBe('2026Q2');
    expect(quarterOf(tokyo, 'Asia/Tokyo')).toBe('2026Q3');
  });

  it('reinvests Q4 of the previous year at 01:00 on 1 January west of UTC', () => {
    const ny = new Date('2027-01-01T06:00:00Z'); // 01:00 on 1 January in New York
    expect(lastClosedQuarter(ny, 'America/New_York')).toBe('2026Q4');
    expect(lastClosedQuarter(new Date('2027-01-01T04:00:00Z'), 'America/New_York')).toBe('2026Q3');
  });
});

describe('start of the day in a time zone', () => {
  it('is local midnight, across DST changes', () => {
    expect(startOfDay(new Date('2026-11-29T03:00:00Z'), 'America/New_York').toISOString()).toBe('2026-11-28T05:00:00.000Z');
    expect(startOfDay(new Date('2026-11-29T12:00:00Z'), 'America/New_York').toISOString()).toBe('2026-11-29T05:00:00.000Z');
    // 8 March 2026: New York springs forward at 02:00; the day began at 05:00Z (EST).
    expect(startOfDay(new Date('2026-03-08T20:00:00Z'), 'America/New_York').toISOString()).toBe('2026-03-08T05:00:00.000Z');
    expect(startOfDay(new Date('2026-11-29T10:30:00Z'), 'Asia/Kolkata').toISOString()).toBe('2026-11-28T18:30:00.000Z');
    expect(startOfDay(new Date('2026-11-29T10:30:00Z'), 'UTC').toISOString()).toBe('2026-11-29T00:00:00.000Z');
  });

  it('always shows midnight (or later) of the same local date, at most a day before the instant', () => {
    const zones = ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Tokyo', 'Australia/Lord_Howe', 'Pacific/Kiritimati', 'America/Sao_Paulo'];
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }), fc.constantFrom(...zones), (t, tz) => {
        const d = new Date(t);
        const start = startOfDay(d, tz);
        const a = localTime(start, tz);
        const b = localTime(d, tz);
        expect([a.year, a.month, a.day]).toEqual([b.year, b.month, b.day]);
        expect(start.getTime()).toBeLessThanOrEqual(d.getTime());
        expect(d.getTime() - start.getTime()).toBeLessThan(25 * 3_600_000);
        // One minute earlier is the previous local day.
        expect(localTime(new Date(start.getTime() - 60_000), tz).day).not.toBe(b.day);
      }),
      { numRuns: 500 },
    );
  });
});
