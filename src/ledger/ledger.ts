import type Decimal from 'decimal.js';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { appendAuditMany, type AuditInput, chainTemplate } from '../audit/audit';
import { BUCKETS, type Bucket, type Buckets, applyDelta } from '../domain/buckets';
import { DomainError } from '../domain/errors';
import { Dec, ZERO, fromDb, formatMoney, sum } from '../domain/money';
import { execBound, pgDate } from '../db/sql';
import { metrics } from '../infra/metrics';

/** An account row as locked for an entry. */
export interface LockedAccount {
  id: string;
  portfolioId: string;
  unitId: string | null;
  type: 'gen' | 'rev' | 'com' | 'external' | 'holding';
  status: string;
  baseBalance: Decimal;
  buckets: Buckets;
  createdAt: Date;
}

/** One posting: a signed amount on one bucket of one account. */
export interface Leg {
  accountId: string;
  bucket: Bucket;
  amount: Decimal;
}

export interface EntryPlan {
  legs: Leg[];
  baseBalanceChanges?: { accountId: string; delta: Decimal }[];
}

export interface PostRequest {
  idempotencyKey: string;
  portfolioId: string;
  kind: string;
  actor: string;
  operationId?: string;
  occurredAt?: Date;
  reference?: string;
  note?: string;
  /** Every account the plan reads or writes; locked FOR UPDATE in id order. */
  accountIds: string[];
  /**
   * The legs. A plan that does not depend on the accounts' state is given as
   * it is (the entry is then one round trip); one that does is a function of
   * the accounts, called with them as read and checked unchanged under the
   * locks (or as locked), so bucket rules see committed balances.
   */
  plan: EntryPlan | ((accounts: ReadonlyMap<string, LockedAccount>) => EntryPlan);
  audit?: Omit<AuditInput, 'actor' | 'portfolioId'>;
  /**
   * A saga step that has an undo: serialised with its undo on the key and
   * refused once the undo has claimed the key.
   */
  compensable?: boolean;
  reversesEntryId?: string;
}

/**
 * Audits a multi-entry call with one row per portfolio (listing every entry)
 * instead of one row per entry: a batch or an import batch is one write.
 */
export interface BatchAudit {
  action: string;
  targetType: string;
  targetId?: string;
  details?: Record<string, unknown>;
}

export type BatchOutcome =
  | { status: 'posted' | 'duplicate'; entryId: string }
  | { status: 'rejected'; error: DomainError };

/** An entry planned in memory, checked and ready to write. */
interface PlannedEntry {
  req: PostRequest;
  entryId: string;
  legs: Leg[];
  baseChanges: { accountId: string; delta: string }[];
  /** Cached-balance accounts it changes. */
  changed: string[];
}

/** A key claimed by a concurrent transaction mid-batch: the caller retries the whole transaction (same code as a serialisation failure). */
export class ConcurrentClaim extends Error {
  readonly code = '40001';
  constructor() {
    super('an idempotency key of the batch was claimed concurrently');
  }
}

export interface PostResult {
  entryId: string;
  /** False when the idempotency key had already been used: nothing changed. */
  created: boolean;
  /** With a RequestRecord, when created: the response stored with the entry (see ledger_post). */
  response?: unknown;
}

/**
 * An HTTP request's idempotency record (`idempotent_requests`), written in
 * the entry's transaction: its response holds the entry, the account
 * `accountId` as the entry left it and its portfolio's settings.
 */
export interface RequestRecord {
  scope: string;
  requestHash: string;
  accountId: string;
}

/** An account as read for a plan: its version and status are checked again under the lock. */
export interface SeenAccount extends LockedAccount {
  version: number;
}

/**
 * Every way a post is refused, whichever side finds it (the checks in this
 * file, or ledger_post in the database, which answers with the code and the
 * facts): one error and one message each.
 */
