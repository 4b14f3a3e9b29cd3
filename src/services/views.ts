import type { PortfolioSettings } from '../domain/settings';
import { bufferRequired } from '../domain/buckets';
import { fromDb, formatMoney } from '../domain/money';
import { pgIso } from '../db/sql';

/** An account as the API shows it (docs/api.md); amounts as decimal strings. */
export interface AccountView {
  id: string;
  portfolioId: string;
  unitId: string | null;
  type: string;
  status: string;
  balance: string;
  baseBalance: string;
  surplus: string;
  buckets: { cash: string; contracts: string; leaps: string; reserve: string };
  bufferRequired: string;
  parentAccountId: string | null;
  /** The broker's id of this account (maps statement lines to it); null until set. */
  brokerAccountId: string | null;
  label: string | null;
  createdAt: string;
  version: number;
}

export interface AccountRecord {
  id: string;
  portfolio_id: string;
  unit_id: string | null;
  type: string;
  status: string;
  balance: string;
  base_balance: string;
  cash: string;
  contracts: string;
  leaps: string;
  reserve: string;
  parent_account_id: string | null;
  broker_account_id: string | null;
  label: string | null;
  created_at: Date | string;
  version: number;
}

export const ACCOUNT_COLUMNS =
  'id, portfolio_id, unit_id, type, status, balance, base_balance, cash, contracts, leaps, reserve, parent_account_id, broker_account_id, label, created_at, version';

export function accountView(r: AccountRecord, settings: PortfolioSettings): AccountView {
  const balance = fromDb(r.balance);
  const base = fromDb(r.base_balance);
  return {
    id: r.id,
    portfolioId: r.portfolio_id,
    unitId: r.unit_id,
    type: r.type,
    status: r.status,
    balance: formatMoney(balance),
    baseBalance: formatMoney(base),
    surplus: formatMoney(balance.minus(base)),
    buckets: {
      cash: formatMoney(fromDb(r.cash)),
      contracts: formatMoney(fromDb(r.contracts)),
      leaps: formatMoney(fromDb(r.leaps)),
      reserve: formatMoney(fromDb(r.reserve)),
    },
    bufferRequired: formatMoney(bufferRequired(balance, settings.bufferPct)),
    parentAccountId: r.parent_account_id,
    brokerAccountId: r.broker_account_id,
    label: r.label,
    createdAt: pgIso(r.created_at),
    version: r.version,
  };
}
