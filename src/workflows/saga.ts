import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, log, setHandler } from '@temporalio/workflow';
import { DOMAIN_ERROR_TYPES } from '../domain/errors';
import { COMPENSATED, type StepRecord } from '../shared/operations';
import { progressQuery } from '../shared/queries';

type Undo = (reason: string) => Promise<unknown>;

/**
 * A saga: each step's undo is registered before the step runs (undos are
 * idempotent and safe when their step never happened), and on a permanent
 * failure or a cancellation the undos run in reverse order in a
 * non-cancellable scope. Progress is visible through the `progress` query.
 */
export class Saga {
  readonly steps: StepRecord[] = [];
  private readonly undos: { name: string; run: Undo }[] = [];
  private pivoted = false;
  /** Steps that move nothing (an approval): they do not make a later refusal a compensation. */
  private readonly preliminary = new Set<string>();

  constructor() {
    setHandler(progressQuery, () => ({ steps: this.steps }));
  }

  private mark(name: string, status: StepRecord['status']): void {
    const at = new Date().toISOString();
    const existing = this.steps.find((s) => s.name === name);
    if (existing) Object.assign(existing, { status, at });
    else this.steps.push({ name, status, at });
  }

  /**
   * Marks the point of no return: from here the saga only goes forward (its
   * remaining steps are retried until done), and a failure no longer runs the
   * undos, which could not restore what later operations built on.
   */
  pivot(): void {
    this.pivoted = true;
  }

  /** Registers an undo for everything done so far (used for the `begin` step's release). */
  onFailure(name: string, undo: Undo): void {
    this.undos.push({ name, run: undo });
  }

  /** A step before any money moves (waiting on an approval): shown in the progress, but a refusal after it is still a refusal. */
  async preliminaryStep<T>(name: string, run: () => Promise<T>): Promise<T> {
    this.preliminary.add(name);
    return this.step(name, run);
  }

  async step<T>(name: string, run: () => Promise<T>, undo?: Undo): Promise<T> {
    if (undo) this.undos.push({ name, run: undo });
    this.mark(name, 'running');
    try {
      const result = await run();
      this.mark(name, 'completed');
      return result;
    } catch (err) {
      this.mark(name, 'failed');
      throw err;
    }
  }

  /**
   * Runs `body`; on failure compensates and ends the workflow as
   * `Compensated` (or cancelled, when it was a cancellation). A business
   * rejection before any step completed (the first step refused, say
   * NotEligible) ends the workflow with that rejection itself, after the
   * first step's release has run.
   */
  async run<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      if (this.pivoted) {
        log.error('a step after the point of no return failed; the operation needs an operator', { error: failureMessage(err) });
        throw err;
      }
      const cancelled = isCancellation(err);
      const reason = cancelled ? 'cancelled by an operator' : failureMessage(err);
      const refused = !this.steps.some((s) => s.status === 'completed' && !this.preliminary.has(s.name)) && isBusinessRejection(err);
      await this.compensate(reason);
      if (cancelled || refused) throw err;
      throw ApplicationFailure.create({
        type: COMPENSATED,
        message: `compensated: ${reason}`,
        nonRetryable: true,
        details: [{ reason, failedStep: this.steps.find((s) => s.status === 'failed')?.name ?? null }],
        cause: err instanceof Error ? err : undefined,
      });
    }
  }

  private async compensate(reason: string): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      for (const undo of [...this.undos].reverse()) {
        const name = `undo:${undo.name}`;
        this.mark(name, 'compensating');
        try {
          await undo.run(reason);
          this.mark(name, 'compensated');
        } catch (err) {
          // Undos retry until they succeed; reaching here means the retries were stopped (the run is being terminated).
          this.mark(name, 'failed');
          log.error('compensation step failed; the operation needs an operator', { step: undo.name, reason, error: failureMessage(err) });
          throw ApplicationFailure.create({ type: 'CompensationFailed', message: `undo of ${undo.name} failed`, nonRetryable: true, cause: err as Error });
        }
      }
    });
  }
}

const BUSINESS: ReadonlySet<string> = new Set(DOMAIN_ERROR_TYPES);

function isBusinessRejection(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && BUSINESS.has(cause.type ?? '');
}

function failureMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  // Activity failures wrap the business error as their cause.
  while (e?.cause && (e as { name?: string }).name === 'ActivityFailure') e = e.cause as typeof e;
  return e?.message ?? String(err);
}