interface RefusalFacts {
  accountId?: string;
  accountStatus?: string;
  bucket?: string;
  amount?: string;
  total?: string;
  key?: string;
}
const REFUSALS = {
  account_not_found: (f: RefusalFacts) => new DomainError('AccountNotFound', 'account not found', { accountId: f.accountId }),
  compensated: (f: RefusalFacts) => new DomainError('Compensated', 'this step was already compensated', { key: f.key }),
  cross_portfolio: () => new DomainError('InvariantViolation', 'an entry cannot span portfolios'),
  // Money never lands in (or leaves) an account whose life is over: a merge chose its target wrongly otherwise.
  terminal: (f: RefusalFacts) =>
    new DomainError('InvariantViolation', `account ${f.accountId} is ${f.accountStatus}; no money moves to or from it`, { accountId: f.accountId, status: f.accountStatus }),
  too_few_legs: () => new DomainError('InvariantViolation', 'an entry needs at least two postings'),
  not_cents: (f: RefusalFacts) => new DomainError('InvariantViolation', 'a posting is a non-zero amount in cents', { amount: f.amount }),
  not_locked: (f: RefusalFacts) => new DomainError('InvariantViolation', 'posting to an account that is not locked', { id: f.accountId }),
  unbalanced: (f: RefusalFacts) => new DomainError('InvariantViolation', `entry is unbalanced by ${formatMoney(fromDb(f.total))}`),
  negative_bucket: (f: RefusalFacts) => new DomainError('InsufficientFunds', `the ${f.bucket} bucket would go negative`, { accountId: f.accountId }),
  negative_base: (f: RefusalFacts) => new DomainError('InvariantViolation', 'base balance would go negative', { accountId: f.accountId }),
} satisfies Record<string, (f: RefusalFacts) => DomainError>;
export type RefusalCode = keyof typeof REFUSALS;
const refusal = (code: RefusalCode, facts: RefusalFacts = {}) => REFUSALS[code](facts);

/** What ledger_post answers. */
type PostOutcome =
  | { status: 'posted'; entryId: string; response?: unknown }
  | { status: 'duplicate'; entryId: string }
  | { status: 'stale'; accountId: string }
  | ({ status: 'refused'; code: RefusalCode } & RefusalFacts);

/**
 * How long an account whose post went stale is treated as hot: posts whose
 * plan reads it take the locks first (planning under the lock never goes
 * stale) instead of planning from a read that would go stale again.
 */
const HOT_MS = 1000;

export const RETRYABLE_PG_CODES: ReadonlySet<string> = new Set(['40001', '40P01']);

/** Account statuses that end an account's life: it holds nothing and no entry touches it. */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['merged', 'closed']);

interface AccountSqlRow {
  id: string; portfolio_id: string; unit_id: string | null; type: LockedAccount['type']; status: string;
  base_balance: string; cash: string; contracts: string; leaps: string; reserve: string; created_at: string;
}

export function toLocked(r: AccountSqlRow): LockedAccount {
  return {
    id: r.id, portfolioId: r.portfolio_id, unitId: r.unit_id, type: r.type, status: r.status,
    baseBalance: fromDb(r.base_balance), createdAt: pgDate(r.created_at),
    buckets: { cash: fromDb(r.cash), contracts: fromDb(r.contracts), leaps: fromDb(r.leaps), reserve: fromDb(r.reserve) },
  };
}

/**
 * The only writer of balances. An entry is written by one database statement,
 * `ledger_post` (src/db/migrations/Migration20261130000000_ledger_post.ts),
 * which (1) serialises a compensable step with its undo, (2) locks the
 * accounts in id order, (3) returns the earlier entry when the idempotency
 * key is taken, (4) refuses a plan made from accounts that moved since,
 * (5) checks the accounts (one portfolio, none closed or merged), the legs
 * (non-zero cents on those accounts, balanced) and that no bucket and no base
 * balance goes below zero, (6) claims the key (unique constraint), writes the
 * postings, updates the cached balances and (7) appends the hash-chained audit
 * row. The plan, the bucket rules and the audit row's canonical JSON are made
 * here; the function refuses (returns a code) before it writes anything.
 *
 * The `external` account's balance is not cached (it is the hot counterpart of
 * every trading result); it is always derived from its postings.
 */
export class LedgerService {
  /** Accounts found moved under a plan, with the time until which they count as hot (see HOT_MS). */
  private readonly hot = new Map<string, number>();

  constructor(private readonly orm: MikroORM) {}

