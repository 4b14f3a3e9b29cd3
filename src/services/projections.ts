import type Decimal from 'decimal.js';
import type { MikroORM } from '@mikro-orm/postgresql';
import { pgDate } from '../db/sql';
import { DomainError } from '../domain/errors';
import { fromDb } from '../domain/money';
import { type ProjectionResult, type ProjectionStart, ProjectionRangeError } from '../domain/projection';
import { type PortfolioSettings, type TemplateName, withDefaults } from '../domain/settings';
import { type Projector, ProjectionBudgetExceeded, ProjectionsBusy, inProcess } from '../projection/pool';
import {
  type Document, type ForkImpact, IMPACT_YEARS, type OutputData, type ProjectionOptionsData, type TaskOutcome, startData, valueOf,
} from '../projection/tasks';
import { startOfDay } from '../shared/calendar';

export { ProjectionRangeError } from '../domain/projection';
export { type ForkImpact, IMPACT_YEARS, type ImpactSummary } from '../projection/tasks';

/** The dry run's body fields for the predicted impact: the impact, or why it cannot be computed now. */
export type PredictedImpactFields = { predictedImpact: ForkImpact } | { predictedImpactUnavailable: string };

/**
 * Projections, run by a Projector: the API's pool of worker threads (so a long
 * projection never holds up its other requests), or in-process for scripts
 * and tests. Existing portfolios start from their live tree.
 */
export class ProjectionService {
  constructor(
    private readonly orm: MikroORM,
    private readonly projector: Projector = inProcess,
  ) {}

  /**
   * Projects `start`. Throws ProjectionRangeError past the amounts a
   * projection computes exactly (the API answers 422), ProjectionsBusy or
   * ProjectionBudgetExceeded from the pool (503).
   */
  async project(start: ProjectionStart, options: ProjectionOptionsData): Promise<ProjectionResult> {
    return valueOf(await this.projector.run({ kind: 'project', start: startData(start), options }));
  }

  /** Projects `start` into the response body the API sends (see the `document` task); throws as project() does. */
  async document(start: ProjectionStart, options: ProjectionOptionsData, output: OutputData): Promise<Document> {
    return valueOf(await this.projector.run({ kind: 'document', start: startData(start), options, output }));
  }

  /** Several starts projected alike, each summed up, as one task; or the first out of range (its index). */
  async compare(starts: ProjectionStart[], options: ProjectionOptionsData): Promise<TaskOutcome<'compare'>> {
    return this.projector.run({ kind: 'compare', starts: starts.map(startData), options });
  }

  /** Projections running or waiting for a thread. */
  get busy(): number {
    return this.projector.busy;
  }

  /** Starts the worker threads ahead of the first projection (see ProjectionPool.warmUp). */
  warmUp(): Promise<void> {
    return this.projector.warmUp();
  }

  /** Stops the worker threads (the API's shutdown). */
  close(): Promise<void> {
    return this.projector.close();
  }

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

  /** Throws as project() does. */
  async forPortfolio(portfolioId: string, opts: { years: number; marketMix?: boolean; seed?: number }): Promise<ProjectionResult> {
    return this.project(await this.startOf(portfolioId), { years: opts.years, marketMix: opts.marketMix ?? false, seed: opts.seed ?? 1 });
  }

  /**
   * docs/domain.md section 3: the fork's predicted impact, the portfolio projected
   * over IMPACT_YEARS with this fork made now against the same portfolio in
   * which this Gen-Acc keeps its surplus and never forks (src/projection/tasks.ts).
   *
   * Throws as project() does; a dry run must not fail for that, so callers
   * use predictedImpactFields() (or catch it themselves).
   */
  async forkImpact(portfolioId: string, accountId: string, surplus: Decimal): Promise<ForkImpact> {
    const start = await this.startOf(portfolioId);
    const [row] = await this.orm.em.fork().execute<{ unit_id: string }[]>('select unit_id from accounts where id = ?', [accountId]);
    return valueOf(await this.projector.run({ kind: 'impact', start: startData(start), unitKey: row?.unit_id ?? null, surplus: surplus.toFixed() }));
  }

  /**
   * forkImpact as the dry run's body fields: `{ predictedImpact }`, or
   * `{ predictedImpactUnavailable: <reason> }` when the impact cannot be
   * computed exactly or the projection pool cannot compute it now (busy, or
   * over its budget). Never throws for those; other errors pass.
   */
  async predictedImpactFields(portfolioId: string, accountId: string, surplus: Decimal): Promise<PredictedImpactFields> {
    try {
      return { predictedImpact: await this.forkImpact(portfolioId, accountId, surplus) };
    } catch (err) {
      if (err instanceof ProjectionRangeError) {
        return { predictedImpactUnavailable: `the ${IMPACT_YEARS}-year projection behind the predicted impact cannot be computed exactly: ${err.message}` };
      }
      if (err instanceof ProjectionsBusy || err instanceof ProjectionBudgetExceeded) {
        return { predictedImpactUnavailable: `the ${IMPACT_YEARS}-year projection behind the predicted impact could not be computed now: ${err.message}` };
      }
      throw err;
    }
  }
}
