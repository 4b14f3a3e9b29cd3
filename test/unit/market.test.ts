import { CsvMarketData, parseMarketCsv } from '../../src/market/csv';
import { SyntheticMarketData } from '../../src/market/provider';
import { chooseDynamicStrategy } from '../../src/domain/reinvest';

/** 300 trading days from 2026-01-01: close 100.00 and volatility 20.00, then the given last row. */
function csv(lastClose: string, lastVol: string): string {
  const rows = ['date,index_close,volatility_index'];
  const start = Date.UTC(2026, 0, 1);
  for (let i = 0; i < 300; i++) {
    const date = new Date(start + i * 86_400_000).toISOString().slice(0, 10);
    rows.push(i === 299 ? `${date},${lastClose},${lastVol}` : `${date},100.00,20.00`);
  }
  return rows.join('\n');
}

describe('CSV market data', () => {
  // Row 300 is 2026-10-27, so 2026Q4 ends after it and 2026Q3 does not include it.
  it('reads the inputs as of the quarter end: close vs its 200-row average, volatility vs its 252-row average', async () => {
    const m = new CsvMarketData('inline.csv', csv('90.00', '25.00'));
    const inputs = await m.inputsForQuarter('2026Q4');
    // ma200 = (199 * 100 + 90) / 200 = 99.95; vol avg = (251 * 20 + 25) / 252 = 20.0198...
    expect(inputs).toEqual({ price: '90.00', ma200: '99.95', volatility: '25.00', volatilityAvg1y: '20.0198' });
    expect(chooseDynamicStrategy(inputs)).toEqual({ regime: 'falling', strategy: 'balanced' });
    const calm = await new CsvMarketData('inline.csv', csv('110.00', '15.00')).inputsForQuarter('2026Q4');
    expect(chooseDynamicStrategy(calm)).toEqual({ regime: 'rising-calm', strategy: 'aggressive' });
    const storm = await new CsvMarketData('inline.csv', csv('110.00', '31.00')).inputsForQuarter('2026Q4');
    expect(chooseDynamicStrategy(storm)).toEqual({ regime: 'high-volatility', strategy: 'conservative' });
  });

  it('refuses a quarter without 200 rows of history and a malformed file', async () => {
    await expect(new CsvMarketData('inline.csv', csv('1', '1')).inputsForQuarter('2026Q2')).rejects.toThrow(/200 are needed/);
    expect(() => parseMarketCsv('date,close\n2026-01-01,1')).toThrow(/index_close/);
    expect(() => parseMarketCsv('date,index_close,volatility_index\n2026-01-01,abc,1')).toThrow(/line 2/);
  });

  it('gives the same synthetic inputs for the same quarter', async () => {
    const s = new SyntheticMarketData();
    expect(await s.inputsForQuarter('2026Q3')).toEqual(await s.inputsForQuarter('2026Q3'));
  });
});