  /**
   * Posts in its own transaction: one statement when the plan is given as it
   * is. Otherwise the accounts are read (or taken from `seen`, read by the
   * caller), the plan is made from them and sent with their versions, and
   * the database refuses it as stale when one of them moved before its lock.
   * A stale plan, one the rules refuse on what was read, and any plan on a
   * hot account are decided under the locks instead, as before (three
   * statements in a transaction). Retries on deadlock or serialisation
   * failure. `request`: the HTTP idempotency record to store with the entry.
   */
  async post(req: PostRequest, opts: { seen?: ReadonlyMap<string, SeenAccount>; request?: RequestRecord } = {}): Promise<PostResult> {
    return timed(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.postOptimistic(req, opts);
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (attempt < 5 && code && RETRYABLE_PG_CODES.has(code)) continue;
          throw err;
        }
      }
    });
  }

  /**
   * Posts inside a caller's transaction (the caller commits or rolls back).
   * Timed into `alluse_ledger_post_seconds{outcome}`: `posted`, `replayed`
   * (the key existed) or `rejected` (it threw; the caller's transaction rolls back).
   */
  async postIn(em: EntityManager, req: PostRequest): Promise<PostResult> {
    return timed(() => this.postLocked(em, req));
  }

  private async postOptimistic(req: PostRequest, opts: { seen?: ReadonlyMap<string, SeenAccount>; request?: RequestRecord }): Promise<PostResult> {
    const em = this.orm.em.fork();
    if (typeof req.plan !== 'function') return settle(await writeEntry(em, plannedOf(req, req.plan, []), undefined, opts.request));
    if (!this.isHot(req.accountIds)) {
      const seen = opts.seen ?? (await selectAccounts(em, req.accountIds, { lock: false }));
      // Whatever stops the plan on what was read is decided under the locks, after the key is looked up (as before).
      const entry = tried(() => planEntry(req, new Map(seen)));
      if (entry) {
        const outcome = await writeEntry(em, entry, seen, opts.request);
        if (outcome.status !== 'stale') return settle(outcome);
        this.markHot(outcome.accountId);
      }
    }
    return this.orm.em.fork().transactional((tx) => this.postLocked(tx, req, opts.request));
  }

  private isHot(ids: readonly string[]): boolean {
    const now = Date.now();
    return ids.some((id) => (this.hot.get(id) ?? 0) > now);
  }

  private markHot(id: string): void {
    const now = Date.now();
    if (this.hot.size >= 10_000) for (const [k, until] of this.hot) if (until <= now) this.hot.delete(k);
    this.hot.set(id, now + HOT_MS);
  }

  /**
   * Inside a transaction. A plan that reads the accounts is made from them
   * locked, after the key is looked up (a retry of an entry that posted gets
   * its entry whatever the accounts hold now), so the database never finds it
   * stale; that is three statements (four for a compensable step) instead of one.
   */
  private async postLocked(em: EntityManager, req: PostRequest, request?: RequestRecord): Promise<PostResult> {
    if (typeof req.plan !== 'function') return settle(await writeEntry(em, plannedOf(req, req.plan, []), undefined, request));
    // The undo's guard before the account locks, the order reverse() takes them in (ledger_post takes it again).
    if (req.compensable) await this.guard(em, req.idempotencyKey);
    const state = await selectAccounts(em, req.accountIds, { lock: true });
    const earlier = (await this.findEntries(em, [req.idempotencyKey])).get(req.idempotencyKey);
    if (earlier) return { entryId: earlier, created: false };
    return settle(await writeEntry(em, planEntry(req, new Map(state)), state, request));
  }

  /**
   * Posts many entries inside the caller's transaction with a fixed number of
   * round trips whatever their count: one statement locks every account (id
   * order), one finds the keys already taken, then the entries are planned in
   * order against the running state in memory (each sees the ones before it),
   * and multi-row statements write the entries, the postings, the cached
   * balances and the audit rows. Each entry keeps every rule of a single post.
   *
   * `atomic`: the first refused entry throws and the caller's transaction
   * rolls back. Otherwise a refused entry (a DomainError) is reported and the
   * others post. A key already taken, or taken earlier in the same call, is a
   * `duplicate` with the entry that holds it; nothing is posted twice.
   */
  async postManyIn(em: EntityManager, reqs: readonly PostRequest[], opts: { atomic: boolean; auditAs?: BatchAudit }): Promise<BatchOutcome[]> {
    if (reqs.length === 0) return [];
    const state = await lockAccounts(em, reqs.flatMap((r) => r.accountIds));
    // Checked under the locks: a concurrent request with the same key has committed by now, or never will first.
    const taken = await this.findEntries(em, reqs.map((r) => r.idempotencyKey));
    const outcomes: BatchOutcome[] = [];
    const planned: PlannedEntry[] = [];
    for (const req of reqs) {
      const earlier = taken.get(req.idempotencyKey);
      if (earlier) {
        outcomes.push({ status: 'duplicate', entryId: earlier });
        continue;
      }
      try {
        const entry = planEntry(req, state);
        taken.set(req.idempotencyKey, entry.entryId);
        planned.push(entry);
        outcomes.push({ status: 'posted', entryId: entry.entryId });
      } catch (err) {
        if (opts.atomic || !(err instanceof DomainError)) throw err;
        outcomes.push({ status: 'rejected', error: err });
      }
    }
    if (planned.length === 0) return outcomes;
    if (!(await claimKeys(em, planned))) {
      // Another transaction took a key between the check and the claim (keys are not always tied to the accounts locked).
      if (planned.length > 1) throw new ConcurrentClaim();
      const key = planned[0]!.req.idempotencyKey;
      const index = outcomes.findIndex((o) => o.status === 'posted');
      outcomes[index] = { status: 'duplicate', entryId: (await this.findEntries(em, [key])).get(key)! };
      return outcomes;
    }
    await writeEntries(em, planned, state, opts.auditAs);
    return outcomes;
  }

  private async findEntries(em: EntityManager, keys: string[]): Promise<Map<string, string>> {
    const rows = await execBound<{ id: string; idempotency_key: string }>(em,
      'select id, idempotency_key from journal_entries where idempotency_key = any(array(select jsonb_array_elements_text(?::jsonb)))',
      [JSON.stringify([...new Set(keys)])],
    );
    return new Map(rows.map((r) => [r.idempotency_key, r.id]));
  }

  private async guard(em: EntityManager, forwardKey: string): Promise<void> {
    await em.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`ledger:${forwardKey}`]);
    const [tomb] = await em.execute('select 1 from compensations where forward_key = ?', [forwardKey]);
    if (tomb) throw refusal('compensated', { key: forwardKey });
  }

  /**
   * The undo of a compensable entry: posts its exact mirror (postings and
   * base-balance changes negated) under `<key>:undo`, or, when the forward
   * entry never landed, leaves a tombstone so it never will. Idempotent.
   */
  async reverse(req: { forwardKey: string; actor: string; operationId?: string }): Promise<{ reversalEntryId: string | null }> {
    return this.orm.em.fork().transactional(async (em) => {
      await em.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`ledger:${req.forwardKey}`]);
      const [done] = await em.execute<{ reversal_entry_id: string | null }[]>(
        'select reversal_entry_id from compensations where forward_key = ?', [req.forwardKey],
      );
      if (done) return { reversalEntryId: done.reversal_entry_id };
      const [forward] = await em.execute<{ id: string; portfolio_id: string; base_changes: { accountId: string; delta: string }[] }[]>(
        'select id, portfolio_id, base_changes from journal_entries where idempotency_key = ?', [req.forwardKey],
      );
      let reversalEntryId: string | null = null;
      if (forward) {
        const postings = await em.execute<{ account_id: string; bucket: Bucket; amount: string }[]>(
          'select account_id, bucket, amount from postings where entry_id = ? order by id', [forward.id],
        );
        const posted = await this.postIn(em, {
          idempotencyKey: `${req.forwardKey}:undo`,
          portfolioId: forward.portfolio_id,
          kind: 'reversal',
          actor: req.actor,
          operationId: req.operationId,
          reversesEntryId: forward.id,
          accountIds: postings.map((p) => p.account_id),
          plan: {
            legs: postings.map((p) => ({ accountId: p.account_id, bucket: p.bucket, amount: fromDb(p.amount).neg() })),
            baseBalanceChanges: forward.base_changes.map((c) => ({ accountId: c.accountId, delta: fromDb(c.delta).neg() })),
          },
          audit: { action: 'ledger.entry.reversed', targetType: 'journal_entry', targetId: forward.id, details: { forwardKey: req.forwardKey } },
        });
        reversalEntryId = posted.entryId;
      }
      await em.execute('insert into compensations (forward_key, reversal_entry_id) values (?, ?)', [req.forwardKey, reversalEntryId]);
      return { reversalEntryId };
    });
  }
}

