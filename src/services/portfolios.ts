import type Decimal from 'decimal.js';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { appendAudit } from '../audit/audit';
import { openingBuckets, BUCKETS } from '../domain/buckets';
import { DomainError } from '../domain/errors';
import { ZERO, formatMoney, fromDb, sum } from '../domain/money';
import { openingSplit } from '../domain/opening';
import {
  type PortfolioSettings, type SettingsOverrides, type TemplateName, defaultSettings, resolveSettings, withDefaults,
} from '../domain/settings';
import type { LedgerService, Leg } from '../ledger/ledger';
import { Portfolio } from '../db/entities';
import { ACCOUNT_COLUMNS, type AccountRecord, type AccountView, accountView } from './views';
import { pgIso } from '../db/sql';

export interface CreatePortfolio {
  name: string;
  owner: string;
  initialCapital: Decimal;
  template: TemplateName;
  settings?: SettingsOverrides;
  /** The day the capital came in (YYYY-MM-DD, UTC); the opening entry is dated then. Default: now. */
  openedAt?: string;
}

export interface PortfolioSummary {
  id: string;
  name: string;
  owner: string;
  baseCurrency: string;
  template: string;
  initialCapital: string;
  settings: PortfolioSettings;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface UnitView {
  id: string;
  parentUnitId: string | null;
  forkedFromAccountId: string | null;
  kind: 'root' | 'forked';
  status: string;
  createdAt: string;
  accounts: AccountView[];
}

export interface PortfolioDetail extends PortfolioSummary {
  totals: { balance: string; inFlight: string };
  units: UnitView[];
}

interface PortfolioRecord {
  id: string; name: string; owner: string; base_currency: string; template: string; initial_capital: string;
  settings: PortfolioSettings; created_at: string; updated_at: string; version: number;
}

const summary = (r: PortfolioRecord): PortfolioSummary => ({
  id: r.id,
  name: r.name,
  owner: r.owner,
  baseCurrency: r.base_currency,
  template: r.template,
  initialCapital: formatMoney(fromDb(r.initial_capital)),
  settings: withDefaults(r.settings),
  createdAt: pgIso(r.created_at),
  updatedAt: pgIso(r.updated_at),
  version: r.version,
});

export class PortfolioService {
  constructor(
    private readonly orm: MikroORM,
    private readonly ledger: LedgerService,
  ) {}

  /**
   * Creates the portfolio, its root unit (Gen/Rev/Com), its external and
   * holding accounts, and posts the opening entry, all in one transaction.
   */
  async create(cmd: CreatePortfolio, actor: string): Promise<PortfolioDetail> {
    const settings = resolveSettings(defaultSettings(cmd.template), cmd.settings);
    const openedAt = cmd.openedAt ? new Date(`${cmd.openedAt}T00:00:00Z`) : undefined;
    if (openedAt && openedAt.getTime() > Date.now()) {
      throw new DomainError('ValidationError', 'openedAt is in the future', { path: 'openedAt' });
    }
    const split = openingSplit(cmd.initialCapital, cmd.template);
    const id = uuidv7();
    const unitId = uuidv7();
    const ids = { gen: uuidv7(), rev: uuidv7(), com: uuidv7(), external: uuidv7(), holding: uuidv7() };

    await this.orm.em.fork().transactional(async (em) => {
      await em.execute(
        `insert into portfolios (id, name, owner, template, settings, initial_capital) values (?, ?, ?, ?, ?::jsonb, ?)`,
        [id, cmd.name, cmd.owner, cmd.template, JSON.stringify(settings), formatMoney(cmd.initialCapital)],
      );
      await em.execute(`insert into units (id, portfolio_id, kind) values (?, ?, 'root')`, [unitId, id]);
      for (const type of ['external', 'holding'] as const) {
        await em.execute(`insert into accounts (id, portfolio_id, type) values (?, ?, ?)`, [ids[type], id, type]);
      }
      for (const type of ['gen', 'rev', 'com'] as const) {
        await em.execute(`insert into accounts (id, portfolio_id, unit_id, type) values (?, ?, ?, ?)`, [ids[type], id, unitId, type]);
      }
      await appendAudit(em, {
        actor, portfolioId: id, action: 'portfolio.created', targetType: 'portfolio', targetId: id,
        details: { name: cmd.name, owner: cmd.owner, template: cmd.template, initialCapital: formatMoney(cmd.initialCapital), settings, openedAt: cmd.openedAt },
      });
      const legs: Leg[] = [{ accountId: ids.external, bucket: 'cash', amount: cmd.initialCapital.neg() }];
      for (const type of ['gen', 'rev', 'com'] as const) {
        const buckets = openingBuckets(split[type], settings.bufferPct);
        for (const b of BUCKETS) if (!buckets[b].isZero()) legs.push({ accountId: ids[type], bucket: b, amount: buckets[b] });
      }
      await this.ledger.postIn(em, {
        idempotencyKey: `portfolio:${id}:opening`,
        portfolioId: id,
        kind: 'opening',
        actor,
        occurredAt: openedAt,
        accountIds: Object.values(ids),
        plan: () => ({
          legs,
          baseBalanceChanges: (['gen', 'rev', 'com'] as const).map((t) => ({ accountId: ids[t], delta: split[t] })),
        }),
      });
    });
    return (await this.get(id))!;
  }

