import { createHash } from 'node:crypto';
import type { MarketInputs } from '../domain/reinvest';
import { CsvMarketData } from './csv';

/** Market inputs for the dynamic reinvestment strategy, as of a quarter's close. */
export interface MarketDataProvider {
  readonly name: string;
  inputsForQuarter(quarter: string): Promise<MarketInputs>;
}

/**
 * Deterministic synthetic market: the same quarter always gives the same
 * inputs (derived from a hash of the quarter), covering every regime.
 */
export class SyntheticMarketData implements MarketDataProvider {
  readonly name = 'synthetic';

  async inputsForQuarter(quarter: string): Promise<MarketInputs> {
    const h = createHash('sha256').update(`alluse-market:${quarter}`).digest();
    const volAvg = 15 + (h[0]! % 10);
    const vol = 10 + (h[1]! % 30);
    const ma200 = 4000 + h[2]! * 4;
    const price = ma200 - 300 + (h[3]! % 200) * 4;
    return { volatility: String(vol), volatilityAvg1y: String(volAvg), price: String(price), ma200: String(ma200) };
  }
}

/** The configured source: the CSV file when MARKET_DATA_CSV is set, else the synthetic market. */
export function marketDataFrom(config: { marketDataCsv?: string }): MarketDataProvider {
  return config.marketDataCsv ? new CsvMarketData(config.marketDataCsv) : new SyntheticMarketData();
}
