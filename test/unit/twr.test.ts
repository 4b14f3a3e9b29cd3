import { Dec } from '../../src/domain/money';
import {
  EARLIEST_REPORT_DAY, GROWTH_COLUMNS, type KeySeries, MAX_GROWTH_ROWS, PERIODS, addDays, epochDay, growthCsv, growthRangeProblem, growthReport,
  growthSizeProblem, periodCount, periodSlots, periodStartOf,
} from '../../src/reports/growth';
import { annualize, formatRatio, timeWeightedReturn, twrOfMovements } from '../../src/reports/twr';

const d = (v: string | number) => new Dec(v);
const twr = (...args: Parameters<typeof timeWeightedReturn>) => formatRatio(timeWeightedReturn(...args));

describe('time-weighted return', () => {
  it('is the simple return when there is no flow', () => {
    // 100000.00 -> 102000.00
    expect(twr(d('100000.00'), [], d('102000.00'))).toBe('0.020000');
  });

  it('does not count a mid-period deposit as return', () => {
    // 100000 -> +1000 income -> 101000 | deposit 50000 -> 151000 -> +1510 income -> 152510
    // (101000 / 100000) · (152510 / 151000) − 1 = 1.01 · 1.01 − 1 = 0.0201
    const flows = [{ at: '2026-02-01', flow: d('50000.00'), balanceAfter: d('151000.00') }];
    expect(twr(d('100000.00'), flows, d('152510.00'))).toBe('0.020100');
    // The money-weighted view would be (152510 − 100000 − 50000) / 100000 = 2.51%: the deposit would dilute it.
  });

  it('does not count a mid-period withdrawal as a loss', () => {
    // 200000 -> +4000 -> 204000 | withdraw 54000 -> 150000 -> −1500 -> 148500
    // (204000 / 200000) · (148500 / 150000) − 1 = 1.02 · 0.99 − 1 = 0.0098
    const flows = [{ at: 5, flow: d('-54000.00'), balanceAfter: d('150000.00') }];
    expect(twr(d('200000.00'), flows, d('148500.00'))).toBe('0.009800');
  });

  it('gives a sub-period starting at zero no weight: the opening deposit inside the period', () => {
    // 0 | opening 300000 -> 300000 -> +9000 -> 309000: (factor 1) · (309000 / 300000) − 1 = 0.03
    const flows = [{ at: 1, flow: d('300000.00'), balanceAfter: d('300000.00') }];
    expect(twr(d('0'), flows, d('309000.00'))).toBe('0.030000');
  });

  it('treats flows at the same instant as one flow', () => {
    // As the deposit case, with the 50000 arriving as 30000 + 20000 at the same instant.
    const flows = [
      { at: 't', flow: d('30000.00'), balanceAfter: d('131000.00') },
      { at: 't', flow: d('20000.00'), balanceAfter: d('151000.00') },
    ];
    expect(twr(d('100000.00'), flows, d('152510.00'))).toBe('0.020100');
  });

  it('chains several flows, each sub-period on its own starting value', () => {
    // 1000 -> 1100 | +900 -> 2000 -> 1800 | −800 -> 1000 -> 1050
    // 1.1 · 0.9 · 1.05 − 1 = 0.0395
    const flows = [
      { at: 1, flow: d('900.00'), balanceAfter: d('2000.00') },
      { at: 2, flow: d('-800.00'), balanceAfter: d('1000.00') },
    ];
    expect(twr(d('1000.00'), flows, d('1050.00'))).toBe('0.039500');
  });

  it('is undefined (null) when the scope never held money', () => {
    expect(timeWeightedReturn(d(0), [], d(0))).toBeNull();
    // A merged unit after its merge: everything left at the flow, nothing held afterwards.
    expect(twr(d('500000.00'), [{ at: 1, flow: d('-510000.00'), balanceAfter: d(0) }], d(0))).toBe('0.020000');
  });

  it('builds the flows from movements with a running balance', () => {
    // The deposit case as movements: income, deposit, income.
    const r = twrOfMovements(d('100000.00'), [
      { at: 1, change: d('1000.00'), flow: d(0) },
      { at: 2, change: d('50000.00'), flow: d('50000.00') },
      { at: 3, change: d('1510.00'), flow: d(0) },
    ]);
    expect(formatRatio(r.twr)).toBe('0.020100');
    expect(r.end.toFixed(2)).toBe('152510.00');
  });
});

describe('annualize', () => {
  it('turns a two-year return into the yearly rate that compounds to it', () => {
    // 1.21 = 1.1², over 730 days
    expect(formatRatio(annualize(d('0.21'), 730))).toBe('0.100000');
    // 1.44 = 1.2²
    expect(formatRatio(annualize(d('0.44'), 730))).toBe('0.200000');
    // a loss: 0.81 = 0.9²
    expect(formatRatio(annualize(d('-0.19'), 730))).toBe('-0.100000');
  });

  it('refuses a span of no days', () => {
    expect(() => annualize(d('0.1'), 0)).toThrow(RangeError);
  });
});

