import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { execBound } from '../db/sql';
import { v7 as uuidv7 } from 'uuid';
import { DomainError } from '../domain/errors';
import type { PortfolioSettings } from '../domain/settings';
import { type BatchOutcome, type LedgerService, RETRYABLE_PG_CODES } from '../ledger/ledger';
import { type ActivityCommand, activityHash, activityPost, activityScope } from './accounts';

export interface BatchItem extends ActivityCommand {
  accountId: string;
  idempotencyKey: string;
}

export type BatchItemStatus = 'posted' | 'duplicate' | 'rejected' | 'not_posted';

export interface BatchItemResult {
  idempotencyKey: string;
  accountId: string;
  status: BatchItemStatus;
  entryId?: string;
  error?: { type: string; detail: string };
}

export interface BatchResult {
  /** False when an atomic batch was refused: nothing was posted. */
  committed: boolean;
  results: BatchItemResult[];
  posted: number;
  duplicates: number;
  rejected: number;
}

/** Items per transaction of a non-atomic batch: short lock holds, few round trips. */
const ITEMS_PER_TRANSACTION = 1000;

interface Target {
  portfolioId: string;
  externalId: string;
  settings: PortfolioSettings;
}

/** Thrown inside a transaction to roll an atomic batch back; carries what each item would have done. */
class RollBack extends Error {
  constructor(readonly outcomes: BatchOutcome[]) {
    super('atomic batch refused');
  }
}

/**
 * `POST /v1/activity/batch`: many trading activities with per-item
 * idempotency keys. An item's key is the same as a single request's
 * Idempotency-Key on that account: repeating an item (in a batch or alone)
 * with the same body posts nothing and answers `duplicate`; with a different
 * body it is refused as an IdempotencyConflict. Items post in order, each
 * seeing the ones before it, through the ledger's multi-row path.
 */
export class ActivityBatchService {
  constructor(
    private readonly orm: MikroORM,
    private readonly ledger: LedgerService,
  ) {}

  async post(items: BatchItem[], opts: { atomic: boolean }, actor: string): Promise<BatchResult> {
    const targets = await this.targets(items.map((i) => i.accountId));
    const scopes = items.map((i) => activityScope(i.accountId, i.idempotencyKey));
    // The same hash as a single request with this body, so a key means the same thing in both.
    const hashes = items.map(({ type, amount, occurredAt, reference, note }) => activityHash({ type, amount, occurredAt, reference, note }));
    const stored = await this.storedRequests(scopes);
    const results: BatchItemResult[] = items.map((i) => ({ idempotencyKey: i.idempotencyKey, accountId: i.accountId, status: 'not_posted' }));

    // Settled before posting: unknown accounts, keys already used, repeats within the batch.
    const firstOfScope = new Map<string, number>();
    const repeats: [number, number][] = [];
    const toPost: number[] = [];
    const conflict = () => new DomainError('IdempotencyConflict', 'this idempotency key was already used with a different request body');
    items.forEach((item, i) => {
      const [scope, hash] = [scopes[i]!, hashes[i]!];
      if (!targets.has(item.accountId)) {
        results[i] = refused(results[i]!, new DomainError('AccountNotFound', 'account not found'));
        return;
      }
      const earlier = stored.get(scope);
      if (earlier) {
        results[i] = earlier.hash === hash ? { ...results[i]!, status: 'duplicate', entryId: earlier.entryId } : refused(results[i]!, conflict());
        return;
      }
      const first = firstOfScope.get(scope);
      if (first !== undefined) {
        if (hashes[first] === hash) repeats.push([i, first]);
        else results[i] = refused(results[i]!, conflict());
        return;
      }
      firstOfScope.set(scope, i);
      toPost.push(i);
    });
    if (opts.atomic && results.some((r) => r.status === 'rejected')) return summary(results, false);

    const groups = opts.atomic ? [toPost] : chunk(toPost, ITEMS_PER_TRANSACTION);
    let committed = true;
    for (const group of groups) {
      const outcomes = await this.postGroup(group.map((i) => ({ item: items[i]!, scope: scopes[i]!, hash: hashes[i]!, target: targets.get(items[i]!.accountId)! })), opts.atomic, actor);
      if (outcomes instanceof RollBack) committed = false;
      const list = outcomes instanceof RollBack ? outcomes.outcomes : outcomes;
      list.forEach((o, k) => {
        const i = group[k]!;
        if (o.status === 'rejected') results[i] = refused(results[i]!, o.error);
        else if (committed) results[i] = { ...results[i]!, status: o.status, entryId: o.entryId };
      });
    }
    // A repeat of an earlier item of this batch answers as that item did.
    for (const [i, first] of repeats) {
      const r = results[first]!;
      results[i] = r.status === 'posted' ? { ...results[i]!, status: 'duplicate', entryId: r.entryId } : { ...r, idempotencyKey: results[i]!.idempotencyKey };
    }
    return summary(results, committed);
  }