/**
 * Plans one entry against the running state and checks it as a single post
 * would: accounts of the portfolio and alive, legs balanced in cents, no
 * bucket and no base balance below zero. The state moves only when every
 * check passed, so a refused entry leaves no trace.
 */
function planEntry(req: PostRequest, state: Map<string, LockedAccount>): PlannedEntry {
  const accounts = new Map<string, LockedAccount>();
  for (const id of req.accountIds) {
    const a = state.get(id);
    if (!a) throw refusal('account_not_found', { accountId: id });
    accounts.set(id, a);
  }
  for (const a of accounts.values()) {
    if (a.portfolioId !== req.portfolioId) throw refusal('cross_portfolio');
    if (TERMINAL_STATUSES.has(a.status)) throw refusal('terminal', { accountId: a.id, accountStatus: a.status });
  }
  const plan = typeof req.plan === 'function' ? req.plan(accounts) : req.plan;
  const deltas = validatePlan(plan, accounts);
  const next: LockedAccount[] = [];
  for (const [accountId, delta] of deltas) {
    const account = accounts.get(accountId)!;
    if (account.type === 'external') continue;
    const after = applyDelta(account.buckets, delta.buckets);
    const negative = BUCKETS.find((b) => after[b].lt(0));
    if (negative) throw refusal('negative_bucket', { accountId, bucket: negative });
    const base = account.baseBalance.plus(delta.base);
    if (base.lt(0)) throw refusal('negative_base', { accountId });
    next.push({ ...account, buckets: after, baseBalance: base });
  }
  for (const a of next) state.set(a.id, a);
  return plannedOf(req, plan, next.map((a) => a.id));
}