describe('formatRatio', () => {
  it('rounds half-up to 6 places and prints a rounded-away loss as zero', () => {
    expect(formatRatio(d('0.0123455'))).toBe('0.012346');
    expect(formatRatio(d('-0.0000001'))).toBe('0.000000');
    expect(formatRatio(null)).toBeNull();
  });
});

describe('growth periods (UTC)', () => {
  it('starts weeks on Monday and quarters on Jan/Apr/Jul/Oct 1', () => {
    expect(periodStartOf('2026-03-01', 'week')).toBe('2026-02-23'); // a Sunday
    expect(periodStartOf('2026-03-02', 'week')).toBe('2026-03-02'); // a Monday
    expect(periodStartOf('2026-08-15', 'quarter')).toBe('2026-07-01');
    expect(periodStartOf('2026-08-15', 'year')).toBe('2026-01-01');
  });

  it('clips the first and last period to from..to', () => {
    expect(periodSlots('2026-01-15', '2026-03-10', 'month')).toEqual([
      { start: '2026-01-01', periodStart: '2026-01-15', periodEnd: '2026-01-31' },
      { start: '2026-02-01', periodStart: '2026-02-01', periodEnd: '2026-02-28' },
      { start: '2026-03-01', periodStart: '2026-03-01', periodEnd: '2026-03-10' },
    ]);
  });
});

describe('growth period arithmetic', () => {
  it('compares days as numbers: the periods of year 9999 end, though the next start sorts before them as text', () => {
    expect('+010000-01-03' < '9999-12-31').toBe(true); // why text order cannot stop the loop
    expect(epochDay('1970-01-02')).toBe(1);
    expect(epochDay('+010000-01-03')).toBeGreaterThan(epochDay('9999-12-31'));
    expect(periodSlots('9999-12-20', '9999-12-31', 'week').map((s) => s.start)).toEqual(['9999-12-20', '9999-12-27']);
    expect(periodSlots('9999-11-15', '9999-12-31', 'month').map((s) => s.periodEnd)).toEqual(['9999-11-30', '9999-12-31']);
  });

  it('counts the periods of a range without listing them, as many as periodSlots lists', () => {
    for (const period of PERIODS) {
      for (const [from, to] of [['2026-01-15', '2026-03-10'], ['2000-01-01', '2026-11-29'], ['2024-12-30', '2025-01-05'], ['2025-02-28', '2025-02-28'], ['2023-06-30', '2027-04-01']]) {
        expect([period, from, to, periodCount(from!, to!, period)]).toEqual([period, from, to, periodSlots(from!, to!, period).length]);
      }
      expect(periodCount('2026-03-10', '2026-03-09', period)).toBe(0);
    }
    expect(periodCount('2000-01-01', '9999-12-31', 'week')).toBe(Math.floor((epochDay('9999-12-31') - epochDay('1999-12-27')) / 7) + 1);
  });
});

describe('growth limits', () => {
  const today = '2026-11-29';

  it('accepts from..to within the earliest day and today', () => {
    expect(growthRangeProblem({ from: EARLIEST_REPORT_DAY, to: today }, today)).toBeNull();
    expect(growthRangeProblem({ from: today, to: today }, today)).toBeNull();
  });

  it('refuses to after today, from before the earliest day, and from after to', () => {
    expect(growthRangeProblem({ from: '2026-01-01', to: '9999-12-31' }, today)).toEqual({ path: 'query.to', message: 'to 9999-12-31 is after today (2026-11-29, UTC)' });
    expect(growthRangeProblem({ from: '2026-01-01', to: addDays(today, 1) }, today)?.path).toBe('query.to');
    expect(growthRangeProblem({ from: addDays(EARLIEST_REPORT_DAY, -1), to: today }, today)).toEqual({
      path: 'query.from', message: `from 1999-12-31 is before ${EARLIEST_REPORT_DAY}, the earliest day the report covers`,
    });
    expect(growthRangeProblem({ from: EARLIEST_REPORT_DAY, to: '1999-06-30' }, today)).toEqual({
      path: 'query.to', message: `to 1999-06-30 is before ${EARLIEST_REPORT_DAY}, the earliest day the report covers`,
    });
    expect(growthRangeProblem({ from: '2026-06-02', to: '2026-06-01' }, today)).toEqual({ path: 'query.from', message: 'from 2026-06-02 is after to 2026-06-01' });
    expect(growthRangeProblem({ from: '+010000-01-01', to: today }, today)?.path).toBe('query.from');
  });

  it('counts each key from its first entry, and refuses more than MAX_GROWTH_ROWS rows', () => {
    const range = { from: EARLIEST_REPORT_DAY, to: today, period: 'week' as const, by: 'account' as const };
    const weeks = periodCount(EARLIEST_REPORT_DAY, today, 'week');
    const keys = Math.floor(MAX_GROWTH_ROWS / weeks);
    expect(growthSizeProblem(range, Array<string>(keys).fill('1990-01-01'))).toBeNull();
    // Keys that start late, or after `to`, add fewer rows or none.
    expect(growthSizeProblem(range, [...Array<string>(keys).fill('1990-01-01'), ...Array<string>(100).fill(today), '2027-01-01'])).toBeNull();
    expect(growthSizeProblem(range, Array<string>(keys + 1).fill('2000-01-01'))).toEqual({
      path: 'query',
      message: `the report would have ${((keys + 1) * weeks).toLocaleString('en-US')} rows (up to ${weeks.toLocaleString('en-US')} weeks for each of ${keys + 1} accounts), `
        + 'more than the limit of 50,000: use a longer period, fewer keys (by=portfolio) or a shorter range (from, to)',
    });
    expect(growthSizeProblem({ ...range, period: 'month' }, Array<string>(keys + 1).fill('2000-01-01'))).toBeNull();
  });
});