  async list(): Promise<PortfolioSummary[]> {
    const rows = await this.orm.em.fork().find(Portfolio, {}, { orderBy: { createdAt: 'asc', id: 'asc' } });
    return rows.map((p) => ({
      id: p.id, name: p.name, owner: p.owner, baseCurrency: p.baseCurrency, template: p.template,
      initialCapital: formatMoney(fromDb(p.initialCapital)), settings: withDefaults(p.settings), createdAt: p.createdAt.toISOString(),
      updatedAt: p.updatedAt.toISOString(), version: p.version,
    }));
  }

  async settingsOf(em: EntityManager, id: string): Promise<PortfolioSettings> {
    const [row] = await em.execute<{ settings: PortfolioSettings }[]>('select settings from portfolios where id = ?', [id]);
    if (!row) throw new DomainError('NotFound', 'portfolio not found');
    return withDefaults(row.settings);
  }

  async get(id: string): Promise<PortfolioDetail | null> {
    const em = this.orm.em.fork();
    const [row] = await em.execute<PortfolioRecord[]>('select * from portfolios where id = ?', [id]);
    if (!row) return null;
    const units = await em.execute<{ id: string; parent_unit_id: string | null; forked_from_account_id: string | null; kind: 'root' | 'forked'; status: string; created_at: string }[]>(
      'select * from units where portfolio_id = ? order by created_at, id', [id],
    );
    const accounts = await em.execute<AccountRecord[]>(
      `select ${ACCOUNT_COLUMNS} from accounts where portfolio_id = ? order by created_at, id`, [id],
    );
    const byUnit = new Map<string, AccountView[]>();
    let inFlight = ZERO;
    for (const a of accounts) {
      if (a.type === 'holding') inFlight = fromDb(a.balance);
      if (!a.unit_id) continue;
      const list = byUnit.get(a.unit_id) ?? [];
      list.push(accountView(a, row.settings));
      byUnit.set(a.unit_id, list);
    }
    const unitBalances = accounts.filter((a) => a.unit_id).map((a) => fromDb(a.balance));
    return {
      ...summary(row),
      totals: { balance: formatMoney(sum(unitBalances).plus(inFlight)), inFlight: formatMoney(inFlight) },
      units: units.map((u) => ({
        id: u.id,
        parentUnitId: u.parent_unit_id,
        forkedFromAccountId: u.forked_from_account_id,
        kind: u.kind,
        status: u.status,
        createdAt: pgIso(u.created_at),
        accounts: byUnit.get(u.id) ?? [],
      })),
    };
  }

  /** Replaces settings with the validated merge of current settings and overrides. */
  async updateSettings(id: string, overrides: SettingsOverrides, actor: string): Promise<PortfolioDetail> {
    await this.orm.em.fork().transactional(async (em) => {
      const [row] = await em.execute<{ settings: PortfolioSettings }[]>('select settings from portfolios where id = ? for update', [id]);
      if (!row) throw new DomainError('NotFound', 'portfolio not found');
      const next = resolveSettings(withDefaults(row.settings), overrides);
      await em.execute(
        'update portfolios set settings = ?::jsonb, version = version + 1, updated_at = now() where id = ?',
        [JSON.stringify(next), id],
      );
      await appendAudit(em, {
        actor, portfolioId: id, action: 'portfolio.settings.updated', targetType: 'portfolio', targetId: id,
        details: { before: row.settings, after: next },
      });
    });
    return (await this.get(id))!;
  }
}
