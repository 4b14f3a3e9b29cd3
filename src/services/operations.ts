import {
  type Client, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { pgDate, pgIso } from '../db/sql';
import { balanceOf } from '../domain/buckets';
import { DomainError } from '../domain/errors';
import { forkEligibility, forkPlan, surplus } from '../domain/fork';
import { mergeEligibility } from '../domain/merge';
import { Dec, formatMoney, fromDb, sum } from '../domain/money';
import { reinvestmentPlan, chooseDynamicStrategy, type FixedStrategy } from '../domain/reinvest';
import type { PortfolioSettings, StrategyName } from '../domain/settings';
import type { MarketDataProvider } from '../market/provider';
import type { ProjectionService } from './projections';
import {
  COMPENSATED, type ForkInput, type MergeInput, type OperationType, type ReinvestInput, type ScanInput, type ScanKind, type StepRecord,
  workflowIds,
} from '../shared/operations';
import { QUARTER_PATTERN, compareQuarters, lastClosedQuarter, quarterOf } from '../shared/quarters';
import { progressQuery } from '../workflows/saga';
import { SA, operationAttributes } from '../shared/search-attributes';


const WORKFLOW_OF: Record<OperationType, string> = { fork: 'fork', merge: 'merge', reinvestment: 'reinvest' };
/** Every workflow type the API reports, with its operation type. */
const TYPE_OF: Record<string, ViewType> = { fork: 'fork', merge: 'merge', reinvest: 'reinvestment', scan: 'scan', quarterlyReinvestment: 'quarterly-reinvestment' };
type ViewType = OperationType | 'scan' | 'quarterly-reinvestment';
export type OperationStatus = 'running' | 'completed' | 'failed' | 'compensated' | 'cancelled';

export interface Started {
  operationId: string;
  type: OperationType;
  status: 'running';
}

export interface OperationView {
  operationId: string;
  type: ViewType;
  status: OperationStatus;
  startedAt: string;
  closedAt?: string;
  steps: StepRecord[];
  result?: unknown;
  error?: { type: string; message: string };
  searchAttributes?: Record<string, string | undefined>;
}

interface AccountFacts {
  id: string; portfolio_id: string; unit_id: string; type: string; status: string; base_balance: string; cash: string;
  contracts: string; leaps: string; reserve: string; created_at: string; last_fork_at: string | null; settings: PortfolioSettings;
}

/** Starts, follows and cancels the protocol workflows; the API's only door to Temporal. */
export class OperationsService {
  constructor(
    private readonly orm: MikroORM,
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly market: MarketDataProvider,
    private readonly projections?: ProjectionService,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async account(id: string): Promise<AccountFacts> {
    const [row] = await this.orm.em.fork().execute<AccountFacts[]>(
      `select a.*, p.settings from accounts a join portfolios p on p.id = a.portfolio_id where a.id = ? and a.unit_id is not null`, [id],
    );
    if (!row) throw new DomainError('AccountNotFound', 'account not found');
    return row;
  }

  private bucketsOf(a: AccountFacts) {
    return { cash: fromDb(a.cash), contracts: fromDb(a.contracts), leaps: fromDb(a.leaps), reserve: fromDb(a.reserve) };
  }

  /** Fork: dry run, or start `fork-<accountId>-<seq>` (a running fork of the account answers 409). */
  async fork(accountId: string, opts: { reason?: string; dryRun?: boolean; trigger?: 'scan' | 'manual' }, actor: string) {
    const a = await this.account(accountId);
    const em = this.orm.em.fork();
    const [open] = await em.execute<{ workflow_id: string }[]>(
      `select workflow_id from forking_events where parent_account_id = ? and status = 'started' limit 1`, [accountId],
    );
    if (open && !opts.dryRun) throw new DomainError('Conflict', 'a fork of this account is already running', { operationId: open.workflow_id });
    const [today] = await em.execute<{ n: string }[]>(
      `select count(*) as n from forking_events where portfolio_id = ? and status in ('started','completed') and started_at >= date_trunc('day', now())`,
      [a.portfolio_id],
    );
    const balance = balanceOf(this.bucketsOf(a));
    const eligibility = forkEligibility(
      { type: a.type, status: a.status, balance, baseBalance: fromDb(a.base_balance), createdAt: pgDate(a.created_at), lastForkAt: a.last_fork_at ? pgDate(a.last_fork_at) : null },
      a.settings,
      { now: this.now(), forksToday: Number(today?.n ?? 0) },
    );
    const s = surplus(balance, fromDb(a.base_balance));
    const plan = forkPlan(Dec.max(s, 0), a.settings);
    if (opts.dryRun) {
      return {
        status: 200,
        body: {
          eligible: eligibility.eligible, reasons: eligibility.reasons, surplus: formatMoney(s),
          plan: { forkAmount: formatMoney(plan.forkAmount), retained: formatMoney(plan.retained), childGen: formatMoney(plan.childGen), childCom: formatMoney(plan.childCom) },
          ...(eligibility.eligible && this.projections && { predictedImpact: await this.projections.forkImpact(a.portfolio_id, accountId, s) }),
        },
      };
    }
    if (!eligibility.eligible) throw new DomainError('NotEligible', 'the account is not eligible to fork', { reasons: eligibility.reasons });
    const [seq] = await em.execute<{ n: number }[]>('select coalesce(max(seq), 0) + 1 as n from forking_events where parent_account_id = ?', [accountId]);
    const input: ForkInput = { accountId, portfolioId: a.portfolio_id, seq: Number(seq!.n), trigger: opts.trigger ?? 'manual', actor, reason: opts.reason };
    return { status: 202, body: await this.start('fork', workflowIds.fork(accountId, input.seq), input, { portfolio: a.portfolio_id, account: accountId, unit: a.unit_id }) };
  }

  /** Merge: dry run, or start `merge-<unitId>`. */
  async merge(unitId: string, opts: { reason?: string; dryRun?: boolean; trigger?: 'scan' | 'manual' }, actor: string) {
    const em = this.orm.em.fork();
    const [unit] = await em.execute<{ id: string; portfolio_id: string; kind: 'root' | 'forked'; status: string; created_at: string; settings: PortfolioSettings }[]>(
      'select u.*, p.settings from units u join portfolios p on p.id = u.portfolio_id where u.id = ?', [unitId],
    );
    if (!unit) throw new DomainError('NotFound', 'unit not found');
    const accounts = await em.execute<AccountFacts[]>(`select * from accounts where unit_id = ?`, [unitId]);
    const total = sum(accounts.map((a) => fromDb(a.cash).plus(a.contracts).plus(a.leaps).plus(a.reserve)));
    const [last] = await em.execute<{ at: string | null }[]>(
      `select max(completed_at) as at from merging_events where portfolio_id = ? and status = 'completed'`, [unit.portfolio_id],
    );
    const eligibility = mergeEligibility(
      { unitId, kind: unit.kind, status: unit.status, total, createdAt: pgDate(unit.created_at) },
      unit.settings,
      { now: this.now(), lastMergeAt: last?.at ? pgDate(last.at) : null },
    );
    if (opts.dryRun) {
      return {
        status: 200,
        body: {
          eligible: eligibility.eligible, reasons: eligibility.reasons, total: formatMoney(total),
          plan: { sources: accounts.map((a) => ({ accountId: a.id, type: a.type, amount: formatMoney(fromDb(a.cash).plus(a.contracts).plus(a.leaps).plus(a.reserve)) })) },
        },
      };
    }
    if (unit.status === 'merging') {
      throw new DomainError('Conflict', 'a merge of this unit is already running', { operationId: workflowIds.merge(unitId) });
    }
    if (!eligibility.eligible) throw new DomainError('NotEligible', 'the unit is not eligible to merge', { reasons: eligibility.reasons });
    const input: MergeInput = { unitId, portfolioId: unit.portfolio_id, trigger: opts.trigger ?? 'manual', actor, reason: opts.reason };
    return { status: 202, body: await this.start('merge', workflowIds.merge(unitId), input, { portfolio: unit.portfolio_id, unit: unitId }) };
  }

  /** Reinvestment of one account for one quarter (default: the last closed one): dry run, or start `reinvest-<accountId>-<quarter>`. */
  async reinvest(accountId: string, opts: { strategy?: StrategyName; quarter?: string; dryRun?: boolean; trigger?: 'scan' | 'manual' }, actor: string) {
    const a = await this.account(accountId);
    const quarter = opts.quarter ?? lastClosedQuarter(this.now());
    if (!QUARTER_PATTERN.test(quarter)) throw new DomainError('ValidationError', 'quarter must look like 2026Q3', { path: 'body.quarter' });
    if (compareQuarters(quarter, quarterOf(this.now())) > 0) throw new DomainError('ValidationError', 'quarter is in the future', { path: 'body.quarter' });
    const reasons: string[] = [];
    if (a.type !== 'rev' && a.type !== 'com') reasons.push('only a Rev-Acc or a Com-Acc is reinvested');
    if (a.status !== 'active') reasons.push(`account is ${a.status}, not active`);
    const strategy = opts.strategy ?? a.settings.reinvestmentStrategy;
    let fixed = strategy as FixedStrategy;
    let regime: string | undefined;
    if (strategy === 'dynamic') ({ strategy: fixed, regime } = chooseDynamicStrategy(await this.market.inputsForQuarter(quarter)));
    const plan = reinvestmentPlan(this.bucketsOf(a), a.settings, fixed);
    if (opts.dryRun) {
      return {
        status: 200,
        body: {
          eligible: reasons.length === 0 && !plan.skipped, reasons: plan.reason ? [...reasons, plan.reason] : reasons, quarter,
          plan: {
            strategy: fixed, regime, reinvestable: formatMoney(plan.reinvestable), reserve: formatMoney(plan.reserve),
            contracts: formatMoney(plan.contracts), leaps: formatMoney(plan.leaps), skipped: plan.skipped,
          },
        },
      };
    }
    if (reasons.length) throw new DomainError('NotEligible', 'the account cannot be reinvested', { reasons });
    const input: ReinvestInput = { accountId, portfolioId: a.portfolio_id, quarter, strategy: opts.strategy, trigger: opts.trigger ?? 'manual', actor };
    return { status: 202, body: await this.start('reinvestment', workflowIds.reinvest(accountId, quarter), input, { portfolio: a.portfolio_id, account: accountId, unit: a.unit_id }) };
  }

  private async start(type: OperationType, workflowId: string, input: unknown, attrs: { portfolio: string; account?: string; unit?: string }): Promise<Started> {
    try {
      await this.client.workflow.start(WORKFLOW_OF[type], {
        workflowId,
        taskQueue: this.taskQueue,
        args: [input],
        // The id is the business key: a running or completed operation is never started twice;
        // only a failed (compensated) one may run again.
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        typedSearchAttributes: operationAttributes(type, attrs),
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new DomainError('Conflict', `this ${type} is already running or done`, { operationId: workflowId });
      }
      throw err;
    }
    return { operationId: workflowId, type, status: 'running' };
  }

  /** Runs the threshold scan now (the same workflow the schedule runs). */
  async startScan(opts: { portfolioId?: string; kinds?: ScanKind[] }, actor: string): Promise<{ operationId: string; type: 'scan'; status: 'running' }> {
    if (opts.portfolioId) {
      const [exists] = await this.orm.em.fork().execute('select 1 from portfolios where id = ?', [opts.portfolioId]);
      if (!exists) throw new DomainError('NotFound', 'portfolio not found');
    }
    const operationId = `scan-manual-${uuidv7()}`;
    const input: ScanInput = { portfolioId: opts.portfolioId, kinds: opts.kinds ?? ['fork', 'merge'], actor };
    await this.client.workflow.start('scan', {
      workflowId: operationId,
      taskQueue: this.taskQueue,
      args: [input],
      typedSearchAttributes: operationAttributes('scan', { portfolio: opts.portfolioId }),
    });
    return { operationId, type: 'scan', status: 'running' };
  }

  async get(operationId: string): Promise<OperationView> {
    const handle = this.client.workflow.getHandle(operationId);
    let desc;
    try {
      desc = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new DomainError('NotFound', 'operation not found');
      throw err;
    }
    const type = TYPE_OF[desc.type];
    if (!type) throw new DomainError('NotFound', 'operation not found');
    const view: OperationView = {
      operationId, type, status: 'running', startedAt: desc.startTime.toISOString(),
      closedAt: desc.closeTime?.toISOString(), steps: [],
      searchAttributes: {
        portfolioId: desc.typedSearchAttributes.get(SA.portfolio), accountId: desc.typedSearchAttributes.get(SA.account),
        unitId: desc.typedSearchAttributes.get(SA.unit),
      },
    };
    try {
      view.steps = (await handle.query(progressQuery)).steps;
    } catch {
      // A run that failed before its first step has nothing to report.
    }
    switch (desc.status.name) {
      case 'RUNNING':
      case 'CONTINUED_AS_NEW':
        return view;
      case 'COMPLETED': {
        const result = (await handle.result()) as { steps?: StepRecord[] };
        return { ...view, status: 'completed', result, steps: result.steps ?? view.steps };
      }
      case 'CANCELLED':
        return { ...view, status: 'cancelled' };
      default: {
        const failure = await handle.result().then(() => undefined, (e: unknown) => e);
        const cause = failure instanceof WorkflowFailedError ? failure.cause : undefined;
        const app = cause instanceof ApplicationFailure ? cause : undefined;
        return {
          ...view,
          status: app?.type === COMPENSATED ? 'compensated' : 'failed',
          error: { type: app?.type ?? desc.status.name, message: app?.message ?? innermost(cause) ?? 'the operation failed' },
        };
      }
    }
  }

  async list(filter: { portfolioId?: string; type?: OperationType | 'scan'; status?: OperationStatus; limit: number }): Promise<OperationView[]> {
    const clauses = [`WorkflowType IN ('fork', 'merge', 'reinvest', 'scan', 'quarterlyReinvestment')`];
    // Values are a validated UUID and enums; quotes are stripped all the same.
    const q = (v: string) => `'${v.replace(/'/g, '')}'`;
    if (filter.portfolioId) clauses.push(`AllusePortfolioId = ${q(filter.portfolioId)}`);
    if (filter.type) clauses.push(`AlluseOperationType = ${q(filter.type)}`);
    const temporalStatus = { running: 'Running', completed: 'Completed', failed: 'Failed', compensated: 'Failed', cancelled: 'Canceled' };
    if (filter.status) clauses.push(`ExecutionStatus = ${q(temporalStatus[filter.status])}`);
    const items: OperationView[] = [];
    for await (const wf of this.client.workflow.list({ query: clauses.join(' AND '), pageSize: filter.limit })) {
      const view = await this.get(wf.workflowId);
      if (!filter.status || view.status === filter.status) items.push(view);
      if (items.length >= filter.limit) break;
    }
    return items;
  }

  async cancel(operationId: string): Promise<void> {
    const view = await this.get(operationId);
    if (view.status !== 'running') throw new DomainError('Conflict', `the operation is ${view.status}`, { operationId });
    await this.client.workflow.getHandle(operationId).cancel();
  }

  async events(portfolioId: string, type?: OperationType): Promise<Record<string, unknown>[]> {
    const em = this.orm.em.fork();
    const [exists] = await em.execute('select 1 from portfolios where id = ?', [portfolioId]);
    if (!exists) throw new DomainError('NotFound', 'portfolio not found');
    const tables: [OperationType, string][] = [['fork', 'forking_events'], ['merge', 'merging_events'], ['reinvestment', 'reinvestment_events']];
    const out: Record<string, unknown>[] = [];
    for (const [t, table] of tables) {
      if (type && type !== t) continue;
      const rows = await em.execute<Record<string, unknown>[]>(`select * from ${table} where portfolio_id = ? order by started_at desc limit 500`, [portfolioId]);
      out.push(...rows.map((r) => ({ type: t, ...camel(r) })));
    }
    return out.sort((a, b) => String(b.startedAt).localeCompare(String(a.startedAt)));
  }
}

const MONEY_COLUMNS = new Set(['surplus', 'retained', 'fork_amount', 'child_gen', 'child_com', 'threshold', 'total', 'reinvestable', 'reserve', 'contracts', 'leaps']);
const TIME_COLUMNS = new Set(['started_at', 'completed_at']);

function camel(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [
      k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
      v === null ? null : MONEY_COLUMNS.has(k) ? formatMoney(fromDb(v as string)) : TIME_COLUMNS.has(k) ? pgIso(v as string) : v,
    ]),
  );
}

function innermost(err: unknown): string | undefined {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message;
}