describe('growth rows', () => {
  const series = (over: Partial<KeySeries> = {}): KeySeries => ({
    key: 'p', label: 'P', firstDay: '2024-01-01', openingBeforeFrom: d(0),
    totals: new Map([
      ['2024-01-01', { columns: { deposits: d('100000.00'), income: d('10000.00') }, reinvested: d(0) }],
      ['2025-01-01', { columns: { income: d('11000.00'), costs: d('-1000.00') }, reinvested: d('2500.00') }],
    ]),
    flows: new Map([['2024-01-01', [{ at: '2024-01-01T00:00:00.000000Z', flow: d('100000.00'), balanceAfter: d('100000.00') }]]]),
    valuations: new Map(),
    ...over,
  });

  it('carries each closing into the next opening, and annualizes a span of more than 365 days', () => {
    const { rows, summary } = growthReport([series()], { from: '2024-01-01', to: '2025-12-31', period: 'year' });
    expect(rows.map((r) => [r.periodStart, r.periodEnd, r.opening, r.closing, r.reinvested, r.twr])).toEqual([
      ['2024-01-01', '2024-12-31', '0.00', '110000.00', '0.00', '0.100000'],
      ['2025-01-01', '2025-12-31', '110000.00', '120000.00', '2500.00', '0.090909'],
    ]);
    // (110000 / 100000) · (120000 / 110000) − 1 = 0.2 over 731 days
    expect(summary).toEqual([{
      key: 'p', label: 'P', from: '2024-01-01', to: '2025-12-31', opening: '0.00', closing: '120000.00', twr: '0.200000',
      annualized: formatRatio(annualize(d('0.2'), 731)),
    }]);
  });

  it('has no annualized figure for a year or less, and no rows before the first entry', () => {
    const late = series({
      firstDay: '2025-03-05',
      totals: new Map([['2025-01-01', { columns: { deposits: d('100000.00'), income: d('5000.00') }, reinvested: d(0) }]]),
      flows: new Map([['2025-01-01', [{ at: '2025-03-05T10:00:00.000000Z', flow: d('100000.00'), balanceAfter: d('100000.00') }]]]),
    });
    const { rows, summary } = growthReport([late], { from: '2024-01-01', to: '2025-12-31', period: 'year' });
    expect(rows.map((r) => [r.periodStart, r.opening, r.closing, r.twr])).toEqual([['2025-01-01', '0.00', '105000.00', '0.050000']]);
    expect(summary[0]).toMatchObject({ from: '2025-03-05', twr: '0.050000', annualized: null });
  });
});

describe('growth CSV', () => {
  it('has a header in the JSON order, quotes what needs it and defuses a formula in a label', () => {
    const { rows } = growthReport([{
      key: 'k', label: '=HYPERLINK("x"), main', firstDay: '2026-01-05', openingBeforeFrom: d(0),
      totals: new Map([['2026-01-01', { columns: { deposits: d('10.00'), costs: d('-2.50') }, reinvested: d(0) }]]),
      flows: new Map(), valuations: new Map(),
    }], { from: '2026-01-01', to: '2026-01-31', period: 'month' });
    const [header, line, ...rest] = growthCsv(rows).split('\n');
    expect(header).toBe(GROWTH_COLUMNS.join(','));
    expect(line).toBe(`k,"'=HYPERLINK(""x""), main",2026-01-01,2026-01-31,0.00,7.50,10.00,0.00,0.00,-2.50,0.00,0.00,0.00,,,`);
    expect(rest).toEqual(['']);
  });
});
