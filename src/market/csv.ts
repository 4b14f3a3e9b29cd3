import { readFileSync } from 'node:fs';
import { Dec } from '../domain/money';
import type { MarketInputs } from '../domain/reinvest';
import { QUARTER_PATTERN } from '../shared/quarters';
import type { MarketDataProvider } from './provider';

interface Row {
  date: string;
  close: string;
  vol: string;
}

/**
 * Market data from a CSV file with a header and the columns
 * `date,index_close,volatility_index` (ISO dates, decimal numbers; any order
 * of rows). For a quarter, the inputs are taken as of its last row on or
 * before the quarter's end: the close and its 200-row average, the volatility
 * index and its 252-row (one year) average.
 */
export class CsvMarketData implements MarketDataProvider {
  readonly name: string;
  private readonly rows: Row[];

  constructor(path: string, text = readFileSync(path, 'utf8')) {
    this.name = `csv:${path}`;
    this.rows = parseMarketCsv(text);
  }

  async inputsForQuarter(quarter: string): Promise<MarketInputs> {
    const m = QUARTER_PATTERN.exec(quarter);
    if (!m) throw new Error(`bad quarter ${quarter}`);
    const endMonth = Number(m[2]) * 3;
    const end = `${m[1]}-${String(endMonth).padStart(2, '0')}-${endMonth === 3 || endMonth === 12 ? '31' : '30'}`;
    const upto = this.rows.filter((r) => r.date <= end);
    if (upto.length < 200) throw new Error(`market data has ${upto.length} rows up to ${end}; 200 are needed for the trend`);
    const last = upto[upto.length - 1]!;
    const avg = (values: string[]) => values.reduce((s, v) => s.plus(v), new Dec(0)).div(values.length).toDecimalPlaces(4);
    return {
      price: last.close,
      ma200: avg(upto.slice(-200).map((r) => r.close)).toString(),
      volatility: last.vol,
      volatilityAvg1y: avg(upto.slice(-252).map((r) => r.vol)).toString(),
    };
  }
}

export function parseMarketCsv(text: string): Row[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines.shift()?.split(',').map((h) => h.trim().toLowerCase());
  const idx = (name: string) => {
    const i = header?.indexOf(name) ?? -1;
    if (i < 0) throw new Error(`market CSV needs a "${name}" column (columns: date,index_close,volatility_index)`);
    return i;
  };
  const [d, c, v] = [idx('date'), idx('index_close'), idx('volatility_index')];
  const number = /^\d+(\.\d+)?$/;
  const rows = lines.map((line, n) => {
    const cells = line.split(',').map((x) => x.trim());
    const row = { date: cells[d] ?? '', close: cells[c] ?? '', vol: cells[v] ?? '' };
    if (!/^\d{4}-\d{2}-\d{2}$/.test(row.date) || !number.test(row.close) || !number.test(row.vol)) {
      throw new Error(`market CSV line ${n + 2} is not date,index_close,volatility_index: ${line}`);
    }
    return row;
  });
  return rows.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
}
