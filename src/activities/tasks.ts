import type { EntityManager } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { appendAudit } from '../audit/audit';
import { DomainError } from '../domain/errors';
import { formatMoney, fromDb } from '../domain/money';
import type { StrategyName } from '../domain/settings';
import { metrics } from '../infra/metrics';
import { emitEvent } from '../notify/events';
import { forkPlan, mergePlan, reinvestPlan } from '../services/plans';
import type { ForkInput, MergeInput, OperationType, ReinvestInput, RunRef } from '../shared/operations';
import { type OpenTaskRequest, type OperationSetup, type TaskState, describeTask } from '../shared/tasks';
import { type ActivityDeps, portfolioContext } from './common';

export interface TaskRow {
  id: string; operation_id: string; run_id: string; task_key: string; portfolio_id: string; kind: 'approval' | 'broker';
  operation_type: string; title: string; instructions: string; plan: Record<string, unknown> | null; amount: string | null;
  from_account_id: string | null; to_account_id: string | null; status: TaskState['status']; decision: TaskState['decision'] | null;
  broker_reference: string | null; note: string | null; created_at: Date; due_at: Date; reminded_at: Date | null; reminders: number;
  decided_at: Date | null; decided_by: string | null;
}

export function taskState(r: TaskRow): TaskState {
  return {
    id: r.id, status: r.status, decision: r.decision ?? undefined, brokerReference: r.broker_reference ?? undefined,
    note: r.note ?? undefined, decidedBy: r.decided_by ?? undefined,
    createdAt: new Date(r.created_at).toISOString(), dueAt: new Date(r.due_at).toISOString(),
  };
}

/** The outcome an operation reports when it ends (also the `operation.<outcome>` event). */
export type OperationOutcome = 'completed' | 'skipped' | 'compensated' | 'failed' | 'cancelled' | 'expired';

export interface OperationRef extends RunRef {
  type: OperationType;
  portfolioId: string;
  /** The account or unit the operation acts on. */
  subjectId: string;
}

/**
 * The activities of operators in the loop: what an operation reads of its
 * portfolio's operator settings, the plan an approver sees, the tasks a
 * person decides (opened once per key, reminded, expired, cancelled) and the
 * operation's lifecycle events. Database steps only; decisions arrive from
 * the API (PostgreSQL first, then a signal).
 */
