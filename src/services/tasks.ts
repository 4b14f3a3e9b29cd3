import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { appendAudit } from '../audit/audit';
import { pgIso } from '../db/sql';
import { DomainError } from '../domain/errors';
import { formatMoney, fromDb } from '../domain/money';
import type { Logger } from '../infra/logger';
import { metrics } from '../infra/metrics';
import { taskDecidedSignal } from '../shared/queries';
import { DECISIONS, type TaskDecision, type TaskKind, type TaskState, type TaskStatus } from '../shared/tasks';

interface Row {
  id: string; operation_id: string; run_id: string; portfolio_id: string; kind: TaskKind; operation_type: string; title: string; instructions: string;
  plan: Record<string, unknown> | null; amount: string | null; from_account_id: string | null; to_account_id: string | null;
  status: TaskStatus; decision: TaskDecision | null; broker_reference: string | null; note: string | null; created_at: string;
  due_at: string; decided_at: string | null; decided_by: string | null; reminders: number;
}

export interface TaskView {
  id: string;
  operationId: string;
  portfolioId: string;
  kind: TaskKind;
  operationType: string;
  title: string;
  instructions: string;
  plan?: Record<string, unknown>;
  amount?: string;
  fromAccountId?: string;
  toAccountId?: string;
  status: TaskStatus;
  decision?: TaskDecision;
  brokerReference?: string;
  note?: string;
  reminders: number;
  createdAt: string;
  dueAt: string;
  decidedAt?: string;
  decidedBy?: string;
}

function view(r: Row): TaskView {
  return {
    id: r.id, operationId: r.operation_id, portfolioId: r.portfolio_id, kind: r.kind, operationType: r.operation_type, title: r.title,
    instructions: r.instructions, plan: r.plan ?? undefined, amount: r.amount === null ? undefined : formatMoney(fromDb(r.amount)),
    fromAccountId: r.from_account_id ?? undefined, toAccountId: r.to_account_id ?? undefined, status: r.status,
    decision: r.decision ?? undefined, brokerReference: r.broker_reference ?? undefined, note: r.note ?? undefined, reminders: r.reminders,
    createdAt: pgIso(r.created_at), dueAt: pgIso(r.due_at), decidedAt: r.decided_at ? pgIso(r.decided_at) : undefined,
    decidedBy: r.decided_by ?? undefined,
  };
}

export interface Decision {
  decision: TaskDecision;
  brokerReference?: string;
  note?: string;
}

/**
 * Tasks for people (docs/domain.md section 8). A decision is recorded in
 * PostgreSQL first, with its audit row, in one transaction that only an open
 * task passes (so a second decision is a 409 and changes nothing); then the
 * waiting workflow is signalled. Should the signal not arrive, the workflow
 * reads the recorded decision at its next reminder or deadline.
 */
export class TaskService {
  constructor(
    private readonly orm: MikroORM,
    private readonly client: Client,
    private readonly log?: Logger,
  ) {}

