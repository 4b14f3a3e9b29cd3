import { createHash } from 'node:crypto';
import type Decimal from 'decimal.js';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { appendAudit, canonicalJson } from '../audit/audit';
import { type AccountType, type ActivityType, BUCKETS, activityEffect } from '../domain/buckets';
import { DomainError } from '../domain/errors';
import { formatMoney, fromDb } from '../domain/money';
import type { PortfolioSettings } from '../domain/settings';
import { type LedgerService, type Leg, type LockedAccount, type PostRequest, TERMINAL_STATUSES, toLocked } from '../ledger/ledger';
import { ACCOUNT_COLUMNS, type AccountRecord, type AccountView, accountView } from './views';
import { execBound, pgIso } from '../db/sql';

export interface ActivityCommand {
  type: ActivityType;
  amount: Decimal;
  occurredAt?: Date;
  reference?: string;
  note?: string;
}

export interface ActivityResponse {
  body: { entryId: string; account: AccountView };
  /** True when this is the stored response of an earlier request with the same key. */
  replayed: boolean;
}

export interface EntryItem {
  entryId: string;
  postingId: string;
  kind: string;
  amount: string;
  bucket: string;
  occurredAt: string;
  operationId: string | null;
  actor: string;
  reference: string | null;
}

const cursorOf = (postingId: string) => Buffer.from(`p:${postingId}`).toString('base64url');
function parseCursor(cursor: string): string {
  const raw = Buffer.from(cursor, 'base64url').toString();
  if (!/^p:\d{1,19}$/.test(raw)) throw new DomainError('ValidationError', 'invalid cursor', { path: 'cursor' });
  return raw.slice(2);
}

/** The idempotency scope of an activity: the client's key is scoped to the account (a batch item shares it). */
export const activityScope = (accountId: string, key: string) => `activity:${accountId}:${key}`;
const accountOfScope = (scope: string) => scope.split(':')[1]!;

/** What a repeated key must match: the request body, canonical. */
export function activityHash(cmd: ActivityCommand): string {
  return createHash('sha256')
    .update(canonicalJson({ ...cmd, amount: formatMoney(cmd.amount), occurredAt: cmd.occurredAt?.toISOString() }))
    .digest('hex');
}

/**
 * What `idempotent_requests.response` holds for an activity: the whole body
 * (stored before entries were posted by ledger_post), the account row and
 * settings the body is built from (ledger_post stores the account as the
 * entry left it), or only the entry (a batch item).
 */
interface StoredResponse {
  entryId: string;
  account?: AccountView;
  accountRow?: AccountRecord;
  settings?: PortfolioSettings;
}

/** An account of an activity as read before posting, with its portfolio's settings and any stored response. */
interface ActivityReadRow {
  id: string; portfolio_id: string; unit_id: string | null; type: LockedAccount['type']; status: string; base_balance: string;
  cash: string; contracts: string; leaps: string; reserve: string; created_at: string; version: number;
  settings: PortfolioSettings; request_hash: string | null; response: StoredResponse | null;
}

export interface ActivityTarget {
  accountId: string;
  portfolioId: string;
  externalId: string;
  settings: PortfolioSettings;
  /** The ledger key (scoped). */
  idempotencyKey: string;
  /** The key as the client sent it (audited). */
  userKey: string;
  actor: string;
}

/**
 * The ledger entry of one trading activity (docs/domain.md section 2): the
 * account's buckets move as the activity type says, the external account
 * takes the other side. Shared by single requests, batches and imports.
 */
/** Activity is accepted only on active accounts: a busy (forking, merging) or finished account is a conflict, never a 500. */
function notActive(status: string): DomainError {
  return new DomainError('Conflict', `account is ${status}; activity is accepted only on active accounts`);
}