export function createTaskActivities({ orm, market, now = () => new Date() }: ActivityDeps) {
  /** Read once when an operation starts; also emits `operation.started` (once per run). */
  async function operationSetup(op: OperationRef): Promise<OperationSetup> {
    return orm.em.fork().transactional(async (em) => {
      const { settings } = await portfolioContext(em, op.portfolioId);
      const first = await emitEvent(em, {
        type: 'operation.started', portfolioId: op.portfolioId, dedupeKey: `op:${op.workflowId}:${op.runId}:started`,
        data: { operationId: op.workflowId, type: op.type, subjectId: op.subjectId },
      });
      if (first) metrics.operationsStarted.inc({ type: op.type });
      return {
        approval: settings.approvals[op.type], broker: settings.broker,
        approvalTimeoutHours: settings.approvalTimeoutHours, reminderHours: settings.reminderHours,
      };
    });
  }

  /**
   * What the approver is asked to approve: the dry run's plan as of now. Not
   * eligible now is a business rejection; a reinvestment with nothing to
   * invest needs no approval (`skip`: it runs on and records its skip).
   */
  async function approvalPlan(
    req: { type: 'fork'; input: ForkInput } | { type: 'merge'; input: MergeInput } | { type: 'reinvestment'; input: ReinvestInput },
  ): Promise<Record<string, unknown> & { skip?: true }> {
    const em = orm.em.fork();
    if (req.type === 'reinvestment') {
      const { reasons, view } = await reinvestPlan(em, market, req.input.accountId, req.input.quarter, req.input.strategy as StrategyName | undefined);
      if (reasons.length === 0 && view.plan.skipped) return { ...view, skip: true };
      return eligibleOnly(view);
    }
    const { view } = req.type === 'fork' ? await forkPlan(em, req.input.accountId, now()) : await mergePlan(em, req.input.unitId, now());
    return eligibleOnly(view);
  }

  /** Opens the task of `taskKey` (or returns it as it stands: a retried step opens nothing new). */
  async function openTask(req: OpenTaskRequest & { at?: string }): Promise<TaskState> {
    return orm.em.fork().transactional(async (em) => {
      const [existing] = await em.execute<TaskRow[]>('select * from tasks where run_id = ? and task_key = ?', [req.runId, req.taskKey]);
      if (existing) return taskState(existing);
      const text = describeTask(req);
      const id = uuidv7();
      const created = req.at ? new Date(req.at) : now();
      const due = new Date(created.getTime() + req.dueInHours * 3_600_000);
      const [row] = await em.execute<TaskRow[]>(
        `insert into tasks (id, operation_id, run_id, task_key, portfolio_id, kind, operation_type, title, instructions, plan, amount,
           from_account_id, to_account_id, created_at, due_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning *`,
        [id, req.operationId, req.runId, req.taskKey, req.portfolioId, req.kind, req.operationType, text.title, text.instructions,
          req.plan ? JSON.stringify(req.plan) : null, text.amount ?? null, text.fromAccountId ?? null, text.toAccountId ?? null, created, due],
      );
      const data = taskEventData(row!);
      await emitEvent(em, { type: 'task.created', portfolioId: req.portfolioId, dedupeKey: `task:${id}:created`, data });
      await emitEvent(em, { type: 'operation.waiting', portfolioId: req.portfolioId, dedupeKey: `task:${id}:waiting`, data: { operationId: req.operationId, type: req.operationType, taskId: id, kind: req.kind } });
      await appendAudit(em, {
        actor: 'system:engine', portfolioId: req.portfolioId, action: 'task.opened', targetType: 'task', targetId: id,
        details: { operationId: req.operationId, kind: req.kind, title: text.title },
      });
      return taskState(row!);
    });
  }

  /**
   * A reminder (the `task.due` event) at `at`, the workflow's time; returns
   * the task, so a decision whose signal never arrived is picked up here.
   */
  async function remindTask(taskId: string, at?: string): Promise<TaskState> {
    const when = at ? new Date(at) : now();
    return orm.em.fork().transactional(async (em) => {
      // A re-run of the same reminder (a worker that died before recording it) changes nothing: same time, same key.
      const [row] = await em.execute<TaskRow[]>(
        `update tasks set reminders = reminders + 1, reminded_at = ? where id = ? and status = 'open'
            and (reminded_at is null or reminded_at < ?) returning *`,
        [when, taskId, when],
      );
      if (!row) return taskState(await loadTask(em, taskId));
      await emitEvent(em, {
        type: 'task.due', portfolioId: row.portfolio_id, dedupeKey: `task:${taskId}:reminder-at:${when.toISOString()}`,
        data: { ...taskEventData(row), reminder: row.reminders, at: when.toISOString(), overdue: when >= new Date(row.due_at) },
      });
      return taskState(row);
    });
  }

  /** The approval's deadline: expires the task unless a decision was recorded first (then that decision stands). */
  async function expireTask(taskId: string, at?: string): Promise<TaskState> {
    return orm.em.fork().transactional(async (em) => {
      const [row] = await em.execute<TaskRow[]>(
        `update tasks set status = 'expired', decided_at = ?, decided_by = 'system:deadline' where id = ? and status = 'open' returning *`,
        [at ? new Date(at) : now(), taskId],
      );
      if (!row) return taskState(await loadTask(em, taskId));
      await appendAudit(em, { actor: 'system:deadline', portfolioId: row.portfolio_id, action: 'task.expired', targetType: 'task', targetId: taskId, details: { operationId: row.operation_id } });
      return taskState(row);
    });
  }

  /**
   * The operation was cancelled while the task was open. Returns the task as
   * recorded: a decision that committed first (a broker step reported done
   * whose signal had not arrived) stands, and the workflow undoes it.
   */
  async function cancelTask(taskId: string, reason: string): Promise<TaskState> {
    return orm.em.fork().transactional(async (em) => {
      const [row] = await em.execute<TaskRow[]>(
        `update tasks set status = 'cancelled', note = coalesce(note, ?), decided_at = ? where id = ? and status = 'open' returning *`,
        [reason.slice(0, 2000), now(), taskId],
      );
      if (!row) return taskState(await loadTask(em, taskId));
      await appendAudit(em, { actor: 'system:engine', portfolioId: row.portfolio_id, action: 'task.cancelled', targetType: 'task', targetId: taskId, details: { operationId: row.operation_id, reason } });
      return taskState(row);
    });
  }

  /** The operation's last word: `operation.<outcome>` (once per run) and the outcome counter. */
  async function operationEnded(op: OperationRef, outcome: OperationOutcome, detail: Record<string, unknown> = {}): Promise<void> {
    const type = outcome === 'skipped' ? 'operation.completed' : (`operation.${outcome}` as const);
    const emitted = await orm.em.fork().transactional((em) =>
      emitEvent(em, {
        type, portfolioId: op.portfolioId, dedupeKey: `op:${op.workflowId}:${op.runId}:ended`,
        data: { operationId: op.workflowId, type: op.type, subjectId: op.subjectId, outcome, ...detail },
      }),
    );
    if (emitted) metrics.operations.inc({ type: op.type, outcome });
  }

  return { steps: { operationSetup, approvalPlan }, tasks: { openTask, remindTask, expireTask, cancelTask, operationEnded } };
}

function eligibleOnly<V extends { eligible: boolean; reasons: string[] }>(view: V): V {
  if (!view.eligible) throw new DomainError('NotEligible', `not eligible: ${view.reasons.join('; ')}`, { reasons: view.reasons });
  return view;
}

async function loadTask(em: EntityManager, taskId: string): Promise<TaskRow> {
  const [row] = await em.execute<TaskRow[]>('select * from tasks where id = ?', [taskId]);
  if (!row) throw new DomainError('NotFound', `task ${taskId} not found`);
  return row;
}

function taskEventData(r: TaskRow): Record<string, unknown> {
  return {
    taskId: r.id, operationId: r.operation_id, kind: r.kind, title: r.title, instructions: r.instructions,
    amount: r.amount === null ? undefined : formatMoney(fromDb(r.amount)), dueAt: new Date(r.due_at).toISOString(),
  };
}
