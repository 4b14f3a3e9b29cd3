import { type Client, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { MikroORM } from '@mikro-orm/postgresql';
import { pgIso } from '../db/sql';
import { DomainError } from '../domain/errors';
import { formatMoney, fromDb } from '../domain/money';
import { COMPENSATED, type OperationType, type StepRecord } from '../shared/operations';
import { progressQuery } from '../shared/queries';
import { SA } from '../shared/search-attributes';
import { EXPIRED, REJECTED } from '../shared/tasks';
import type { TaskService, TaskView } from './tasks';

/** Every workflow type the API reports, with its operation type. */
const TYPE_OF: Record<string, ViewType> = { fork: 'fork', merge: 'merge', reinvest: 'reinvestment', scan: 'scan', quarterlyReinvestment: 'quarterly-reinvestment', importStatement: 'import' };
type ViewType = OperationType | 'scan' | 'quarterly-reinvestment' | 'import';
export type OperationStatus = 'running' | 'waiting' | 'completed' | 'failed' | 'compensated' | 'cancelled' | 'expired';

export interface OperationView {
  operationId: string;
  type: ViewType;
  status: OperationStatus;
  startedAt: string;
  closedAt?: string;
  steps: StepRecord[];
  result?: unknown;
  error?: { type: string; message: string };
  /** The tasks (approvals, broker steps) the operation opened, newest first. */
  tasks?: TaskView[];
  searchAttributes?: Record<string, string | undefined>;
}

/** Follows and cancels the protocol workflows, and lists their records; the API's read side of Temporal. */
export class OperationsService {
  constructor(
    private readonly orm: MikroORM,
    private readonly client: Client,
    private readonly tasks?: TaskService,
  ) {}

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
    if (this.tasks && type !== 'scan' && type !== 'quarterly-reinvestment' && type !== 'import') view.tasks = await this.tasks.list({ operationId });
    switch (desc.status.name) {
      case 'RUNNING':
      case 'CONTINUED_AS_NEW':
        return desc.typedSearchAttributes.get(SA.status) === 'waiting' ? { ...view, status: 'waiting' } : view;
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
          status: app?.type === COMPENSATED ? 'compensated' : app?.type === REJECTED ? 'cancelled' : app?.type === EXPIRED ? 'expired' : 'failed',
          error: { type: app?.type ?? desc.status.name, message: app?.message ?? innermost(cause) ?? 'the operation failed' },
        };
      }
    }
  }

  async list(filter: { portfolioId?: string; type?: OperationType | 'scan' | 'import'; status?: OperationStatus; limit: number }): Promise<OperationView[]> {
    const clauses = [`WorkflowType IN ('fork', 'merge', 'reinvest', 'scan', 'quarterlyReinvestment', 'importStatement')`];
    // Values are a validated UUID and enums; quotes are stripped all the same.
    const q = (v: string) => `'${v.replace(/'/g, '')}'`;
    if (filter.portfolioId) clauses.push(`AllusePortfolioId = ${q(filter.portfolioId)}`);
    if (filter.type) clauses.push(`AlluseOperationType = ${q(filter.type)}`);
    // Rejections and expiries end as Failed runs in Temporal (so the business key may run again); `waiting` is a search attribute.
    const temporalStatus = {
      running: `'Running'`, waiting: `'Running'`, completed: `'Completed'`, failed: `'Failed'`, compensated: `'Failed'`,
      cancelled: `'Canceled', 'Failed'`, expired: `'Failed'`,
    };
    if (filter.status) clauses.push(`ExecutionStatus IN (${temporalStatus[filter.status]})`);
    if (filter.status === 'waiting') clauses.push(`AlluseOperationStatus = 'waiting'`);
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
    if (view.status !== 'running' && view.status !== 'waiting') throw new DomainError('Conflict', `the operation is ${view.status}`, { operationId });
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

