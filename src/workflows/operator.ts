import {
  ActivityFailure, ApplicationFailure, CancellationScope, condition, isCancellation, log, setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { OperationOutcome, OperationRef } from '../activities/tasks';
import { COMPENSATED, type OperationType } from '../shared/operations';
import { SA } from '../shared/search-attributes';
import { taskDecidedSignal } from '../shared/queries';
import { type BrokerAction, EXPIRED, type OperationSetup, REJECTED, type TaskState } from '../shared/tasks';
import { db, ensure } from './proxies';
import type { Saga } from './saga';
import type { StartPlan } from './start-plan';

const HOUR = 3_600_000;

/**
 * A person inside an operation (docs/domain.md section 8). Reads the
 * portfolio's operator settings once, runs the approval, turns broker steps
 * into tasks when the broker is manual, and reports the operation's
 * lifecycle as events. Every wait is a durable timer plus a signal: no
 * polling, and a worker restart (or a deploy) resumes the wait where it was.
 */
export class Operator {
  private readonly decisions = new Map<string, TaskState>();
  private readonly ref: OperationRef;

  private constructor(
    type: OperationType,
    portfolioId: string,
    subjectId: string,
    readonly setup: OperationSetup,
  ) {
    const { workflowId, runId } = workflowInfo();
    this.ref = { workflowId, runId, type, portfolioId, subjectId };
  }

  /** Registers the decision signal first (a buffered signal is delivered as soon as its handler exists), then reads the settings. */
  static async start(type: OperationType, portfolioId: string, subjectId: string): Promise<Operator> {
    const early: TaskState[] = [];
    setHandler(taskDecidedSignal, (t) => void early.push(t));
    const { workflowId, runId } = workflowInfo();
    const setup = await db.operationSetup({ workflowId, runId, type, portfolioId, subjectId });
    const op = new Operator(type, portfolioId, subjectId, setup);
    for (const t of early) op.decisions.set(t.id, t);
    setHandler(taskDecidedSignal, (t) => void op.decisions.set(t.id, t));
    return op;
  }

  get manual(): boolean {
    return this.setup.broker === 'manual';
  }

  /** Runs the operation and reports how it ended (`operation.completed`, `.compensated`, `.failed`, `.cancelled`, `.expired`). */
  async track<T extends { status: string }>(body: () => Promise<T>): Promise<T> {
    try {
      const result = await body();
      // Not cancellable: a cancellation that arrived after the point of no return must not turn a completed run into a cancelled one.
      await CancellationScope.nonCancellable(() => ensure.operationEnded(this.ref, result.status === 'skipped' ? 'skipped' : 'completed'));
      return result;
    } catch (err) {
      const outcome = outcomeOf(err);
      await CancellationScope.nonCancellable(() => ensure.operationEnded(this.ref, outcome, { reason: reasonOf(err) }));
      throw err;
    }
  }

  /**
   * With approval on: opens an approval task showing the plan and waits. A
   * rejection ends the operation (`Rejected`, shown as cancelled), no
   * decision by the deadline too (`Expired`); nothing has moved either way.
   * While it waits, `startPlan` answers the `plan` update that no plan is
   * fixed before the approval.
   */
  async approve(saga: Saga, plan: () => Promise<Record<string, unknown> & { skip?: true }>, startPlan?: StartPlan): Promise<void> {
    if (!this.setup.approval) return;
    const shown = await plan();
    if (shown.skip) return; // nothing to approve (a reinvestment below the minimum records its skip)
    startPlan?.waitingForApproval(true);
    // Preliminary: nothing moves here, so a refusal at the first step after it is still a refusal, not a compensation.
    await saga.preliminaryStep('approval', async () => {
      const task = await this.open({ taskKey: 'approval', kind: 'approval', plan: shown, dueInHours: this.setup.approvalTimeoutHours });
      const decided = await this.wait(task, { expires: true });
      if (decided.decision !== 'approve') {
        throw ApplicationFailure.create({
          type: REJECTED, nonRetryable: true,
          message: `rejected by ${decided.decidedBy ?? 'an operator'}${decided.note ? `: ${decided.note}` : ''}`,
          details: [{ taskId: task.id, decidedBy: decided.decidedBy, note: decided.note }],
        });
      }
    }).finally(() => startPlan?.waitingForApproval(false));
  }

  /**
   * A broker step as a person's task: waits for `done` (returned, with the
   * broker's reference) or `failed` (a business rejection: the saga
   * compensates). Broker tasks do not expire; past their due time they keep
   * reminding. The undo, registered before the task opens, runs only when
   * the step was reported done: a failed step moved nothing to put back.
   */
  async brokerStep(saga: Saga, name: string, action: BrokerAction, reversal?: BrokerAction): Promise<void> {
    let done = false;
    await saga.step(
      name,
      async () => {
        const task = await this.open({ taskKey: name, kind: 'broker', broker: action, dueInHours: this.setup.approvalTimeoutHours });
        let decided: TaskState;
        try {
          decided = await this.wait(task, { expires: false });
        } catch (err) {
          // Cancelled after the person reported it done (the decision committed first): it happened, so it is undone.
          if (this.decisions.get(task.id)?.decision === 'done') done = true;
          throw err;
        }
        if (decided.decision !== 'done') {
          throw ApplicationFailure.create({
            type: 'BrokerRejected', nonRetryable: true,
            message: `the broker step "${name}" was reported failed${decided.note ? `: ${decided.note}` : ''}`,
          });
        }
        done = true;
      },
      reversal && (async (reason) => {
        if (done) await this.untilDone(`undo:${name}`, reversal, `This undoes "${name}" because ${reason}.`);
      }),
    );
  }

  /**
   * A broker step that must happen (a compensation, or a step after the
   * point of no return): a `failed` report opens the same instruction again
   * as a new task, until one is done.
   */
  async untilDone(key: string, action: BrokerAction, context?: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const again = attempt > 1 ? ` Attempt ${attempt}: the previous one was reported failed; this step cannot be skipped.` : '';
      const task = await this.open({
        taskKey: attempt > 1 ? `${key}#${attempt}` : key, kind: 'broker', broker: action,
        context: `${context ?? ''}${again}`.trim() || undefined, dueInHours: this.setup.approvalTimeoutHours,
      });
      const decided = await CancellationScope.nonCancellable(() => this.wait(task, { expires: false }));
      if (decided.decision === 'done') return;
      log.warn('a broker step that must happen was reported failed; opening it again', { key, attempt });
    }
  }

  private open(req: { taskKey: string; kind: 'approval' | 'broker'; plan?: Record<string, unknown>; broker?: BrokerAction; context?: string; dueInHours: number }): Promise<TaskState> {
    const { workflowId, runId, type, portfolioId } = this.ref;
    return ensure.openTask({ ...req, operationId: workflowId, runId, portfolioId, operationType: type, at: new Date().toISOString() });
  }

  /**
   * Waits for the task's decision: the signal, or (should a signal be lost)
   * the decision recorded in PostgreSQL, read at every reminder and at the
   * deadline. While waiting the operation's `AlluseOperationStatus` search
   * attribute is `waiting`.
   */
  private async wait(task: TaskState, opts: { expires: boolean }): Promise<TaskState> {
    if (task.status !== 'open') return this.settled(task);
    const due = Date.parse(task.dueAt);
    const every = this.setup.reminderHours * HOUR;
    let nextReminder = Date.parse(task.createdAt) + every;
    while (nextReminder <= Date.now()) nextReminder += every;
    upsertSearchAttributes([{ key: SA.status, value: 'waiting' }]);
    try {
      for (;;) {
        const wakeAt = opts.expires ? Math.min(due, nextReminder) : nextReminder;
        if (await condition(() => this.decisions.has(task.id), Math.max(wakeAt - Date.now(), 1))) return this.decisions.get(task.id)!;
        if (opts.expires && Date.now() >= due) {
          const after = await ensure.expireTask(task.id, new Date().toISOString());
          return this.settled(after);
        }
        const now = await ensure.remindTask(task.id, new Date().toISOString());
        if (now.status !== 'open') return this.settled(now);
        nextReminder += every;
      }
    } catch (err) {
      if (isCancellation(err)) {
        const after = await CancellationScope.nonCancellable(() => ensure.cancelTask(task.id, 'the operation was cancelled'));
        if (after.decision) this.decisions.set(after.id, after);
      }
      throw err;
    } finally {
      upsertSearchAttributes([{ key: SA.status, value: 'running' }]);
    }
  }

  private settled(task: TaskState): TaskState {
    if (task.status === 'expired') {
      throw ApplicationFailure.create({ type: EXPIRED, nonRetryable: true, message: `no decision by ${task.dueAt}: the operation expired`, details: [{ taskId: task.id }] });
    }
    if (task.status === 'cancelled') throw ApplicationFailure.create({ type: REJECTED, nonRetryable: true, message: 'the task was cancelled' });
    return task;
  }
}

function failureOf(err: unknown): ApplicationFailure | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

function outcomeOf(err: unknown): OperationOutcome {
  if (isCancellation(err)) return 'cancelled';
  switch (failureOf(err)?.type) {
    case COMPENSATED:
      return 'compensated';
    case REJECTED:
      return 'cancelled';
    case EXPIRED:
      return 'expired';
    default:
      return 'failed';
  }
}

function reasonOf(err: unknown): string {
  return failureOf(err)?.message ?? (err as Error)?.message ?? String(err);
}
