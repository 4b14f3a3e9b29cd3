import type Decimal from 'decimal.js';
import type { MikroORM } from '@mikro-orm/postgresql';
import { DomainError } from '../domain/errors';
import { forkPlan } from '../domain/fork';
import { Dec, formatMoney, fromDb } from '../domain/money';
import { type ProjectionResult, type ProjectionStart, project } from '../domain/projection';
import { type PortfolioSettings, type TemplateName, withDefaults } from '../domain/settings';

export const IMPACT_YEARS = 5;

type StartUnit = ProjectionStart['units'][number];

/** Projections of existing portfolios: the live tree is the starting point. */
export class ProjectionService {
  constructor(private readonly orm: MikroORM) {}

  async startOf(portfolioId: string): Promise<ProjectionStart> {
    const em = this.orm.em.fork();
    const [p] = await em.execute<{ settings: PortfolioSettings; template: TemplateName }[]>('select settings, template from portfolios where id = ?', [portfolioId]);
    if (!p) throw new DomainError('NotFound', 'portfolio not found');
    const units = await em.execute<{ id: string; parent_unit_id: string | null; kind: 'root' | 'forked' }[]>(
      `select id, parent_unit_id, kind from units where portfolio_id = ? and status in ('active','merging') order by created_at, id`, [portfolioId],
    );
    const accounts = await em.execute<{ unit_id: string; type: 'gen' | 'rev' | 'com'; balance: string; base_balance: string }[]>(
      `select unit_id, type, balance, base_balance from accounts where portfolio_id = ? and unit_id is not null and status not in ('merged','closed')`, [portfolioId],
    );
    const active = new Set(units.map((u) => u.id));
    return {
      settings: withDefaults(p.settings, p.template),
      units: units.map((u) => ({
        key: u.id,
        parentKey: u.parent_unit_id && active.has(u.parent_unit_id) ? u.parent_unit_id : null,
        kind: u.kind,
        accounts: accounts.filter((a) => a.unit_id === u.id).map((a) => ({ type: a.type, balance: fromDb(a.balance), baseBalance: fromDb(a.base_balance) })),
      })),
    };
  }

  async forPortfolio(portfolioId: string, opts: { years: number; marketMix?: boolean; seed?: number }): Promise<ProjectionResult> {
    return project(await this.startOf(portfolioId), opts);
  }

  /**
   * DOMAIN.md section 3: the fork's predicted impact, the portfolio projected
   * over IMPACT_YEARS with this fork made now against the same portfolio in
   * which this Gen-Acc keeps its surplus and never forks.
   */
  async forkImpact(portfolioId: string, accountId: string, surplus: Decimal) {
    const start = await this.startOf(portfolioId);
    const [row] = await this.orm.em.fork().execute<{ unit_id: string }[]>('select unit_id from accounts where id = ?', [accountId]);
    const unitKey = row?.unit_id;
    const isParent = (u: StartUnit) => u.key === unitKey;
    const plan = forkPlan(surplus, start.settings);
    const withFork: ProjectionStart = {
      settings: start.settings,
      units: [
        ...start.units.map((u) =>
          isParent(u)
            ? { ...u, accounts: u.accounts.map((a) => (a.type === 'gen' ? { ...a, balance: a.balance.minus(plan.forkAmount), baseBalance: a.baseBalance.plus(plan.retained) } : a)) }
            : u,
        ),
        {
          key: 'predicted-fork', parentKey: unitKey ?? null, kind: 'forked',
          accounts: [
            { type: 'gen', balance: plan.childGen, baseBalance: plan.childGen },
            { type: 'com', balance: plan.childCom, baseBalance: plan.childCom },
          ],
        },
      ],
    };
    const withoutFork: ProjectionStart = {
      settings: start.settings,
      units: start.units.map((u) => (isParent(u) ? { ...u, accounts: u.accounts.map((a) => (a.type === 'gen' ? { ...a, noFork: true } : a)) } : u)),
    };
    const summary = (r: ProjectionResult) => {
      const last = r.years[r.years.length - 1]!;
      return { total: last.total, activeForkedUnits: last.activeForkedUnits, forks: r.forks.length, merges: r.merges.length };
    };
    const a = summary(project(withFork, { years: IMPACT_YEARS }));
    const b = summary(project(withoutFork, { years: IMPACT_YEARS }));
    return { horizonYears: IMPACT_YEARS, withFork: a, withoutFork: b, difference: formatMoney(new Dec(a.total).minus(b.total)) };
  }
}