function plannedOf(req: PostRequest, plan: EntryPlan, changed: string[]): PlannedEntry {
  return {
    req,
    entryId: uuidv7(),
    legs: plan.legs,
    // Exact (never rounded): a change that is not whole cents is refused, here or by ledger_post.
    baseChanges: (plan.baseBalanceChanges ?? []).map((c) => ({ accountId: c.accountId, delta: c.delta.toFixed() })),
    changed,
  };
}

/** The result, or undefined when it threw. */
function tried<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** The audit row of one entry posted on its own. */
function entryAudit(p: PlannedEntry): AuditInput {
  return {
    actor: p.req.actor,
    portfolioId: p.req.portfolioId,
    action: p.req.audit?.action ?? 'ledger.entry.posted',
    targetType: p.req.audit?.targetType ?? 'journal_entry',
    targetId: p.req.audit?.targetId ?? p.entryId,
    details: entryDetails(p),
  };
}

function entryDetails({ req, entryId, legs }: PlannedEntry): Record<string, unknown> {
  return {
    entryId, kind: req.kind, idempotencyKey: req.idempotencyKey, operationId: req.operationId,
    legs: legs.map((l) => ({ accountId: l.accountId, bucket: l.bucket, amount: formatMoney(l.amount) })),
    ...req.audit?.details,
  };
}

/**
 * One entry in one statement (ledger_post). `seen`: the accounts the plan
 * was made from; their versions and statuses go along, and the entry is
 * refused as stale when one moved.
 */
async function writeEntry(em: EntityManager, entry: PlannedEntry, seen?: ReadonlyMap<string, SeenAccount>, request?: RequestRecord): Promise<PostOutcome> {
  const { req } = entry;
  const [row] = await execBound<{ outcome: PostOutcome }>(em, 'select ledger_post(?::jsonb) as outcome', [JSON.stringify({
    key: req.idempotencyKey, entryId: entry.entryId, portfolioId: req.portfolioId, kind: req.kind, actor: req.actor,
    operationId: req.operationId ?? null, occurredAt: req.occurredAt?.toISOString() ?? null, reference: req.reference ?? null,
    note: req.note ?? null, reversesEntryId: req.reversesEntryId ?? null, compensable: req.compensable ?? false,
    accounts: [...new Set(req.accountIds)].map((id) => {
      const a = seen?.get(id);
      return a ? { id, version: a.version, status: a.status } : { id };
    }),
    // Exact (not rounded to the cent): a fixed plan's amounts are checked there.
    legs: entry.legs.map((l) => ({ accountId: l.accountId, bucket: l.bucket, amount: l.amount.toFixed() })),
    baseChanges: entry.baseChanges,
    audit: chainTemplate(entryAudit(entry)),
    request: request ?? null,
  })]);
  return row!.outcome;
}