export function activityPost(t: ActivityTarget, cmd: ActivityCommand, audit: { action?: string; details?: Record<string, unknown> } = {}): PostRequest {
  const { accountId, externalId } = t;
  return {
    idempotencyKey: t.idempotencyKey,
    portfolioId: t.portfolioId,
    kind: cmd.type,
    actor: t.actor,
    occurredAt: cmd.occurredAt,
    reference: cmd.reference,
    note: cmd.note,
    accountIds: [accountId, externalId],
    plan: (locked) => {
      const a = locked.get(accountId)!;
      if (a.status !== 'active') throw notActive(a.status);
      const effect = activityEffect(cmd.type, cmd.amount, { type: a.type as AccountType, buckets: a.buckets, baseBalance: a.baseBalance }, t.settings.bufferPct);
      const legs: Leg[] = [];
      for (const b of BUCKETS) {
        const d = effect.delta[b];
        if (d && !d.isZero()) legs.push({ accountId, bucket: b, amount: d });
      }
      const net = legs.reduce((s, l) => s.plus(l.amount), fromDb('0'));
      legs.push({ accountId: externalId, bucket: 'cash', amount: net.neg() });
      return {
        legs,
        baseBalanceChanges: effect.baseBalanceDelta.isZero() ? [] : [{ accountId, delta: effect.baseBalanceDelta }],
      };
    },
    audit: { action: audit.action ?? `account.activity.${cmd.type}`, targetType: 'account', targetId: accountId, details: { idempotencyKey: t.userKey, ...audit.details } },
  };
}

export class AccountService {
  constructor(
    private readonly orm: MikroORM,
    private readonly ledger: LedgerService,
  ) {}

  async get(id: string, em: EntityManager = this.orm.em.fork()): Promise<AccountView> {
    const [row] = await em.execute<(AccountRecord & { settings: PortfolioSettings })[]>(
      `select a.${ACCOUNT_COLUMNS.split(', ').join(', a.')}, p.settings
         from accounts a join portfolios p on p.id = a.portfolio_id
        where a.id = ? and a.unit_id is not null`,
      [id],
    );
    if (!row) throw new DomainError('AccountNotFound', 'account not found');
    return accountView(row, row.settings);
  }

  /**
   * Sets the broker's account id and/or the label (admin). The broker id is
   * unique within the portfolio: statement lines naming it post to this account.
   */
  async update(id: string, patch: { brokerAccountId?: string | null; label?: string | null }, actor: string): Promise<AccountView> {
    return this.orm.em.fork().transactional(async (em) => {
      const [row] = await em.execute<{ portfolio_id: string; broker_account_id: string | null; label: string | null }[]>(
        'select portfolio_id, broker_account_id, label from accounts where id = ? and unit_id is not null for update', [id],
      );
      if (!row) throw new DomainError('AccountNotFound', 'account not found');
      if (patch.brokerAccountId) {
        const [taken] = await em.execute<{ id: string }[]>(
          'select id from accounts where portfolio_id = ? and broker_account_id = ? and id <> ?', [row.portfolio_id, patch.brokerAccountId, id],
        );
        if (taken) {
          throw new DomainError('Conflict', `broker account ${patch.brokerAccountId} is already mapped to account ${taken.id} of this portfolio`, { path: 'brokerAccountId' });
        }
      }
      const next = {
        brokerAccountId: patch.brokerAccountId === undefined ? row.broker_account_id : patch.brokerAccountId,
        label: patch.label === undefined ? row.label : patch.label,
      };
      await em.execute('update accounts set broker_account_id = ?, label = ?, version = version + 1, updated_at = now() where id = ?',
        [next.brokerAccountId, next.label, id]);
      await appendAudit(em, {
        actor, portfolioId: row.portfolio_id, action: 'account.updated', targetType: 'account', targetId: id,
        details: { before: { brokerAccountId: row.broker_account_id, label: row.label }, after: next },
      });
      return this.get(id, em);
    }).catch((err: unknown) => {
      // Two concurrent requests mapping one broker id to two accounts: the unique index decides.
      if ((err as { code?: string }).code === '23505') throw new DomainError('Conflict', `broker account ${patch.brokerAccountId} is already mapped in this portfolio`, { path: 'brokerAccountId' });
      throw err;
    });
  }

