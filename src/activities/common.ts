import { ApplicationFailure, Context } from '@temporalio/activity';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { BrokerGateway } from '../broker/gateway';
import { isDomainError } from '../domain/errors';
import { type PortfolioSettings, withDefaults } from '../domain/settings';
import type { LedgerService } from '../ledger/ledger';
import type { MarketDataProvider } from '../market/provider';

export interface ActivityDeps {
  orm: MikroORM;
  ledger: LedgerService;
  broker: BrokerGateway;
  market: MarketDataProvider;
  now?: () => Date;
}

/**
 * Business rejections become non-retryable failures typed by the error
 * catalogue; anything else (a dropped connection, a broker outage) is thrown
 * as is, so Temporal retries it with backoff.
 */
export function businessFailures<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (isDomainError(err)) {
        throw ApplicationFailure.create({ message: err.message, type: err.type, nonRetryable: true, details: [err.details] });
      }
      throw err;
    }
  };
}

type ActivityMap = Record<string, (...args: never[]) => Promise<unknown>>;

/** Wraps every function of an activities object with `businessFailures`. */
export function withBusinessFailures<T extends ActivityMap>(acts: T): T {
  return Object.fromEntries(Object.entries(acts).map(([k, f]) => [k, businessFailures(f as never)])) as T;
}

/**
 * An undo must finish, or money stays where the failed operation left it (and
 * so must a step after a saga's point of no return). Every failure, business
 * errors included (a conflict can clear once a concurrent operation ends),
 * is thrown as retryable, so Temporal retries it with backoff until it
 * succeeds or an operator steps in (in the Temporal UI: fix the cause, or
 * terminate the run and settle by hand). Each failed attempt is an alert in
 * the worker's log.
 */
export function undoFailures<A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      alertUndoFailed(name, err);
      if (isDomainError(err)) {
        throw ApplicationFailure.create({ message: err.message, type: err.type, nonRetryable: false, details: [err.details] });
      }
      throw err;
    }
  };
}

/** Wraps every function of an undo activities object with `undoFailures`. */
export function retriedUntilDone<T extends ActivityMap>(acts: T): T {
  return Object.fromEntries(Object.entries(acts).map(([k, f]) => [k, undoFailures(k, f as never)])) as T;
}

export async function portfolioContext(em: EntityManager, portfolioId: string): Promise<{ settings: PortfolioSettings; holdingId: string }> {
  const [row] = await em.execute<{ settings: PortfolioSettings; holding_id: string }[]>(
    `select p.settings, a.id as holding_id from portfolios p join accounts a on a.portfolio_id = p.id and a.type = 'holding'
      where p.id = ?`,
    [portfolioId],
  );
  if (!row) throw new Error(`portfolio ${portfolioId} has no holding account`);
  return { settings: withDefaults(row.settings), holdingId: row.holding_id };
}

export interface EventClaim {
  existing: boolean;
  attempt: number;
}

/**
 * Decides what a `begin` step does with the event row of its workflow id:
 * the same run (a retried or replayed activity) continues; a new run after a
 * compensation (an operator's retry or a Temporal reset) starts the next
 * attempt, whose step keys differ so money moves again exactly once.
 */
export function claimEvent(
  row: { status: string; run_id: string; attempt: number } | undefined,
  runId: string,
): EventClaim | 'refuse' {
  if (!row) return { existing: false, attempt: 1 };
  if (row.status === 'started' || row.status === 'completed' || row.status === 'skipped') {
    return { existing: true, attempt: row.attempt };
  }
  // compensated or failed
  if (row.run_id === runId) return 'refuse';
  return { existing: false, attempt: row.attempt + 1 };
}

/** Inserts a row, or (for the next attempt of an operation) overwrites it, from one field map. */
export async function upsertRow(em: EntityManager, table: string, fields: Record<string, unknown>, exists: boolean): Promise<void> {
  const cols = Object.keys(fields);
  const values = Object.values(fields).map((v) => (v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v));
  if (exists) {
    await em.execute(`update ${table} set ${cols.filter((c) => c !== 'id').map((c) => `${c} = ?`).join(', ')}, started_at = now() where id = ?`,
      [...values.filter((_, i) => cols[i] !== 'id'), fields.id]);
  } else {
    await em.execute(`insert into ${table} (${cols.join(', ')}) values (${cols.map(() => '?').join(', ')})`, values);
  }
}

function alertUndoFailed(undo: string, err: unknown): void {
  const error = (err as Error)?.message ?? String(err);
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    // Called outside an activity (a test or a script): nothing to retry, nothing to alert.
    return;
  }
  ctx.log.error('ALERT: a step that must finish failed; it is retried until it succeeds or an operator steps in', {
    step: undo, workflowId: ctx.info.workflowExecution?.workflowId, attempt: ctx.info.attempt, error,
  });
}