/** A stale outcome here is a bug: it comes only with a plan made from accounts read without their locks. */
function settle(outcome: PostOutcome): PostResult {
  switch (outcome.status) {
    case 'stale':
      throw new Error('ledger_post found an account moved under a plan made from it locked');
    case 'posted':
      return { entryId: outcome.entryId, created: true, response: outcome.response };
    case 'duplicate':
      return { entryId: outcome.entryId, created: false };
    case 'refused': {
      const make = REFUSALS[outcome.code] as ((f: RefusalFacts) => DomainError) | undefined;
      if (!make) throw new Error(`ledger_post refused with an unknown code: ${String(outcome.code)}`);
      throw make(outcome);
    }
  }
}

async function timed(post: () => Promise<PostResult>): Promise<PostResult> {
  const end = metrics.ledgerPostSeconds.startTimer();
  try {
    const result = await post();
    end({ outcome: result.created ? 'posted' : 'replayed' });
    return result;
  } catch (err) {
    end({ outcome: 'rejected' });
    throw err;
  }
}

/*
 * Lists of ids and keys travel as one JSON array, read as
 * `= any(array(select jsonb_array_elements_text(?)))`: the array is built
 * once, so the lookup uses the index (an `in (select ...)` over the JSON
 * would be planned as a join guessing 100 rows).
 *
 * Multi-row writes pass their rows as one JSON parameter expanded by
 * jsonb_to_recordset: one bind parameter instead of thousands (binding is
 * what a large VALUES list spends its time on), and amounts travel as
 * decimal strings cast to numeric by PostgreSQL, exactly.
 */

/** Inserts the journal entries; false when some key was already taken (nothing else is written then). */
async function claimKeys(em: EntityManager, planned: PlannedEntry[]): Promise<boolean> {
  const now = new Date().toISOString();
  const rows = await execBound<{ id: string }>(em,
    `insert into journal_entries (id, portfolio_id, idempotency_key, kind, actor, operation_id, occurred_at, reference, note,
       reverses_entry_id, base_changes)
     select * from jsonb_to_recordset(?::jsonb) as x(id uuid, portfolio_id uuid, idempotency_key text, kind text, actor text,
       operation_id text, occurred_at timestamptz, reference text, note text, reverses_entry_id uuid, base_changes jsonb)
     on conflict (idempotency_key) do nothing returning id`,
    [JSON.stringify(planned.map(({ req, entryId, baseChanges }) => ({
      id: entryId, portfolio_id: req.portfolioId, idempotency_key: req.idempotencyKey, kind: req.kind, actor: req.actor,
      operation_id: req.operationId ?? null, occurred_at: req.occurredAt?.toISOString() ?? now, reference: req.reference ?? null,
      note: req.note ?? null, reverses_entry_id: req.reversesEntryId ?? null, base_changes: baseChanges,
    })))],
  );
  return rows.length === planned.length;
}