  /**
   * Records one trading activity. `idempotencyKey` is scoped to the account;
   * the first successful response is stored with the posting in one
   * transaction and returned again for the same key and body. A rejected
   * request claims nothing, so it may be retried with the same key.
   *
   * Two round trips: one read (the stored response, or the account, its
   * portfolio's external account and settings) and one statement that posts
   * the entry planned from that read and stores the response (ledger_post;
   * re-planned if the account moved in between).
   */
  async recordActivity(accountId: string, cmd: ActivityCommand, idempotencyKey: string, actor: string): Promise<ActivityResponse> {
    const scope = activityScope(accountId, idempotencyKey);
    const requestHash = activityHash(cmd);
    const rows = await execBound<ActivityReadRow>(this.orm.em.fork(),
      `select x.id, x.portfolio_id, x.unit_id, x.type, x.status, x.base_balance, x.cash, x.contracts, x.leaps, x.reserve,
              x.created_at, x.version, pf.settings, r.request_hash, r.response
         from accounts a
         join portfolios pf on pf.id = a.portfolio_id
         cross join lateral (
           select * from accounts where id = a.id
           union all
           select * from accounts where portfolio_id = a.portfolio_id and type = 'external') x
         left join idempotent_requests r on r.scope = ?
        where a.id = ? and a.unit_id is not null`,
      [scope, accountId],
    );
    const first = rows.find((r) => r.id === accountId);
    if (!first) throw new DomainError('AccountNotFound', 'account not found');
    if (first.request_hash !== null) return this.replay(scope, requestHash, first.request_hash, first.response!);
    if (first.status !== 'active') throw notActive(first.status);
    const external = rows.find((r) => r.type === 'external')!;
    const posted = await this.ledger.post(
      activityPost({
        accountId, portfolioId: first.portfolio_id, externalId: external.id, settings: first.settings,
        idempotencyKey: scope, userKey: idempotencyKey, actor,
      }, cmd),
      { seen: new Map(rows.map((r) => [r.id, { ...toLocked(r), version: r.version }])), request: { scope, requestHash, accountId } },
    ).catch((err: unknown) => {
      // The account's life ended (a merge) after the read above: the ledger refuses it as finished; the caller is told as above.
      if (err instanceof DomainError && err.details.accountId === accountId && TERMINAL_STATUSES.has(String(err.details.status))) {
        throw notActive(String(err.details.status));
      }
      throw err;
    });
    // Not created: a concurrent request with the same key committed first.
    if (!posted.created) return (await this.storedResponse(scope, requestHash))!;
    return { body: await this.bodyOf(scope, posted.response as StoredResponse), replayed: false };
  }

  private async storedResponse(scope: string, requestHash: string): Promise<ActivityResponse | null> {
    const [row] = await this.orm.em.fork().execute<{ request_hash: string; response: StoredResponse }[]>(
      'select request_hash, response from idempotent_requests where scope = ?', [scope],
    );
    return row ? this.replay(scope, requestHash, row.request_hash, row.response) : null;
  }

  private async replay(scope: string, requestHash: string, storedHash: string, response: StoredResponse): Promise<ActivityResponse> {
    if (storedHash !== requestHash) {
      throw new DomainError('IdempotencyConflict', 'this Idempotency-Key was already used with a different request body');
    }
    return { body: await this.bodyOf(scope, response), replayed: true };
  }

  /** The response body a stored response stands for: the same body for the first answer and every replay. */
  private async bodyOf(scope: string, stored: StoredResponse): Promise<ActivityResponse['body']> {
    if (stored.account) return { entryId: stored.entryId, account: stored.account };
    if (stored.accountRow) return { entryId: stored.entryId, account: accountView(stored.accountRow, stored.settings!) };
    // A key first used in a batch stored only the entry id: answer with the account as it is now.
    return { entryId: stored.entryId, account: await this.get(accountOfScope(scope)) };
  }

  async entries(accountId: string, limit: number, cursor?: string): Promise<{ items: EntryItem[]; nextCursor: string | null }> {
    const em = this.orm.em.fork();
    await this.get(accountId, em);
    const before = cursor ? parseCursor(cursor) : null;
    const rows = await em.execute<{
      posting_id: string; entry_id: string; kind: string; amount: string; bucket: string; occurred_at: string;
      operation_id: string | null; actor: string; reference: string | null;
    }[]>(
      `select p.id as posting_id, p.entry_id, e.kind, p.amount, p.bucket, e.occurred_at, e.operation_id, e.actor, e.reference
         from postings p join journal_entries e on e.id = p.entry_id
        where p.account_id = ? ${before ? 'and p.id < ?' : ''}
        order by p.id desc limit ?`,
      before ? [accountId, before, limit + 1] : [accountId, limit + 1],
    );
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => ({
        entryId: r.entry_id,
        postingId: String(r.posting_id),
        kind: r.kind,
        amount: formatMoney(fromDb(r.amount)),
        bucket: r.bucket,
        occurredAt: pgIso(r.occurred_at),
        operationId: r.operation_id,
        actor: r.actor,
        reference: r.reference,
      })),
      nextCursor: rows.length > limit ? cursorOf(String(page[page.length - 1]!.posting_id)) : null,
    };
  }
}