  /** One transaction (retried on deadlock or serialisation failure); an atomic group with a refusal rolls back. */
  private async postGroup(
    group: { item: BatchItem; scope: string; hash: string; target: Target }[],
    atomic: boolean,
    actor: string,
  ): Promise<BatchOutcome[] | RollBack> {
    const batchId = uuidv7();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.orm.em.fork().transactional(async (em) => {
          const reqs = group.map(({ item, scope, target }) =>
            activityPost({ accountId: item.accountId, ...target, idempotencyKey: scope, userKey: item.idempotencyKey, actor }, item),
          );
          const audit = { action: 'activity.batch.posted', targetType: 'activity_batch', targetId: batchId, details: { batchId } };
          const outcomes = await this.conflictsOf(em, group, await this.ledger.postManyIn(em, reqs, { atomic: false, auditAs: audit }));
          if (atomic && outcomes.some((o) => o.status === 'rejected')) throw new RollBack(outcomes);
          const posted = outcomes.flatMap((o, k) => (o.status === 'posted' ? [{ scope: group[k]!.scope, request_hash: group[k]!.hash, response: { entryId: o.entryId } }] : []));
          if (posted.length) {
            await execBound(em,
              `insert into idempotent_requests (scope, request_hash, status_code, response)
               select scope, request_hash, 201, response from jsonb_to_recordset(?::jsonb) as x(scope text, request_hash text, response jsonb)`,
              [JSON.stringify(posted)],
            );
          }
          return outcomes;
        });
      } catch (err) {
        if (err instanceof RollBack) return err;
        const code = (err as { code?: string }).code;
        if (attempt < 5 && code && RETRYABLE_PG_CODES.has(code)) continue;
        throw err;
      }
    }
  }

  /**
   * A key the ledger found taken was claimed after this batch read the stored
   * requests (a concurrent request): it is a duplicate only if that request
   * had the same body. Read under the account locks, so it has committed.
   */
  private async conflictsOf(em: EntityManager, group: { scope: string; hash: string }[], outcomes: BatchOutcome[]): Promise<BatchOutcome[]> {
    const late = outcomes.flatMap((o, k) => (o.status === 'duplicate' ? [group[k]!.scope] : []));
    if (late.length === 0) return outcomes;
    const stored = await this.storedRequests(late, em);
    return outcomes.map((o, k) => {
      const other = o.status === 'duplicate' ? stored.get(group[k]!.scope) : undefined;
      return other && other.hash !== group[k]!.hash
        ? { status: 'rejected', error: new DomainError('IdempotencyConflict', 'this idempotency key was already used with a different request body') }
        : o;
    });
  }

  private async targets(accountIds: string[]): Promise<Map<string, Target>> {
    const rows = await execBound<{ id: string; portfolio_id: string; settings: PortfolioSettings; external_id: string }>(this.orm.em.fork(),
      `select a.id, a.portfolio_id, p.settings, x.id as external_id
         from accounts a join portfolios p on p.id = a.portfolio_id
         join accounts x on x.portfolio_id = a.portfolio_id and x.type = 'external'
        where a.id = any(array(select jsonb_array_elements_text(?::jsonb)::uuid)) and a.unit_id is not null`,
      [JSON.stringify([...new Set(accountIds)])],
    );
    return new Map(rows.map((r) => [r.id, { portfolioId: r.portfolio_id, externalId: r.external_id, settings: r.settings }]));
  }

  private async storedRequests(scopes: string[], em: EntityManager = this.orm.em.fork()): Promise<Map<string, { hash: string; entryId: string }>> {
    const rows = await execBound<{ scope: string; request_hash: string; response: { entryId: string } }>(em,
      'select scope, request_hash, response from idempotent_requests where scope = any(array(select jsonb_array_elements_text(?::jsonb)))',
      [JSON.stringify([...new Set(scopes)])],
    );
    return new Map(rows.map((r) => [r.scope, { hash: r.request_hash, entryId: r.response.entryId }]));
  }
}

function refused(r: BatchItemResult, err: DomainError): BatchItemResult {
  return { idempotencyKey: r.idempotencyKey, accountId: r.accountId, status: 'rejected', error: { type: err.type, detail: err.message } };
}

function summary(results: BatchItemResult[], committed: boolean): BatchResult {
  const count = (s: BatchItemStatus) => results.filter((r) => r.status === s).length;
  return { committed, results, posted: count('posted'), duplicates: count('duplicate'), rejected: count('rejected') };
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
