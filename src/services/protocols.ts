import { type Client, type WorkflowHandle, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { DomainError } from '../domain/errors';
import type { StrategyName } from '../domain/settings';
import type { MarketDataProvider } from '../market/provider';
import {
  type ForkInput, type MergeInput, type OperationType, type ReinvestInput, type ScanInput, type ScanKind, workflowIds,
} from '../shared/operations';
import { QUARTER_PATTERN, compareQuarters, lastClosedQuarter, quarterOf } from '../shared/quarters';
import { planQuery, planUpdate } from '../shared/queries';
import { operationAttributes } from '../shared/search-attributes';
import type { FixedPlan } from '../shared/start-plan';
import { forkPlan, mergePlan, reinvestPlan } from './plans';
import type { ProjectionService } from './projections';

export interface Started {
  operationId: string;
  type: OperationType;
  status: 'running';
  /** The plan the run fixed, when it answered within `planWaitMs`; absent otherwise (the operation runs on either way). */
  plan?: FixedPlan;
}

/** A protocol request ends in a dry run's answer or a started workflow; the route chooses the status code. */
export type ProtocolOutcome = { dryRun: true; result: Record<string, unknown> } | { dryRun: false; result: Started };

export interface ProtocolOptions {
  taskQueue: string;
  market: MarketDataProvider;
  projections?: ProjectionService;
  /** The engine's reinvestment calendar (REINVEST_TIMEZONE): which quarter has closed. */
  reinvestTimezone?: string;
  now?: () => Date;
  /**
   * A client on the connection of a worker in this process that polls
   * `taskQueue` (`npm start`; see `eagerStartClient`). Starts go through it
   * with eager workflow start: the server hands the run's first workflow task
   * back with the start and that worker runs it at once, without the trip
   * through the server's task matching. Without it, starts are ordinary.
   */
  eagerClient?: Client;
  /** How long a start waits for the run's fixed plan before it answers without one (default 2000 ms; 0: it does not ask). */
  planWaitMs?: number;
}

/** Long enough for a healthy run's first workflow task (about 0.1 s on the dev server); short enough that a stopped worker costs a start little. */
const DEFAULT_PLAN_WAIT_MS = 2000;

const WORKFLOW_OF: Record<OperationType, string> = { fork: 'fork', merge: 'merge', reinvestment: 'reinvest' };

/**
 * Fork, merge and reinvestment requests: the dry run and the start of the
 * workflow. Eligibility comes from the same fact loader and the same domain
 * decisions the workflows' first steps use (which decide again, under locks).
 */
export class ProtocolService {
  private readonly now: () => Date;

  constructor(
    private readonly orm: MikroORM,
    private readonly client: Client,
    private readonly opts: ProtocolOptions,
  ) {
    this.now = opts.now ?? (() => new Date());
  }

  /** Fork: dry run, or start `fork-<accountId>-<seq>` (a running fork of the account is a Conflict). */
  async fork(accountId: string, req: { reason?: string; dryRun?: boolean; trigger?: 'scan' | 'manual' }, actor: string): Promise<ProtocolOutcome> {
    const now = this.now();
    const { loaded, decision, view } = await forkPlan(this.orm.em.fork(), accountId, now);
    if (req.dryRun) {
      return {
        dryRun: true,
        result: {
          ...view,
          // The impact, or why it cannot be computed exactly: a dry run never fails on its projection.
          ...(decision.eligible && this.opts.projections && await this.opts.projections.predictedImpactFields(loaded.portfolioId, accountId, decision.surplus)),
        },
      };
    }
    if (loaded.runningFork) throw new DomainError('Conflict', 'a fork of this account is already running', { operationId: loaded.runningFork });
    if (!decision.eligible) throw new DomainError('NotEligible', 'the account is not eligible to fork', { reasons: decision.reasons });
    const input: ForkInput = { accountId, portfolioId: loaded.portfolioId, seq: loaded.nextSeq, trigger: req.trigger ?? 'manual', actor, reason: req.reason };
    const started = await this.start('fork', workflowIds.fork(accountId, input.seq), input, { portfolio: loaded.portfolioId, account: accountId, unit: loaded.unitId });
    return { dryRun: false, result: started };
  }

  /** Merge: dry run, or start `merge-<unitId>`. */
  async merge(unitId: string, req: { reason?: string; dryRun?: boolean; trigger?: 'scan' | 'manual' }, actor: string): Promise<ProtocolOutcome> {
    const { loaded, decision, view } = await mergePlan(this.orm.em.fork(), unitId, this.now());
    if (req.dryRun) return { dryRun: true, result: view };
    if (loaded.candidate.status === 'merging') {
      throw new DomainError('Conflict', 'a merge of this unit is already running', { operationId: workflowIds.merge(unitId) });
    }
    if (!decision.eligible) throw new DomainError('NotEligible', 'the unit is not eligible to merge', { reasons: decision.reasons });
    const input: MergeInput = { unitId, portfolioId: loaded.portfolioId, trigger: req.trigger ?? 'manual', actor, reason: req.reason };
    return { dryRun: false, result: await this.start('merge', workflowIds.merge(unitId), input, { portfolio: loaded.portfolioId, unit: unitId }) };
  }

  /** Reinvestment of one account for one quarter (default: the last closed one): dry run, or start `reinvest-<accountId>-<quarter>`. */
  async reinvest(
    accountId: string,
    req: { strategy?: StrategyName; quarter?: string; dryRun?: boolean; trigger?: 'scan' | 'manual' },
    actor: string,
  ): Promise<ProtocolOutcome> {
    const tz = this.opts.reinvestTimezone ?? 'UTC';
    const quarter = req.quarter ?? lastClosedQuarter(this.now(), tz);
    if (!QUARTER_PATTERN.test(quarter)) throw new DomainError('ValidationError', 'quarter must look like 2026Q3', { path: 'body.quarter' });
    if (compareQuarters(quarter, quarterOf(this.now(), tz)) > 0) throw new DomainError('ValidationError', 'quarter is in the future', { path: 'body.quarter' });
    const { account, reasons, view } = await reinvestPlan(this.orm.em.fork(), this.opts.market, accountId, quarter, req.strategy);
    if (req.dryRun) return { dryRun: true, result: view };
    if (reasons.length) throw new DomainError('NotEligible', 'the account cannot be reinvested', { reasons });
    const input: ReinvestInput = { accountId, portfolioId: account.portfolioId, quarter, strategy: req.strategy, trigger: req.trigger ?? 'manual', actor };
    const started = await this.start('reinvestment', workflowIds.reinvest(accountId, quarter), input, { portfolio: account.portfolioId, account: accountId, unit: account.unitId ?? undefined });
    return { dryRun: false, result: started };
  }

  /** Runs the threshold scan now (the same workflow the schedule runs). */
  async startScan(req: { portfolioId?: string; kinds?: ScanKind[] }, actor: string): Promise<{ operationId: string; type: 'scan'; status: 'running' }> {
    if (req.portfolioId) {
      const [exists] = await this.orm.em.fork().execute('select 1 from portfolios where id = ?', [req.portfolioId]);
      if (!exists) throw new DomainError('NotFound', 'portfolio not found');
    }
    const operationId = `scan-manual-${uuidv7()}`;
    const input: ScanInput = { portfolioId: req.portfolioId, kinds: req.kinds ?? ['fork', 'merge'], actor };
    await this.client.workflow.start('scan', {
      workflowId: operationId,
      taskQueue: this.opts.taskQueue,
      args: [input],
      typedSearchAttributes: operationAttributes('scan', { portfolio: req.portfolioId }),
    });
    return { operationId, type: 'scan', status: 'running' };
  }

  /**
   * Starts the run (eagerly when a worker shares this process), then asks it
   * for its fixed plan. The start alone decides between 202 and 409; the plan
   * only adds to the 202.
   */
  private async start(type: OperationType, workflowId: string, input: unknown, attrs: { portfolio: string; account?: string; unit?: string }): Promise<Started> {
    const client = this.opts.eagerClient ?? this.client;
    let handle: WorkflowHandle;
    try {
      handle = await client.workflow.start(WORKFLOW_OF[type], {
        workflowId,
        taskQueue: this.opts.taskQueue,
        args: [input],
        // The id is the business key: a running or completed operation is never started twice (and a start
        // never attaches to the running one); only a failed (compensated) one may run again.
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        workflowIdConflictPolicy: 'FAIL',
        typedSearchAttributes: operationAttributes(type, attrs),
        requestEagerStart: this.opts.eagerClient !== undefined,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new DomainError('Conflict', `this ${type} is already running or done`, { operationId: workflowId });
      }
      throw err;
    }
    const plan = await this.fixedPlan(client, handle);
    return { operationId: workflowId, type, status: 'running', ...(plan && { plan }) };
  }

  /**
   * The plan the run fixed under its locks, asked with the `plan` update
   * right after the start and waited for at most `planWaitMs`. No plan (the
   * worker is down or busy, the run waits for an approval or ended without
   * one) is not a failure: the operation was started and runs on, and its
   * progress is at GET /v1/operations/:id. A run that closed in its first
   * workflow task (a skipped reinvestment, a refused fork) cannot take an
   * update; the `plan` query answers for it (after any update error, within the bound).
   */
  private async fixedPlan(client: Client, handle: WorkflowHandle): Promise<FixedPlan | undefined> {
    const waitMs = this.opts.planWaitMs ?? DEFAULT_PLAN_WAIT_MS;
    if (waitMs <= 0) return undefined;
    const deadline = Date.now() + waitMs;
    try {
      return (await client.withDeadline(deadline, () => handle.executeUpdate(planUpdate))).plan ?? undefined;
    } catch {
      // A run that closed in the same activation may answer the update with an error rather than "not found": ask the query, while time is left.
      if (Date.now() >= deadline) return undefined;
    }
    try {
      return (await client.withDeadline(deadline, () => handle.query(planQuery))).plan ?? undefined;
    } catch {
      return undefined;
    }
  }
}
