import type Decimal from 'decimal.js';
import type { MikroORM } from '@mikro-orm/postgresql';
import { pgDate } from '../db/sql';
import { DomainError } from '../domain/errors';
import { forkPlan } from '../domain/fork';
import { Dec, formatMoney, fromDb } from '../domain/money';
import { type ProjectionResult, type ProjectionStart, ProjectionRangeError, project } from '../domain/projection';
import { type PortfolioSettings, type TemplateName, withDefaults } from '../domain/settings';
import { startOfDay } from '../shared/calendar';

export { ProjectionRangeError } from '../domain/projection';

export const IMPACT_YEARS = 5;

type StartUnit = ProjectionStart['units'][number];

export interface ImpactSummary {
  total: string;
  activeForkedUnits: number;
  forks: number;
  merges: number;
}

export interface ForkImpact {
  horizonYears: number;
  withFork: ImpactSummary;
  withoutFork: ImpactSummary;
  difference: string;
}

/** The dry run's body fields for the predicted impact: the impact, or why it cannot be computed exactly. */
export type PredictedImpactFields = { predictedImpact: ForkImpact } | { predictedImpactUnavailable: string };

/** Projections of existing portfolios: the live tree is the starting point. */
export class ProjectionService {
  constructor(private readonly orm: MikroORM) {}

  /**
   * The portfolio as the fork rule sees it now: balances, each account's real
   * opening and last fork, and the forks already made today (on the
   * portfolio's calendar). `at` is the database's clock, the one that stamped
   * those instants, so a fresh account is never "opened in the future".
   */
  async startOf(portfolioId: string): Promise<ProjectionStart> {
    const em = this.orm.em.fork();
    const [p] = await em.execute<{ settings: PortfolioSettings; template: TemplateName; now: string }[]>(
      'select settings, template, now() as now from portfolios where id = ?', [portfolioId],
    );
    if (!p) throw new DomainError('NotFound', 'portfolio not found');
    const settings = withDefaults(p.settings, p.template);
    const at = pgDate(p.now);
    const units = await em.execute<{ id: string; parent_unit_id: string | null; kind: 'root' | 'forked' }[]>(
      `select id, parent_unit_id, kind from units where portfolio_id = ? and status in ('active','merging') order by created_at, id`, [portfolioId],
    );
    const accounts = await em.execute<{
      unit_id: string; type: 'gen' | 'rev' | 'com'; balance: string; base_balance: string; created_at: string; last_fork_at: string | null;
    }[]>(
      `select unit_id, type, balance, base_balance, created_at, last_fork_at
         from accounts where portfolio_id = ? and unit_id is not null and status not in ('merged','closed')`, [portfolioId],
    );
    const [today] = await em.execute<{ n: string }[]>(
      `select count(*) as n from forking_events where portfolio_id = ? and status in ('started','completed') and started_at >= ?`,
      [portfolioId, startOfDay(at, settings.timezone)],
    );
    const active = new Set(units.map((u) => u.id));
    return {
      settings,
      at,
      forksToday: Number(today?.n ?? 0),
      units: units.map((u) => ({
        key: u.id,
        parentKey: u.parent_unit_id && active.has(u.parent_unit_id) ? u.parent_unit_id : null,
        kind: u.kind,
        accounts: accounts.filter((a) => a.unit_id === u.id).map((a) => ({
          type: a.type, balance: fromDb(a.balance), baseBalance: fromDb(a.base_balance),
          createdAt: pgDate(a.created_at), lastForkAt: a.last_fork_at ? pgDate(a.last_fork_at) : null,
        })),
      })),
    };
  }

  /** Throws ProjectionRangeError when the portfolio cannot be projected exactly (the API answers 422). */
  async forPortfolio(portfolioId: string, opts: { years: number; marketMix?: boolean; seed?: number }): Promise<ProjectionResult> {
    return project(await this.startOf(portfolioId), opts);
  }

  /**
   * docs/domain.md section 3: the fork's predicted impact, the portfolio projected
   * over IMPACT_YEARS with this fork made now against the same portfolio in
   * which this Gen-Acc keeps its surplus and never forks.
   *
   * Throws ProjectionRangeError when either projection would pass the amounts
   * it computes exactly; a dry run must not fail for that, so callers use
   * predictedImpactFields() (or catch it themselves).
   */
  async forkImpact(portfolioId: string, accountId: string, surplus: Decimal): Promise<ForkImpact> {
    const start = await this.startOf(portfolioId);
    const [row] = await this.orm.em.fork().execute<{ unit_id: string }[]>('select unit_id from accounts where id = ?', [accountId]);
    const unitKey = row?.unit_id;
    const isParent = (u: StartUnit) => u.key === unitKey;
    const plan = forkPlan(surplus, start.settings);
    // The predicted fork happens now: it starts the parent's cooling period, opens the new unit's
    // accounts and counts against today's forks, exactly as the real one would.
    const opened = { createdAt: start.at, lastForkAt: null };
    const withFork: ProjectionStart = {
      settings: start.settings,
      at: start.at,
      forksToday: (start.forksToday ?? 0) + 1,
      units: [
        ...start.units.map((u) =>
          isParent(u)
            ? { ...u, accounts: u.accounts.map((a) => (a.type === 'gen' ? { ...a, balance: a.balance.minus(plan.forkAmount), baseBalance: a.baseBalance.plus(plan.retained), lastForkAt: start.at } : a)) }
            : u,
        ),
        {
          key: 'predicted-fork', parentKey: unitKey ?? null, kind: 'forked',
          accounts: [
            { type: 'gen', balance: plan.childGen, baseBalance: plan.childGen, ...opened },
            { type: 'com', balance: plan.childCom, baseBalance: plan.childCom, ...opened },
          ],
        },
      ],
    };
    const withoutFork: ProjectionStart = {
      ...start,
      units: start.units.map((u) => (isParent(u) ? { ...u, accounts: u.accounts.map((a) => (a.type === 'gen' ? { ...a, noFork: true } : a)) } : u)),
    };
    const summary = (r: ProjectionResult): ImpactSummary => {
      const last = r.years[r.years.length - 1]!;
      return { total: last.total, activeForkedUnits: last.activeForkedUnits, forks: r.forks.length, merges: r.merges.length };
    };
    const a = summary(project(withFork, { years: IMPACT_YEARS }));
    const b = summary(project(withoutFork, { years: IMPACT_YEARS }));
    return { horizonYears: IMPACT_YEARS, withFork: a, withoutFork: b, difference: formatMoney(new Dec(a.total).minus(b.total)) };
  }

  /**
   * forkImpact as the dry run's body fields: `{ predictedImpact }`, or
   * `{ predictedImpactUnavailable: <reason> }` when the impact cannot be
   * computed exactly. Never throws ProjectionRangeError; other errors pass.
   */
  async predictedImpactFields(portfolioId: string, accountId: string, surplus: Decimal): Promise<PredictedImpactFields> {
    try {
      return { predictedImpact: await this.forkImpact(portfolioId, accountId, surplus) };
    } catch (err) {
      if (!(err instanceof ProjectionRangeError)) throw err;
      return { predictedImpactUnavailable: `the ${IMPACT_YEARS}-year projection behind the predicted impact cannot be computed exactly: ${err.message}` };
    }
  }
}