/** The postings, the cached balances (one statement) and the audit rows. */
async function writeEntries(em: EntityManager, planned: PlannedEntry[], state: ReadonlyMap<string, LockedAccount>, auditAs?: BatchAudit): Promise<void> {
  await execBound(em,
    `insert into postings (entry_id, account_id, bucket, amount)
     select * from jsonb_to_recordset(?::jsonb) as x(entry_id uuid, account_id uuid, bucket text, amount numeric)`,
    [JSON.stringify(planned.flatMap((p) => p.legs.map((l) => ({ entry_id: p.entryId, account_id: l.accountId, bucket: l.bucket, amount: formatMoney(l.amount) }))))],
  );
  const changed = [...new Set(planned.flatMap((p) => p.changed))].map((id) => state.get(id)!);
  if (changed.length) {
    await execBound(em,
      `update accounts a set cash = v.cash, contracts = v.contracts, leaps = v.leaps, reserve = v.reserve, base_balance = v.base,
              version = a.version + 1, updated_at = now()
         from jsonb_to_recordset(?::jsonb) as v(id uuid, cash numeric, contracts numeric, leaps numeric, reserve numeric, base numeric)
        where a.id = v.id`,
      [JSON.stringify(changed.map((a) => ({ id: a.id, ...Object.fromEntries(BUCKETS.map((b) => [b, formatMoney(a.buckets[b])])), base: formatMoney(a.baseBalance) })))],
    );
  }
  if (!auditAs) {
    await appendAuditMany(em, planned.map(entryAudit));
    return;
  }
  // One row per portfolio (and per 1,000 entries, so no row grows unbounded) listing every entry it got, each with
  // what its own row would have said.
  const byPortfolio = new Map<string, PlannedEntry[]>();
  for (const p of planned) byPortfolio.set(p.req.portfolioId, [...(byPortfolio.get(p.req.portfolioId) ?? []), p]);
  const rows = [...byPortfolio].flatMap(([portfolioId, entries]) =>
    Array.from({ length: Math.ceil(entries.length / AUDIT_ENTRIES_PER_ROW) }, (_, i) => ({
      portfolioId, entries: entries.slice(i * AUDIT_ENTRIES_PER_ROW, (i + 1) * AUDIT_ENTRIES_PER_ROW),
    })));
  await appendAuditMany(em, rows.map(({ portfolioId, entries }) => ({
    actor: entries[0]!.req.actor,
    portfolioId,
    action: auditAs.action,
    targetType: auditAs.targetType,
    targetId: auditAs.targetId,
    details: {
      ...auditAs.details,
      entries: entries.map((p) => ({ action: p.req.audit?.action, targetType: p.req.audit?.targetType, targetId: p.req.audit?.targetId, ...entryDetails(p) })),
    },
  })));
}

const AUDIT_ENTRIES_PER_ROW = 1000;

export async function lockAccounts(em: EntityManager, ids: string[]): Promise<Map<string, LockedAccount>> {
  return selectAccounts(em, ids, { lock: true });
}

/** The accounts, locked FOR UPDATE in id order (a missing one is refused) or read as they are (a missing one is left out). */
async function selectAccounts(em: EntityManager, ids: string[], opts: { lock: boolean }): Promise<Map<string, SeenAccount>> {
  const unique = [...new Set(ids)].sort();
  const rows = await execBound<AccountSqlRow & { version: number }>(em,
    `select id, portfolio_id, unit_id, type, status, base_balance, cash, contracts, leaps, reserve, created_at, version
       from accounts where id = any(array(select jsonb_array_elements_text(?::jsonb)::uuid)) order by id${opts.lock ? ' for update' : ''}`,
    [JSON.stringify(unique)],
  );
  if (opts.lock && rows.length !== unique.length) {
    const found = new Set(rows.map((r) => r.id));
    throw refusal('account_not_found', { accountId: unique.find((id) => !found.has(id)) });
  }
  return new Map(rows.map((r) => [r.id, { ...toLocked(r), version: r.version }]));
}

interface AccountDelta {
  buckets: Partial<Record<Bucket, Decimal>>;
  base: Decimal;
}

/** Double entry: legs are non-zero cents on locked accounts and sum to zero. */
function validatePlan(plan: EntryPlan, accounts: { has(id: string): boolean }): Map<string, AccountDelta> {
  if (plan.legs.length < 2) throw refusal('too_few_legs');
  const deltas = new Map<string, AccountDelta>();
  const get = (id: string) => {
    if (!accounts.has(id)) throw refusal('not_locked', { accountId: id });
    let d = deltas.get(id);
    if (!d) deltas.set(id, (d = { buckets: {}, base: ZERO }));
    return d;
  };
  for (const leg of plan.legs) {
    if (leg.amount.isZero() || leg.amount.decimalPlaces() > 2) {
      throw refusal('not_cents', { amount: leg.amount.toString() });
    }
    const d = get(leg.accountId);
    d.buckets[leg.bucket] = (d.buckets[leg.bucket] ?? new Dec(0)).plus(leg.amount);
  }
  for (const change of plan.baseBalanceChanges ?? []) {
    if (change.delta.decimalPlaces() > 2) throw refusal('not_cents', { amount: change.delta.toString() });
    const d = get(change.accountId);
    d.base = d.base.plus(change.delta);
  }
  const total = sum(plan.legs.map((l) => l.amount));
  if (!total.isZero()) throw refusal('unbalanced', { total: total.toString() });
  return deltas;
}