  async list(filter: { portfolioId?: string; status?: TaskStatus; kind?: TaskKind; operationId?: string; limit?: number }): Promise<TaskView[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [col, value] of [['portfolio_id', filter.portfolioId], ['status', filter.status], ['kind', filter.kind], ['operation_id', filter.operationId]] as const) {
      if (value === undefined) continue;
      where.push(`${col} = ?`);
      params.push(value);
    }
    const rows = await this.orm.em.fork().execute<Row[]>(
      `select * from tasks ${where.length ? `where ${where.join(' and ')}` : ''} order by created_at desc, id desc limit ?`,
      [...params, filter.limit ?? 200],
    );
    return rows.map(view);
  }

  async get(id: string): Promise<TaskView> {
    return view(await load(this.orm.em.fork(), id));
  }

  async decide(id: string, d: Decision, actor: string): Promise<TaskView> {
    await this.closeIfRunEnded(await load(this.orm.em.fork(), id));
    const decided = await this.orm.em.fork().transactional(async (em) => {
      const task = await load(em, id, true);
      if (task.status !== 'open') {
        throw new DomainError('Conflict', `the task is already ${task.status}${task.decision ? ` (${task.decision})` : ''}`, { operationId: task.operation_id });
      }
      if (!DECISIONS[task.kind].includes(d.decision)) {
        throw new DomainError('NotEligible', `a ${task.kind} task takes ${DECISIONS[task.kind].map((x) => `"${x}"`).join(' or ')}, not "${d.decision}"`);
      }
      if (d.decision === 'done' && !d.brokerReference) {
        throw new DomainError('ValidationError', 'report the broker\'s reference with "done"', { path: 'body.brokerReference' });
      }
      const status: TaskStatus = 'done';
      const [row] = await em.execute<Row[]>(
        `update tasks set status = ?, decision = ?, broker_reference = ?, note = ?, decided_at = now(), decided_by = ?
          where id = ? and status = 'open' returning *`,
        [status, d.decision, d.brokerReference ?? null, d.note ?? null, actor, id],
      );
      await appendAudit(em, {
        actor, portfolioId: task.portfolio_id, action: 'task.decided', targetType: 'task', targetId: id,
        details: { operationId: task.operation_id, kind: task.kind, decision: d.decision, brokerReference: d.brokerReference, note: d.note },
      });
      return row!;
    });
    metrics.tasksDecided.inc({ kind: decided.kind, decision: decided.decision! });
    await this.signal(decided);
    return view(decided);
  }

  /**
   * A task whose run ended without it (terminated, reset, timed out) can no
   * longer be decided: it is closed as cancelled and the decision refused
   * (409), instead of recording a decision nothing will ever act on.
   */
  private async closeIfRunEnded(task: Row): Promise<void> {
    if (task.status !== 'open') return;
    let running: boolean;
    try {
      running = (await this.client.workflow.getHandle(task.operation_id, task.run_id).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) return; // Temporal unreachable: record the decision; the run reads it when it wakes.
      running = false;
    }
    if (running) return;
    await this.orm.em.fork().transactional(async (em) => {
      const [row] = await em.execute<Row[]>(
        `update tasks set status = 'cancelled', note = coalesce(note, 'the operation ended without this task'), decided_at = now()
          where id = ? and status = 'open' returning *`, [task.id],
      );
      if (row) await appendAudit(em, { actor: 'system:engine', portfolioId: row.portfolio_id, action: 'task.cancelled', targetType: 'task', targetId: row.id, details: { operationId: row.operation_id, reason: 'run ended' } });
    });
    throw new DomainError('Conflict', 'the operation that opened this task has ended; the task is closed', { operationId: task.operation_id });
  }

  /** Tells the waiting workflow; a failure here loses nothing (the workflow reads the decision at its next reminder or deadline). */
  private async signal(r: Row): Promise<void> {
    const state: TaskState = {
      id: r.id, status: r.status, decision: r.decision ?? undefined, brokerReference: r.broker_reference ?? undefined, note: r.note ?? undefined,
      decidedBy: r.decided_by ?? undefined, createdAt: pgIso(r.created_at), dueAt: pgIso(r.due_at),
    };
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await this.client.workflow.getHandle(r.operation_id).signal(taskDecidedSignal, state);
        return;
      } catch (err) {
        if (attempt === 3) {
          this.log?.warn('the decision is recorded but the workflow could not be signalled; it reads the decision at its next reminder or deadline', {
            taskId: r.id, operationId: r.operation_id, error: (err as Error).message,
          });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }
}

async function load(em: EntityManager, id: string, lock = false): Promise<Row> {
  const [row] = await em.execute<Row[]>(`select * from tasks where id = ?${lock ? ' for update' : ''}`, [id]);
  if (!row) throw new DomainError('NotFound', 'task not found');
  return row;
}
