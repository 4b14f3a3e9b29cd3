import { condition, setHandler } from '@temporalio/workflow';
import { planQuery, planUpdate } from '../shared/queries';
import type { FixedPlan, PlanAnswer } from '../shared/start-plan';

/**
 * The run's answer to the `plan` update and query (the API's 202 carries
 * it). Created before the workflow's first await, so an update that arrives
 * with the start is accepted. The update waits until the plan is fixed, the
 * run waits for an approval, or the run has ended, then answers what holds;
 * the query answers at once.
 *
 * It issues no command of its own (handlers and a condition are not
 * commands), so it needs no patch: a run without updates replays as before,
 * and a run that answered one has it in its history as update events.
 */
export class StartPlan {
  private plan?: FixedPlan;
  private awaitingApproval = false;
  private ended = false;

  constructor() {
    setHandler(planUpdate, async () => {
      await condition(() => this.plan !== undefined || this.awaitingApproval || this.ended);
      return this.answer();
    });
    setHandler(planQuery, () => this.answer());
  }

  /** The plan the run's steps fixed under their locks. */
  fix(plan: FixedPlan): void {
    this.plan ??= plan;
  }

  /** While a person's approval is awaited no plan can be fixed: the update answers so at once. */
  waitingForApproval(waiting: boolean): void {
    this.awaitingApproval = waiting;
  }

  /** Runs the operation; however it ends, a pending update is answered before the run closes. */
  async track<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } finally {
      this.ended = true;
    }
  }

  private answer(): PlanAnswer {
    if (this.plan) return { plan: this.plan };
    return { plan: null, reason: this.ended ? 'ended' : this.awaitingApproval ? 'approval' : 'pending' };
  }
}
